//! FIX fuzz targets (docs/fuzzing.md): the zero-copy codec, the session state machine
//! fed a peer's byte stream in pieces, and the broker venue's reading of
//! ExecutionReports. Each is `fn(&[u8]) -> Result<String, String>` for the engine:
//! `Err` is a broken promise, a panic a crash, `Ok` a coarse outcome name.
//!
//! Not a differential against fefix: fefix 0.7 panics (rather than erring) on a
//! non-numeric NumInGroup or Length value and on non-digit tags, files top-level fields
//! after a repeating group under the group, and reads MaxMessageSize (383) as a data
//! length (tests/fix_codec.rs lists its quirks) — on mutated frames it would report its
//! own bugs, not ours. tests/fix_codec.rs compares the two on well-formed frames.

use execd::config::Registry;
use execd::model::fixed::{Price, Qty};
use execd::model::ids::{AccountId, ClOrdId, InstrumentId, OrderId, OrderType, Side, Tif};
use execd::venue::fix::codec::{checksum, frame, Decoder, Encoder, FrameError, Msg, SOH};
use execd::venue::fix::dictionary::{Dictionary, Layouts, ValidateOptions};
use execd::venue::fix::probe::ReportProbe;
use execd::venue::fix::reject::SessionRejectReason;
use execd::venue::fix::session::{
    Role, SeqNums, Session, SessionConfig, SessionEvent, SessionIo, State,
};
use execd::venue::{VenueEvent, VenueEventKind, VenueOrder};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// Tokens of the FIX tag=value format worth inserting.
pub const FIX_TOKENS: &[&[u8]] = &[
    b"8=FIX.4.4\x01",
    b"8=FIX.4.2\x01",
    b"8=FIXT.1.1\x01",
    b"\x0110=",
    b"9=",
    b"9=0\x01",
    b"9=1048576\x01",
    b"9=00000000001\x01",
    b"35=A\x01",
    b"35=0\x01",
    b"35=1\x01",
    b"35=2\x01",
    b"35=3\x01",
    b"35=4\x01",
    b"35=5\x01",
    b"35=8\x01",
    b"35=D\x01",
    b"35=j\x01",
    b"34=",
    b"34=1\x01",
    b"43=Y\x01",
    b"122=20260105-15:00:00\x01",
    b"141=Y\x01",
    b"123=Y\x01",
    b"36=",
    b"7=",
    b"16=0\x01",
    b"16=999999\x01",
    b"108=",
    b"112=x\x01",
    b"98=0\x01",
    b"1137=9\x01",
    b"150=F\x01",
    b"150=",
    b"39=",
    b"11=6b04-42-0\x01",
    b"11=",
    b"31=",
    b"32=",
    b"12=",
    b"38=",
    b"44=",
    b"14=",
    b"6=",
    b"95=3\x0196=",
    b"18446744073709551615",
    b"9223372036854775807",
    b"999999999999",
    b"1000000000000",
    b"92233720368547758.07",
    b"0.000000000000000001",
    b"0",
    b"-1",
    b"-0",
    b".",
    b"\x01",
    b"=",
    b"\n",
];

/// Repairs BodyLength (9) and CheckSum (10) of every frame-like run in a mutated input,
/// in place, so mutations get past framing and reach decoding, the session and the
/// report mapping. BodyLength is rewritten zero-padded in the digits it has (FIX
/// framing accepts padding); one that needs more digits than it has is left alone.
pub fn fix_fixup(b: &mut [u8]) {
    let mut i = 0;
    let mut frames = 0;
    while i + 2 <= b.len() && frames < 256 {
        let Some(p) = find(&b[i..], b"8=") else {
            return;
        };
        let start = i + p;
        match repair_at(b, start) {
            Some(end) => {
                i = end.max(start + 1);
                frames += 1;
            }
            None => i = start + 1,
        }
    }
}

fn repair_at(b: &mut [u8], start: usize) -> Option<usize> {
    let bs = start + 2;
    let bs_end = bs + b.get(bs..)?.iter().take(17).position(|&c| c == SOH)?;
    if bs_end == bs || b.get(bs_end + 1..bs_end + 3)? != b"9=" {
        return None;
    }
    let d0 = bs_end + 3;
    let nd = b.get(d0..)?.iter().take(11).position(|&c| c == SOH)?;
    if nd == 0 {
        return None;
    }
    let body_start = d0 + nd + 1;
    let t = body_start - 1 + find(b.get(body_start - 1..)?, b"\x0110=")? + 1;
    let digits = (t - body_start).to_string();
    if digits.len() > nd {
        return None;
    }
    let pad = nd - digits.len();
    b[d0..d0 + pad].fill(b'0');
    b[d0 + pad..d0 + nd].copy_from_slice(digits.as_bytes());
    let c0 = t + 3;
    if c0 + 3 > b.len() {
        return Some(b.len());
    }
    let sum = checksum(&b[start..t]);
    b[c0..c0 + 3].copy_from_slice(format!("{sum:03}").as_bytes());
    Some(c0 + 3 + usize::from(b.get(c0 + 3) == Some(&SOH)))
}

fn find(hay: &[u8], pat: &[u8]) -> Option<usize> {
    hay.windows(pat.len()).position(|w| w == pat)
}

/// The frames of a stream, as the session would cut them (garbled runs skipped).
fn frames_of(input: &[u8], mut each: impl FnMut(&[u8])) {
    let mut pos = 0;
    let mut n = 0;
    while pos < input.len() && n < 256 {
        n += 1;
        match frame(&input[pos..]) {
            Ok(k) => {
                each(&input[pos..pos + k]);
                pos += k;
            }
            Err(FrameError::Incomplete) => return,
            Err(FrameError::Garbled { skip, .. }) => pos += skip.max(1),
        }
    }
}

/// Checks a frame by hand, not with the codec: BodyLength counts the bytes from after
/// `9=…<SOH>` to the `10=`, CheckSum is their sum mod 256 as three digits.
fn check_wire(f: &[u8]) -> Result<(), String> {
    let show = || String::from_utf8_lossy(f).replace('\x01', "|");
    let n = f.len();
    if n < 7 || &f[n - 7..n - 4] != b"10=" || f[n - 1] != SOH {
        return Err(format!("frame does not end in 10=nnn|: {}", show()));
    }
    let claimed = std::str::from_utf8(&f[n - 4..n - 1])
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
        .ok_or_else(|| format!("CheckSum not three digits: {}", show()))?;
    let sum = f[..n - 7].iter().map(|&b| b as u32).sum::<u32>() % 256;
    if claimed != sum {
        return Err(format!(
            "CheckSum {claimed} but the bytes sum to {sum}: {}",
            show()
        ));
    }
    let s1 = f.iter().position(|&c| c == SOH).ok_or("no SOH")?;
    let rest = &f[s1 + 1..];
    let s2 = rest
        .iter()
        .position(|&c| c == SOH)
        .ok_or("no SOH after 9")?;
    let len: usize = std::str::from_utf8(rest.get(2..s2).ok_or("no 9=")?)
        .ok()
        .filter(|_| rest.starts_with(b"9="))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("BodyLength unreadable: {}", show()))?;
    let body = n - 7 - (s1 + 1 + s2 + 1);
    if len != body {
        return Err(format!(
            "BodyLength {len} but the body is {body} bytes: {}",
            show()
        ));
    }
    Ok(())
}

// ----------------------------------------------------------------------------- codec

/// The codec: `frame` never claims more than it is given, decoding never panics, and a
/// frame that frames and decodes, re-encoded (same BeginString, MsgType, then the other
/// fields in order), frames and decodes to the same fields.
pub fn codec_target(input: &[u8]) -> Result<String, String> {
    let mut d = Decoder::new();
    let _ = d.decode(input).map(|m| m.len());
    let mut pos = 0;
    let mut first: Option<String> = None;
    let mut n = 0;
    while pos < input.len() && n < 64 {
        n += 1;
        let rest = &input[pos..];
        let outcome = match frame(rest) {
            Ok(k) if k == 0 || k > rest.len() => {
                return Err(format!("frame says {k} bytes of {}", rest.len()))
            }
            Ok(k) => {
                let o = roundtrip(&rest[..k], &mut d)?;
                pos += k;
                o
            }
            Err(FrameError::Incomplete) => {
                first.get_or_insert_with(|| "incomplete".into());
                break;
            }
            Err(FrameError::Garbled { skip, why }) => {
                if skip == 0 || skip > rest.len() {
                    return Err(format!("garbled: skip {skip} of {} bytes", rest.len()));
                }
                pos += skip;
                format!("garbled {why:?}")
            }
        };
        first.get_or_insert(outcome);
    }
    Ok(first.unwrap_or_else(|| "empty".into()))
}

type Fields = Vec<(u32, Vec<u8>)>;

thread_local! {
    /// Layouts remembered across inputs, as a session remembers them across messages:
    /// mutated inputs repeat a seed's layout with other values. A difference found may
    /// need the inputs before it to happen again; its message names the frame.
    static LAYOUTS: RefCell<[Layouts; 6]> = RefCell::new(std::array::from_fn(|_| Layouts::new()));
}

/// Each version's dictionary as sessions have it, then with user-defined tags refused.
fn validating_dictionaries() -> &'static [Dictionary; 6] {
    static D: OnceLock<[Dictionary; 6]> = OnceLock::new();
    D.get_or_init(|| {
        let strict = ValidateOptions {
            allow_unknown_user_tags: false,
        };
        ["FIX.4.2", "FIX.4.4", "FIX.5.0SP2"]
            .iter()
            .flat_map(|v| {
                let d = || Dictionary::builtin(v).expect("built-in dictionary");
                [d(), d().with_options(strict)]
            })
            .collect::<Vec<_>>()
            .try_into()
            .expect("six dictionaries")
    })
}

/// A session's validation (`validate_seen`, layouts remembered) answers what a full
/// validation answers, in each version's dictionary under either option.
fn same_validation(m: &Msg<'_>) -> Result<(), String> {
    LAYOUTS.with(|l| {
        for (d, seen) in validating_dictionaries()
            .iter()
            .zip(l.borrow_mut().iter_mut())
        {
            let full = d.validate(m);
            let seen = d.validate_seen(m, seen);
            if full != seen {
                return Err(format!(
                    "{} {:?}: validate_seen said {seen:?}, validate {full:?}",
                    d.version(),
                    d.options()
                ));
            }
        }
        Ok(())
    })
}

fn roundtrip(f: &[u8], d: &mut Decoder) -> Result<String, String> {
    let show = || String::from_utf8_lossy(f).replace('\x01', "|");
    check_wire(f).map_err(|e| format!("frame() accepted it, but {e}"))?;
    let fields: Fields = match d.decode(f) {
        Err(e) => {
            let e = format!("{e:?}");
            return Ok(format!(
                "decode {}",
                e.split([' ', '{']).next().unwrap_or("")
            ));
        }
        Ok(m) => {
            same_validation(&m).map_err(|e| format!("{e} for {}", show()))?;
            m.fields().map(|x| (x.tag, x.value.to_vec())).collect()
        }
    };
    let tags: Vec<u32> = fields.iter().map(|x| x.0).collect();
    if tags.len() < 4 || tags[..3] != [8, 9, 35] || tags[tags.len() - 1] != 10 {
        return Err(format!(
            "decoded, but not 8, 9, 35 … 10: {tags:?} in {}",
            show()
        ));
    }
    let Ok(begin) = std::str::from_utf8(&fields[0].1) else {
        return Ok("decoded, BeginString not UTF-8".into());
    };
    let mut e = Encoder::new(begin, f.len() + 64);
    e.start(&fields[2].1);
    for (t, v) in &fields[3..fields.len() - 1] {
        e.bytes(*t, v);
    }
    let again = e.finish().to_vec();
    if frame(&again) != Ok(again.len()) {
        return Err(format!(
            "{} re-encoded as {} does not frame: {:?}",
            show(),
            String::from_utf8_lossy(&again).replace('\x01', "|"),
            frame(&again)
        ));
    }
    check_wire(&again).map_err(|e| format!("the encoder wrote a bad frame: {e}"))?;
    let back: Fields = match d.decode(&again) {
        Ok(m) => m.fields().map(|x| (x.tag, x.value.to_vec())).collect(),
        Err(e) => return Err(format!("{} re-encoded does not decode: {e:?}", show())),
    };
    let strip = |v: &Fields| -> Fields {
        v.iter()
            .filter(|x| x.0 != 9 && x.0 != 10)
            .cloned()
            .collect()
    };
    if strip(&back) != strip(&fields) {
        return Err(format!(
            "{} re-encoded decodes to other fields: {}",
            show(),
            String::from_utf8_lossy(&again).replace('\x01', "|")
        ));
    }
    Ok("roundtrip".into())
}

// --------------------------------------------------------------------------- session

const NS: u64 = 1_000_000_000;
/// 2026-01-05 15:00:00 UTC: the fake clock's start, and the seeds' SendingTime.
const T0: u64 = 1_767_625_200 * NS;
const US: &str = "EXECD";
const PEER: &str = "BROKER";

/// `MAX_RX_BYTES` in src/venue/fix/session.rs (crate-private): the receive buffer.
const MAX_RX_BYTES: usize = 2 << 20;
/// `MAX_QUEUED` there: messages kept ahead of a gap.
const MAX_QUEUED: usize = 65_536;

#[derive(Debug)]
enum Did {
    Send(Vec<u8>),
    Store(u64, u64),
    Reset(SeqNums),
    App,
    Event(SessionEvent),
}

#[derive(Default)]
struct Io {
    did: Vec<Did>,
    store: HashMap<u64, Vec<u8>>,
    unsent: usize,
    limit: usize,
    refuse_odd: bool,
}

impl SessionIo for Io {
    fn send(&mut self, f: &[u8]) {
        self.unsent += f.len();
        self.did.push(Did::Send(f.to_vec()));
    }
    fn store(&mut self, seq: u64, f: &[u8]) {
        self.store.insert(seq, f.to_vec());
        self.did
            .push(Did::Store(seq, xxhash_rust::xxh3::xxh3_64(f)));
    }
    fn stored(&self, seq: u64) -> Option<&[u8]> {
        self.store.get(&seq).map(Vec::as_slice)
    }
    fn reset(&mut self, seqs: SeqNums) {
        self.store.clear();
        self.did.push(Did::Reset(seqs));
    }
    fn unsent(&self) -> usize {
        self.unsent
    }
    fn unsent_limit(&self) -> usize {
        self.limit
    }
    fn may_resend(&mut self, seq: u64, _: &Msg<'_>) -> bool {
        !(self.refuse_odd && seq % 2 == 1)
    }
    fn app(&mut self, _: &Msg<'_>, _: Result<(), SessionRejectReason>) {
        self.did.push(Did::App);
    }
    fn event(&mut self, ev: SessionEvent) {
        self.did.push(Did::Event(ev));
    }
}

/// What the session must keep to, checked against what it did (`Io::did`) after each
/// call.
struct Oracle {
    begin: String,
    connected: bool,
    logged_on: bool,
    logged_on_ever: bool,
    /// No frame of ours went out on this connection yet.
    fresh_connection: bool,
    /// The last MsgSeqNum sent without PossDupFlag (0: none).
    last_out: u64,
    /// The last number stored, and what each stored number's frame hashes to, since
    /// the last reset.
    last_stored: u64,
    stored: HashMap<u64, u64>,
    /// Our numbers were reset to 1 since the last message went out.
    reset_to_one: bool,
    sends: usize,
    apps: usize,
    last: String,
}

impl Oracle {
    /// Checks what the session did in one call; `window` holds the inbound bytes it had
    /// in that call (what was buffered and the new chunk), empty for timers.
    fn after(&mut self, io: &mut Io, s: &Session, window: &[u8]) -> Result<(), String> {
        let did = std::mem::take(&mut io.did);
        for (k, d) in did.iter().enumerate() {
            match d {
                Did::Send(f) => {
                    if !self.connected {
                        return Err("a frame sent with no connection".into());
                    }
                    let next_disconnects = matches!(
                        did.get(k + 1),
                        Some(Did::Event(SessionEvent::Disconnect(_)))
                    );
                    self.on_send(f, next_disconnects)?;
                }
                Did::Store(seq, h) => {
                    if *seq != self.last_stored + 1 {
                        return Err(format!(
                            "stored {seq} after {}: numbers are taken one by one",
                            self.last_stored
                        ));
                    }
                    self.last_stored = *seq;
                    self.stored.insert(*seq, *h);
                }
                Did::Reset(seqs) => {
                    self.stored.clear();
                    self.last_stored = seqs.next_out.saturating_sub(1);
                    if seqs.next_out == 1 {
                        self.reset_to_one = true;
                    }
                }
                Did::App => {
                    if !self.connected || !self.logged_on {
                        return Err(format!(
                            "an application message delivered {}",
                            if self.connected {
                                "before LoggedOn"
                            } else {
                                "after Disconnect"
                            }
                        ));
                    }
                    self.apps += 1;
                }
                Did::Event(ev) => {
                    self.last = event_name(ev);
                    match ev {
                        SessionEvent::LoggedOn => {
                            if find(window, b"\x0135=A\x01").is_none() {
                                return Err("LoggedOn without a Logon among the bytes".into());
                            }
                            if !self.connected {
                                return Err("LoggedOn with no connection".into());
                            }
                            self.logged_on = true;
                            self.logged_on_ever = true;
                        }
                        SessionEvent::LoggedOut if find(window, b"\x0135=5\x01").is_none() => {
                            return Err("LoggedOut without a Logout among the bytes".into());
                        }
                        SessionEvent::Disconnect(_) => {
                            self.connected = false;
                            self.logged_on = false;
                        }
                        _ => {}
                    }
                }
            }
        }
        let state = s.state();
        if !self.connected && state != State::Disconnected {
            return Err(format!("{state:?} after Disconnect"));
        }
        if state == State::Active && !self.logged_on {
            return Err("Active without LoggedOn".into());
        }
        if s.buffered() > MAX_RX_BYTES {
            return Err(format!("{} bytes buffered", s.buffered()));
        }
        if s.queued() > MAX_QUEUED {
            return Err(format!("{} messages queued", s.queued()));
        }
        if state == State::Disconnected && (s.buffered() > 0 || s.queued() > 0) {
            return Err("disconnected, yet bytes or messages are kept".into());
        }
        Ok(())
    }

    fn on_send(&mut self, f: &[u8], next_disconnects: bool) -> Result<(), String> {
        let show = || String::from_utf8_lossy(f).replace('\x01', "|");
        self.sends += 1;
        if frame(f) != Ok(f.len()) {
            return Err(format!("sent a frame that does not frame: {}", show()));
        }
        check_wire(f).map_err(|e| format!("sent: {e}"))?;
        let mut d = Decoder::new();
        let m = d
            .decode(f)
            .map_err(|e| format!("sent a frame that does not decode ({e:?}): {}", show()))?;
        if m.get(8) != Some(self.begin.as_bytes())
            || m.get(49) != Some(US.as_bytes())
            || m.get(56) != Some(PEER.as_bytes())
        {
            return Err(format!(
                "sent with another BeginString or CompIDs: {}",
                show()
            ));
        }
        let seq = m
            .seq()
            .ok_or_else(|| format!("sent without a MsgSeqNum: {}", show()))?;
        let first = std::mem::replace(&mut self.fresh_connection, false);
        if m.get(43) == Some(b"Y") {
            // A resend: an old number, and a GapFill moves the peer to one we used.
            if seq > self.last_stored {
                return Err(format!(
                    "PossDup {seq} beyond the last number taken ({}): {}",
                    self.last_stored,
                    show()
                ));
            }
            if m.msg_type() == b"4" {
                let new = m.get_u64(36).unwrap_or(0);
                if new <= seq || new > self.last_stored + 1 {
                    return Err(format!(
                        "GapFill {seq} → {new} with {} the last number taken: {}",
                        self.last_stored,
                        show()
                    ));
                }
            }
            return Ok(());
        }
        // FIX: each message one more than the last; 1 again only at a reset, said by a
        // Logon with ResetSeqNumFlag, or at the start of a connection after a reset
        // the configuration calls for (ResetOnLogon/Logout/Disconnect).
        let reset_logon = m.msg_type() == b"A" && m.get(141) == Some(b"Y");
        let in_order =
            seq == self.last_out + 1 || (seq == 1 && self.reset_to_one && (reset_logon || first));
        // A Logout that ends the connection at once may pass over numbers stored behind
        // a resend that will now never go out: they are in the store, and the next
        // connection's ResendRequest gets them.
        let recoverable = m.msg_type() == b"5"
            && next_disconnects
            && seq > self.last_out
            && (self.last_out + 1..seq).all(|s| self.stored.contains_key(&s));
        if !in_order && !recoverable {
            return Err(format!(
                "sent {seq} after {} without PossDupFlag or a reset: {}",
                self.last_out,
                show()
            ));
        }
        match self.stored.get(&seq) {
            Some(&h) if h == xxhash_rust::xxh3::xxh3_64(f) => {}
            Some(_) => return Err(format!("sent {seq} other than it was stored: {}", show())),
            None => return Err(format!("sent {seq} before storing it: {}", show())),
        }
        self.last_out = seq;
        self.reset_to_one = false;
        Ok(())
    }
}

fn event_name(ev: &SessionEvent) -> String {
    match ev {
        SessionEvent::Disconnect(why) => {
            let head = why.split([':', ',', '(']).next().unwrap_or("");
            format!("Disconnect {head}")
        }
        SessionEvent::RejectSent { reason, .. } => format!("RejectSent {reason:?}"),
        other => {
            let d = format!("{other:?}");
            d.split([' ', '(', '{']).next().unwrap_or("").to_string()
        }
    }
}

/// A small deterministic generator: read boundaries and clock steps from two input
/// bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn dictionaries() -> &'static [Arc<Dictionary>; 3] {
    static D: OnceLock<[Arc<Dictionary>; 3]> = OnceLock::new();
    D.get_or_init(|| {
        ["FIX.4.2", "FIX.4.4", "FIX.5.0SP2"]
            .map(|v| Arc::new(Dictionary::builtin(v).expect("built-in dictionary")))
    })
}

/// What one input did to a session.
pub struct SessionRun {
    pub logged_on: bool,
    pub apps: usize,
    pub sends: usize,
    pub outcome: String,
}

/// Header of a session input (4 bytes, then the peer's byte stream, one connection's
/// bytes after another, separated by '\n' where the peer hangs up):
/// 0: bit 0 role (0 acceptor, 1 initiator), bits 1-2 version (0 FIX.4.2, 2 FIXT.1.1,
///    else FIX.4.4), bit 3 ResetOnLogon, 4 ResetOnLogout, 5 ResetOnDisconnect, 6 a
///    dictionary, 7 refuse to resend odd numbers;
/// 1, 2: read boundaries and clock steps;
/// 3: bits 0-1 the output bound (none, 4 KiB, 1 KiB, 64 KiB), 2-3 reconnects allowed,
///    4-7 how fast the output drains.
pub fn session_run(input: &[u8]) -> Result<SessionRun, String> {
    let h = |i: usize| input.get(i).copied().unwrap_or(0);
    let (c, io_byte) = (h(0), h(3));
    let stream = input.get(4..).unwrap_or(&[]);
    let (begin, appl, dict) = match (c >> 1) & 3 {
        0 => ("FIX.4.2", None, 0),
        2 => ("FIXT.1.1", Some("9".to_string()), 2),
        _ => ("FIX.4.4", None, 1),
    };
    let role = if c & 1 == 1 {
        Role::Initiator
    } else {
        Role::Acceptor
    };
    let cfg = SessionConfig {
        begin_string: begin.into(),
        default_appl_ver_id: appl,
        sender_comp_id: US.into(),
        target_comp_id: PEER.into(),
        role,
        heartbeat_secs: 30,
        reset_on_logon: c & 8 != 0,
        reset_on_logout: c & 16 != 0,
        reset_on_disconnect: c & 32 != 0,
        username: None,
        password: None,
        logon_timeout_secs: 10,
        logout_timeout_secs: 5,
        schedule: None,
        dictionary: (c & 64 != 0).then(|| Arc::clone(&dictionaries()[dict])),
        micros: false,
    };
    let mut s = Session::new(
        cfg,
        SeqNums {
            next_out: 1,
            next_in: 1,
        },
    );
    let mut io = Io {
        limit: match io_byte & 3 {
            0 => usize::MAX,
            1 => 4096,
            2 => 1024,
            _ => 65_536,
        },
        refuse_odd: c & 128 != 0,
        ..Io::default()
    };
    let drain = 64usize << (io_byte >> 4);
    let mut reconnects = (io_byte >> 2) & 3;
    let mut o = Oracle {
        begin: begin.into(),
        connected: true,
        logged_on: false,
        logged_on_ever: false,
        fresh_connection: true,
        last_out: 0,
        last_stored: 0,
        stored: HashMap::new(),
        reset_to_one: false,
        sends: 0,
        apps: 0,
        last: "none".into(),
    };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (u64::from(h(1)) << 8 | u64::from(h(2))));
    let mut now = T0;
    s.on_connected(now, &mut io);
    o.after(&mut io, &s, &[])?;
    let mut pos = 0;
    let mut steps = 0;
    while pos < stream.len() {
        steps += 1;
        // This connection's bytes end at the next '\n': the peer hangs up there.
        let end = stream[pos..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(stream.len(), |p| pos + p);
        let left = end - pos;
        let n = if steps >= 256 {
            left
        } else {
            match rng.below(8) {
                0 => 1,
                1..=3 => 1 + rng.below(16) as usize,
                4..=6 => 1 + rng.below(256) as usize,
                _ => left,
            }
        }
        .min(left);
        if n > 0 && s.state() != State::Disconnected {
            let chunk = &stream[pos..pos + n];
            let buffered = s.buffered().min(pos);
            let window = &stream[pos - buffered..pos + n];
            s.on_bytes(now, chunk, &mut io);
            o.after(&mut io, &s, window)?;
        }
        pos += n;
        if rng.below(4) == 0 {
            now += match rng.below(16) {
                0 => (31 + rng.below(10)) * NS,
                _ => rng.below(1500) * 1_000_000,
            };
            s.on_timer(now, &mut io);
            o.after(&mut io, &s, &[])?;
        }
        io.unsent = io.unsent.saturating_sub(drain);
        if s.output_waiting() {
            s.on_writable(now, &mut io);
            o.after(&mut io, &s, &[])?;
        }
        let hung_up = pos == end && end < stream.len();
        if hung_up || s.state() == State::Disconnected {
            // The owner closes the connection (or sees it closed): what the peer sent
            // on it after that is lost; its next connection's bytes follow the '\n'.
            o.connected = false;
            o.logged_on = false;
            s.on_disconnected(now, &mut io);
            o.after(&mut io, &s, &[])?;
            pos = stream[pos..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(stream.len(), |p| pos + p + 1);
            if reconnects == 0 {
                break;
            }
            reconnects -= 1;
            io.unsent = 0;
            s.on_connected(now, &mut io);
            o.connected = true;
            o.fresh_connection = true;
            o.after(&mut io, &s, &[])?;
        }
    }
    let outcome = format!(
        "{role:?} {:?} {}{}",
        s.state(),
        o.last,
        if o.apps > 0 { " app" } else { "" }
    );
    // Time goes on: a heartbeat, a test request, and the output drains.
    for _ in 0..2 {
        now += 31 * NS;
        io.unsent = 0;
        s.on_writable(now, &mut io);
        o.after(&mut io, &s, &[])?;
        s.on_timer(now, &mut io);
        o.after(&mut io, &s, &[])?;
    }
    Ok(SessionRun {
        logged_on: o.logged_on_ever,
        apps: o.apps,
        sends: o.sends,
        outcome,
    })
}

/// The session target: see [`session_run`].
pub fn session_target(input: &[u8]) -> Result<String, String> {
    session_run(input).map(|r| r.outcome)
}

// --------------------------------------------------------------------- exec reports

/// examples/fix-sim.toml, loaded once.
fn registry() -> &'static Arc<Registry> {
    static R: OnceLock<Arc<Registry>> = OnceLock::new();
    R.get_or_init(|| {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/fix-sim.toml");
        let text = std::fs::read_to_string(p).expect("examples/fix-sim.toml");
        Arc::new(Registry::from_toml(&text).expect("fix-sim.toml loads"))
    })
}

const EPOCH: u32 = 0x6b04;

fn cl(n: u64) -> ClOrdId {
    ClOrdId {
        epoch: EPOCH,
        order: OrderId(n),
        version: 0,
    }
}

/// The orders every input's probe remembers: (order, symbol, side, type, qty, limit,
/// stop), prices in cents.
const ORDERS: &[(u64, &str, Side, OrderType, i64, i64, i64)] = &[
    (42, "AAPL", Side::Buy, OrderType::Limit, 10, 10_100, 0),
    (43, "AAPL", Side::Sell, OrderType::Market, 5, 0, 0),
    (44, "MSFT", Side::Sell, OrderType::Stop, 7, 0, 9_500),
    (
        45,
        "AAPL",
        Side::Buy,
        OrderType::StopLimit,
        3,
        10_300,
        10_200,
    ),
    (46, "MSFT", Side::Sell, OrderType::Limit, 20, 9_950, 0),
];

fn venue_orders() -> Vec<VenueOrder> {
    let reg = registry();
    ORDERS
        .iter()
        .map(|&(n, sym, side, order_type, qty, limit, stop)| VenueOrder {
            cl: cl(n),
            account: AccountId(0),
            instrument: reg.instrument_by_names("sim", sym).expect("instrument").id,
            side,
            order_type,
            tif: Tif::Day,
            qty: Qty(qty),
            limit: Price(limit),
            stop: Price(stop),
            reduce_only: false,
        })
        .collect()
}

thread_local! {
    /// One probe per thread, its orders remembered again for each input: a fresh one
    /// per input allocates `max_orders` slots (65 536) and logs every anomaly whole to
    /// stderr (the mapping thins its log out past 100 lines), which would be most of
    /// the time spent. What an input changes (a replaced order's terms) is restored by
    /// remembering the orders again; counters are compared before and after.
    static PROBE: RefCell<Option<ReportProbe>> = const { RefCell::new(None) };
}

/// What the mapping made of one input.
pub struct ReportRun {
    pub messages: usize,
    pub fills: usize,
    pub events: usize,
    pub outcome: String,
}

/// The model of a remembered order the checks use: side, type, limit (cents).
type Terms = HashMap<u64, (Side, OrderType, i64)>;

pub fn reports_run(input: &[u8]) -> Result<ReportRun, String> {
    let reg = registry();
    let venue = reg
        .venue(&execd::model::ids::Name::new("sim").unwrap())
        .unwrap();
    let orders = venue_orders();
    let mut terms: Terms = orders
        .iter()
        .map(|o| (o.cl.order.0, (o.side, o.order_type, o.limit.0)))
        .collect();
    PROBE.with(|p| {
        let mut p = p.borrow_mut();
        let probe = p.get_or_insert_with(|| ReportProbe::new(Arc::clone(reg), venue));
        for o in &orders {
            probe.remember(o);
        }
        let mut d = Decoder::new();
        let mut run = ReportRun {
            messages: 0,
            fills: 0,
            events: 0,
            outcome: String::new(),
        };
        let mut failure: Option<String> = None;
        frames_of(input, |f| {
            if failure.is_some() {
                return;
            }
            let Ok(m) = d.decode(f) else { return };
            run.messages += 1;
            match one_report(probe, &m, &mut terms, reg) {
                Ok((o, fills, events)) => {
                    run.fills += fills;
                    run.events += events;
                    if run.outcome.is_empty() {
                        run.outcome = o;
                    }
                }
                Err(e) => {
                    failure = Some(format!(
                        "{e}: {}",
                        String::from_utf8_lossy(f).replace('\x01', "|")
                    ))
                }
            }
        });
        match failure {
            Some(e) => Err(e),
            None => {
                if run.outcome.is_empty() {
                    run.outcome = "no message".into();
                }
                Ok(run)
            }
        }
    })
}

fn one_report(
    probe: &mut ReportProbe,
    m: &Msg<'_>,
    terms: &mut Terms,
    reg: &Registry,
) -> Result<(String, usize, usize), String> {
    let before = probe.stats();
    let evs: Vec<VenueEvent> = probe.read(1, m);
    let after = probe.stats();
    let anomaly = after.anomalies > before.anomalies;
    let counted = anomaly
        || after.unknown_orders > before.unknown_orders
        || after.trade_corrections > before.trade_corrections
        || after.unsupported_received > before.unsupported_received
        || after.position_reports > before.position_reports
        || after.unsupported > before.unsupported;
    if evs.len() > 2 {
        return Err(format!("{} events from one message", evs.len()));
    }
    let mut fills = 0;
    for ev in &evs {
        match ev.kind {
            VenueEventKind::Fill {
                cl, px, qty, fee, ..
            } => {
                fills += 1;
                if px.0 <= 0 || qty.0 <= 0 || fee.0 < 0 {
                    return Err(format!("a fill of {qty:?} at {px:?}, fee {fee:?}"));
                }
                // Independently of Money::notional: px × qty at the money scale (6).
                let Some(inst) = m
                    .get(55)
                    .and_then(|s| std::str::from_utf8(s).ok())
                    .and_then(|s| reg.instrument_by_names("sim", s))
                    .map(|i| i.id)
                    .or_else(|| remembered_instrument(cl))
                else {
                    return Err("a fill for no instrument".into());
                };
                let i = &reg.instruments[inst.0 as usize];
                let scale = i.price_scale as u32 + i.qty_scale as u32;
                let notional = (px.0 as i128)
                    .checked_mul(qty.0 as i128)
                    .and_then(|v| {
                        if scale <= 6 {
                            v.checked_mul(10i128.pow(6 - scale))
                        } else {
                            Some(v / 10i128.pow(scale - 6))
                        }
                    })
                    .unwrap_or(i128::MAX);
                if fee.0 as i128 > notional {
                    return Err(format!("fee {fee:?} above the notional {notional}"));
                }
                if let Some(&(side, t, limit)) = terms.get(&cl.order.0) {
                    let limited = matches!(t, OrderType::Limit | OrderType::StopLimit);
                    let through = match side {
                        Side::Buy => px.0 > limit,
                        Side::Sell => px.0 < limit,
                    };
                    if limited && limit > 0 && through {
                        return Err(format!("a {side:?} limit at {limit} filled at {}", px.0));
                    }
                }
            }
            VenueEventKind::Replaced { cl, qty, limit } => {
                let Some(inst) = remembered_instrument(cl) else {
                    return Err("replaced an order not remembered".into());
                };
                let max = reg.instruments[inst.0 as usize].max_order_qty.0;
                if qty.0 <= 0 || qty.0 > max {
                    return Err(format!("replaced to {qty:?} (max {max})"));
                }
                let t = terms
                    .get_mut(&cl.order.0)
                    .ok_or("replaced, not remembered")?;
                // A market order has no price: 0, as VenueOrder says.
                if t.1 != OrderType::Market && limit.0 <= 0 {
                    return Err(format!("a {:?} replaced at {limit:?}", t.1));
                }
                if matches!(t.1, OrderType::Limit | OrderType::StopLimit) {
                    t.2 = limit.0;
                }
            }
            _ => {}
        }
    }
    if fills > 0 && anomaly {
        return Err("a fill and an anomaly from one message".into());
    }
    let mt = m.msg_type();
    let exec_type = m.get(150);
    let fix42 = m.get(8) == Some(b"FIX.4.2");
    let is_fill = mt == b"8"
        && match exec_type {
            Some(b"F") => true,
            Some(b"1" | b"2") => fix42,
            _ => false,
        };
    if is_fill && evs.is_empty() && !anomaly {
        return Err("a fill report vanished: no event, no anomaly".into());
    }
    // Besides events and counters, only these change nothing: pending/done-for-day and
    // the like, a RequestForPositionsAck, "no open orders" answering a mass status —
    // as the venue reads it: no ClOrdID of ours (none, or a placeholder such as
    // 11=NONE: one of ours would have made a status event) and none counted (911=0) or
    // OrdStatus rejected; a ListStatus that is not a refusal (431 other than 7: the list
    // is executing or done, which the legs' own reports tell).
    let benign = (mt == b"N" && m.get(431) != Some(b"7"))
        || (mt == b"8"
            && matches!(
                exec_type,
                Some(
                    b"6" | b"A"
                        | b"E"
                        | b"3"
                        | b"B"
                        | b"7"
                        | b"9"
                        | b"L"
                        | b"J"
                        | b"K"
                        | b"M"
                        | b"N"
                )
            ))
        || mt == b"AO"
        || (mt == b"8"
            && m.get(584).is_some()
            && exec_type == Some(b"I")
            && (m.get(11).is_none() || m.get(911) == Some(b"0") || m.get(39) == Some(b"8")));
    if evs.is_empty() && !counted && !benign {
        return Err("a message vanished: no event, no counter, not a no-change kind".into());
    }
    let what = match evs.first() {
        Some(e) => {
            let d = format!("{:?}", e.kind);
            d.split([' ', '{', '(']).next().unwrap_or("").to_string()
        }
        None if anomaly => "anomaly".into(),
        None if counted => "counted".into(),
        None => "nothing".into(),
    };
    let et = exec_type
        .and_then(|v| v.first())
        .filter(|c| c.is_ascii_alphanumeric())
        .map_or('-', |&c| c as char);
    let mt: String = String::from_utf8_lossy(&mt[..mt.len().min(2)]).into_owned();
    Ok((format!("{mt}/{et} {what}"), fills, evs.len()))
}

fn remembered_instrument(cl: ClOrdId) -> Option<InstrumentId> {
    let reg = registry();
    ORDERS
        .iter()
        .find(|o| o.0 == cl.order.0)
        .and_then(|o| reg.instrument_by_names("sim", o.1))
        .map(|i| i.id)
}

/// The ExecutionReport target: see [`reports_run`].
pub fn reports_target(input: &[u8]) -> Result<String, String> {
    reports_run(input).map(|r| r.outcome)
}

// ----------------------------------------------------------------------- seed corpus

/// A frame from the peer: the header the session checks, then `fields`.
fn peer_msg(begin: &str, seq: u64, mt: &str, ms: u64, fields: &[(u32, &str)]) -> Vec<u8> {
    peer_msg_dup(begin, seq, mt, ms, false, fields)
}

fn peer_msg_dup(
    begin: &str,
    seq: u64,
    mt: &str,
    ms: u64,
    poss_dup: bool,
    fields: &[(u32, &str)],
) -> Vec<u8> {
    let mut e = Encoder::new(begin, 1024);
    e.start(mt.as_bytes()).uint(34, seq);
    if poss_dup {
        e.flag(43, true);
    }
    e.bytes(49, PEER.as_bytes())
        .timestamp(52, T0 + ms * 1_000_000, false)
        .bytes(56, US.as_bytes());
    if poss_dup {
        e.timestamp(122, T0, false);
    }
    for (t, v) in fields {
        e.bytes(*t, v.as_bytes());
    }
    e.finish().to_vec()
}

fn logon(begin: &str, seq: u64, reset: bool) -> Vec<u8> {
    let mut f = vec![(98, "0"), (108, "30")];
    if reset {
        f.push((141, "Y"));
    }
    if begin == "FIXT.1.1" {
        f.push((1137, "9"));
    }
    peer_msg(begin, seq, "A", 0, &f)
}

fn order(begin: &str, seq: u64, id: &str) -> Vec<u8> {
    let f = vec![
        (11, id),
        (21, "1"),
        (55, "AAPL"),
        (54, "1"),
        (60, "20260105-15:00:00"),
        (38, "10"),
        (40, "2"),
        (44, "101"),
    ];
    peer_msg(begin, seq, "D", 10 * seq, &f)
}

fn exec(begin: &str, seq: u64, id: &str) -> Vec<u8> {
    let mut f = vec![
        (6, "100.5"),
        (11, id),
        (14, "3"),
        (17, "X-1"),
        (31, "100.5"),
        (32, "3"),
        (37, "B-77"),
        (39, "1"),
        (54, "1"),
        (55, "AAPL"),
    ];
    if begin == "FIX.4.2" {
        f.extend([(20, "0"), (150, "1"), (151, "7")]);
    } else {
        f.extend([(150, "F"), (151, "7")]);
    }
    peer_msg(begin, seq, "8", 10 * seq, &f)
}

/// Session seeds: (name, header, stream) for one BeginString.
fn session_seeds(begin: &str, v: u8) -> Vec<(String, Vec<u8>)> {
    let b = begin;
    let cat = |parts: Vec<Vec<u8>>| parts.concat();
    let hb = |seq| peer_msg(b, seq, "0", 10 * seq, &[]);
    let out: Vec<(&str, u8, u8, Vec<u8>)> = vec![
        // (name, config byte less version, io byte, stream)
        (
            "logon-app",
            0,
            0,
            cat(vec![
                logon(b, 1, false),
                order(b, 2, "o1"),
                exec(b, 3, "o1"),
                hb(4),
            ]),
        ),
        (
            "initiator-app",
            1,
            0,
            cat(vec![logon(b, 1, false), exec(b, 2, "o1"), hb(3)]),
        ),
        (
            "reset-logon",
            8,
            0,
            cat(vec![logon(b, 1, true), order(b, 2, "o1")]),
        ),
        (
            "initiator-reset-logon",
            1 | 8 | 64,
            0,
            cat(vec![
                logon(b, 1, true),
                exec(b, 2, "o1"),
                logon(b, 1, true),
                hb(2),
            ]),
        ),
        (
            "test-request",
            64,
            0,
            cat(vec![
                logon(b, 1, false),
                peer_msg(b, 2, "1", 20, &[(112, "x")]),
                peer_msg(b, 3, "1", 30, &[(112, "y")]),
                hb(4),
            ]),
        ),
        (
            "resend-request",
            0,
            2 | 0x10,
            cat(vec![
                logon(b, 1, false),
                peer_msg(b, 2, "1", 20, &[(112, "x")]),
                peer_msg(b, 3, "1", 30, &[(112, "y")]),
                peer_msg(b, 4, "2", 40, &[(7, "1"), (16, "0")]),
                order(b, 5, "o2"),
                peer_msg(b, 6, "2", 60, &[(7, "2"), (16, "3")]),
            ]),
        ),
        (
            "gap-fill",
            0,
            0,
            cat(vec![
                logon(b, 1, false),
                peer_msg(b, 2, "4", 20, &[(36, "5"), (123, "Y")]),
                order(b, 5, "o5"),
            ]),
        ),
        (
            "sequence-reset",
            1,
            0,
            cat(vec![
                logon(b, 1, false),
                exec(b, 2, "o1"),
                peer_msg(b, 3, "4", 30, &[(36, "10")]),
                exec(b, 10, "o2"),
            ]),
        ),
        (
            "gap-then-resent",
            0,
            0,
            cat(vec![
                logon(b, 1, false),
                order(b, 2, "o2"),
                order(b, 5, "o5"),
                order(b, 6, "o6"),
                peer_msg_dup(
                    b,
                    3,
                    "D",
                    30,
                    true,
                    &[
                        (11, "o3"),
                        (21, "1"),
                        (55, "AAPL"),
                        (54, "1"),
                        (60, "20260105-15:00:00"),
                        (38, "1"),
                        (40, "1"),
                    ],
                ),
                peer_msg_dup(b, 4, "4", 40, true, &[(36, "5"), (123, "Y")]),
                hb(7),
            ]),
        ),
        (
            "logout",
            16,
            0,
            cat(vec![
                logon(b, 1, false),
                order(b, 2, "o2"),
                peer_msg(b, 3, "5", 30, &[]),
            ]),
        ),
        (
            "relogon",
            32,
            4,
            cat(vec![
                logon(b, 1, false),
                peer_msg(b, 2, "5", 20, &[(58, "bye")]),
                b"\n".to_vec(),
                logon(b, 1, true),
                order(b, 2, "o2"),
            ]),
        ),
        (
            "reconnect",
            1 | 64,
            8,
            cat(vec![
                logon(b, 1, false),
                exec(b, 2, "o1"),
                b"\n".to_vec(),
                logon(b, 3, false),
                exec(b, 4, "o2"),
                peer_msg(b, 5, "2", 50, &[(7, "1"), (16, "0")]),
            ]),
        ),
        (
            "rejects",
            1,
            0,
            cat(vec![
                logon(b, 1, false),
                peer_msg(b, 2, "3", 20, &[(45, "1"), (58, "no"), (373, "5")]),
                peer_msg(b, 3, "j", 30, &[(45, "1"), (372, "D"), (380, "0")]),
                peer_msg(b, 4, "8", 40, &[(11, "o1")]),
                peer_msg(b, 1, "0", 50, &[]),
            ]),
        ),
    ];
    out.into_iter()
        .map(|(name, c, io, stream)| {
            let mut v = vec![c | (v << 1), 0x5a, 0xc3, io];
            v.extend_from_slice(&stream);
            (format!("{}-{name}", b.to_lowercase().replace('.', "")), v)
        })
        .collect()
}

fn report_msg(begin: &str, mt: &str, fields: &[(u32, &str)]) -> Vec<u8> {
    let mut e = Encoder::new(begin, 1024);
    e.start(mt.as_bytes())
        .uint(34, 7)
        .bytes(49, b"SIM")
        .timestamp(52, T0, false)
        .bytes(56, b"EXECD");
    for (t, v) in fields {
        e.bytes(*t, v.as_bytes());
    }
    e.finish().to_vec()
}

/// ExecutionReport seeds: (name, frames). Names starting `fill-` must give a Fill.
fn report_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let c42 = cl(42).to_string();
    let c43 = cl(43).to_string();
    let c44 = cl(44).to_string();
    let c45 = cl(45).to_string();
    let c46 = cl(46).to_string();
    let c99 = cl(999).to_string();
    let er = |begin: &str, id: &str, et: &str, st: &str, extra: &[(u32, &str)]| {
        let mut f: Vec<(u32, &str)> = vec![
            (6, "0"),
            (11, id),
            (14, "0"),
            (17, "X-1"),
            (37, "B-77"),
            (39, st),
            (54, "1"),
            (55, "AAPL"),
            (150, et),
            (151, "10"),
        ];
        f.extend_from_slice(extra);
        report_msg(begin, "8", &f)
    };
    let fill = |id: &str, px: &str, qty: &str, extra: &[(u32, &str)]| {
        let mut x = vec![(31, px), (32, qty), (12, "0.25")];
        x.extend_from_slice(extra);
        er("FIX.4.4", id, "F", "1", &x)
    };
    vec![
        ("ack", er("FIX.4.4", &c42, "0", "0", &[])),
        ("fill-buy-limit", fill(&c42, "100.125", "3", &[])),
        ("fill-sell-market", fill(&c43, "99", "5", &[(14, "5")])),
        ("fill-sell-stop", fill(&c44, "94.5", "7", &[(55, "MSFT")])),
        ("fill-stop-limit", fill(&c45, "102.5", "1", &[])),
        (
            "fill-sell-limit",
            fill(&c46, "99.51", "20", &[(55, "MSFT")]),
        ),
        ("fill-unknown-order", fill(&c99, "100", "1", &[])),
        ("through-limit", fill(&c42, "101.01", "1", &[])),
        (
            "through-sell-limit",
            fill(&c46, "99.49", "1", &[(55, "MSFT")]),
        ),
        ("bad-fill-no-qty", fill(&c42, "100", "0", &[])),
        ("bad-fill-negative-px", fill(&c42, "-1", "1", &[])),
        (
            "bad-fill-fee-negative",
            fill(&c42, "100", "1", &[(12, "-1")]),
        ),
        ("bad-fill-fee-above", fill(&c42, "1", "1", &[(12, "2")])),
        ("bad-fill-fine-qty", fill(&c42, "100", "0.5", &[])),
        ("cancel", er("FIX.4.4", &c42, "4", "4", &[])),
        (
            "replace",
            er("FIX.4.4", &c42, "5", "0", &[(38, "7"), (44, "99.5")]),
        ),
        ("replace-bare", er("FIX.4.4", &c43, "5", "0", &[])),
        (
            "replace-stop",
            er("FIX.4.4", &c44, "5", "0", &[(38, "6"), (99, "96")]),
        ),
        (
            "replace-too-big",
            er("FIX.4.4", &c42, "5", "0", &[(38, "5001")]),
        ),
        ("reject", er("FIX.4.4", &c42, "8", "8", &[(103, "3")])),
        ("expired", er("FIX.4.4", &c42, "C", "C", &[])),
        (
            "status",
            er("FIX.4.4", &c42, "I", "1", &[(14, "3"), (6, "100.5")]),
        ),
        ("restated", er("FIX.4.4", &c42, "D", "0", &[])),
        ("correction", er("FIX.4.4", &c42, "G", "1", &[])),
        ("bust", er("FIX.4.4", &c42, "H", "0", &[])),
        ("pending", er("FIX.4.4", &c42, "A", "A", &[])),
        ("unknown-exec-type", er("FIX.4.4", &c42, "Z", "0", &[])),
        (
            "exec-type-1-on-44",
            er("FIX.4.4", &c42, "1", "1", &[(31, "100"), (32, "1")]),
        ),
        (
            "fill-fix42-partial",
            er(
                "FIX.4.2",
                &c42,
                "1",
                "1",
                &[(20, "0"), (31, "100"), (32, "2")],
            ),
        ),
        (
            "fill-fix42-fill",
            er(
                "FIX.4.2",
                &c42,
                "2",
                "2",
                &[(20, "0"), (31, "100.99"), (32, "10")],
            ),
        ),
        (
            "fix42-status",
            er(
                "FIX.4.2",
                &c42,
                "0",
                "1",
                &[(20, "3"), (14, "2"), (6, "100")],
            ),
        ),
        ("wrong-clordid", fill("ABC", "100", "1", &[])),
        (
            "no-clordid",
            report_msg(
                "FIX.4.4",
                "8",
                &[(17, "X"), (150, "F"), (31, "1"), (32, "1")],
            ),
        ),
        (
            "mass-status-none",
            report_msg("FIX.4.4", "8", &[(150, "I"), (39, "0"), (584, "m1")]),
        ),
        (
            "cancel-reject",
            report_msg(
                "FIX.4.4",
                "9",
                &[
                    (11, &c42),
                    (37, "B-77"),
                    (39, "2"),
                    (41, &c42),
                    (102, "0"),
                    (434, "1"),
                ],
            ),
        ),
        (
            "business-reject",
            report_msg(
                "FIX.4.4",
                "j",
                &[(45, "3"), (372, "D"), (379, &c42), (380, "0")],
            ),
        ),
        (
            "position-report",
            report_msg(
                "FIX.4.4",
                "AP",
                &[
                    (1, "alpha"),
                    (55, "AAPL"),
                    (702, "1"),
                    (703, "TOT"),
                    (704, "100"),
                    (705, "0"),
                ],
            ),
        ),
        (
            "positions-ack",
            report_msg("FIX.4.4", "AO", &[(710, "p1"), (721, "1"), (728, "2")]),
        ),
        ("unsupported", report_msg("FIX.4.4", "R", &[(131, "q1")])),
        (
            "bad-fill-beyond-order",
            fill(&c43, "0.01", "9223372036854775807", &[(12, "0")]),
        ),
        (
            "fill-extreme-px",
            fill(&c43, "92233720368547758.07", "1", &[(12, "0")]),
        ),
        (
            "regress-notional-overflow",
            fill(
                &c43,
                "92233720368547758.07",
                "9223372036854775807",
                &[(12, "1")],
            ),
        ),
        (
            "fill-then-replace-then-fill",
            [
                fill(&c42, "100", "1", &[]),
                er("FIX.4.4", &c42, "5", "0", &[(38, "9"), (44, "100.5")]),
                fill(&c42, "100.5", "2", &[]),
            ]
            .concat(),
        ),
    ]
}

/// Writes the FIX seed corpus (`cargo test --test fuzz -- --ignored make_fix_seed_corpus`).
#[test]
#[ignore]
fn make_fix_seed_corpus() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let put = |target: &str, name: &str, bytes: &[u8]| {
        let d = root.join(target);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(name), bytes).unwrap();
    };
    // Codec: every session and report seed's frames, one a file, and a few edge cases.
    let mut seen = HashSet::new();
    for (begin, v) in [("FIX.4.2", 0u8), ("FIX.4.4", 1), ("FIXT.1.1", 2)] {
        for (name, bytes) in session_seeds(begin, v) {
            put("fix_session", &name, &bytes);
            let mut k = 0;
            frames_of(&bytes[4..], |f| {
                let mt = Decoder::new()
                    .decode(f)
                    .map(|m| String::from_utf8_lossy(m.msg_type()).into_owned())
                    .unwrap_or_default();
                if seen.insert((begin, mt.clone())) {
                    put("fix_codec", &format!("{name}-{k}-{mt}"), f);
                }
                k += 1;
            });
        }
    }
    for (name, bytes) in report_seeds() {
        put("exec_reports", name, &bytes);
    }
    let data = report_msg("FIX.4.4", "D", &[(95, "5"), (96, "a\x01b=c"), (58, "t")]);
    put("fix_codec", "data-field", &data);
    let group = report_msg(
        "FIX.4.4",
        "AB",
        &[
            (11, "1"),
            (555, "2"),
            (600, "A"),
            (539, "1"),
            (524, "P1"),
            (600, "B"),
            (55, "X"),
        ],
    );
    put("fix_codec", "groups", &group);
    let padded = b"8=FIX.4.4\x019=0005\x0135=0\x0110=".to_vec();
    let mut p = padded.clone();
    let sum = checksum(&padded[..padded.len() - 3]);
    p.extend_from_slice(format!("{sum:03}\x01").as_bytes());
    put("fix_codec", "padded-body-length", &p);
    put(
        "fix_codec",
        "two-frames",
        &[
            report_msg("FIX.4.2", "0", &[]),
            report_msg("FIXT.1.1", "1", &[(112, "x")]),
        ]
        .concat(),
    );
}

/// Each session seed logs on (and the app seeds deliver): a harness that never got
/// past the Logon would fuzz nothing.
#[test]
fn fix_session_seeds_log_on() {
    for (path, bytes) in super::engine::seeds("fix_session") {
        let r = session_run(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            r.logged_on,
            "{}: never logged on ({})",
            path.display(),
            r.outcome
        );
        assert!(r.sends > 0, "{}: sent nothing", path.display());
        let name = path.file_name().unwrap().to_string_lossy();
        println!(
            "{name}: {} ({} delivered, {} sent)",
            r.outcome, r.apps, r.sends
        );
        if name.ends_with("logon-app") {
            assert!(r.apps >= 2, "{name}: {} deliveries", r.apps);
        }
    }
}

/// Each `fill-` seed of exec_reports gives a Fill, and every seed reads a message.
#[test]
fn exec_reports_seeds_fill() {
    for (path, bytes) in super::engine::seeds("exec_reports") {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("regress-") {
            continue;
        }
        let r = reports_run(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(r.messages > 0, "{name}: no message read");
        if name.starts_with("fill-") {
            assert!(r.fills > 0, "{name}: no Fill ({})", r.outcome);
        }
    }
}

/// The codec seeds frame and round-trip.
#[test]
fn fix_codec_seeds_roundtrip() {
    for (path, bytes) in super::engine::seeds("fix_codec") {
        let o = codec_target(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(o, "roundtrip", "{}", path.display());
    }
}

/// The fixup repairs what a mutation broke, and leaves a good frame as it is.
#[test]
fn fix_fixup_repairs_body_length_and_checksum() {
    let good = [logon("FIX.4.4", 1, false), exec("FIX.4.4", 2, "o")].concat();
    let mut same = good.clone();
    fix_fixup(&mut same);
    assert_eq!(same, good);
    let mut bad = good.clone();
    let at = find(&bad, b"108=30").unwrap();
    bad[at + 4] = b'9';
    bad[12..14].copy_from_slice(b"99");
    assert!(frame(&bad).is_err());
    fix_fixup(&mut bad);
    let n = frame(&bad).expect("repaired");
    assert!(frame(&bad[n..]).is_ok());
}
