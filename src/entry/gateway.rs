//! The gateway thread: one mio loop owning the listening sockets, every client
//! connection and every order-entry session, talking to the core only through its own
//! producer handle. It never blocks the core (commands wait here when the core's ring is
//! full, and client sockets are not read meanwhile). Waiting follows `[core] idle`:
//! `spin` polls without a timeout (lowest latency, a core of its own), `yield` yields
//! between empty polls, `backoff` keeps polling without a timeout (yielding) for 1 ms
//! after the last work — an order just passed on is answered within that — then lets
//! the timeout grow to 1 ms. The core cannot wake the gateway without a system call on
//! its hot path, so that is how late news for a client idle for a while can be noticed.

use super::conn::Conn;
use super::courier::{Courier, Op, OpKind};
use super::desk::{Desk, DeskStats};
use crate::config::{IdleKind, Registry};
use crate::core::Handle;
use crate::model::event::CoreEvent;
use crate::model::ids::RequestId;
use crate::venue::fix::codec::Decoder;
use crate::venue::fix::session::SeqNums;
use crate::venue::fix::transport::AcceptPause;
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Tokens below this are listeners; connection `i` is `FIRST_CONN + i`.
pub(super) const FIRST_CONN: usize = 1024;
/// Longest idle poll: how late a core event may be noticed when nothing else happens.
const MAX_IDLE_NS: u64 = 1_000_000;
/// How long after the last work the gateway keeps polling without a timeout: answers
/// to what it just passed on (acknowledgements, fills) come within it.
const HOT_NS: u64 = 1_000_000;
/// Core events handled per loop turn, so sockets are served between bursts.
const EVENTS_PER_TURN: usize = 4096;
/// Bytes read from one connection per loop turn, so one client cannot starve others.
pub(super) const READ_PER_TURN: usize = 256 << 10;
/// How long clients get to answer our Logout when the daemon stops.
const STOP_GRACE_NS: u64 = 3_000_000_000;
/// Connections waiting for their Logon at once; a new one beyond it closes the one that
/// has waited longest. Each holds at most [`super::conn::MAX_PRE_LOGON`] (plus a read)
/// for at most LogonTimeout.
pub(super) const MAX_UNBOUND: usize = 256;

/// Wall clock in Unix nanoseconds (FIX SendingTime is wall-clock time).
fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// What each session did, when the gateway stops.
#[derive(Clone, Debug)]
pub struct DeskReport {
    /// The session's name.
    pub name: String,
    /// Its counters.
    pub stats: DeskStats,
    /// Its sequence numbers at the stop.
    pub seqs: SeqNums,
    /// Orders it remembers.
    pub orders: usize,
    /// Appends its order log refused (a full disk).
    pub log_errors: u64,
    /// Writes its FIX message store refused (a full disk): sequence numbers or messages
    /// a resend needs may not be on disk.
    pub store_errors: u64,
}

/// What the gateway did.
#[derive(Clone, Debug, Default)]
pub struct EntryReport {
    /// Per session.
    pub desks: Vec<DeskReport>,
    /// Connections accepted.
    pub connections: u64,
    /// Connections closed before a session took them (no Logon, an unknown CompID …).
    pub refused: u64,
    /// Core events about orders no session knows.
    pub unknown_events: u64,
    /// Times client input was left unread because the core's ring was full.
    pub held_back: u64,
    /// Times `accept` failed for want of file descriptors or memory (accepting paused).
    pub accept_failures: u64,
}

/// The running gateway.
pub struct EntryGateway {
    stop: Arc<AtomicBool>,
    join: Option<JoinHandle<EntryReport>>,
    addrs: Vec<SocketAddr>,
}

impl EntryGateway {
    /// Where it listens.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Logs every client out (waiting up to 3 s for the answers), flushes the stores and
    /// returns what happened; `Err` if the thread died instead (a bug: its stores and
    /// log are still whole, and the next start recovers from them).
    pub fn stop(mut self) -> Result<EntryReport, String> {
        self.stop.store(true, Ordering::Release);
        match self.join.take().map(|j| j.join()) {
            Some(Ok(r)) => Ok(r),
            Some(Err(_)) => Err("the order-entry gateway thread panicked".into()),
            None => Ok(EntryReport::default()),
        }
    }

    /// Whether the thread has ended.
    pub fn is_finished(&self) -> bool {
        self.join.as_ref().is_none_or(|j| j.is_finished())
    }
}

impl Drop for EntryGateway {
    fn drop(&mut self) {
        if let Some(j) = self.join.take() {
            self.stop.store(true, Ordering::Release);
            let _ = j.join();
        }
    }
}

pub(super) struct Listener {
    pub(super) sock: TcpListener,
    /// The sessions it serves.
    pub(super) desks: Vec<usize>,
}

/// Starts the gateway for the order-entry sessions of `reg`, with `handle` as its
/// producer end of the core. Sessions are restored from `<journal>/entry/<name>/`.
/// Errors name what is wrong (a password variable unset, a port in use, a store that
/// cannot be read).
pub fn start(
    reg: Arc<Registry>,
    handle: Handle,
    journal: Option<&Path>,
) -> Result<EntryGateway, String> {
    let now = now_ns();
    let mut desks = Vec::new();
    for (i, spec) in reg.order_entry.iter().enumerate() {
        let password = spec
            .password()
            .map_err(|(k, m)| format!("order_entry[{i}].fix.{k}: {m}"))?;
        let d = Desk::open(i as u16, spec.clone(), password, reg.clone(), journal, now)
            .map_err(|e| format!("order entry {}: {e}", spec.name))?;
        desks.push(d);
    }
    let poll = Poll::new().map_err(|e| format!("order entry: poll: {e}"))?;
    let mut listeners: Vec<Listener> = Vec::new();
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for (i, d) in desks.iter().enumerate() {
        let want: SocketAddr = format!("{}:{}", d.spec.host, d.spec.port)
            .parse()
            .map_err(|e| format!("order entry {}: address: {e}", d.spec.name))?;
        if let Some(k) = addrs.iter().position(|a| *a == want) {
            listeners[k].desks.push(i);
            continue;
        }
        let mut sock = TcpListener::bind(want)
            .map_err(|e| format!("order entry {}: cannot listen on {want}: {e}", d.spec.name))?;
        poll.registry()
            .register(&mut sock, Token(listeners.len()), Interest::READABLE)
            .map_err(|e| format!("order entry: register {want}: {e}"))?;
        addrs.push(want);
        listeners.push(Listener {
            sock,
            desks: vec![i],
        });
    }
    let bound: Vec<SocketAddr> = listeners
        .iter()
        .map(|l| l.sock.local_addr().unwrap_or(addrs[0]))
        .collect();
    for (d, a) in desks.iter().zip(
        desks
            .iter()
            .map(|d| format!("{}:{}", d.spec.host, d.spec.port)),
    ) {
        eprintln!(
            "execd: order entry {}: listening on {a} as {} for {} ({}, account {}, venue {}{})",
            d.spec.name,
            d.spec.session.sender_comp_id,
            d.spec.session.target_comp_id,
            d.spec.session.begin_string,
            d.spec.account,
            d.spec.venue,
            if d.spec.risk_approved {
                ", risk approved by the session"
            } else {
                ""
            }
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let mut g = Gateway {
        poll,
        listeners,
        conns: Vec::new(),
        desks,
        courier: Courier::new(handle),
        rbuf: vec![0; 64 << 10],
        dec: Decoder::new(),
        stop: flag,
        stopping: None,
        idle: reg.core.idle,
        idle_ns: 0,
        last_work: now,
        report: EntryReport::default(),
        last_maintain: now,
        accept: AcceptPause::default(),
    };
    let join = std::thread::Builder::new()
        .name("execd-entry".into())
        .spawn(move || g.run())
        .map_err(|e| format!("order entry: the gateway thread did not start: {e}"))?;
    Ok(EntryGateway {
        stop,
        join: Some(join),
        addrs: bound,
    })
}

pub(super) struct Gateway {
    pub(super) poll: Poll,
    pub(super) listeners: Vec<Listener>,
    pub(super) conns: Vec<Option<Conn>>,
    pub(super) desks: Vec<Desk>,
    pub(super) courier: Courier,
    pub(super) rbuf: Vec<u8>,
    pub(super) dec: Decoder,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) stopping: Option<u64>,
    pub(super) idle: IdleKind,
    pub(super) idle_ns: u64,
    /// When the loop last did something.
    pub(super) last_work: u64,
    pub(super) report: EntryReport,
    pub(super) last_maintain: u64,
    /// Accepting paused for want of file descriptors, and how often it was.
    pub(super) accept: AcceptPause,
}

impl Gateway {
    fn run(&mut self) -> EntryReport {
        for d in &mut self.desks {
            d.recover(&mut self.courier);
        }
        let mut events = Events::with_capacity(256);
        loop {
            let now = now_ns();
            let mut work = self.core_events(now);
            work |= self.courier.pump();
            if self.stop.load(Ordering::Acquire) && self.stopping.is_none() {
                self.begin_stop(now);
            }
            if let Some(deadline) = self.stopping {
                if self.conns.iter().all(|c| c.is_none()) || now >= deadline {
                    return self.finish(now);
                }
            }
            let timeout = self.timeout(now, work);
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != ErrorKind::Interrupted {
                    eprintln!("execd: order entry: poll: {e}");
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            for ev in events.iter() {
                match ev.token() {
                    Token(t) if t < FIRST_CONN => self.accept(t, now),
                    Token(t) => {
                        let Some(c) = self.conns.get_mut(t - FIRST_CONN).and_then(|c| c.as_mut())
                        else {
                            continue;
                        };
                        if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                            c.readable = true;
                        }
                        if ev.is_writable() {
                            if let Err(e) = c.out.flush(&mut c.link) {
                                c.close.get_or_insert_with(|| format!("write: {e}"));
                            }
                        }
                    }
                }
            }
            let now = now_ns();
            self.retry_accept(now);
            self.read_ready(now);
            self.timers(now);
            self.flush_and_close(now);
            if now.saturating_sub(self.last_maintain) > 1_000_000_000 {
                self.last_maintain = now;
                for d in &mut self.desks {
                    d.maintain(now);
                }
            }
        }
    }

    /// Poll timeout: none while there is work, growing to [`MAX_IDLE_NS`] when idle,
    /// never past a session's next deadline.
    fn timeout(&mut self, now: u64, work: bool) -> Duration {
        if work || self.courier.blocked() {
            self.last_work = now;
        }
        let hot = now.saturating_sub(self.last_work) < HOT_NS;
        self.idle_ns = match self.idle {
            _ if work || self.courier.blocked() => 0,
            IdleKind::Spin => 0,
            IdleKind::Yield => {
                std::thread::yield_now();
                0
            }
            IdleKind::Backoff if hot => {
                std::thread::yield_now();
                0
            }
            IdleKind::Backoff => (self.idle_ns * 2).clamp(50_000, MAX_IDLE_NS),
        };
        let mut t = self.idle_ns;
        for d in &self.desks {
            if let Some(dl) = d.session.next_deadline() {
                t = t.min(dl.saturating_sub(now));
            }
        }
        Duration::from_nanos(t)
    }

    /// Handles what the core said; whether it said anything.
    fn core_events(&mut self, now: u64) -> bool {
        let mut n = 0;
        while n < EVENTS_PER_TURN {
            let Some(ev) = self.courier.event() else {
                break;
            };
            n += 1;
            self.route(now, ev);
        }
        if n > 0 {
            for d in &mut self.desks {
                let out = d
                    .conn
                    .and_then(|ci| self.conns.get_mut(ci))
                    .and_then(|c| c.as_mut())
                    .map(|c| &mut c.out);
                d.flush(now, out);
            }
        }
        n > 0
    }

    /// The session and slot of a request id this gateway made (`<name>:<ClOrdID>`).
    fn by_request(&self, rid: &RequestId) -> Option<(usize, u32)> {
        let b = rid.as_bytes();
        let colon = b.iter().position(|&c| c == b':')?;
        let (name, key) = (&b[..colon], &b[colon + 1..]);
        let d = self
            .desks
            .iter()
            .position(|d| d.spec.name.as_bytes() == name)?;
        Some((d, self.desks[d].slot_of_key(key)?))
    }

    fn by_order(&self, order: crate::model::ids::OrderId) -> Option<(usize, u32)> {
        self.desks
            .iter()
            .enumerate()
            .find_map(|(i, d)| d.slot_of(order).map(|s| (i, s)))
    }

    fn route(&mut self, now: u64, ev: CoreEvent) {
        match ev {
            CoreEvent::Accepted {
                request_id, order, ..
            } => match self.by_request(&request_id) {
                Some((d, s)) => self.desks[d].accepted(now, s, order),
                None => self.report.unknown_events += 1,
            },
            CoreEvent::Rejected {
                request_id,
                order,
                reason,
            } => match self.by_request(&request_id) {
                Some((d, s)) => self.desks[d].rejected(now, s, order, reason),
                None => self.report.unknown_events += 1,
            },
            CoreEvent::Duplicate {
                request_id, order, ..
            } => match self.by_request(&request_id) {
                Some((d, s)) => {
                    let recovery = matches!(
                        self.courier.front(),
                        Some(Op {
                            kind: OpKind::Submit { recovery: true, slot },
                            desk,
                        }) if *desk as usize == d && *slot == s
                    );
                    self.desks[d].duplicate(now, s, order, recovery)
                }
                None => self.report.unknown_events += 1,
            },
            CoreEvent::Order(st) => {
                let at = if st.request_id.is_empty() {
                    self.by_order(st.order)
                } else {
                    self.by_request(&st.request_id)
                };
                match at {
                    Some((d, s)) => self.desks[d].order_status(now, s, &st),
                    // Protective legs and other producers' orders are not ours to tell.
                    None => self.report.unknown_events += 1,
                }
            }
            CoreEvent::Fill {
                order,
                exec_id,
                px,
                qty,
                ..
            } => match self.by_order(order) {
                Some((d, s)) => self.desks[d].fill(s, exec_id, px, qty),
                None => self.report.unknown_events += 1,
            },
            CoreEvent::CommandRejected {
                order: Some(id),
                reason,
            } => {
                if let Some((d, s)) = self.by_order(id) {
                    self.desks[d].refused(s, reason);
                }
            }
            CoreEvent::CommandRejected {
                order: None,
                reason,
            } => {
                // Names no order: it answers the oldest command still in flight.
                if let Some(op) = self.courier.front() {
                    let d = &mut self.desks[op.desk as usize];
                    match op.kind {
                        OpKind::Cancel { slot, .. } | OpKind::Replace { slot, .. } => {
                            d.refused(slot, reason)
                        }
                        OpKind::Quote { in_seq } => d.quote_refused(in_seq, reason),
                        OpKind::Recover { .. } | OpKind::Status { .. } | OpKind::Submit { .. } => {
                            // The core no longer holds the order: answered from what the
                            // gateway knows.
                            d.stats.unknown += 1;
                        }
                    }
                }
            }
            CoreEvent::Synced(token) => {
                if let Some(op) = self.courier.synced(token) {
                    self.desks[op.desk as usize].synced(now, op.kind, &mut self.courier);
                }
            }
            _ => {}
        }
    }

    /// Logs every client out; connections without a session are closed.
    fn begin_stop(&mut self, now: u64) {
        self.stopping = Some(now + STOP_GRACE_NS);
        // What the core has said so far goes out before the Logout.
        self.core_events(now);
        for d in &mut self.desks {
            let Some(ci) = d.conn else { continue };
            let Some(c) = self.conns.get_mut(ci).and_then(|c| c.as_mut()) else {
                continue;
            };
            if let Some(why) = d.logout(now, "execd is stopping", Some(&mut c.out)) {
                c.close.get_or_insert(why);
            }
        }
        for c in self.conns.iter_mut().flatten() {
            if c.desk.is_none() {
                c.close.get_or_insert_with(|| "execd is stopping".into());
            }
        }
        self.flush_and_close(now);
    }

    fn finish(&mut self, now: u64) -> EntryReport {
        for ci in 0..self.conns.len() {
            if self.conns[ci].is_some() {
                if let Some(c) = self.conns[ci].as_mut() {
                    c.close.get_or_insert_with(|| "execd stopped".into());
                }
                self.close(ci, now);
            }
        }
        // Commands taken from clients and logged reach the core if it has room; those
        // that do not are submitted again at the next start.
        self.courier.pump();
        let mut report = std::mem::take(&mut self.report);
        report.accept_failures = self.accept.failures;
        for d in &mut self.desks {
            d.sync();
            report.desks.push(DeskReport {
                name: d.spec.name.as_str().to_string(),
                stats: d.stats(),
                seqs: d.session.seqs(),
                orders: d.book.len(),
                log_errors: d.log.as_ref().map_or(0, |l| l.errors),
                store_errors: d.store.errors,
            });
        }
        report
    }
}
