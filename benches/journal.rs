//! Journal append latency, as an HDR-percentile harness: every append timed with the TSC.
//!
//! Two runs in the same process: records into one segment (the steady state), and a
//! sustained run across many 64 MiB segments, where appends that find the next segment
//! not yet prepared wait for it. `cargo bench --bench journal`.

use execd::journal::{JournalWriter, DEFAULT_SEGMENT_SIZE};
use hdrhistogram::Histogram;
use std::time::{Duration, Instant};

fn run(label: &str, segment: usize, records: u64, pause_every: Option<(u64, Duration)>) {
    let dir = std::env::temp_dir().join(format!(
        "execd-bench-journal-{}-{label}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let (mut w, _) = JournalWriter::open(&dir, segment).expect("journal opens");
    // Let the helper prepare the next segment, as it would have during start-up.
    std::thread::sleep(Duration::from_millis(200));
    let clock = quanta::Clock::new();
    let mut h = Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3).unwrap();
    let payload = [0x5au8; 128];
    let t0 = Instant::now();
    let mut paused = Duration::ZERO;
    for i in 0..records {
        if let Some((every, d)) = pause_every {
            if i > 0 && i % every == 0 {
                let p = Instant::now();
                std::thread::sleep(d);
                paused += p.elapsed();
            }
        }
        let a = clock.raw();
        w.append(1, 1, i, &payload).expect("append");
        h.saturating_record(clock.delta_as_nanos(a, clock.raw()).max(1));
    }
    let busy = t0.elapsed() - paused;
    println!(
        "{label:<44} {records:>9} × 128 B: p50 {:>5} ns  p99 {:>5} ns  p99.9 {:>6} ns  max {:>10} ns  mean {:>6.1} ns  ({:.1} M appends/s busy)",
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max(),
        h.mean(),
        records as f64 / busy.as_secs_f64() / 1e6,
    );
    drop(w);
    let _ = std::fs::remove_dir_all(&dir);
}

/// How fast the sidecar copies a journal into the audit log (copy time, syncs excluded).
fn drain(records: u64) {
    use execd::sidecar::{Fsync, Sidecar, SidecarConfig};
    let dir = std::env::temp_dir().join(format!("execd-bench-drain-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (mut w, _) = JournalWriter::open(&dir, DEFAULT_SEGMENT_SIZE).expect("journal opens");
    let payload = [0x5au8; 128];
    for i in 0..records {
        w.append(1, 1, i, &payload).expect("append");
    }
    let t0 = Instant::now();
    let report = Sidecar::spawn(SidecarConfig {
        journal: dir.clone(),
        audit: dir.join("audit"),
        fsync: Fsync::OnRotation,
        max_file_bytes: 1 << 30,
        retain_segments: None,
        reports: None,
    })
    .expect("sidecar")
    .stop()
    .expect("drained");
    let wall = t0.elapsed();
    println!(
        "sidecar drain: {} records of 128 B in {:.3} s copying ({:.1} M records/s), {:.3} s with the final fsync",
        report.records,
        report.copy_time.as_secs_f64(),
        report.records as f64 / report.copy_time.as_secs_f64() / 1e6,
        wall.as_secs_f64()
    );
    drop(w);
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    // Criterion passes flags such as --bench; this harness has none of its own.
    run("one segment (steady state)", 256 << 20, 1_000_000, None);
    run(
        "64 MiB segments, 1 M appends/s paced",
        DEFAULT_SEGMENT_SIZE,
        2_000_000,
        Some((1_000, Duration::from_millis(1))),
    );
    run(
        "64 MiB segments, flat out (worst case)",
        DEFAULT_SEGMENT_SIZE,
        2_000_000,
        None,
    );
    drain(2_000_000);
}
