//! The control thread's one link to the core: the only owner of its [`Handle`]. HTTP
//! handlers hand it an [`Ask`] over a channel and await the answer on a oneshot; it
//! sends each command followed by a `Sync`, attributes the events that come back on the
//! control thread's own event ring to the command they answer (everything the core
//! emits while carrying out a command comes before that command's `Synced`), and keeps
//! a bounded view of the orders it submitted (their fills, protection, status), so a
//! submit can wait for the outcome. It never blocks the core: a full ring is a refusal
//! (503), and when nothing is pending it sleeps, it does not spin.

use crate::config::Registry;
use crate::core::Handle;
use crate::model::event::{Command, CoreEvent, OperatorNote, OrderRef, OrderStatus};
use crate::model::fixed::{Money, Price, Qty};
use crate::model::ids::{ClOrdId, InstrumentId, OrderId, RequestId};
use crate::model::order_state::OrderState;
use crate::model::reason::Reason;
use crate::model::request::ExecutionRequest;
use crate::model::slippage::Slippage;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Orders whose view the link keeps (the oldest finished ones go first).
const MAX_VIEWS: usize = 65_536;
/// Fills kept per order view.
const MAX_FILLS: usize = 1_000;
/// How long a command may wait for the core's `Synced` before the asker hears 503.
const ANSWER_WAIT: Duration = Duration::from_secs(5);
/// The instrument of a view whose request named none that is configured.
const NO_INSTRUMENT: InstrumentId = InstrumentId(u16::MAX);
/// How long the link keeps looking for the core's answers without sleeping after it
/// last had something to do.
const SPIN_FOR: Duration = Duration::from_micros(500);
/// Events taken from the ring per turn of the loop.
const EVENT_BATCH: usize = 4_096;

/// Why a command was not carried out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The core's command ring is full: try again.
    Busy,
    /// The control plane is stopping.
    Stopping,
    /// The core did not confirm the command in time.
    NoAnswer,
}

/// One fill of an order.
#[derive(Clone, Copy, Debug)]
pub struct FillView {
    /// The venue's execution id.
    pub exec_id: u64,
    /// Execution price (instrument scale).
    pub px: Price,
    /// Executed quantity (instrument scale).
    pub qty: Qty,
    /// Commission.
    pub fee: Money,
    /// Against the reference price, when the request had one.
    pub slippage: Option<Slippage>,
    /// After the hard timeout.
    pub late: bool,
}

/// What the link knows of an order it submitted (or a protective leg of one).
#[derive(Clone, Debug)]
pub struct View {
    /// execd's id.
    pub order: OrderId,
    /// Upstream's id (empty for protective legs).
    pub request_id: RequestId,
    /// Content hash of the request that made it (0 for legs).
    pub hash: u64,
    /// For the scales of its prices and quantities.
    pub instrument: InstrumentId,
    /// What the venue knows it by.
    pub cl_ord_id: Option<ClOrdId>,
    /// Order quantity as requested (instrument scale), until a status says more.
    pub qty: Option<Qty>,
    /// The latest status the core reported.
    pub status: Option<OrderStatus>,
    /// Where it is, when no status was reported yet (PENDING_NEW after acceptance).
    pub state: OrderState,
    /// Why it was refused.
    pub reason: Option<Reason>,
    /// A kill switch covering it was at WARNING.
    pub warning: bool,
    /// Fills, oldest first.
    pub fills: Vec<FillView>,
    /// Stop-loss and take-profit legs placed for it.
    pub stop_loss: Option<(OrderId, Price)>,
    /// See `stop_loss`.
    pub take_profit: Option<(OrderId, Price)>,
    /// Slippage beyond the request's maximum (hundredths of a bp): protection withheld.
    pub slippage_breach: Option<i64>,
    /// The protected parent, for legs.
    pub parent: Option<OrderId>,
}

impl View {
    fn new(order: OrderId, request_id: RequestId, hash: u64, instrument: InstrumentId) -> View {
        View {
            order,
            request_id,
            hash,
            instrument,
            cl_ord_id: None,
            qty: None,
            status: None,
            state: OrderState::PendingNew,
            reason: None,
            warning: false,
            fills: Vec::new(),
            stop_loss: None,
            take_profit: None,
            slippage_breach: None,
            parent: None,
        }
    }

    /// Where the order is now.
    pub fn state(&self) -> OrderState {
        self.status.map(|s| s.state).unwrap_or(self.state)
    }
}

/// What a submit came to.
// One per HTTP request, moved once: boxing the view would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Submitted {
    /// The order (accepted or refused) and whether its outcome is final.
    Order {
        /// Its view.
        view: View,
        /// Terminal state reached within the wait.
        done: bool,
        /// The request id had been seen: this is the first request's order.
        duplicate: bool,
    },
    /// The request id had been seen with a different payload: nothing was sent.
    Conflict {
        /// The first request's order.
        first: OrderId,
    },
    /// The core knows the request id (from before this view existed): its status only.
    Known {
        /// The first request's order.
        order: OrderId,
        /// Where it is.
        state: OrderState,
    },
}

/// The events that answered a command, and the views of the orders they name.
#[derive(Debug, Default)]
pub struct Answer {
    /// In the order the core emitted them.
    pub events: Vec<CoreEvent>,
    /// Views of orders named by `Order` events, where the link has one.
    pub views: HashMap<OrderId, View>,
}

/// What an HTTP handler asks of the core.
pub enum Ask {
    /// Submit and wait up to `wait` for a terminal state.
    Submit {
        /// The request.
        req: ExecutionRequest,
        /// How long to wait for the outcome.
        wait: Duration,
        /// Where the answer goes.
        reply: oneshot::Sender<Result<Submitted, Refused>>,
    },
    /// Any other command: the events it produced.
    Command {
        /// The command (never a submit).
        cmd: Command,
        /// For an operator's action: who, and why; journaled just before it.
        by: Option<Box<OperatorNote>>,
        /// Where the answer goes.
        reply: oneshot::Sender<Result<Answer, Refused>>,
    },
    /// Wait up to `wait` for the venue's answer about an order the link has a view of
    /// (after a cancel or replace); no view: `Refused::NoAnswer`.
    Watch {
        /// The order.
        order: OrderId,
        /// How long.
        wait: Duration,
        /// Where the answer goes.
        reply: oneshot::Sender<Result<Submitted, Refused>>,
    },
    /// Whether the core carries out commands: a Sync round trip.
    Ping {
        /// Where the answer goes.
        reply: oneshot::Sender<Result<(), Refused>>,
    },
}

// One per command in flight; the request is kept by value like on the rings.
#[allow(clippy::large_enum_variant)]
enum Replier {
    Submit {
        req: ExecutionRequest,
        wait: Duration,
        reply: oneshot::Sender<Result<Submitted, Refused>>,
    },
    Command {
        reply: oneshot::Sender<Result<Answer, Refused>>,
    },
    Ping {
        reply: oneshot::Sender<Result<(), Refused>>,
    },
}

struct Pending {
    token: u64,
    cmd: Command,
    events: Vec<CoreEvent>,
    sent: Instant,
    replier: Replier,
}

/// What a waiter waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Until {
    /// A terminal state (a submit's outcome).
    Terminal,
    /// No answer from the venue outstanding (a cancel's or replace's outcome).
    Answered,
}

impl Until {
    fn met(self, s: OrderState) -> bool {
        match self {
            Until::Terminal => s.is_terminal(),
            Until::Answered => !matches!(
                s,
                OrderState::PendingNew | OrderState::PendingCancel | OrderState::PendingReplace
            ),
        }
    }
}

struct Waiter {
    order: OrderId,
    until: Until,
    deadline: Instant,
    /// Sync sent after the terminal status, so what the core emitted with it (the
    /// protective legs) is in the view before the answer goes.
    settle: Option<u64>,
    duplicate: bool,
    reply: oneshot::Sender<Result<Submitted, Refused>>,
}

/// What the link did, for the exit summary.
#[derive(Clone, Copy, Debug, Default)]
pub struct LinkStats {
    /// Commands handed to the core.
    pub commands: u64,
    /// Commands refused because the core's ring was full.
    pub busy: u64,
    /// Commands the core did not confirm in time.
    pub unanswered: u64,
    /// Submits answered from the first request's order (R-IN-3).
    pub duplicates: u64,
    /// Submits refused for reusing a request id with another payload.
    pub conflicts: u64,
}

/// The link's state: the handle and what is in flight.
pub struct Link {
    handle: Handle,
    reg: Arc<Registry>,
    next_token: u64,
    pending: VecDeque<Pending>,
    waiters: Vec<Waiter>,
    views: HashMap<OrderId, View>,
    by_request: HashMap<RequestId, OrderId>,
    age: VecDeque<OrderId>,
    stats: LinkStats,
}

impl Link {
    /// A link over the control thread's handle.
    pub fn new(handle: Handle, reg: Arc<Registry>) -> Link {
        Link {
            handle,
            reg,
            next_token: 1,
            pending: VecDeque::new(),
            waiters: Vec::new(),
            views: HashMap::new(),
            by_request: HashMap::new(),
            age: VecDeque::new(),
            stats: LinkStats::default(),
        }
    }

    /// Serves asks until the channel closes (every HTTP handler is done) and nothing
    /// is in flight; then answers what is left and returns what it did. Once
    /// `stopping` is set, submits waiting for their outcome are answered at once with
    /// their current status, so the server's in-flight requests end promptly.
    pub async fn run(
        mut self,
        mut asks: mpsc::Receiver<Ask>,
        stopping: Arc<AtomicBool>,
    ) -> LinkStats {
        let mut open = true;
        let mut last_work = Instant::now();
        loop {
            if stopping.load(Ordering::Acquire) && !self.waiters.is_empty() {
                self.answer_waiters(|_| true, false);
            }
            let mut work = false;
            while let Ok(a) = asks.try_recv() {
                self.take(a);
                work = true;
            }
            work |= self.drain_events();
            self.expire();
            if !open && self.pending.is_empty() && self.waiters.is_empty() {
                break;
            }
            if work {
                last_work = Instant::now();
                tokio::task::yield_now().await;
                continue;
            }
            let awaiting = !self.pending.is_empty() || !self.waiters.is_empty();
            // The core answers a command in microseconds: while answers are awaited, look
            // again at once for a short while (giving the CPU away each time, so the core
            // thread runs on a small machine) before falling back to the timer, whose 1 ms
            // tick made every answer wait a millisecond or two.
            if awaiting && last_work.elapsed() < SPIN_FOR {
                std::thread::yield_now();
                tokio::task::yield_now().await;
                continue;
            }
            // Nothing came: while answers are awaited, look again in a millisecond;
            // otherwise sleep until an ask arrives (or 20 ms, to keep the event ring
            // drained of what the core tells every producer).
            let idle = if self.pending.is_empty() && self.waiters.is_empty() {
                Duration::from_millis(20)
            } else {
                Duration::from_millis(1)
            };
            if open {
                match tokio::time::timeout(idle, asks.recv()).await {
                    Ok(Some(a)) => self.take(a),
                    Ok(None) => open = false,
                    Err(_) => {}
                }
            } else {
                tokio::time::sleep(idle).await;
            }
        }
        self.stats
    }

    fn token(&mut self) -> u64 {
        let t = self.next_token;
        self.next_token += 1;
        t
    }

    /// Sends `cmd` then a Sync; the token of the Sync, or a refusal.
    fn send(&mut self, cmd: Command) -> Result<u64, Refused> {
        // Both or neither: a command without its Sync could never be answered.
        if self.handle.room() < 2 {
            self.stats.busy += 1;
            return Err(Refused::Busy);
        }
        let token = self.token();
        if self.handle.send(cmd).is_err() || self.handle.send(Command::Sync(token)).is_err() {
            self.stats.busy += 1;
            return Err(Refused::Busy);
        }
        self.stats.commands += 1;
        Ok(token)
    }

    fn take(&mut self, a: Ask) {
        let (cmd, replier) = match a {
            Ask::Submit { req, wait, reply } => {
                if let Some(&first) = self.by_request.get(&req.request_id) {
                    if let Some(v) = self.views.get(&first) {
                        if v.hash != req.content_hash() {
                            self.stats.conflicts += 1;
                            let _ = reply.send(Ok(Submitted::Conflict { first }));
                            return;
                        }
                    }
                }
                (Command::Submit(req), Replier::Submit { req, wait, reply })
            }
            Ask::Command { cmd, by, reply } => {
                if let Some(note) = by {
                    // The note and its action go together or not at all: a note whose
                    // action never came would name an operator for nothing.
                    if self.handle.room() < 3 || self.handle.send(Command::Operator(*note)).is_err()
                    {
                        self.stats.busy += 1;
                        let _ = reply.send(Err(Refused::Busy));
                        return;
                    }
                }
                (cmd, Replier::Command { reply })
            }
            Ask::Ping { reply } => (Command::Tick, Replier::Ping { reply }),
            Ask::Watch { order, wait, reply } => {
                let Some(v) = self.views.get(&order) else {
                    let _ = reply.send(Err(Refused::NoAnswer));
                    return;
                };
                if Until::Answered.met(v.state()) {
                    let done = v.state().is_terminal();
                    let _ = reply.send(Ok(Submitted::Order {
                        view: v.clone(),
                        done,
                        duplicate: false,
                    }));
                    return;
                }
                self.waiters.push(Waiter {
                    order,
                    until: Until::Answered,
                    deadline: Instant::now() + wait,
                    settle: None,
                    duplicate: false,
                    reply,
                });
                return;
            }
        };
        match self.send(cmd) {
            Ok(token) => self.pending.push_back(Pending {
                token,
                cmd,
                events: Vec::new(),
                sent: Instant::now(),
                replier,
            }),
            Err(r) => match replier {
                Replier::Submit { reply, .. } => {
                    let _ = reply.send(Err(r));
                }
                Replier::Command { reply } => {
                    let _ = reply.send(Err(r));
                }
                Replier::Ping { reply } => {
                    let _ = reply.send(Err(r));
                }
            },
        }
    }

    fn drain_events(&mut self) -> bool {
        let mut any = false;
        for _ in 0..EVENT_BATCH {
            let Some(ev) = self.handle.try_event() else {
                break;
            };
            any = true;
            self.on_event(ev);
        }
        any
    }

    fn on_event(&mut self, ev: CoreEvent) {
        if let CoreEvent::Synced(t) = ev {
            return self.synced(t);
        }
        // Submits: the view starts at the answer, before the Sync, so nothing that
        // follows it is missed.
        if let Some(p) = self.pending.front() {
            if let (Command::Submit(req), true) = (&p.cmd, answers(&p.cmd, &ev)) {
                let req = *req;
                self.start_view(&req, &ev);
            }
        }
        self.update_view(&ev);
        if let Some(p) = self.pending.front_mut() {
            if answers(&p.cmd, &ev) {
                p.events.push(ev);
            }
        }
    }

    fn start_view(&mut self, req: &ExecutionRequest, ev: &CoreEvent) {
        let Some(inst) = self
            .reg
            .venue(&req.venue)
            .and_then(|v| self.reg.instrument(v, &req.symbol))
        else {
            // Refused before an instrument was known: the answer carries the reason.
            if let CoreEvent::Rejected { order, reason, .. } = *ev {
                let mut v = View::new(order, req.request_id, req.content_hash(), NO_INSTRUMENT);
                v.state = OrderState::Rejected;
                v.reason = Some(reason);
                if order.0 != 0 {
                    self.insert(v);
                }
            }
            return;
        };
        match *ev {
            CoreEvent::Accepted {
                order,
                cl_ord_id,
                content_hash,
                warning,
                ..
            } => {
                let mut v = View::new(order, req.request_id, content_hash, inst);
                v.cl_ord_id = Some(cl_ord_id);
                let scale = self.reg.instruments[inst.0 as usize].qty_scale;
                v.qty = req.quantity.to_scale(scale).map(Qty);
                v.warning = warning;
                self.insert(v);
            }
            CoreEvent::Rejected { order, reason, .. } if order.0 != 0 => {
                let mut v = View::new(order, req.request_id, req.content_hash(), inst);
                let scale = self.reg.instruments[inst.0 as usize].qty_scale;
                v.qty = req.quantity.to_scale(scale).map(Qty);
                v.state = OrderState::Rejected;
                v.reason = Some(reason);
                self.insert(v);
            }
            _ => {}
        }
    }

    fn insert(&mut self, v: View) {
        if !v.request_id.is_empty() {
            self.by_request.insert(v.request_id, v.order);
        }
        self.age.push_back(v.order);
        self.views.insert(v.order, v);
        // Bounded: the oldest view that nobody waits for goes.
        while self.views.len() > MAX_VIEWS {
            let Some(old) = self.age.pop_front() else {
                break;
            };
            if self.waiters.iter().any(|w| w.order == old) {
                self.age.push_back(old);
                continue;
            }
            if let Some(v) = self.views.remove(&old) {
                if self.by_request.get(&v.request_id) == Some(&old) {
                    self.by_request.remove(&v.request_id);
                }
            }
        }
    }

    fn update_view(&mut self, ev: &CoreEvent) {
        match *ev {
            CoreEvent::Order(s) => {
                if let Some(v) = self.views.get_mut(&s.order) {
                    v.status = Some(s);
                    if s.reason.is_some() {
                        v.reason = s.reason;
                    }
                    let (order, state) = (s.order, s.state);
                    self.settle(order, state);
                }
            }
            CoreEvent::Fill {
                order,
                exec_id,
                px,
                qty,
                fee,
                slippage,
                late,
                ..
            } => {
                if let Some(v) = self.views.get_mut(&order) {
                    if v.fills.len() < MAX_FILLS {
                        v.fills.push(FillView {
                            exec_id,
                            px,
                            qty,
                            fee,
                            slippage,
                            late,
                        });
                    }
                }
            }
            CoreEvent::Protection {
                parent,
                stop_loss,
                take_profit,
                ..
            } => {
                let Some(v) = self.views.get_mut(&parent) else {
                    return;
                };
                v.stop_loss = stop_loss.or(v.stop_loss);
                v.take_profit = take_profit.or(v.take_profit);
                let inst = v.instrument;
                for (leg, _) in [stop_loss, take_profit].into_iter().flatten() {
                    let mut l = View::new(leg, RequestId::EMPTY, 0, inst);
                    l.parent = Some(parent);
                    self.insert(l);
                }
            }
            CoreEvent::SlippageBreach { order, bps_e2 } => {
                if let Some(v) = self.views.get_mut(&order) {
                    v.slippage_breach = Some(bps_e2);
                }
            }
            _ => {}
        }
    }

    /// A waited-for order reached a terminal state: a Sync, so what the core emitted
    /// with it arrives before the answer goes.
    fn settle(&mut self, order: OrderId, state: OrderState) {
        let due = |w: &Waiter| w.order == order && w.settle.is_none() && w.until.met(state);
        if !self.waiters.iter().any(due) {
            return;
        }
        let token = self.token();
        // A full ring: the answer goes now, without what may follow.
        let settle = self.handle.send(Command::Sync(token)).is_ok();
        for w in self.waiters.iter_mut().filter(|w| due(w)) {
            w.settle = Some(if settle { token } else { 0 });
        }
        if !settle {
            self.answer_waiters(|w| w.order == order && w.settle == Some(0), true);
        }
    }

    fn synced(&mut self, token: u64) {
        while self.pending.front().is_some_and(|p| p.token <= token) {
            let p = self.pending.pop_front().expect("front exists");
            self.finish(p);
        }
        self.answer_waiters(|w| w.settle == Some(token), true);
    }

    fn answer_waiters(&mut self, pick: impl Fn(&Waiter) -> bool, done: bool) {
        let mut i = 0;
        while i < self.waiters.len() {
            if pick(&self.waiters[i]) {
                let w = self.waiters.swap_remove(i);
                let view = self.views.get(&w.order).cloned();
                let _ = w.reply.send(match view {
                    Some(view) => Ok(Submitted::Order {
                        done: done && view.state().is_terminal(),
                        view,
                        duplicate: w.duplicate,
                    }),
                    None => Err(Refused::NoAnswer),
                });
            } else {
                i += 1;
            }
        }
    }

    fn finish(&mut self, p: Pending) {
        match p.replier {
            Replier::Ping { reply } => {
                let _ = reply.send(Ok(()));
            }
            Replier::Command { reply } => {
                let mut a = Answer {
                    events: p.events,
                    views: HashMap::new(),
                };
                for e in &a.events {
                    if let CoreEvent::Order(s) = e {
                        if let Some(v) = self.views.get(&s.order) {
                            a.views.insert(s.order, v.clone());
                        }
                    }
                }
                let _ = reply.send(Ok(a));
            }
            Replier::Submit { req, wait, reply } => {
                let mut first = None;
                for e in &p.events {
                    match *e {
                        CoreEvent::Accepted { order, .. } | CoreEvent::Rejected { order, .. } => {
                            first = Some((order, false))
                        }
                        CoreEvent::Duplicate { order, state, .. } => {
                            self.stats.duplicates += 1;
                            if !self.views.contains_key(&order) {
                                let _ = reply.send(Ok(Submitted::Known { order, state }));
                                return;
                            }
                            if self.views[&order].hash != req.content_hash() {
                                self.stats.conflicts += 1;
                                let _ = reply.send(Ok(Submitted::Conflict { first: order }));
                                return;
                            }
                            first = Some((order, true));
                        }
                        _ => {}
                    }
                }
                let Some((order, duplicate)) = first else {
                    let _ = reply.send(Err(Refused::NoAnswer));
                    return;
                };
                let Some(view) = self.views.get(&order).cloned() else {
                    // A refusal that kept no order (the store was full): the event says why.
                    let mut v = View::new(order, req.request_id, req.content_hash(), NO_INSTRUMENT);
                    v.state = OrderState::Rejected;
                    v.reason = p.events.iter().find_map(|e| match e {
                        CoreEvent::Rejected { reason, .. } => Some(*reason),
                        _ => None,
                    });
                    let _ = reply.send(Ok(Submitted::Order {
                        view: v,
                        done: true,
                        duplicate,
                    }));
                    return;
                };
                if view.state().is_terminal() || wait.is_zero() {
                    let done = view.state().is_terminal();
                    let _ = reply.send(Ok(Submitted::Order {
                        view,
                        done,
                        duplicate,
                    }));
                    return;
                }
                self.waiters.push(Waiter {
                    order,
                    until: Until::Terminal,
                    deadline: p.sent + wait,
                    settle: None,
                    duplicate,
                    reply,
                });
            }
        }
    }

    /// Answers what waited too long: a command the core never confirmed (503), a
    /// submit whose outcome is not final yet (its current status).
    fn expire(&mut self) {
        let now = Instant::now();
        while self
            .pending
            .front()
            .is_some_and(|p| now.duration_since(p.sent) > ANSWER_WAIT)
        {
            let p = self.pending.pop_front().expect("front exists");
            self.stats.unanswered += 1;
            match p.replier {
                Replier::Submit { reply, .. } => {
                    let _ = reply.send(Err(Refused::NoAnswer));
                }
                Replier::Command { reply } => {
                    let _ = reply.send(Err(Refused::NoAnswer));
                }
                Replier::Ping { reply } => {
                    let _ = reply.send(Err(Refused::NoAnswer));
                }
            }
        }
        if self.waiters.iter().any(|w| w.deadline <= now) {
            self.answer_waiters(|w| w.deadline <= now, false);
        }
    }
}

/// Whether `ev` answers `cmd` (as opposed to an event about another order that came in
/// between: a fill, a venue's answer).
fn answers(cmd: &Command, ev: &CoreEvent) -> bool {
    use CoreEvent as E;
    let about = |r: &OrderRef, s: &OrderStatus| match r {
        OrderRef::Id(id) => s.order == *id || s.parent == Some(*id),
        OrderRef::Request(q) => s.request_id == *q,
    };
    let names = |r: &OrderRef, o: &Option<OrderId>| match (r, o) {
        (_, None) => true,
        (OrderRef::Id(id), Some(o)) => o == id,
        (OrderRef::Request(_), Some(_)) => true,
    };
    match (cmd, ev) {
        (Command::Submit(r), E::Accepted { request_id, .. })
        | (Command::Submit(r), E::Rejected { request_id, .. })
        | (Command::Submit(r), E::Duplicate { request_id, .. }) => *request_id == r.request_id,
        (Command::Read { .. }, E::Row(_) | E::RowsEnd { .. }) => true,
        (Command::Cancel(r) | Command::Query(r), E::Order(s)) => about(r, s),
        (Command::Query(OrderRef::Id(id)), E::OrderInstrument { order, .. }) => order == id,
        (Command::Query(OrderRef::Request(_)), E::OrderInstrument { .. }) => true,
        (Command::Cancel(r) | Command::Query(r), E::CommandRejected { order, .. }) => {
            names(r, order)
        }
        (Command::Replace { order, .. }, E::Order(s)) => about(order, s),
        (Command::Replace { order, .. }, E::CommandRejected { order: o, .. }) => names(order, o),
        (Command::ModifyProtection { order, .. }, E::Order(s)) => about(order, s),
        // A refusal may name a leg rather than the parent.
        (Command::ModifyProtection { .. }, E::CommandRejected { .. }) => true,
        (Command::CancelAll(_), E::Order(s)) => s.state == OrderState::PendingCancel,
        (Command::CancelAll(_), E::CommandRejected { .. }) => true,
        (
            Command::SetKillSwitch { scope, state, .. },
            E::KillSwitch {
                scope: s, state: k, ..
            },
        ) => s == scope && k == state,
        (Command::SetKillSwitch { .. }, E::Order(s)) => s.state == OrderState::PendingCancel,
        (Command::SetKillSwitch { .. }, E::CommandRejected { .. }) => true,
        (Command::Reconcile { .. }, E::CommandRejected { order, .. }) => order.is_none(),
        (Command::Quote { .. }, E::CommandRejected { order, .. }) => order.is_none(),
        (Command::ResolveReconciliation(_), E::ReconResolved { .. }) => true,
        (Command::ResolveReconciliation(_), E::CommandRejected { order, .. }) => order.is_none(),
        // Broadcast: the route takes the one about its instrument.
        (Command::SetLimits(_), E::LimitsChanged(_)) => true,
        (Command::SetLimits(_), E::CommandRejected { order, .. }) => order.is_none(),
        (Command::SetMode { account, .. }, E::ModeChanged { account: a, .. }) => a == account,
        (Command::SetHalted { account, .. }, E::HaltChanged { account: a, .. }) => a == account,
        (Command::SetMode { .. } | Command::SetHalted { .. }, E::CommandRejected { order, .. }) => {
            order.is_none()
        }
        (Command::DeadLetter { order, .. }, E::DeadLetterResolved { order: o, .. })
        | (Command::DeadLetter { order, .. }, E::RetryScheduled { order: o, .. })
        | (Command::DeadLetter { order, .. }, E::DeadLettered { order: o, .. }) => o == order,
        (Command::DeadLetter { order, .. }, E::Order(s)) => s.order == *order,
        (Command::DeadLetter { order, .. }, E::CommandRejected { order: o, .. }) => {
            o.is_none() || *o == Some(*order)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::event::Inbound;
    use crate::model::fixed::Dec;
    use crate::model::ids::Side;

    /// The core's ends of a handle's rings, played by the test.
    struct FakeCore {
        commands: rtrb::Consumer<Inbound>,
        events: rtrb::Producer<CoreEvent>,
    }

    impl FakeCore {
        async fn next(&mut self) -> Command {
            let t0 = Instant::now();
            loop {
                if let Ok(m) = self.commands.pop() {
                    return m.cmd;
                }
                assert!(t0.elapsed() < Duration::from_secs(5), "no command came");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }

        async fn sync(&mut self) -> u64 {
            match self.next().await {
                Command::Sync(t) => t,
                other => panic!("expected a Sync, got {other:?}"),
            }
        }

        fn say(&mut self, ev: CoreEvent) {
            self.events.push(ev).expect("room");
        }
    }

    fn link(capacity: usize) -> (Link, FakeCore) {
        let (tx, commands) = rtrb::RingBuffer::<Inbound>::new(capacity);
        let (events, rx) = rtrb::RingBuffer::<CoreEvent>::new(64);
        let bell = crate::core::Bell::new(None);
        let handle = Handle::new(tx, rx, quanta::Clock::new(), bell);
        let reg = Arc::new(Registry::default_paper());
        (Link::new(handle, reg), FakeCore { commands, events })
    }

    fn run(test: impl std::future::Future<Output = ()>) {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(test);
    }

    fn status(order: u64, state: OrderState) -> OrderStatus {
        OrderStatus {
            order: OrderId(order),
            request_id: RequestId::new("r1").unwrap(),
            parent: None,
            state,
            qty: Qty(10),
            cum_qty: Qty(if state == OrderState::Filled { 10 } else { 0 }),
            avg_px: Price(if state == OrderState::Filled {
                9_700_000
            } else {
                0
            }),
            reason: None,
            late: false,
        }
    }

    #[test]
    fn answers_are_the_events_before_the_sync_that_answer_the_command() {
        run(async {
            let (l, mut core) = link(16);
            let (tx, rx) = mpsc::channel(8);
            let stopping = Arc::new(AtomicBool::new(false));
            let task = tokio::spawn(l.run(rx, stopping));
            let (reply, answer) = oneshot::channel();
            let cmd = Command::Cancel(OrderRef::Id(OrderId(5)));
            tx.send(Ask::Command {
                cmd,
                by: None,
                reply,
            })
            .await
            .ok()
            .unwrap();
            assert_eq!(core.next().await, cmd);
            let token = core.sync().await;
            // A fill and a refusal about another order land in between: not answers.
            core.say(CoreEvent::Fill {
                order: OrderId(9),
                instrument: InstrumentId(0),
                exec_id: 1,
                px: Price(1),
                qty: Qty(1),
                fee: Money(0),
                slippage: None,
                late: false,
            });
            core.say(CoreEvent::CommandRejected {
                order: Some(OrderId(9)),
                reason: Reason::NotWorking,
            });
            core.say(CoreEvent::Order(status(5, OrderState::PendingCancel)));
            core.say(CoreEvent::Synced(token));
            let a = answer.await.unwrap().unwrap();
            assert_eq!(
                a.events,
                vec![CoreEvent::Order(status(5, OrderState::PendingCancel))]
            );
            drop(tx);
            let stats = task.await.unwrap();
            assert_eq!(stats.commands, 1);
        });
    }

    #[test]
    fn a_full_ring_is_a_refusal_and_nothing_half_sent() {
        run(async {
            // Room for one command and its Sync, not for a second pair.
            let (l, mut core) = link(3);
            let (tx, rx) = mpsc::channel(8);
            let task = tokio::spawn(l.run(rx, Arc::new(AtomicBool::new(false))));
            let (r1, a1) = oneshot::channel();
            let (r2, a2) = oneshot::channel();
            let q = Command::Query(OrderRef::Id(OrderId(1)));
            tx.send(Ask::Command {
                cmd: q,
                by: None,
                reply: r1,
            })
            .await
            .ok()
            .unwrap();
            tx.send(Ask::Command {
                cmd: q,
                by: None,
                reply: r2,
            })
            .await
            .ok()
            .unwrap();
            assert_eq!(a2.await.unwrap().unwrap_err(), Refused::Busy);
            assert_eq!(core.next().await, q);
            let token = core.sync().await;
            assert!(
                core.commands.pop().is_err(),
                "the refused command was not sent"
            );
            core.say(CoreEvent::CommandRejected {
                order: None,
                reason: Reason::UnknownOrder,
            });
            core.say(CoreEvent::Synced(token));
            let a = a1.await.unwrap().unwrap();
            assert!(matches!(
                a.events[..],
                [CoreEvent::CommandRejected {
                    reason: Reason::UnknownOrder,
                    ..
                }]
            ));
            drop(tx);
            assert_eq!(task.await.unwrap().busy, 1);
        });
    }

    #[test]
    fn a_submit_waits_for_its_outcome_and_a_reused_id_with_another_payload_is_refused() {
        run(async {
            let (l, mut core) = link(16);
            let (tx, rx) = mpsc::channel(8);
            let task = tokio::spawn(l.run(rx, Arc::new(AtomicBool::new(false))));
            let req = ExecutionRequest::market(
                "r1",
                "alpha",
                "paper",
                "BTCUSDT",
                Side::Buy,
                Dec::new(1, 2),
            );
            let (reply, answer) = oneshot::channel();
            let wait = Duration::from_secs(5);
            tx.send(Ask::Submit { req, wait, reply })
                .await
                .ok()
                .unwrap();
            assert!(matches!(core.next().await, Command::Submit(_)));
            let token = core.sync().await;
            core.say(CoreEvent::Accepted {
                request_id: req.request_id,
                order: OrderId(1),
                cl_ord_id: ClOrdId::default(),
                content_hash: req.content_hash(),
                warning: false,
            });
            core.say(CoreEvent::Synced(token));
            // Not final: the answer waits for the fill.
            tokio::time::sleep(Duration::from_millis(20)).await;
            core.say(CoreEvent::Fill {
                order: OrderId(1),
                instrument: InstrumentId(3),
                exec_id: 7,
                px: Price(9_700_000),
                qty: Qty(10),
                fee: Money(5),
                slippage: None,
                late: false,
            });
            core.say(CoreEvent::Order(status(1, OrderState::Filled)));
            // The terminal status asks for one more Sync, for what came with it.
            let settle = core.sync().await;
            core.say(CoreEvent::Protection {
                parent: OrderId(1),
                stop_loss: Some((OrderId(2), Price(9_500_000))),
                take_profit: None,
                qty: Qty(10),
            });
            core.say(CoreEvent::Synced(settle));
            match answer.await.unwrap().unwrap() {
                Submitted::Order {
                    view,
                    done,
                    duplicate,
                } => {
                    assert!(done && !duplicate);
                    assert_eq!(view.state(), OrderState::Filled);
                    assert_eq!(view.fills.len(), 1);
                    assert_eq!(view.stop_loss, Some((OrderId(2), Price(9_500_000))));
                    assert_eq!(view.qty, Some(Qty(10)));
                }
                other => panic!("{other:?}"),
            }
            let mut other = req;
            other.quantity = Dec::new(2, 2);
            let (reply, answer) = oneshot::channel();
            tx.send(Ask::Submit {
                req: other,
                wait,
                reply,
            })
            .await
            .ok()
            .unwrap();
            assert!(matches!(
                answer.await.unwrap().unwrap(),
                Submitted::Conflict { first: OrderId(1) }
            ));
            assert!(core.commands.pop().is_err(), "nothing reached the core");
            drop(tx);
            let stats = task.await.unwrap();
            assert_eq!((stats.commands, stats.conflicts), (1, 1));
        });
    }
}
