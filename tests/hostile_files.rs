//! Every input is hostile: files (R-RES-5, R-AUD-2, R-AUD-3). An attacker with the release
//! binaries and write access to the journal directory deletes, renames, cuts, edits and
//! replaces files; execd, `execd-replay` and the sidecar must never carry on as if
//! nothing happened. Each test here is a defect found that way, through the real
//! binaries on real files:
//!
//! - a start on a journal that lost records (its last segment deleted or renamed, a
//!   segment in the middle gone, its committed end lowered, the audit log ahead of it)
//!   reused sequence numbers the audit log already held and exited 0, and `export` of
//!   it exited 0 with rows missing; now the start, `verify` and `export` refuse it with
//!   the same sentence, unless an operator passes `--accept-journal-loss REASON`;
//! - a half-cut audit log verified "identical to the journal", a damaged one was only
//!   the sidecar's problem; now `verify` compares it record by record and says where
//!   it diverges, and a start refuses a damaged one;
//! - the audit file deleted under a running execd: it traded on and exited 0; now new
//!   orders are refused (AUDIT_FAILED) and it exits 3;
//! - a FIFO in place of a segment blocked every tool forever; now it is refused by name.
//!
//! `EXECD_TEST_BINS=DIR` runs the same tests against other builds of the binaries (how
//! each was shown to fail before its fix).

mod common;

use common::{bin, run, run_for, text, TempDir};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The configuration the journals here are written under: 1 MiB segments and 1 MiB
/// audit files, so 20 000 demo requests make a dozen of each.
fn small_config() -> &'static Path {
    static CFG: OnceLock<PathBuf> = OnceLock::new();
    CFG.get_or_init(|| {
        let t =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/paper.toml"))
                .unwrap()
                .replacen("segment_kb = 65536", "segment_kb = 1024", 1)
                .replacen("audit_file_mb = 256", "audit_file_mb = 1", 1);
        common::scratch_file("hostile-small.toml", &t)
    })
}

const ORDERS: &str = "20000";

/// A journal written by `execd demo` (made once, copied for each test).
fn journal(tag: &str) -> TempDir {
    static MASTER: OnceLock<PathBuf> = OnceLock::new();
    let master = MASTER.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("execd-hostile-master-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let out = run(
            "execd",
            &[
                "demo",
                "--orders",
                ORDERS,
                "--config",
                small_config().to_str().unwrap(),
                "--journal",
                dir.to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        dir
    });
    let d = TempDir::new(&format!("hostile-{tag}"));
    copy_dir(master, &d);
    d
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "journal"))
        .collect();
    v.sort();
    v
}

fn audit_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("audit"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    v.sort();
    v
}

/// `execd demo` carrying on on `dir` (more requests than it holds).
fn restart_demo(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "demo",
        "--orders",
        "21000",
        "--config",
        small_config().to_str().unwrap(),
        "--journal",
        dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run("execd", &args)
}

/// The sentence after "CORRUPT: " in `execd-replay`'s refusal.
fn refusal(out: &Output) -> String {
    let err = text(&out.stderr);
    err.lines()
        .find_map(|l| l.strip_prefix("CORRUPT: "))
        .unwrap_or_else(|| panic!("no refusal in: {err}"))
        .to_string()
}

/// The journal in `dir` is refused by `verify`, `export` (nothing exported) and by a
/// start of `execd demo` and `execd run`, all with the same sentence, which contains
/// `needle`; nothing in the directory changes.
fn refused_everywhere(dir: &Path, needle: &str) -> String {
    let d = dir.to_str().unwrap();
    let before = listing(dir);
    let v = run("execd-replay", &["verify", d]);
    assert_eq!(
        v.status.code(),
        Some(1),
        "verify: {}{}",
        text(&v.stdout),
        text(&v.stderr)
    );
    let sentence = refusal(&v);
    assert!(sentence.contains(needle), "{sentence}");
    let e = run("execd-replay", &["export", d, "--format", "csv"]);
    assert_eq!(e.status.code(), Some(1), "export: {}", text(&e.stderr));
    assert_eq!(refusal(&e), sentence);
    assert!(
        e.stdout.is_empty(),
        "export wrote rows of a refused journal"
    );
    let o = run("execd-replay", &["order", d, "demo-1"]);
    assert_eq!(o.status.code(), Some(1));
    let demo = restart_demo(dir, &[]);
    assert_eq!(
        demo.status.code(),
        Some(2),
        "demo started: {}",
        text(&demo.stderr)
    );
    assert!(
        text(&demo.stderr).contains(&format!("cannot start: {d}: {sentence}")),
        "demo: {}",
        text(&demo.stderr)
    );
    let r = run(
        "execd",
        &[
            "run",
            "--listen",
            "off",
            "--config",
            small_config().to_str().unwrap(),
            "--journal",
            d,
            "--orders",
            "10",
            "--exit",
        ],
    );
    assert_eq!(r.status.code(), Some(2), "run started: {}", text(&r.stderr));
    assert!(
        text(&r.stderr).contains(&format!("cannot start: {d}: {sentence}")),
        "run: {}",
        text(&r.stderr)
    );
    assert_eq!(
        listing(dir),
        before,
        "a refused start changed the directory"
    );
    sentence
}

/// Names and sizes of everything in `dir` (recursively).
fn listing(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let m = std::fs::symlink_metadata(e.path()).unwrap();
        if m.is_dir() {
            v.extend(listing(&e.path()));
        } else {
            v.push((e.path(), m.len()));
        }
    }
    v.sort();
    v
}

#[test]
fn a_deleted_last_segment_is_refused_by_start_verify_and_export_alike() {
    let dir = journal("deleted-tail");
    let segs = segments(&dir);
    assert!(segs.len() >= 5, "{segs:?}");
    std::fs::remove_file(segs.last().unwrap()).unwrap();
    let s = refused_everywhere(&dir, "is missing");
    assert!(s.contains("is sealed"), "{s}");
}

#[test]
fn a_renamed_last_segment_is_refused_too() {
    let dir = journal("renamed-tail");
    let last = segments(&dir).pop().unwrap();
    std::fs::rename(&last, last.with_extension("journal.bak")).unwrap();
    refused_everywhere(&dir, "its tail was deleted or renamed");
}

#[test]
fn a_segment_missing_in_the_middle_is_refused() {
    let dir = journal("gap");
    let segs = segments(&dir);
    std::fs::remove_file(&segs[segs.len() / 2]).unwrap();
    refused_everywhere(&dir, "the segment files jump");
}

/// The cursor word of segment `path`: committed end (low 31 bits), sealed, check.
fn cursor_word(path: &Path) -> u64 {
    let b = std::fs::read(path).unwrap();
    u64::from_le_bytes(b[32..40].try_into().unwrap())
}

fn set_cursor_word(path: &Path, w: u64) {
    let mut b = std::fs::read(path).unwrap();
    b[32..40].copy_from_slice(&w.to_le_bytes());
    std::fs::write(path, b).unwrap();
}

#[test]
fn a_lowered_committed_end_is_refused_not_wiped_as_a_torn_record() {
    let dir = journal("lowered");
    let last = segments(&dir).pop().unwrap();
    let w = cursor_word(&last);
    let end = w & 0x7fff_ffff;
    assert!(end > 4096, "the last segment holds records: {end}");
    // What the attacker did: the end moved back, everything else left alone.
    set_cursor_word(&last, (w & !0x7fff_ffff) | (end - 1024));
    let s = refused_everywhere(&dir, "does not match its checksum");
    assert!(s.contains("segment"), "{s}");
}

#[test]
fn a_lowered_committed_end_with_a_forged_checksum_is_caught_by_the_audit_log() {
    let dir = journal("forged");
    let last = segments(&dir).pop().unwrap();
    let bytes = std::fs::read(&last).unwrap();
    let w = cursor_word(&last);
    let end = (w & 0x7fff_ffff) as usize;
    // Someone who knows the format: lower the end to a record boundary, recompute the
    // check, and zero what lies past it, so nothing there looks like a torn record.
    let mut pos = 64;
    let mut bounds = Vec::new();
    while pos < end {
        bounds.push(pos);
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        pos += 32 + len.div_ceil(8) * 8;
    }
    let new_end = bounds[bounds.len() / 2] as u32;
    let base = crc32c::crc32c(&bytes[..32]);
    let check = crc32c::crc32c_append(base, &new_end.to_le_bytes());
    let mut b = bytes.clone();
    b[32..40].copy_from_slice(&((u64::from(check) << 32) | u64::from(new_end)).to_le_bytes());
    b[new_end as usize..].fill(0);
    std::fs::write(&last, b).unwrap();
    let s = refused_everywhere(&dir, "the audit log holds records up to");
    assert!(
        s.contains("carrying on would reuse their sequence numbers"),
        "{s}"
    );
}

#[test]
fn a_journal_deleted_beside_its_audit_log_is_refused() {
    let dir = journal("no-segments");
    for s in segments(&dir) {
        std::fs::remove_file(s).unwrap();
    }
    refused_everywhere(&dir, "the journal holds none");
}

#[test]
fn a_damaged_audit_file_is_refused_by_verify_and_start_naming_file_and_byte() {
    let dir = journal("audit-bit");
    let files = audit_files(&dir);
    let f = &files[files.len() / 2];
    let mut b = std::fs::read(f).unwrap();
    // Eight bytes in a row: padding between records is not data, but eight bytes are
    // never all padding.
    let at = b.len() / 2;
    for x in &mut b[at..at + 8] {
        *x ^= 0x10;
    }
    std::fs::write(f, b).unwrap();
    let s = refused_everywhere(&dir, "CRC mismatch");
    assert!(s.contains(f.file_name().unwrap().to_str().unwrap()), "{s}");
}

#[test]
fn an_audit_file_cut_in_the_middle_is_a_gap_not_identical() {
    let dir = journal("audit-cut");
    let files = audit_files(&dir);
    assert!(files.len() >= 3, "{files:?}");
    let f = &files[files.len() / 2];
    let len = std::fs::metadata(f).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(f)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let s = refused_everywhere(&dir, "are missing");
    assert!(s.starts_with("audit log"), "{s}");
}

#[test]
fn an_audit_log_cut_at_its_end_is_not_identical_and_the_next_start_completes_it() {
    let dir = journal("audit-tail-cut");
    let d = dir.to_str().unwrap();
    let last = audit_files(&dir).pop().unwrap();
    let len = std::fs::metadata(&last).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&last)
        .unwrap()
        .set_len((len - len / 3) | 1)
        .unwrap();
    let v = run("execd-replay", &["verify", d]);
    let out = text(&v.stdout);
    assert_eq!(v.status.code(), Some(0), "{out}{}", text(&v.stderr));
    assert!(!out.contains("identical to the journal"), "{out}");
    assert!(
        out.contains("NOT identical")
            && out.contains("not in the audit log yet")
            && out.contains("cut record"),
        "{out}"
    );
    // A crash while copying looks like this; the next start copies the rest.
    let r = restart_demo(&dir, &[]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let v = run("execd-replay", &["verify", d]);
    assert_eq!(v.status.code(), Some(0));
    assert!(
        text(&v.stdout).contains("identical to the journal"),
        "{}",
        text(&v.stdout)
    );
}

#[cfg(unix)]
fn mkfifo(p: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(
        unsafe { libc::mkfifo(c.as_ptr(), 0o644) },
        0,
        "mkfifo {}",
        p.display()
    );
}

#[test]
fn a_fifo_in_place_of_a_segment_or_an_audit_file_is_refused_not_waited_on() {
    for place in ["segment", "audit"] {
        let dir = journal(&format!("fifo-{place}"));
        let d = dir.to_str().unwrap();
        let target = match place {
            "segment" => segments(&dir).pop().unwrap(),
            _ => audit_files(&dir).pop().unwrap(),
        };
        std::fs::remove_file(&target).unwrap();
        mkfifo(&target);
        let limit = Duration::from_secs(30);
        for args in [
            vec!["verify", d],
            vec!["export", d, "--format", "jsonl"],
            vec!["order", d, "demo-1"],
        ] {
            let o = run_for("execd-replay", &args, limit);
            assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o.stderr));
            let err = text(&o.stderr);
            assert!(
                err.contains("is a FIFO, not a regular file")
                    && err.contains(target.to_str().unwrap()),
                "{args:?}: {err}"
            );
        }
        let o = run_for(
            "execd",
            &[
                "demo",
                "--orders",
                "100",
                "--config",
                small_config().to_str().unwrap(),
                "--journal",
                d,
                "--accept-journal-loss",
                "even an operator cannot make a FIFO a segment",
            ],
            limit,
        );
        assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
        assert!(text(&o.stderr).contains("is a FIFO"), "{}", text(&o.stderr));
    }
}

#[test]
fn accepting_a_loss_is_explicit_journaled_and_reuses_no_sequence_number() {
    let dir = journal("accept");
    let d = dir.to_str().unwrap();
    let last = segments(&dir).pop().unwrap();
    std::fs::remove_file(&last).unwrap();
    // A reason is required.
    let o = restart_demo(&dir, &["--accept-journal-loss", " "]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("reason"), "{}", text(&o.stderr));
    let reason = "segment deleted by the hostile-files test; the audit log has it";
    let o = restart_demo(&dir, &["--accept-journal-loss", reason]);
    let err = text(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("journal loss accepted") && err.contains("restored from the audit log"),
        "{err}"
    );
    // The history goes on after the records the audit log had: nothing was renumbered,
    // and verify says who accepted what, and why.
    let v = run("execd-replay", &["verify", d]);
    let out = text(&v.stdout);
    assert_eq!(v.status.code(), Some(0), "{out}{}", text(&v.stderr));
    assert!(out.contains("identical to the journal"), "{out}");
    assert!(
        out.contains("journal loss accepted at record") && out.contains(reason),
        "{out}"
    );
    let e = run(
        "execd-replay",
        &["export", d, "--format", "jsonl", "--kind", "journal_loss"],
    );
    assert_eq!(e.status.code(), Some(0));
    let rows = text(&e.stdout);
    assert_eq!(rows.lines().count(), 1, "{rows}");
    let row: serde_json::Value = serde_json::from_str(rows.trim()).unwrap();
    assert_eq!(row["reason"], reason);
    let f = &row["fields"];
    assert!(f["accepted_by_uid"].is_u64(), "{row}");
    assert!(
        f["refused"].as_str().unwrap().contains("is missing"),
        "{row}"
    );
    // And a later start needs no option.
    let o = restart_demo(&dir, &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
}

#[test]
fn accepting_a_loss_past_a_damaged_record_sets_the_rest_aside_and_keeps_it() {
    let dir = journal("accept-damage");
    let d = dir.to_str().unwrap();
    // The same record damaged in both copies: nothing after it can be trusted.
    let last = segments(&dir).pop().unwrap();
    let mut b = std::fs::read(&last).unwrap();
    let at = 64 + 40;
    b[at] ^= 0xff;
    std::fs::write(&last, b).unwrap();
    let files = audit_files(&dir);
    let f = files.last().unwrap();
    let mut a = std::fs::read(f).unwrap();
    let n = a.len();
    for x in &mut a[n - 24..n - 16] {
        *x ^= 0xff;
    }
    std::fs::write(f, a).unwrap();
    refused_everywhere(&dir, "CRC mismatch");
    let o = restart_demo(&dir, &["--accept-journal-loss", "bit rot in both copies"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let aside: Vec<_> = listing(&dir)
        .into_iter()
        .filter(|(p, _)| p.to_str().unwrap().contains("set-aside-"))
        .collect();
    assert!(
        aside.len() >= 2,
        "the damaged segment and audit file are kept: {aside:?}"
    );
    let v = run("execd-replay", &["verify", d]);
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}{}",
        text(&v.stdout),
        text(&v.stderr)
    );
}

#[test]
fn a_deleted_audit_file_stops_new_orders_and_the_exit_code_says_so() {
    let dir = TempDir::new("hostile-audit-gone");
    let d = dir.to_str().unwrap();
    let child = Command::new(bin("execd"))
        .args([
            "run",
            "--listen",
            "off",
            "--journal",
            d,
            "--orders",
            "1500",
            "--rate",
            "500",
            "--exit",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let audit = dir.join("audit");
    let t0 = Instant::now();
    while !audit.is_dir() || audit_files(&dir).is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no audit log appeared"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(700));
    std::fs::remove_dir_all(&audit).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("the audit log failed")
            && err.contains("AUDIT_FAILED")
            && err.contains("deleted"),
        "{err}"
    );
    assert!(
        text(&out.stdout).contains("AUDIT_FAILED"),
        "{}",
        text(&out.stdout)
    );
    // The journal holds when it happened and what was refused for it.
    let e = run(
        "execd-replay",
        &["export", d, "--format", "csv", "--kind", "rejected"],
    );
    assert_eq!(e.status.code(), Some(0), "{}", text(&e.stderr));
    assert!(text(&e.stdout).contains("AUDIT_FAILED"));
    let e = run(
        "execd-replay",
        &["export", d, "--format", "csv", "--kind", "audit_log"],
    );
    assert!(text(&e.stdout).contains(",FAILED,"), "{}", text(&e.stdout));
    // A restart with a working audit log trades again.
    let again = run(
        "execd",
        &[
            "run",
            "--listen",
            "off",
            "--journal",
            d,
            "--orders",
            "50",
            "--rate",
            "500",
            "--exit",
        ],
    );
    assert!(
        !text(&again.stdout).contains("AUDIT_FAILED"),
        "{}",
        text(&again.stdout)
    );
    assert!(
        text(&again.stderr).contains("the audit log works"),
        "{}",
        text(&again.stderr)
    );
    let e = run(
        "execd-replay",
        &["export", d, "--format", "csv", "--kind", "audit_log"],
    );
    assert!(text(&e.stdout).contains(",WORKING,"), "{}", text(&e.stdout));
    let v = run("execd-replay", &["verify", d]);
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}{}",
        text(&v.stdout),
        text(&v.stderr)
    );
}

#[test]
fn an_audit_directory_that_is_not_one_is_refused_at_start() {
    let dir = journal("audit-not-dir");
    std::fs::remove_dir_all(dir.join("audit")).unwrap();
    std::fs::write(dir.join("audit"), b"not a directory").unwrap();
    refused_everywhere(&dir, "audit");
}
