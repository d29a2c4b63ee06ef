//! `execd-replay` on a real journal written by `execd demo --journal`: verify, export with
//! filters, one order's life, and corruption found at its exact byte.

mod common;

use common::TempDir;

use std::process::Command;

fn demo_journal(name: &str, orders: u64) -> TempDir {
    let dir = TempDir::new(&format!("replay-{name}"));
    let out = Command::new(env!("CARGO_BIN_EXE_execd"))
        .args([
            "demo",
            "--orders",
            &orders.to_string(),
            "--journal",
            dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

fn replay(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_execd-replay"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn verify_export_and_order_on_a_demo_journal() {
    let dir = demo_journal("ok", 3_000);
    let d = dir.to_str().unwrap();
    let (code, out, err) = replay(&["verify", d]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains(": ok") && out.contains("commands replayed"),
        "{out}"
    );

    let (code, csv, _) = replay(&["export", d, "--format", "csv"]);
    assert_eq!(code, Some(0));
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("time_ns,time,seq,kind,order"));
    for kind in [
        "request",
        "accepted",
        "rejected",
        "order",
        "fill",
        "protection",
        "kill_switch",
    ] {
        assert!(
            lines.iter().any(|l| l.split(',').nth(3) == Some(kind)),
            "no {kind} rows"
        );
    }
    // Filters: one symbol, one kind, a time window.
    let (_, msft, _) = replay(&[
        "export", d, "--format", "csv", "--symbol", "MSFT", "--kind", "fill",
    ]);
    let rows: Vec<&str> = msft.lines().skip(1).collect();
    assert!(!rows.is_empty());
    assert!(rows
        .iter()
        .all(|l| l.contains(",MSFT,") && l.split(',').nth(3) == Some("fill")));
    let (_, early, _) = replay(&[
        "export",
        d,
        "--format",
        "jsonl",
        "--to",
        "2026-01-05T15:00:02Z",
    ]);
    let (_, all, _) = replay(&["export", d, "--format", "jsonl"]);
    assert!(early.lines().count() > 0 && early.lines().count() < all.lines().count());
    assert!(early.lines().all(|l| l.starts_with("{\"time_ns\":")));

    assert!(
        out.contains("request ids remembered 3000 of 1048576"),
        "{out}"
    );
    // The start record names the build that wrote the journal (R-AUD-1).
    let build = execd::build_id();
    assert!(
        out.contains(&format!("by {build}; configuration fingerprint")),
        "{out}"
    );
    let (code, starts, _) = replay(&["export", d, "--format", "jsonl", "--kind", "start"]);
    assert_eq!(code, Some(0));
    assert_eq!(starts.lines().count(), 1, "{starts}");
    assert!(
        starts.contains(&build) && starts.contains("\"seq\":1,"),
        "{starts}"
    );
    let (code, configs, _) = replay(&["configs", d]);
    assert_eq!(code, Some(0));
    assert!(
        configs.lines().next().unwrap().contains(&build),
        "{configs}"
    );

    // One order's life, by request id.
    let (code, life, err) = replay(&["order", d, "demo-1"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        life.contains("request") && life.contains("accepted"),
        "{life}"
    );
}

#[test]
fn verify_names_the_byte_of_a_corruption() {
    let dir = demo_journal("bad", 500);
    let seg = dir.join("0000000000000000.journal");
    let mut bytes = std::fs::read(&seg).unwrap();
    // Somewhere in the committed records (past the header and the first records).
    let at = 64 + 4_000;
    bytes[at] ^= 0xff;
    std::fs::write(&seg, &bytes).unwrap();
    let (code, _, err) = replay(&["verify", dir.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("CORRUPT: journal corrupt in segment 0 at byte"),
        "{err}"
    );
    let byte: usize = err
        .split("byte ")
        .nth(1)
        .and_then(|s| s.split(':').next())
        .and_then(|s| s.trim().parse().ok())
        .unwrap();
    assert!(
        byte <= at && at - byte < 600,
        "reported {byte}, flipped {at}"
    );
}

/// A journal written before start records named their build (layout version 1: 20
/// bytes) still verifies, exports and lists its configurations, and says so.
#[test]
fn a_journal_from_before_start_records_named_their_build_still_reads() {
    use execd::config::Registry;
    use execd::core::records;
    use execd::model::event::Command;
    use execd::model::fixed::Dec;
    use execd::model::ids::Side;
    use execd::model::request::ExecutionRequest;
    let dir = TempDir::new("replay-v1-start");
    let reg = Registry::default_paper();
    let (mut w, _) = execd::journal::JournalWriter::open(dir.path(), 1 << 20).unwrap();
    let t = execd::calendar::unix_ns(2026, 1, 5, 15, 0);
    w.append(
        records::KIND_START,
        1,
        t,
        &records::encode_start(1, t, reg.fingerprint()),
    )
    .unwrap();
    w.append(records::KIND_CONFIG, 1, t, reg.to_toml().as_bytes())
        .unwrap();
    let mut buf = [0u8; records::MAX_COMMAND];
    let req = ExecutionRequest::market(
        "old-1",
        "alpha",
        "paper",
        "BTCUSDT",
        Side::Buy,
        Dec::parse("0.01").unwrap(),
    );
    let n = records::encode_command(0, &Command::Submit(req), &mut buf).unwrap();
    w.append(records::KIND_COMMAND, 1, t + 1_000, &buf[..n])
        .unwrap();
    w.sync().unwrap();
    drop(w);
    let d = dir.to_str().unwrap();
    let (code, out, err) = replay(&["verify", d]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("did not record its version"), "{out}");
    assert!(
        out.contains(&format!(
            "configuration fingerprint {:016x}",
            reg.fingerprint()
        )),
        "{out}"
    );
    let (code, rows, err) = replay(&["export", d, "--format", "csv"]);
    assert_eq!(code, Some(0), "{err}");
    let kinds: Vec<&str> = rows
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(3))
        .collect();
    assert_eq!(kinds.first(), Some(&"start"), "{rows}");
    assert!(kinds.contains(&"request"), "{rows}");
}
