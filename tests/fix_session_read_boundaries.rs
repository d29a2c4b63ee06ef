//! The session acts on frames in order, each with all its effects, whatever the read
//! boundaries: every inbound frame of every QuickFIX acceptance script
//! (`shared/quickfix-at/definitions/server`), given to an acceptor session all in one
//! `on_bytes` call and then one byte per call, produces the same frames out, the same
//! stores, resets, deliveries and events, in the same order.
//!
//! Needs `shared/quickfix-at` beside the repository (or `EXECD_QUICKFIX_AT`): missing, the
//! test fails under `CI=true` and prints SKIP otherwise.

use execd::venue::fix::codec::Msg;
use execd::venue::fix::dictionary::{Dictionary, ValidateOptions};
use execd::venue::fix::reject::SessionRejectReason;
use execd::venue::fix::session::{
    Role, SeqNums, Session, SessionConfig, SessionEvent, SessionIo, State,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn quickfix_at() -> Option<PathBuf> {
    let p = std::env::var_os("EXECD_QUICKFIX_AT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/quickfix-at"));
    if p.join("definitions/server").is_dir() {
        return Some(p);
    }
    let why = format!(
        "QuickFIX's acceptance scripts not found at {} (set EXECD_QUICKFIX_AT)",
        p.join("definitions/server").display()
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{why} (CI=true)");
    }
    eprintln!("SKIP: {why}");
    None
}

/// 2026-01-05 15:00:00 UTC: `<TIME>` in the scripts, and the session's clock.
const T0_SECS: i64 = 1_767_625_200;
const NS: u64 = 1_000_000_000;

/// `YYYYMMDD-HH:MM:SS` of unix seconds `t`.
fn stamp(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Civil from days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}-{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The runner's `<TIME>`, `<TIME+N>`, `<TIME-N>` substitutions.
fn timeify(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 32);
    let mut rest = line;
    while let Some(i) = rest.find("<TIME") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 5..];
        let end = tail.find('>').expect("<TIME…> closes");
        let off: i64 = match &tail[..end] {
            "" => 0,
            s => s.parse().expect("<TIME±N>"),
        };
        out.push_str(&stamp(T0_SECS + off));
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The runner's completion of a frame: BodyLength and CheckSum added where the script
/// leaves them out, kept (right or wrong) where it writes them.
fn fixify(msg: &str) -> Vec<u8> {
    let Some(head_end) = msg.starts_with("8=").then(|| msg.find('\x01')).flatten() else {
        return msg.as_bytes().to_vec();
    };
    let has_length = msg.contains("\x019=");
    let head = &msg[..head_end + 1];
    let mut body = msg[head_end + 1..].to_string();
    let checksum = body.find("\x0110=").filter(|_| body.ends_with('\x01'));
    let trailer = checksum.map(|i| {
        let t = body[i..].to_string();
        body.truncate(i);
        t
    });
    let length = if has_length {
        String::new()
    } else {
        format!("9={}\x01", body.len())
    };
    let trailer = trailer.unwrap_or_else(|| {
        let sum: u32 = head
            .bytes()
            .chain(length.bytes())
            .chain(body.bytes())
            .map(u32::from)
            .sum();
        format!("10={:03}\x01", sum % 256)
    });
    format!("{head}{length}{body}{trailer}").into_bytes()
}

/// The inbound bytes of each connection a script opens, in order.
fn connections(def: &str) -> Vec<Vec<u8>> {
    let mut done = Vec::new();
    let mut open: HashMap<u8, Vec<u8>> = HashMap::new();
    for line in def.lines() {
        let line = line.trim_end_matches('\r');
        let Some(kind) = line.chars().next() else {
            continue;
        };
        if !matches!(kind, 'I' | 'E' | 'i' | 'e') {
            continue;
        }
        let b = line.as_bytes();
        let (cid, body) = if b.len() > 2 && b[1].is_ascii_digit() && b[2] == b',' {
            (b[1], &line[3..])
        } else {
            (b'1', &line[1..])
        };
        match (kind, body) {
            ('i', "CONNECT") => {
                if let Some(prev) = open.insert(cid, Vec::new()) {
                    done.push(prev);
                }
            }
            ('i', "DISCONNECT") => done.extend(open.remove(&cid)),
            ('I', _) => open.entry(cid).or_default().extend(fixify(&timeify(body))),
            _ => {}
        }
    }
    let mut rest: Vec<(u8, Vec<u8>)> = open.into_iter().collect();
    rest.sort_by_key(|r| r.0);
    done.extend(rest.into_iter().map(|r| r.1));
    done
}

/// Everything the session did, in order.
#[derive(Debug, PartialEq)]
enum Did {
    Send(Vec<u8>),
    Store(u64, Vec<u8>),
    Reset(SeqNums),
    MayResend(u64),
    App(Vec<u8>, Result<(), SessionRejectReason>),
    Event(SessionEvent),
}

#[derive(Default)]
struct Io {
    did: Vec<Did>,
    store: HashMap<u64, Vec<u8>>,
}

impl SessionIo for Io {
    fn send(&mut self, frame: &[u8]) {
        self.did.push(Did::Send(frame.to_vec()));
    }
    fn store(&mut self, seq: u64, frame: &[u8]) {
        self.did.push(Did::Store(seq, frame.to_vec()));
        self.store.entry(seq).or_insert_with(|| frame.to_vec());
    }
    fn stored(&self, seq: u64) -> Option<&[u8]> {
        self.store.get(&seq).map(Vec::as_slice)
    }
    fn reset(&mut self, seqs: SeqNums) {
        self.did.push(Did::Reset(seqs));
        self.store.clear();
    }
    fn may_resend(&mut self, seq: u64, _msg: &Msg<'_>) -> bool {
        self.did.push(Did::MayResend(seq));
        true
    }
    fn app(&mut self, msg: &Msg<'_>, valid: Result<(), SessionRejectReason>) {
        self.did.push(Did::App(msg.raw().to_vec(), valid));
    }
    fn event(&mut self, ev: SessionEvent) {
        self.did.push(Did::Event(ev));
    }
}

/// The reference acceptor's session for one version.
fn cfg(version: &str, dicts: &HashMap<&str, Arc<Dictionary>>) -> SessionConfig {
    let (begin, target, appl) = match version {
        "fix42" => ("FIX.4.2", "TW42", None),
        "fix44" => ("FIX.4.4", "TW44", None),
        _ => ("FIXT.1.1", "TW50SP2", Some("9".to_string())),
    };
    SessionConfig {
        begin_string: begin.into(),
        default_appl_ver_id: appl,
        sender_comp_id: "ISLD".into(),
        target_comp_id: target.into(),
        role: Role::Acceptor,
        heartbeat_secs: 30,
        reset_on_logon: true,
        reset_on_logout: false,
        reset_on_disconnect: false,
        username: None,
        password: None,
        logon_timeout_secs: 10,
        logout_timeout_secs: 2,
        schedule: None,
        dictionary: Some(Arc::clone(&dicts[version])),
        micros: false,
    }
}

fn run(cfg: SessionConfig, bytes: &[u8], one_by_one: bool) -> (Vec<Did>, SeqNums, State) {
    let now = T0_SECS as u64 * NS;
    let mut s = Session::new(
        cfg,
        SeqNums {
            next_out: 1,
            next_in: 1,
        },
    );
    let mut io = Io::default();
    s.on_connected(now, &mut io);
    if one_by_one {
        for b in bytes {
            s.on_bytes(now, std::slice::from_ref(b), &mut io);
        }
    } else {
        s.on_bytes(now, bytes, &mut io);
    }
    (io.did, s.seqs(), s.state())
}

#[test]
fn every_script_gives_the_same_answers_whatever_the_read_boundaries() {
    let Some(at) = quickfix_at() else { return };
    let strict = ValidateOptions {
        allow_unknown_user_tags: false,
    };
    let dicts: HashMap<&str, Arc<Dictionary>> = [
        ("fix42", "FIX.4.2"),
        ("fix44", "FIX.4.4"),
        ("fix50sp2", "FIX.5.0SP2"),
    ]
    .into_iter()
    .map(|(v, d)| {
        (
            v,
            Arc::new(Dictionary::builtin(d).unwrap().with_options(strict)),
        )
    })
    .collect();
    let (mut scripts, mut frames_out) = (0, 0);
    for version in ["fix42", "fix44", "fix50sp2"] {
        let dir = at.join("definitions/server").join(version);
        let mut defs: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "def"))
            .collect();
        defs.sort();
        for def in defs {
            let text = String::from_utf8_lossy(&std::fs::read(&def).unwrap()).into_owned();
            for (i, bytes) in connections(&text).iter().enumerate() {
                let whole = run(cfg(version, &dicts), bytes, false);
                let bytewise = run(cfg(version, &dicts), bytes, true);
                assert_eq!(
                    whole,
                    bytewise,
                    "{} connection {i}: all at once vs byte by byte",
                    def.display()
                );
                frames_out += whole.0.iter().filter(|d| matches!(d, Did::Send(_))).count();
            }
            scripts += 1;
        }
    }
    assert_eq!(scripts, 177, "58 + 59 + 60 scripts");
    // The scripts were really played: the session answered (logons, rejects, echoes…).
    assert!(frames_out > 400, "{frames_out} frames out");
    eprintln!("{scripts} scripts, {frames_out} frames out, identical both ways");
}

#[test]
fn the_runner_transformations() {
    assert_eq!(stamp(T0_SECS), "20260105-15:00:00");
    assert_eq!(
        timeify("52=<TIME-121>|60=<TIME>"),
        "52=20260105-14:57:59|60=20260105-15:00:00"
    );
    let f = fixify("8=FIX.4.4\x0135=0\x0134=2\x01");
    assert!(f.starts_with(b"8=FIX.4.4\x019=10\x0135=0\x0134=2\x0110="));
    assert_eq!(execd::venue::fix::codec::frame(&f), Ok(f.len()));
    // Written BodyLength and CheckSum stay as written.
    let g = fixify("8=FIX.4.4\x019=5\x0135=0\x0110=0\x01");
    assert_eq!(g, b"8=FIX.4.4\x019=5\x0135=0\x0110=0\x01");
}
