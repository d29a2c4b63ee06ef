//! A core thread on a simulated clock, and a way to run it to a time.

use execd::calendar::unix_ns;
use execd::config::Registry;
use execd::config::{IdleKind, DEFAULT_IDLE_YIELD_US};
use execd::core::ManualClock;
use execd::core::{spawn, CoreOptions, CoreThread, Handle};
use execd::model::event::{Command, CoreEvent};
use execd::model::fixed::Dec;
use execd::model::ids::Side;
use execd::model::request::ExecutionRequest;
use std::sync::Arc;
use std::time::Duration;

/// Monday 2026-01-05 15:00 UTC: inside the equity session.
pub fn start() -> u64 {
    unix_ns(2026, 1, 5, 15, 0)
}

/// A core thread on a simulated clock, one handle.
pub struct Sim {
    pub core: Option<CoreThread>,
    pub h: Handle,
    pub now: u64,
    sync: u64,
    /// Reconciliation lines and reports, kept apart: every core reconciles its venues
    /// at start, and most tests look at one order's events.
    pub recon: Vec<CoreEvent>,
}

impl Sim {
    pub fn new(reg: Registry) -> Sim {
        let reg = Arc::new(reg);
        let (core, mut hs) = spawn(
            reg,
            CoreOptions {
                idle: IdleKind::Backoff,
                idle_yield: Duration::from_micros(DEFAULT_IDLE_YIELD_US),
                pin_core: None,
                clock: Box::new(ManualClock::at(start())),
                simulated: true,
                epoch: 1,
                grace: Duration::from_secs(5),
                journal: None,
            },
            1,
        )
        .expect("core thread starts");
        Sim {
            core: Some(core),
            h: hs.remove(0),
            now: start() + 1_000_000,
            sync: 0,
            recon: Vec::new(),
        }
    }

    /// Wraps a core started elsewhere.
    pub fn from_parts(core: CoreThread, h: Handle) -> Sim {
        Sim {
            core: Some(core),
            h,
            now: start() + 1_000_000,
            sync: 0,
            recon: Vec::new(),
        }
    }

    /// Sends `cmd` at the current simulated time.
    pub fn send(&mut self, cmd: Command) {
        self.h
            .send_wait(self.now, cmd, Duration::from_secs(5))
            .expect("ring has room");
    }

    /// Moves simulated time forward by `ns` and returns every event up to then.
    pub fn run_for(&mut self, ns: u64) -> Vec<CoreEvent> {
        self.now += ns;
        self.sync += 1;
        let token = self.sync;
        self.h
            .send_wait(self.now, Command::Sync(token), Duration::from_secs(5))
            .expect("ring has room");
        let mut out = Vec::new();
        loop {
            match self.h.next_event(Duration::from_secs(20)) {
                Some(CoreEvent::Synced(t)) if t == token => return out,
                Some(
                    e @ (CoreEvent::ReconLine(_)
                    | CoreEvent::ReconReport(_)
                    | CoreEvent::ReconResolved { .. }),
                ) => self.recon.push(e),
                Some(e) => out.push(e),
                None => panic!("core thread did not answer Sync({token}); events so far: {out:?}"),
            }
        }
    }

    /// Submits and returns the events of the next `ns` of simulated time.
    pub fn submit(&mut self, req: ExecutionRequest, ns: u64) -> Vec<CoreEvent> {
        self.send(Command::Submit(req));
        self.run_for(ns)
    }

    pub fn shutdown(&mut self) -> execd::core::CoreReport {
        self.core.take().expect("running").shutdown()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(c) = self.core.take() {
            let _ = c.shutdown();
        }
    }
}

pub fn dec(s: &str) -> Dec {
    Dec::parse(s).expect("decimal")
}

/// A market order on the paper venue for the `alpha` (AUTONOMOUS) account.
pub fn market(id: &str, symbol: &str, side: Side, qty: &str) -> ExecutionRequest {
    ExecutionRequest::market(id, "alpha", "paper", symbol, side, dec(qty))
}

/// The default config, edited: `f` gets the TOML text.
pub fn config_with(f: impl FnOnce(String) -> String) -> Registry {
    Registry::from_toml(&f(execd::config::DEFAULT_TOML.to_string())).expect("valid test config")
}

/// examples/fix-sim.toml pointed at an `execd-venue-sim` on `port`, for a steady stream
/// of orders: no mass status or positions at logon, and a throttle the loop cannot reach
/// (on a quiet machine it outruns the example's 10 000 orders/s; the gate's refusal is
/// not what such a run is about).
pub fn steady_fix_config(port: u16) -> String {
    let text = std::fs::read_to_string("examples/fix-sim.toml")
        .expect("examples/fix-sim.toml (run from the crate root)")
        .replace(
            "SocketConnectPort = 9878",
            &format!("SocketConnectPort = {port}"),
        )
        .replace("MassStatusOnLogon = true", "MassStatusOnLogon = false")
        .replace("PositionsOnLogon = true", "PositionsOnLogon = false")
        .replace(
            "max_orders_per_sec = 10000\n",
            "max_orders_per_sec = 10000000\n",
        );
    assert!(text.contains("max_orders_per_sec = 10000000\n"));
    text
}
