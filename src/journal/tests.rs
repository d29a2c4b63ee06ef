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
