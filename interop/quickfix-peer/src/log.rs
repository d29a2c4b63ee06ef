//! QuickFIX log sink. The crate only offers callback logs (no FileLog), so this
//! one mirrors QuickFIX's FileLog: one line per message/event, flushed each line.
//! Message lines can be muted at run time (the initiator does so during `bench`).

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use quickfix::{LogCallback, SessionId};

use crate::fixutil::utc_timestamp;

pub struct PeerLog {
    sink: Option<Mutex<Box<dyn Write + Send>>>,
    mute_messages: Arc<AtomicBool>,
}

impl PeerLog {
    pub fn none(mute_messages: Arc<AtomicBool>) -> PeerLog {
        PeerLog {
            sink: None,
            mute_messages,
        }
    }

    pub fn stderr(mute_messages: Arc<AtomicBool>) -> PeerLog {
        PeerLog {
            sink: Some(Mutex::new(Box::new(io::stderr()))),
            mute_messages,
        }
    }

    pub fn file(path: &Path, mute_messages: Arc<AtomicBool>) -> io::Result<PeerLog> {
        let f = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(PeerLog {
            sink: Some(Mutex::new(Box::new(f))),
            mute_messages,
        })
    }

    pub fn line(&self, kind: &str, text: &str) {
        if let Some(sink) = &self.sink {
            let text = text.replace('\x01', "|");
            let mut w = sink.lock().unwrap_or_else(|e| e.into_inner());
            let _ = writeln!(w, "{} {kind} {text}", utc_timestamp());
            let _ = w.flush();
        }
    }

    fn message(&self, kind: &str, msg: &str) {
        if !self.mute_messages.load(Ordering::Relaxed) {
            self.line(kind, msg);
        }
    }
}

impl LogCallback for PeerLog {
    fn on_incoming(&self, _session_id: Option<&SessionId>, msg: &str) {
        self.message("IN ", msg);
    }

    fn on_outgoing(&self, _session_id: Option<&SessionId>, msg: &str) {
        self.message("OUT", msg);
    }

    fn on_event(&self, _session_id: Option<&SessionId>, msg: &str) {
        self.line("EVT", msg);
    }
}
