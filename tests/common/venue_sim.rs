//! Child processes that speak JSON lines on stdout and take commands on stdin: the
//! `execd-venue-sim` binary (with the port it listens on) and, through the same
//! wrapper, QuickFIX's `qf-peer`. Every wait is bounded; the child is killed on drop,
//! however the test ends.

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

/// Longest wait for any line (the box is small and shared).
pub const WAIT: Duration = Duration::from_secs(30);

pub struct JsonProc {
    pub name: &'static str,
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    lines: Receiver<Value>,
    /// Lines received and not yet consumed by a wait.
    pending: Vec<Value>,
    /// Every line received.
    all: Vec<Value>,
    /// Every stdout line must be JSON (the simulator's contract); otherwise a line that
    /// is not becomes `{"type": "raw", "line": …}`.
    strict: bool,
}

impl Drop for JsonProc {
    fn drop(&mut self) {
        // A test may have stopped it (SIGSTOP) to fake a hung peer.
        // SAFETY: kill(2) on a child we own and have not reaped.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGCONT);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl JsonProc {
    /// `bin args…`, its stderr discarded, lenient about non-JSON lines.
    pub fn spawn(name: &'static str, bin: &Path, args: &[String]) -> JsonProc {
        let mut cmd = Command::new(bin);
        cmd.args(args).stderr(Stdio::null());
        JsonProc::launch(name, &mut cmd, false)
    }

    fn launch(name: &'static str, cmd: &mut Command, strict: bool) -> JsonProc {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{name} starts: {e}"));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|_| serde_json::json!({"type": "raw", "line": line}));
                if tx.send(v).is_err() {
                    return;
                }
            }
        });
        JsonProc {
            name,
            stdin: child.stdin.take(),
            child,
            lines: rx,
            pending: Vec::new(),
            all: Vec::new(),
            strict,
        }
    }

    fn recv(&mut self, until: Instant) -> Option<Value> {
        let left = until.saturating_duration_since(Instant::now());
        let v = self.lines.recv_timeout(left).ok()?;
        if self.strict && v["type"] == "raw" {
            panic!("{}: stdout line is not JSON: {}", self.name, v["line"]);
        }
        self.all.push(v.clone());
        Some(v)
    }

    /// The first line matching `pred` (`what` names it in the failure), including lines
    /// that arrived while waiting for others.
    pub fn wait_for(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.pending.iter().position(&pred) {
            return self.pending.remove(i);
        }
        let end = Instant::now() + WAIT;
        loop {
            match self.recv(end) {
                Some(v) if pred(&v) => return v,
                Some(v) => self.pending.push(v),
                None => panic!(
                    "{}: no {what} within {WAIT:?}; last lines: {:?}",
                    self.name,
                    self.all.iter().rev().take(12).collect::<Vec<_>>()
                ),
            }
        }
    }

    /// The first line of type `t`.
    pub fn wait_type(&mut self, t: &str) -> Value {
        self.wait_for(t, |v| v["type"] == t)
    }

    /// Writes one command line.
    pub fn send(&mut self, cmd: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{cmd}").unwrap();
        stdin.flush().unwrap();
    }

    /// Sends `cmd` and returns its answer (the first answer-type line after it).
    pub fn cmd(&mut self, cmd: &str) -> Value {
        // Answers to earlier commands were all consumed; drop stale ones anyway.
        self.pending
            .retain(|v| !matches!(v["type"].as_str(), Some("ok" | "status" | "bench")));
        self.send(cmd);
        let a = self.wait_for(&format!("an answer to {cmd:?}"), |v| {
            matches!(
                v["type"].as_str(),
                Some("ok" | "error" | "status" | "bench")
            )
        });
        assert_ne!(a["type"], "error", "{}: {cmd:?} failed: {a}", self.name);
        a
    }

    pub fn status(&mut self) -> Value {
        self.cmd("status")
    }

    /// Lines of type `t` seen so far (including consumed ones).
    pub fn seen(&mut self, t: &str) -> Vec<Value> {
        while let Ok(v) = self.lines.try_recv() {
            self.all.push(v.clone());
            self.pending.push(v);
        }
        self.all
            .iter()
            .filter(|v| v["type"] == t)
            .cloned()
            .collect()
    }

    /// `quit`: the final line, and a clean exit.
    pub fn quit(&mut self) -> Value {
        self.send("quit");
        let fin = self.wait_type("final");
        let end = Instant::now() + WAIT;
        let st = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st;
            }
            assert!(
                Instant::now() < end,
                "{} did not exit after quit",
                self.name
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        assert!(st.success(), "{} exit status {st}", self.name);
        fin
    }
}

/// `execd-venue-sim` on 127.0.0.1, on a port of its choosing unless `--port` is given.
pub struct VenueSim {
    p: JsonProc,
    pub port: u16,
}

impl std::ops::Deref for VenueSim {
    type Target = JsonProc;
    fn deref(&self) -> &JsonProc {
        &self.p
    }
}

impl std::ops::DerefMut for VenueSim {
    fn deref_mut(&mut self) -> &mut JsonProc {
        &mut self.p
    }
}

impl VenueSim {
    /// Starts it with `args` and waits until it listens.
    pub fn start(args: &[&str]) -> VenueSim {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_execd-venue-sim"));
        if !args.contains(&"--port") {
            cmd.args(["--port", "0"]);
        }
        cmd.args(args).stderr(Stdio::inherit());
        let mut p = JsonProc::launch("execd-venue-sim", &mut cmd, true);
        let l = p.wait_type("listening");
        let port = l["port"].as_u64().expect("listening on a port") as u16;
        assert_ne!(port, 0);
        VenueSim { p, port }
    }

    /// The first line matching `pred`.
    pub fn wait_line(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        self.p.wait_for("such line from the simulator", pred)
    }

    /// Its `status` line. (Not [`JsonProc::status`]: the simulator answers other
    /// commands with an `ok` that may still be on its way.)
    pub fn status(&mut self) -> Value {
        self.p.send("status");
        self.wait_line(|v| v["type"] == "status")
    }

    /// Its session with `peer` (SenderCompID), from `status`.
    pub fn session(&mut self, peer: &str) -> Value {
        let st = self.status();
        st["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["peer"] == peer)
            .cloned()
            .unwrap_or_else(|| panic!("no session {peer} in {st}"))
    }

    /// `quit`: the final line, and a clean exit.
    pub fn quit(mut self) -> Value {
        self.p.quit()
    }
}
