//! QuickFIX as a counterparty (`qf-peer`, interop/quickfix-peer): where it is, and the
//! small waits and readings the tests that drive it share.

use serde_json::Value;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::venue_sim::WAIT;

/// The qf-peer binary: `EXECD_QF_PEER`, else the release build in the repository. Absent,
/// it fails the test under `CI=true` and says SKIP (returning None) otherwise.
pub fn qf_peer() -> Option<PathBuf> {
    let p = std::env::var_os("EXECD_QF_PEER")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("interop/quickfix-peer/target/release/qf-peer")
        });
    if p.is_file() {
        return Some(p);
    }
    let how =
        "build it with `cargo build --release --manifest-path interop/quickfix-peer/Cargo.toml` \
         (needs cmake and a C++17 compiler) or point EXECD_QF_PEER at it";
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("qf-peer not found at {} (CI=true): {how}", p.display());
    }
    eprintln!("SKIP: qf-peer not found at {}: {how}", p.display());
    None
}

/// The qf-peer binary, or return from the test (after [`qf_peer`] said SKIP).
#[macro_export]
macro_rules! need_qf {
    () => {
        match common::qf_peer() {
            Some(p) => p,
            None => return,
        }
    };
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `f` until it gives a value, within [`WAIT`].
pub fn poll_until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + WAIT;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An integer field of a qf-peer JSON line (it prints some as `4.0`).
pub fn u(v: &Value, k: &str) -> u64 {
    let n = &v[k];
    n.as_u64()
        .or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                .map(|f| f as u64)
        })
        .unwrap_or_else(|| panic!("no number {k:?} in {v}"))
}
