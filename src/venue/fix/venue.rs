//! The FIX venue (R-VEN-1): a broker reached over one FIX session, driven from the core
//! thread's duty cycle — nonblocking TCP, no threads, no blocking calls.
//!
//! Orders go out as NewOrderSingle / OrderCancelRequest / OrderCancelReplaceRequest;
//! ExecutionReports, OrderCancelRejects and rejects come back as [`VenueEvent`]s, which
//! the core journals as inputs (replay cannot derive them). Every frame sent is in the
//! session's store before its bytes leave; sequence numbers survive a crash.
//!
//! The gate sees the session as the journal does: up from the moment the core applied
//! the `Session { up: true }` event, down from `Session { up: false }`. A message the
//! session could not send in between (the socket died, the news not yet applied) is
//! treated as sent and unanswered: its hard timeout and a status query resolve it —
//! never a blind resend (R-RES-1).

use super::codec::{Encoder, Msg};
use super::dictionary::Dictionary;
use super::reject::SessionRejectReason;
use super::session::{SendError, SeqNums, Session, SessionEvent, SessionIo, State};
use super::settings::{DictionaryFiles, FixSpec};
use super::store::{MessageStore, SessionStore};
use super::transport::{Link, TlsClient};
use crate::config::Registry;
use crate::model::fixed::{rescale, Dec, Money, Price, Qty, MONEY_SCALE};
use crate::model::ids::{
    AccountId, ClOrdId, InstrumentId, Name, OrderId, OrderType, Side, Tif, VenueId,
};
use crate::model::reason::Reason;
use crate::venue::{Venue, VenueError, VenueEvent, VenueEventKind, VenueOrder};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;

/// Sent frames kept in memory for resend requests.
const KEEP_SENT: usize = 100_000;
/// Unsent bytes a slow broker may leave in our buffer before we give up on it.
const MAX_BACKLOG: usize = 16 << 20;
/// Messages remembered by sequence number, to route a session reject to its order.
const SENT_MAP: usize = 4096;
/// First reconnection delay; doubles up to ReconnectInterval.
const FIRST_BACKOFF_NS: u64 = 1_000_000_000;

/// Counters an operator reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FixStats {
    /// Connections established.
    pub connects: u64,
    /// Connection attempts that failed.
    pub connect_failures: u64,
    /// Logons completed.
    pub logons: u64,
    /// Application messages sent.
    pub sent: u64,
    /// Application messages received.
    pub received: u64,
    /// Messages the core asked for while the session was down (left to time out).
    pub unsent: u64,
    /// Reports for orders this core did not send, or that could not be read.
    pub anomalies: u64,
    /// Trade corrections and busts received (reported, not applied).
    pub trade_corrections: u64,
    /// Messages that failed dictionary validation (rejected, still applied).
    pub invalid: u64,
    /// Status requests sent for orders whose outcome was unknown.
    pub status_requests: u64,
    /// Position reports received.
    pub position_reports: u64,
    /// Requests the broker said it does not support (mass status, positions).
    pub unsupported: u64,
    /// Messages from the broker this venue does not handle (answered with 35=j).
    pub unsupported_received: u64,
}

/// What the venue remembers of an order to fill in cancels and replaces.
#[derive(Clone, Copy, Debug, Default)]
struct Sent {
    order: u64,
    instrument: u16,
    account: u16,
    side: u8,
    order_type: u8,
    tif: u8,
    qty: i64,
    limit: i64,
    stop: i64,
}

/// The session's side of the socket, and the store.
struct Wire {
    stream: Option<Link>,
    backlog: Vec<u8>,
    broken: bool,
    store: SessionStore,
    now: u64,
    /// Events for the core, in arrival order.
    events: VecDeque<VenueEvent>,
    /// What the session said besides application messages, handled after each call.
    said: Vec<SessionEvent>,
    map: Mapping,
}

/// Turns inbound application messages into venue events.
struct Mapping {
    reg: Arc<Registry>,
    venue: VenueId,
    orders: Vec<Sent>,
    by_seq: Vec<(u64, u8, ClOrdId)>,
    stats: FixStats,
    /// Net position per account × instrument as the broker last reported it.
    positions: Vec<Option<i64>>,
    /// Inbound messages to answer with a BusinessMessageReject (seq, MsgType).
    to_reject: Vec<(u64, [u8; 8], u8)>,
}

impl Mapping {
    fn slot(&self, order: OrderId) -> usize {
        (order.0 % self.orders.len() as u64) as usize
    }

    fn sent(&self, order: OrderId) -> Option<&Sent> {
        let s = &self.orders[self.slot(order)];
        (s.order == order.0).then_some(s)
    }

    fn instrument(&self, msg: &Msg<'_>, cl: ClOrdId) -> Option<InstrumentId> {
        if let Some(s) = self.sent(cl.order) {
            return Some(InstrumentId(s.instrument));
        }
        let sym = Name::from_bytes(msg.get(55)?).ok()?;
        self.reg.instrument(self.venue, &sym)
    }

    fn px(&self, msg: &Msg<'_>, tag: u32, inst: InstrumentId) -> Option<i64> {
        let d = msg.get_dec(tag)?;
        let scale = self.reg.instruments[inst.0 as usize].price_scale;
        Some(rescale(d.mant as i128, d.scale as i32, scale as i32) as i64)
    }

    fn qty(&self, msg: &Msg<'_>, tag: u32, inst: InstrumentId) -> Option<i64> {
        let d = msg.get_dec(tag)?;
        let scale = self.reg.instruments[inst.0 as usize].qty_scale;
        d.to_scale(scale)
    }

    fn push(&mut self, q: &mut VecDeque<VenueEvent>, now: u64, seq: u64, kind: VenueEventKind) {
        q.push_back(VenueEvent {
            at_ns: now,
            kind,
            src_seq: seq,
        });
    }

    fn anomaly(&mut self, what: &str, msg: &Msg<'_>) {
        self.stats.anomalies += 1;
        // Rare by construction; an operator needs the message itself.
        eprintln!(
            "execd: fix venue {}: {what}: {}",
            self.reg.venues[self.venue.0 as usize].name.as_str(),
            String::from_utf8_lossy(msg.raw()).replace('\x01', "|")
        );
    }

    fn on_app(&mut self, q: &mut VecDeque<VenueEvent>, now: u64, msg: &Msg<'_>) {
        self.stats.received += 1;
        let seq = msg.seq().unwrap_or(0);
        match msg.msg_type() {
            b"8" => self.on_report(q, now, seq, msg),
            b"9" => {
                let Some(cl) = cl_of(msg.get(11)) else {
                    return self.anomaly("cancel reject for an unknown ClOrdID", msg);
                };
                let reason = match msg.get(102) {
                    Some(b"1") => Reason::VenueUnknownOrder,
                    _ => Reason::VenueRejected,
                };
                let kind = match msg.get(434) {
                    Some(b"2") => VenueEventKind::ReplaceRejected { cl, reason },
                    _ => VenueEventKind::CancelRejected { cl, reason },
                };
                self.push(q, now, seq, kind);
            }
            b"AP" => self.on_position(msg),
            // No positions to report (728=2), or the request refused: nothing to change.
            b"AO" => {}
            b"j" if matches!(
                msg.get_u64(45).and_then(|r| self.by_seq(r)),
                Some((b'N' | b'S', _))
            ) =>
            {
                // The broker does not offer mass status or positions: noted, not an error.
                self.stats.unsupported += 1;
            }
            b"j" => {
                // A business reject of one of our requests: route it to its order.
                let by_ref = msg.get_u64(45).and_then(|r| self.by_seq(r));
                let by_id = cl_of(msg.get(379)).map(|cl| (0u8, cl));
                match by_ref.or(by_id) {
                    Some((t, cl)) => self.refused(q, now, seq, t, cl, Reason::VenueRejected),
                    None => self.anomaly("business reject of nothing we sent", msg),
                }
            }
            // Anything else this venue does not handle: BusinessMessageReject, 380=3.
            other => {
                self.stats.unsupported_received += 1;
                let mut t = [0u8; 8];
                let n = other.len().min(8);
                t[..n].copy_from_slice(&other[..n]);
                if self.to_reject.len() < 1024 {
                    self.to_reject.push((seq, t, n as u8));
                }
            }
        }
    }

    /// A PositionReport: the first PositionQty entry's long minus short quantity.
    fn on_position(&mut self, msg: &Msg<'_>) {
        let account = msg
            .get(1)
            .and_then(|a| Name::from_bytes(a).ok())
            .and_then(|a| self.reg.account(&a));
        let inst = msg
            .get(55)
            .and_then(|s| Name::from_bytes(s).ok())
            .and_then(|s| self.reg.instrument(self.venue, &s));
        let (Some(a), Some(i)) = (account, inst) else {
            return self.anomaly("position report for an unknown account or symbol", msg);
        };
        let long = self.qty(msg, 704, i).unwrap_or(0);
        let short = self.qty(msg, 705, i).unwrap_or(0);
        let k = a.0 as usize * self.reg.instruments.len() + i.0 as usize;
        self.positions[k] = Some(long - short);
        self.stats.position_reports += 1;
    }

    fn by_seq(&self, seq: u64) -> Option<(u8, ClOrdId)> {
        let (s, t, cl) = self.by_seq[(seq % SENT_MAP as u64) as usize];
        (s == seq).then_some((t, cl))
    }

    /// A request of ours refused outright (35=3 or 35=j).
    fn refused(
        &mut self,
        q: &mut VecDeque<VenueEvent>,
        now: u64,
        seq: u64,
        msg_type: u8,
        cl: ClOrdId,
        reason: Reason,
    ) {
        let kind = match msg_type {
            b'F' => VenueEventKind::CancelRejected { cl, reason },
            b'G' => VenueEventKind::ReplaceRejected { cl, reason },
            _ => VenueEventKind::Rejected { cl, reason },
        };
        self.push(q, now, seq, kind);
    }

    fn on_report(&mut self, q: &mut VecDeque<VenueEvent>, now: u64, seq: u64, msg: &Msg<'_>) {
        let Some(cl) = cl_of(msg.get(11)) else {
            // "No open orders" in answer to our mass status request is not a surprise.
            if msg.get(584).is_some() && msg.get(150) == Some(b"I") {
                return;
            }
            return self.anomaly("execution report for an order this core did not send", msg);
        };
        let exec_type = msg.get(150).and_then(|v| v.first().copied()).unwrap_or(0);
        let status = msg.get(39).and_then(|v| v.first().copied()).unwrap_or(0);
        // FIX 4.2 reports executions as ExecType 1/2 (partial/fill); 4.4 and later as F.
        let fix42_fill = msg.get(8) == Some(b"FIX.4.2") && matches!(exec_type, b'1' | b'2');
        let kind = match exec_type {
            b'0' => VenueEventKind::Ack {
                cl,
                venue_order_id: id_of(msg.get(37)),
            },
            b'F' | b'1' | b'2' if exec_type == b'F' || fix42_fill => {
                let Some(inst) = self.instrument(msg, cl) else {
                    return self.anomaly("fill for an unknown instrument", msg);
                };
                let (Some(px), Some(qty)) = (self.px(msg, 31, inst), self.qty(msg, 32, inst))
                else {
                    return self.anomaly("fill without a readable LastPx/LastQty", msg);
                };
                // Commission (12) is taken as an amount of account currency (CommType 3).
                let fee = msg
                    .get_dec(12)
                    .map(|d| rescale(d.mant as i128, d.scale as i32, MONEY_SCALE as i32) as i64)
                    .unwrap_or(0);
                VenueEventKind::Fill {
                    cl,
                    exec_id: id_of(msg.get(17)),
                    px: Price(px),
                    qty: Qty(qty),
                    fee: Money(fee),
                }
            }
            b'4' => VenueEventKind::Canceled { cl },
            b'5' => {
                let Some(inst) = self.instrument(msg, cl) else {
                    return self.anomaly("replace for an unknown instrument", msg);
                };
                let qty = self.qty(msg, 38, inst).unwrap_or(0);
                let limit = self
                    .px(msg, 44, inst)
                    .or_else(|| self.px(msg, 99, inst))
                    .unwrap_or(0);
                if let Some(s) = self.sent(cl.order).copied() {
                    let i = self.slot(cl.order);
                    self.orders[i] = Sent { qty, limit, ..s };
                }
                VenueEventKind::Replaced {
                    cl,
                    qty: Qty(qty),
                    limit: Price(limit),
                }
            }
            b'8' => VenueEventKind::Rejected {
                cl,
                reason: match msg.get(103) {
                    Some(b"3") => Reason::VenueFunds,
                    Some(b"5") => Reason::VenueUnknownOrder,
                    _ => Reason::VenueRejected,
                },
            },
            b'C' => VenueEventKind::Expired { cl },
            b'G' | b'H' => {
                // The OMS has no fill correction yet: report loudly, apply nothing.
                self.stats.trade_corrections += 1;
                return self.anomaly("trade correction/bust not applied", msg);
            }
            // Status answers and restatements: take what they say of a finished order.
            b'I' | b'D' => match status {
                b'4' => VenueEventKind::Canceled { cl },
                b'8' => VenueEventKind::Rejected {
                    cl,
                    reason: Reason::VenueRejected,
                },
                b'C' => VenueEventKind::Expired { cl },
                _ => return,
            },
            // Pending new/cancel/replace, done for day, calculated: nothing changes yet.
            _ => return,
        };
        self.push(q, now, seq, kind);
    }
}

/// Parses a ClOrdID this core wrote.
fn cl_of(v: Option<&[u8]>) -> Option<ClOrdId> {
    ClOrdId::parse(std::str::from_utf8(v?).ok()?)
}

/// A venue's id string as a number: itself if numeric, else its hash.
fn id_of(v: Option<&[u8]>) -> u64 {
    match v {
        None => 0,
        Some(b) => super::codec::parse_u64(b).unwrap_or_else(|| xxhash_rust::xxh3::xxh3_64(b)),
    }
}

/// Writes a ClOrdID the way [`ClOrdId::parse`] reads it, without allocating.
fn put_cl(e: &mut Encoder, tag: u32, cl: ClOrdId) {
    let mut buf = [0u8; 48];
    let mut w = &mut buf[..];
    let _ = write!(w, "{:x}-{}-{}", cl.epoch, cl.order.0, cl.version);
    let n = 48 - w.len();
    e.bytes(tag, &buf[..n]);
}

impl SessionIo for Wire {
    fn send(&mut self, frame: &[u8]) {
        if self.broken {
            return;
        }
        let Some(s) = self.stream.as_mut() else {
            return;
        };
        let mut off = 0;
        if self.backlog.is_empty() {
            loop {
                match s.write(&frame[off..]) {
                    Ok(0) => {
                        self.broken = true;
                        return;
                    }
                    Ok(n) => {
                        off += n;
                        if off == frame.len() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        self.broken = true;
                        return;
                    }
                }
            }
        }
        if self.backlog.len() + frame.len() - off > MAX_BACKLOG {
            self.broken = true;
            return;
        }
        self.backlog.extend_from_slice(&frame[off..]);
    }
    fn store(&mut self, seq: u64, frame: &[u8]) {
        self.store.sent(self.now, seq, frame);
    }
    fn stored(&self, seq: u64) -> Option<&[u8]> {
        self.store.get(seq)
    }
    fn reset(&mut self, seqs: SeqNums) {
        self.store.reset(self.now, seqs);
    }
    fn may_resend(&mut self, _seq: u64, _msg: &Msg<'_>) -> bool {
        true
    }
    fn app(&mut self, msg: &Msg<'_>, valid: Result<(), SessionRejectReason>) {
        self.store.received(self.now, msg.raw());
        if valid.is_err() {
            self.map.stats.invalid += 1;
        }
        self.map.on_app(&mut self.events, self.now, msg);
    }
    fn event(&mut self, ev: SessionEvent) {
        self.said.push(ev);
    }
}

impl Wire {
    fn flush(&mut self) {
        if self.broken {
            return;
        }
        let Some(s) = self.stream.as_mut() else {
            return;
        };
        // TLS records encrypted earlier that the socket did not take yet.
        if let Err(e) = s.flush() {
            self.broken = e.kind() != io::ErrorKind::WouldBlock;
            return;
        }
        let mut off = 0;
        while off < self.backlog.len() {
            match s.write(&self.backlog[off..]) {
                Ok(0) => {
                    self.broken = true;
                    break;
                }
                Ok(n) => off += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.broken = true;
                    break;
                }
            }
        }
        self.backlog.drain(..off);
    }
}

/// A broker over FIX.
pub struct FixVenue {
    id: VenueId,
    spec: FixSpec,
    tls: Option<TlsClient>,
    session: Session,
    wire: Wire,
    addr: Option<SocketAddr>,
    connecting: bool,
    next_connect: u64,
    backoff: u64,
    /// The session state the core has applied (see the module docs).
    reported_up: bool,
    /// The state of the last Session event queued.
    queued_up: bool,
    closing: bool,
    rbuf: Box<[u8]>,
}

/// Why a FIX venue could not start.
#[derive(Debug)]
pub struct FixVenueError(pub String);

impl std::fmt::Display for FixVenueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FixVenueError {}

impl FixVenue {
    /// The FIX venue `id` of `reg`. With `store_dir`, frames and sequence numbers are
    /// kept there and restored from it; `applied_in` is the last inbound sequence number
    /// the core's journal shows applied (messages after it are asked for again).
    /// `was_up`: the journal left the session logged on, so the core is told it is not.
    pub fn new(
        reg: Arc<Registry>,
        id: VenueId,
        store_dir: Option<&Path>,
        applied_in: u64,
        was_up: bool,
        now: u64,
    ) -> Result<FixVenue, FixVenueError> {
        let v = &reg.venues[id.0 as usize];
        let name = v.name.as_str().to_string();
        let spec = v
            .fix
            .clone()
            .ok_or_else(|| FixVenueError(format!("venue {name} has no FIX settings")))?;
        let mut cfg = spec.session.clone();
        if let Some(files) = &spec.dictionary {
            let overlays: Vec<&Path> = spec.overlays.iter().map(Path::new).collect();
            let d = match files {
                DictionaryFiles::Single(base) => Dictionary::open(base, &overlays),
                DictionaryFiles::Fixt { transport, app } => {
                    Dictionary::open_fixt(transport, app, &overlays)
                }
            }
            .map_err(|e| FixVenueError(format!("venue {name}: dictionary: {e}")))?;
            cfg.dictionary = Some(Arc::new(d));
        }
        let tls = spec.tls.as_ref().map(TlsClient::load).transpose();
        let tls =
            tls.map_err(|(key, e)| FixVenueError(format!("venues[{}].fix.{key}: {e}", id.0)))?;
        // Numbers restored from an earlier window (the previous trading day) come back
        // as 1, as the broker starts that window.
        let schedule = spec.session.schedule.as_ref();
        let store = SessionStore::open(store_dir, KEEP_SENT, schedule, now)
            .map_err(|e| FixVenueError(format!("venue {name}: {e}")))?;
        let mut seqs = store.seqs();
        // The store may have received messages the core never applied (a crash between
        // the two): ask for them again rather than lose them.
        if applied_in > 0 && applied_in < seqs.next_in {
            seqs.next_in = applied_in + 1;
        }
        let window = store.session_start();
        let mut wire = Wire {
            stream: None,
            backlog: Vec::with_capacity(64 << 10),
            broken: false,
            store,
            now,
            events: VecDeque::with_capacity(1024),
            said: Vec::with_capacity(16),
            map: Mapping {
                venue: id,
                orders: vec![Sent::default(); reg.core.max_orders.max(16)],
                by_seq: vec![(0, 0, ClOrdId::default()); SENT_MAP],
                stats: FixStats::default(),
                positions: vec![None; reg.accounts.len() * reg.instruments.len()],
                to_reject: Vec::new(),
                reg: reg.clone(),
            },
        };
        if was_up {
            wire.map.push(
                &mut wire.events,
                now,
                0,
                VenueEventKind::Session { up: false },
            );
        }
        let mut session = Session::new(cfg, seqs);
        if window.is_some() {
            session.set_session_start(window);
        }
        Ok(FixVenue {
            id,
            session,
            wire,
            addr: None,
            connecting: false,
            next_connect: 0,
            backoff: FIRST_BACKOFF_NS,
            reported_up: was_up,
            queued_up: false,
            closing: false,
            rbuf: vec![0u8; 64 << 10].into_boxed_slice(),
            spec,
            tls,
        })
    }

    /// Remembers an order sent before this process started, so it can be canceled or
    /// amended (those messages repeat its symbol, side and quantity).
    pub fn remember(&mut self, o: &VenueOrder) {
        let i = self.wire.map.slot(o.cl.order);
        self.wire.map.orders[i] = sent_of(o);
    }

    /// Counters.
    pub fn stats(&self) -> FixStats {
        self.wire.map.stats
    }

    /// The session's sequence numbers.
    pub fn seqs(&self) -> SeqNums {
        self.session.seqs()
    }

    fn connect(&mut self, now: u64) {
        if self.addr.is_none() {
            self.addr = (self.spec.host.as_str(), self.spec.port)
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next());
        }
        let Some(addr) = self.addr else {
            return self.retry_later(now, "the host does not resolve");
        };
        match Link::connect(addr, self.tls.as_ref()) {
            Ok(s) => {
                self.wire.stream = Some(s);
                self.wire.broken = false;
                self.wire.backlog.clear();
                self.connecting = true;
                // While connecting: the deadline of this attempt (TCP and TLS handshake).
                self.next_connect =
                    now + self.spec.session.logon_timeout_secs as u64 * 1_000_000_000;
            }
            Err(e) => self.retry_later(now, &e.to_string()),
        }
    }

    fn retry_later(&mut self, now: u64, why: &str) {
        self.wire.map.stats.connect_failures += 1;
        if self.wire.map.stats.connect_failures <= 3
            || self.wire.map.stats.connect_failures % 100 == 0
        {
            eprintln!(
                "execd: fix venue {}: cannot connect to {}:{} ({why}); retrying in {} ms",
                self.name(),
                self.spec.host,
                self.spec.port,
                self.backoff / 1_000_000
            );
        }
        self.next_connect = now + self.backoff;
        self.backoff = (self.backoff * 2).min(self.spec.reconnect_max_ns.max(FIRST_BACKOFF_NS));
    }

    fn name(&self) -> &str {
        self.wire.map.reg.venues[self.id.0 as usize].name.as_str()
    }

    fn disconnect(&mut self, now: u64, why: &str) {
        if let Some(mut s) = self.wire.stream.take() {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        self.connecting = false;
        self.wire.backlog.clear();
        self.wire.broken = false;
        if self.session.state() != State::Disconnected {
            self.session.on_disconnected(now, &mut self.wire);
        }
        if !self.closing {
            eprintln!(
                "execd: fix venue {}: disconnected: {why}; reconnecting in {} ms",
                self.name(),
                self.backoff / 1_000_000
            );
        }
        // Back off whether the connection or the logon failed; a logon resets it.
        self.next_connect = now + self.backoff;
        self.backoff = (self.backoff * 2).min(self.spec.reconnect_max_ns.max(FIRST_BACKOFF_NS));
        self.queue_session(now, false);
    }

    fn queue_session(&mut self, now: u64, up: bool) {
        if self.queued_up != up {
            self.queued_up = up;
            let seq = self.session.seqs().next_in.saturating_sub(1);
            let q = &mut self.wire.events;
            self.wire
                .map
                .push(q, now, seq, VenueEventKind::Session { up });
        }
    }

    /// Handles what the session said during the last call.
    fn settle(&mut self, now: u64) {
        let mut i = 0;
        while i < self.wire.said.len() {
            let ev = self.wire.said[i].clone();
            i += 1;
            match ev {
                SessionEvent::LoggedOn => {
                    self.wire.map.stats.logons += 1;
                    self.backoff = FIRST_BACKOFF_NS;
                    self.queue_session(now, true);
                    self.after_logon(now);
                }
                SessionEvent::LoggedOut => self.queue_session(now, false),
                SessionEvent::Disconnect(why) => {
                    self.wire.said.clear();
                    return self.disconnect(now, &why);
                }
                SessionEvent::PeerRejected {
                    ref_seq, msg_type, ..
                } if msg_type == "3" => {
                    if let Some((t, cl)) = self.wire.map.by_seq(ref_seq) {
                        let q = &mut self.wire.events;
                        let seq = self.session.seqs().next_in.saturating_sub(1);
                        self.wire
                            .map
                            .refused(q, now, seq, t, cl, Reason::VenueRejected);
                    }
                }
                _ => {}
            }
        }
        self.wire.said.clear();
        while let Some((seq, t, n)) = self.wire.map.to_reject.pop() {
            let _ = self.session.send_business_reject(
                now,
                seq,
                &t[..n as usize],
                3,
                "unsupported message type",
                &mut self.wire,
            );
        }
        if self.wire.broken {
            self.disconnect(now, "the connection broke while writing");
        }
    }

    fn note_sent(&mut self, seq: u64, msg_type: u8, cl: ClOrdId) {
        self.wire.map.stats.sent += 1;
        self.wire.map.by_seq[(seq % SENT_MAP as u64) as usize] = (seq, msg_type, cl);
    }

    /// What changed while we were away: every open order's state, and positions.
    fn after_logon(&mut self, now: u64) {
        let reg = self.wire.map.reg.clone();
        let micros = self.spec.session.micros;
        let mut id = [0u8; 32];
        let n = {
            let mut w = &mut id[..];
            let _ = write!(w, "{:x}", now);
            32 - w.len()
        };
        if self.spec.mass_status_on_logon {
            let sent = self.session.send_app(
                now,
                b"AF",
                |e| {
                    e.bytes(584, &id[..n]);
                    e.char(585, b'7');
                },
                &mut self.wire,
            );
            if let Ok(seq) = sent {
                self.wire.map.by_seq[(seq % SENT_MAP as u64) as usize] =
                    (seq, b'S', ClOrdId::default());
            }
        }
        if self.spec.positions_on_logon {
            let date = crate::calendar::civil_date(now);
            let sender = self.spec.session.sender_comp_id.clone();
            for a in &reg.accounts {
                let sent = self.session.send_app(
                    now,
                    b"AN",
                    |e| {
                        e.bytes(1, a.name.as_bytes());
                        e.timestamp(60, now, micros);
                        // Parties is required in FIX 4.4: we are the client (role 3).
                        // Its fields keep the group's order: 448, 447, 452.
                        e.uint(453, 1);
                        e.bytes(448, sender.as_bytes());
                        e.char(447, b'D');
                        e.uint(452, 3);
                        e.char(581, b'1');
                        e.bytes(710, &id[..n]);
                        let mut d = [0u8; 8];
                        let mut w = &mut d[..];
                        let _ = write!(w, "{:04}{:02}{:02}", date.0, date.1, date.2);
                        e.bytes(715, &d);
                        e.char(724, b'0');
                    },
                    &mut self.wire,
                );
                if let Ok(seq) = sent {
                    self.wire.map.by_seq[(seq % SENT_MAP as u64) as usize] =
                        (seq, b'N', ClOrdId::default());
                }
            }
        }
    }

    /// Sends an application message if the core believes the session is up.
    fn send(
        &mut self,
        now: u64,
        msg_type: u8,
        cl: ClOrdId,
        body: impl FnOnce(&mut Encoder),
    ) -> Result<(), VenueError> {
        if !self.reported_up {
            return Err(VenueError::NotConnected);
        }
        self.wire.now = now;
        match self
            .session
            .send_app(now, &[msg_type], body, &mut self.wire)
        {
            Ok(seq) => self.note_sent(seq, msg_type, cl),
            // Down, and the core not yet told: as if sent and lost (module docs).
            Err(SendError::NotLoggedOn) => self.wire.map.stats.unsent += 1,
        }
        self.settle(now);
        Ok(())
    }
}

fn sent_of(o: &VenueOrder) -> Sent {
    Sent {
        order: o.cl.order.0,
        instrument: o.instrument.0,
        account: o.account.0,
        side: o.side as u8,
        order_type: o.order_type as u8,
        tif: o.tif as u8,
        qty: o.qty.0,
        limit: o.limit.0,
        stop: o.stop.0,
    }
}

fn side_char(s: u8) -> u8 {
    if s == Side::Buy as u8 {
        b'1'
    } else {
        b'2'
    }
}

fn ord_type_char(t: u8) -> u8 {
    match t {
        x if x == OrderType::Market as u8 => b'1',
        x if x == OrderType::Limit as u8 => b'2',
        x if x == OrderType::Stop as u8 => b'3',
        _ => b'4',
    }
}

fn tif_char(t: u8) -> u8 {
    match t {
        x if x == Tif::Day as u8 => b'0',
        x if x == Tif::Gtc as u8 => b'1',
        x if x == Tif::Ioc as u8 => b'3',
        _ => b'4',
    }
}

/// What an outbound order message needs from the registry, copied out so the encoder
/// closure borrows nothing of the venue (no reference count touched per order).
#[derive(Clone, Copy)]
struct Terms {
    account: Name,
    symbol: Name,
    price_scale: u8,
    qty_scale: u8,
    fix42: bool,
    micros: bool,
}

impl FixVenue {
    fn terms(&self, s: &Sent) -> Terms {
        let reg = &self.wire.map.reg;
        let inst = &reg.instruments[s.instrument as usize];
        Terms {
            account: reg.accounts[s.account as usize].name,
            symbol: inst.symbol,
            price_scale: inst.price_scale,
            qty_scale: inst.qty_scale,
            fix42: self.spec.session.begin_string == "FIX.4.2",
            micros: self.spec.session.micros,
        }
    }
}

/// The body of a NewOrderSingle (`orig` None) or an OrderCancelReplaceRequest, in tag
/// order.
fn order_fields(
    e: &mut Encoder,
    t: &Terms,
    s: &Sent,
    cl: ClOrdId,
    orig: Option<ClOrdId>,
    now: u64,
) {
    e.bytes(1, t.account.as_bytes());
    put_cl(e, 11, cl);
    if t.fix42 {
        e.char(21, b'1');
    }
    e.fixed(38, s.qty, t.qty_scale);
    e.char(40, ord_type_char(s.order_type));
    if let Some(o) = orig {
        put_cl(e, 41, o);
    }
    let ot = s.order_type;
    if ot == OrderType::Limit as u8 || ot == OrderType::StopLimit as u8 {
        e.fixed(44, s.limit, t.price_scale);
    }
    e.char(54, side_char(s.side));
    e.bytes(55, t.symbol.as_bytes());
    e.char(59, tif_char(s.tif));
    e.timestamp(60, now, t.micros);
    if ot == OrderType::Stop as u8 || ot == OrderType::StopLimit as u8 {
        e.fixed(99, s.stop, t.price_scale);
    }
}

impl Venue for FixVenue {
    fn is_logged_on(&self) -> bool {
        self.reported_up
    }

    fn submit(&mut self, now: u64, o: &VenueOrder) -> Result<(), VenueError> {
        let s = sent_of(o);
        if self.reported_up {
            let i = self.wire.map.slot(o.cl.order);
            self.wire.map.orders[i] = s;
        }
        let t = self.terms(&s);
        let cl = o.cl;
        self.send(now, b'D', cl, |e| order_fields(e, &t, &s, cl, None, now))
    }

    fn cancel(&mut self, now: u64, cl: ClOrdId, orig: ClOrdId) -> Result<(), VenueError> {
        let Some(s) = self.wire.map.sent(cl.order).copied() else {
            // Sent by an earlier process whose details this one never saw.
            return Err(VenueError::NotConnected);
        };
        let t = self.terms(&s);
        self.send(now, b'F', cl, |e| {
            e.bytes(1, t.account.as_bytes());
            put_cl(e, 11, cl);
            e.fixed(38, s.qty, t.qty_scale);
            put_cl(e, 41, orig);
            e.char(54, side_char(s.side));
            e.bytes(55, t.symbol.as_bytes());
            e.timestamp(60, now, t.micros);
        })
    }

    fn replace(
        &mut self,
        now: u64,
        cl: ClOrdId,
        orig: ClOrdId,
        qty: Qty,
        limit: Price,
    ) -> Result<(), VenueError> {
        let Some(mut s) = self.wire.map.sent(cl.order).copied() else {
            return Err(VenueError::NotConnected);
        };
        s.qty = qty.0;
        if s.order_type == OrderType::Stop as u8 {
            s.stop = limit.0;
        } else {
            s.limit = limit.0;
        }
        let t = self.terms(&s);
        self.send(now, b'G', cl, |e| {
            order_fields(e, &t, &s, cl, Some(orig), now)
        })
    }

    fn query(&mut self, now: u64, o: &VenueOrder) {
        if !self.reported_up {
            return;
        }
        let t = self.terms(&sent_of(o));
        let cl = o.cl;
        let side = side_char(o.side as u8);
        let sent = self.session.send_app(
            now,
            b"H",
            |e| {
                e.bytes(1, t.account.as_bytes());
                put_cl(e, 11, cl);
                e.char(54, side);
                e.bytes(55, t.symbol.as_bytes());
            },
            &mut self.wire,
        );
        if let Ok(seq) = sent {
            self.wire.map.stats.status_requests += 1;
            self.note_sent(seq, b'H', cl);
        }
        self.settle(now);
    }

    fn poll(&mut self, now: u64, out: &mut Vec<VenueEvent>) {
        while self.wire.events.front().is_some_and(|e| e.at_ns <= now) {
            let Some(ev) = self.wire.events.pop_front() else {
                break;
            };
            if let VenueEventKind::Session { up } = ev.kind {
                self.reported_up = up;
            }
            out.push(ev);
        }
    }

    fn next_event_at(&self) -> Option<u64> {
        self.wire.events.front().map(|e| e.at_ns)
    }

    fn positions(&self, account: AccountId, out: &mut Vec<(InstrumentId, Qty)>) {
        let n = self.wire.map.reg.instruments.len();
        let base = account.0 as usize * n;
        for i in 0..n {
            if let Some(Some(q)) = self.wire.map.positions.get(base + i) {
                out.push((InstrumentId(i as u16), Qty(*q)));
            }
        }
    }

    fn is_external(&self) -> bool {
        true
    }

    fn pump(&mut self, now: u64) -> bool {
        self.wire.now = now;
        let before = self.wire.events.len();
        if self.wire.stream.is_none() {
            if !self.closing && now >= self.next_connect && self.session.in_window(now) {
                self.connect(now);
            }
            return self.wire.events.len() != before;
        }
        if self.connecting {
            let Some(s) = self.wire.stream.as_mut() else {
                return false;
            };
            // TCP connected and, over TLS, the handshake done: only then the Logon.
            let established = match s.establish() {
                Ok(false) if now >= self.next_connect => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "not connected within LogonTimeout",
                )),
                r => r,
            };
            match established {
                Ok(true) => {
                    self.connecting = false;
                    self.wire.map.stats.connects += 1;
                    self.session.on_connected(now, &mut self.wire);
                    self.settle(now);
                }
                Ok(false) => return false,
                Err(e) => {
                    self.wire.stream = None;
                    self.connecting = false;
                    self.retry_later(now, &e.to_string());
                    return false;
                }
            }
        }
        let mut work = false;
        while let Some(s) = self.wire.stream.as_mut() {
            match s.read(&mut self.rbuf) {
                Ok(0) => {
                    self.disconnect(now, "the broker closed the connection");
                    return true;
                }
                Ok(n) => {
                    work = true;
                    self.session.on_bytes(now, &self.rbuf[..n], &mut self.wire);
                    self.settle(now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.disconnect(now, &e.to_string());
                    return true;
                }
            }
        }
        if self.wire.stream.is_some() {
            if self.session.next_deadline().is_some_and(|d| d <= now) {
                self.session.on_timer(now, &mut self.wire);
                self.settle(now);
            }
            if self.closing && self.session.state() == State::Active {
                self.session
                    .logout(now, "execd is stopping", &mut self.wire);
                self.settle(now);
            }
            self.wire.flush();
            if self.wire.broken {
                self.disconnect(now, "the connection broke while writing");
            }
        }
        work || self.wire.events.len() != before
    }

    fn close(&mut self, now: u64) {
        self.closing = true;
        self.wire.now = now;
        match self.session.state() {
            State::Active => {
                self.session
                    .logout(now, "execd is stopping", &mut self.wire);
                self.settle(now);
                self.wire.flush();
            }
            State::LogoutPending => {}
            _ => self.disconnect(now, "stopping"),
        }
        self.wire.store.sync();
    }

    fn closed(&self) -> bool {
        self.wire.stream.is_none()
    }
}

/// Reads a decimal the way the FIX venue does, for tests of price mapping.
pub fn dec_at_scale(v: &[u8], scale: u8) -> Option<i64> {
    let d = Dec::parse_bytes(v).ok()?;
    Some(rescale(d.mant as i128, d.scale as i32, scale as i32) as i64)
}

#[cfg(test)]
mod tests;
