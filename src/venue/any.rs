//! A venue of any kind this build has, held as its concrete type.
//!
//! The engine drives every venue through [`Venue`]; the few callers that need one kind
//! get it by name instead of a downcast: recovery hands journaled inputs to a recorded
//! stand-in and then swaps in the live session it stood for, and an operator's report
//! reads a FIX session's counters. Calls dispatch statically on the hot path.

use super::bridge::BridgeVenue;
use super::fix::venue::FixVenue;
use super::paper::PaperVenue;
use super::recorded::RecordedVenue;
use super::{Venue, VenueError, VenueEvent, VenueOrder};
use crate::model::fixed::{Price, Qty};
use crate::model::ids::{AccountId, ClOrdId, InstrumentId};

/// One configured venue.
pub enum AnyVenue {
    /// The simulated broker.
    Paper(Box<PaperVenue>),
    /// A FIX session.
    Fix(Box<FixVenue>),
    /// A REST/WebSocket bridge (Binance).
    Bridge(Box<BridgeVenue>),
    /// A network venue during replay: its journaled inputs.
    Recorded(RecordedVenue),
    /// Any other implementation (scripted venues in tests).
    Other(Box<dyn Venue>),
}

macro_rules! each {
    ($self:expr, $v:ident => $e:expr) => {
        match $self {
            AnyVenue::Paper($v) => $e,
            AnyVenue::Fix($v) => $e,
            AnyVenue::Bridge($v) => $e,
            AnyVenue::Recorded($v) => $e,
            AnyVenue::Other($v) => $e,
        }
    };
}

impl AnyVenue {
    /// The paper venue, if this is one.
    pub fn paper(&self) -> Option<&PaperVenue> {
        match self {
            AnyVenue::Paper(v) => Some(v),
            _ => None,
        }
    }

    /// The FIX session, if this is one.
    pub fn fix(&self) -> Option<&FixVenue> {
        match self {
            AnyVenue::Fix(v) => Some(v),
            _ => None,
        }
    }

    /// The bridge, if this is one.
    pub fn bridge(&self) -> Option<&BridgeVenue> {
        match self {
            AnyVenue::Bridge(v) => Some(v),
            _ => None,
        }
    }

    /// The recorded stand-in, if this is one.
    pub fn recorded(&self) -> Option<&RecordedVenue> {
        match self {
            AnyVenue::Recorded(v) => Some(v),
            _ => None,
        }
    }

    /// The recorded stand-in, to hand it journaled inputs.
    pub(crate) fn recorded_mut(&mut self) -> Option<&mut RecordedVenue> {
        match self {
            AnyVenue::Recorded(v) => Some(v),
            _ => None,
        }
    }
}

impl Venue for AnyVenue {
    #[inline]
    fn is_logged_on(&self) -> bool {
        each!(self, v => v.is_logged_on())
    }
    #[inline]
    fn submit(&mut self, now: u64, order: &VenueOrder) -> Result<(), VenueError> {
        each!(self, v => v.submit(now, order))
    }
    #[inline]
    fn submit_oco(&mut self, now: u64, legs: [&VenueOrder; 2]) -> [Result<(), VenueError>; 2] {
        each!(self, v => v.submit_oco(now, legs))
    }

    fn cancel(&mut self, now: u64, cl: ClOrdId, orig: ClOrdId) -> Result<(), VenueError> {
        each!(self, v => v.cancel(now, cl, orig))
    }
    #[inline]
    fn replace(
        &mut self,
        now: u64,
        cl: ClOrdId,
        orig: ClOrdId,
        qty: Qty,
        limit: Price,
    ) -> Result<(), VenueError> {
        each!(self, v => v.replace(now, cl, orig, qty, limit))
    }
    #[inline]
    fn poll(&mut self, now: u64, out: &mut Vec<VenueEvent>) {
        each!(self, v => v.poll(now, out))
    }
    #[inline]
    fn next_event_at(&self) -> Option<u64> {
        each!(self, v => v.next_event_at())
    }
    fn positions(&self, account: AccountId, out: &mut Vec<(InstrumentId, Qty)>) {
        each!(self, v => v.positions(account, out))
    }
    fn quotes_conflated(&self) -> u64 {
        each!(self, v => v.quotes_conflated())
    }
    #[inline]
    fn is_external(&self) -> bool {
        each!(self, v => v.is_external())
    }
    #[inline]
    fn pump(&mut self, now: u64) -> bool {
        each!(self, v => v.pump(now))
    }
    #[inline]
    fn read_stamp(&self) -> u64 {
        each!(self, v => v.read_stamp())
    }
    fn wait_socket(&self) -> Option<(std::os::fd::RawFd, u64)> {
        each!(self, v => v.wait_socket())
    }
    fn input_waiting(&self) -> bool {
        each!(self, v => v.input_waiting())
    }
    fn query(&mut self, now: u64, order: &VenueOrder) {
        each!(self, v => v.query(now, order))
    }
    fn snapshot(&mut self, now: u64) -> bool {
        each!(self, v => v.snapshot(now))
    }
    fn close(&mut self, now: u64) {
        each!(self, v => v.close(now))
    }
    fn closed(&self) -> bool {
        each!(self, v => v.closed())
    }
}
