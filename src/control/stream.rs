//! What the API reads from the journal rather than from the core: the audit export
//! (`GET /v1/audit`) and the live event stream (`GET /v1/events`). Both replay the
//! journal on a reader thread of their own with the engine the core runs
//! ([`Replayer`]), so their rows are exactly `execd-replay export`'s, and the core
//! never does any work for them: it only writes the journal it writes anyway. The
//! stream then follows the journal as the core commits records ([`Follower`]).
//!
//! A reader thread sends its output in chunks over a bounded channel and stops when
//! the client goes away (the channel closes) or the API stops; at most [`MAX_READERS`]
//! run at once, each replay costing a core's worth of CPU while it catches up.

use crate::core::recovery::{self, OnStep, Replayer, Step};
use crate::export::{self, Filter, Format, Row};
use crate::journal::follow::Follower;
use axum::body::Bytes;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Exports (`/v1/audit`, an order's event log) replaying at once: each is a CPU's
/// worth while it runs.
pub const MAX_EXPORTS: usize = 2;
/// Event streams at once: after their first replay they mostly wait for records.
pub const MAX_STREAMS: usize = 8;
/// How long a client may leave its channel full (not reading) before it is dropped,
/// so a stalled client does not hold a reader forever.
const STALLED: Duration = Duration::from_secs(30);
/// Bytes gathered before a chunk is sent.
const CHUNK: usize = 32 * 1024;
/// How long a stream waits with nothing new before it sends a keep-alive comment, so
/// proxies keep the connection and a client gone away is noticed.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How often a stream at the journal's end looks for new records.
const FOLLOW_EVERY: Duration = Duration::from_millis(20);

/// Counts running readers of one kind, up to a maximum; a slot is given back when its
/// guard drops.
#[derive(Clone)]
pub(crate) struct Readers(Arc<AtomicUsize>, usize);

/// A reader's slot.
pub(crate) struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Readers {
    /// At most `max` at once.
    pub(crate) fn new(max: usize) -> Readers {
        Readers(Arc::new(AtomicUsize::new(0)), max)
    }

    /// How many may run at once.
    pub(crate) fn max(&self) -> usize {
        self.1
    }

    /// A slot, or none when the maximum run already.
    pub(crate) fn take(&self) -> Option<Slot> {
        let mut n = self.0.load(Ordering::Acquire);
        loop {
            if n >= self.1 {
                return None;
            }
            match self
                .0
                .compare_exchange(n, n + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Some(Slot(self.0.clone())),
                Err(now) => n = now,
            }
        }
    }
}

/// What a reader writes.
pub(crate) enum Output {
    /// An export in `Format`, rows kept by the filter.
    Export(Format),
    /// Server-Sent Events: rows of records from `from_seq` on, then live.
    Events { from_seq: u64 },
}

/// Where the rows go: chunks of text for the HTTP body.
struct Sink {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
    /// The client is gone (or dropped as stalled), or the API stops: nothing more goes
    /// out, and the replay is stopped (it polls this).
    gone: Arc<AtomicBool>,
    stopping: Arc<AtomicBool>,
}

impl Sink {
    fn push(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= CHUNK {
            self.flush();
        }
    }

    fn is_gone(&self) -> bool {
        self.gone.load(Ordering::Acquire)
    }

    /// Hands `c` to the HTTP body, waiting while the client reads slowly; false when
    /// it went away, stalled past [`STALLED`], or the API stops.
    fn send(&self, mut c: Result<Bytes, std::io::Error>, patient: bool) -> bool {
        let since = Instant::now();
        loop {
            match self.tx.try_send(c) {
                Ok(()) => return true,
                Err(mpsc::error::TrySendError::Closed(_)) => return false,
                Err(mpsc::error::TrySendError::Full(back)) => {
                    if (!patient && self.stopping.load(Ordering::Acquire))
                        || since.elapsed() > STALLED
                    {
                        return false;
                    }
                    c = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }

    fn flush(&mut self) {
        if self.buf.is_empty() || self.is_gone() {
            self.buf.clear();
            return;
        }
        let chunk = Ok(Bytes::from(std::mem::take(&mut self.buf)));
        if !self.send(chunk, false) {
            self.gone.store(true, Ordering::Release);
        }
    }

    /// Ends the body with an error, which the client sees as a transfer cut off (the
    /// status line went out long ago): an export that did not finish must not look
    /// complete. Waits for room even while the API stops (bounded by [`STALLED`]).
    fn fail(&mut self, why: String) {
        self.flush();
        let _ = self.send(Err(std::io::Error::other(why)), true);
        self.gone.store(true, Ordering::Release);
    }
}

fn event_text(rows: &[Row], out: &mut Vec<u8>) {
    for (i, r) in rows.iter().enumerate() {
        // Only the record's last row carries the id: a client cut off within a record
        // resumes from the record itself (at least once, never a row lost).
        if i + 1 == rows.len() {
            out.extend_from_slice(format!("id: {}\n", r.seq).as_bytes());
        }
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(r.kind.as_bytes());
        out.extend_from_slice(b"\ndata: ");
        let _ = serde_json::to_writer(&mut *out, r);
        out.extend_from_slice(b"\n\n");
    }
}

/// Starts a reader thread over the journal in `dir`; the receiver is the HTTP body.
pub(crate) fn start(
    dir: PathBuf,
    filter: Filter,
    output: Output,
    slot: Slot,
    stopping: Arc<AtomicBool>,
) -> Result<mpsc::Receiver<Result<Bytes, std::io::Error>>, String> {
    let (tx, rx) = mpsc::channel(8);
    std::thread::Builder::new()
        .name("execd-reader".into())
        .spawn(move || {
            let _slot = slot;
            let mut sink = Sink {
                tx,
                buf: Vec::with_capacity(CHUNK * 2),
                gone: Arc::new(AtomicBool::new(false)),
                stopping: stopping.clone(),
            };
            let result = read(&dir, &filter, &output, &mut sink, &stopping);
            // Stopped before the end: the client must not take a cut export for a whole one.
            let result = match result {
                Ok(())
                    if stopping.load(Ordering::Acquire) && matches!(output, Output::Export(_)) =>
                {
                    Err("execd is stopping; the export was cut off".to_string())
                }
                other => other,
            };
            if let Err(why) = result {
                if let Output::Events { .. } = output {
                    let mut b = Vec::new();
                    b.extend_from_slice(b"event: error\ndata: ");
                    let _ = serde_json::to_writer(
                        &mut b,
                        &serde_json::json!({"code": "JOURNAL_UNREADABLE", "message": why}),
                    );
                    b.extend_from_slice(b"\n\n");
                    sink.push(&b);
                }
                sink.fail(why);
            }
            sink.flush();
        })
        .map_err(|e| format!("the reader thread did not start: {e}"))?;
    Ok(rx)
}

fn read(
    dir: &std::path::Path,
    filter: &Filter,
    output: &Output,
    sink: &mut Sink,
    stopping: &AtomicBool,
) -> Result<(), String> {
    let reg = recovery::journal_config(dir).map_err(|e| e.to_string())?;
    let mut r = Replayer::new(Arc::new(reg));
    {
        let (gone, stopping) = (sink.gone.clone(), sink.stopping.clone());
        r.cancel_when(move || gone.load(Ordering::Acquire) || stopping.load(Ordering::Acquire));
    }
    let mut rows: Vec<Row> = Vec::new();
    let mut text: Vec<u8> = Vec::new();
    let (format, from_seq) = match output {
        Output::Export(f) => (Some(*f), 0),
        Output::Events { from_seq } => (None, *from_seq),
    };
    if format == Some(Format::Csv) {
        sink.push(export::header().as_bytes());
        sink.push(b"\n");
    }
    let mut on_row = |s: Step<'_>, sink: &mut Sink| {
        if sink.is_gone() || s.seq < from_seq {
            return;
        }
        rows.clear();
        export::rows(&s, &mut rows);
        rows.retain(|row| filter.keeps(row));
        if rows.is_empty() {
            return;
        }
        text.clear();
        match format {
            Some(f) => {
                for row in &rows {
                    let _ = export::write_row(&mut text, row, f);
                }
            }
            None => event_text(&rows, &mut text),
        }
        sink.push(&text);
    };
    let mut step = |s: Step<'_>| on_row(s, sink);
    let mut step: OnStep<'_> = Some(&mut step);
    let journal = r.read(dir, &mut step).map_err(|e| e.to_string())?;
    r.catch_up(journal.last_seq, &mut step);
    if let Some(f) = r.failure() {
        return Err(f.to_string());
    }
    if format.is_some() {
        return Ok(());
    }
    // The stream: what is there is sent; now follow what the core commits.
    sink.flush();
    let mut follower = Follower::at(dir, journal.last_seq + 1).map_err(|e| e.to_string())?;
    let mut quiet_since = Instant::now();
    while !sink.is_gone() && !stopping.load(Ordering::Acquire) {
        let mut step = |s: Step<'_>| on_row(s, sink);
        let mut step: OnStep<'_> = Some(&mut step);
        let n = follower
            .poll(4096, |h, p| r.feed(h, p, &mut step))
            .map_err(|e| e.to_string())?;
        if let Some(f) = r.failure() {
            return Err(f.to_string());
        }
        if n > 0 {
            sink.flush();
            quiet_since = Instant::now();
        } else {
            if quiet_since.elapsed() >= KEEP_ALIVE {
                sink.push(b": keep-alive\n\n");
                sink.flush();
                quiet_since = Instant::now();
            }
            std::thread::sleep(FOLLOW_EVERY);
        }
    }
    Ok(())
}
