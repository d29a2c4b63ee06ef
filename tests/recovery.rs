//! Crash recovery through the journal (R-RES-4): the engine rebuilt from the journal is
//! the engine that wrote it, field by field; a restarted core carries on from it; and a
//! core killed with SIGKILL at random moments loses nothing it acknowledged.

mod common;

use common::*;
use execd::config::Registry;
use execd::core::recovery;
use execd::core::Engine;
use execd::core::{spawn, CoreOptions};
use execd::model::control::{KillState, Mode};
use execd::model::event::{Command, CoreEvent, OrderRef, Scope};
use execd::model::ids::{Name, OrderId, OrderType, RequestId, Side, Tif};
use execd::model::order_state::OrderState;
use execd::model::reason::Reason;
use execd::model::request::Protect;
use execd::venue::Venue;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn tmp(name: &str) -> TempDir {
    TempDir::new(&format!("recovery-{name}"))
}

/// Everything the engine knows, as text: orders, accounts, positions, gate state, the
/// reconciliation queue, counters, and the paper venue's positions and balances.
fn snapshot(e: &Engine) -> String {
    let mut s = String::new();
    let reg = e.registry();
    let _ = writeln!(s, "now {}", e.now());
    for o in e.book().iter() {
        let _ = writeln!(s, "{o:?}");
    }
    for a in &reg.accounts {
        let _ = writeln!(s, "{:?}", e.account(a.id));
        for i in &reg.instruments {
            let _ = writeln!(s, "{:?}", e.position(a.id, i.id));
        }
        let mut pos = Vec::new();
        e.venue(0).positions(a.id, &mut pos);
        let balance = e.venue(0).paper().map(|p| p.balance(a.id));
        let _ = writeln!(s, "venue {pos:?} {balance:?}");
    }
    let _ = writeln!(s, "{:?}\n{:?}\n{:?}", e.gate(), e.reconcile(), e.stats());
    s
}

fn journaled(dir: &Path) -> CoreOptions {
    let mut o = CoreOptions::simulated(start());
    o.journal = Some(dir.to_path_buf());
    o
}

/// A session with every kind of command: orders of each type, protection, cancels,
/// amendments, kill switches, modes, halts and quotes.
fn session(sim: &mut Sim) {
    let name = |s: &str| Name::new(s).unwrap();
    for i in 0..300u64 {
        let side = if i % 3 == 0 { Side::Sell } else { Side::Buy };
        let sym = ["AAPL", "MSFT", "EURUSD", "BTCUSDT", "ETHUSDT"][(i % 5) as usize];
        let qty = ["10", "20", "10000", "0.01", "0.5"][(i % 5) as usize];
        let mut req = market(&format!("s-{i}"), sym, side, qty);
        if i % 7 == 0 {
            req.stop_loss = Some(Protect::OffsetPpm(-2_000 * side.sign()));
            req.take_profit = Some(Protect::OffsetPpm(2_000 * side.sign()));
        }
        if i % 11 == 0 {
            req.order_type = OrderType::Stop;
            req.tif = Tif::Gtc;
            req.stop_price = None;
        }
        sim.submit(req, 2_000_000);
        if i % 13 == 0 {
            sim.send(Command::Cancel(OrderRef::Request(
                RequestId::new(&format!("s-{}", i - i % 26)).unwrap(),
            )));
        }
        if i == 100 {
            sim.send(Command::SetKillSwitch {
                scope: Scope::Symbol(name("MSFT")),
                state: KillState::Active,
                cancel_open: true,
            });
            sim.send(Command::SetMode {
                account: name("advisor"),
                mode: Mode::Autonomous,
            });
        }
        if i == 150 {
            sim.send(Command::SetKillSwitch {
                scope: Scope::Symbol(name("MSFT")),
                state: KillState::Off,
                cancel_open: false,
            });
            sim.send(Command::SetHalted {
                account: name("beta"),
                halted: true,
            });
        }
        if i == 200 {
            sim.send(Command::CancelAll(Scope::Account(name("alpha"))));
        }
    }
    sim.run_for(35_000_000_000);
}

fn sim_with_journal(dir: &Path) -> Sim {
    let (core, mut hs) = spawn(Arc::new(Registry::default_paper()), journaled(dir), 1).unwrap();
    Sim::from_parts(core, hs.remove(0))
}

#[test]
fn the_replayed_engine_is_the_live_engine() {
    let dir = tmp("replay");
    let mut sim = sim_with_journal(&dir);
    session(&mut sim);
    let live = sim.shutdown();
    assert!(live.journal_next_seq.unwrap() > 300);
    let (mut replayed, rec) = recovery::replay(&dir, Arc::new(Registry::default_paper())).unwrap();
    // The live core ran on past its last command while in-flight orders finished.
    replayed.advance_to(live.engine.now(), &mut Vec::new());
    assert!(rec.commands > 300, "{rec:?}");
    let (a, b) = (snapshot(&live.engine), snapshot(&replayed));
    assert!(a.lines().count() > 300);
    if a != b {
        let diff: Vec<_> = a
            .lines()
            .zip(b.lines())
            .filter(|(x, y)| x != y)
            .take(3)
            .collect();
        panic!("replay differs from the live engine: {diff:#?}");
    }
}

#[test]
fn a_restarted_core_carries_on_from_its_journal() {
    let dir = tmp("restart");
    let mut sim = sim_with_journal(&dir);
    let mut resting = market("keep-1", "EURUSD", Side::Buy, "100000");
    resting.order_type = OrderType::Limit;
    resting.tif = Tif::Gtc;
    resting.limit_price = Some(dec("1.08000"));
    let evs = sim.submit(resting, 1_000_000_000);
    let first = evs
        .iter()
        .find_map(|e| match e {
            CoreEvent::Accepted { order, .. } => Some(*order),
            _ => None,
        })
        .unwrap();
    sim.submit(market("fill-1", "AAPL", Side::Buy, "50"), 1_000_000_000);
    let before = sim.shutdown();
    let highest = before.engine.book().iter().map(|o| o.id()).max().unwrap();

    // Start again on the same directory: the engine comes back as it was.
    let (core, mut hs) = spawn(Arc::new(Registry::default_paper()), journaled(&dir), 1).unwrap();
    let rec = core.recovered().expect("recovered");
    // Two submits and the core's own reconciliation of the paper venue at its start.
    assert_eq!(rec.commands, 3);
    assert_eq!(rec.in_flight, 0, "a clean stop leaves nothing in flight");
    let mut sim = Sim::from_parts(core, hs.remove(0));
    sim.now = before.engine.now() + 1_000_000;
    // The same request id again is a duplicate of the order from before the restart.
    let again = sim.submit(resting, 1_000_000);
    assert_eq!(
        again,
        vec![CoreEvent::Duplicate {
            request_id: RequestId::new("keep-1").unwrap(),
            order: first,
            state: OrderState::New
        }]
    );
    // The resting order is still working at the (rebuilt) venue and can be canceled.
    sim.send(Command::Cancel(OrderRef::Id(first)));
    let evs = sim.run_for(1_000_000_000);
    assert!(evs.iter().any(|e| matches!(e, CoreEvent::Order(s) if s.order == first && s.state == OrderState::Canceled)), "{evs:?}");
    // New orders get new ids: client order ids never repeat across the restart.
    let evs = sim.submit(market("after-1", "AAPL", Side::Sell, "50"), 1_000_000_000);
    let new_id = evs
        .iter()
        .find_map(|e| match e {
            CoreEvent::Accepted { order, .. } => Some(*order),
            _ => None,
        })
        .unwrap();
    assert!(new_id > highest, "{new_id:?} after {highest:?}");
    let after = sim.shutdown();
    let aapl = after
        .engine
        .registry()
        .instrument_by_names("paper", "AAPL")
        .unwrap()
        .id;
    let alpha = after
        .engine
        .registry()
        .account(&Name::new("alpha").unwrap())
        .unwrap();
    assert_eq!(
        after.engine.position(alpha, aapl).net.0,
        0,
        "bought 50 before, sold 50 after"
    );
}

/// The reason a submit was rejected with, `None` when it was accepted.
fn rejection(events: &[CoreEvent], request: &str) -> Option<Reason> {
    let id = RequestId::new(request).unwrap();
    events
        .iter()
        .find_map(|e| match e {
            CoreEvent::Accepted { request_id, .. } if *request_id == id => Some(None),
            CoreEvent::Rejected {
                request_id, reason, ..
            } if *request_id == id => Some(Some(*reason)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no answer to {request}: {events:?}"))
}

/// R-OPS-3: a lower per-order limit at a restart applies from the restart on; the
/// orders from before are still there; and replay rebuilds both stretches, each under
/// its own configuration — the rejection after the change follows only from the new
/// limit, so a replay that missed the change point would diverge there.
#[test]
fn a_changed_limit_applies_from_the_restart_on_and_replays() {
    let dir = tmp("config");
    let mut sim = sim_with_journal(&dir);
    let evs = sim.submit(market("c-1", "AAPL", Side::Buy, "500"), 1_000_000);
    assert_eq!(rejection(&evs, "c-1"), None, "under the first limit (5000)");
    sim.shutdown();

    let lower = config_with(|t| t.replace("max_order_qty = \"5000\"", "max_order_qty = \"300\""));
    let (core, mut hs) = spawn(Arc::new(lower.clone()), journaled(&dir), 1).unwrap();
    let rec = core.recovered().unwrap();
    assert_eq!(rec.configs, 2, "{rec:?}");
    assert!(rec.config_changed.is_some(), "{rec:?}");
    let mut sim = Sim::from_parts(core, hs.remove(0));
    let evs = sim.submit(market("c-2", "AAPL", Side::Buy, "500"), 1_000_000);
    assert_eq!(rejection(&evs, "c-2"), Some(Reason::MaxOrderQty));
    let evs = sim.submit(market("c-3", "AAPL", Side::Buy, "200"), 1_000_000);
    assert_eq!(rejection(&evs, "c-3"), None);
    let live = sim.shutdown();
    let before = live
        .engine
        .book()
        .by_request(&RequestId::new("c-1").unwrap())
        .expect("the order from before the restart is still held");
    assert_eq!(
        live.engine.book().get(before).unwrap().state(),
        OrderState::Filled
    );

    // Replayed from either configuration's side: the journal says which applies where.
    for reg in [Registry::default_paper(), lower.clone()] {
        let (mut replayed, rec) = recovery::replay(&dir, Arc::new(reg)).unwrap();
        replayed.advance_to(live.engine.now(), &mut Vec::new());
        assert_eq!(rec.configs, 2);
        assert_eq!(replayed.registry().fingerprint(), lower.fingerprint());
        assert_eq!(snapshot(&live.engine), snapshot(&replayed));
    }
    let configs = recovery::journal_configs(&dir).unwrap();
    assert_eq!(
        configs.iter().map(|c| c.fingerprint).collect::<Vec<_>>(),
        [Registry::default_paper().fingerprint(), lower.fingerprint()]
    );
    assert_eq!(Some(configs[1].seq), rec.config_changed);

    // The same configuration again: nothing new to journal.
    let (core, _hs) = spawn(Arc::new(lower), journaled(&dir), 1).unwrap();
    let rec = core.recovered().unwrap();
    assert_eq!((rec.configs, rec.config_changed), (2, None));
    core.shutdown();
}

/// An instrument added at the end trades from the restart on (the paper venue makes a
/// market in it too), and the journal replays to the live state.
#[test]
fn an_instrument_added_at_the_end_trades_and_replays() {
    let dir = tmp("config-add");
    let mut sim = sim_with_journal(&dir);
    sim.submit(market("a-1", "ETHUSDT", Side::Buy, "0.5"), 1_000_000);
    sim.shutdown();
    let more = config_with(|t| {
        let eth = &t[t.find("[[instruments]]\nsymbol = \"ETHUSDT\"").unwrap()..];
        let eth = &eth[..eth.find("\n\n").unwrap()];
        let sol = eth
            .replace("ETHUSDT", "SOLUSDT")
            .replace("\"3400.00\"", "\"150.00\"");
        t.replace(
            "[[accounts]]\nname = \"alpha\"",
            &format!("{sol}\n\n[[accounts]]\nname = \"alpha\""),
        )
    });
    let (core, mut hs) = spawn(Arc::new(more.clone()), journaled(&dir), 1).unwrap();
    let mut sim = Sim::from_parts(core, hs.remove(0));
    // Its first quote comes with the paper venue's next price step.
    sim.run_for(10_000_000);
    let evs = sim.submit(market("a-2", "SOLUSDT", Side::Buy, "2"), 1_000_000);
    assert_eq!(rejection(&evs, "a-2"), None);
    let evs = sim.submit(market("a-3", "ETHUSDT", Side::Sell, "0.5"), 1_000_000);
    assert_eq!(rejection(&evs, "a-3"), None);
    let live = sim.shutdown();
    let sol = more.instrument_by_names("paper", "SOLUSDT").unwrap().id;
    let alpha = more.account(&Name::new("alpha").unwrap()).unwrap();
    assert_eq!(live.engine.position(alpha, sol).net.0, 200);
    let (mut replayed, _) = recovery::replay(&dir, Arc::new(Registry::default_paper())).unwrap();
    replayed.advance_to(live.engine.now(), &mut Vec::new());
    assert_eq!(snapshot(&live.engine), snapshot(&replayed));
}

/// A change that cannot apply to the journal's state is refused at the start with a
/// sentence naming it, and the journal is left exactly as it was.
#[test]
fn a_change_that_cannot_apply_is_refused_and_writes_nothing() {
    let dir = tmp("config-refused");
    let mut sim = sim_with_journal(&dir);
    sim.submit(market("r-1", "ETHUSDT", Side::Buy, "0.5"), 1_000_000);
    let mut rest = market("r-2", "ETHUSDT", Side::Buy, "1");
    rest.order_type = OrderType::Limit;
    rest.tif = Tif::Gtc;
    rest.limit_price = Some(dec("3350.00"));
    let evs = sim.submit(rest, 1_000_000);
    assert_eq!(rejection(&evs, "r-2"), None);
    sim.shutdown();
    let before = common::file_tree(&dir);
    let cases: [(&str, Registry); 5] = [
        (
            "instrument paper/ETHUSDT was removed but has 1 open orders and a position of 0.50 in account alpha (and 1 finished orders the order store still holds); close them first or keep it in the configuration",
            config_with(|t| {
                let at = t.find("[[instruments]]\nsymbol = \"ETHUSDT\"").unwrap();
                let end = at + t[at..].find("\n\n").unwrap() + 2;
                format!("{}{}", &t[..at], &t[end..])
            }),
        ),
        (
            "instrument paper/AAPL moved from place 1 to 2",
            config_with(|t| t.replacen("symbol = \"AAPL\"", "symbol = \"TMP\"", 1)
                .replacen("symbol = \"MSFT\"", "symbol = \"AAPL\"", 1)
                .replacen("symbol = \"TMP\"", "symbol = \"MSFT\"", 1)),
        ),
        (
            "account alpha's cash changed from 50000000.000000 to 1.000000",
            config_with(|t| t.replace("cash = \"50000000\"", "cash = \"1\"")),
        ),
        (
            "the paper venue paper's simulation settings ([venues.paper]) changed",
            config_with(|t| t.replace("seed = 7", "seed = 8")),
        ),
        (
            "the accounts changed from [alpha, beta, advisor] to [beta, alpha, advisor]",
            config_with(|t| t.replace("name = \"alpha\"", "name = \"tmp\"")
                .replace("name = \"beta\"", "name = \"alpha\"")
                .replace("name = \"tmp\"", "name = \"beta\"")),
        ),
    ];
    for (sentence, reg) in cases {
        let err = match spawn(Arc::new(reg), journaled(&dir), 1) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("started under a change that cannot apply: {sentence}"),
        };
        assert!(err.contains(sentence), "{err}\nwants: {sentence}");
        assert!(err.contains("nothing was written to the journal"), "{err}");
        assert!(
            before == common::file_tree(&dir),
            "the refused start changed the journal: {sentence}"
        );
    }
}

/// R-IN-3's memory of request ids across restarts: full, it refuses new ids; a restart
/// may raise `core.max_request_ids` (the table is rebuilt larger, and replay does the
/// same at the change) but not lower it below the ids remembered.
#[test]
fn the_request_id_memory_can_grow_at_a_restart_and_never_shrinks_below_its_ids() {
    let dir = tmp("request-ids");
    let with = |n: usize| {
        config_with(|t| {
            t.replace(
                "max_request_ids = 1048576",
                &format!("max_request_ids = {n}"),
            )
        })
    };
    let start = |reg: &Registry| {
        let (core, mut hs) = spawn(Arc::new(reg.clone()), journaled(&dir), 1).unwrap();
        Sim::from_parts(core, hs.remove(0))
    };
    let mut sim = start(&with(16));
    for i in 0..16 {
        let evs = sim.submit(market(&format!("q-{i}"), "AAPL", Side::Buy, "1"), 1_000_000);
        assert_eq!(rejection(&evs, &format!("q-{i}")), None);
    }
    let evs = sim.submit(market("q-16", "AAPL", Side::Buy, "1"), 1_000_000);
    assert_eq!(rejection(&evs, "q-16"), Some(Reason::RequestIdsFull));
    sim.shutdown();

    let bigger = with(32);
    let mut sim = start(&bigger);
    let evs = sim.submit(market("q-16", "AAPL", Side::Buy, "1"), 1_000_000);
    assert_eq!(rejection(&evs, "q-16"), None, "room now");
    let evs = sim.submit(market("q-0", "AAPL", Side::Buy, "1"), 1_000_000);
    assert!(
        evs.iter().any(|e| matches!(e, CoreEvent::Duplicate { .. })),
        "remembered through the resize: {evs:?}"
    );
    let live = sim.shutdown();
    assert_eq!(live.engine.book().request_ids(), (17, 32));
    let (mut replayed, _) = recovery::replay(&dir, Arc::new(with(16))).unwrap();
    replayed.advance_to(live.engine.now(), &mut Vec::new());
    assert_eq!(snapshot(&live.engine), snapshot(&replayed));
    assert_eq!(replayed.book().request_ids(), (17, 32));

    let before = common::file_tree(&dir);
    let err = match spawn(Arc::new(with(16)), journaled(&dir), 1) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("started with room for fewer ids than remembered"),
    };
    assert!(
        err.contains(
            "core.max_request_ids 16 is below the 17 request ids this journal already remembers"
        ),
        "{err}"
    );
    assert!(before == common::file_tree(&dir));
}

const CHILD: &str = "EXECD_RECOVERY_CHILD";

/// The default configuration with a small order store, so a child process starts fast.
fn small() -> Registry {
    config_with(|t| t.replace("max_orders = 262144", "max_orders = 8192"))
}

/// The child: recovers, then submits numbered requests forever, printing each request
/// number once the core has answered it.
fn child(dir: &Path) -> ! {
    let (core, mut hs) = spawn(Arc::new(small()), journaled(dir), 1).unwrap();
    // Numbered after the submits the journal holds (the core journals commands of its
    // own too: each start's reconciliation).
    let mut n = 0u64;
    execd::journal::scan(dir, |r| {
        if r.header.kind == execd::core::records::KIND_COMMAND {
            if let Ok((_, Command::Submit(_))) = execd::core::records::decode_command(r.payload) {
                n += 1;
            }
        }
    })
    .unwrap();
    let _ = &core;
    let h = &mut hs[0];
    let mut t = start() + 1_000_000 + n * 1_000_000;
    let mut out = std::io::stdout().lock();
    use std::io::Write;
    loop {
        n += 1;
        t += 1_000_000;
        let side = if n % 2 == 0 { Side::Buy } else { Side::Sell };
        let req = market(
            &format!("k-{n}"),
            ["AAPL", "ETHUSDT"][(n % 2) as usize],
            side,
            ["5", "0.1"][(n % 2) as usize],
        );
        h.send_wait(t, Command::Submit(req), Duration::from_secs(5))
            .unwrap();
        let answered = h.wait_for(
            Duration::from_secs(5),
            // The answer to this request (after a restart, answers to the request the
            // previous process was killed on may arrive first).
            |e| match e {
                CoreEvent::Accepted { request_id, .. }
                | CoreEvent::Rejected { request_id, .. }
                | CoreEvent::Duplicate { request_id, .. } => request_id == &req.request_id,
                _ => false,
            },
            |_| {},
        );
        if answered.is_some() {
            let _ = writeln!(out, "{n}");
            let _ = out.flush();
        }
    }
}

#[test]
fn sigkill_at_random_moments_loses_nothing_acknowledged() {
    if let Ok(dir) = std::env::var(CHILD) {
        child(Path::new(&dir));
    }
    let dir = tmp("chaos");
    let mut rng = fastrand::Rng::with_seed(7);
    let mut acknowledged = 0u64;
    let kills = 20;
    for _ in 0..kills {
        let mut c = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "sigkill_at_random_moments_loses_nothing_acknowledged",
                "--nocapture",
            ])
            .env(CHILD, &dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = c.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            use std::io::BufRead;
            for n in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| l.trim().parse::<u64>().ok())
            {
                let _ = tx.send(n);
            }
        });
        // Kill it at a random moment once it is trading (start-up is not the point).
        let first = rx.recv_timeout(Duration::from_secs(30));
        assert!(first.is_ok(), "the child never answered a request");
        std::thread::sleep(Duration::from_millis(5 + rng.u64(0..60)));
        c.kill().unwrap();
        c.wait().unwrap();
        reader.join().unwrap();
        acknowledged = acknowledged.max(rx.try_iter().chain(first).max().unwrap_or(0));
    }
    let (e, rec) = recovery::replay(&dir, Arc::new(small())).unwrap();
    // Every request the core answered before a kill is in the journal, each exactly once
    // and in order (the store in memory only keeps the latest orders; the journal all).
    let mut submitted = Vec::new();
    execd::journal::scan(&dir, |r| {
        if r.header.kind == execd::core::records::KIND_COMMAND {
            if let Ok((_, Command::Submit(req))) = execd::core::records::decode_command(r.payload) {
                submitted.push(req.request_id);
            }
        }
    })
    .unwrap();
    assert!(
        submitted.len() as u64 >= acknowledged,
        "{} journaled, {acknowledged} acknowledged",
        submitted.len()
    );
    for (i, id) in submitted.iter().enumerate() {
        assert_eq!(id.as_str(), format!("k-{}", i + 1), "journal order");
    }
    let mut ids: Vec<OrderId> = e.book().iter().map(|o| o.id()).collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "no order id twice");
    // Restarting queues whatever was waiting for the venue at the last kill for
    // reconciliation.
    let (_w, again, rec2, _) =
        recovery::open(&dir, Arc::new(small()), 1, start(), 1 << 20).unwrap();
    let waiting: Vec<OrderId> = again
        .book()
        .iter()
        .filter(|o| {
            matches!(
                o.state(),
                OrderState::PendingNew
                    | OrderState::PendingCancel
                    | OrderState::PendingReplace
                    | OrderState::TimedOut
            )
        })
        .map(|o| o.id())
        .collect();
    assert_eq!(rec2.in_flight as usize, waiting.len());
    assert!(waiting.iter().all(|id| again.reconcile().contains(id)));
    println!(
        "{kills} SIGKILLs: {acknowledged} acknowledged requests, {} commands replayed from {} records",
        rec.commands, rec.journal.records
    );
    assert!(
        acknowledged > 100,
        "the child made progress: {acknowledged}"
    );
}

#[test]
fn retired_segments_are_replayed_from_the_audit_log() {
    let dir = tmp("retire");
    let reg = config_with(|t| {
        t.replace("segment_kb = 65536", "segment_kb = 64\nretain_segments = 2")
            .replace("fsync_ms = 10", "fsync_ms = 1")
    });
    let (core, mut hs) = spawn(Arc::new(reg.clone()), journaled(&dir), 1).unwrap();
    let mut sim = Sim::from_parts(core, hs.remove(0));
    for _ in 0..16 {
        session_with_prefix(&mut sim);
    }
    let live = sim.shutdown();
    let audit = live.audit.expect("the sidecar ran");
    assert!(audit.retired >= 3, "segments retired: {audit:?}");
    let left = execd::journal::scan(&dir, |_| {}).unwrap();
    assert!(left.segments <= 3 && left.first_segment > 0, "{left:?}");
    // Recovery reads the retired history back from the audit log.
    let (mut replayed, rec) = recovery::replay(&dir, Arc::new(reg.clone())).unwrap();
    replayed.advance_to(live.engine.now(), &mut Vec::new());
    assert!(rec.journal.first_seq > 1);
    assert_eq!(snapshot(&live.engine), snapshot(&replayed));
    assert_eq!(
        recovery::journal_config(&dir).unwrap().fingerprint(),
        reg.fingerprint()
    );
    let verify = std::process::Command::new(env!("CARGO_BIN_EXE_execd-replay"))
        .arg("verify")
        .arg(&dir)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&verify.stdout);
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(
        out.contains("read back from the audit log") && out.contains("identical to the journal"),
        "{out}"
    );
    // And a restarted core carries on.
    let (core, _hs) = spawn(Arc::new(reg), journaled(&dir), 1).unwrap();
    assert!(core.recovered().unwrap().commands > 4_000);
    core.shutdown();
}

static PREFIX: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// 300 market orders with request ids unique across calls.
fn session_with_prefix(sim: &mut Sim) {
    let p = PREFIX.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    for i in 0..300u64 {
        let side = if i % 2 == 0 { Side::Sell } else { Side::Buy };
        let sym = ["AAPL", "ETHUSDT"][(i % 2) as usize];
        let qty = ["10", "0.5"][(i % 2) as usize];
        sim.submit(market(&format!("r{p}-{i}"), sym, side, qty), 1_000_000);
    }
}

#[test]
fn a_journal_whose_events_do_not_follow_from_its_commands_is_refused() {
    use execd::core::records;
    let dir = tmp("diverge");
    let reg = Registry::default_paper();
    let (mut w, _) = execd::journal::JournalWriter::open(&dir, 1 << 20).unwrap();
    let t = start();
    w.append(
        records::KIND_START,
        1,
        t,
        &records::encode_start(1, t, reg.fingerprint()),
    )
    .unwrap();
    w.append(records::KIND_CONFIG, 1, t, reg.to_toml().as_bytes())
        .unwrap();
    let mut buf = [0u8; records::MAX_COMMAND];
    let req = market("x-1", "AAPL", Side::Buy, "1");
    let n = records::encode_command(0, &Command::Submit(req), &mut buf).unwrap();
    w.append(records::KIND_COMMAND, 1, t + 1_000_000, &buf[..n])
        .unwrap();
    // What the journal claims upstream was told: a rejection the code would never give.
    let lie = CoreEvent::Rejected {
        request_id: RequestId::new("x-1").unwrap(),
        order: OrderId(1),
        reason: execd::model::reason::Reason::KillGlobal,
    };
    let mut ebuf = [0u8; records::MAX_EVENT];
    let n = records::encode_event(0, &lie, &mut ebuf).unwrap();
    let seq = w
        .append(records::KIND_EVENT, 1, t + 1_000_000, &ebuf[..n])
        .unwrap();
    drop(w);
    match recovery::replay(&dir, Arc::new(reg)) {
        Err(recovery::RecoveryError::Diverged { seq: s }) => assert_eq!(s, seq),
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a history that does not follow from its commands was accepted"),
    }
}

/// A configuration record after the start is read as a change: one that does not load,
/// or one that could never have applied (a forged or damaged journal), is refused with
/// its record, never skipped.
#[test]
fn a_recorded_change_that_does_not_load_or_apply_is_refused() {
    use execd::core::records;
    let reg = Registry::default_paper();
    let swapped = config_with(|t| {
        t.replace("name = \"alpha\"", "name = \"tmp\"")
            .replace("name = \"beta\"", "name = \"alpha\"")
            .replace("name = \"tmp\"", "name = \"beta\"")
    });
    for (tag, change, what) in [
        ("garbage", b"[[venues]] = 3".to_vec(), "does not load"),
        ("swapped", swapped.to_toml().into_bytes(), "cannot apply"),
    ] {
        let dir = tmp(&format!("config-record-{tag}"));
        let (mut w, _) = execd::journal::JournalWriter::open(&dir, 1 << 20).unwrap();
        let t = start();
        w.append(
            records::KIND_START,
            1,
            t,
            &records::encode_start(1, t, reg.fingerprint()),
        )
        .unwrap();
        w.append(records::KIND_CONFIG, 1, t, reg.to_toml().as_bytes())
            .unwrap();
        let seq = w.append(records::KIND_CONFIG, 1, t + 1, &change).unwrap();
        drop(w);
        match recovery::replay(&dir, Arc::new(reg.clone())) {
            Err(recovery::RecoveryError::Record { seq: s, what: w }) => {
                assert_eq!(s, seq);
                assert!(w.contains(what), "{w}");
            }
            Err(e) => panic!("wrong error: {e}"),
            Ok(_) => panic!("{tag}: a configuration record that cannot be used was accepted"),
        }
    }
}

/// A margin rate changed at a restart: the margin in use is summed again at the new
/// rate, and closing the position afterwards gives all of it back (booked by differences
/// at the old rate, it would drift).
#[test]
fn a_changed_margin_rate_applies_to_the_position_held() {
    let dir = tmp("config-margin");
    let mut sim = sim_with_journal(&dir);
    sim.submit(market("m-1", "ETHUSDT", Side::Buy, "0.5"), 1_000_000);
    let live = sim.shutdown();
    let alpha = Registry::default_paper()
        .account(&Name::new("alpha").unwrap())
        .unwrap();
    let full = live.engine.account(alpha).position_margin.0;
    assert!(full > 0);
    let half = config_with(|t| {
        let at = t.find("symbol = \"ETHUSDT\"").unwrap();
        let (head, tail) = t.split_at(at);
        format!(
            "{head}{}",
            tail.replacen("margin_bps = 10000", "margin_bps = 5000", 1)
        )
    });
    let (core, _hs) = spawn(Arc::new(half.clone()), journaled(&dir), 1).unwrap();
    let at_half = core.shutdown().engine.account(alpha).position_margin.0;
    assert!((at_half - full / 2).abs() <= 1, "{at_half} after {full}");
    let (core, mut hs) = spawn(Arc::new(half), journaled(&dir), 1).unwrap();
    let mut sim = Sim::from_parts(core, hs.remove(0));
    let evs = sim.submit(market("m-2", "ETHUSDT", Side::Sell, "0.5"), 1_000_000);
    assert_eq!(rejection(&evs, "m-2"), None);
    let live = sim.shutdown();
    assert_eq!(live.engine.account(alpha).position_margin.0, 0);
    let (replayed, _) = recovery::replay(&dir, Arc::new(Registry::default_paper())).unwrap();
    assert_eq!(replayed.account(alpha).position_margin.0, 0);
}
