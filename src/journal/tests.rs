use super::*;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("execd-journal-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn payload(i: u64) -> Vec<u8> {
    (0..(i % 50) as u8).map(|b| b ^ i as u8).collect()
}

#[test]
fn records_round_trip_across_segments() {
    let d = dir("roundtrip");
    let (mut w, s) = JournalWriter::open(&d, 4096).unwrap();
    assert_eq!(s.records, 0);
    for i in 1..=500u64 {
        assert_eq!(w.append((i % 7) as u16, 1, i * 10, &payload(i)).unwrap(), i);
    }
    assert!(w.position().0 >= 5, "several segments: {:?}", w.position());
    let mut seen = 0u64;
    let sum = scan(&d, |r| {
        seen += 1;
        assert_eq!(r.header.seq, seen);
        assert_eq!(r.header.kind, (seen % 7) as u16);
        assert_eq!(r.header.ts_ns, seen * 10);
        assert_eq!(r.payload, &payload(seen)[..]);
    })
    .unwrap();
    assert_eq!((sum.records, sum.last_seq, sum.torn), (500, 500, None));
    // Reopening continues the sequence where it stopped.
    drop(w);
    let (mut w, s) = JournalWriter::open(&d, 4096).unwrap();
    assert_eq!(s.last_seq, 500);
    assert_eq!(w.append(1, 1, 0, b"after").unwrap(), 501);
    assert_eq!(scan(&d, |_| {}).unwrap().records, 501);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_torn_record_is_reported_wiped_and_appending_resumes() {
    let d = dir("torn");
    let (mut w, _) = JournalWriter::open(&d, 1 << 16).unwrap();
    for i in 1..=10 {
        w.append(1, 1, i, b"committed").unwrap();
    }
    // A crash between writing a record and publishing it: bytes past `committed`.
    let (_, pos) = w.position();
    let torn = RecordHeader {
        len: 20,
        kind: 1,
        version: 1,
        seq: 11,
        ts_ns: 0,
        crc: 0xdead,
        reserved: 0,
    };
    w.map[pos..pos + HEADER].copy_from_slice(bytemuck::bytes_of(&torn));
    w.map[pos + HEADER..pos + HEADER + 7].copy_from_slice(b"partial");
    drop(w);
    let sum = scan(&d, |_| {}).unwrap();
    assert_eq!(sum.records, 10, "the torn record is not committed");
    assert_eq!(sum.torn, Some((0, pos)));
    let (mut w, s) = JournalWriter::open(&d, 1 << 16).unwrap();
    assert_eq!(s.torn, Some((0, pos)), "reported on open");
    assert_eq!(w.append(1, 1, 11, b"next").unwrap(), 11);
    let mut last = Vec::new();
    let sum = scan(&d, |r| last = r.payload.to_vec()).unwrap();
    assert_eq!((sum.records, sum.torn), (11, None));
    assert_eq!(last, b"next");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn corruption_is_found_at_its_exact_offset() {
    let d = dir("corrupt");
    let (mut w, _) = JournalWriter::open(&d, 1 << 16).unwrap();
    let mut offsets = Vec::new();
    for i in 1..=20u64 {
        offsets.push(w.position().1);
        w.append(2, 1, i, &i.to_le_bytes()).unwrap();
    }
    w.sync().unwrap();
    drop(w);
    // Flip one payload bit of record 13.
    let path = d.join(segment::file_name(0));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[offsets[12] + HEADER] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    match scan(&d, |_| {}) {
        Err(JournalError::Corrupt {
            segment: 0,
            offset,
            what,
        }) => {
            assert_eq!(offset, offsets[12]);
            assert_eq!(what, "CRC mismatch");
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    // The writer refuses to append after corrupted history.
    assert!(matches!(
        JournalWriter::open(&d, 1 << 16),
        Err(JournalError::Corrupt { .. })
    ));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn foreign_files_and_missing_segments_are_refused() {
    let d = dir("foreign");
    let (mut w, _) = JournalWriter::open(&d, 4096).unwrap();
    for i in 0..300u64 {
        w.append(1, 1, i, &[0u8; 40]).unwrap();
    }
    drop(w);
    std::fs::remove_file(d.join(segment::file_name(1))).unwrap();
    assert!(matches!(
        scan(&d, |_| {}),
        Err(JournalError::MissingSegment {
            segment: 1,
            next: Some(2)
        })
    ));
    let e = dir("foreign2");
    std::fs::create_dir_all(&e).unwrap();
    std::fs::write(e.join(segment::file_name(0)), vec![7u8; 4096]).unwrap();
    assert!(matches!(
        scan(&e, |_| {}),
        Err(JournalError::Corrupt {
            segment: 0,
            offset: 0,
            ..
        })
    ));
    let _ = std::fs::remove_dir_all(&d);
    let _ = std::fs::remove_dir_all(&e);
}

/// A full disk (here: a directory where the next segment's file must go) refuses
/// records once the segment is full, each at once, without waiting for a preparer that
/// has already answered; once the disk has room again appending resumes with the next
/// sequence number, nothing skipped.
#[test]
fn a_segment_that_cannot_be_made_refuses_records_at_once_and_appending_resumes() {
    let d = dir("no-space");
    std::fs::create_dir_all(d.join(format!("{}.tmp", segment::file_name(1)))).unwrap();
    let (mut w, _) = JournalWriter::open(&d, 4096).unwrap();
    // On the writer's own thread, bounded: a writer that waits forever fails the test.
    let (tx, rx) = mpsc::channel();
    let d2 = d.clone();
    let t = std::thread::spawn(move || {
        let mut written = 0u64;
        while w.append(1, 1, 0, &[7; 100]).is_ok() {
            written += 1;
        }
        let refused = (0..1000)
            .filter(|_| w.append(1, 1, 0, &[7; 100]).is_err())
            .count();
        let _ = tx.send((written, refused));
        std::fs::remove_dir_all(d2.join(format!("{}.tmp", segment::file_name(1)))).unwrap();
        // The preparer is asked again after each failure and waits 100 ms between them.
        let t0 = std::time::Instant::now();
        let seq = loop {
            match w.append(2, 1, 0, &[8; 100]) {
                Ok(seq) => break Some(seq),
                Err(_) if t0.elapsed() < std::time::Duration::from_secs(10) => {
                    std::thread::sleep(std::time::Duration::from_millis(5))
                }
                Err(_) => break None,
            }
        };
        (w.position().0, seq)
    });
    let (written, refused) = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("the writer stalled on a segment that could not be made");
    assert!(written > 10, "{written}");
    assert_eq!(refused, 1000);
    let (segment, seq) = t.join().unwrap();
    assert_eq!((segment, seq), (1, Some(written + 1)));
    let last = scan(&d, |_| {}).unwrap();
    assert_eq!((last.records, last.last_seq), (written + 1, written + 1));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn oversized_payloads_are_refused_not_split() {
    let d = dir("large");
    let (mut w, _) = JournalWriter::open(&d, 4096).unwrap();
    assert!(matches!(
        w.append(1, 1, 0, &[0u8; 5000]),
        Err(JournalError::TooLarge(5000))
    ));
    assert_eq!(w.append(1, 1, 0, b"ok").unwrap(), 1);
    let _ = std::fs::remove_dir_all(&d);
}

/// Rewrites every segment header of the journal in `d` in the first format (plain
/// committed end and sealed flag, no checksum), as execd wrote them before format 2.
fn to_format_1(d: &Path) {
    for (_, path) in segment::list(d).unwrap() {
        let mut b = std::fs::read(&path).unwrap();
        let c = segment::cursor(&b).unwrap();
        b[8..12].copy_from_slice(&segment::FORMAT_V1.to_le_bytes());
        b[32..40].copy_from_slice(&(c.end as u64).to_le_bytes());
        b[40..48].copy_from_slice(&u64::from(c.sealed).to_le_bytes());
        b[48..64].fill(0);
        std::fs::write(&path, b).unwrap();
    }
}

#[test]
fn format_1_journals_are_read_and_continued_in_format_2() {
    let d = dir("v1");
    let (mut w, _) = JournalWriter::open(&d, 4096).unwrap();
    for i in 1..=200u64 {
        w.append(1, 1, i, &payload(i)).unwrap();
    }
    drop(w);
    to_format_1(&d);
    let before = scan(&d, |_| {}).unwrap();
    assert_eq!(before.records, 200);
    assert_eq!(before.format_v1, before.segments);
    let (mut w, s) = JournalWriter::open(&d, 4096).unwrap();
    assert_eq!(s.last_seq, 200);
    assert_eq!(w.append(1, 1, 201, b"after").unwrap(), 201);
    drop(w);
    let after = scan(&d, |_| {}).unwrap();
    assert_eq!(after.records, 201);
    assert!(
        after.format_v1 < after.segments,
        "the continued segment is converted"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_lowered_committed_end_is_refused_in_either_format() {
    // Format 2: the checksum no longer matches.
    let d = dir("lowered2");
    let (mut w, _) = JournalWriter::open(&d, 1 << 16).unwrap();
    let mut ends = Vec::new();
    for i in 1..=20u64 {
        w.append(1, 1, i, &payload(i)).unwrap();
        ends.push(w.position().1);
    }
    drop(w);
    let path = d.join(segment::file_name(0));
    let mut b = std::fs::read(&path).unwrap();
    b[32..36].copy_from_slice(&(ends[14] as u32).to_le_bytes());
    std::fs::write(&path, &b).unwrap();
    match scan(&d, |_| {}) {
        Err(JournalError::Corrupt {
            offset: 32, what, ..
        }) => assert!(what.contains("checksum")),
        other => panic!("a lowered end was accepted: {other:?}"),
    }
    assert!(JournalWriter::open(&d, 1 << 16).is_err());
    // Format 1, where nothing checks the end: records that check and continue the
    // sequence past it give it away.
    let e = dir("lowered1");
    let (mut w, _) = JournalWriter::open(&e, 1 << 16).unwrap();
    for i in 1..=20u64 {
        w.append(1, 1, i, &payload(i)).unwrap();
    }
    drop(w);
    to_format_1(&e);
    let path = e.join(segment::file_name(0));
    let mut b = std::fs::read(&path).unwrap();
    b[32..40].copy_from_slice(&(ends[14] as u64).to_le_bytes());
    std::fs::write(&path, &b).unwrap();
    match scan(&e, |_| {}) {
        Err(JournalError::Corrupt { offset, what, .. }) => {
            assert_eq!(offset, ends[14]);
            assert!(what.contains("lowered"), "{what}");
        }
        other => panic!("a lowered end was accepted: {other:?}"),
    }
    // One record past the end is what a crash leaves: that one is a torn record.
    b[32..40].copy_from_slice(&(ends[18] as u64).to_le_bytes());
    std::fs::write(&path, &b).unwrap();
    let s = scan(&e, |_| {}).unwrap();
    assert_eq!((s.records, s.torn), (19, Some((0, ends[18]))));
    let _ = std::fs::remove_dir_all(&d);
    let _ = std::fs::remove_dir_all(&e);
}

#[test]
fn a_sealed_last_segment_means_its_successor_was_deleted() {
    let d = dir("tail");
    let (mut w, _) = JournalWriter::open(&d, 4096).unwrap();
    for i in 0..300u64 {
        w.append(1, 1, i, &[0u8; 40]).unwrap();
    }
    let (last, _) = w.position();
    drop(w);
    std::fs::remove_file(d.join(segment::file_name(last))).unwrap();
    assert!(matches!(
        scan(&d, |_| {}),
        Err(JournalError::MissingSegment { segment, next: None }) if segment == last
    ));
    assert!(
        JournalWriter::open(&d, 4096).is_err(),
        "the writer would reuse its numbers"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn special_files_are_refused_by_name_never_opened() {
    use std::os::unix::ffi::OsStrExt;
    let d = dir("fifo");
    let (mut w, _) = JournalWriter::open(&d, 4096).unwrap();
    w.append(1, 1, 1, b"x").unwrap();
    drop(w);
    let p = d.join("stray");
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let e = scan(&d, |_| {}).unwrap_err().to_string();
    assert!(e.contains("stray is a FIFO, not a regular file"), "{e}");
    assert!(segment::open_regular(&p).is_err());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_lenient_walk_and_a_cut_keep_what_checks_and_set_the_rest_aside() {
    let d = dir("cut");
    let (mut w, _) = JournalWriter::open(&d, 4096).unwrap();
    for i in 1..=300u64 {
        w.append(1, 1, i, &payload(i)).unwrap();
    }
    drop(w);
    let segs = segment::list(&d).unwrap();
    assert!(segs.len() > 4);
    // Damage a record in the third segment.
    let third = &segs[2].1;
    let mut b = std::fs::read(third).unwrap();
    b[SEGMENT_HEADER + HEADER + 1] ^= 0xff;
    std::fs::write(third, &b).unwrap();
    let mut seen = 0;
    let walked = walk_valid(&d, |_| seen += 1).unwrap();
    assert_eq!(walked.last_seq, seen);
    assert_eq!(walked.end.map(|e| e.0), Some(segs[2].0));
    assert!(!walked.beyond.is_empty());
    let report = cut(&d, walked.last_seq, "set-aside-test").unwrap();
    assert!(!report.set_aside.is_empty());
    for p in &report.set_aside {
        assert!(p.exists(), "{} is kept", p.display());
    }
    let s = scan(&d, |_| {}).unwrap();
    assert_eq!(s.last_seq, walked.last_seq);
    let (mut w, _) = JournalWriter::open(&d, 4096).unwrap();
    assert_eq!(w.append(1, 1, 0, b"next").unwrap(), walked.last_seq + 1);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_journal_continued_with_larger_segments_rolls_instead_of_refusing_records() {
    let d = dir("resize");
    let (mut w, _) = JournalWriter::open(&d, 128).unwrap();
    assert_eq!(w.append(1, 1, 1, b"small").unwrap(), 1);
    drop(w);
    // The last segment holds 64 bytes of records at most; the size asked for now is
    // larger, and a record of 100 bytes goes to a new segment of that size.
    let (mut w, _) = JournalWriter::open(&d, 4096).unwrap();
    assert_eq!(w.append(1, 1, 2, &[7u8; 100]).unwrap(), 2);
    assert_eq!(w.position().0, 1);
    drop(w);
    assert_eq!(scan(&d, |_| {}).unwrap().records, 2);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_follower_hands_over_records_as_they_are_committed_across_segments() {
    let d = dir("follow");
    let (mut w, _) = JournalWriter::open(&d, 4096).unwrap();
    for i in 1..=120u64 {
        w.append(1, 1, i, &payload(i)).unwrap();
    }
    let mut from_start = follow::Follower::at(&d, 1).unwrap();
    let mut mid = follow::Follower::at(&d, 77).unwrap();
    let mut got = Vec::new();
    // A bounded poll hands over at most that many; the rest come on the next.
    assert_eq!(from_start.poll(50, |h, _| got.push(h.seq)).unwrap(), 50);
    while from_start.poll(50, |h, _| got.push(h.seq)).unwrap() > 0 {}
    assert_eq!(got, (1..=120).collect::<Vec<_>>());
    let mut tail = Vec::new();
    mid.poll(1000, |h, p| {
        assert_eq!(p, &payload(h.seq)[..]);
        tail.push(h.seq)
    })
    .unwrap();
    assert_eq!(tail, (77..=120).collect::<Vec<_>>());
    // Nothing new: nothing handed over. Then the writer goes on, into new segments.
    assert_eq!(mid.poll(1000, |_, _| panic!("nothing new")).unwrap(), 0);
    for i in 121..=300u64 {
        w.append(1, 1, i, &payload(i)).unwrap();
    }
    tail.clear();
    while mid.poll(64, |h, _| tail.push(h.seq)).unwrap() > 0 {}
    assert_eq!(tail, (121..=300).collect::<Vec<_>>());
    assert_eq!(mid.next_seq(), 301);
    // A follower at the record that comes next waits for it.
    let mut next = follow::Follower::at(&d, 301).unwrap();
    assert_eq!(next.poll(10, |_, _| panic!("not written yet")).unwrap(), 0);
    w.append(1, 1, 301, &payload(301)).unwrap();
    assert_eq!(next.poll(10, |h, _| assert_eq!(h.seq, 301)).unwrap(), 1);
    drop(w);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_follower_whose_segment_was_retired_says_so_instead_of_waiting_forever() {
    let d = dir("follow-retired");
    let (mut w, _) = JournalWriter::open(&d, 4096).unwrap();
    for i in 1..=200u64 {
        w.append(1, 1, i, &payload(i)).unwrap();
    }
    // A reader placed at record 1 that has not read yet, and the sidecar retires the
    // first segment (its records are in the audit log) before it does.
    let mut lagging = follow::Follower::at(&d, 1).unwrap();
    let first = segment::list(&d).unwrap()[0].1.clone();
    std::fs::remove_file(&first).unwrap();
    let err = lagging
        .poll(5, |_, _| panic!("nothing to hand over"))
        .unwrap_err();
    assert!(err.to_string().contains("retired"), "{err}");
    // Asked for a record older than the journal's first segment: refused at once.
    assert!(follow::Follower::at(&d, 1).is_err());
    // A record not written yet is waited for, not an error.
    let mut next = follow::Follower::at(&d, 201).unwrap();
    assert_eq!(next.poll(5, |_, _| panic!("not written yet")).unwrap(), 0);
    drop(w);
    let _ = std::fs::remove_dir_all(&d);
}
