//! Every input is hostile: configuration files and command lines (R-RES-5, R-OPS-3).
//! Each test is a defect found with the release binaries:
//!
//! - durations and sizes multiplied without checks (`timeout_ms = 18446744073710` became
//!   0.29 s, `quote_interval_ms = 18446744073709` spun the demo forever, `ring_capacity`
//!   2^63−1 panicked, `segment_kb = 4294967296` preallocated 77 GB) while `check-config`
//!   said "ok"; now refused by key and range, by `check-config` and by every start alike;
//! - `execd-replay verify DIR | head -1` and `execd check-config FILE | true` panicked on
//!   the closed pipe; now every binary ends quietly;
//! - `verify` of a missing directory blamed a record, an empty directory verified "ok",
//!   `--kind bogus` exported nothing with exit 0, `--orders 18446744073709551615` ran for
//!   hours without a word; now each is refused with what is allowed.
//!
//! `EXECD_TEST_BINS=DIR` runs the same tests against other builds of the binaries.

mod common;

use common::{bin, run, run_for, text, TempDir};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How a pipe's reader leaves.
#[derive(Clone, Copy, Debug)]
enum Reader {
    /// `| true`: gone before the first byte.
    Gone,
    /// `| head -1`: one line, then gone.
    OneLine,
}

/// Runs `name args | reader`; the writer must end, quietly, with 0 (or killed by
/// SIGPIPE, as C tools are), and never panic.
fn piped(name: &str, args: &[&str], reader: Reader) {
    let mut child = Command::new(bin(name))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    match reader {
        Reader::Gone => drop(stdout),
        Reader::OneLine => {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
        }
    }
    let mut stderr = child.stderr.take().unwrap();
    let err = std::thread::spawn(move || {
        let mut e = String::new();
        let _ = stderr.read_to_string(&mut e);
        e
    });
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t0.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("{name} {args:?} | {reader:?}: still running 60 s after its reader left");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let err = err.join().unwrap();
    assert!(
        !err.contains("panicked"),
        "{name} {args:?} | {reader:?} panicked: {err}"
    );
    assert!(
        status.code() == Some(0) || status.signal() == Some(libc::SIGPIPE),
        "{name} {args:?} | {reader:?}: {status:?} {err}"
    );
}

fn example() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/paper.toml")).unwrap()
}

/// A small journal written by `execd demo`, made once.
fn journal() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("execd-hostile-input-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let out = run(
            "execd",
            &[
                "demo",
                "--orders",
                "3000",
                "--journal",
                dir.to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        dir
    })
}

#[test]
fn closed_pipes_end_every_binary_quietly() {
    let d = journal().to_str().unwrap();
    let cfg = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/paper.toml");
    for reader in [Reader::Gone, Reader::OneLine] {
        piped("execd-replay", &["verify", d], reader);
        piped("execd-replay", &["export", d, "--format", "csv"], reader);
        piped("execd-replay", &["export", d, "--format", "jsonl"], reader);
        piped("execd-replay", &["order", d, "demo-1"], reader);
        piped("execd-replay", &["--help"], reader);
        piped("execd", &["check-config", cfg], reader);
        piped("execd", &["demo", "--orders", "2000"], reader);
        piped("execd", &["dictionary", "FIX.4.4"], reader);
        piped("execd", &["--help"], reader);
        piped("execd-venue-sim", &["--port", "0", "--no-stdin"], reader);
    }
}

#[test]
fn a_closed_stderr_does_not_turn_an_error_into_a_panic() {
    let dir = TempDir::new("hostile-stderr");
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        example().replacen("timeout_ms = 30000", "timeout_ms = 0", 1),
    )
    .unwrap();
    for (name, args) in [
        ("execd", vec!["check-config", bad.to_str().unwrap()]),
        ("execd-replay", vec!["verify", "/nonexistent/execd-journal"]),
    ] {
        let mut child = Command::new(bin(name))
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stderr.take());
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(2), "{name} {args:?}: {status:?}");
    }
}

#[test]
fn verify_names_a_missing_path_and_refuses_what_is_no_journal() {
    let missing = "/nonexistent/execd-journal";
    for cmd in [
        vec!["verify", missing],
        vec!["export", missing, "--format", "csv"],
        vec!["order", missing, "1"],
    ] {
        let o = run("execd-replay", &cmd);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{cmd:?}: {err}");
        assert!(
            err.contains(missing)
                && err.contains("No such file or directory")
                && !err.contains("record"),
            "{cmd:?}: {err}"
        );
    }
    let empty = TempDir::new("hostile-empty");
    let o = run("execd-replay", &["verify", empty.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stdout));
    assert!(
        text(&o.stderr).contains("holds no journal"),
        "{}",
        text(&o.stderr)
    );
    assert!(!text(&o.stdout).contains("ok"), "{}", text(&o.stdout));
    // A directory of something else entirely.
    let other = TempDir::new("hostile-other");
    std::fs::write(other.join("notes.txt"), "not a journal").unwrap();
    std::fs::create_dir_all(other.join("photos")).unwrap();
    let o = run("execd-replay", &["verify", other.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("holds no journal"),
        "{}",
        text(&o.stderr)
    );
    // A file where the directory should be.
    let o = run(
        "execd-replay",
        &["verify", other.join("notes.txt").to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("not a directory"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn bad_command_line_values_are_refused_with_what_is_allowed() {
    let d = journal().to_str().unwrap();
    let o = run(
        "execd-replay",
        &["export", d, "--format", "csv", "--kind", "bogus"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("bogus") && text(&o.stderr).contains("fill"),
        "the allowed kinds are listed: {}",
        text(&o.stderr)
    );
    assert!(o.stdout.is_empty());
    for from in ["99999999999-01-05T15:00:00Z", "2026-01-05T15:00:00", "0x10"] {
        let o = run(
            "execd-replay",
            &["export", d, "--format", "csv", "--from", from],
        );
        assert_eq!(o.status.code(), Some(2), "{from}: {}", text(&o.stderr));
        assert!(!text(&o.stderr).contains("panicked"));
    }
    let huge = "18446744073709551615";
    let limit = Duration::from_secs(10);
    for args in [
        vec!["demo", "--orders", huge],
        vec!["demo", "--orders", "0"],
        vec!["run", "--orders", huge, "--exit"],
        vec!["run", "--orders", "10", "--rate", "0", "--exit"],
        vec!["run", "--orders", "10", "--rate", "4294967295", "--exit"],
    ] {
        let o = run_for("execd", &args, limit);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("is not in"),
            "{args:?}: the range is named: {err}"
        );
    }
    let o = run(
        "execd",
        &["demo", "--orders", "10", "--accept-journal-loss", ""],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
}

#[test]
fn check_config_and_every_start_refuse_what_would_overflow_by_key_and_range() {
    let dir = TempDir::new("hostile-config");
    let cases = [
        (
            "timeout_ms = 30000",
            "timeout_ms = 18446744073710",
            "venues[0].timeout_ms",
        ),
        (
            "quote_interval_ms = 5",
            "quote_interval_ms = 18446744073709",
            "venues[0].paper.quote_interval_ms",
        ),
        (
            "max_quote_age_ms = 5000",
            "max_quote_age_ms = 18446744073710",
            "gate.max_quote_age_ms",
        ),
        (
            "breaker_cooldown_ms = 10000",
            "breaker_cooldown_ms = 18446744073710",
            "venues[0].breaker_cooldown_ms",
        ),
        (
            "latency_us_min = 40",
            "latency_us_min = 18446744073709552",
            "venues[0].paper.latency_us_min",
        ),
        (
            "ring_capacity = 65536",
            "ring_capacity = 9223372036854775807",
            "core.ring_capacity",
        ),
        (
            "ring_capacity = 65536",
            "ring_capacity = 4294967296",
            "core.ring_capacity",
        ),
        (
            "segment_kb = 65536",
            "segment_kb = 4294967296",
            "journal.segment_kb",
        ),
        (
            "max_orders = 262144",
            "max_orders = 4294967295",
            "core.max_orders",
        ),
    ];
    let limit = Duration::from_secs(30);
    for (i, (from, to, key)) in cases.iter().enumerate() {
        let text_ = example().replacen(from, to, 1);
        assert_ne!(text_, example(), "{from}");
        let f = dir.join(format!("bad{i}.toml"));
        std::fs::write(&f, &text_).unwrap();
        let f = f.to_str().unwrap();
        let check = run_for("execd", &["check-config", f], limit);
        let err = text(&check.stderr);
        assert_eq!(
            check.status.code(),
            Some(2),
            "{to}: {}{err}",
            text(&check.stdout)
        );
        assert!(
            err.contains(&format!("{key}: ")) && err.contains("out of range: must be between"),
            "{to}: {err}"
        );
        // The same check, in the same words, before a start.
        let j = dir.join(format!("j{i}"));
        for args in [
            vec![
                "demo",
                "--orders",
                "10",
                "--config",
                f,
                "--journal",
                j.to_str().unwrap(),
            ],
            vec!["run", "--config", f, "--orders", "10", "--exit"],
        ] {
            let o = run_for("execd", &args, limit);
            let start_err = text(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{args:?}: {start_err}");
            let sentence = err.trim().trim_start_matches("execd: ");
            assert!(
                start_err.contains(sentence),
                "{args:?}: {start_err} vs {sentence}"
            );
        }
        assert!(!j.exists(), "{to}: a journal was started");
    }
}
