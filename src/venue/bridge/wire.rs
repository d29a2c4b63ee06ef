//! Every raw venue message in and out, as it was on the wire (R-AUD-1), beside the
//! journal in `<journal>/bridge/<venue>`: the journal's own memory-mapped, CRC-checked
//! segments, the way a FIX venue's session store keeps its frames (record kind 1: sent,
//! 2: received — the store's numbering), so `execd-replay` and the sidecar read both
//! alike. Written by the bridge's I/O thread, never the core's.
//!
//! Secrets never reach it: a request is logged with its `signature` value replaced by
//! `-` and without its API key header; the WebSocket API's subscription with `apiKey`
//! and `signature` blanked.

use crate::journal::{scan, JournalError, JournalWriter, ScanSummary};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Record kind: a message we sent (the FIX store's KIND_SENT).
pub const KIND_SENT: u16 = 1;
/// Record kind: a message we received.
pub const KIND_RECEIVED: u16 = 2;
const SEGMENT: usize = 16 << 20;

/// The log of one bridge.
pub struct WireLog {
    w: JournalWriter,
    failed: bool,
}

impl WireLog {
    /// Opens (or continues) the log in `dir`.
    pub fn open(dir: &Path) -> Result<WireLog, JournalError> {
        let (w, _) = JournalWriter::open(dir, SEGMENT)?;
        Ok(WireLog { w, failed: false })
    }

    /// Appends one message (text as sent or received).
    pub fn record(&mut self, out: bool, text: &str) {
        if self.failed {
            return;
        }
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let kind = if out { KIND_SENT } else { KIND_RECEIVED };
        if let Err(e) = self.w.append(kind, 1, ts, text.as_bytes()) {
            // The venue is still traded: the journal holds every input the core
            // applied; only this raw copy stops, said once.
            eprintln!("execd: bridge wire log stopped: {e}");
            self.failed = true;
        }
    }

    /// Makes what was written durable.
    pub fn sync(&mut self) {
        let _ = self.w.sync();
    }
}

/// Every message the log in `dir` holds, oldest first: (unix ns, sent?, text).
pub fn read_messages(
    dir: &Path,
    mut f: impl FnMut(u64, bool, &str),
) -> Result<ScanSummary, JournalError> {
    scan(dir, |r| {
        let out = match r.header.kind {
            KIND_SENT => true,
            KIND_RECEIVED => false,
            _ => return,
        };
        f(r.header.ts_ns, out, &String::from_utf8_lossy(r.payload));
    })
}
