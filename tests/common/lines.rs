//! A child process that prints text lines (`execd run`, `execd demo`): its stdout and
//! stderr read as they come, bounded waits, killed when the test ends however it ends.

use std::io::Read;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

pub struct LineProc {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    /// Lines received so far by `wait_line`, `finish` and `sigkill`.
    pub seen: Vec<String>,
}

impl Drop for LineProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl LineProc {
    pub fn spawn(cmd: &mut Command) -> LineProc {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("binary starts");
        let (tx, rx) = mpsc::channel();
        for out in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for l in BufReader::new(out).lines().map_while(Result::ok) {
                    if tx.send(l).is_err() {
                        break;
                    }
                }
            });
        }
        LineProc {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// `execd run` with its control API: spawns `cmd`, waits for the line naming the
    /// API's URL and for the core to run; the process and the URL.
    pub fn spawn_api(cmd: &mut Command) -> (LineProc, String) {
        let mut proc = LineProc::spawn(cmd);
        let line = proc
            .wait_line("control API on http://", 30)
            .unwrap_or_else(|| panic!("no control API line: {:#?}", proc.seen));
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .expect("a URL")
            .to_string();
        proc.wait_line("running (", 10).expect("running");
        (proc, url)
    }

    /// SIGTERM, then [`LineProc::finish`].
    pub fn sigterm(self, secs: u64) -> (Option<i32>, Vec<String>) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        self.finish(secs)
    }

    fn drain(&mut self) {
        while let Ok(l) = self.lines.try_recv() {
            self.seen.push(l);
        }
    }

    /// The first line containing `pat`, within `secs`.
    pub fn wait_line(&mut self, pat: &str, secs: u64) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let l = self.lines.recv_timeout(left).ok()?;
            self.seen.push(l.clone());
            if l.contains(pat) {
                return Some(l);
            }
        }
        None
    }

    /// Kills it without warning (SIGKILL); every line it printed.
    pub fn sigkill(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(100));
        self.drain();
        std::mem::take(&mut self.seen)
    }

    /// Waits for the exit: its code (None: still running after `secs`, then killed) and
    /// every line it printed.
    pub fn finish(mut self, secs: u64) -> (Option<i32>, Vec<String>) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            self.drain();
            if let Ok(Some(st)) = self.child.try_wait() {
                // The reader threads see EOF right after the exit; give them a moment.
                std::thread::sleep(Duration::from_millis(100));
                self.drain();
                return (st.code(), std::mem::take(&mut self.seen));
            }
            if Instant::now() > deadline {
                return (None, std::mem::take(&mut self.seen));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Everything `r` says, gathered line by line into a shared text a test polls.
pub fn collect(r: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let buf = Arc::new(Mutex::new(String::new()));
    let b = buf.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { return };
            let mut g = b.lock().unwrap();
            g.push_str(&line);
            g.push('\n');
        }
    });
    buf
}
