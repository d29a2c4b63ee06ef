//! The event loop: one thread, mio, nonblocking sockets; one [`Session`] per connection
//! in the acceptor role, bound to a CompID pair when the connection's first frame (the
//! Logon) says who the peer is.

/// The books' file in the `--store` directory.
const BOOK_FILE: &str = "book.json";

use crate::config::{Config, BEGIN_STRINGS};
use crate::engine::{ExecKind, Id, Out, OutKind, Sim, Ver, QUOTE_SIZE};
use execd::venue::fix::codec::{self, Decoder, Encoder, Field, FrameError, Msg};
use execd::venue::fix::dictionary::{Dictionary, ValidateOptions};
use execd::venue::fix::reject::SessionRejectReason;
use execd::venue::fix::session::{Role, SeqNums, Session, SessionConfig, SessionEvent, SessionIo};
use execd::venue::fix::store::{MessageStore, SessionStore};
use execd::venue::fix::time::utc_date;
use execd::venue::fix::transport::{AcceptPause, AfterAccept, Link};
use execd::venue::fix::{msg_type, tag};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use rustc_hash::FxHashMap;
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::Duration;

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
const FIRST_CONN: usize = 2;
/// Sent frames kept in memory per CompID pair for resends (at least this many).
const KEEP_SENT: usize = 100_000;
/// Bytes a connection may send before its Logon is complete: a Logon is a few hundred
/// bytes, and garbage before it is skipped, so 64 KiB (plus the read that crossed it) is
/// plenty for any real client.
const MAX_PRE_LOGON: usize = 64 << 10;
/// Connections without a valid Logon yet; beyond it a new one is closed at once. Each
/// holds at most [`MAX_PRE_LOGON`] plus a read for at most `--logon-timeout-secs`, so
/// strangers cost at most 32 MiB, and a file descriptor each, while they last.
const MAX_UNBOUND: usize = 256;
/// Answers kept for a session that is not logged on (fills of resting orders after a
/// `drop`), in count and in bytes: a few thousand answers is more than any test leaves
/// waiting, and a peer that places orders and goes away cannot grow it further.
const MAX_PENDING: usize = 1 << 16;
const MAX_PENDING_BYTES: usize = 16 << 20;

/// Wall clock in Unix nanoseconds.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// One JSON object per line on stdout, flushed.
pub fn emit(v: &Value) {
    let out = std::io::stdout();
    let mut l = out.lock();
    let r = writeln!(l, "{v}").and_then(|()| l.flush());
    // Whoever read these lines is gone (`| head -1`, `| true`): nobody hears the
    // simulator any more, so it ends, quietly and successfully, instead of serving on.
    if r.is_err_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) {
        std::process::exit(0);
    }
}

/// Bounded output of one connection.
struct WBuf {
    buf: Vec<u8>,
    pos: usize,
    max: usize,
    overflow: bool,
}

impl WBuf {
    fn pending(&self) -> usize {
        self.buf.len() - self.pos
    }
    fn push(&mut self, b: &[u8]) {
        if self.pending() + b.len() > self.max {
            self.overflow = true;
            return;
        }
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        self.buf.extend_from_slice(b);
    }
    /// Writes what the socket takes (and TLS records held back); Err on a broken
    /// connection.
    fn flush(&mut self, s: &mut Link) -> std::io::Result<()> {
        match s.flush() {
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            r => r?,
        }
        while self.pos < self.buf.len() {
            match s.write(&self.buf[self.pos..]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => self.pos += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > (1 << 20) {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        Ok(())
    }
}

struct Conn {
    stream: Link,
    addr: SocketAddr,
    wbuf: WBuf,
    /// Bytes received before the session is bound (the Logon).
    pre: Vec<u8>,
    /// A connection still without a session by then is closed (unix ns).
    logon_deadline: u64,
    sess: Option<u32>,
    session: Option<Session>,
    /// Set when it must be closed at the end of this loop turn, with the reason.
    close: Option<String>,
}

/// What the simulator remembers of a counterparty: made when its Logon names it, kept
/// once it has logged on (a reconnection continues the numbering), forgotten at once if
/// its first Logon is refused, and evicted least recently used when `--max-sessions`
/// are kept and another one logs on.
struct SessRec {
    peer: String,
    begin: String,
    ver: Ver,
    /// The dictionary of its BeginString (with `--dict-dir`).
    dict: Option<Arc<Dictionary>>,
    store: SessionStore,
    conn: Option<usize>,
    logged_on: bool,
    /// It has logged on at least once: worth remembering.
    known: bool,
    /// When a connection last came or went (unix ns): the least recent goes first.
    last_used: u64,
    /// The `--store` directory its store made (none existed): removed with a record
    /// that never logged on, so strangers leave nothing on disk.
    made_dir: Option<PathBuf>,
    pending: VecDeque<Out>,
    pending_bytes: usize,
}

impl SessRec {
    /// The oldest answer kept for later.
    fn pop_pending(&mut self) -> Option<Out> {
        let out = self.pending.pop_front()?;
        self.pending_bytes = self.pending_bytes.saturating_sub(out_bytes(&out));
        Some(out)
    }
}

/// What an answer kept for later costs: itself and what it points to.
fn out_bytes(out: &Out) -> usize {
    std::mem::size_of::<Out>()
        + match &out.kind {
            OutKind::Echo { header, body, .. } => header.len() + body.len(),
            _ => 0,
        }
}

#[derive(Default)]
struct Stats {
    garbled: u64,
    session_rejects_sent: u64,
    resend_requests_served: u64,
    resend_requests_sent: u64,
    peer_rejects: u64,
    seq_resets: u64,
    connections: u64,
    refused: u64,
    write_overflows: u64,
    pending_dropped: u64,
    sessions_evicted: u64,
}

/// The session's view of its owner.
struct Io<'a> {
    wbuf: &'a mut WBuf,
    store: &'a mut SessionStore,
    sim: Option<&'a mut Sim>,
    dict: Option<&'a Dictionary>,
    sess: u32,
    now: u64,
    events: &'a mut Vec<SessionEvent>,
    verbose: bool,
}

/// A frame as a trace line: SOH as `|`, and a Password (554) as `***`.
fn show(b: &[u8]) -> String {
    let text = String::from_utf8_lossy(b).replace('\x01', "|");
    match text.find("|554=") {
        Some(at) => {
            let end = text[at + 5..].find('|').map_or(text.len(), |n| at + 5 + n);
            format!("{}|554=***{}", &text[..at], &text[end..])
        }
        None => text,
    }
}

impl SessionIo for Io<'_> {
    fn send(&mut self, frame: &[u8]) {
        if self.verbose {
            eprintln!("venue-sim: out {}", show(frame));
        }
        self.wbuf.push(frame);
    }
    fn unsent(&self) -> usize {
        self.wbuf.pending()
    }
    fn unsent_limit(&self) -> usize {
        self.wbuf.max
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
    fn app(&mut self, msg: &Msg<'_>, valid: Result<(), SessionRejectReason>) {
        if self.verbose {
            eprintln!("venue-sim: in  {}", show(msg.raw()));
        }
        // A message the session rejected (35=3) is not acted upon.
        if valid.is_err() {
            return;
        }
        if let Some(sim) = self.sim.as_deref_mut() {
            sim.on_app(self.now, self.sess, msg, self.dict);
        }
    }
    fn event(&mut self, ev: SessionEvent) {
        self.events.push(ev);
    }
}

/// Control commands from stdin (or the end of it).
pub enum Control {
    Line(String),
    Eof,
}

pub struct Server {
    cfg: Config,
    poll: Poll,
    listener: Option<TcpListener>,
    conns: Vec<Option<Conn>>,
    /// By id, in the order they were made (ids are never reused once a session logged
    /// on: the engine's orders and answers name it).
    sessions: BTreeMap<u32, SessRec>,
    next_sess: u32,
    by_peer: FxHashMap<String, u32>,
    /// Accepting paused for want of file descriptors, and how often it was.
    accept: AcceptPause,
    sim: Sim,
    events: Vec<SessionEvent>,
    rbuf: Vec<u8>,
    decoder: Decoder,
    stats: Stats,
    control: Option<Receiver<Control>>,
    stop: Arc<AtomicBool>,
    stopping: Option<u64>,
    port: u16,
    /// Per BeginString, with `--dict-dir`.
    dicts: Vec<(String, Arc<Dictionary>)>,
    /// Kept here too: if the stdin thread held the only one, its exit (at EOF) would
    /// close the eventfd and lose the wake-up that carries the EOF.
    _waker: Arc<Waker>,
}

/// The dictionaries of every BeginString the simulator speaks: from `dir`, the complete
/// built-in ones with `dir/overlays/venue-sim.xml` merged in when it exists, or
/// `FIX42.xml`, `FIX44.xml`, `FIXT11.xml`, `FIX50SP2.xml` in `dir` instead of the
/// built-in base where a full file is there. User-defined tags are checked like any
/// other (QuickFIX's ValidateUserDefinedFields=Y): the simulator is the strict side.
fn load_dicts(dir: &std::path::Path) -> Result<Vec<(String, Arc<Dictionary>)>, String> {
    let overlay = dir.join("overlays").join("venue-sim.xml");
    let ov: Vec<&std::path::Path> = if overlay.is_file() {
        vec![overlay.as_path()]
    } else {
        Vec::new()
    };
    let base = |file: &str, builtin: &str| {
        let p = dir.join(file);
        if p.is_file() {
            p.display().to_string()
        } else {
            builtin.to_string()
        }
    };
    let strict = ValidateOptions {
        allow_unknown_user_tags: false,
    };
    let f42 = Dictionary::open(&base("FIX42.xml", "FIX.4.2"), &ov).map_err(|e| e.to_string())?;
    let f44 = Dictionary::open(&base("FIX44.xml", "FIX.4.4"), &ov).map_err(|e| e.to_string())?;
    let fixt = Dictionary::open_fixt(
        &base("FIXT11.xml", "FIXT.1.1"),
        &base("FIX50SP2.xml", "FIX.5.0SP2"),
        &ov,
    )
    .map_err(|e| e.to_string())?;
    Ok(vec![
        ("FIX.4.2".into(), Arc::new(f42.with_options(strict))),
        ("FIX.4.4".into(), Arc::new(f44.with_options(strict))),
        ("FIXT.1.1".into(), Arc::new(fixt.with_options(strict))),
    ])
}

impl Server {
    /// Binds the listener; `stop` is set by SIGTERM/SIGINT.
    pub fn bind(cfg: Config, stop: Arc<AtomicBool>) -> std::io::Result<(Server, Arc<Waker>)> {
        let dicts = match &cfg.dict_dir {
            None => Vec::new(),
            Some(d) => load_dicts(d).map_err(std::io::Error::other)?,
        };
        let poll = Poll::new()?;
        let addr: SocketAddr = ([127, 0, 0, 1], cfg.port).into();
        let mut listener = TcpListener::bind(addr)?;
        let port = listener.local_addr()?.port();
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let mut sim = Sim::new(cfg.sim.clone());
        // The books a clean stop left (R-VEN-5: a broker keeps them across its restarts).
        if let Some(book) = cfg.store.as_ref().map(|d| d.join(BOOK_FILE)) {
            match std::fs::read_to_string(&book) {
                Ok(text) => {
                    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                        std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            format!("{}: {e}", book.display()),
                        )
                    })?;
                    sim.load_book(&v)
                        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok((
            Server {
                cfg,
                poll,
                listener: Some(listener),
                conns: Vec::new(),
                sessions: BTreeMap::new(),
                next_sess: 0,
                by_peer: FxHashMap::default(),
                accept: AcceptPause::default(),
                sim,
                events: Vec::with_capacity(16),
                rbuf: vec![0; 64 << 10],
                decoder: Decoder::new(),
                stats: Stats::default(),
                control: None,
                stop,
                stopping: None,
                port,
                dicts,
                _waker: Arc::clone(&waker),
            },
            waker,
        ))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn set_control(&mut self, rx: Receiver<Control>) {
        self.control = Some(rx);
    }

    /// Runs until `quit`, stdin EOF or a signal; returns after the final status line.
    pub fn run(&mut self) -> std::io::Result<()> {
        let mut events = Events::with_capacity(256);
        loop {
            let now = now_ns();
            if self.stop.load(Ordering::Relaxed) && self.stopping.is_none() {
                self.begin_stop(now);
            }
            if let Some(deadline) = self.stopping {
                let live = self.conns.iter().flatten().count();
                if live == 0 || now >= deadline {
                    self.finish(now);
                    return Ok(());
                }
            }
            let timeout = if self.cfg.spin {
                Duration::ZERO
            } else {
                let cap = 100_000_000u64;
                let next = self.next_deadline().unwrap_or(u64::MAX);
                Duration::from_nanos(next.saturating_sub(now).min(cap))
            };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            for ev in events.iter() {
                match ev.token() {
                    LISTENER => self.accept(now_ns()),
                    WAKER => self.control_commands(),
                    Token(t) => {
                        let ci = t - FIRST_CONN;
                        if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                            self.read(ci);
                        }
                        if ev.is_writable() {
                            if let Some(c) = self.conns.get_mut(ci).and_then(|c| c.as_mut()) {
                                if let Err(e) = c.wbuf.flush(&mut c.stream) {
                                    c.close.get_or_insert_with(|| format!("write: {e}"));
                                }
                            }
                        }
                    }
                }
            }
            self.turn(now_ns());
        }
    }

    /// Timers, due answers, writes and closes: the end of every loop turn.
    fn turn(&mut self, now: u64) {
        if self.accept.due(now) {
            self.accept(now);
        }
        self.sim.on_time(now);
        while let Some(out) = self.sim.pop_due(now) {
            self.deliver(now, out);
        }
        for ci in 0..self.conns.len() {
            let Some(c) = self.conns[ci].as_mut() else {
                continue;
            };
            let due = match c.session.as_ref() {
                Some(s) => s.next_deadline().is_some_and(|d| d <= now),
                None => {
                    if c.close.is_none() && now >= c.logon_deadline {
                        self.stats.refused += 1;
                        c.close = Some("no valid Logon within the logon timeout".into());
                    }
                    false
                }
            };
            if due {
                self.with_session(ci, now, false, |s, now, io| s.on_timer(now, io));
            }
        }
        for ci in 0..self.conns.len() {
            let Some(c) = self.conns[ci].as_mut() else {
                continue;
            };
            if c.wbuf.pending() > 0 || c.stream.wants_write() {
                if let Err(e) = c.wbuf.flush(&mut c.stream) {
                    c.close.get_or_insert_with(|| format!("write: {e}"));
                }
            }
            self.pump_output(ci, now);
            let Some(c) = self.conns[ci].as_mut() else {
                continue;
            };
            if c.wbuf.overflow {
                self.stats.write_overflows += 1;
                c.close
                    .get_or_insert_with(|| "client does not read: write buffer full".into());
            }
            if c.close.is_some() {
                self.close(ci, now);
            }
        }
    }

    /// A resend being served (and what waits behind it) goes on while the socket takes
    /// it; once the socket is full, its writable event brings the loop back here.
    fn pump_output(&mut self, ci: usize, now: u64) {
        loop {
            let Some(c) = self.conns.get_mut(ci).and_then(|c| c.as_mut()) else {
                return;
            };
            let waiting = c.session.as_ref().is_some_and(|s| s.output_waiting());
            if !waiting || c.close.is_some() || c.wbuf.pending() > 0 {
                return;
            }
            self.with_session(ci, now, false, |s, now, io| s.on_writable(now, io));
            let Some(c) = self.conns.get_mut(ci).and_then(|c| c.as_mut()) else {
                return;
            };
            if let Err(e) = c.wbuf.flush(&mut c.stream) {
                c.close.get_or_insert_with(|| format!("write: {e}"));
            }
        }
    }

    fn next_deadline(&self) -> Option<u64> {
        let mut d = self.sim.next_deadline();
        let mut earliest = |x: u64| d = Some(d.map_or(x, |d: u64| d.min(x)));
        if let Some(t) = self.accept.paused_until {
            earliest(t);
        }
        for c in self.conns.iter().flatten() {
            match c.session.as_ref() {
                Some(s) => {
                    if let Some(x) = s.next_deadline() {
                        earliest(x);
                    }
                }
                None => earliest(c.logon_deadline),
            }
        }
        d
    }

    /// Accepts every connection waiting, until the listener would block. Out of file
    /// descriptors (or socket memory), it pauses (`AcceptPause`) and tries
    /// again from `turn`: the connections wait in the backlog meanwhile.
    fn accept(&mut self, now: u64) {
        if self.accept.paused(now) {
            return;
        }
        loop {
            let Some(l) = self.listener.as_ref() else {
                return;
            };
            match l.accept() {
                Ok((stream, addr)) => {
                    self.stats.connections += 1;
                    let unbound = self
                        .conns
                        .iter()
                        .flatten()
                        .filter(|c| c.sess.is_none())
                        .count();
                    if unbound >= MAX_UNBOUND {
                        self.stats.refused += 1;
                        if self.cfg.verbose {
                            eprintln!(
                                "venue-sim: {addr}: refused: {unbound} connections without a Logon"
                            );
                        }
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    let mut stream = match Link::accepted(stream, self.cfg.tls.as_ref()) {
                        Ok(l) => l,
                        Err(e) => {
                            eprintln!("venue-sim: {addr}: {e}");
                            continue;
                        }
                    };
                    let ci = match self.conns.iter().position(|c| c.is_none()) {
                        Some(i) => i,
                        None => {
                            self.conns.push(None);
                            self.conns.len() - 1
                        }
                    };
                    if let Err(e) = self.poll.registry().register(
                        &mut stream,
                        Token(ci + FIRST_CONN),
                        Interest::READABLE | Interest::WRITABLE,
                    ) {
                        eprintln!("venue-sim: register {addr}: {e}");
                        continue;
                    }
                    if self.cfg.verbose {
                        eprintln!("venue-sim: connection from {addr}");
                    }
                    let wait = u64::from(self.cfg.logon_timeout_secs) * 1_000_000_000;
                    self.conns[ci] = Some(Conn {
                        stream,
                        addr,
                        wbuf: WBuf {
                            buf: Vec::with_capacity(64 << 10),
                            pos: 0,
                            max: self.cfg.max_write_buffer,
                            overflow: false,
                        },
                        pre: Vec::new(),
                        logon_deadline: now.saturating_add(wait),
                        sess: None,
                        session: None,
                        close: None,
                    });
                }
                // EMFILE, ENFILE, ENOBUFS, ENOMEM …: returning without draining would
                // leave the backlog unaccepted for good (no new edge comes while it is
                // full), so the pause's timer tries again.
                Err(e) => {
                    if self.accept.on_error(&e, now, "venue-sim") == AfterAccept::Stop {
                        return;
                    }
                }
            }
        }
    }

    fn read(&mut self, ci: usize) {
        loop {
            let Some(c) = self.conns.get_mut(ci).and_then(|c| c.as_mut()) else {
                return;
            };
            if c.close.is_some() {
                return;
            }
            match c.stream.read(&mut self.rbuf) {
                Ok(0) => {
                    c.close = Some("peer closed the connection".into());
                    return;
                }
                Ok(n) => {
                    let now = now_ns();
                    if c.session.is_some() {
                        let rbuf = std::mem::take(&mut self.rbuf);
                        self.with_session(ci, now, true, |s, now, io| {
                            s.on_bytes(now, &rbuf[..n], io)
                        });
                        self.rbuf = rbuf;
                    } else {
                        c.pre.extend_from_slice(&self.rbuf[..n]);
                        self.bind_session(ci, now);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    c.close = Some(format!("read: {e}"));
                    return;
                }
            }
        }
    }

    /// Looks at the first frame (the Logon) to find the CompID pair, then creates the
    /// session and hands it everything received so far.
    fn bind_session(&mut self, ci: usize, now: u64) {
        let Some(c) = self.conns.get_mut(ci).and_then(|c| c.as_mut()) else {
            return;
        };
        let n = loop {
            match codec::frame(&c.pre) {
                Ok(n) => break n,
                Err(FrameError::Incomplete) => {
                    if c.pre.len() > MAX_PRE_LOGON {
                        c.close = Some("no Logon in the first 64 KiB".into());
                    }
                    return;
                }
                Err(FrameError::Garbled { skip, why }) => {
                    self.stats.garbled += 1;
                    let skip = skip.clamp(1, c.pre.len());
                    // A whole frame that is wrong but says it is a Logon: refused, as
                    // the session refuses an invalid Logon.
                    if !matches!(why, codec::Garble::NoBeginString)
                        && codec::scan_tag(&c.pre[..skip], tag::MSG_TYPE) == Some(msg_type::LOGON)
                    {
                        self.stats.refused += 1;
                        c.close = Some(format!("Logon message is not valid ({why:?})"));
                        return;
                    }
                    c.pre.drain(..skip);
                    if c.pre.is_empty() {
                        return;
                    }
                }
            }
        };
        let who = match self.decoder.decode(&c.pre[..n]) {
            Err(e) => Err(format!("first frame undecodable: {e:?}")),
            Ok(m) => {
                let begin =
                    String::from_utf8_lossy(m.get(tag::BEGIN_STRING).unwrap_or(b"")).into_owned();
                let peer =
                    String::from_utf8_lossy(m.get(tag::SENDER_COMP_ID).unwrap_or(b"")).into_owned();
                let us = m.get(tag::TARGET_COMP_ID).unwrap_or(b"");
                if m.msg_type() != msg_type::LOGON {
                    Err("first message is not a Logon".to_string())
                } else if !BEGIN_STRINGS.contains(&begin.as_str())
                    || self.cfg.begin.as_ref().is_some_and(|b| *b != begin)
                {
                    Err(format!("BeginString {begin:?} not accepted"))
                } else if us != self.cfg.sender.as_bytes() {
                    Err(format!(
                        "TargetCompID {:?} is not {:?}",
                        String::from_utf8_lossy(us),
                        self.cfg.sender
                    ))
                } else if peer.is_empty()
                    || (!self.cfg.targets.is_empty() && !self.cfg.targets.contains(&peer))
                {
                    Err(format!("SenderCompID {peer:?} not accepted"))
                } else {
                    Ok((begin, peer))
                }
            }
        };
        let (begin, peer) = match who {
            Ok(x) => x,
            Err(why) => {
                self.stats.refused += 1;
                eprintln!("venue-sim: {}: refused: {why}", c.addr);
                c.close = Some(why);
                return;
            }
        };
        let (si, fresh) = match self.by_peer.get(&peer) {
            Some(&si) => (si, false),
            None => match self.new_record(&peer, &begin, now) {
                Ok(si) => (si, true),
                Err(why) => {
                    let Some(c) = self.conns.get_mut(ci).and_then(|c| c.as_mut()) else {
                        return;
                    };
                    self.stats.refused += 1;
                    eprintln!("venue-sim: {}: refused: {why}", c.addr);
                    c.close = Some(why);
                    return;
                }
            },
        };
        // A connection the peer closed a moment ago may not have been read yet (the
        // same poll can bring its end and the new Logon): look before refusing.
        if let Some(old) = self
            .sessions
            .get(&si)
            .and_then(|r| r.conn)
            .filter(|&o| o != ci)
        {
            self.read(old);
            if self.conns[old].as_ref().is_some_and(|c| c.close.is_some()) {
                self.close(old, now);
            }
        }
        let Some(c) = self.conns.get_mut(ci).and_then(|c| c.as_mut()) else {
            return;
        };
        let Some(rec) = self.sessions.get_mut(&si) else {
            return;
        };
        if rec.conn.is_some() {
            self.stats.refused += 1;
            eprintln!(
                "venue-sim: {}: refused: {peer} is already connected",
                c.addr
            );
            c.close = Some(format!("{peer} is already connected"));
            return;
        }
        rec.conn = Some(ci);
        rec.last_used = now;
        rec.begin = begin.clone();
        rec.ver = Ver::from_begin(begin.as_bytes()).unwrap_or(Ver::Fix44);
        rec.dict = self
            .dicts
            .iter()
            .find(|(b, _)| *b == begin)
            .map(|(_, d)| Arc::clone(d));
        let scfg = SessionConfig {
            begin_string: begin.clone(),
            default_appl_ver_id: (begin == "FIXT.1.1").then(|| "9".to_string()),
            sender_comp_id: self.cfg.sender.clone(),
            target_comp_id: peer,
            role: Role::Acceptor,
            heartbeat_secs: self.cfg.heartbeat_secs,
            reset_on_logon: self.cfg.reset_on_logon,
            reset_on_logout: false,
            reset_on_disconnect: false,
            username: None,
            password: None,
            logon_timeout_secs: self.cfg.logon_timeout_secs,
            logout_timeout_secs: 2,
            schedule: None,
            dictionary: rec.dict.clone(),
            micros: false,
        };
        c.session = Some(Session::new(scfg, rec.store.seqs()));
        c.sess = Some(si);
        let pre = std::mem::take(&mut c.pre);
        self.with_session(ci, now, false, |s, now, io| s.on_connected(now, io));
        self.with_session(ci, now, true, |s, now, io| s.on_bytes(now, &pre, io));
        // The Logon has been answered or refused by now. A counterparty seen for the
        // first time and refused is not remembered: strangers cost nothing once gone.
        if fresh && self.sessions.get(&si).is_some_and(|r| !r.known) {
            self.forget_stranger(ci, si);
        }
    }

    /// A record for a counterparty seen for the first time; the least recently used one
    /// no connection holds makes room when `--max-sessions` are kept.
    fn new_record(&mut self, peer: &str, begin: &str, now: u64) -> Result<u32, String> {
        if self.sessions.len() >= self.cfg.max_sessions {
            let lru = self
                .sessions
                .iter()
                .filter(|(_, r)| r.conn.is_none())
                .min_by_key(|(_, r)| r.last_used)
                .map(|(&si, _)| si);
            let Some(lru) = lru else {
                return Err(format!(
                    "{} sessions, all connected (--max-sessions)",
                    self.sessions.len()
                ));
            };
            if let Some(mut r) = self.sessions.remove(&lru) {
                self.by_peer.remove(&r.peer);
                r.store.sync();
                self.stats.sessions_evicted += 1;
                self.stats.pending_dropped += r.pending.len() as u64;
                emit(&json!({"type":"evicted","peer":r.peer}));
            }
        }
        let si = self.next_sess;
        let next = si
            .checked_add(1)
            .ok_or_else(|| "no session ids left".to_string())?;
        let dir = self
            .cfg
            .store
            .as_ref()
            .map(|d| d.join(pair_dir(&self.cfg.sender, peer)));
        let made_dir = dir.as_ref().filter(|d| !d.exists()).cloned();
        let store = match SessionStore::open(dir.as_deref(), KEEP_SENT, None, now) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("venue-sim: {e}");
                return Err(e.to_string());
            }
        };
        self.next_sess = next;
        self.sessions.insert(
            si,
            SessRec {
                peer: peer.to_string(),
                begin: begin.to_string(),
                ver: Ver::Fix44,
                dict: None,
                store,
                conn: None,
                logged_on: false,
                known: false,
                last_used: now,
                made_dir,
                pending: VecDeque::new(),
                pending_bytes: 0,
            },
        );
        self.by_peer.insert(peer.to_string(), si);
        self.sim.adopt(peer, si);
        Ok(si)
    }

    /// Forgets the record made for connection `ci`'s refused first Logon, and what its
    /// store put on disk. Its id was the last one given out and nothing can name it (it
    /// never logged on, so no order or answer is its): it is given out again.
    fn forget_stranger(&mut self, ci: usize, si: u32) {
        let Some(rec) = self.sessions.remove(&si) else {
            return;
        };
        self.by_peer.remove(&rec.peer);
        if si.checked_add(1) == Some(self.next_sess) {
            self.next_sess = si;
        }
        let reason = match self.conns.get_mut(ci).and_then(|c| c.as_mut()) {
            Some(c) => {
                c.sess = None;
                c.session = None;
                c.close
                    .get_or_insert_with(|| "Logon refused".into())
                    .clone()
            }
            None => String::new(),
        };
        emit(&json!({"type":"disconnect","peer":rec.peer,"reason":reason}));
        let made_dir = rec.made_dir.clone();
        drop(rec);
        if let Some(d) = made_dir {
            if let Err(e) = std::fs::remove_dir_all(&d) {
                eprintln!("venue-sim: {}: {e}", d.display());
            }
        }
    }

    /// Runs `f` on connection `ci`'s session with its I/O, then handles the events.
    fn with_session(
        &mut self,
        ci: usize,
        now: u64,
        app: bool,
        f: impl FnOnce(&mut Session, u64, &mut Io<'_>),
    ) {
        let Some(c) = self.conns.get_mut(ci).and_then(|c| c.as_mut()) else {
            return;
        };
        let (Some(si), Some(session)) = (c.sess, c.session.as_mut()) else {
            return;
        };
        let Some(rec) = self.sessions.get_mut(&si) else {
            return;
        };
        let mut io = Io {
            wbuf: &mut c.wbuf,
            store: &mut rec.store,
            sim: if app { Some(&mut self.sim) } else { None },
            dict: rec.dict.as_deref(),
            sess: si,
            now,
            events: &mut self.events,
            verbose: self.cfg.verbose,
        };
        f(session, now, &mut io);
        rec.store.set_seqs(now, session.seqs());
        self.handle_events(ci, si, now);
        // Answers to what just arrived, if due already (no latency configured).
        if app {
            while let Some(out) = self.sim.pop_due(now) {
                self.deliver(now, out);
            }
        }
    }

    fn handle_events(&mut self, ci: usize, si: u32, now: u64) {
        if self.events.is_empty() {
            return;
        }
        let evs = std::mem::take(&mut self.events);
        let mut flush_pending = false;
        for ev in &evs {
            let Some(rec) = self.sessions.get_mut(&si) else {
                break;
            };
            match ev {
                SessionEvent::LoggedOn => {
                    rec.logged_on = true;
                    rec.known = true;
                    flush_pending = true;
                    let s = rec.store.seqs();
                    emit(&json!({"type":"logon","peer":rec.peer,"begin":rec.begin,
                        "next_out":s.next_out,"next_in":s.next_in}));
                }
                SessionEvent::LoggedOut => {
                    rec.logged_on = false;
                    self.sim.session_ended(si);
                    emit(&json!({"type":"logout","peer":rec.peer}));
                }
                SessionEvent::Disconnect(why) => {
                    self.sim.session_ended(si);
                    if let Some(c) = self.conns.get_mut(ci).and_then(|c| c.as_mut()) {
                        c.close.get_or_insert_with(|| why.clone());
                    }
                }
                SessionEvent::Garbled(why) => {
                    self.stats.garbled += 1;
                    if self.cfg.verbose {
                        eprintln!("venue-sim: {}: garbled: {why}", rec.peer);
                    }
                }
                SessionEvent::RejectSent { .. } => self.stats.session_rejects_sent += 1,
                SessionEvent::PeerRejected { .. } => self.stats.peer_rejects += 1,
                SessionEvent::ResendRequested { .. } => self.stats.resend_requests_sent += 1,
                SessionEvent::Resent { .. } => self.stats.resend_requests_served += 1,
                SessionEvent::SeqReset(_) => self.stats.seq_resets += 1,
            }
            if self.cfg.verbose {
                eprintln!("venue-sim: {}: {ev:?}", rec.peer);
            }
        }
        let mut evs = evs;
        evs.clear();
        if self.events.is_empty() {
            self.events = evs;
        }
        if flush_pending {
            while let Some(out) = self.sessions.get_mut(&si).and_then(|r| r.pop_pending()) {
                if !self.deliver(now, out) {
                    break;
                }
            }
        }
    }

    /// Sends one answer on its session, or keeps it until the session is logged on.
    /// Returns whether it was sent.
    fn deliver(&mut self, now: u64, out: Out) -> bool {
        let si = out.sess;
        let Some(rec) = self.sessions.get_mut(&si) else {
            // Its session was evicted meanwhile.
            self.stats.pending_dropped += 1;
            return false;
        };
        let ver = rec.ver;
        let latency_us = self.sim.config().latency_ns / 1_000;
        let conn = rec
            .conn
            .and_then(|ci| self.conns.get_mut(ci))
            .and_then(|c| c.as_mut())
            .filter(|c| c.close.is_none());
        let Some(c) = conn else {
            return self.keep(si, out);
        };
        let Some(session) = c.session.as_mut().filter(|s| s.is_logged_on()) else {
            return self.keep(si, out);
        };
        let mut io = Io {
            wbuf: &mut c.wbuf,
            store: &mut rec.store,
            sim: None,
            dict: None,
            sess: si,
            now,
            events: &mut self.events,
            verbose: self.cfg.verbose,
        };
        let msg_type: &[u8] = match &out.kind {
            OutKind::Exec(_) => msg_type::EXECUTION_REPORT,
            OutKind::CxlReject(_) => msg_type::ORDER_CANCEL_REJECT,
            OutKind::BizReject { .. } => msg_type::BUSINESS_MESSAGE_REJECT,
            OutKind::PosAck { .. } => msg_type::REQUEST_FOR_POSITIONS_ACK,
            OutKind::PosReport { .. } => msg_type::POSITION_REPORT,
            OutKind::ListStatus { .. } => msg_type::LIST_STATUS,
            OutKind::MdSnapshot { .. } => msg_type::MARKET_DATA_SNAPSHOT_FULL_REFRESH,
            OutKind::MdIncrement { .. } => msg_type::MARKET_DATA_INCREMENTAL_REFRESH,
            OutKind::MdReject { .. } => msg_type::MARKET_DATA_REQUEST_REJECT,
            OutKind::Echo { msg_type, .. } => msg_type.as_bytes(),
        };
        let header = match &out.kind {
            OutKind::Echo { header: h, .. } => parse_fields(h),
            _ => Vec::new(),
        };
        let sent = match &out.kind {
            // The session writes business rejects as its version wants them.
            OutKind::BizReject {
                ref_seq,
                ref_msg_type,
                reason,
                text,
            } => session.send_business_reject(
                now,
                *ref_seq,
                ref_msg_type.as_bytes(),
                *reason,
                text,
                &mut io,
            ),
            _ => session.send_app_with_header(
                now,
                msg_type,
                &header,
                |enc| encode(enc, &out.kind, ver, now, latency_us),
                &mut io,
            ),
        }
        .is_ok();
        rec.store.set_seqs(now, session.seqs());
        if !sent {
            return self.keep(si, out);
        }
        true
    }

    fn keep(&mut self, si: u32, out: Out) -> bool {
        let bytes = out_bytes(&out);
        match self.sessions.get_mut(&si) {
            Some(rec)
                if rec.pending.len() < MAX_PENDING
                    && rec.pending_bytes + bytes <= MAX_PENDING_BYTES =>
            {
                rec.pending_bytes += bytes;
                rec.pending.push_back(out);
            }
            _ => self.stats.pending_dropped += 1,
        }
        false
    }

    fn close(&mut self, ci: usize, now: u64) {
        let Some(c) = self.conns.get_mut(ci).and_then(|c| c.as_mut()) else {
            return;
        };
        let reason = c.close.clone().unwrap_or_default();
        if c.session.is_some() {
            self.with_session(ci, now, false, |s, now, io| s.on_disconnected(now, io));
        }
        self.events.clear();
        let Some(mut c) = self.conns.get_mut(ci).and_then(|c| c.take()) else {
            return;
        };
        let _ = c.wbuf.flush(&mut c.stream);
        let _ = self.poll.registry().deregister(&mut c.stream);
        let _ = c.stream.shutdown(std::net::Shutdown::Both);
        if let Some(rec) = c.sess.and_then(|si| self.sessions.get_mut(&si)) {
            if let Some(s) = &c.session {
                rec.store.set_seqs(now, s.seqs());
            }
            rec.conn = None;
            rec.logged_on = false;
            rec.last_used = now;
            emit(&json!({"type":"disconnect","peer":rec.peer,"reason":reason}));
        } else if self.cfg.verbose {
            eprintln!("venue-sim: {} closed before logon: {reason}", c.addr);
        }
    }

    fn control_commands(&mut self) {
        loop {
            let Some(rx) = self.control.as_ref() else {
                return;
            };
            let cmd = match rx.try_recv() {
                Ok(c) => c,
                Err(_) => return,
            };
            let now = now_ns();
            match cmd {
                Control::Eof => self.begin_stop(now),
                Control::Line(l) => self.command(l.trim(), now),
            }
        }
    }

    fn command(&mut self, line: &str, now: u64) {
        let mut words = line.split_whitespace();
        let Some(cmd) = words.next() else {
            return;
        };
        match cmd {
            "status" => emit(&self.status_json("status", now)),
            "drop" => {
                let mut n = 0;
                for ci in 0..self.conns.len() {
                    if let Some(c) = self.conns[ci].as_mut() {
                        c.close = Some("dropped by the operator".into());
                        // Abrupt: nothing queued goes out.
                        c.wbuf.buf.clear();
                        c.wbuf.pos = 0;
                        n += 1;
                        self.close(ci, now);
                    }
                }
                emit(&json!({"type":"ok","command":"drop","closed":n}));
            }
            "skip" => {
                let n = words.next().and_then(|w| w.parse::<u64>().ok());
                let Some(n) = n else {
                    emit(&json!({"type":"error","command":"skip","message":"usage: skip N"}));
                    return;
                };
                for rec in self.sessions.values_mut() {
                    let session = rec
                        .conn
                        .and_then(|ci| self.conns.get_mut(ci))
                        .and_then(|c| c.as_mut())
                        .and_then(|c| c.session.as_mut());
                    let mut s = rec.store.seqs();
                    if let Some(session) = session {
                        s = session.seqs();
                        s.next_out += n;
                        session.set_seqs(s);
                    } else {
                        s.next_out += n;
                    }
                    rec.store.set_seqs(now, s);
                }
                emit(&json!({"type":"ok","command":"skip","n":n,
                    "sessions":self.sessions.len()}));
            }
            "logout" => {
                let n = self.logout_all(now, "logout by the operator");
                emit(&json!({"type":"ok","command":"logout","sessions":n}));
            }
            "drop-fills" | "refuse-cancels" => {
                let Some(n) = words.next().and_then(|w| w.parse::<u32>().ok()) else {
                    emit(
                        &json!({"type":"error","command":cmd,"message":format!("usage: {cmd} N")}),
                    );
                    return;
                };
                if cmd == "drop-fills" {
                    self.sim.drop_next_fills(n);
                } else {
                    self.sim.refuse_next_cancels(n);
                }
                emit(&json!({"type":"ok","command":cmd,"n":n}));
            }
            "invent-position" => {
                let (a, y, q) = (words.next(), words.next(), words.next());
                let qty = q.and_then(Sim::qty_of);
                let (Some(a), Some(y), Some(qty)) = (a, y, qty) else {
                    emit(&json!({"type":"error","command":cmd,
                        "message":"usage: invent-position ACCOUNT SYMBOL QTY (negative: short)"}));
                    return;
                };
                let sessions: Vec<u32> = self.sessions.keys().copied().collect();
                let n = self
                    .sim
                    .invent_position(&sessions, a.as_bytes(), y.as_bytes(), qty);
                emit(&json!({"type":"ok","command":cmd,"sessions":n}));
            }
            "forget-order" => {
                let Some(cl) = words.next() else {
                    emit(
                        &json!({"type":"error","command":cmd,"message":"usage: forget-order CLORDID"}),
                    );
                    return;
                };
                let found = self.sim.forget_order(cl.as_bytes());
                emit(&json!({"type":"ok","command":cmd,"found":found}));
            }
            "quotes" => {
                let paused = match words.next() {
                    Some("off") => true,
                    Some("on") => false,
                    _ => {
                        emit(
                            &json!({"type":"error","command":cmd,"message":"usage: quotes on|off"}),
                        );
                        return;
                    }
                };
                self.sim.pause_quotes(paused, now);
                emit(&json!({"type":"ok","command":cmd,"paused":paused,
                    "subscriptions":self.sim.subscriptions()}));
            }
            "quit" => self.begin_stop(now),
            other => emit(&json!({"type":"error","command":other,
                "message":"commands: status, drop, skip N, logout, drop-fills N, refuse-cancels N, invent-position ACCOUNT SYMBOL QTY, forget-order CLORDID, quotes on|off, quit"})),
        }
    }

    fn logout_all(&mut self, now: u64, text: &str) -> usize {
        let mut n = 0;
        for ci in 0..self.conns.len() {
            let has = self.conns[ci]
                .as_ref()
                .and_then(|c| c.session.as_ref())
                .is_some();
            if has {
                n += 1;
                self.with_session(ci, now, false, |s, now, io| s.logout(now, text, io));
            } else if let Some(c) = self.conns[ci].as_mut() {
                c.close.get_or_insert_with(|| text.to_string());
            }
        }
        n
    }

    fn begin_stop(&mut self, now: u64) {
        if self.stopping.is_some() {
            return;
        }
        if let Some(mut l) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut l);
        }
        self.logout_all(now, "simulator shutting down");
        self.stopping = Some(now + 3_000_000_000);
    }

    /// Writes the books beside the session stores (whole, then renamed into place).
    fn save_book(&self) {
        let Some(dir) = self.cfg.store.as_ref() else {
            return;
        };
        let v = self
            .sim
            .book_json(|si| self.sessions.get(&si).map(|r| r.peer.clone()));
        let tmp = dir.join(format!("{BOOK_FILE}.tmp"));
        let done = std::fs::create_dir_all(dir)
            .and_then(|_| std::fs::write(&tmp, v.to_string()))
            .and_then(|_| std::fs::rename(&tmp, dir.join(BOOK_FILE)));
        if let Err(e) = done {
            eprintln!(
                "venue-sim: the books were not saved in {}: {e}",
                dir.display()
            );
        }
    }

    fn finish(&mut self, now: u64) {
        for ci in 0..self.conns.len() {
            if let Some(c) = self.conns[ci].as_mut() {
                c.close
                    .get_or_insert_with(|| "simulator shutting down".into());
                self.close(ci, now);
            }
        }
        for s in self.sessions.values_mut() {
            s.store.sync();
        }
        self.save_book();
        emit(&self.status_json("final", now));
    }

    fn status_json(&self, kind: &str, now: u64) -> Value {
        let sessions: Vec<Value> = self
            .sessions
            .values()
            .map(|r| {
                let live = r
                    .conn
                    .and_then(|ci| self.conns.get(ci))
                    .and_then(|c| c.as_ref())
                    .and_then(|c| c.session.as_ref());
                let s: SeqNums = live.map(|s| s.seqs()).unwrap_or_else(|| r.store.seqs());
                json!({"peer":r.peer,"begin":r.begin,"connected":r.conn.is_some(),
                    "logged_on":live.is_some_and(|s| s.is_logged_on()),
                    "next_out":s.next_out,"next_in":s.next_in,"pending":r.pending.len()})
            })
            .collect();
        let k = &self.sim.counters;
        let st = &self.stats;
        let _ = now;
        json!({
            "type": kind,
            "port": self.port,
            "tls": self.cfg.tls.is_some(),
            "policy": format!("{:?}", self.sim.config().policy),
            "sessions": sessions,
            "connections": self.conns.iter().flatten().count(),
            "orders": k.orders,
            "open_orders": k.open_orders,
            "lists": k.lists,
            "oco_cancels": k.oco_cancels,
            "reduce_only_clipped": k.reduce_only_clipped,
            "positions": self.sim.net_positions().iter().map(|(a, s, q)| {
                json!({"account": a, "symbol": s, "qty": execd::model::fixed::Dec { mant: *q, scale: 8 }.to_string()})
            }).collect::<Vec<_>>(),
            "fills": k.fills,
            "md_requests": k.md_requests,
            "md_rejects": k.md_rejects,
            "quotes_sent": k.quotes_sent,
            "md_subscriptions": self.sim.subscriptions(),
            "dropped_fills": k.dropped_fills,
            "cancels": k.cancels,
            "replaces": k.replaces,
            "rejects": k.rejects,
            "cancel_rejects": k.cancel_rejects,
            "business_rejects": k.business_rejects,
            "status_requests": k.status_requests,
            "mass_status_requests": k.mass_status_requests,
            "position_requests": k.position_requests,
            "echoed": k.echoed,
            "resend_requests_served": st.resend_requests_served,
            "resend_requests_sent": st.resend_requests_sent,
            "garbled": st.garbled,
            "session_rejects_sent": st.session_rejects_sent,
            "peer_rejects": st.peer_rejects,
            "seq_resets": st.seq_resets,
            "connections_accepted": st.connections,
            "connections_refused": st.refused,
            "write_overflows": st.write_overflows,
            "pending_dropped": st.pending_dropped,
            "accept_failures": self.accept.failures,
            "sessions_evicted": st.sessions_evicted,
            "waiting_for_logon": self.conns.iter().flatten().filter(|c| c.sess.is_none()).count(),
        })
    }
}

/// The store directory of a CompID pair under `--store`: `<sender>-<peer>`, anything but
/// `[A-Za-z0-9._-]` in a CompID becoming `_`.
fn pair_dir(sender: &str, peer: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    format!("{}-{}", clean(sender), clean(peer))
}

/// `tag=value<SOH>…` as fields.
fn parse_fields(b: &[u8]) -> Vec<Field<'_>> {
    b.split(|&c| c == 1)
        .filter_map(|f| {
            let eq = f.iter().position(|&c| c == b'=')?;
            Some(Field {
                tag: codec::parse_u64(&f[..eq])? as u32,
                value: &f[eq + 1..],
            })
        })
        .collect()
}

fn id(enc: &mut Encoder, tag: u32, v: &Id) {
    if !v.is_empty() {
        enc.bytes(tag, v.as_bytes());
    }
}

fn order_id(enc: &mut Encoder, tag: u32, v: u64) {
    if v == 0 {
        enc.bytes(tag, b"NONE");
    } else {
        enc.uint(tag, v);
    }
}

const S: u8 = crate::engine::SCALE;

/// SimLatencyUs: the simulator's own field (`fix-dictionaries/overlays/venue-sim.xml`),
/// the `--latency-us` every execution report was held back by.
const SIM_LATENCY_US: u32 = 20001;

/// Writes the body of one answer; `latency_us` > 0 goes out as [`SIM_LATENCY_US`] on
/// execution reports.
fn encode(enc: &mut Encoder, kind: &OutKind, ver: Ver, now: u64, latency_us: u64) {
    match kind {
        // Each answer's body in tag order; the PositionReport's NoPositions group keeps
        // the group's own order (703, 704, 705).
        OutKind::Exec(e) => {
            id(enc, tag::ACCOUNT, &e.account);
            enc.fixed(tag::AVG_PX, e.avg, S);
            id(enc, tag::CL_ORD_ID, &e.cl_ord_id);
            if e.commission > 0 {
                enc.fixed(tag::COMMISSION, e.commission, S);
                enc.char(tag::COMM_TYPE, b'3');
            }
            enc.fixed(tag::CUM_QTY, e.cum, S);
            enc.uint(tag::EXEC_ID, e.exec_id);
            if ver == Ver::Fix42 {
                // ExecTransType: 3 = Status, 0 = New (FIX 4.2 only).
                let trans = if e.kind == ExecKind::Status {
                    b'3'
                } else {
                    b'0'
                };
                enc.char(tag::EXEC_TRANS_TYPE, trans);
            }
            if e.kind == ExecKind::Trade {
                enc.fixed(tag::LAST_PX, e.last_px, S);
                enc.fixed(tag::LAST_QTY, e.last_qty, S);
            }
            order_id(enc, tag::ORDER_ID, e.order_id);
            if e.qty > 0 {
                enc.fixed(tag::ORDER_QTY, e.qty, S);
            }
            enc.char(tag::ORD_STATUS, e.status);
            if e.ord_type != 0 {
                enc.char(tag::ORD_TYPE, e.ord_type);
            }
            if matches!(e.kind, ExecKind::Canceled | ExecKind::Replaced) {
                id(enc, tag::ORIG_CL_ORD_ID, &e.orig_cl_ord_id);
            }
            if e.price > 0 {
                enc.fixed(tag::PRICE, e.price, S);
            }
            if e.side != 0 {
                enc.char(tag::SIDE, e.side);
            }
            id(enc, tag::SYMBOL, &e.symbol);
            if !e.text.is_empty() {
                enc.bytes(tag::TEXT, e.text.as_bytes());
            }
            enc.timestamp(tag::TRANSACT_TIME, now, false);
            if let Some(r) = e.rej_reason {
                enc.uint(tag::ORD_REJ_REASON, r as u64);
            }
            let exec_type = match (e.kind, ver) {
                (ExecKind::New, _) => b'0',
                (ExecKind::Trade, Ver::Fix42) => e.status,
                (ExecKind::Trade, _) => b'F',
                (ExecKind::Canceled, _) => b'4',
                (ExecKind::Replaced, _) => b'5',
                (ExecKind::Rejected, _) => b'8',
                (ExecKind::Status, Ver::Fix42) => e.status,
                (ExecKind::Status, _) => b'I',
            };
            enc.char(tag::EXEC_TYPE, exec_type);
            enc.fixed(tag::LEAVES_QTY, e.leaves, S);
            if let Some(m) = &e.mass {
                id(enc, tag::MASS_STATUS_REQ_ID, &m.req_id);
                enc.uint(tag::TOT_NUM_REPORTS, m.total as u64);
                if m.last {
                    enc.flag(tag::LAST_RPT_REQUESTED, true);
                }
            }
            if latency_us > 0 {
                enc.uint(SIM_LATENCY_US, latency_us);
            }
        }
        OutKind::CxlReject(r) => {
            id(enc, tag::CL_ORD_ID, &r.cl_ord_id);
            order_id(enc, tag::ORDER_ID, r.order_id);
            enc.char(tag::ORD_STATUS, r.status);
            id(enc, tag::ORIG_CL_ORD_ID, &r.orig_cl_ord_id);
            if !r.text.is_empty() {
                enc.bytes(tag::TEXT, r.text.as_bytes());
            }
            enc.timestamp(tag::TRANSACT_TIME, now, false);
            enc.uint(tag::CXL_REJ_REASON, r.reason as u64);
            enc.uint(tag::CXL_REJ_RESPONSE_TO, r.response_to as u64);
        }
        OutKind::BizReject { .. } => {}
        OutKind::PosAck {
            req_id,
            rpt_id,
            total,
            result,
            account,
        } => {
            id(enc, tag::ACCOUNT, account);
            enc.uint(tag::ACCOUNT_TYPE, 1);
            id(enc, tag::POS_REQ_ID, req_id);
            enc.uint(tag::POS_MAINT_RPT_ID, *rpt_id);
            enc.uint(tag::TOTAL_NUM_POS_REPORTS, *total as u64);
            enc.uint(tag::POS_REQ_RESULT, *result as u64);
            enc.uint(tag::POS_REQ_STATUS, 0);
        }
        OutKind::PosReport {
            req_id,
            rpt_id,
            total,
            account,
            symbol,
            long,
            short,
        } => {
            id(enc, tag::ACCOUNT, account);
            id(enc, tag::SYMBOL, symbol);
            enc.uint(tag::ACCOUNT_TYPE, 1);
            enc.uint(tag::NO_POSITIONS, 1);
            enc.bytes(tag::POS_TYPE, b"TQ");
            enc.fixed(tag::LONG_QTY, *long, S);
            enc.fixed(tag::SHORT_QTY, *short, S);
            id(enc, tag::POS_REQ_ID, req_id);
            enc.bytes(tag::CLEARING_BUSINESS_DATE, &utc_date(now));
            enc.uint(tag::POS_MAINT_RPT_ID, *rpt_id);
            enc.uint(tag::TOTAL_NUM_POS_REPORTS, *total as u64);
            enc.uint(tag::POS_REQ_RESULT, 0);
            enc.uint(tag::SETTL_PRICE, 0);
            enc.uint(tag::SETTL_PRICE_TYPE, 1);
            enc.uint(tag::PRIOR_SETTL_PRICE, 0);
        }
        // Top-level fields in tag order, the NoOrders group last with ClOrdID leading
        // each instance.
        OutKind::ListStatus {
            list_id,
            legs,
            rejected,
            text,
        } => {
            enc.timestamp(tag::TRANSACT_TIME, now, false);
            id(enc, tag::LIST_ID, list_id);
            enc.uint(tag::TOT_NO_ORDERS, 2);
            enc.uint(tag::NO_RPTS, 1);
            enc.uint(tag::RPT_SEQ, 1);
            enc.char(tag::LIST_STATUS_TYPE, b'2');
            enc.char(tag::LIST_ORDER_STATUS, if *rejected { b'7' } else { b'3' });
            if !text.is_empty() {
                enc.bytes(tag::LIST_STATUS_TEXT, text.as_bytes());
            }
            let legs: Vec<&Id> = legs.iter().filter(|l| !l.is_empty()).collect();
            enc.uint(tag::NO_ORDERS, legs.len() as u64);
            for l in legs {
                id(enc, tag::CL_ORD_ID, l);
                enc.uint(tag::CUM_QTY, 0);
                enc.char(tag::ORD_STATUS, if *rejected { b'8' } else { b'0' });
                enc.uint(tag::LEAVES_QTY, 0);
                enc.uint(tag::CXL_QTY, 0);
                enc.uint(tag::AVG_PX, 0);
            }
        }
        // The layouts of FIX 4.2, 4.4 and 5.0SP2 alike: a snapshot's Symbol before its
        // entries, an incremental entry's Symbol after its MDEntryType.
        OutKind::MdSnapshot {
            req_id,
            symbol,
            bid,
            ask,
        } => {
            id(enc, tag::MD_REQ_ID, req_id);
            id(enc, tag::SYMBOL, symbol);
            enc.uint(tag::NO_MD_ENTRIES, 2);
            for (kind, px) in [(b'0', bid), (b'1', ask)] {
                enc.char(tag::MD_ENTRY_TYPE, kind);
                enc.fixed(tag::MD_ENTRY_PX, *px, S);
                enc.fixed(tag::MD_ENTRY_SIZE, QUOTE_SIZE, S);
            }
        }
        OutKind::MdIncrement {
            req_id,
            symbol,
            bid,
            ask,
        } => {
            id(enc, tag::MD_REQ_ID, req_id);
            enc.uint(tag::NO_MD_ENTRIES, 2);
            for (kind, px) in [(b'0', bid), (b'1', ask)] {
                enc.char(tag::MD_UPDATE_ACTION, b'1');
                enc.char(tag::MD_ENTRY_TYPE, kind);
                id(enc, tag::SYMBOL, symbol);
                enc.fixed(tag::MD_ENTRY_PX, *px, S);
                enc.fixed(tag::MD_ENTRY_SIZE, QUOTE_SIZE, S);
            }
        }
        OutKind::MdReject {
            req_id,
            reason,
            text,
        } => {
            enc.bytes(tag::TEXT, text.as_bytes());
            id(enc, tag::MD_REQ_ID, req_id);
            enc.uint(tag::MD_REQ_REJ_REASON, *reason as u64);
        }
        OutKind::Echo { body, .. } => {
            for f in body.split(|&b| b == 1) {
                let Some(eq) = f.iter().position(|&b| b == b'=') else {
                    continue;
                };
                if let Some(tag) = codec::parse_u64(&f[..eq]) {
                    enc.bytes(tag as u32, &f[eq + 1..]);
                }
            }
        }
    }
}
