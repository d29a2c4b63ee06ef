//! The core thread's side of the rings: events out to each producer's ring, held in a
//! preallocated backlog when a ring is full (nothing lost, the core never blocks), and
//! every record into the journal as it happens.

use super::engine::Outbox;
use super::fill_latency::SubmitToFill;
use super::metrics::CoreMetrics;
use super::records::{self, KIND_COMMAND, KIND_EVENT, KIND_VENUE, MAX_COMMAND, MAX_EVENT};
use super::thread::JournalRefused;
use crate::journal::JournalWriter;
use crate::model::event::{Command, CoreEvent};
use crate::venue::VenueEvent;
use std::collections::VecDeque;
use std::sync::Arc;

/// Events held per producer when its ring is full, before the core allocates more.
pub(crate) const BACKLOG: usize = 4096;

pub(crate) struct Rings {
    tx: Vec<rtrb::Producer<CoreEvent>>,
    backlog: Vec<VecDeque<CoreEvent>>,
    /// Events handed out so far: the duty cycle's measure of work done.
    pub(crate) emitted: u64,
    journal: Option<JournalWriter>,
    // Engine time, which stamps every record.
    now: u64,
    event: [u8; MAX_EVENT],
    command: [u8; MAX_COMMAND],
    refused: JournalRefused,
    metrics: Arc<CoreMetrics>,
    /// Submit → fill delivered, in real time only.
    fill_latency: Option<SubmitToFill>,
    /// The producer's stamp on the submit being carried out; 0: none is.
    pub(crate) submit_stamp: u64,
    /// Raw stamp of the socket read that brought the venue events being delivered (0:
    /// none; `Outbox::venue_read`).
    read_stamp: u64,
}

impl Rings {
    pub(crate) fn new(
        tx: Vec<rtrb::Producer<CoreEvent>>,
        journal: Option<JournalWriter>,
        metrics: Arc<CoreMetrics>,
    ) -> Rings {
        Rings {
            backlog: (0..tx.len())
                .map(|_| VecDeque::with_capacity(BACKLOG))
                .collect(),
            tx,
            emitted: 0,
            journal,
            now: 0,
            event: [0; MAX_EVENT],
            command: [0; MAX_COMMAND],
            refused: JournalRefused::default(),
            metrics,
            fill_latency: None,
            submit_stamp: 0,
            read_stamp: 0,
        }
    }

    /// Times each submit to its first fill's delivery from now on, with the clock the
    /// producers stamp commands with.
    pub(crate) fn time_fills(&mut self, clock: quanta::Clock) {
        self.fill_latency = Some(SubmitToFill::new(clock));
    }

    /// What was timed by [`Rings::time_fills`], if anything was asked: submit → fill, and
    /// socket read → fill.
    pub(crate) fn take_fill_latency(
        &mut self,
    ) -> Option<(hdrhistogram::Histogram<u64>, hdrhistogram::Histogram<u64>)> {
        self.fill_latency.take().map(SubmitToFill::into_histograms)
    }

    /// Moves backlogged events into rings that have room again.
    pub(crate) fn flush(&mut self) {
        for (tx, q) in self.tx.iter_mut().zip(self.backlog.iter_mut()) {
            while let Some(&e) = q.front() {
                if tx.push(e).is_err() {
                    break;
                }
                q.pop_front();
            }
        }
    }

    /// A producer that does not read its events: stop reading its commands until it
    /// catches up (backpressure).
    pub(crate) fn congested(&self, origin: usize) -> bool {
        self.backlog[origin].len() >= BACKLOG / 2
    }

    /// Sequence number of the last journal record written; `None` without a journal.
    pub(crate) fn journal_last_seq(&self) -> Option<u64> {
        self.journal
            .as_ref()
            .map(|j| j.next_seq().saturating_sub(1))
    }

    /// Events still held because their producer stopped reading.
    pub(crate) fn undelivered(&self) -> u64 {
        self.backlog.iter().map(|q| q.len() as u64).sum()
    }

    /// Journals a command before it is carried out; `false` if the journal refused it
    /// (then it must not be carried out). Commands that change nothing are not recorded.
    pub(crate) fn record_command(&mut self, origin: u8, cmd: &Command) -> bool {
        let Some(j) = self.journal.as_mut() else {
            return true;
        };
        match records::encode_command(origin, cmd, &mut self.command) {
            Some(n) => {
                let ok = j
                    .append(KIND_COMMAND, 1, self.now, &self.command[..n])
                    .is_ok();
                self.refused.commands += u64::from(!ok);
                ok
            }
            None => true,
        }
    }

    /// Answers a command the journal refused. Not journaled: an answer to a command the
    /// journal does not hold would be a record that no replay produces.
    pub(crate) fn refuse_unjournaled(&mut self, origin: u8, ev: CoreEvent) {
        self.metrics.observe(&ev);
        self.deliver(origin, ev);
    }

    /// What the journal refused so far.
    pub(crate) fn journal_refused(&self) -> &JournalRefused {
        &self.refused
    }

    /// Journals that the audit log failed or works again, before the gate changes;
    /// `false` if the journal refused it (then the gate must not change).
    pub(crate) fn record_audit(&mut self, failed: bool) -> bool {
        match self.journal.as_mut() {
            Some(j) => {
                let ok = j
                    .append(records::KIND_AUDIT, 1, self.now, &[u8::from(failed)])
                    .is_ok();
                self.refused.records += u64::from(!ok);
                ok
            }
            None => true,
        }
    }

    /// At a clean stop: records how far the engine got, so a restart does not deliver
    /// these events again, and leaves the journal on disk, not only in the page cache.
    /// The sequence number the next record would have had.
    pub(crate) fn close_journal(&mut self, now: u64) -> Option<u64> {
        self.journal.as_mut().map(|j| {
            if j.append(records::KIND_TIME, 1, now, &[]).is_err() {
                self.refused.records += 1;
            }
            if let Err(e) = j.sync() {
                self.refused.sync = Some(e.to_string());
            }
            j.next_seq()
        })
    }

    #[inline]
    fn journal_event(&mut self, origin: u8, ev: &CoreEvent) {
        if let Some(j) = self.journal.as_mut() {
            if let Some(n) = records::encode_event(origin, ev, &mut self.event) {
                // The command behind it is journaled already, so the state survives a
                // failure here; the event record is what a cross-check would miss.
                if j.append(KIND_EVENT, 1, self.now, &self.event[..n]).is_err() {
                    self.refused.records += 1;
                }
            }
        }
    }

    #[inline]
    fn deliver(&mut self, origin: u8, ev: CoreEvent) {
        self.emitted += 1;
        let o = origin as usize;
        if o >= self.tx.len() {
            return;
        }
        if self.backlog[o].is_empty() {
            if let Err(rtrb::PushError::Full(e)) = self.tx[o].push(ev) {
                self.backlog[o].push_back(e);
            }
        } else {
            self.backlog[o].push_back(ev);
        }
    }
}

impl Outbox for Rings {
    #[inline]
    fn emit(&mut self, origin: u8, ev: CoreEvent) {
        self.journal_event(origin, &ev);
        self.metrics.observe(&ev);
        self.deliver(origin, ev);
        if let Some(t) = &mut self.fill_latency {
            match ev {
                CoreEvent::Accepted { order, .. } if self.submit_stamp != 0 => {
                    t.accepted(order, self.submit_stamp)
                }
                CoreEvent::Fill { order, .. } => t.filled(order, self.read_stamp),
                _ => {}
            }
        }
    }

    #[inline]
    fn venue_read(&mut self, raw: u64) {
        self.read_stamp = raw;
    }

    fn broadcast(&mut self, ev: CoreEvent) {
        self.journal_event(records::BROADCAST, &ev);
        for o in 0..self.tx.len() {
            self.deliver(o as u8, ev);
        }
    }

    #[inline]
    fn time(&mut self, now: u64) {
        self.now = now;
    }

    fn venue_input(&mut self, venue: u16, ev: &VenueEvent) {
        if let Some(j) = self.journal.as_mut() {
            let n = records::encode_venue_input(venue, ev, &mut self.event);
            // Refused (a full disk): the event is still applied, and a restart asks the
            // venue for it again from the last input the journal holds.
            if j.append(KIND_VENUE, 1, self.now, &self.event[..n]).is_err() {
                self.refused.records += 1;
            }
        }
    }
}
