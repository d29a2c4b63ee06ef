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
//! never a blind resend (R-RES-1) — except a new order, of which the session wrote
//! nothing: the core is told (`VenueEventKind::NotSent`) and resends it.

use super::codec::{Encoder, Msg};
use super::dictionary::Dictionary;
use super::lists::{self, Protective};
use super::market_data::MarketData;
pub use super::market_data::MdStats;
use super::reject::SessionRejectReason;
pub use super::reports::FixStats;
use super::reports::{cl_of, Mapping, Outstanding, Sent, SENT_MAP};
use super::session::{SendError, SeqNums, Session, SessionEvent, SessionIo, State};
use super::settings::{DictionaryFiles, FixSpec};
use super::store::{MessageStore, SessionStore};
use super::transport::{Link, TlsClient};
pub use super::wire_latency::WireToFill;
use super::{msg_type, tag};
use crate::config::Registry;
use crate::model::fixed::{Price, Qty};
use crate::model::ids::{
    AccountId, ClOrdId, InstrumentId, Name, OrderType, ShortStr, Side, Tif, VenueId,
};
use crate::model::reason::Reason;
use crate::secret::Secret;
use crate::venue::{Conflation, Venue, VenueError, VenueEvent, VenueEventKind, VenueOrder};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;

/// Sent frames kept in memory for resend requests.
const KEEP_SENT: usize = 100_000;
/// Unsent bytes a slow broker may leave in our buffer before we give up on it.
const MAX_BACKLOG: usize = 16 << 20;
/// Orders whose messages one resend gap-filled, asked about after it (more wait for the
/// next logon's questions about every order whose outcome is unknown).
const MAX_GAP_FILLED: usize = 4096;
/// First reconnection delay; doubles up to ReconnectInterval.
const FIRST_BACKOFF_NS: u64 = 1_000_000_000;

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
    /// Orders whose new/cancel/replace a resend gap-filled instead of sending again:
    /// each is asked about once the resend is done (R-RES-1).
    gap_filled: Vec<ClOrdId>,
    /// Orders, cancels and replaces younger than this (ns) may be sent again.
    resend_order_max_age_ns: u64,
    /// The venue told us something in the current numbering: a reset now loses it.
    heard: bool,
    /// The numbering started over after the venue had told us things; the core is told
    /// (`VenueEventKind::Restarted`) once it knows the session is up.
    restarted: bool,
    /// The state of the last Session event queued.
    queued_up: bool,
    /// MsgSeqNum of the last application message received: where queued session events
    /// stand in the inbound stream.
    last_in: u64,
    /// NewOrderSingle written → first fill read.
    fills: WireToFill,
}

/// Writes a ClOrdID the way [`ClOrdId::parse`] reads it, without allocating.
pub(super) fn put_cl(e: &mut Encoder, tag: u32, cl: ClOrdId) {
    let mut buf = [0u8; 40];
    e.bytes(tag, cl.write_into(&mut buf));
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
    fn unsent(&self) -> usize {
        self.backlog.len()
    }
    fn unsent_limit(&self) -> usize {
        MAX_BACKLOG
    }
    fn store(&mut self, seq: u64, frame: &[u8]) {
        self.store.sent(self.now, seq, frame);
    }
    fn stored(&self, seq: u64) -> Option<&[u8]> {
        self.store.get(seq)
    }
    fn reset(&mut self, seqs: SeqNums) {
        self.store.reset(self.now, seqs);
        self.restarted |= self.heard;
        self.heard = false;
        self.last_in = seqs.next_in.saturating_sub(1);
        if self.queued_up {
            self.tell_restarted();
        }
    }
    /// An order, cancel or replace is never sent twice (a broker that does not check
    /// PossDup would execute it again): it is gap-filled, and the order it concerns is
    /// asked about instead — unless it is younger than ResendOrderMaxAge.
    fn may_resend(&mut self, _seq: u64, msg: &Msg<'_>) -> bool {
        // The order a request names, by the ClOrdID the venue knows it under: a new
        // order's own, a cancel's or replace's original (the request itself never
        // reached the venue).
        let names = match msg.msg_type() {
            msg_type::NEW_ORDER_SINGLE | msg_type::NEW_ORDER_LIST => tag::CL_ORD_ID,
            msg_type::ORDER_CANCEL_REQUEST | msg_type::ORDER_CANCEL_REPLACE_REQUEST => {
                tag::ORIG_CL_ORD_ID
            }
            _ => return true,
        };
        let max = self.resend_order_max_age_ns;
        if max > 0 {
            let sent = msg
                .get(tag::SENDING_TIME)
                .and_then(super::time::parse_utc_timestamp);
            if sent.is_some_and(|t| self.now.saturating_sub(t) <= max) {
                return true;
            }
        }
        // A list names each of its legs.
        for f in msg.fields().filter(|f| f.tag == names) {
            if let Some(cl) = cl_of(Some(f.value)) {
                if self.gap_filled.len() < MAX_GAP_FILLED && !self.gap_filled.contains(&cl) {
                    self.gap_filled.push(cl);
                }
            }
        }
        false
    }
    fn app(&mut self, msg: &Msg<'_>, valid: Result<(), SessionRejectReason>) {
        self.heard = true;
        self.last_in = msg.seq().unwrap_or(self.last_in);
        self.store.received(self.now, msg.raw());
        if valid.is_err() {
            self.map.stats.invalid += 1;
            // A quote that fails the dictionary is not believed (the session rejected
            // it); unlike an execution, nothing is lost: the next refresh tells again.
            if self.map.md.enabled
                && matches!(
                    msg.msg_type(),
                    msg_type::MARKET_DATA_SNAPSHOT_FULL_REFRESH
                        | msg_type::MARKET_DATA_INCREMENTAL_REFRESH
                )
            {
                self.map.stats.received += 1;
                self.map.md.stats.malformed += 1;
                return;
            }
        }
        // An execution is ExecType F; FIX 4.2 says 1 (partial) or 2 (fill) instead.
        let execution = match msg.get(tag::EXEC_TYPE) {
            Some(b"F") => true,
            Some(b"1" | b"2") => msg.get(tag::BEGIN_STRING) == Some(b"FIX.4.2"),
            _ => false,
        };
        if msg.msg_type() == msg_type::EXECUTION_REPORT && execution {
            if let Some(cl) = cl_of(msg.get(tag::CL_ORD_ID)) {
                self.fills.filled(cl);
            }
        }
        let rejects = self.map.to_reject.len();
        self.map.on_app(&mut self.events, self.now, msg);
        if valid.is_err() {
            // The session rejected it already (35=3): one reject per message, not a
            // BusinessMessageReject for its type on top.
            self.map.to_reject.truncate(rejects);
        }
        let seq = msg.seq().unwrap_or(0);
        self.map.snap.settle(&mut self.events, self.now, seq);
    }
    /// What changes the core's view is queued at once, between the application messages
    /// around it, so the core sees the same order whatever the socket's read boundaries;
    /// what needs the session again (answers, closing the socket) waits for `settle`.
    fn event(&mut self, ev: SessionEvent) {
        match &ev {
            SessionEvent::LoggedOn => self.queue_session(true),
            SessionEvent::LoggedOut | SessionEvent::Disconnect(_) => self.queue_session(false),
            SessionEvent::PeerRejected {
                ref_seq, msg_type, ..
            } if msg_type == "3" => {
                let what = self.map.by_seq(*ref_seq);
                let (now, seq) = (self.now, self.last_in);
                let q = &mut self.events;
                self.map.refused(q, now, seq, what, Reason::VenueRejected);
            }
            _ => {}
        }
        self.said.push(ev);
    }
}

impl Wire {
    /// Tells the core the session went up or down (once per change), and after a logon
    /// that a restarted numbering lost what the venue said before.
    fn queue_session(&mut self, up: bool) {
        if self.queued_up != up {
            self.queued_up = up;
            let (now, seq) = (self.now, self.last_in);
            let q = &mut self.events;
            self.map.push(q, now, seq, VenueEventKind::Session { up });
            if !up {
                self.map.snap.abandon();
            }
        }
        if up {
            self.tell_restarted();
        }
    }

    fn tell_restarted(&mut self) {
        if std::mem::take(&mut self.restarted) {
            let (now, seq) = (self.now, self.last_in);
            let q = &mut self.events;
            self.map.push(q, now, seq, VenueEventKind::Restarted);
        }
    }

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
    closing: bool,
    /// When the session last went down and why (for operators: `GET /v1/venues`).
    last_error: Option<(u64, ShortStr<64>)>,
    rbuf: Box<[u8]>,
    /// How protective orders go out (reduce-only ExecInst, OCO lists).
    protect: Protective,
    /// Keeps the newest quote per instrument of each poll (R-VEN-6).
    conflation: Conflation,
    /// Sockets opened so far: tells the core's idle wait a reconnect's socket from the
    /// one before, whose descriptor it may reuse.
    sockets: u64,
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
        if let Some(var) = &spec.password_env {
            let pw = Secret::from_env(var);
            cfg.password =
                Some(pw.map_err(|e| {
                    FixVenueError(format!("venues[{}].fix.PasswordEnv: {e}", id.0))
                })?);
        }
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
        let protect = Protective::check(&spec, cfg.dictionary.as_deref())
            .map_err(|e| FixVenueError(format!("venue {name}: {e}")))?;
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
        // A new trading day's reset at start: what the venue said the day before and we
        // never applied is gone with the old numbering.
        let window_restart = store.reset_at_open().is_some_and(|old| old.next_in > 1);
        let mut wire = Wire {
            stream: None,
            backlog: Vec::with_capacity(64 << 10),
            broken: false,
            store,
            now,
            events: VecDeque::with_capacity(1024),
            said: Vec::with_capacity(16),
            map: Mapping::new(reg.clone(), id, reg.core.max_orders),
            gap_filled: Vec::with_capacity(MAX_GAP_FILLED),
            resend_order_max_age_ns: spec.resend_order_max_age_ns,
            heard: seqs.next_in > 1,
            restarted: window_restart,
            queued_up: false,
            last_in: seqs.next_in.saturating_sub(1),
            fills: WireToFill::new(),
        };
        wire.map.md.enabled = spec.market_data;
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
            closing: false,
            last_error: None,
            rbuf: vec![0u8; 64 << 10].into_boxed_slice(),
            protect,
            conflation: Conflation::new(reg.instruments.len()),
            sockets: 0,
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
        let mut s = self.wire.map.stats;
        s.market_data = self.wire.map.md.stats;
        s.store_errors = self.wire.store.errors;
        s
    }

    /// NewOrderSingle written → first fill read, timed on the core thread (ns).
    pub fn wire_to_fill(&self) -> &WireToFill {
        &self.wire.fills
    }

    /// The session's sequence numbers.
    pub fn seqs(&self) -> SeqNums {
        self.session.seqs()
    }

    /// When the connection was last lost or refused, and why (the first 64 bytes).
    pub fn last_error(&self) -> Option<(u64, ShortStr<64>)> {
        self.last_error
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
                self.sockets += 1;
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
            self.last_error = Some((now, ShortStr::clipped(why)));
            eprintln!(
                "execd: fix venue {}: disconnected: {why}; reconnecting in {} ms",
                self.name(),
                self.backoff / 1_000_000
            );
        }
        // Back off whether the connection or the logon failed; a logon resets it.
        self.next_connect = now + self.backoff;
        self.backoff = (self.backoff * 2).min(self.spec.reconnect_max_ns.max(FIRST_BACKOFF_NS));
        self.wire.now = now;
        self.wire.queue_session(false);
    }

    /// Handles what the session said during the last call.
    fn settle(&mut self, now: u64) {
        let mut i = 0;
        let mut logged_on = false;
        while i < self.wire.said.len() {
            let ev = self.wire.said[i].clone();
            i += 1;
            match ev {
                SessionEvent::LoggedOn => {
                    self.wire.map.stats.logons += 1;
                    self.backoff = FIRST_BACKOFF_NS;
                    logged_on = true;
                }
                SessionEvent::Disconnect(why) => {
                    self.wire.said.clear();
                    return self.disconnect(now, &why);
                }
                _ => {}
            }
        }
        self.wire.said.clear();
        if logged_on && self.wire.map.md.enabled {
            self.subscribe(now);
        }
        while let Some((seq, t, m)) = self.wire.map.md.to_reject.pop() {
            let (reason, tag) = (m.reason, m.tag);
            self.session
                .reject_app(now, seq, &[t], reason, tag, &mut self.wire);
        }
        // Asked now, after the resend that gap-filled them (or the report that could not
        // be booked): the answers follow it.
        while let Some(cl) = self
            .wire
            .gap_filled
            .pop()
            .or_else(|| self.wire.map.to_query.pop())
        {
            if let Some(s) = self.wire.map.sent(cl.order).copied() {
                self.send_status_request(now, cl, &s);
            }
        }
        while let Some((seq, t, n)) = self.wire.map.to_reject.pop() {
            let _ = self.session.send_business_reject(
                now,
                seq,
                &t[..n as usize],
                super::reject::UNSUPPORTED_MESSAGE_TYPE,
                "Unsupported Message Type",
                &mut self.wire,
            );
        }
        if self.wire.broken {
            self.disconnect(now, "the connection broke while writing");
        }
    }

    fn note_sent(&mut self, seq: u64, what: Outstanding) {
        self.wire.map.stats.sent += 1;
        self.wire.map.by_seq[(seq % SENT_MAP as u64) as usize] = (seq, what);
    }

    /// After each logon: one MarketDataRequest per instrument configured on this venue
    /// (R-VEN-6), remembered by sequence number so a reject of it reaches the instrument.
    fn subscribe(&mut self, now: u64) {
        let round = self.wire.map.md.start_round();
        let reg = self.wire.map.reg.clone();
        let me = self.id;
        for inst in reg.instruments.iter().filter(|i| i.venue == me) {
            let mut id = [0u8; 32];
            let n = MarketData::req_id(inst.id, round, &mut id);
            let sent = self.session.send_app(
                now,
                msg_type::MARKET_DATA_REQUEST,
                |e| MarketData::request_body(e, &id[..n], inst.symbol.as_bytes()),
                &mut self.wire,
            );
            if let Ok(seq) = sent {
                self.wire.map.md.stats.requests += 1;
                self.note_sent(seq, Outstanding::MarketData(inst.id));
            }
        }
    }

    /// A reconciliation's questions (the core asks after each logon, at start, after
    /// timeouts and on demand): every open order's state, and positions, as the
    /// settings allow. What went out is tracked in `map.snap` until answered.
    fn ask_snapshot(&mut self, now: u64) {
        let mut orders = false;
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
                msg_type::ORDER_MASS_STATUS_REQUEST,
                |e| {
                    e.bytes(tag::MASS_STATUS_REQ_ID, &id[..n]);
                    e.char(tag::MASS_STATUS_REQ_TYPE, b'7');
                },
                &mut self.wire,
            );
            if let Ok(seq) = sent {
                self.wire.map.by_seq[(seq % SENT_MAP as u64) as usize] =
                    (seq, Outstanding::MassStatus);
                orders = true;
            }
        }
        let mut asked = vec![false; reg.accounts.len()];
        if self.spec.positions_on_logon {
            let date = super::time::utc_date(now);
            let sender = self.spec.session.sender_comp_id.clone();
            for a in &reg.accounts {
                let sent = self.session.send_app(
                    now,
                    msg_type::REQUEST_FOR_POSITIONS,
                    |e| {
                        e.bytes(tag::ACCOUNT, a.name.as_bytes());
                        e.timestamp(tag::TRANSACT_TIME, now, micros);
                        // Parties is required in FIX 4.4: we are the client (role 3).
                        // Its fields keep the group's order: 448, 447, 452.
                        e.uint(tag::NO_PARTY_IDS, 1);
                        e.bytes(tag::PARTY_ID, sender.as_bytes());
                        e.char(tag::PARTY_ID_SOURCE, b'D');
                        e.uint(tag::PARTY_ROLE, 3);
                        e.char(tag::ACCOUNT_TYPE, b'1');
                        e.bytes(tag::POS_REQ_ID, &id[..n]);
                        e.bytes(tag::CLEARING_BUSINESS_DATE, &date);
                        e.char(tag::POS_REQ_TYPE, b'0');
                    },
                    &mut self.wire,
                );
                if let Ok(seq) = sent {
                    self.wire.map.by_seq[(seq % SENT_MAP as u64) as usize] =
                        (seq, Outstanding::Positions);
                    asked[a.id.0 as usize] = true;
                }
            }
        }
        self.wire
            .map
            .snap
            .start(now, &id[..n], orders, asked.into_iter());
        // Nothing could be asked: said at once, so the core (and a replay of its
        // journal) sees an answer either way. When a scheduled reconciliation's timer
        // asked, the engine takes this answer as due just after the timer
        // (`Engine::venue_due`).
        let seq = self.wire.last_in;
        self.wire.map.snap.settle(&mut self.wire.events, now, seq);
    }

    /// An OrderStatusRequest for the order `cl` names. Sent whenever the session is
    /// logged on: a question changes nothing the gate sees, and its answer comes after
    /// whatever the core has yet to hear.
    fn send_status_request(&mut self, now: u64, cl: ClOrdId, s: &Sent) {
        let t = self.terms(s);
        let side = side_char(s.side);
        let sent = self.session.send_app(
            now,
            msg_type::ORDER_STATUS_REQUEST,
            |e| {
                e.bytes(tag::ACCOUNT, t.account.as_bytes());
                put_cl(e, tag::CL_ORD_ID, cl);
                e.char(tag::SIDE, side);
                e.bytes(tag::SYMBOL, t.symbol.as_bytes());
            },
            &mut self.wire,
        );
        if let Ok(seq) = sent {
            self.wire.map.stats.status_requests += 1;
            self.note_sent(seq, Outstanding::Status(cl));
        }
    }

    /// Sends an order message (`what` it is) if the core believes the session is up.
    fn send(
        &mut self,
        now: u64,
        what: Outstanding,
        body: impl FnOnce(&mut Encoder),
    ) -> Result<(), VenueError> {
        if !self.reported_up {
            return Err(VenueError::NotConnected);
        }
        self.wire.now = now;
        let msg_type: &[u8] = match what {
            Outstanding::New(_) => msg_type::NEW_ORDER_SINGLE,
            Outstanding::Cancel(_) => msg_type::ORDER_CANCEL_REQUEST,
            Outstanding::Replace(_) => msg_type::ORDER_CANCEL_REPLACE_REQUEST,
            Outstanding::Status(_) => msg_type::ORDER_STATUS_REQUEST,
            Outstanding::MassStatus => msg_type::ORDER_MASS_STATUS_REQUEST,
            Outstanding::Positions => msg_type::REQUEST_FOR_POSITIONS,
            Outstanding::List(..) => msg_type::NEW_ORDER_LIST,
            Outstanding::MarketData(_) => msg_type::MARKET_DATA_REQUEST,
            Outstanding::Nothing => return Ok(()),
        };
        match self.session.send_app(now, msg_type, body, &mut self.wire) {
            Ok(seq) => {
                if let Outstanding::New(cl) = what {
                    self.wire.fills.written(cl);
                }
                self.note_sent(seq, what)
            }
            Err(SendError::NotLoggedOn) => {
                self.wire.map.stats.unsent += 1;
                // Down, and the core not yet told. Nothing of it was written nor
                // numbered, so a new order is safe to resend under the same ClOrdID:
                // the core hears so (journaled) and retries it (R-RES-1). A cancel or
                // replace stays as if sent and lost (module docs).
                if let Outstanding::New(cl) = what {
                    let (at, seq) = (now, self.wire.last_in);
                    let q = &mut self.wire.events;
                    self.wire
                        .map
                        .push(q, at, seq, VenueEventKind::NotSent { cl });
                }
            }
        }
        self.settle(now);
        Ok(())
    }
}

pub(super) fn sent_of(o: &VenueOrder) -> Sent {
    Sent {
        order: o.cl.order.0,
        instrument: o.instrument,
        account: o.account,
        side: o.side,
        order_type: o.order_type,
        tif: o.tif,
        qty: o.qty.0,
        limit: o.limit.0,
        stop: o.stop.0,
        asked: None,
        reduce_only: o.reduce_only,
    }
}

/// Side (54).
pub(super) fn side_char(s: Side) -> u8 {
    match s {
        Side::Buy => b'1',
        Side::Sell => b'2',
    }
}

/// OrdType (40).
pub(super) fn ord_type_char(t: OrderType) -> u8 {
    match t {
        OrderType::Market => b'1',
        OrderType::Limit => b'2',
        OrderType::Stop => b'3',
        OrderType::StopLimit => b'4',
    }
}

/// TimeInForce (59).
pub(super) fn tif_char(t: Tif) -> u8 {
    match t {
        Tif::Day => b'0',
        Tif::Gtc => b'1',
        Tif::Ioc => b'3',
        Tif::Fok => b'4',
    }
}

/// What an outbound order message needs from the registry, copied out so the encoder
/// closure borrows nothing of the venue (no reference count touched per order).
#[derive(Clone, Copy)]
pub(super) struct Terms {
    pub(super) account: Name,
    pub(super) symbol: Name,
    pub(super) price_scale: u8,
    pub(super) qty_scale: u8,
    pub(super) fix42: bool,
    pub(super) micros: bool,
    /// ExecInst (18) to send: the broker's reduce-only value on a protective order.
    pub(super) exec_inst: Option<u8>,
}

impl FixVenue {
    fn terms(&self, s: &Sent) -> Terms {
        let reg = &self.wire.map.reg;
        let inst = &reg.instruments[s.instrument.0 as usize];
        Terms {
            account: reg.accounts[s.account.0 as usize].name,
            symbol: inst.symbol,
            price_scale: inst.price_scale,
            qty_scale: inst.qty_scale,
            fix42: self.spec.session.begin_string == "FIX.4.2",
            micros: self.spec.session.micros,
            exec_inst: self.protect.exec_inst.filter(|_| s.reduce_only),
        }
    }
}

/// The body of a NewOrderSingle (`orig` None) or an OrderCancelReplaceRequest, in tag
/// order.
pub(super) fn order_fields(
    e: &mut Encoder,
    t: &Terms,
    s: &Sent,
    cl: ClOrdId,
    orig: Option<ClOrdId>,
    now: u64,
) {
    e.bytes(tag::ACCOUNT, t.account.as_bytes());
    put_cl(e, tag::CL_ORD_ID, cl);
    if let Some(c) = t.exec_inst {
        e.char(tag::EXEC_INST, c);
    }
    if t.fix42 {
        e.char(tag::HANDL_INST, b'1');
    }
    e.fixed(tag::ORDER_QTY, s.qty, t.qty_scale);
    e.char(tag::ORD_TYPE, ord_type_char(s.order_type));
    if let Some(o) = orig {
        put_cl(e, tag::ORIG_CL_ORD_ID, o);
    }
    let ot = s.order_type;
    if ot.has_limit() {
        e.fixed(tag::PRICE, s.limit, t.price_scale);
    }
    e.char(tag::SIDE, side_char(s.side));
    e.bytes(tag::SYMBOL, t.symbol.as_bytes());
    e.char(tag::TIME_IN_FORCE, tif_char(s.tif));
    e.timestamp(tag::TRANSACT_TIME, now, t.micros);
    if ot.has_stop() {
        e.fixed(tag::STOP_PX, s.stop, t.price_scale);
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
        self.send(now, Outstanding::New(cl), |e| {
            order_fields(e, &t, &s, cl, None, now)
        })
    }

    /// With OcoOrderList: one NewOrderList, so the broker links the legs (R-OMS-5).
    fn submit_oco(&mut self, now: u64, legs: [&VenueOrder; 2]) -> [Result<(), VenueError>; 2] {
        let Some(order) = self.protect.list else {
            return [self.submit(now, legs[0]), self.submit(now, legs[1])];
        };
        let (a, b) = (sent_of(legs[0]), sent_of(legs[1]));
        if self.reported_up {
            for (o, s) in [(legs[0], a), (legs[1], b)] {
                let i = self.wire.map.slot(o.cl.order);
                self.wire.map.orders[i] = s;
            }
        }
        let (ta, tb) = (self.terms(&a), self.terms(&b));
        let (ca, cb) = (legs[0].cl, legs[1].cl);
        self.wire.map.remember_list(ca, cb);
        let r = self.send(now, Outstanding::List(ca, cb), |e| {
            lists::list_body(e, &order, [(&a, ca, &ta), (&b, cb, &tb)], now)
        });
        [r, r]
    }

    fn cancel(&mut self, now: u64, cl: ClOrdId, orig: ClOrdId) -> Result<(), VenueError> {
        let Some(s) = self.wire.map.sent(cl.order).copied() else {
            // Sent by an earlier process whose details this one never saw.
            return Err(VenueError::UnknownOrder);
        };
        let t = self.terms(&s);
        self.send(now, Outstanding::Cancel(cl), |e| {
            e.bytes(tag::ACCOUNT, t.account.as_bytes());
            put_cl(e, tag::CL_ORD_ID, cl);
            e.fixed(tag::ORDER_QTY, s.qty, t.qty_scale);
            put_cl(e, tag::ORIG_CL_ORD_ID, orig);
            e.char(tag::SIDE, side_char(s.side));
            e.bytes(tag::SYMBOL, t.symbol.as_bytes());
            e.timestamp(tag::TRANSACT_TIME, now, t.micros);
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
        let Some(s) = self.wire.map.sent(cl.order).copied() else {
            return Err(VenueError::UnknownOrder);
        };
        // Remembered as asked, so a Replaced report that does not restate the terms
        // means these; the message carries them.
        let slot = self.wire.map.slot(cl.order);
        self.wire.map.orders[slot] = s.with_terms(qty.0, limit.0, true);
        let out = s.with_terms(qty.0, limit.0, false);
        let t = self.terms(&out);
        self.send(now, Outstanding::Replace(cl), |e| {
            order_fields(e, &t, &out, cl, Some(orig), now)
        })
    }

    fn snapshot(&mut self, now: u64) -> bool {
        if !self.reported_up {
            return false;
        }
        self.wire.now = now;
        self.ask_snapshot(now);
        self.settle(now);
        true
    }

    fn query(&mut self, now: u64, o: &VenueOrder) {
        if !self.reported_up {
            return;
        }
        self.send_status_request(now, o.cl, &sent_of(o));
        self.settle(now);
    }

    fn poll(&mut self, now: u64, out: &mut Vec<VenueEvent>) {
        let from = out.len();
        while self.wire.events.front().is_some_and(|e| e.at_ns <= now) {
            let Some(ev) = self.wire.events.pop_front() else {
                break;
            };
            if let VenueEventKind::Session { up } = ev.kind {
                self.reported_up = up;
            }
            out.push(ev);
        }
        self.wire.map.stats.quotes_conflated += self.conflation.apply(out, from);
    }

    fn quotes_conflated(&self) -> u64 {
        self.wire.map.stats.quotes_conflated
    }

    fn next_event_at(&self) -> Option<u64> {
        self.wire.events.front().map(|e| e.at_ns)
    }

    fn wait_socket(&self) -> Option<(std::os::fd::RawFd, u64)> {
        use std::os::fd::AsRawFd;
        let s = self.wire.stream.as_ref()?;
        Some((s.socket().as_raw_fd(), self.sockets))
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

    fn read_stamp(&self) -> u64 {
        self.wire.fills.read_stamp()
    }

    fn pump(&mut self, now: u64) -> bool {
        self.wire.now = now;
        let before = self.wire.events.len();
        // A broker that does not finish answering a reconciliation: reported with what
        // came, at the deadline.
        if self.wire.map.snap.active() {
            let seq = self.wire.last_in;
            self.wire.map.snap.settle(&mut self.wire.events, now, seq);
        }
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
                    self.wire.fills.bytes_read();
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
            // A resend the broker asked for goes on as the socket takes it (the
            // session writes it in pieces that fit the backlog).
            while self.session.output_waiting()
                && self.wire.backlog.is_empty()
                && !self.wire.broken
                && self.wire.stream.is_some()
            {
                self.session.on_writable(now, &mut self.wire);
                self.settle(now);
                self.wire.flush();
                work = true;
            }
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

#[cfg(test)]
mod tests;
