//! The `execd` binary through its command line: demo determinism, the daemon's clean
//! shutdown on a signal, and config checking.

mod common;

use common::TempDir;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn execd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_execd"))
}

/// The demo summary without the lines that carry wall-clock timings.
fn demo(orders: u64, seed: u64) -> String {
    let out = execd()
        .args([
            "demo",
            "--orders",
            &orders.to_string(),
            "--seed",
            &seed.to_string(),
        ])
        .output()
        .expect("execd demo runs");
    assert!(
        out.status.success(),
        "demo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("throughput"), "{text}");
    text.lines()
        .filter(|l| !l.starts_with("latency") && !l.starts_with("throughput"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn demo_is_deterministic_under_a_seed() {
    let a = demo(20_000, 11);
    let b = demo(20_000, 11);
    assert_eq!(a, b, "same seed and count must print the same summary");
    let c = demo(20_000, 12);
    assert_ne!(a, c, "another seed gives another run");
    for needle in [
        "FILLED",
        "rejections by reason",
        "MODE_GUIDE",
        "slippage",
        "reconciliation  18 of 18",
    ] {
        assert!(a.contains(needle), "summary lacks {needle:?}:\n{a}");
    }
}

#[test]
fn run_stops_cleanly_on_sigterm_and_sigint() {
    for sig in ["TERM", "INT"] {
        let mut child = execd()
            .arg("run")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("execd run starts");
        std::thread::sleep(Duration::from_millis(300));
        assert!(child.try_wait().unwrap().is_none(), "daemon exited early");
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("execd run did not stop within 10 s of SIG{sig}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert!(status.success(), "exit {status:?}: {err}");
        assert!(err.contains("stopped cleanly"), "{err}");
    }
}

#[test]
fn check_config_accepts_the_example_and_names_the_bad_key() {
    let dir = TempDir::new("cfg");
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/paper.toml");
    let out = execd().args(["check-config", example]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("ok (1 venues, 6 instruments, 3 accounts)")
    );

    let text = std::fs::read_to_string(example).unwrap();
    let cases = [
        (
            text.replacen("lot = \"0.001\"", "lot = \"0\"", 1),
            "instruments[3].lot",
        ),
        (
            text.replacen("mode = \"AUTONOMOUS\"", "mode = \"YOLO\"", 1),
            "YOLO",
        ),
        (
            text.replacen("timeout_ms = 30000", "timeout_ms = 0", 1),
            "venues[0].timeout_ms",
        ),
        (
            text.replacen("hours = \"24/7\"", "hours = \"always\"", 1),
            "instruments[3].hours",
        ),
        (
            text.replacen("[gate]", "[gate]\nmax_quote_age = 1", 1),
            "max_quote_age",
        ),
    ];
    for (i, (bad, key)) in cases.iter().enumerate() {
        let f = dir.join(format!("bad{i}.toml"));
        std::fs::write(&f, bad).unwrap();
        let out = execd()
            .args(["check-config", f.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(key),
            "error for case {i} should name {key:?}: {err}"
        );
    }
    let missing = execd()
        .args(["check-config", "/nonexistent/execd.toml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read"));
}
