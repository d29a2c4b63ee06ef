//! One order-entry session (a "desk"): its FIX session in the acceptor role, the
//! session's message store, the book of its client orders and the log that keeps the
//! book across a crash, and the reports waiting for the client.
//!
//! What the client sent is handled after the session has finished with the bytes
//! (`intake`), what the core said is turned into reports (`outcome`); both queue
//! reports here, sent at once while the client is logged on, kept until its next Logon
//! otherwise.

use super::book::{status, Book, ClientId};
use super::conn::{Outbuf, MAX_OUTPUT};
use super::courier::{Courier, Op, OpKind};
use super::order_log::OrderLog;
use super::reports::{encode_cxl_reject, encode_exec, Report, Version};
use super::settings::{EntrySpec, Secret};
use crate::config::Registry;
use crate::model::event::{Command, OrderRef};
use crate::model::ids::OrderId;
use crate::venue::fix::codec::{Decoder, Msg};
use crate::venue::fix::reject::SessionRejectReason;
use crate::venue::fix::session::{SeqNums, Session, SessionEvent, SessionIo};
use crate::venue::fix::store::{MessageStore, SessionStore};
use std::collections::VecDeque;
use std::sync::Arc;

/// Sent frames kept in memory for resend requests.
pub(super) const KEEP_SENT: usize = 100_000;

/// Counters an operator reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeskStats {
    /// Logons completed.
    pub logons: u64,
    /// Connections refused at Logon (credentials, CompIDs, already connected).
    pub refused: u64,
    /// NewOrderSingles passed to the core.
    pub orders: u64,
    /// Messages refused by the gateway itself (not passed to the core).
    pub refusals: u64,
    /// Cancels and replaces passed to the core.
    pub amends: u64,
    /// Status requests answered.
    pub status_requests: u64,
    /// Tops of book passed to the core.
    pub quotes: u64,
    /// Reports sent (35=8, 35=9, 35=j).
    pub reports: u64,
    /// Messages that failed dictionary validation (the session sent 35=3; not acted on).
    pub invalid: u64,
    /// PossDup copies of requests already handled, ignored.
    pub duplicates_ignored: u64,
    /// Times the reports for a logged-out client overflowed and were rebuilt.
    pub resyncs: u64,
    /// Orders submitted again after a restart (their first fate unknown).
    pub resubmitted: u64,
    /// Core events about orders this session does not know (any more).
    pub unknown: u64,
}

/// Application messages the session delivered during one call, handled after it.
#[derive(Default)]
pub(super) struct Inbox {
    pub(super) buf: Vec<u8>,
    pub(super) frames: Vec<(usize, usize, bool)>,
}

impl Inbox {
    fn push(&mut self, f: &[u8], valid: bool) {
        let start = self.buf.len();
        self.buf.extend_from_slice(f);
        self.frames.push((start, self.buf.len(), valid));
    }
    fn clear(&mut self) {
        self.buf.clear();
        self.frames.clear();
    }
}

/// The session's view of its owner.
pub(super) struct Io<'a> {
    pub(super) out: Option<&'a mut Outbuf>,
    pub(super) store: &'a mut SessionStore,
    pub(super) log: Option<&'a mut OrderLog>,
    pub(super) inbox: &'a mut Inbox,
    pub(super) said: &'a mut Vec<SessionEvent>,
    pub(super) now: u64,
}

impl SessionIo for Io<'_> {
    fn send(&mut self, frame: &[u8]) {
        if let Some(o) = self.out.as_deref_mut() {
            o.push(frame);
        }
    }
    fn unsent(&self) -> usize {
        self.out.as_deref().map_or(0, Outbuf::pending)
    }
    fn unsent_limit(&self) -> usize {
        MAX_OUTPUT
    }
    fn store(&mut self, seq: u64, frame: &[u8]) {
        self.store.sent(self.now, seq, frame);
    }
    fn stored(&self, seq: u64) -> Option<&[u8]> {
        self.store.get(seq)
    }
    fn reset(&mut self, seqs: SeqNums) {
        self.store.reset(self.now, seqs);
        // Reports numbered before the reset can no longer be in doubt (see `open`).
        if let Some(l) = self.log.as_deref_mut() {
            l.reset(self.now);
        }
    }
    fn app(&mut self, msg: &Msg<'_>, valid: Result<(), SessionRejectReason>) {
        self.inbox.push(msg.raw(), valid.is_ok());
    }
    fn event(&mut self, ev: SessionEvent) {
        self.said.push(ev);
    }
}

/// One order-entry session.
pub struct Desk {
    pub(super) index: u16,
    pub(super) spec: EntrySpec,
    pub(super) password: Option<Secret>,
    pub(super) version: Version,
    pub(super) reg: Arc<Registry>,
    pub(super) session: Session,
    /// The connection bound to it.
    pub(super) conn: Option<usize>,
    pub(super) store: SessionStore,
    pub(super) book: Book,
    pub(super) log: Option<OrderLog>,
    pub(super) outbox: VecDeque<Report>,
    pub(super) inbox: Inbox,
    pub(super) said: Vec<SessionEvent>,
    pub(super) dec: Decoder,
    /// The reports for a logged-out client overflowed: rebuild at its next Logon.
    pub(super) resync: bool,
    pub(super) stats: DeskStats,
}

impl Desk {
    /// Sends a command about one of this session's orders.
    pub(super) fn send(&mut self, courier: &mut Courier, cmd: Command, kind: OpKind) {
        if let Some(o) = kind.slot().and_then(|s| self.book.get_mut(s)) {
            o.busy += 1;
        }
        courier.send(
            cmd,
            Op {
                desk: self.index,
                kind,
            },
        );
    }

    /// How the core names an order: by its id once known, else by its request id.
    pub(super) fn order_ref(&self, slot: u32) -> Option<OrderRef> {
        let o = self.book.get(slot)?;
        Some(match o.order {
            Some(id) => OrderRef::Id(id),
            None => OrderRef::Request(o.req.request_id),
        })
    }

    /// The slot of the client order the core knows as `order`.
    pub fn slot_of(&self, order: OrderId) -> Option<u32> {
        self.book.by_order(order)
    }

    /// The slot of the order with this ClOrdID as its own.
    pub fn slot_of_key(&self, key: &[u8]) -> Option<u32> {
        self.book.by_key(&ClientId::from_bytes(key).ok()?)
    }

    /// Queues a report for the client.
    pub(super) fn queue(&mut self, r: Report) {
        // Reports about an order, for a client that is away, are bounded: beyond the
        // bound they are dropped, the order's picture goes back to what the client was
        // told, and at its next Logon the core is asked about every order it has not
        // seen finish (aggregated, none lost). Answers to what the client sent (a
        // refusal, a status) carry no picture to rebuild and are kept; they only come
        // while it is connected. While it is logged on the queue holds one batch.
        let away = !self.session.is_logged_on();
        if let (true, Some(p)) = (away, r.persist()) {
            if !self.resync && self.outbox.len() >= self.spec.max_queued_reports {
                self.start_resync();
            }
            if self.resync {
                let slot = p.slot;
                self.forget_untold(slot);
                return;
            }
        }
        self.outbox.push_back(r);
    }

    /// The reports waiting for an absent client are too many: those about orders are
    /// dropped, and at its next Logon the core is asked about them instead.
    fn start_resync(&mut self) {
        self.outbox.retain(|r| r.persist().is_none());
        let slots: Vec<u32> = self.book.iter().map(|(s, _)| s).collect();
        for s in slots {
            self.forget_untold(s);
        }
        self.resync = true;
        self.stats.resyncs += 1;
    }

    /// The order's picture goes back to what the client was told (keeping whether the
    /// core took its pending cancel or replace).
    fn forget_untold(&mut self, slot: u32) {
        if let Some(o) = self.book.get_mut(slot) {
            let acked = o.known.pending.is_some_and(|p| p.acked);
            o.known = o.told;
            if let Some(p) = o.known.pending.as_mut() {
                p.acked = acked;
            }
        }
    }

    /// Sends what is queued, while the client is logged on.
    pub fn flush(&mut self, now: u64, mut out: Option<&mut Outbuf>) {
        while let Some(r) = self.outbox.pop_front() {
            if !self.send_report(now, out.as_deref_mut(), &r) {
                self.outbox.push_front(r);
                break;
            }
        }
    }

    /// Sends one report; false when the client is not logged on.
    fn send_report(&mut self, now: u64, out: Option<&mut Outbuf>, r: &Report) -> bool {
        if !self.session.is_logged_on() {
            return false;
        }
        let persist = r
            .persist()
            .copied()
            .filter(|p| self.book.get(p.slot).is_some_and(|o| o.key == p.key));
        if let (Some(p), Some(log)) = (&persist, self.log.as_mut()) {
            let order = self.book.get(p.slot).and_then(|o| o.order);
            // Announced with the number it is about to get (see `restore`).
            log.state(now, &p.key, order, &p.view, self.session.seqs().next_out);
        }
        let (v, micros) = (self.version, self.session.config().micros);
        let mut io = Io {
            out,
            store: &mut self.store,
            log: self.log.as_mut(),
            inbox: &mut self.inbox,
            said: &mut self.said,
            now,
        };
        let sent = match r {
            Report::Exec(e, _) => self.session.send_app(
                now,
                b"8",
                |enc| encode_exec(enc, v, e, now, micros),
                &mut io,
            ),
            Report::CxlReject(c, _) => {
                self.session
                    .send_app(now, b"9", |enc| encode_cxl_reject(enc, v, c), &mut io)
            }
            Report::BizReject {
                ref_seq,
                ref_msg_type,
                reason,
                text,
            } => self.session.send_business_reject(
                now,
                *ref_seq,
                ref_msg_type.as_bytes(),
                *reason,
                text,
                &mut io,
            ),
        };
        if sent.is_err() {
            return false;
        }
        self.stats.reports += 1;
        if let Some(p) = persist {
            if let Some(o) = self.book.get_mut(p.slot) {
                let was_done = status::is_terminal(o.told.status);
                o.told = p.view;
                if !was_done && status::is_terminal(p.view.status) {
                    self.book.finished(p.slot);
                }
            }
        }
        true
    }

    /// A connection bound to this session: it waits for the client's Logon.
    pub fn connected(&mut self, now: u64, ci: usize, out: &mut Outbuf) {
        self.conn = Some(ci);
        let mut io = Io {
            out: Some(out),
            store: &mut self.store,
            log: self.log.as_mut(),
            inbox: &mut self.inbox,
            said: &mut self.said,
            now,
        };
        self.session.on_connected(now, &mut io);
    }

    /// Bytes from the client; the reason to close the connection, if the session says so.
    pub fn bytes(
        &mut self,
        now: u64,
        bytes: &[u8],
        out: &mut Outbuf,
        courier: &mut Courier,
    ) -> Option<String> {
        let mut io = Io {
            out: Some(&mut *out),
            store: &mut self.store,
            log: self.log.as_mut(),
            inbox: &mut self.inbox,
            said: &mut self.said,
            now,
        };
        self.session.on_bytes(now, bytes, &mut io);
        self.after_session(now, Some(out), courier)
    }

    /// The client's socket took what was waiting: a resend being served goes on; the
    /// reason to close, if the session says so.
    pub fn writable(
        &mut self,
        now: u64,
        out: &mut Outbuf,
        courier: &mut Courier,
    ) -> Option<String> {
        let mut io = Io {
            out: Some(&mut *out),
            store: &mut self.store,
            log: self.log.as_mut(),
            inbox: &mut self.inbox,
            said: &mut self.said,
            now,
        };
        self.session.on_writable(now, &mut io);
        self.after_session(now, Some(out), courier)
    }

    /// Time passed (heartbeats, timeouts, the schedule); the reason to close, if any.
    pub fn timer(
        &mut self,
        now: u64,
        mut out: Option<&mut Outbuf>,
        courier: &mut Courier,
    ) -> Option<String> {
        let mut io = Io {
            out: out.as_deref_mut(),
            store: &mut self.store,
            log: self.log.as_mut(),
            inbox: &mut self.inbox,
            said: &mut self.said,
            now,
        };
        self.session.on_timer(now, &mut io);
        self.after_session(now, out, courier)
    }

    /// The connection is gone.
    pub fn disconnected(&mut self, now: u64, courier: &mut Courier) {
        self.conn = None;
        let mut io = Io {
            out: None,
            store: &mut self.store,
            log: self.log.as_mut(),
            inbox: &mut self.inbox,
            said: &mut self.said,
            now,
        };
        self.session.on_disconnected(now, &mut io);
        let _ = self.after_session(now, None, courier);
    }

    /// Starts the logout handshake (the daemon is stopping).
    pub fn logout(&mut self, now: u64, text: &str, out: Option<&mut Outbuf>) -> Option<String> {
        let mut io = Io {
            out,
            store: &mut self.store,
            log: self.log.as_mut(),
            inbox: &mut self.inbox,
            said: &mut self.said,
            now,
        };
        self.session.logout(now, text, &mut io);
        let mut close = None;
        for ev in std::mem::take(&mut self.said) {
            if let SessionEvent::Disconnect(why) = ev {
                close = Some(why);
            }
        }
        close
    }

    /// What the session said and delivered during the last call: events, then the
    /// application messages, then the reports they made. The messages are marked
    /// received in the store only after their immediate answers are stored: a crash in
    /// between has the client send them again rather than lose an answer.
    fn after_session(
        &mut self,
        now: u64,
        mut out: Option<&mut Outbuf>,
        courier: &mut Courier,
    ) -> Option<String> {
        let mut close = None;
        for ev in std::mem::take(&mut self.said) {
            match ev {
                SessionEvent::LoggedOn => {
                    self.stats.logons += 1;
                    let s = self.session.seqs();
                    eprintln!(
                        "execd: order entry {}: {} logged on (next sequence numbers out {} in {})",
                        self.spec.name, self.spec.session.target_comp_id, s.next_out, s.next_in
                    );
                    if std::mem::take(&mut self.resync) {
                        self.ask_about_unfinished(courier);
                    }
                }
                SessionEvent::LoggedOut => {
                    eprintln!(
                        "execd: order entry {}: {} logged out",
                        self.spec.name, self.spec.session.target_comp_id
                    );
                }
                SessionEvent::Disconnect(why) => close = Some(why),
                _ => {}
            }
        }
        if !self.inbox.frames.is_empty() {
            let inbox = std::mem::take(&mut self.inbox);
            let mut dec = std::mem::take(&mut self.dec);
            for &(a, b, valid) in &inbox.frames {
                let f = &inbox.buf[a..b];
                if !valid {
                    // The session answered it with a 35=3: not acted on.
                    self.stats.invalid += 1;
                    continue;
                }
                match dec.decode(f) {
                    Ok(m) => self.on_message(now, &m, courier),
                    Err(_) => self.stats.invalid += 1,
                }
            }
            self.dec = dec;
            self.flush(now, out.as_deref_mut());
            for &(a, b, _) in &inbox.frames {
                self.store.received(now, &inbox.buf[a..b]);
            }
            let mut inbox = inbox;
            inbox.clear();
            self.inbox = inbox;
        } else {
            self.flush(now, out);
        }
        close
    }

    /// After reports were dropped: every order the client has not seen finish is asked
    /// about, and what the core says is reported.
    fn ask_about_unfinished(&mut self, courier: &mut Courier) {
        let slots: Vec<(u32, OrderId)> = self
            .book
            .iter()
            .filter(|(_, o)| !status::is_terminal(o.told.status))
            .filter_map(|(s, o)| o.order.map(|id| (s, id)))
            .collect();
        for (slot, id) in slots {
            self.send(
                courier,
                Command::Query(OrderRef::Id(id)),
                OpKind::Recover { slot },
            );
        }
    }

    /// Keeps the order log from growing without bound.
    pub fn maintain(&mut self, now: u64) {
        let live = self.book.len();
        if let Some(l) = self.log.as_mut() {
            if l.needs_snapshot(live) {
                if let Err(e) = l.snapshot(now, self.book.iter().map(|(_, o)| o)) {
                    eprintln!("execd: order entry {}: order log: {e}", self.spec.name);
                }
            }
        }
    }

    /// Flushes the store and the log to disk (at a clean stop).
    pub fn sync(&mut self) {
        self.store.sync();
        if let Some(l) = &self.log {
            l.sync();
        }
    }

    /// Counters.
    pub fn stats(&self) -> DeskStats {
        self.stats
    }
}
