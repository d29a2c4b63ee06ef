//! The sidecar against a real journal on disk: every record reaches the audit log once,
//! in order, CRC-checked; files rotate by size and by UTC day and are never rewritten.

mod common;

use common::TempDir;

use execd::calendar::unix_ns;
use execd::journal::JournalWriter;
use execd::sidecar::{audit, Fsync, Sidecar, SidecarConfig};
use std::path::Path;

fn tmp(name: &str) -> TempDir {
    TempDir::new(&format!("sidecar-{name}"))
}

fn cfg(dir: &Path, max: u64, fsync: Fsync) -> SidecarConfig {
    SidecarConfig {
        journal: dir.to_path_buf(),
        audit: dir.join("audit"),
        fsync,
        max_file_bytes: max,
        retain_segments: None,
        reports: None,
    }
}

fn payload(seq: u64) -> Vec<u8> {
    (0..(seq % 90) as u8)
        .map(|b| b.wrapping_mul(seq as u8))
        .collect()
}

#[test]
fn every_record_is_copied_once_in_order_while_the_journal_grows() {
    let dir = tmp("copy");
    let (mut w, _) = JournalWriter::open(&dir, 64 << 10).unwrap();
    let side = Sidecar::spawn(cfg(&dir, 1 << 20, Fsync::EveryMs(2))).unwrap();
    let t0 = unix_ns(2026, 1, 5, 15, 0);
    for seq in 1..=20_000u64 {
        w.append(1, 1, t0 + seq, &payload(seq)).unwrap();
    }
    let report = side.stop().unwrap();
    assert_eq!((report.records, report.last_seq), (20_000, 20_000));
    assert!(report.syncs > 0);
    let mut expect = 1;
    audit::scan(&dir.join("audit"), |h, p| {
        assert_eq!(h.seq, expect);
        assert_eq!(p, &payload(expect)[..]);
        expect += 1;
    })
    .unwrap();
    assert_eq!(expect, 20_001);
}

#[test]
fn files_rotate_by_size_and_by_utc_day_and_are_never_rewritten() {
    let dir = tmp("rotate");
    let (mut w, _) = JournalWriter::open(&dir, 1 << 20).unwrap();
    let before_midnight = unix_ns(2026, 1, 5, 23, 59);
    for seq in 1..=2_000u64 {
        // The second half of the records lands on the next UTC day.
        let ts = before_midnight + if seq > 1_000 { 120_000_000_000 } else { 0 } + seq;
        w.append(1, 1, ts, &[7u8; 40]).unwrap();
    }
    let report = Sidecar::spawn(cfg(&dir, 16 << 10, Fsync::OnRotation))
        .unwrap()
        .stop()
        .unwrap();
    assert_eq!(report.records, 2_000);
    let files = audit::files(&dir.join("audit")).unwrap();
    assert!(files.len() > 4, "size rotation: {files:?}");
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into())
        .collect();
    assert!(names.iter().any(|n| n.starts_with("audit-20260105-")));
    assert!(
        names.iter().any(|n| n.starts_with("audit-20260106-")),
        "day rotation: {names:?}"
    );
    for f in &files {
        let text = std::fs::read(f).unwrap();
        assert!(
            text.starts_with(b"EXECD-AUDIT 1 first_seq="),
            "self-describing"
        );
    }
    // More journal, a second sidecar run: earlier files are untouched, nothing repeats.
    let sums: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    for seq in 2_001..=2_500u64 {
        w.append(1, 1, before_midnight + 200_000_000_000 + seq, &[9u8; 40])
            .unwrap();
    }
    let again = Sidecar::spawn(cfg(&dir, 16 << 10, Fsync::EveryRecord))
        .unwrap()
        .stop()
        .unwrap();
    assert_eq!((again.records, again.last_seq), (500, 2_500));
    for (f, before) in files.iter().zip(&sums) {
        assert_eq!(
            &std::fs::read(f).unwrap(),
            before,
            "{} was rewritten",
            f.display()
        );
    }
    let mut seqs = Vec::new();
    assert_eq!(
        audit::scan(&dir.join("audit"), |h, _| seqs.push(h.seq)).unwrap(),
        2_500
    );
    assert!(seqs.iter().copied().eq(1..=2_500));
}

#[test]
fn a_damaged_audit_file_is_named_with_the_byte() {
    let dir = tmp("bad");
    let (mut w, _) = JournalWriter::open(&dir, 1 << 20).unwrap();
    for seq in 1..=100u64 {
        w.append(1, 1, unix_ns(2026, 1, 5, 15, 0) + seq, &[1u8; 24])
            .unwrap();
    }
    Sidecar::spawn(cfg(&dir, 1 << 20, Fsync::EveryRecord))
        .unwrap()
        .stop()
        .unwrap();
    let f = audit::files(&dir.join("audit")).unwrap().remove(0);
    let mut bytes = std::fs::read(&f).unwrap();
    let n = bytes.len();
    bytes[n - 30] ^= 0x40;
    std::fs::write(&f, &bytes).unwrap();
    let err = audit::scan(&dir.join("audit"), |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("CRC mismatch") && err.contains("byte"),
        "{err}"
    );
}

/// Defect: after old segments were retired, a restarted sidecar looked for segment 0,
/// found nothing, and copied nothing more into the audit log, ever.
#[test]
fn a_restarted_sidecar_carries_on_after_retired_segments() {
    let dir = tmp("retired");
    let (mut w, _) = JournalWriter::open(&dir, 4096).unwrap();
    let t0 = unix_ns(2026, 1, 5, 15, 0);
    for seq in 1..=500u64 {
        w.append(1, 1, t0 + seq, &payload(seq)).unwrap();
    }
    let mut c = cfg(&dir, 1 << 20, Fsync::EveryRecord);
    c.retain_segments = Some(2);
    let first = Sidecar::spawn(c.clone()).unwrap().stop().unwrap();
    assert_eq!(first.records, 500);
    assert!(first.retired > 0, "{first:?}");
    for seq in 501..=900u64 {
        w.append(1, 1, t0 + seq, &payload(seq)).unwrap();
    }
    let again = Sidecar::spawn(c).unwrap().stop().unwrap();
    assert_eq!((again.records, again.last_seq), (400, 900), "{again:?}");
    let mut seqs = Vec::new();
    audit::scan(&dir.join("audit"), |h, _| seqs.push(h.seq)).unwrap();
    assert!(seqs.iter().copied().eq(1..=900));
}
