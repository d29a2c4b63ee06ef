//! The whole history a journal directory holds — the journal's segments and the audit log
//! the sidecar copied them into — checked against each other record by record.
//!
//! The two copies guard each other: the journal can lose its tail (a segment deleted or
//! renamed, a cursor edited back) and the audit log then still holds what it had; the
//! audit log can be cut or damaged and the journal still holds what it lost. What must
//! never happen is a start on a history that silently lost records: the next records
//! would take their sequence numbers, and the two copies would disagree from then on.
//! [`check`] is what `execd-replay verify` runs and what a start runs before recovery,
//! so both refuse the same histories with the same sentence ([`Refusal`]'s `Display`).
//! [`salvage`] is what an operator's explicit `--accept-journal-loss` does instead.

use super::audit::Reader;
use crate::journal::record::RecordHeader;
use crate::journal::{self, JournalError, ScanSummary, Walked};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Why a history is refused.
#[derive(Debug)]
pub enum Refusal {
    /// The journal itself: a segment missing (in the middle or at the end), a damaged
    /// header or record, a special file in the directory.
    Journal(JournalError),
    /// The audit log: a damaged or foreign file, a gap, a special file; the message
    /// names the file and byte.
    Audit(io::Error),
    /// An audit record is not the journal's record with the same number.
    Differs {
        /// The record.
        seq: u64,
        /// The audit file holding the other version.
        file: PathBuf,
        /// Its byte offset there.
        offset: usize,
        /// Journal segment of the journal's version.
        segment: u64,
        /// Its byte offset there.
        segment_offset: usize,
    },
    /// The audit log holds records past the journal's end: the journal lost them.
    AuditAhead {
        /// The audit log's last record.
        audit_last: u64,
        /// The journal's last record (0: it holds none).
        journal_last: u64,
    },
    /// Records that are in neither copy: retired from the journal, absent from the
    /// audit log. The state cannot be rebuilt without them.
    Missing {
        /// First missing record.
        from: u64,
        /// Last missing record.
        to: u64,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Journal(e) => write!(f, "{e}"),
            Refusal::Audit(e) => write!(f, "{e}"),
            Refusal::Differs {
                seq,
                file,
                offset,
                segment,
                segment_offset,
            } => write!(
                f,
                "audit log {} at byte {offset}: record {seq} differs from the journal's record {seq} (segment {segment}, byte {segment_offset}): one of the two was altered",
                file.display()
            ),
            Refusal::AuditAhead {
                audit_last,
                journal_last,
            } => write!(
                f,
                "the audit log holds records up to {audit_last} but the journal {}: records {}..{audit_last} are gone from the journal (a segment deleted, renamed or cut, or its committed end lowered); carrying on would reuse their sequence numbers",
                if *journal_last == 0 {
                    "holds none".to_string()
                } else {
                    format!("ends at {journal_last}")
                },
                journal_last + 1
            ),
            Refusal::Missing { from, to } => write!(
                f,
                "records {from}..{to} are in neither the journal (its segments start later) nor the audit log: the state cannot be rebuilt without them"
            ),
        }
    }
}

impl std::error::Error for Refusal {}

/// What the audit log holds, as checked against the journal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditSummary {
    /// Audit files.
    pub files: usize,
    /// Records in them.
    pub records: u64,
    /// Its first record (0 for an empty log).
    pub first_seq: u64,
    /// Its last record (0 for an empty log).
    pub last_seq: u64,
    /// Records both copies hold, found identical (header, and so CRC, for CRC).
    pub compared: u64,
    /// The last record cut off at the end of a file (a crash while copying, or a file
    /// cut short): file and byte.
    pub cut: Option<(PathBuf, usize)>,
}

/// The history a directory holds, checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    /// The journal's segments.
    pub journal: ScanSummary,
    /// The audit log.
    pub audit: AuditSummary,
}

impl History {
    /// Journal records the audit log does not hold yet (the sidecar copies them at the
    /// next start): first and last.
    pub fn not_yet_copied(&self) -> Option<(u64, u64)> {
        let from = self
            .audit
            .last_seq
            .max(self.journal.first_seq.saturating_sub(1))
            + 1;
        (self.journal.records > 0 && from <= self.journal.last_seq)
            .then_some((from, self.journal.last_seq))
    }
}

/// The audit directory of a journal directory.
pub fn audit_dir(dir: &Path) -> PathBuf {
    dir.join("audit")
}

/// Header fields an audit record and a journal record must share.
fn same(a: &RecordHeader, b: &RecordHeader) -> bool {
    a == b
}

/// Checks the journal in `dir` and its audit log against each other, record by record:
/// the journal as `journal::scan` does; every audit record's CRC, sequence continuity
/// across files and equality with the journal's record of the same number; that the
/// audit log is not ahead of the journal; and that together they hold every record
/// from 1 on. A missing directory is an I/O error; an empty one is an empty history.
pub fn check(dir: &Path) -> Result<History, Refusal> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(Refusal::Journal(JournalError::Io(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("{} is not a directory", dir.display()),
            ))))
        }
        Err(e) => {
            return Err(Refusal::Journal(JournalError::Io(io::Error::new(
                e.kind(),
                format!("{}: {e}", dir.display()),
            ))))
        }
    }
    let mut reader = Reader::open(&audit_dir(dir)).map_err(Refusal::Audit)?;
    let mut a = AuditSummary {
        files: reader.files().len(),
        ..AuditSummary::default()
    };
    let j_first = journal::first_seq(dir)
        .map_err(|e| Refusal::Journal(JournalError::Io(e)))?
        .unwrap_or(u64::MAX);
    let next = |reader: &mut Reader, a: &mut AuditSummary| -> io::Result<_> {
        Ok(reader.next_record()?.map(|r| {
            if a.records == 0 {
                a.first_seq = r.header.seq;
            }
            a.records += 1;
            a.last_seq = r.header.seq;
            (r.header, r.file_index, r.offset)
        }))
    };
    // Records only the audit log holds (those of retired segments) are read past; the
    // first one the journal may hold too waits to be matched: header, file, offset.
    let mut pending = loop {
        match next(&mut reader, &mut a).map_err(Refusal::Audit)? {
            Some((h, _, _)) if h.seq < j_first => continue,
            p => break p,
        }
    };
    let mut problem: Option<Refusal> = None;
    let journal = journal::scan(dir, |r| {
        if problem.is_some() {
            return;
        }
        let Some((h, file, offset)) = pending else {
            return;
        };
        if h.seq != r.header.seq {
            // The audit log starts later (older files moved elsewhere): nothing to match.
            return;
        }
        if !same(&h, &r.header) {
            problem = Some(Refusal::Differs {
                seq: h.seq,
                file: reader.files()[file].clone(),
                offset,
                segment: r.segment,
                segment_offset: r.offset,
            });
            return;
        }
        a.compared += 1;
        match next(&mut reader, &mut a) {
            Ok(p) => pending = p,
            Err(e) => problem = Some(Refusal::Audit(e)),
        }
    })
    .map_err(Refusal::Journal)?;
    if let Some(p) = problem {
        return Err(p);
    }
    if pending.is_some() {
        // Read the rest, so a damaged file there is named rather than a count.
        while next(&mut reader, &mut a).map_err(Refusal::Audit)?.is_some() {}
    }
    // A live writer and its sidecar may have gone on while the journal was being read:
    // the journal is ahead again by now if so.
    if a.last_seq > journal.last_seq
        && journal::scan(dir, |_| {}).map_or(true, |s| s.last_seq < a.last_seq)
    {
        return Err(Refusal::AuditAhead {
            audit_last: a.last_seq,
            journal_last: journal.last_seq,
        });
    }
    a.cut = reader.cut.take();
    if journal.segments > 0 && journal.first_seq > 1 {
        let have_from = if a.records > 0 { a.first_seq } else { u64::MAX };
        if have_from > 1 {
            return Err(Refusal::Missing {
                from: 1,
                to: have_from.min(journal.first_seq) - 1,
            });
        }
        if a.last_seq + 1 < journal.first_seq {
            return Err(Refusal::Missing {
                from: a.last_seq + 1,
                to: journal.first_seq - 1,
            });
        }
    }
    Ok(History { journal, audit: a })
}

/// What [`salvage`] did, for the record of it the journal keeps.
#[derive(Clone, Debug, Default)]
pub struct Salvage {
    /// The journal was kept through this record.
    pub kept_through: u64,
    /// Records the journal had lost, copied back from the audit log: first and last.
    pub restored: Option<(u64, u64)>,
    /// The history now ends here.
    pub end: u64,
    /// Time of the last record kept (the engine's clock, for the record of the loss).
    pub last_ts: u64,
    /// Files set aside (renamed, never deleted): journal segments and audit files.
    pub set_aside: Vec<PathBuf>,
    /// Journal segments whose header was rewritten, with the header they had.
    pub rewritten: Vec<(u64, Vec<u8>)>,
}

/// Makes a refused history usable again, keeping everything that can be trusted and
/// setting the rest aside (renamed, never deleted); only ever run on an operator's
/// explicit word. The trusted history is the longest run from record 1 on in which every
/// record checks in at least one copy and the two copies agree wherever both hold it:
///
/// - the journal is kept as far as its records check and continue the sequence (its
///   cursors are not trusted: one may be what was altered), up to the first record that
///   differs from the audit log's;
/// - the audit log is kept file by file up to the first file that is damaged, has a
///   gap, or holds a record that differs;
/// - records only the audit log still has (a deleted journal tail) are copied back into
///   the journal, so the history goes on where it really ended;
/// - what the journal holds past the kept audit files is copied into the audit log again
///   by the sidecar at the next start.
///
/// Refuses (with the reason) when even that leaves a hole in the history, or when the
/// directory holds a special file.
pub fn salvage(dir: &Path, segment_size: usize, suffix: &str) -> Result<Salvage, Refusal> {
    let audit = audit_dir(dir);
    let mut reader = Reader::open(&audit).map_err(Refusal::Audit)?;
    let files = reader.files().to_vec();
    // First and last record of each audit file, up to the first one not to be trusted.
    let mut spans: Vec<Option<(u64, u64)>> = vec![None; files.len()];
    let mut untrusted_from = files.len();
    loop {
        match reader.next_record() {
            Ok(Some(r)) => {
                let s = &mut spans[r.file_index];
                *s = Some((s.map_or(r.header.seq, |s| s.0), r.header.seq));
            }
            Ok(None) => break,
            Err(_) => {
                untrusted_from = reader.file_index().min(files.len());
                break;
            }
        }
    }
    // The journal, leniently, compared with the trusted audit records on the way.
    let mut trusted = Reader::over(files[..untrusted_from].to_vec());
    let mut pending: Option<(RecordHeader, usize)> = None;
    let mut exhausted = false;
    let mut differs: Option<(u64, usize)> = None;
    let walked: Walked = journal::walk_valid(dir, |r| {
        if differs.is_some() {
            return;
        }
        while !exhausted && pending.is_none_or(|(h, _)| h.seq < r.header.seq) {
            match trusted.next_record() {
                Ok(Some(a)) => pending = Some((a.header, a.file_index)),
                _ => exhausted = true,
            }
        }
        if let Some((h, f)) = pending {
            if h.seq == r.header.seq && !same(&h, &r.header) {
                differs = Some((h.seq, f));
            }
        }
    })
    .map_err(Refusal::Journal)?;
    let mut kept_through = walked.last_seq;
    if let Some((seq, f)) = differs {
        kept_through = seq - 1;
        untrusted_from = untrusted_from.min(f);
    }
    let kept_spans = spans[..untrusted_from].iter().flatten();
    let audit_first = kept_spans.clone().map(|s| s.0).next().unwrap_or(u64::MAX);
    let audit_last = kept_spans.map(|s| s.1).next_back().unwrap_or(0);
    // The journal part of the history is walked.first_seq..=kept_through (empty when
    // the latter is below the former); together with the audit part it must run from 1
    // on without a hole.
    let journal_empty = walked.end.is_none() || kept_through < walked.first_seq;
    let j_from = if journal_empty {
        u64::MAX
    } else {
        walked.first_seq
    };
    if j_from > 1 {
        if audit_first > 1 {
            return Err(Refusal::Missing {
                from: 1,
                to: audit_first.min(j_from) - 1,
            });
        }
        if !journal_empty && audit_last + 1 < j_from {
            return Err(Refusal::Missing {
                from: audit_last + 1,
                to: j_from - 1,
            });
        }
    }
    if journal_empty
        && walked.end.is_some()
        && walked.first_seq > 1
        && audit_last + 1 < walked.first_seq
    {
        return Err(Refusal::Missing {
            from: audit_last + 1,
            to: walked.first_seq - 1,
        });
    }
    // Set the journal's untrusted part aside.
    let through = if journal_empty {
        if walked.end.is_some() && walked.first_seq > 1 {
            walked.first_seq - 1
        } else {
            0
        }
    } else {
        kept_through
    };
    let cut = journal::cut(dir, through, suffix).map_err(Refusal::Journal)?;
    let mut out = Salvage {
        kept_through: through,
        last_ts: walked.last_ts,
        set_aside: cut.set_aside,
        rewritten: cut.rewritten,
        ..Salvage::default()
    };
    // Audit files from the first untrusted one on go into a directory of their own.
    if untrusted_from < files.len() {
        let aside = audit.join(suffix);
        std::fs::create_dir_all(&aside).map_err(Refusal::Audit)?;
        for f in &files[untrusted_from..] {
            let to = aside.join(f.file_name().unwrap_or_default());
            std::fs::rename(f, &to).map_err(Refusal::Audit)?;
            out.set_aside.push(to);
        }
        std::fs::File::open(&audit)
            .and_then(|d| d.sync_all())
            .map_err(Refusal::Audit)?;
    }
    // Records the journal lost and the trusted audit log still has: copied back.
    out.end = through.max(audit_last);
    if audit_last > through {
        let (mut w, _) =
            journal::JournalWriter::open(dir, segment_size).map_err(Refusal::Journal)?;
        let from = w.next_seq();
        let mut r = Reader::over(files[..untrusted_from].to_vec());
        let mut failure: Option<Refusal> = None;
        while let Some(rec) = r.next_record().map_err(Refusal::Audit)? {
            let h = rec.header;
            if h.seq < from {
                continue;
            }
            match w.append(h.kind, h.version, h.ts_ns, rec.payload) {
                Ok(seq) if seq == h.seq => out.last_ts = h.ts_ns,
                Ok(_) => {
                    failure = Some(Refusal::Journal(JournalError::Corrupt {
                        segment: w.position().0,
                        offset: w.position().1,
                        what: "a record copied back from the audit log got another sequence number",
                    }));
                    break;
                }
                Err(e) => {
                    failure = Some(Refusal::Journal(e));
                    break;
                }
            }
        }
        w.sync()
            .map_err(|e| Refusal::Journal(JournalError::Io(e)))?;
        if let Some(f) = failure {
            return Err(f);
        }
        out.restored = Some((from, audit_last));
    }
    Ok(out)
}
