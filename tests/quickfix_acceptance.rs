//! QuickFIX's own acceptance suite against `execd-venue-sim` (SPEC R-VEN-7): the server
//! scripts of QuickFIX C++ for FIX 4.2, 4.4 and 5.0SP2, played by QuickFIX's unmodified
//! Ruby runner, all against one simulator started as QuickFIX's reference acceptor is
//! configured (SenderCompID ISLD, sessions TW42, TW44, TW50SP2, ResetOnLogon, its
//! application echoing orders):
//!
//! ```text
//! execd-venue-sim --port P --sender ISLD --policy echo --reset-on-logon \
//!     --dict-dir fix-dictionaries --target TW42,TW44,TW50SP2
//! cd shared/quickfix-at && ruby -I. Runner.rb 127.0.0.1 P definitions/server/fix44/*.def
//! ```
//!
//! Every script must pass; the table of results is printed (`-- --nocapture`) in the
//! form of `docs/conformance.md`. Needs `shared/quickfix-at` beside the repository (or
//! `EXECD_QUICKFIX_AT`) and `ruby` (or `EXECD_RUBY`): either missing, the test fails
//! under `CI=true` and prints SKIP otherwise.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

const VERSIONS: [(&str, usize); 3] = [("fix42", 58), ("fix44", 59), ("fix50sp2", 60)];
/// A runner blocks forever on an answer that never comes: each gets this long.
const RUNNER_LIMIT: Duration = Duration::from_secs(600);

fn missing(why: String) -> Option<PathBuf> {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{why} (CI=true)");
    }
    eprintln!("SKIP: {why}");
    None
}

fn quickfix_at() -> Option<PathBuf> {
    let p = std::env::var_os("EXECD_QUICKFIX_AT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/quickfix-at"));
    if p.join("Runner.rb").is_file() {
        return Some(p);
    }
    missing(format!(
        "QuickFIX's acceptance suite not found at {} (set EXECD_QUICKFIX_AT)",
        p.display()
    ))
}

fn ruby() -> Option<PathBuf> {
    let r = std::env::var_os("EXECD_RUBY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("ruby"));
    match Command::new(&r).arg("--version").output() {
        Ok(o) if o.status.success() => Some(r),
        _ => missing(format!(
            "{} does not run (apt-get install -y ruby, or set EXECD_RUBY)",
            r.display()
        )),
    }
}

/// Lines of `r` as they come, on a channel.
fn lines(r: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for l in BufReader::new(r).lines() {
            let Ok(l) = l else { return };
            if tx.send(l).is_err() {
                return;
            }
        }
    });
    rx
}

/// The simulator, stopped (and reaped) on drop whatever happened.
struct Sim(Child);

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(stdin) = self.0.stdin.as_mut() {
            let _ = stdin.write_all(b"quit\n");
        }
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What one runner said about each script: (script, passed, the runner's report).
struct Run {
    version: &'static str,
    exit: Option<i32>,
    scripts: Vec<(String, bool, String)>,
    last: String,
}

fn run_version(ruby: &Path, at: &Path, port: u16, version: &'static str) -> Run {
    let dir = at.join("definitions/server").join(version);
    let mut defs: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.ends_with(".def")
                .then(|| format!("definitions/server/{version}/{name}"))
        })
        .collect();
    defs.sort();
    let mut child = Command::new(ruby)
        .current_dir(at)
        .args(["-I.", "Runner.rb", "127.0.0.1", &port.to_string()])
        .args(&defs)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ruby starts");
    let out = lines(child.stdout.take().unwrap());
    let err = lines(child.stderr.take().unwrap());
    let end = Instant::now() + RUNNER_LIMIT;
    let mut text = Vec::new();
    let exit = loop {
        while let Ok(l) = out.try_recv() {
            text.push(l);
        }
        if let Ok(Some(st)) = child.try_wait() {
            break st.code();
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            text.push(format!("runner killed after {RUNNER_LIMIT:?}"));
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(100));
    text.extend(out.try_iter());
    text.extend(err.try_iter().map(|l| format!("stderr: {l}")));
    // The runner prints each script's path, then, if it failed, why.
    let mut scripts: Vec<(String, bool, String)> = Vec::new();
    let mut last = String::new();
    for l in text {
        if defs.contains(&l) {
            scripts.push((l, true, String::new()));
        } else if l.ends_with("tests passed") || l.starts_with("FAILED ") {
            last = l;
        } else if let Some(s) = scripts.last_mut() {
            s.1 = false;
            s.2.push_str(&l);
            s.2.push('\n');
        } else {
            last.push_str(&l);
        }
    }
    Run {
        version,
        exit,
        scripts,
        last,
    }
}

#[test]
fn quickfix_acceptance_suite_passes_against_the_simulator() {
    let Some(at) = quickfix_at() else { return };
    let Some(ruby) = ruby() else { return };
    let dicts = Path::new(env!("CARGO_MANIFEST_DIR")).join("fix-dictionaries");
    let mut child = Command::new(env!("CARGO_BIN_EXE_execd-venue-sim"))
        .args(["--port", "0", "--sender", "ISLD", "--policy", "echo"])
        .args(["--reset-on-logon", "--dict-dir"])
        .arg(&dicts)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the simulator starts");
    let out = lines(child.stdout.take().unwrap());
    let sim = Sim(child);
    let port = loop {
        let l = out
            .recv_timeout(Duration::from_secs(30))
            .expect("the simulator says where it listens");
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&l) {
            if v["type"] == "listening" {
                break v["port"].as_u64().unwrap() as u16;
            }
        }
    };
    // The three versions are three sessions of one acceptor: played side by side.
    let runs: Vec<Run> = std::thread::scope(|s| {
        let hs: Vec<_> = VERSIONS
            .iter()
            .map(|&(v, _)| {
                let (ruby, at) = (&ruby, &at);
                s.spawn(move || run_version(ruby, at, port, v))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    drop(sim);

    let mut table =
        String::from("| script | FIX 4.2 | FIX 4.4 | FIX 5.0SP2 |\n|---|---|---|---|\n");
    let mut names: Vec<String> = runs
        .iter()
        .flat_map(|r| r.scripts.iter())
        .map(|(p, _, _)| p.rsplit('/').next().unwrap().to_string())
        .collect();
    names.sort();
    names.dedup();
    for n in &names {
        let cell = |r: &Run| match r.scripts.iter().find(|s| s.0.ends_with(&format!("/{n}"))) {
            None => "–",
            Some((_, true, _)) => "pass",
            Some((_, false, _)) => "**FAIL**",
        };
        table.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            n.trim_end_matches(".def"),
            cell(&runs[0]),
            cell(&runs[1]),
            cell(&runs[2])
        ));
    }
    let mut failures = Vec::new();
    let mut summary = String::new();
    for (r, &(_, expected)) in runs.iter().zip(&VERSIONS) {
        let passed = r.scripts.iter().filter(|s| s.1).count();
        summary.push_str(&format!(
            "{}: {passed}/{} passed (runner exit {:?}: {})\n",
            r.version,
            r.scripts.len(),
            r.exit,
            r.last
        ));
        for (p, ok, why) in &r.scripts {
            if !ok {
                failures.push(format!("{p}\n{why}"));
            }
        }
        if r.scripts.len() != expected {
            failures.push(format!(
                "{}: {} scripts run, {expected} expected",
                r.version,
                r.scripts.len()
            ));
        }
        if r.exit != Some(0) {
            failures.push(format!(
                "{}: runner exit {:?}: {}",
                r.version, r.exit, r.last
            ));
        }
    }
    eprintln!("{table}\n{summary}");
    // Kept for CI's log (.ci/run prints it) and for docs/conformance.md.
    let report = Path::new(env!("CARGO_TARGET_TMPDIR")).join("quickfix-acceptance.md");
    let _ = std::fs::write(&report, format!("{table}\n{summary}"));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
