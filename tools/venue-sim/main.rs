//! `execd-venue-sim`: a FIX acceptor broker on 127.0.0.1 for tests, demos and benchmarks
//! (SPEC R-VEN-5). See `tools/venue-sim/README.md` for flags, control commands and the
//! JSON lines it prints.

mod config;
mod engine;
mod server;

use clap::Parser;
use serde_json::json;
use server::{emit, Control, Server};
use std::io::BufRead;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Ends the simulator once whoever read its standard output has gone (`| head -1`
/// reads the port and leaves): it may have nothing more to write for a long time, so it
/// watches the pipe instead of waiting for a write to fail.
fn watch_stdout() {
    let _ = std::thread::Builder::new()
        .name("venue-sim-stdout".into())
        .spawn(|| loop {
            let mut p = libc::pollfd {
                fd: 1,
                events: 0,
                revents: 0,
            };
            // SAFETY: one valid pollfd, for the duration of the call.
            let n = unsafe { libc::poll(&mut p, 1, -1) };
            if n > 0 && p.revents & (libc::POLLERR | libc::POLLHUP) != 0 {
                std::process::exit(0);
            }
            // Not a pipe we can watch (closed, a file): nothing to wait for.
            if n > 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                return;
            }
        });
}

fn main() {
    let cli = config::Cli::parse();
    let cfg = match config::Config::from_cli(cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("execd-venue-sim: {e}");
            std::process::exit(2);
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&stop)) {
            eprintln!("execd-venue-sim: signal handler: {e}");
            std::process::exit(1);
        }
    }
    let no_stdin = cfg.no_stdin;
    let (mut server, waker) = match Server::bind(cfg, Arc::clone(&stop)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("execd-venue-sim: listen: {e}");
            std::process::exit(1);
        }
    };
    if !no_stdin {
        let (tx, rx) = std::sync::mpsc::channel();
        server.set_control(rx);
        let spawned = std::thread::Builder::new()
            .name("venue-sim-stdin".into())
            .spawn(move || {
                let stdin = std::io::stdin();
                for line in stdin.lock().lines() {
                    let Ok(line) = line else { break };
                    if tx.send(Control::Line(line)).is_err() {
                        return;
                    }
                    let _ = waker.wake();
                }
                let _ = tx.send(Control::Eof);
                let _ = waker.wake();
            });
        if let Err(e) = spawned {
            eprintln!("execd-venue-sim: stdin thread: {e}");
            std::process::exit(1);
        }
    }
    emit(&json!({"type":"listening","port":server.port()}));
    watch_stdout();
    if let Err(e) = server.run() {
        eprintln!("execd-venue-sim: {e}");
        std::process::exit(1);
    }
}
