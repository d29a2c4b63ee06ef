//! The floor (issue 14): a raw TCP ping-pong over 127.0.0.1 with the frame sizes execd
//! and the simulator exchange per order, so that execd's wire-to-wire figure can be read
//! against what the loopback and the scheduler cost alone on this machine.
//!
//! The requester (the bench thread, in the core's place) busy-polls a non-blocking socket
//! (TCP_NODELAY) and sends each request at its due time on a fixed-rate schedule,
//! spinning until then as a spinning core does; latency runs from the write to the last
//! byte of the answer, recorded with `record_correct(value, interval)` (coordinated
//! omission), exactly as the core's wire-to-wire is. The
//! responder (in the simulator's place) is a thread that either busy-polls too or blocks
//! in `epoll_wait` (mio) until the request is readable: the difference is the cost of
//! one wake-up. The responder is stopped and joined on every way out (Drop).

use hdrhistogram::Histogram;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A round trip that takes longer than this fails the run.
const TIMEOUT: Duration = Duration::from_secs(5);

/// How the responder waits for a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Responder {
    /// Busy-polls its non-blocking socket.
    Spin,
    /// Blocks in `epoll_wait` until the socket is readable.
    Epoll,
}

struct Thread {
    stop: Arc<AtomicBool>,
    join: Option<JoinHandle<Result<(), String>>>,
}

impl Thread {
    fn finish(mut self) -> Result<(), String> {
        self.stop.store(true, Ordering::Release);
        match self.join.take().map(|j| j.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err("the responder panicked".into()),
            None => Ok(()),
        }
    }
}

impl Drop for Thread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

fn respond(
    mut s: TcpStream,
    mode: Responder,
    req: usize,
    answer: Vec<u8>,
    stop: Arc<AtomicBool>,
) -> Result<(), String> {
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    s.set_nonblocking(true).map_err(|e| e.to_string())?;
    let mut poll = None;
    let mut events = mio::Events::with_capacity(4);
    if mode == Responder::Epoll {
        let p = mio::Poll::new().map_err(|e| e.to_string())?;
        let fd = std::os::fd::AsRawFd::as_raw_fd(&s);
        p.registry()
            .register(
                &mut mio::unix::SourceFd(&fd),
                mio::Token(0),
                mio::Interest::READABLE,
            )
            .map_err(|e| e.to_string())?;
        poll = Some(p);
    }
    let mut buf = vec![0u8; 64 << 10];
    let mut got = 0usize;
    while !stop.load(Ordering::Acquire) {
        match s.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                got += n;
                while got >= req {
                    got -= req;
                    s.write_all(&answer)
                        .map_err(|e| format!("responder write: {e}"))?;
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => match poll.as_mut() {
                // Edge-triggered: readable again only after new bytes, and every byte
                // before them has been read (WouldBlock).
                Some(p) => p
                    .poll(&mut events, Some(Duration::from_millis(50)))
                    .map_err(|e| e.to_string())?,
                None => std::hint::spin_loop(),
            },
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("responder read: {e}")),
        }
    }
    Ok(())
}

/// Round trips of `request` bytes answered with `answer` bytes: `warmup` unrecorded,
/// then `n` recorded (ns, from each request's intended time), one every `interval`.
/// With `cpus` (requester, responder), the calling thread — the requester — and the
/// responder thread are pinned there (the caller runs this on a thread it can give up).
pub fn ping_pong(
    request: usize,
    answer: usize,
    mode: Responder,
    warmup: u64,
    n: u64,
    interval: Duration,
    cpus: Option<(usize, usize)>,
) -> Result<Histogram<u64>, String> {
    let pin = |cpu: usize| {
        if core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
            Ok(())
        } else {
            Err(format!("floor: could not pin a thread to CPU {cpu}"))
        }
    };
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("floor: bind: {e}"))?;
    let addr = l.local_addr().map_err(|e| e.to_string())?;
    let mut c = TcpStream::connect(addr).map_err(|e| format!("floor: connect: {e}"))?;
    let (s, _) = l.accept().map_err(|e| format!("floor: accept: {e}"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let answer_bytes = vec![b'8'; answer];
    let st = stop.clone();
    let join = std::thread::Builder::new()
        .name("floor-responder".into())
        .spawn(move || {
            if let Some((_, cpu)) = cpus {
                pin(cpu)?;
            }
            respond(s, mode, request, answer_bytes, st)
        })
        .map_err(|e| format!("floor: responder thread: {e}"))?;
    let responder = Thread {
        stop,
        join: Some(join),
    };
    if let Some((cpu, _)) = cpus {
        pin(cpu)?;
    }
    c.set_nodelay(true).map_err(|e| e.to_string())?;
    c.set_nonblocking(true).map_err(|e| e.to_string())?;
    let req = vec![b'D'; request];
    let mut buf = vec![0u8; 64 << 10];
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram");
    let start = Instant::now() + Duration::from_millis(1);
    for i in 0..warmup + n {
        let due = start + interval * (i as u32);
        while Instant::now() < due {
            std::hint::spin_loop();
        }
        // Timed from the write, as the core times its wire-to-wire (write → fill read),
        // and corrected the same way (record_correct), so the two compare.
        let sent = Instant::now();
        let mut off = 0;
        while off < req.len() {
            match c.write(&req[off..]) {
                Ok(k) => off += k,
                Err(e) if e.kind() == ErrorKind::WouldBlock => std::hint::spin_loop(),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("floor: write: {e}")),
            }
        }
        let mut got = 0;
        let mut polls = 0u32;
        while got < answer {
            match c.read(&mut buf) {
                Ok(0) => return Err("floor: the responder closed the connection".into()),
                Ok(k) => got += k,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    polls = polls.wrapping_add(1);
                    if polls % 65536 == 0 && due.elapsed() > TIMEOUT {
                        return Err(format!("floor: no answer within {} s", TIMEOUT.as_secs()));
                    }
                    std::hint::spin_loop();
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("floor: read: {e}")),
            }
        }
        if i >= warmup {
            let ns = (sent.elapsed().as_nanos() as u64).max(1);
            hist.record_correct(ns, interval.as_nanos() as u64)
                .map_err(|e| format!("floor: {e:?}"))?;
        }
    }
    drop(c);
    responder.finish()?;
    Ok(hist)
}
