//! A scripted FIX 4.4 broker for recovery tests. It shares nothing with execd: its own
//! framing, encoding and session handling, written from the FIX specification, so that
//! execd agreeing with it proves something. Each test picks its behaviour — reset on
//! every logon, a ResendRequest in the same write as the Logon answer, executing a
//! PossDup NewOrderSingle again like a careless broker — and drives it: fill what is
//! open while execd is down, stall, crash (drop the connection, lose what it had not
//! persisted), come back.
//!
//! Its books outlive its crashes (they stand for the broker's database), so a test
//! compares what the broker executed with what execd's journal says.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SOH: u8 = 1;

/// A lie the broker tells in a report (its books keep the truth, and its status answers
/// tell it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lie {
    /// LastPx 9223372036854775807.
    PriceBeyondI64,
    /// LastPx negative.
    NegativePrice,
    /// LastPx 0.000000001: rounds to nothing at any sane scale.
    PriceRoundingToNothing,
    /// LastPx far through a buy limit (or under a sell limit).
    PriceThroughTheLimit,
    /// Commission 9223372036854775807.
    CommissionBeyondI64,
    /// Commission −1 000 000.
    NegativeCommission,
    /// ExecType `FF`.
    ExecTypeTwoChars,
    /// A Replaced report without OrderQty.
    ReplacedWithoutQty,
    /// A Replaced report with OrderQty 99999999999.
    ReplacedHugeQty,
    /// A Replaced report with OrderQty −5.
    ReplacedNegativeQty,
    /// The report names a well-formed ClOrdID nobody sent (0-0-0).
    ForeignClOrdId,
}

impl Lie {
    fn fits(self, exec_type: u8) -> bool {
        match self {
            Lie::ReplacedWithoutQty | Lie::ReplacedHugeQty | Lie::ReplacedNegativeQty => {
                exec_type == b'5'
            }
            Lie::ForeignClOrdId | Lie::ExecTypeTwoChars => matches!(exec_type, b'F' | b'5'),
            _ => exec_type == b'F',
        }
    }

    fn tell(self, body: &mut Vec<(u32, String)>) {
        let set = |body: &mut Vec<(u32, String)>, tag: u32, v: &str| match body
            .iter_mut()
            .find(|(t, _)| *t == tag)
        {
            Some(f) => f.1 = v.to_string(),
            None => {
                body.push((tag, v.to_string()));
                body.sort_by_key(|(t, _)| *t);
            }
        };
        let side = body.iter().find(|(t, _)| *t == 54).map(|(_, v)| v.clone());
        match self {
            Lie::PriceBeyondI64 => set(body, 31, "9223372036854775807"),
            Lie::NegativePrice => set(body, 31, "-100.00"),
            Lie::PriceRoundingToNothing => set(body, 31, "0.000000001"),
            Lie::PriceThroughTheLimit => set(
                body,
                31,
                if side.as_deref() == Some("1") {
                    "99999.00"
                } else {
                    "0.01"
                },
            ),
            Lie::CommissionBeyondI64 => set(body, 12, "9223372036854775807"),
            Lie::NegativeCommission => set(body, 12, "-1000000"),
            Lie::ExecTypeTwoChars => {
                let et = body.iter().find(|(t, _)| *t == 150).map(|(_, v)| v.clone());
                set(
                    body,
                    150,
                    &format!("{}{}", et.clone().unwrap(), et.unwrap()),
                );
            }
            Lie::ReplacedWithoutQty => body.retain(|(t, _)| *t != 38),
            Lie::ReplacedHugeQty => set(body, 38, "99999999999"),
            Lie::ReplacedNegativeQty => set(body, 38, "-5"),
            Lie::ForeignClOrdId => set(body, 11, "0-0-0"),
        }
    }
}

/// How the broker behaves.
#[derive(Clone, Debug)]
pub struct BrokerOpts {
    pub sender: String,
    pub target: String,
    /// Answer every Logon with ResetSeqNumFlag=Y and start both directions at 1, whatever
    /// the client sent (some brokers do this on every connection).
    pub reset_on_logon: bool,
    /// Follow the Logon answer with ResendRequest(1..0) in the same socket write.
    pub resend_request_on_logon: bool,
    /// Acknowledge and fill each new order at once; otherwise acknowledge only, and fill
    /// when the test says so.
    pub fill_at_once: bool,
    /// Ignore a PossDup NewOrderSingle whose ClOrdID is known. A broker that does not
    /// (false) executes it again: the double execution these tests exist to prevent.
    pub dedupe_poss_dup: bool,
    /// Answer OrderMassStatusRequest (else BusinessMessageReject, unsupported).
    pub mass_status: bool,
    /// Reports made while nobody was connected survive a reset on logon: they are sent,
    /// renumbered, right after the Logon answer. Otherwise a reset loses them (they were
    /// numbered in the old sequence, which nobody can ask for again).
    pub deliver_pending_after_reset: bool,
    /// Every other fill or replace report tells the next of these lies, in turn.
    pub lies: Vec<Lie>,
    /// Every n-th new order rests (acknowledged, not filled) even when `fill_at_once`:
    /// something for cancels and replaces to work on. 0: none.
    pub rest_every: u64,
    /// Drop a ResendRequest that arrives beyond a gap in the client's numbers, like
    /// everything else beyond it, instead of serving it: the client's request is lost
    /// and only asking again gets the answer.
    pub drop_resend_request_ahead_of_gap: bool,
}

impl Default for BrokerOpts {
    fn default() -> Self {
        BrokerOpts {
            sender: "BROKER".into(),
            target: "EXECD".into(),
            reset_on_logon: false,
            resend_request_on_logon: false,
            fill_at_once: true,
            dedupe_poss_dup: false,
            mass_status: false,
            deliver_pending_after_reset: false,
            lies: Vec::new(),
            rest_every: 0,
            drop_resend_request_ahead_of_gap: false,
        }
    }
}

/// One order as the broker's books hold it.
#[derive(Clone, Debug)]
pub struct BookOrder {
    pub order_id: u64,
    /// The ClOrdID it was entered with (the key of `Books::orders`).
    pub first_cl: String,
    /// The ClOrdID now in force (after replaces).
    pub cl: String,
    pub symbol: String,
    pub side: u8,
    /// Quantity and price in units of 1e-4 (enough for the tests' instruments).
    pub qty: i64,
    pub px: i64,
    pub cum: i64,
    /// Sum of fill qty × price, for AvgPx.
    pub notional: i128,
    /// OrdStatus (39) now.
    pub status: u8,
    /// How many times a NewOrderSingle with this ClOrdID was executed.
    pub executions: u32,
}

/// What the broker did and saw; survives its crashes.
#[derive(Debug, Default)]
pub struct Books {
    pub orders: BTreeMap<String, BookOrder>,
    /// Any ClOrdID of an order (new, replace, cancel) → its first ClOrdID.
    pub alias: HashMap<String, String>,
    pub next_order_id: u64,
    pub next_exec_id: u64,
    /// Application messages received with PossDupFlag=Y, by MsgType.
    pub poss_dup_app: BTreeMap<String, u64>,
    /// NewOrderSingles executed although their ClOrdID was already known.
    pub duplicate_executions: u64,
    pub status_requests: u64,
    /// ResendRequests received (served or not).
    pub resend_requests: u64,
    pub mass_status_requests: u64,
    pub logons: u64,
    /// Net position per symbol (1e-4 units).
    pub positions: BTreeMap<String, i64>,
    /// Sequence numbers and sent frames (the broker's own store).
    pub next_out: u64,
    pub next_in: u64,
    pub sent: BTreeMap<u64, Vec<u8>>,
    /// Inbound application messages applied since the last `persist` point, undone by a
    /// crash that loses them.
    pub unpersisted_in: u64,
    /// Session-level rejects (35=3) the broker received from execd.
    pub rejects_received: u64,
    /// A ResendRequest of ours is outstanding until `next_in` passes this.
    pub resend_pending_to: Option<u64>,
    /// Reports numbered while nobody was connected: a client asks for them with a
    /// ResendRequest after its logon, unless the numbering is reset.
    pub undelivered: Vec<Vec<u8>>,
    /// Reports a lie could be told in, and lies told.
    pub lie_chances: u64,
    pub lies_told: u64,
    pub new_orders: u64,
}

impl Books {
    pub fn executed(&self) -> usize {
        self.orders.values().filter(|o| o.executions > 0).count()
    }
    pub fn filled_qty(&self) -> i64 {
        self.orders.values().map(|o| o.cum).sum()
    }
    pub fn open(&self) -> usize {
        self.orders
            .values()
            .filter(|o| matches!(o.status, b'0' | b'1'))
            .count()
    }
}

struct Shared {
    opts: BrokerOpts,
    books: Mutex<Books>,
    /// Down: connections are closed as soon as they are accepted.
    down: AtomicBool,
    /// Read but never answer (a hung broker).
    stalled: AtomicBool,
    /// Process what arrives (books, numbers, store) but let nothing reach the wire: the
    /// last replies a crash takes with it before they were written.
    muted: AtomicBool,
    stop: AtomicBool,
    /// The live connection, so a crash can cut it from outside.
    conn: Mutex<Option<TcpStream>>,
    /// Messages queued by the test for the session (fills of held orders).
    outbox: Mutex<Vec<Vec<u8>>>,
}

/// The broker: a listener on 127.0.0.1 and one session at a time.
pub struct FakeBroker {
    shared: Arc<Shared>,
    pub port: u16,
    thread: Option<JoinHandle<()>>,
}

impl FakeBroker {
    pub fn start(opts: BrokerOpts) -> FakeBroker {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            opts,
            books: Mutex::new(Books {
                next_out: 1,
                next_in: 1,
                next_order_id: 1,
                next_exec_id: 1,
                ..Books::default()
            }),
            down: AtomicBool::new(false),
            stalled: AtomicBool::new(false),
            muted: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            conn: Mutex::new(None),
            outbox: Mutex::new(Vec::new()),
        });
        let s = shared.clone();
        let thread = std::thread::spawn(move || serve(s, listener));
        FakeBroker {
            shared,
            port,
            thread: Some(thread),
        }
    }

    pub fn books(&self) -> MutexGuard<'_, Books> {
        self.shared.books.lock().unwrap()
    }

    /// The broker dies: the connection is cut without a Logout. With
    /// `lose_unpersisted`, the inbound sequence numbers of application messages after
    /// the last persist point are forgotten (not what they did), so the broker asks for
    /// those messages again when the client logs on. Messages read while stalled were
    /// never processed: they are lost whatever this says.
    pub fn crash(&self, lose_unpersisted: bool) {
        self.shared.down.store(true, Ordering::Release);
        if let Some(c) = self.shared.conn.lock().unwrap().take() {
            let _ = c.shutdown(Shutdown::Both);
        }
        let mut b = self.books();
        if lose_unpersisted {
            let n = b.unpersisted_in;
            b.next_in = b.next_in.saturating_sub(n).max(1);
        }
        b.unpersisted_in = 0;
        self.shared.stalled.store(false, Ordering::Release);
        self.shared.muted.store(false, Ordering::Release);
    }

    /// Back up after a crash, on the same port.
    pub fn restart(&self) {
        self.shared.down.store(false, Ordering::Release);
    }

    /// Everything applied so far is on disk.
    pub fn persist(&self) {
        self.books().unpersisted_in = 0;
    }

    /// Stop answering (reads go on, nothing is sent).
    pub fn stall(&self, on: bool) {
        self.shared.stalled.store(on, Ordering::Release);
    }

    /// Go on executing what arrives, numbering and storing the replies, but write none
    /// of them: what a crash loses when it strikes between numbering a report and
    /// writing it (the client then has a gap in the broker's numbers at its next logon).
    pub fn mute(&self, on: bool) {
        self.shared.muted.store(on, Ordering::Release);
    }

    pub fn connected(&self) -> bool {
        self.shared.conn.lock().unwrap().is_some()
    }

    /// Fills every open order in full at its price. The reports are numbered and stored
    /// whether or not anyone is connected to read them.
    pub fn fill_open_orders(&self) -> usize {
        let mut b = self.books();
        let keys: Vec<String> = b
            .orders
            .iter()
            .filter(|(_, o)| matches!(o.status, b'0' | b'1'))
            .map(|(k, _)| k.clone())
            .collect();
        let mut frames = Vec::new();
        for k in &keys {
            let o = b.orders.get(k).unwrap().clone();
            let qty = o.qty - o.cum;
            frames.push(fill(&self.shared.opts, &mut b, k, qty, o.px));
        }
        if self.connected() {
            drop(b);
            self.shared.outbox.lock().unwrap().extend(frames);
        } else {
            b.undelivered.extend(frames);
        }
        keys.len()
    }
}

impl Drop for FakeBroker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(c) = self.shared.conn.lock().unwrap().take() {
            let _ = c.shutdown(Shutdown::Both);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ----- the wire: framing and encoding, from the FIX specification -----

/// A decoded message: fields in order.
#[derive(Clone, Debug)]
pub struct Msg(pub Vec<(u32, String)>);

impl Msg {
    pub fn get(&self, tag: u32) -> Option<&str> {
        self.0
            .iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, v)| v.as_str())
    }
    pub fn msg_type(&self) -> &str {
        self.get(35).unwrap_or("")
    }
    pub fn seq(&self) -> u64 {
        self.get(34).and_then(|v| v.parse().ok()).unwrap_or(0)
    }
}

/// One whole frame at the front of `buf`: its length, or None if incomplete. Frames
/// that do not check out (BodyLength, CheckSum) are a test failure: execd must never
/// send one.
pub fn frame_len(buf: &[u8]) -> Option<usize> {
    let start = buf.windows(2).position(|w| w == b"9=")?;
    let end9 = start + buf[start..].iter().position(|&c| c == SOH)?;
    let body_len: usize = std::str::from_utf8(&buf[start + 2..end9])
        .ok()?
        .parse()
        .expect("BodyLength is a number");
    let total = end9 + 1 + body_len + 7;
    if buf.len() < total {
        return None;
    }
    assert_eq!(&buf[end9 + 1 + body_len..][..3], b"10=", "BodyLength wrong");
    let sum: u32 = buf[..end9 + 1 + body_len]
        .iter()
        .map(|&c| c as u32)
        .sum::<u32>()
        % 256;
    let got: u32 = std::str::from_utf8(&buf[total - 4..total - 1])
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(sum, got, "CheckSum wrong");
    Some(total)
}

pub fn decode(frame: &[u8]) -> Msg {
    let mut out = Vec::new();
    for f in frame.split(|&c| c == SOH).filter(|f| !f.is_empty()) {
        let eq = f.iter().position(|&c| c == b'=').expect("tag=value");
        let tag = std::str::from_utf8(&f[..eq]).unwrap().parse().unwrap();
        out.push((tag, String::from_utf8_lossy(&f[eq + 1..]).into_owned()));
    }
    Msg(out)
}

pub fn utc_now() -> String {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d_ = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    format!(
        "{y:04}{m:02}{d_:02}-{:02}:{:02}:{:02}.{:03}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Encodes a message: 8, 9, 35, then the header and `body` fields as given, then 10.
pub fn encode(begin: &str, msg_type: &str, fields: &[(u32, String)]) -> Vec<u8> {
    let mut body = format!("35={msg_type}\x01");
    for (t, v) in fields {
        body.push_str(&format!("{t}={v}\x01"));
    }
    let mut out = format!("8={begin}\x019={}\x01{body}", body.len()).into_bytes();
    let sum = out.iter().map(|&c| c as u32).sum::<u32>() % 256;
    out.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
    out
}

fn dec4(v: &str) -> i64 {
    // Decimal string → units of 1e-4, exactly (the tests' prices and sizes fit).
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    let neg = int.starts_with('-');
    let i: i64 = int.trim_start_matches('-').parse().unwrap_or(0);
    let mut f = frac.to_string();
    f.truncate(4);
    while f.len() < 4 {
        f.push('0');
    }
    let v = i * 10_000 + f.parse::<i64>().unwrap_or(0);
    if neg {
        -v
    } else {
        v
    }
}

fn fmt4(v: i64) -> String {
    let s = if v < 0 { "-" } else { "" };
    let a = v.abs();
    format!("{s}{}.{:04}", a / 10_000, a % 10_000)
}

/// Numbers, stores and returns one message of the broker's.
fn numbered(opts: &BrokerOpts, b: &mut Books, msg_type: &str, body: Vec<(u32, String)>) -> Vec<u8> {
    let seq = b.next_out;
    b.next_out += 1;
    let mut fields = vec![
        (34, seq.to_string()),
        (49, opts.sender.clone()),
        (52, utc_now()),
        (56, opts.target.clone()),
    ];
    fields.extend(body);
    let f = encode("FIX.4.4", msg_type, &fields);
    b.sent.insert(seq, f.clone());
    f
}

fn report(
    opts: &BrokerOpts,
    b: &mut Books,
    key: &str,
    exec_type: u8,
    last: Option<(i64, i64)>,
    extra: Vec<(u32, String)>,
) -> Vec<u8> {
    let o = b.orders.get(key).unwrap().clone();
    let exec_id = b.next_exec_id;
    b.next_exec_id += 1;
    let avg = if o.cum > 0 {
        (o.notional / o.cum as i128) as i64
    } else {
        0
    };
    let mut body = vec![
        (6, fmt4(avg)),
        (11, o.cl.clone()),
        (14, fmt4(o.cum)),
        (17, format!("X{exec_id}")),
    ];
    if let Some((q, p)) = last {
        body.push((31, fmt4(p)));
        body.push((32, fmt4(q)));
    }
    body.extend([
        (37, o.order_id.to_string()),
        (38, fmt4(o.qty)),
        (39, (o.status as char).to_string()),
        (54, (o.side as char).to_string()),
        (55, o.symbol.clone()),
        (150, (exec_type as char).to_string()),
        (
            151,
            fmt4(if matches!(o.status, b'0' | b'1') {
                o.qty - o.cum
            } else {
                0
            }),
        ),
    ]);
    body.extend(extra);
    if !opts.lies.is_empty() && opts.lies.iter().any(|l| l.fits(exec_type)) {
        b.lie_chances += 1;
        if b.lie_chances % 2 == 0 {
            let n = opts.lies.len() as u64;
            let lie = (0..n)
                .map(|k| opts.lies[((b.lies_told + k) % n) as usize])
                .find(|l| l.fits(exec_type));
            if let Some(lie) = lie {
                lie.tell(&mut body);
                b.lies_told += 1;
            }
        }
    }
    numbered(opts, b, "8", body)
}

fn fill(opts: &BrokerOpts, b: &mut Books, key: &str, qty: i64, px: i64) -> Vec<u8> {
    let o = b.orders.get_mut(key).unwrap();
    o.cum += qty;
    o.notional += qty as i128 * px as i128;
    o.status = if o.cum >= o.qty { b'2' } else { b'1' };
    let signed = if o.side == b'1' { qty } else { -qty };
    let sym = o.symbol.clone();
    *b.positions.entry(sym).or_default() += signed;
    report(opts, b, key, b'F', Some((qty, px)), vec![])
}

// ----- the session -----

fn serve(s: Arc<Shared>, listener: TcpListener) {
    while !s.stop.load(Ordering::Acquire) {
        match listener.accept() {
            Ok((sock, _)) => {
                if s.down.load(Ordering::Acquire) {
                    drop(sock);
                    continue;
                }
                let _ = sock.set_nodelay(true);
                let _ = sock.set_read_timeout(Some(Duration::from_millis(20)));
                *s.conn.lock().unwrap() = sock.try_clone().ok();
                session(&s, sock);
                *s.conn.lock().unwrap() = None;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// One connection, until either side closes it.
fn session(s: &Shared, mut sock: TcpStream) {
    let mut rx = Vec::new();
    let mut buf = [0u8; 65536];
    let mut logged_on = false;
    loop {
        if s.stop.load(Ordering::Acquire) || s.down.load(Ordering::Acquire) {
            return;
        }
        if logged_on && !s.stalled.load(Ordering::Acquire) {
            let queued: Vec<Vec<u8>> = std::mem::take(&mut *s.outbox.lock().unwrap());
            for f in queued {
                if sock.write_all(&f).is_err() {
                    return;
                }
            }
        }
        match sock.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => rx.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => return,
        }
        while let Some(n) = frame_len(&rx) {
            let frame: Vec<u8> = rx.drain(..n).collect();
            if s.stalled.load(Ordering::Acquire) {
                continue;
            }
            let m = decode(&frame);
            let out = handle(s, &m, &mut logged_on);
            // Everything one message causes goes out in one write: a Logon answer and a
            // ResendRequest arrive in the same read on the other side.
            let bytes: Vec<u8> = out.concat();
            if s.muted.load(Ordering::Acquire) {
                continue;
            }
            if !bytes.is_empty() && sock.write_all(&bytes).is_err() {
                return;
            }
            if m.msg_type() == "5" {
                let _ = sock.shutdown(Shutdown::Both);
                return;
            }
        }
    }
}

fn handle(s: &Shared, m: &Msg, logged_on: &mut bool) -> Vec<Vec<u8>> {
    let o = &s.opts;
    let mut b = s.books.lock().unwrap();
    let mt = m.msg_type().to_string();
    let poss_dup = m.get(43) == Some("Y");
    let mut out = Vec::new();
    if mt == "A" {
        b.logons += 1;
        *logged_on = true;
        b.resend_pending_to = None;
        let peer_reset = m.get(141) == Some("Y");
        let mut fields = vec![
            (98, "0".to_string()),
            (108, m.get(108).unwrap_or("30").to_string()),
        ];
        let reset = o.reset_on_logon || peer_reset;
        if reset {
            // As an acceptor with ResetOnLogon does: both directions start over at 1,
            // whatever number the client's Logon carries.
            b.next_out = 1;
            b.next_in = 1;
            b.sent.clear();
            fields.push((141, "Y".into()));
        }
        let undelivered = std::mem::take(&mut b.undelivered);
        let client_seq = m.seq();
        out.push(numbered(o, &mut b, "A", fields));
        if reset && o.deliver_pending_after_reset {
            for f in undelivered {
                let body: Vec<(u32, String)> = decode(&f)
                    .0
                    .into_iter()
                    .filter(|(t, _)| !matches!(*t, 8 | 9 | 10 | 34 | 35 | 49 | 52 | 56))
                    .collect();
                out.push(numbered(o, &mut b, "8", body));
            }
        }
        if client_seq > b.next_in {
            // Too high: ask for the rest; the Logon's own number is filled by the answer.
            let from = b.next_in;
            b.resend_pending_to = Some(client_seq);
            out.push(numbered(
                o,
                &mut b,
                "2",
                vec![(7, from.to_string()), (16, "0".into())],
            ));
        } else {
            b.next_in = client_seq + 1;
            if o.resend_request_on_logon {
                out.push(numbered(
                    o,
                    &mut b,
                    "2",
                    vec![(7, "1".into()), (16, "0".into())],
                ));
            }
        }
        return out;
    }
    if !*logged_on {
        return out;
    }
    let seq = m.seq();
    if mt == "2" {
        b.resend_requests += 1;
    }
    let is_reset = mt == "4" && m.get(123) != Some("Y");
    if !is_reset {
        if seq > b.next_in {
            // A ResendRequest beyond the gap is served at once, as the FIX session
            // protocol says (QuickFIX checks no gap for it): the client may be waiting
            // for this answer before it answers ours, as when both ask at logon.
            if mt == "2" && !o.drop_resend_request_ahead_of_gap {
                let begin: u64 = m.get(7).and_then(|v| v.parse().ok()).unwrap_or(1);
                out.extend(resend(o, &mut b, begin));
            }
            // A gap: ask once; what is beyond it comes again in the answer (16=0).
            if b.resend_pending_to.is_none() {
                let from = b.next_in;
                b.resend_pending_to = Some(seq);
                out.push(numbered(
                    o,
                    &mut b,
                    "2",
                    vec![(7, from.to_string()), (16, "0".into())],
                ));
            }
            return out;
        }
        if seq < b.next_in {
            if !poss_dup {
                out.push(numbered(
                    o,
                    &mut b,
                    "5",
                    vec![(58, "MsgSeqNum too low".into())],
                ));
            }
            // A PossDup copy of what the session already has: dropped, as engines do.
            return out;
        }
        b.next_in = seq + 1;
        if b.resend_pending_to.is_some_and(|t| b.next_in > t) {
            b.resend_pending_to = None;
        }
    }
    if matches!(mt.as_str(), "D" | "F" | "G" | "H" | "AF") {
        b.unpersisted_in += 1;
        if poss_dup {
            *b.poss_dup_app.entry(mt.clone()).or_default() += 1;
        }
    }
    match mt.as_str() {
        "0" => {}
        "1" => {
            let id = m.get(112).unwrap_or("").to_string();
            out.push(numbered(o, &mut b, "0", vec![(112, id)]));
        }
        "2" => {
            let begin: u64 = m.get(7).and_then(|v| v.parse().ok()).unwrap_or(1);
            out.extend(resend(o, &mut b, begin));
        }
        "3" => b.rejects_received += 1,
        "4" => {
            if let Some(n) = m.get(36).and_then(|v| v.parse::<u64>().ok()) {
                if n > b.next_in {
                    b.next_in = n;
                }
            }
        }
        "5" => {
            out.push(numbered(o, &mut b, "5", vec![]));
            *logged_on = false;
        }
        "D" => out.extend(new_order(o, &mut b, m, poss_dup)),
        "F" => out.push(cancel(o, &mut b, m)),
        "G" => out.push(replace(o, &mut b, m)),
        "H" => {
            b.status_requests += 1;
            out.push(status(o, &mut b, m.get(11).unwrap_or(""), None));
        }
        "AF" => {
            b.mass_status_requests += 1;
            if o.mass_status {
                let id = m.get(584).unwrap_or("").to_string();
                let keys: Vec<String> = b
                    .orders
                    .iter()
                    .filter(|(_, x)| matches!(x.status, b'0' | b'1'))
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in keys {
                    let cl = b.orders[&k].cl.clone();
                    out.push(status(o, &mut b, &cl, Some(id.clone())));
                }
            } else {
                out.push(business_reject(o, &mut b, m));
            }
        }
        _ => out.push(business_reject(o, &mut b, m)),
    }
    if b.resend_pending_to.is_some_and(|t| b.next_in > t) {
        b.resend_pending_to = None;
    }
    out
}

/// Answers a ResendRequest from `begin` to the end: reports again (PossDup), everything
/// else gap-filled up to the next report.
fn resend(o: &BrokerOpts, b: &mut Books, begin: u64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let last = b.next_out - 1;
    let mut s_ = begin.max(1);
    while s_ <= last {
        match b.sent.get(&s_).cloned() {
            Some(f) if decode(&f).msg_type() == "8" => {
                // Reports are resent as they were, PossDup.
                let mut m2 = decode(&f);
                m2.0.retain(|(t, _)| !matches!(*t, 8 | 9 | 10 | 35 | 43 | 52 | 122));
                let orig = decode(&f).get(52).unwrap_or("").to_string();
                let mut fields: Vec<(u32, String)> = Vec::new();
                for (t, v) in m2.0 {
                    fields.push((t, v));
                    if t == 34 {
                        fields.push((43, "Y".into()));
                    }
                }
                let pos = fields.iter().position(|(t, _)| *t == 56).unwrap_or(0);
                fields.insert(pos, (52, utc_now()));
                fields.push((122, orig));
                out.push(encode("FIX.4.4", "8", &fields));
                s_ += 1;
            }
            _ => {
                // Admin or unknown: gap fill up to the next report.
                let mut next = s_ + 1;
                while next <= last
                    && b.sent.get(&next).map(|f| decode(f).msg_type() != "8") != Some(false)
                {
                    next += 1;
                }
                out.push(encode(
                    "FIX.4.4",
                    "4",
                    &[
                        (34, s_.to_string()),
                        (43, "Y".into()),
                        (49, o.sender.clone()),
                        (52, utc_now()),
                        (56, o.target.clone()),
                        (122, utc_now()),
                        (36, next.to_string()),
                        (123, "Y".into()),
                    ],
                ));
                s_ = next;
            }
        }
    }
    out
}

fn business_reject(o: &BrokerOpts, b: &mut Books, m: &Msg) -> Vec<u8> {
    numbered(
        o,
        b,
        "j",
        vec![
            (45, m.seq().to_string()),
            (58, "unsupported message type".into()),
            (372, m.msg_type().to_string()),
            (380, "3".into()),
        ],
    )
}

fn new_order(o: &BrokerOpts, b: &mut Books, m: &Msg, poss_dup: bool) -> Vec<Vec<u8>> {
    let cl = m.get(11).unwrap_or("").to_string();
    if let Some(first) = b.alias.get(&cl).cloned() {
        if poss_dup && o.dedupe_poss_dup {
            return vec![];
        }
        // Executed again: a second order under the same ClOrdID, booked as such.
        b.duplicate_executions += 1;
        let x = b.orders.get_mut(&first).unwrap();
        x.executions += 1;
        let (qty, px) = (x.qty, x.px);
        x.qty += qty;
        x.status = b'1';
        let mut out = vec![];
        if o.fill_at_once {
            out.push(fill(o, b, &first, qty, px));
        }
        return out;
    }
    let id = b.next_order_id;
    b.next_order_id += 1;
    let px = m.get(44).map(dec4).unwrap_or(100 * 10_000);
    let order = BookOrder {
        order_id: id,
        first_cl: cl.clone(),
        cl: cl.clone(),
        symbol: m.get(55).unwrap_or("").to_string(),
        side: m.get(54).and_then(|s| s.bytes().next()).unwrap_or(b'1'),
        qty: m.get(38).map(dec4).unwrap_or(0),
        px,
        cum: 0,
        notional: 0,
        status: b'0',
        executions: 1,
    };
    b.orders.insert(cl.clone(), order);
    b.alias.insert(cl.clone(), cl.clone());
    b.new_orders += 1;
    let rests = o.rest_every > 0 && b.new_orders % o.rest_every == 0;
    let mut out = vec![report(o, b, &cl, b'0', None, vec![])];
    if o.fill_at_once && !rests {
        let qty = b.orders[&cl].qty;
        out.push(fill(o, b, &cl, qty, px));
    }
    out
}

fn cancel_reject(
    o: &BrokerOpts,
    b: &mut Books,
    m: &Msg,
    key: Option<&str>,
    response_to: &str,
) -> Vec<u8> {
    let status = key
        .and_then(|k| b.orders.get(k))
        .map(|x| x.status)
        .unwrap_or(b'8');
    let order_id = key
        .and_then(|k| b.orders.get(k))
        .map(|x| x.order_id.to_string())
        .unwrap_or_else(|| "NONE".into());
    let reason = if key.is_some() { "0" } else { "1" };
    numbered(
        o,
        b,
        "9",
        vec![
            (11, m.get(11).unwrap_or("").to_string()),
            (37, order_id),
            (39, (status as char).to_string()),
            (41, m.get(41).unwrap_or("").to_string()),
            (102, reason.into()),
            (434, response_to.into()),
        ],
    )
}

fn cancel(o: &BrokerOpts, b: &mut Books, m: &Msg) -> Vec<u8> {
    let orig = m.get(41).unwrap_or("");
    let key = b.alias.get(orig).cloned();
    match key {
        Some(k) if matches!(b.orders[&k].status, b'0' | b'1') => {
            let cl = m.get(11).unwrap_or("").to_string();
            b.alias.insert(cl.clone(), k.clone());
            let x = b.orders.get_mut(&k).unwrap();
            x.status = b'4';
            let prev = std::mem::replace(&mut x.cl, cl);
            report(o, b, &k, b'4', None, vec![(41, prev)])
        }
        Some(k) => cancel_reject(o, b, m, Some(&k), "1"),
        None => cancel_reject(o, b, m, None, "1"),
    }
}

fn replace(o: &BrokerOpts, b: &mut Books, m: &Msg) -> Vec<u8> {
    let orig = m.get(41).unwrap_or("");
    let key = b.alias.get(orig).cloned();
    match key {
        Some(k) if matches!(b.orders[&k].status, b'0' | b'1') => {
            let cl = m.get(11).unwrap_or("").to_string();
            b.alias.insert(cl.clone(), k.clone());
            let x = b.orders.get_mut(&k).unwrap();
            if let Some(q) = m.get(38).map(dec4) {
                x.qty = q.max(x.cum);
            }
            if let Some(p) = m.get(44).map(dec4) {
                x.px = p;
            }
            let prev = std::mem::replace(&mut x.cl, cl);
            report(o, b, &k, b'5', None, vec![(41, prev)])
        }
        Some(k) => cancel_reject(o, b, m, Some(&k), "2"),
        None => cancel_reject(o, b, m, None, "2"),
    }
}

/// An ExecutionReport answering a status request (150=I), or a mass status one (584).
fn status(o: &BrokerOpts, b: &mut Books, cl: &str, mass: Option<String>) -> Vec<u8> {
    match b.alias.get(cl).cloned() {
        Some(k) => {
            let mut extra = vec![];
            if let Some(id) = mass {
                extra.push((584, id));
            }
            report(o, b, &k, b'I', None, extra)
        }
        None => numbered(
            o,
            b,
            "8",
            vec![
                (6, "0".into()),
                (11, cl.to_string()),
                (14, "0".into()),
                (17, "NONE".into()),
                (37, "NONE".into()),
                (39, "8".into()),
                (54, "1".into()),
                (55, "NONE".into()),
                (58, "unknown order".into()),
                (150, "I".into()),
                (151, "0".into()),
            ],
        ),
    }
}
