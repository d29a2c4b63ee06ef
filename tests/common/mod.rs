//! What several test files need: the binaries run to their end, a core on a simulated clock, temporary directories,
//! the `execd-venue-sim` child process, and a throwaway certificate authority.
// Each test binary uses its own share of these.
#![allow(dead_code, unused_imports)]

mod bins;
mod core_sim;
mod export_schema;
mod http;
mod lines;
mod pki;
mod qf;
mod temp;
mod venue_sim;

pub use bins::{bin, run, run_cmd_for, run_for, text};
pub use core_sim::*;
pub use export_schema::{check_csv, check_jsonl, schema, Schema, Ty};
pub use http::http_text;
pub use lines::{collect, LineProc};
pub use pki::Pki;
pub use qf::{free_port, poll_until, qf_peer, u};
pub use temp::{file_tree, scratch_file, TempDir};
pub use venue_sim::{JsonProc, VenueSim};
