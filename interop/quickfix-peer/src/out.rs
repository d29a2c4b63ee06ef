//! Line-oriented JSON output on stdout.
//!
//! Every event and every command answer is one JSON object on one line. The
//! lines are handed to a dedicated writer thread so that a QuickFIX callback
//! never blocks on a slow stdout reader; the writer flushes as soon as it has
//! no more queued lines.

use std::io::{self, BufWriter, Write};
use std::sync::mpsc::{channel, Sender};
use std::sync::Mutex;
use std::thread::JoinHandle;

use serde_json::Value;

pub struct Out {
    tx: Mutex<Option<Sender<String>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl Out {
    pub fn start() -> Out {
        let (tx, rx) = channel::<String>();
        let writer = std::thread::Builder::new()
            .name("qf-peer-stdout".into())
            .spawn(move || {
                let stdout = io::stdout();
                let mut w = BufWriter::new(stdout.lock());
                while let Ok(line) = rx.recv() {
                    let _ = writeln!(w, "{line}");
                    while let Ok(line) = rx.try_recv() {
                        let _ = writeln!(w, "{line}");
                    }
                    let _ = w.flush();
                }
                let _ = w.flush();
            })
            .expect("spawn stdout writer");
        Out {
            tx: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
        }
    }

    /// Queue one JSON line.
    pub fn emit(&self, value: Value) {
        let line = value.to_string();
        if let Some(tx) = self.tx.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            let _ = tx.send(line);
        }
    }

    /// Flush everything queued so far and stop the writer. Later `emit`s are dropped.
    pub fn close(&self) {
        drop(self.tx.lock().unwrap_or_else(|e| e.into_inner()).take());
        if let Some(h) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = h.join();
        }
    }
}
