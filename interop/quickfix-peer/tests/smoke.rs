//! Smoke test: a qf-peer acceptor and a qf-peer initiator on 127.0.0.1; one
//! market order fills; both sides' `status` agree on counts and sequence numbers.
//! Every wait is bounded and both processes are killed when the test ends.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_qf-peer");

struct Peer {
    name: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Value>,
}

impl Peer {
    fn spawn(name: &'static str, args: &[&str]) -> Peer {
        let mut child = Command::new(BIN)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn qf-peer");
        let stdout = child.stdout.take().expect("stdout");
        let stdin = child.stdin.take();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not one JSON object per line: {line:?}: {e}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        Peer {
            name,
            child,
            stdin,
            lines: rx,
        }
    }

    fn send(&mut self, cmd: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{cmd}").expect("write command");
        stdin.flush().expect("flush command");
    }

    fn wait_for(&self, what: &str, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) if pred(&v) => return v,
                Ok(_) => {}
                Err(_) => panic!("{}: timed out waiting for {what}", self.name),
            }
        }
    }

    fn status(&mut self) -> Value {
        self.send("status");
        self.wait_for("status", Duration::from_secs(10), |v| v["type"] == "status")
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

#[test]
fn one_order_fills_and_both_sides_agree() {
    let port = free_port().to_string();
    let secs = Duration::from_secs;

    let mut acceptor = Peer::spawn("acceptor", &["acceptor", "--port", &port, "--log", "none"]);
    acceptor.wait_for("ready", secs(10), |v| v["type"] == "ready");
    let mut initiator = Peer::spawn(
        "initiator",
        &["initiator", "--port", &port, "--log", "none"],
    );
    initiator.wait_for("logon", secs(15), |v| v["type"] == "logon");
    acceptor.wait_for("logon", secs(5), |v| v["type"] == "logon");

    initiator.send("order SMOKE-1 AAPL buy 10");
    let fill = initiator.wait_for("fill", secs(10), |v| {
        v["type"] == "exec" && v["cl_ord_id"] == "SMOKE-1" && v["ord_status"] == "2"
    });
    assert_eq!(fill["cum_qty"], 10.0);
    assert_eq!(fill["last_px"], 100.0);
    assert_eq!(fill["exec_type"], "F");

    // QuickFIX counts a message received only after the application callback that
    // printed it returns: the two sides agree within moments, not at once.
    let deadline = Instant::now() + secs(5);
    let (i, a) = loop {
        let (i, a) = (initiator.status(), acceptor.status());
        let agree = i["next_sender_seq"] == a["next_target_seq"]
            && a["next_sender_seq"] == i["next_target_seq"];
        if agree || Instant::now() > deadline {
            break (i, a);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    for key in ["orders", "fills", "filled_orders", "exec_reports"] {
        assert_eq!(i[key], a[key], "{key}: initiator {i} vs acceptor {a}");
    }
    assert_eq!(i["orders"], 1);
    assert_eq!(i["fills"], 1);
    assert_eq!(i["open_orders"], 0);
    assert_eq!(i["logged_on"], true);
    assert_eq!(a["logged_on"], true);
    assert_eq!(i["next_sender_seq"], a["next_target_seq"], "{i} vs {a}");
    assert_eq!(a["next_sender_seq"], i["next_target_seq"], "{i} vs {a}");

    // stdin EOF: clean logout and a final status line
    drop(initiator.stdin.take());
    let fin = initiator.wait_for("final", secs(10), |v| v["type"] == "final");
    assert_eq!(fin["clean_logout"], true);
    assert_eq!(fin["logged_on"], false);
    let code = initiator.child.wait().expect("initiator exit");
    assert!(code.success());
    acceptor.wait_for("logout", secs(10), |v| v["type"] == "logout");
}
