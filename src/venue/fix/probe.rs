//! The broker venue's reading of inbound application messages with no socket or session
//! around it, for the ExecutionReport fuzz target (tests/fuzz.rs, docs/fuzzing.md) and
//! the quote-to-gate benchmark (benches/hot_path.rs). Not an API: the same code
//! `FixVenue` runs, reachable one message at a time.

use super::codec::Msg;
use super::reports::{FixStats, Mapping};
use super::venue::sent_of;
use crate::config::Registry;
use crate::model::ids::{ClOrdId, VenueId};
use crate::venue::{VenueEvent, VenueOrder};
use std::collections::VecDeque;
use std::sync::Arc;

/// One venue's report mapping, fed one message at a time.
pub struct ReportProbe {
    map: Mapping,
    q: VecDeque<VenueEvent>,
}

impl ReportProbe {
    /// The mapping `FixVenue` builds for `venue` of `reg`.
    pub fn new(reg: Arc<Registry>, venue: VenueId) -> ReportProbe {
        let slots = reg.core.max_orders;
        ReportProbe {
            map: Mapping::new(reg, venue, slots),
            q: VecDeque::new(),
        }
    }

    /// An order as if this session had sent it (as `FixVenue::remember` does).
    pub fn remember(&mut self, o: &VenueOrder) {
        let i = self.map.slot(o.cl.order);
        self.map.orders[i] = sent_of(o);
    }

    /// With market data on (`MarketData = true`), as after a logon: snapshots and
    /// refreshes become quotes (R-VEN-6; the quote-to-gate benchmark).
    pub fn with_market_data(mut self) -> ReportProbe {
        self.map.md.enabled = true;
        self.map.md.start_round();
        self
    }

    /// [`ReportProbe::read`] appended to `out`: no allocation once `out` and the queue
    /// have grown to what one message makes.
    pub fn read_into(&mut self, now_ns: u64, msg: &Msg<'_>, out: &mut Vec<VenueEvent>) {
        self.map.on_app(&mut self.q, now_ns, msg);
        out.extend(self.q.drain(..));
    }

    /// What `msg` becomes: the events handed to the core, in order.
    pub fn read(&mut self, now_ns: u64, msg: &Msg<'_>) -> Vec<VenueEvent> {
        self.map.on_app(&mut self.q, now_ns, msg);
        self.q.drain(..).collect()
    }

    /// Counters, as the venue's summary prints them.
    pub fn stats(&self) -> FixStats {
        self.map.stats
    }

    /// Orders whose state the venue would ask the broker for next.
    pub fn to_query(&self) -> &[ClOrdId] {
        &self.map.to_query
    }
}
