//! execd: an order-execution core for co-located trading.
//!
//! Upstream decides what to trade; execd validates it (gate), tracks it (oms), sends it
//! (venue) and reports back, on one deterministic core thread.
//!
//! The in-process API: start the core, submit through a [`core::Handle`] (a lock-free
//! ring), read confirmations from the same handle.
//!
//! ```
//! use execd::config::Registry;
//! use execd::core::{spawn, CoreOptions};
//! use execd::model::event::CoreEvent;
//! use execd::model::fixed::Dec;
//! use execd::model::ids::Side;
//! use execd::model::request::ExecutionRequest;
//! use std::{sync::Arc, time::Duration};
//!
//! let reg = Arc::new(Registry::default_paper());
//! let (core, mut handles) = spawn(reg, CoreOptions::real_time(1), 1)?;
//! let h = &mut handles[0];
//! std::thread::sleep(Duration::from_millis(20)); // the paper venue's first quotes
//! let qty = Dec::parse("0.01").unwrap();
//! h.submit(ExecutionRequest::market("req-1", "alpha", "paper", "BTCUSDT", Side::Buy, qty))
//!     .expect("ring has room");
//! // The answer to it (other events, such as the venue's reconciliation at start, may
//! // come first: every producer hears those).
//! let first = h.wait_for(
//!     Duration::from_secs(5),
//!     |e| matches!(e, CoreEvent::Accepted { .. } | CoreEvent::Rejected { .. }),
//!     |_| {},
//! );
//! assert!(matches!(first, Some(CoreEvent::Accepted { .. })), "{first:?}");
//! let report = core.shutdown(); // finishes in-flight orders, returns the final state
//! assert_eq!(report.engine.stats().accepted, 1);
//! # Ok::<(), execd::core::StartError>(())
//! ```

#![warn(missing_docs)]

/// This build of execd: its version and, when it was built from a git checkout, the
/// commit (R-AUD-1: a journal's start record names the code that wrote it).
pub fn build_id() -> String {
    match option_env!("EXECD_GIT_COMMIT") {
        Some(c) => format!("execd {} (commit {c})", env!("CARGO_PKG_VERSION")),
        None => format!("execd {}", env!("CARGO_PKG_VERSION")),
    }
}

pub mod calendar;
pub mod config;
pub mod control;
pub mod core;
pub mod entry;
pub mod export;
pub mod gate;
pub mod journal;
pub mod model;
pub mod oms;
pub mod secret;
pub mod sidecar;
pub mod venue;
