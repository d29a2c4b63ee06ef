//! The core's side of a bridge (R-VEN-3): implements [`Venue`] by pushing plain
//! commands onto one preallocated rtrb ring and draining events from another. It never
//! blocks and allocates nothing per call; the I/O thread (`worker.rs`) does the
//! blocking. Events are stamped with engine time when the core takes them off the ring,
//! so the journal (which records them as inputs) and a replay see the same times.

use super::binance::{self, Symbols};
use super::limits::VenueLimits;
use super::sign::Signer;
use super::wire::WireLog;
use super::worker::{Cmd, Worker, WorkerParts};
use crate::config::Registry;
use crate::core::Bell;
use crate::model::fixed::{Price, Qty};
use crate::model::ids::{AccountId, ClOrdId, InstrumentId, VenueId};
use crate::secret::Secret;
use crate::venue::fix::venue::FixVenueError;
use crate::venue::{Request, Venue, VenueError, VenueEvent, VenueEventKind, VenueOrder};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Commands in flight to the I/O thread.
const CMD_RING: usize = 4096;
/// Events in flight from it (quotes included).
const EVENT_RING: usize = 65_536;

/// Counters the I/O thread keeps (for operators and tests).
#[derive(Debug, Default)]
pub struct BridgeStats {
    /// Orders sent.
    pub sent: AtomicU64,
    /// Status queries sent.
    pub status_requests: AtomicU64,
    /// 429/418 answers.
    pub throttled: AtomicU64,
    /// Requests not sent while the venue's Retry-After ran.
    pub held: AtomicU64,
    /// Requests the core could not queue for the I/O thread (its ring full).
    pub backpressure: AtomicU64,
    /// Rate-limit reports told to the core.
    pub limit_reports: AtomicU64,
    /// Connection attempts.
    pub connects: AtomicU64,
    /// Failed ones.
    pub connect_failures: AtomicU64,
}

/// A REST/WebSocket venue (Binance spot or USDⓈ-M) as the core drives it.
pub struct BridgeVenue {
    cmds: rtrb::Producer<Cmd>,
    events: rtrb::Consumer<VenueEventKind>,
    due: VecDeque<VenueEvent>,
    reported_up: bool,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    positions: Vec<Option<i64>>,
    n_instruments: usize,
    /// Its I/O thread is gone (the event ring abandoned).
    dead: bool,
    /// A book ticker faster than the core cycles: one quote per instrument per poll.
    conflation: crate::venue::Conflation,
    conflated: u64,
    stats: Arc<BridgeStats>,
}

fn err(msg: String) -> FixVenueError {
    FixVenueError(msg)
}

impl BridgeVenue {
    /// Starts the bridge for venue `id` of `reg`: keys from the environment, its I/O
    /// thread, and (when the venue answers at once) its exchangeInfo checked against the
    /// instruments — a mismatch is a start error naming the instrument and field.
    /// With `journal`, raw messages go to `<journal>/bridge/<venue>`. `was_up`: the
    /// journal left the venue up, so the core is told it is not (yet). No core sleeps
    /// on it: a core starts it with `BridgeVenue::start`.
    pub fn new(
        reg: Arc<Registry>,
        id: VenueId,
        journal: Option<&Path>,
        was_up: bool,
        now: u64,
    ) -> Result<BridgeVenue, FixVenueError> {
        BridgeVenue::start(reg, id, journal, was_up, now, Bell::new(None))
    }

    /// [`BridgeVenue::new`] for a core that may sleep: the I/O thread rings `bell`
    /// after each event it pushes.
    pub(crate) fn start(
        reg: Arc<Registry>,
        id: VenueId,
        journal: Option<&Path>,
        was_up: bool,
        now: u64,
        bell: Bell,
    ) -> Result<BridgeVenue, FixVenueError> {
        let v = &reg.venues[id.0 as usize];
        let name = v.name.as_str().to_string();
        let spec = v
            .binance
            .clone()
            .ok_or_else(|| err(format!("venue {name} has no Binance settings")))?;
        let key = |var: &str, what: &str| {
            Secret::from_env(var).map_err(|e| err(format!("venues[{}].binance.{what}: {e}", id.0)))
        };
        let api_key = key(&spec.api_key_env, "api_key_env")?;
        let signer = match &spec.key {
            super::settings::KeyEnv::Hmac(var) => {
                Signer::hmac(key(var, "secret_key_env")?.expose())
            }
            super::settings::KeyEnv::Ed25519(var) => {
                let k = key(var, "ed25519_key_env")?;
                let text = String::from_utf8_lossy(k.expose()).into_owned();
                Signer::ed25519(&text).map_err(|e| {
                    err(format!(
                        "venues[{}].binance.ed25519_key_env ({var}): {e}",
                        id.0
                    ))
                })?
            }
        };
        let account = match &spec.account {
            Some(a) => {
                let n = crate::model::ids::Name::new(a)
                    .map_err(|_| err(format!("venues[{}].binance.account: bad name", id.0)))?;
                reg.account(&n).ok_or_else(|| {
                    err(format!(
                        "venues[{}].binance.account: no account {a:?}",
                        id.0
                    ))
                })?
            }
            None => AccountId(0),
        };
        // Checked now if the venue answers now: a configuration error stops the start.
        let mut syms = Symbols::of(&reg, id);
        let mut limits = VenueLimits::new(spec.weight_per_minute);
        let filters_ok = match fetch_info(&spec) {
            Some(info) => {
                binance::check_filters(&reg, id, &info)
                    .map_err(|e| err(format!("venue {name}: exchangeInfo: {e}")))?;
                syms.learn_assets(&info);
                limits.exchange_info(&info);
                true
            }
            None => false,
        };
        let wire = match journal {
            Some(j) => Some(
                WireLog::open(&j.join("bridge").join(&name))
                    .map_err(|e| err(format!("venue {name}: wire log: {e}")))?,
            ),
            None => None,
        };
        let (cmd_tx, cmd_rx) = rtrb::RingBuffer::new(CMD_RING);
        let (ev_tx, ev_rx) = rtrb::RingBuffer::new(EVENT_RING);
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(BridgeStats::default());
        let worker = Worker::new(WorkerParts {
            reg: reg.clone(),
            venue: id,
            syms,
            spec,
            account,
            api_key,
            signer,
            cmds: cmd_rx,
            events: ev_tx,
            wire,
            stop: stop.clone(),
            done: done.clone(),
            name: name.clone(),
            filters_ok,
            limits,
            after_restart: was_up,
            stats: stats.clone(),
            bell,
        });
        let thread = std::thread::Builder::new()
            .name(format!("bridge-{name}"))
            .spawn(move || worker.run())
            .map_err(|e| {
                err(format!(
                    "venue {name}: the bridge thread did not start: {e}"
                ))
            })?;
        // Room past what `pump` fills: a request refused for a full command ring is
        // queued here too (Backpressure, a failed snapshot), and growing the queue then
        // would allocate on the core thread. A burst of more refusals than a command ring
        // holds between two pumps still grows it.
        let mut due = VecDeque::with_capacity(EVENT_RING + CMD_RING);
        if was_up {
            due.push_back(VenueEvent {
                at_ns: now,
                kind: VenueEventKind::Session { up: false },
                src_seq: 0,
            });
        }
        let n = reg.instruments.len();
        Ok(BridgeVenue {
            cmds: cmd_tx,
            events: ev_rx,
            due,
            reported_up: was_up,
            stop,
            done,
            thread: Some(thread),
            positions: vec![None; n * reg.accounts.len().max(1)],
            n_instruments: n,
            dead: false,
            conflation: crate::venue::Conflation::new(n),
            conflated: 0,
            stats,
        })
    }

    /// Remembers an order an earlier process sent, so it can be canceled, amended or
    /// asked about.
    pub fn remember(&mut self, o: &VenueOrder) {
        let _ = self.cmds.push(Cmd::Remember(*o));
    }

    /// Counters.
    pub fn stats(&self) -> &BridgeStats {
        &self.stats
    }

    /// Queues `c` for the I/O thread. A full ring is not an error of the call: the core
    /// hears it as a venue input ([`VenueEventKind::Backpressure`]) at this engine time,
    /// so the journal records the refusal and a replay takes the same path.
    fn push(&mut self, now: u64, c: Cmd) -> Result<(), VenueError> {
        if !self.reported_up {
            return Err(VenueError::NotConnected);
        }
        let Err(rtrb::PushError::Full(c)) = self.cmds.push(c) else {
            return Ok(());
        };
        let (cl, request) = match c {
            Cmd::New(o) => (o.cl, Request::New),
            Cmd::Cancel { cl, .. } => (cl, Request::Cancel),
            Cmd::Replace { cl, .. } => (cl, Request::Replace),
            // Questions and bookkeeping are asked again by whoever needs them.
            Cmd::Query(_) | Cmd::Remember(_) | Cmd::Snapshot => return Ok(()),
        };
        self.stats.backpressure.fetch_add(1, Ordering::Relaxed);
        self.due.push_back(VenueEvent {
            at_ns: now,
            kind: VenueEventKind::Backpressure { cl, request },
            src_seq: 0,
        });
        Ok(())
    }
}

/// exchangeInfo, if the venue answers within a few seconds (at start only).
fn fetch_info(spec: &super::settings::BinanceSpec) -> Option<serde_json::Value> {
    let url = format!("{}{}", spec.rest_url, spec.flavor.exchange_info_path());
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(3))
        .build();
    agent.get(&url).call().ok()?.into_json().ok()
}

impl Venue for BridgeVenue {
    fn is_logged_on(&self) -> bool {
        self.reported_up
    }

    fn submit(&mut self, now: u64, order: &VenueOrder) -> Result<(), VenueError> {
        self.push(now, Cmd::New(*order))
    }

    fn cancel(&mut self, now: u64, cl: ClOrdId, orig: ClOrdId) -> Result<(), VenueError> {
        self.push(now, Cmd::Cancel { cl, orig })
    }

    fn replace(
        &mut self,
        now: u64,
        cl: ClOrdId,
        orig: ClOrdId,
        qty: Qty,
        limit: Price,
    ) -> Result<(), VenueError> {
        self.push(
            now,
            Cmd::Replace {
                cl,
                orig,
                qty,
                limit,
            },
        )
    }

    fn poll(&mut self, now: u64, out: &mut Vec<VenueEvent>) {
        let from = out.len();
        while self.due.front().is_some_and(|e| e.at_ns <= now) {
            let Some(ev) = self.due.pop_front() else {
                break;
            };
            match ev.kind {
                VenueEventKind::Session { up } => self.reported_up = up,
                VenueEventKind::Position {
                    account,
                    instrument,
                    qty,
                } => {
                    let i = account.0 as usize * self.n_instruments + instrument.0 as usize;
                    if let Some(p) = self.positions.get_mut(i) {
                        *p = Some(qty.0);
                    }
                }
                _ => {}
            }
            out.push(ev);
        }
        self.conflated += self.conflation.apply(out, from);
    }

    fn quotes_conflated(&self) -> u64 {
        self.conflated
    }

    fn input_waiting(&self) -> bool {
        !self.events.is_empty()
    }

    fn next_event_at(&self) -> Option<u64> {
        self.due.front().map(|e| e.at_ns)
    }

    fn positions(&self, account: AccountId, out: &mut Vec<(InstrumentId, Qty)>) {
        let base = account.0 as usize * self.n_instruments;
        for i in 0..self.n_instruments {
            if let Some(Some(q)) = self.positions.get(base + i) {
                out.push((InstrumentId(i as u16), Qty(*q)));
            }
        }
    }

    fn is_external(&self) -> bool {
        true
    }

    fn pump(&mut self, now: u64) -> bool {
        let mut any = false;
        // The I/O thread ended without being told to (it panicked): the venue is down
        // from here on, said once, so the gate refuses instead of orders timing out.
        if !self.dead
            && !self.stop.load(Ordering::Acquire)
            && self.events.is_abandoned()
            && self.events.is_empty()
        {
            self.dead = true;
            eprintln!("execd: the bridge thread of a venue ended unexpectedly: the venue is down");
            self.due.push_back(VenueEvent {
                at_ns: now,
                kind: VenueEventKind::Session { up: false },
                src_seq: 0,
            });
            return true;
        }
        // Stamped with engine time as they are taken: what the journal records.
        while self.due.len() < EVENT_RING {
            let Ok(mut kind) = self.events.pop() else {
                break;
            };
            if let VenueEventKind::Quote { ref mut quote, .. } = kind {
                quote.at_ns = now;
            }
            self.due.push_back(VenueEvent {
                at_ns: now,
                kind,
                src_seq: 0,
            });
            any = true;
        }
        any
    }

    fn query(&mut self, _now: u64, order: &VenueOrder) {
        // A question changes nothing the gate sees: asked whenever there is room.
        let _ = self.cmds.push(Cmd::Query(*order));
    }

    /// Asked whenever the venue is up: a full ring is not told by the answer (the core
    /// would then act on the ring, which a replay does not have) but by a journaled
    /// `SnapshotEnd` that checked nothing, so live and replay end the report alike.
    fn snapshot(&mut self, now: u64) -> bool {
        if !self.reported_up {
            return false;
        }
        if self.cmds.push(Cmd::Snapshot).is_err() {
            self.stats.backpressure.fetch_add(1, Ordering::Relaxed);
            self.due.push_back(VenueEvent {
                at_ns: now,
                kind: VenueEventKind::SnapshotEnd {
                    orders: false,
                    positions: false,
                    foreign: 0,
                },
                src_seq: 0,
            });
        }
        true
    }

    fn close(&mut self, _now: u64) {
        self.stop.store(true, Ordering::Release);
    }

    fn closed(&self) -> bool {
        self.thread.is_none() || self.dead || self.done.load(Ordering::Acquire)
    }
}

impl Drop for BridgeVenue {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
