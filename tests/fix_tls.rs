//! FIX over TLS end to end: `execd run` (the FIX venue as initiator) against
//! `execd-venue-sim --tls-cert … --tls-key …`, both real binaries on 127.0.0.1, with a
//! throwaway CA made by rcgen. Every wait is bounded; the processes are killed on drop.

mod common;

use common::{Pki, VenueSim};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

/// The example configuration with TLS settings, beside the certificates.
trait ExampleConfig {
    /// `examples/fix-sim.toml` pointed at `port`, with `tls` lines added to `[venues.fix]`.
    fn config(&self, port: u16, tls: &str) -> PathBuf;
}

impl ExampleConfig for Pki {
    fn config(&self, port: u16, tls: &str) -> PathBuf {
        let example = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/fix-sim.toml"),
        )
        .unwrap();
        let line = "SocketConnectPort = 9878\n";
        assert!(example.contains(line), "the example's port line moved");
        let text = example.replace(line, &format!("SocketConnectPort = {port}\n{tls}\n"));
        let path = self
            .0
            .path()
            .join(format!("execd-{port}-{}.toml", text.len()));
        std::fs::write(&path, text).unwrap();
        path
    }
}

/// Reads a child's pipe line by line into a channel.
fn lines(r: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// The simulator, filling every order, with `args` (its TLS settings).
fn sim(args: &[&str]) -> VenueSim {
    VenueSim::start(&[&["--policy", "fill"], args].concat())
}

fn execd(config: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_execd"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", "--listen", "off"])
        .arg("--config")
        .arg(config)
        .args(args);
    c
}

/// `execd run --orders 20 --exit`, to the end (bounded).
fn run_flow(config: &Path) -> (Output, String, String) {
    let mut child = execd(config, &["--orders", "20", "--rate", "500", "--exit"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let end = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > end {
            let _ = child.kill();
            panic!("execd run did not finish: {:?}", child.wait_with_output());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

/// `flow: N submitted, N accepted, F fills, …` → (N, N, F).
fn flow_counts(stdout: &str) -> (u64, u64, u64) {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("flow: ") && l.contains(" submitted"))
        .unwrap_or_else(|| panic!("no flow line in {stdout:?}"));
    let n: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .take(3)
        .map(|s| s.parse().unwrap())
        .collect();
    (n[0], n[1], n[2])
}

fn assert_filled_over_tls(sim: VenueSim, config: &Path) {
    let (out, stdout, stderr) = run_flow(config);
    assert!(out.status.success(), "execd failed:\n{stdout}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let (submitted, accepted, fills) = flow_counts(&stdout);
    assert_eq!((submitted, accepted), (20, 20), "{stdout}\n{stderr}");
    assert!(fills > 0, "no fills over TLS:\n{stdout}\n{stderr}");
    assert!(stderr.contains("1 logons"), "{stderr}");
    let fin = sim.quit();
    assert_eq!(fin["tls"], true);
    assert!(fin["orders"].as_u64().unwrap() >= 20, "{fin}");
    assert!(fin["fills"].as_u64().unwrap() > 0, "{fin}");
    assert_eq!(fin["connections_accepted"], 1, "{fin}");
}

#[test]
fn orders_fill_over_tls() {
    let pki = Pki::new("fill");
    let sim = sim(&[
        "--tls-cert",
        &pki.path("server.pem"),
        "--tls-key",
        &pki.path("server.key"),
    ]);
    // The certificate is checked against SocketConnectHost, 127.0.0.1 (an IP SAN).
    let cfg = pki.config(
        sim.port,
        &format!(
            "SocketUseSSL = true\nSSLCACertificate = {:?}",
            pki.path("ca.pem")
        ),
    );
    assert_filled_over_tls(sim, &cfg);
}

#[test]
fn orders_fill_over_mutual_tls() {
    let pki = Pki::new("mutual");
    let sim = sim(&[
        "--tls-cert",
        &pki.path("server.pem"),
        "--tls-key",
        &pki.path("server.key"),
        "--tls-client-ca",
        &pki.path("ca.pem"),
    ]);
    let cfg = pki.config(
        sim.port,
        &format!(
            "SocketUseSSL = true\nSSLCACertificate = {:?}\nSSLServerName = \"localhost\"\n\
             SSLCertificate = {:?}\nSSLPrivateKey = {:?}",
            pki.path("ca.pem"),
            pki.path("client.pem"),
            pki.path("client.key")
        ),
    );
    assert_filled_over_tls(sim, &cfg);
}

/// Runs execd until its stderr shows a line with all of `want`, then stops it; the
/// stderr seen so far.
fn stderr_until(config: &Path, want: &[&str]) -> String {
    let mut child = execd(config, &["--orders", "5"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = lines(child.stderr.take().unwrap());
    let end = Instant::now() + WAIT;
    let mut seen = String::new();
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match err.recv_timeout(left) {
            Ok(l) => {
                seen.push_str(&l);
                seen.push('\n');
                if want.iter().all(|w| l.contains(w)) {
                    break;
                }
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("execd never said {want:?}; it said:\n{seen}");
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(!seen.contains("panicked"), "{seen}");
    seen
}

fn assert_no_session(sim: VenueSim) {
    let mut sim = sim;
    let st = sim.status();
    assert_eq!(st["sessions"].as_array().unwrap().len(), 0, "{st}");
    assert!(st["connections_accepted"].as_u64().unwrap() >= 1, "{st}");
    // The simulator is unharmed and stops cleanly.
    let fin = sim.quit();
    assert_eq!(fin["orders"], 0);
}

#[test]
fn wrong_ca_fails_the_handshake_and_never_logs_on() {
    let pki = Pki::new("wrongca");
    let sim = sim(&[
        "--tls-cert",
        &pki.path("server.pem"),
        "--tls-key",
        &pki.path("server.key"),
    ]);
    let cfg = pki.config(
        sim.port,
        &format!(
            "SocketUseSSL = true\nSSLCACertificate = {:?}",
            pki.path("other-ca.pem")
        ),
    );
    let err = stderr_until(&cfg, &["cannot connect", "TLS", "invalid peer certificate"]);
    assert!(!err.contains("logged on"), "{err}");
    assert_no_session(sim);
}

#[test]
fn plain_client_against_the_tls_simulator_fails_cleanly() {
    let pki = Pki::new("plain");
    let sim = sim(&[
        "--tls-cert",
        &pki.path("server.pem"),
        "--tls-key",
        &pki.path("server.key"),
    ]);
    let cfg = pki.config(sim.port, "");
    // The simulator answers the plaintext Logon with a TLS alert and closes.
    stderr_until(&cfg, &["disconnected"]);
    assert_no_session(sim);
}

#[test]
fn tls_files_are_checked_when_the_venue_starts() {
    let pki = Pki::new("files");
    let cfg = pki.config(
        1,
        &format!(
            "SocketUseSSL = true\nSSLCACertificate = {:?}",
            pki.path("missing-ca.pem")
        ),
    );
    let out = execd(&cfg, &[]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("venues[0].fix.SSLCACertificate: cannot read"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    // A key without SocketUseSSL is refused when the configuration is read.
    let cfg = pki.config(1, "SSLCACertificate = \"ca.pem\"");
    let out = Command::new(env!("CARGO_BIN_EXE_execd"))
        .arg("check-config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("venues[0].fix.SocketUseSSL"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
