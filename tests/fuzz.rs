//! Fuzz targets (docs/fuzzing.md): what execd reads from files — the configuration, the
//! journal's segments, the audit log, the records inside them — fed mutated inputs. None
//! may panic, hang or break a promise: a configuration that loads round-trips through
//! the TOML it writes into journals, a journal that opens takes the next record and
//! scans again, a record that decodes encodes back to the same bytes. And what a FIX
//! peer sends (`fuzz/fix.rs`): frames through the codec, byte streams through a session,
//! ExecutionReports through the broker venue's mapping. And what Binance sends
//! (`fuzz/binance.rs`): its JSON through every reader of the bridge.
//!
//! `cargo test` runs each for 2 s; `.ci/run` for longer (`EXECD_FUZZ_SECS`).

#[path = "fuzz/binance.rs"]
mod binance;
#[path = "fuzz/engine.rs"]
mod engine;
#[path = "fuzz/fix.rs"]
mod fix;

use engine::{check, Target};
use execd::config::Registry;
use execd::core::records::{self, MAX_COMMAND, MAX_EVENT};
use execd::journal::{self, JournalWriter};
use execd::sidecar::{audit, history};
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------------- config

const CONFIG_TOKENS: &[&[u8]] = &[
    b"0",
    b"-1",
    b"1",
    b"16",
    b"4294967295",
    b"4294967296",
    b"9223372036854775807",
    b"18446744073709551615",
    b"18446744073710",
    b"1e400",
    b"nan",
    b"inf",
    b"\"\"",
    b"\"0\"",
    b"\"-0.01\"",
    b"\"99999999999999999999\"",
    b"\"0.0000000000000000001\"",
    b"\"1e9\"",
    b"\"24/7\"",
    b"\"mon-fri 25:00-26:00\"",
    b"\"fri-mon 22:00-21:00\"",
    b"\n[[venues]]\nname = \"v\"\nkind = \"paper\"\n",
    b"\n[[instruments]]\n",
    b"\n[[accounts]]\nname = \"a\"\ncash = \"1\"\n",
    b"\n[core]\n",
    b"\n[journal]\n",
    b"\n[gate]\n",
    b"\n[venues.fix]\n",
    b"\n[venues.paper]\n",
    b"timeout_ms = ",
    b"ring_capacity = ",
    b"max_orders = ",
    b"segment_kb = ",
    b"audit_file_mb = ",
    b"quote_interval_ms = ",
    b"max_quote_age_ms = ",
    b"latency_us_min = ",
    b"tick = ",
    b"lot = ",
    b"max_notional = ",
    b"initial_price = ",
    b"margin_cushion = ",
    b"spread_ticks = ",
    b"depth_lots = ",
    b"HeartBtInt = ",
    b"SocketConnectPort = ",
    b"ReconnectInterval = ",
    b"kind = \"fix\"",
    b" = ",
    b"\"",
    b"[",
    b"]",
    b"#",
    b"\n",
    b"\xff\xfe",
];

fn config(input: &[u8]) -> Result<String, String> {
    let text = String::from_utf8_lossy(input);
    match Registry::from_toml(&text) {
        Err(e) => Ok(format!("refused {}", e.key)),
        Ok(reg) => {
            // What loads is what a journal records and a replay loads again.
            execd::config::check_ranges(&reg.config)
                .map_err(|e| format!("loaded but out of range: {e}"))?;
            let again = Registry::from_toml(&reg.to_toml())
                .map_err(|e| format!("loaded, but its own TOML does not: {e}"))?;
            if again.fingerprint() != reg.fingerprint() {
                return Err("loaded, but its own TOML loads as another configuration".into());
            }
            Ok("loaded".into())
        }
    }
}

#[test]
fn fuzz_config() {
    check(&Target {
        name: "config",
        run: config,
        fixup: None,
        tokens: CONFIG_TOKENS,
    });
}

// --------------------------------------------------------------------------- journal

const BINARY_TOKENS: &[&[u8]] = &[
    b"EXECDJ01",
    b"EXECD-AUDIT 1 first_seq=",
    b"\n\n",
    &[1, 0, 0, 0],
    &[2, 0, 0, 0],
    &[0x40, 0, 0, 0, 0, 0, 0, 0],
    &[0, 0, 0, 0x80],
    &[0xff, 0xff, 0xff, 0x7f],
    &[0, 0, 0, 0, 0, 0, 0, 0],
];

/// A scratch directory per thread, reused across inputs.
fn scratch(kind: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "execd-fuzz-{kind}-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes `bytes` as the journal's one segment, named after the index in its header.
fn one_segment(dir: &Path, bytes: &[u8]) {
    let index = bytes
        .get(16..24)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
        .filter(|i| *i < 1_000)
        .unwrap_or(0);
    std::fs::write(dir.join(format!("{index:016}.journal")), bytes).unwrap();
}

fn journal_target(input: &[u8]) -> Result<String, String> {
    let dir = scratch("journal");
    one_segment(&dir, input);
    let mut records = 0u64;
    let scanned = journal::scan(&dir, |_| records += 1);
    let _ = journal::walk_valid(&dir, |_| {});
    let checked = history::check(&dir);
    if scanned.is_ok() != checked.is_ok() && checked.as_ref().is_ok() {
        return Err("the history checks but its journal does not scan".into());
    }
    let outcome = match &scanned {
        Ok(s) => format!("scans: {} records", s.records.min(1)),
        Err(e) => format!("refused: {e}"),
    };
    if let Ok(s) = scanned {
        // What scans opens, takes a record, and scans again with one more.
        let (mut w, _) =
            JournalWriter::open(&dir, 4096).map_err(|e| format!("scans but does not open: {e}"))?;
        w.append(1, 1, 0, b"fuzz")
            .map_err(|e| format!("opens but does not append: {e}"))?;
        drop(w);
        let after = journal::scan(&dir, |_| {}).map_err(|e| format!("appended, then: {e}"))?;
        if after.records < s.records {
            return Err(format!(
                "{} records before appending, {} after",
                s.records, after.records
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(outcome)
}

/// Makes CRCs and the cursor's check match again after a mutation, so it reaches the
/// record walk and the cursor logic instead of stopping at the first checksum.
fn journal_fixup(b: &mut [u8]) {
    if b.len() < 64 {
        return;
    }
    let mut pos = 64;
    while pos + 32 <= b.len() {
        let len = u32::from_le_bytes(b[pos..pos + 4].try_into().unwrap()) as usize;
        let next = pos + 32 + len.div_ceil(8) * 8;
        if len == 0 && b[pos..pos + 32].iter().all(|&x| x == 0) || next > b.len() {
            break;
        }
        b[pos + 24..pos + 28].fill(0);
        let crc = crc32c::crc32c_append(
            crc32c::crc32c(&b[pos..pos + 32]),
            &b[pos + 32..pos + 32 + len],
        );
        b[pos + 24..pos + 28].copy_from_slice(&crc.to_le_bytes());
        pos = next;
    }
    if b[8..12] == [2, 0, 0, 0] {
        let base = crc32c::crc32c(&b[..32]);
        b[48..52].copy_from_slice(&base.to_le_bytes());
        let low = u32::from_le_bytes(b[32..36].try_into().unwrap());
        let check = crc32c::crc32c_append(base, &low.to_le_bytes());
        b[36..40].copy_from_slice(&check.to_le_bytes());
    }
}

#[test]
fn fuzz_journal() {
    check(&Target {
        name: "journal",
        run: journal_target,
        fixup: Some(journal_fixup),
        tokens: BINARY_TOKENS,
    });
}

// ----------------------------------------------------------------------------- audit

fn audit_target(input: &[u8]) -> Result<String, String> {
    let dir = scratch("audit");
    std::fs::create_dir_all(dir.join("audit")).unwrap();
    std::fs::write(dir.join("audit/audit-20260105-000000.log"), input).unwrap();
    let mut r = audit::Reader::open(&dir.join("audit")).map_err(|e| e.to_string())?;
    let mut n = 0u64;
    let outcome = loop {
        match r.next_record() {
            Ok(Some(_)) => n += 1,
            Ok(None) => break format!("read {}", n.min(1)),
            Err(e) => break format!("refused: {e}"),
        }
    };
    let last = audit::last_seq(&dir.join("audit"));
    let checked = history::check(&dir);
    if n > 0 && checked.is_ok() {
        return Err("an audit log of records and no journal was not refused".into());
    }
    let _ = (last, std::fs::remove_dir_all(&dir));
    Ok(outcome)
}

fn audit_fixup(b: &mut [u8]) {
    let Some(start) = b
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|p| (p + 2).div_ceil(8) * 8)
    else {
        return;
    };
    let mut pos = start;
    while pos + 32 <= b.len() {
        let len = u32::from_le_bytes(b[pos..pos + 4].try_into().unwrap()) as usize;
        let next = pos + 32 + len.div_ceil(8) * 8;
        if next > b.len() {
            break;
        }
        b[pos + 24..pos + 28].fill(0);
        let crc = crc32c::crc32c_append(
            crc32c::crc32c(&b[pos..pos + 32]),
            &b[pos + 32..pos + 32 + len],
        );
        b[pos + 24..pos + 28].copy_from_slice(&crc.to_le_bytes());
        pos = next;
    }
}

#[test]
fn fuzz_audit() {
    check(&Target {
        name: "audit",
        run: audit_target,
        fixup: Some(audit_fixup),
        tokens: BINARY_TOKENS,
    });
}

// --------------------------------------------------------------------------- records

/// The first byte picks the decoder: 0 command, 1 event, 2 venue input, 3 start.
fn records_target(input: &[u8]) -> Result<String, String> {
    let Some((&which, payload)) = input.split_first() else {
        return Ok("empty".into());
    };
    match which % 4 {
        0 => match records::decode_command(payload) {
            Err(e) => Ok(format!("command refused: {e}")),
            Ok((origin, cmd)) => {
                let mut buf = [0u8; MAX_COMMAND];
                let n = records::encode_command(origin, &cmd, &mut buf)
                    .ok_or("a decoded command is not journaled")?;
                let back = records::decode_command(&buf[..n]).map_err(|e| e.to_string())?;
                if back != (origin, cmd) {
                    return Err(format!("{cmd:?} does not round-trip"));
                }
                Ok("command".into())
            }
        },
        1 => match records::decode_event(payload) {
            Err(e) => Ok(format!("event refused: {e}")),
            Ok((origin, ev)) => {
                let mut buf = [0u8; MAX_EVENT];
                let n = records::encode_event(origin, &ev, &mut buf)
                    .ok_or("a decoded event is not journaled")?;
                let back = records::decode_event(&buf[..n]).map_err(|e| e.to_string())?;
                if back != (origin, ev) {
                    return Err(format!("{ev:?} does not round-trip"));
                }
                Ok("event".into())
            }
        },
        2 => match records::decode_venue_input(payload) {
            Err(e) => Ok(format!("venue input refused: {e}")),
            Ok((venue, ev)) => {
                let mut buf = [0u8; MAX_EVENT];
                let n = records::encode_venue_input(venue, &ev, &mut buf);
                let back = records::decode_venue_input(&buf[..n]).map_err(|e| e.to_string())?;
                if back != (venue, ev) {
                    return Err(format!("{ev:?} does not round-trip"));
                }
                Ok("venue input".into())
            }
        },
        _ => Ok(match records::decode_start(payload) {
            Ok(_) => "start".into(),
            Err(e) => format!("start refused: {e}"),
        }),
    }
}

const RECORD_TOKENS: &[&[u8]] = &[
    &[0],
    &[1],
    &[2],
    &[3],
    &[255],
    &[0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    &[0, 0, 0, 0, 0, 0, 0, 0x80],
    &[18],
    &[19],
    &[40],
];

#[test]
fn fuzz_records() {
    check(&Target {
        name: "records",
        run: records_target,
        fixup: None,
        tokens: RECORD_TOKENS,
    });
}

// ----------------------------------------------------------------------------- FIX

#[test]
fn fuzz_fix_codec() {
    check(&Target {
        name: "fix_codec",
        run: fix::codec_target,
        fixup: Some(fix::fix_fixup),
        tokens: fix::FIX_TOKENS,
    });
}

#[test]
fn fuzz_fix_session() {
    check(&Target {
        name: "fix_session",
        run: fix::session_target,
        fixup: Some(fix::fix_fixup),
        tokens: fix::FIX_TOKENS,
    });
}

#[test]
fn fuzz_exec_reports() {
    check(&Target {
        name: "exec_reports",
        run: fix::reports_target,
        fixup: Some(fix::fix_fixup),
        tokens: fix::FIX_TOKENS,
    });
}

// ------------------------------------------------------------------------- Binance

#[test]
fn fuzz_binance() {
    check(&Target {
        name: "binance",
        run: binance::binance_target,
        fixup: None,
        tokens: binance::BINANCE_TOKENS,
    });
}

// ----------------------------------------------------------------------- seed corpus

/// Writes the seed corpus (`cargo test --test fuzz -- --ignored make_seed_corpus`): a
/// few real inputs of each kind, small, from a real `execd demo` journal.
#[test]
#[ignore]
fn make_seed_corpus() {
    use execd::core::records::{KIND_COMMAND, KIND_EVENT, KIND_START};
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let put = |target: &str, name: &str, bytes: &[u8]| {
        let d = root.join("fuzz/corpus").join(target);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(name), bytes).unwrap();
    };
    for f in ["paper.toml", "fix-sim.toml"] {
        put(
            "config",
            f,
            &std::fs::read(root.join("examples").join(f)).unwrap(),
        );
    }
    put(
        "config",
        "minimal.toml",
        b"[[venues]]\nname = \"p\"\nkind = \"paper\"\n\n[[instruments]]\nsymbol = \"X\"\nvenue = \"p\"\ntick = \"0.01\"\nlot = \"1\"\nmax_order_qty = \"10\"\nmax_notional = \"1000\"\nmax_position = \"10\"\ninitial_price = \"10.00\"\n\n[[accounts]]\nname = \"a\"\ncash = \"1000\"\n",
    );
    // A demo journal in 8 KiB segments: real records, small files.
    let dir = scratch("seeds");
    let cfg = dir.join("small.toml");
    std::fs::write(
        &cfg,
        std::fs::read_to_string(root.join("examples/paper.toml"))
            .unwrap()
            .replacen("segment_kb = 65536", "segment_kb = 8", 1)
            .replacen("audit_file_mb = 256", "audit_file_mb = 1", 1),
    )
    .unwrap();
    let j = dir.join("j");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_execd"))
        .args(["demo", "--orders", "40", "--config"])
        .arg(&cfg)
        .arg("--journal")
        .arg(&j)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let segs = execd::journal::segment_files(&j).unwrap();
    for (k, (_, p)) in segs
        .iter()
        .enumerate()
        .filter(|(k, _)| [0, 1, segs.len() - 1].contains(k))
    {
        put(
            "journal",
            &format!("segment-{k}"),
            &std::fs::read(p).unwrap(),
        );
    }
    // The first segment as format 1 wrote it: a plain committed end, no checksum.
    let mut v1 = std::fs::read(&segs[0].1).unwrap();
    let word = u64::from_le_bytes(v1[32..40].try_into().unwrap());
    v1[8..12].copy_from_slice(&1u32.to_le_bytes());
    v1[32..40].copy_from_slice(&(word & 0x7fff_ffff).to_le_bytes());
    v1[40..48].copy_from_slice(&((word >> 31) & 1).to_le_bytes());
    v1[48..64].fill(0);
    put("journal", "segment-0-format1", &v1);
    let a = audit::files(&j.join("audit")).unwrap();
    let bytes = std::fs::read(&a[0]).unwrap();
    // The description and the first records: a seed, not a log.
    let cut = bytes.len().min(6_000);
    put("audit", "audit-head", &bytes[..cut]);
    let mut seen = std::collections::BTreeMap::new();
    journal::scan(&j, |r| {
        let sel = match r.header.kind {
            KIND_COMMAND => 0u8,
            KIND_EVENT => 1,
            KIND_START => 3,
            _ => return,
        };
        let tag = r.payload.get(1).copied().unwrap_or(0);
        seen.entry((sel, tag)).or_insert_with(|| {
            let mut v = vec![sel];
            v.extend_from_slice(r.payload);
            v
        });
    })
    .unwrap();
    for ((sel, tag), v) in &seen {
        put("records", &format!("kind{sel}-tag{tag}"), v);
    }
    // Commands a short demo does not send.
    use execd::model::control::{KillState, Mode};
    use execd::model::event::{Command, OrderRef, Scope};
    use execd::model::fixed::Dec;
    use execd::model::ids::{Name, RequestId};
    let name = |s: &str| Name::new(s).unwrap();
    let req = OrderRef::Request(RequestId::new("demo-7").unwrap());
    for (tag, cmd) in [
        (
            "cancel",
            Command::Cancel(OrderRef::Id(execd::model::ids::OrderId(3))),
        ),
        (
            "replace",
            Command::Replace {
                order: req,
                quantity: Some(Dec::new(500, 0)),
                limit_price: Some(Dec::new(19_001, 2)),
            },
        ),
        (
            "cancel-all",
            Command::CancelAll(Scope::Account(name("alpha"))),
        ),
        (
            "modify",
            Command::ModifyProtection {
                order: req,
                stop_loss: Some(Dec::new(18_000, 2)),
                take_profit: None,
            },
        ),
        (
            "kill",
            Command::SetKillSwitch {
                scope: Scope::Venue(name("paper")),
                state: KillState::Warning,
                cancel_open: false,
            },
        ),
        (
            "mode",
            Command::SetMode {
                account: name("beta"),
                mode: Mode::Guide,
            },
        ),
        (
            "halt",
            Command::SetHalted {
                account: name("beta"),
                halted: true,
            },
        ),
        (
            "quote",
            Command::Quote {
                venue: name("paper"),
                symbol: name("AAPL"),
                bid: Dec::new(18_999, 2),
                ask: Dec::new(19_001, 2),
                bid_size: Dec::new(100, 0),
                ask_size: Dec::new(0, 0),
            },
        ),
        (
            "limits",
            Command::SetLimits(execd::model::event::LimitChange {
                venue: name("paper"),
                symbol: name("BTCUSDT"),
                max_order_qty: Some(Dec::new(2, 1)),
                max_notional: None,
                max_position: Some(Dec::new(3, 0)),
            }),
        ),
        (
            "operator",
            Command::Operator(execd::model::event::OperatorNote {
                operator: execd::model::ids::ShortStr::new("alice").unwrap(),
                reason: execd::model::ids::ShortStr::new("venue slow").unwrap(),
            }),
        ),
    ] {
        let mut buf = [0u8; MAX_COMMAND];
        let n = records::encode_command(1, &cmd, &mut buf).unwrap();
        let mut v = vec![0u8];
        v.extend_from_slice(&buf[..n]);
        put("records", &format!("command-{tag}"), &v);
    }
    // Venue inputs: what a FIX venue tells the core.
    use execd::model::ids::{ClOrdId, OrderId};
    use execd::venue::{VenueEvent, VenueEventKind};
    let cl = ClOrdId {
        epoch: 7,
        order: OrderId(42),
        version: 1,
    };
    for (name, kind) in [
        (
            "ack",
            VenueEventKind::Ack {
                cl,
                venue_order_id: 99,
            },
        ),
        ("session", VenueEventKind::Session { up: true }),
        ("canceled", VenueEventKind::Canceled { cl }),
        ("restarted", VenueEventKind::Restarted),
    ] {
        let mut buf = [0u8; MAX_EVENT];
        let n = records::encode_venue_input(
            0,
            &VenueEvent {
                at_ns: 1_767_625_200_000_000_000,
                kind,
                src_seq: 12,
            },
            &mut buf,
        );
        let mut v = vec![2u8];
        v.extend_from_slice(&buf[..n]);
        put("records", &format!("venue-{name}"), &v);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
