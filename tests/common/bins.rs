//! The project's binaries run to their end, as a user runs them.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `execd`, `execd-replay` or `execd-venue-sim`: this build's, or those in
/// `EXECD_TEST_BINS` (to show a test failing against an older build).
pub fn bin(name: &str) -> PathBuf {
    match std::env::var_os("EXECD_TEST_BINS") {
        Some(dir) => Path::new(&dir).join(name),
        None => PathBuf::from(match name {
            "execd" => env!("CARGO_BIN_EXE_execd"),
            "execd-replay" => env!("CARGO_BIN_EXE_execd-replay"),
            _ => env!("CARGO_BIN_EXE_execd-venue-sim"),
        }),
    }
}

/// Output bytes as text, whatever they hold.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs a binary to its end, giving up (and failing the test) after `limit`: a hang is
/// a defect as much as a crash.
pub fn run_for(name: &str, args: &[&str], limit: Duration) -> Output {
    run_cmd_for(Command::new(bin(name)).args(args), limit)
}

/// [`run_for`] for a command built by the caller (its environment, say).
pub fn run_cmd_for(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = r.read_to_end(&mut b);
            b
        })
    };
    let o = drain(Box::new(child.stdout.take().unwrap()));
    let e = drain(Box::new(child.stderr.take().unwrap()));
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} still running after {limit:?}: it blocked");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: o.join().unwrap(),
        stderr: e.join().unwrap(),
    }
}

/// [`run_for`] with two minutes.
pub fn run(name: &str, args: &[&str]) -> Output {
    run_for(name, args, Duration::from_secs(120))
}
