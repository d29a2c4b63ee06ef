//! Kill -9 a process in the middle of appending, many times, on the same journal: nothing
//! it reported committed is lost, nothing is corrupt, and appending resumes after each.

mod common;

use common::TempDir;

use execd::journal::{scan, JournalWriter};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const CHILD: &str = "EXECD_JOURNAL_CRASH_CHILD";

fn payload(seq: u64) -> Vec<u8> {
    let n = 16 + (seq % 200) as usize;
    (0..n).map(|i| (seq as u8).wrapping_add(i as u8)).collect()
}

/// The child: appends forever, telling the parent each sequence number it has committed.
fn child(dir: &Path) -> ! {
    let (mut w, _) = JournalWriter::open(dir, 1 << 20).expect("child opens the journal");
    let mut out = std::io::stdout().lock();
    loop {
        let seq = w.next_seq();
        w.append(3, 1, seq, &payload(seq)).expect("append");
        if seq % 64 == 0 {
            let _ = writeln!(out, "{seq}");
            let _ = out.flush();
        }
    }
}

#[test]
fn sigkill_while_appending_loses_nothing_committed() {
    if let Ok(dir) = std::env::var(CHILD) {
        child(Path::new(&dir));
    }
    let dir = TempDir::new("crash");
    let mut rng = fastrand::Rng::with_seed(42);
    let mut acknowledged = 0u64;
    let kills = 20;
    for round in 0..kills {
        let mut c = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "sigkill_while_appending_loses_nothing_committed",
                "--nocapture",
            ])
            .env(CHILD, &dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = c.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut last = 0u64;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(n) = line.trim().parse::<u64>() {
                    last = n;
                }
            }
            last
        });
        std::thread::sleep(Duration::from_millis(20 + rng.u64(0..60)));
        c.kill().unwrap(); // SIGKILL
        c.wait().unwrap();
        let last = reader.join().unwrap();
        assert!(
            last > acknowledged || round == 0 || last == 0,
            "child made progress"
        );
        acknowledged = acknowledged.max(last);
        let mut expect = 1u64;
        let sum = scan(&dir, |r| {
            assert_eq!(r.header.seq, expect);
            assert_eq!(r.payload, &payload(expect)[..], "record {expect} intact");
            expect += 1;
        })
        .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert!(
            sum.last_seq >= acknowledged,
            "round {round}: acknowledged {acknowledged} but only {} committed",
            sum.last_seq
        );
    }
    let sum = scan(&dir, |_| {}).unwrap();
    println!(
        "{kills} SIGKILLs: {} records in {} segments, every acknowledged one present",
        sum.records, sum.segments
    );
    assert!(sum.records > 10_000);
}
