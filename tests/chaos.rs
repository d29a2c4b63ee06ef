//! The chaos test of issue 3: the real `execd demo --journal DIR` process, SIGKILLed at
//! random moments twenty times across a run of 100 000 requests and restarted each time
//! on the same directory, then checked with `execd-replay verify`.

mod common;

use common::TempDir;

use execd::core::records::{decode_command, KIND_COMMAND};
use execd::core::recovery;
use execd::model::event::Command;
use std::collections::BTreeSet;
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

const ORDERS: u64 = 100_000;

fn demo(dir: &std::path::Path) -> Process {
    let mut p = Process::new(env!("CARGO_BIN_EXE_execd"));
    p.args([
        "demo",
        "--orders",
        &ORDERS.to_string(),
        "--seed",
        "3",
        "--journal",
        dir.to_str().unwrap(),
    ]);
    p
}

/// Every demo request number in the journal, and how many submits carried one.
fn submitted(dir: &std::path::Path) -> (BTreeSet<u64>, u64) {
    let mut set = BTreeSet::new();
    let mut n = 0;
    execd::journal::scan(dir, |r| {
        if r.header.kind == KIND_COMMAND {
            if let Ok((_, Command::Submit(q))) = decode_command(r.payload) {
                if let Some(k) = q
                    .request_id
                    .as_str()
                    .strip_prefix("demo-")
                    .and_then(|k| k.parse().ok())
                {
                    set.insert(k);
                    n += 1;
                }
            }
        }
    })
    .expect("the journal verifies after every kill");
    (set, n)
}

/// (account, symbol, net, avg) of every open position in lines of `execd demo` or
/// `execd-replay verify` output.
fn positions(text: &str, verify: bool) -> BTreeSet<(String, String, String, String)> {
    text.lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let w = if verify {
                w.strip_prefix(&["position"])?
            } else {
                &w[..]
            };
            if w.len() >= 5 && w[3] == "@" && ["alpha", "beta", "advisor"].contains(&w[0]) {
                let net = w[2].trim_start_matches('-').trim_start_matches(['0', '.']);
                (!net.is_empty()).then(|| (w[0].into(), w[1].into(), w[2].into(), w[4].into()))
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn demo_killed_twenty_times_loses_nothing() {
    let dir = TempDir::new("chaos");
    let mut rng = fastrand::Rng::with_seed(11);
    let (mut kills, mut finished_early) = (0, false);
    let mut seen = 0usize;
    let t0 = Instant::now();
    while kills < 20 {
        let mut child = demo(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.u64(150..700)));
        if child.try_wait().unwrap().is_some() {
            finished_early = true;
            break;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        let (set, _) = submitted(&dir);
        // Nothing journaled is ever lost, and request numbers never skip.
        assert!(
            set.len() >= seen,
            "kill {kills}: {} requests, had {seen}",
            set.len()
        );
        assert_eq!(
            set.iter().copied().max().unwrap_or(0) as usize,
            set.len(),
            "no gaps"
        );
        seen = set.len();
    }
    // The last run goes to the end.
    let out = demo(&dir).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = String::from_utf8(out.stdout).unwrap();
    let (set, submits) = submitted(&dir);
    assert_eq!(
        set.len() as u64,
        ORDERS,
        "every request, once each, across {kills} kills"
    );
    assert_eq!(*set.iter().next_back().unwrap(), ORDERS);

    let verify = Process::new(env!("CARGO_BIN_EXE_execd-replay"))
        .arg("verify")
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let report = String::from_utf8(verify.stdout).unwrap();
    // The state after the last restart is what a clean replay rebuilds.
    assert_eq!(
        positions(&summary, false),
        positions(&report, true),
        "demo:\n{summary}\nverify:\n{report}"
    );
    // Each request made one order: the replayed book knows every request id.
    let reg = recovery::journal_config(&dir).unwrap();
    let (engine, rec) = recovery::replay(&dir, std::sync::Arc::new(reg)).unwrap();
    for k in 1..=ORDERS {
        let id = execd::model::ids::RequestId::from_prefixed_u64("demo-", k).unwrap();
        assert!(
            engine.book().by_request(&id).is_some(),
            "demo-{k} has no order"
        );
    }
    println!(
        "chaos: {kills} SIGKILLs{} over {ORDERS} requests ({submits} submits with resends), {} journal records, {:.1} s; replay equals the last run",
        if finished_early { " (a run finished first)" } else { "" },
        rec.journal.records,
        t0.elapsed().as_secs_f64()
    );
    assert!(kills >= 20 || finished_early);
}
