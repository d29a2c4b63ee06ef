//! The QuickFIX application callbacks for both modes, and the state the
//! `status` command reports.
//!
//! QuickFIX calls these callbacks from its own socket thread; the stdin command
//! loop runs on the main thread. Counters are atomics; the order book, the
//! initiator's order tracking and the bench run sit behind mutexes that are
//! never held while calling into QuickFIX (a send re-enters `on_msg_to_app`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use hdrhistogram::Histogram;
use quickfix::{
    send_to_target, ApplicationCallback, FieldMap, Message, MsgFromAdminError, MsgFromAppError,
    MsgToAppError, SessionId,
};
use serde_json::{json, Map, Value};

use crate::fixutil::{
    fmt_num, header_field, is_poss_dup, json_num, json_str, msg_type, new_message, set, set_opt,
    utc_timestamp,
};
use crate::out::Out;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Role {
    Acceptor,
    Initiator,
}

/// Everything counted. Each name means the same on both sides where it can:
/// the acceptor counts what it received/sent, the initiator what it sent/received,
/// so that `orders`, `fills`, `cancels`, `replaces` of a pair of peers match.
macro_rules! counters {
    ($($name:ident),* $(,)?) => {
        #[derive(Default)]
        pub struct Counters { $(pub $name: AtomicU64,)* }
        impl Counters {
            pub fn to_json(&self, m: &mut Map<String, Value>) {
                $( m.insert(stringify!($name).to_string(), json!(self.$name.load(Ordering::Relaxed))); )*
            }
        }
    };
}

counters!(
    logons,
    logouts,
    // business flow (acceptor: received requests / sent reports; initiator: sent requests / received reports)
    orders,
    orders_rejected,
    fills,
    filled_orders,
    cancel_requests,
    cancels,
    replace_requests,
    replaces,
    cancel_rejects,
    status_requests,
    exec_reports,
    // session level
    app_messages_received,
    app_messages_sent,
    app_messages_resent,
    admin_messages_received,
    admin_messages_sent,
    heartbeats_received,
    test_requests_received,
    test_requests_sent,
    resend_requests_received,
    resend_requests_sent,
    sequence_resets_received,
    sequence_resets_sent,
    gap_fills_received,
    gap_fills_sent,
    rejects_received,
    rejects_sent,
    business_rejects_received,
    logouts_received,
    logouts_sent,
    poss_dup_received,
    duplicates_ignored,
);

fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// One order on the acceptor's book.
#[derive(Clone, Debug)]
struct Order {
    order_id: String,
    cl_ord_id: String,
    orig_cl_ord_id: Option<String>,
    account: Option<String>,
    symbol: String,
    side: String,
    ord_type: String,
    price: Option<f64>,
    qty: f64,
    cum_qty: f64,
    avg_px: f64,
    /// OrdStatus (39)
    status: &'static str,
}

impl Order {
    fn is_open(&self) -> bool {
        matches!(self.status, "0" | "1")
    }

    fn leaves(&self) -> f64 {
        if self.is_open() {
            (self.qty - self.cum_qty).max(0.0)
        } else {
            0.0
        }
    }
}

#[derive(Default)]
struct Book {
    /// every ClOrdID an order ever had -> order key
    alias: HashMap<String, u64>,
    orders: HashMap<u64, Order>,
    next_key: u64,
}

impl Book {
    fn find(&self, cl_ord_id: &str) -> Option<u64> {
        self.alias.get(cl_ord_id).copied()
    }

    fn open_count(&self) -> usize {
        self.orders.values().filter(|o| o.is_open()).count()
    }
}

/// The initiator's view of its orders, from the ExecutionReports it receives.
#[derive(Default)]
struct Tracked {
    open: HashSet<String>,
    exec_ids: HashSet<String>,
    last_status: HashMap<String, String>,
}

/// A running `bench`.
pub struct BenchRun {
    pub total: u64,
    pub started: u64,
    pub done: u64,
    pub filled: u64,
    pub pending: HashMap<String, Instant>,
    pub hist: Histogram<u64>,
    pub prefix: String,
    pub symbol: String,
    pub done_tx: Sender<()>,
}

pub struct AcceptorCfg {
    pub price: f64,
    pub partial: u32,
}

pub struct Peer {
    pub role: Role,
    pub fix42: bool,
    pub out: Arc<Out>,
    pub app_events: bool,
    pub counters: Counters,
    pub acceptor: AcceptorCfg,
    pub account: Option<String>,
    /// set while a bench runs: no per-message events, no message logging
    pub quiet: Arc<AtomicBool>,
    pub bench: Mutex<Option<BenchRun>>,
    book: Mutex<Book>,
    tracked: Mutex<Tracked>,
    id_prefix: String,
    next_id: AtomicU64,
}

impl Peer {
    pub fn new(
        role: Role,
        fix42: bool,
        out: Arc<Out>,
        app_events: bool,
        acceptor: AcceptorCfg,
        account: Option<String>,
        quiet: Arc<AtomicBool>,
    ) -> Peer {
        // ids unique across restarts of this process
        let start_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        Peer {
            role,
            fix42,
            out,
            app_events,
            counters: Counters::default(),
            acceptor,
            account,
            quiet,
            bench: Mutex::new(None),
            book: Mutex::new(Book::default()),
            tracked: Mutex::new(Tracked::default()),
            id_prefix: format!("{start_ms:x}"),
            next_id: AtomicU64::new(1),
        }
    }

    fn new_id(&self, kind: &str) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!("{kind}{}-{n}", self.id_prefix)
    }

    pub fn unique_prefix(&self) -> String {
        self.new_id("B")
    }

    fn events_on(&self) -> bool {
        self.app_events && !self.quiet.load(Ordering::Relaxed)
    }

    pub fn open_orders(&self) -> usize {
        match self.role {
            Role::Acceptor => lock(&self.book).open_count(),
            Role::Initiator => lock(&self.tracked).open.len(),
        }
    }

    pub fn known_orders(&self) -> usize {
        match self.role {
            Role::Acceptor => lock(&self.book).orders.len(),
            Role::Initiator => lock(&self.tracked).last_status.len(),
        }
    }

    fn send(&self, msg: Message, session: &SessionId) {
        if let Err(e) = send_to_target(msg, session) {
            self.out
                .emit(json!({"type":"error","error":format!("send failed: {e}")}));
        }
    }

    // ------------------------------------------------------------------
    // Initiator: building requests
    // ------------------------------------------------------------------

    pub fn new_order_single(
        &self,
        cl_ord_id: &str,
        symbol: &str,
        side: &str,
        qty: &str,
        limit: Option<&str>,
    ) -> Message {
        let mut m = new_message("D");
        set(&mut m, 11, cl_ord_id);
        set_opt(&mut m, 1, self.account.as_deref());
        set(&mut m, 21, "1");
        set(&mut m, 55, symbol);
        set(&mut m, 54, side);
        set(&mut m, 60, &utc_timestamp());
        set(&mut m, 38, qty);
        match limit {
            Some(px) => {
                set(&mut m, 40, "2");
                set(&mut m, 44, px);
            }
            None => set(&mut m, 40, "1"),
        }
        set(&mut m, 59, "0");
        m
    }

    pub fn cancel_request(
        &self,
        cl_ord_id: &str,
        orig: &str,
        symbol: &str,
        side: &str,
        qty: &str,
    ) -> Message {
        let mut m = new_message("F");
        set(&mut m, 41, orig);
        set(&mut m, 11, cl_ord_id);
        set_opt(&mut m, 1, self.account.as_deref());
        set(&mut m, 55, symbol);
        set(&mut m, 54, side);
        set(&mut m, 60, &utc_timestamp());
        set(&mut m, 38, qty);
        m
    }

    #[allow(clippy::too_many_arguments)]
    pub fn replace_request(
        &self,
        cl_ord_id: &str,
        orig: &str,
        symbol: &str,
        side: &str,
        qty: &str,
        px: &str,
    ) -> Message {
        let mut m = new_message("G");
        set(&mut m, 41, orig);
        set(&mut m, 11, cl_ord_id);
        set_opt(&mut m, 1, self.account.as_deref());
        set(&mut m, 21, "1");
        set(&mut m, 55, symbol);
        set(&mut m, 54, side);
        set(&mut m, 60, &utc_timestamp());
        set(&mut m, 38, qty);
        set(&mut m, 40, "2");
        set(&mut m, 44, px);
        m
    }

    pub fn status_request(&self, cl_ord_id: &str, symbol: &str, side: &str) -> Message {
        let mut m = new_message("H");
        set(&mut m, 11, cl_ord_id);
        set(&mut m, 55, symbol);
        set(&mut m, 54, side);
        m
    }

    // ------------------------------------------------------------------
    // Acceptor: the executor
    // ------------------------------------------------------------------

    fn fill_exec_type(&self, status: &str) -> &'static str {
        if self.fix42 {
            if status == "2" {
                "2"
            } else {
                "1"
            }
        } else {
            "F"
        }
    }

    fn exec_report(
        &self,
        o: &Order,
        exec_type: &str,
        last: Option<(f64, f64)>,
        text: Option<&str>,
    ) -> Message {
        let mut m = new_message("8");
        set(&mut m, 37, &o.order_id);
        set(&mut m, 11, &o.cl_ord_id);
        set_opt(&mut m, 41, o.orig_cl_ord_id.as_deref());
        set(&mut m, 17, &self.new_id("E"));
        if self.fix42 {
            set(&mut m, 20, if exec_type == "I" { "3" } else { "0" });
            let et = if exec_type == "I" {
                o.status
            } else {
                exec_type
            };
            set(&mut m, 150, et);
        } else {
            set(&mut m, 150, exec_type);
        }
        set(&mut m, 39, o.status);
        set_opt(&mut m, 1, o.account.as_deref());
        set(&mut m, 55, &o.symbol);
        set(&mut m, 54, &o.side);
        set(&mut m, 38, &fmt_num(o.qty));
        set(&mut m, 40, &o.ord_type);
        if let Some(px) = o.price {
            set(&mut m, 44, &fmt_num(px));
        }
        if let Some((qty, px)) = last {
            set(&mut m, 32, &fmt_num(qty));
            set(&mut m, 31, &fmt_num(px));
        }
        set(&mut m, 151, &fmt_num(o.leaves()));
        set(&mut m, 14, &fmt_num(o.cum_qty));
        set(&mut m, 6, &fmt_num(o.avg_px));
        set(&mut m, 60, &utc_timestamp());
        set_opt(&mut m, 58, text);
        m
    }

    fn emit_sent_exec(&self, o: &Order, exec_type: &str, last: Option<(f64, f64)>) {
        if self.events_on() {
            self.out.emit(json!({
                "type": "exec_sent",
                "cl_ord_id": o.cl_ord_id,
                "orig_cl_ord_id": o.orig_cl_ord_id,
                "order_id": o.order_id,
                "exec_type": exec_type,
                "ord_status": o.status,
                "last_qty": last.map(|l| l.0),
                "last_px": last.map(|l| l.1),
                "cum_qty": o.cum_qty,
                "leaves_qty": o.leaves(),
                "avg_px": o.avg_px,
            }));
        }
    }

    fn cancel_reject(
        &self,
        cl_ord_id: &str,
        orig: &str,
        order: Option<&Order>,
        response_to: &str,
        reason: &str,
        text: &str,
    ) -> Message {
        let mut m = new_message("9");
        set(
            &mut m,
            37,
            order.map(|o| o.order_id.as_str()).unwrap_or("NONE"),
        );
        set(&mut m, 11, cl_ord_id);
        set(&mut m, 41, orig);
        set(&mut m, 39, order.map(|o| o.status).unwrap_or("8"));
        set(&mut m, 434, response_to);
        set(&mut m, 102, reason);
        set(&mut m, 58, text);
        set(&mut m, 60, &utc_timestamp());
        m
    }

    /// Executes whatever is marketable on order `key`; returns the ERs to send.
    fn try_fill(&self, book: &mut Book, key: u64, out: &mut Vec<Message>) {
        let reference = self.acceptor.price;
        let Some(o) = book.orders.get_mut(&key) else {
            return;
        };
        if !o.is_open() {
            return;
        }
        let px = match (o.ord_type.as_str(), o.price) {
            ("1", _) => reference,
            ("2", Some(limit)) => {
                let buy = o.side == "1";
                if (buy && limit >= reference) || (!buy && limit <= reference) {
                    limit
                } else {
                    return;
                }
            }
            _ => return,
        };
        let leaves = o.leaves();
        if leaves <= 0.0 {
            return;
        }
        let pieces = split_qty(leaves, self.acceptor.partial.max(1));
        for piece in pieces {
            let new_cum = o.cum_qty + piece;
            o.avg_px = if new_cum > 0.0 {
                (o.avg_px * o.cum_qty + px * piece) / new_cum
            } else {
                0.0
            };
            o.cum_qty = new_cum;
            o.status = if o.cum_qty + 1e-9 >= o.qty { "2" } else { "1" };
            let et = self.fill_exec_type(o.status);
            out.push(self.exec_report(o, et, Some((piece, px)), None));
            inc(&self.counters.fills);
            if o.status == "2" {
                inc(&self.counters.filled_orders);
            }
            self.emit_sent_exec(o, et, Some((piece, px)));
        }
    }

    fn on_new_order(&self, msg: &Message) -> Result<Vec<Message>, MsgFromAppError> {
        inc(&self.counters.orders);
        let cl = msg.get_field(11).ok_or(MsgFromAppError::FieldNotFound)?;
        let symbol = msg.get_field(55).ok_or(MsgFromAppError::FieldNotFound)?;
        let side = msg.get_field(54).ok_or(MsgFromAppError::FieldNotFound)?;
        let qty: f64 = msg
            .get_field(38)
            .ok_or(MsgFromAppError::FieldNotFound)?
            .parse()
            .map_err(|_| MsgFromAppError::IncorrectDataFormat)?;
        let ord_type = msg.get_field(40).ok_or(MsgFromAppError::FieldNotFound)?;
        let price = match msg.get_field(44) {
            Some(p) => Some(
                p.parse::<f64>()
                    .map_err(|_| MsgFromAppError::IncorrectDataFormat)?,
            ),
            None => None,
        };
        if ord_type == "2" && price.is_none() {
            return Err(MsgFromAppError::FieldNotFound);
        }
        let mut order = Order {
            order_id: self.new_id("O"),
            cl_ord_id: cl.clone(),
            orig_cl_ord_id: None,
            account: msg.get_field(1),
            symbol,
            side,
            ord_type,
            price,
            qty,
            cum_qty: 0.0,
            avg_px: 0.0,
            status: "0",
        };
        let mut out = Vec::new();
        let mut book = lock(&self.book);
        if book.find(&cl).is_some() || qty <= 0.0 {
            // duplicate ClOrdID or nonsensical quantity: reject the order
            order.status = "8";
            let text = if qty <= 0.0 {
                "order quantity must be positive"
            } else {
                "duplicate ClOrdID"
            };
            let mut er = self.exec_report(&order, "8", None, Some(text));
            set(&mut er, 103, if qty <= 0.0 { "99" } else { "6" });
            inc(&self.counters.orders_rejected);
            self.emit_sent_exec(&order, "8", None);
            out.push(er);
            return Ok(out);
        }
        let key = book.next_key;
        book.next_key += 1;
        out.push(self.exec_report(&order, "0", None, None));
        self.emit_sent_exec(&order, "0", None);
        book.alias.insert(cl, key);
        book.orders.insert(key, order);
        self.try_fill(&mut book, key, &mut out);
        Ok(out)
    }

    fn on_cancel_request(&self, msg: &Message) -> Result<Vec<Message>, MsgFromAppError> {
        inc(&self.counters.cancel_requests);
        let cl = msg.get_field(11).ok_or(MsgFromAppError::FieldNotFound)?;
        let orig = msg.get_field(41).ok_or(MsgFromAppError::FieldNotFound)?;
        let mut book = lock(&self.book);
        let key = book.find(&orig);
        let order = key.and_then(|k| book.orders.get(&k)).cloned();
        match (key, order) {
            (Some(key), Some(o)) if o.is_open() => {
                let o = book.orders.get_mut(&key).expect("order present");
                o.status = "4";
                o.orig_cl_ord_id = Some(o.cl_ord_id.clone());
                o.cl_ord_id = cl.clone();
                let er = self.exec_report(o, "4", None, None);
                inc(&self.counters.cancels);
                self.emit_sent_exec(o, "4", None);
                book.alias.insert(cl, key);
                Ok(vec![er])
            }
            (_, o) => {
                let (reason, text) = if o.is_some() {
                    ("0", "too late to cancel")
                } else {
                    ("1", "unknown order")
                };
                inc(&self.counters.cancel_rejects);
                self.emit_cancel_reject_sent(&cl, &orig, "1", reason);
                Ok(vec![self.cancel_reject(
                    &cl,
                    &orig,
                    o.as_ref(),
                    "1",
                    reason,
                    text,
                )])
            }
        }
    }

    fn on_replace_request(&self, msg: &Message) -> Result<Vec<Message>, MsgFromAppError> {
        inc(&self.counters.replace_requests);
        let cl = msg.get_field(11).ok_or(MsgFromAppError::FieldNotFound)?;
        let orig = msg.get_field(41).ok_or(MsgFromAppError::FieldNotFound)?;
        let new_qty = match msg.get_field(38) {
            Some(q) => Some(
                q.parse::<f64>()
                    .map_err(|_| MsgFromAppError::IncorrectDataFormat)?,
            ),
            None => None,
        };
        let new_px = match msg.get_field(44) {
            Some(p) => Some(
                p.parse::<f64>()
                    .map_err(|_| MsgFromAppError::IncorrectDataFormat)?,
            ),
            None => None,
        };
        let mut book = lock(&self.book);
        let key = book.find(&orig);
        let order = key.and_then(|k| book.orders.get(&k)).cloned();
        let reject = |o: Option<&Order>, reason: &str, text: &str| {
            inc(&self.counters.cancel_rejects);
            self.emit_cancel_reject_sent(&cl, &orig, "2", reason);
            Ok(vec![self.cancel_reject(&cl, &orig, o, "2", reason, text)])
        };
        match (key, order) {
            (Some(key), Some(o)) if o.is_open() => {
                if new_qty.is_some_and(|q| q < o.cum_qty || q <= 0.0) {
                    return reject(Some(&o), "99", "new quantity below executed quantity");
                }
                let o = book.orders.get_mut(&key).expect("order present");
                if let Some(q) = new_qty {
                    o.qty = q;
                }
                if let Some(p) = new_px {
                    o.price = Some(p);
                }
                if let Some(t) = msg.get_field(40) {
                    o.ord_type = t;
                }
                o.orig_cl_ord_id = Some(o.cl_ord_id.clone());
                o.cl_ord_id = cl.clone();
                o.status = if o.cum_qty + 1e-9 >= o.qty {
                    "2"
                } else if o.cum_qty > 0.0 {
                    "1"
                } else {
                    "0"
                };
                let mut out = vec![self.exec_report(o, "5", None, None)];
                inc(&self.counters.replaces);
                self.emit_sent_exec(o, "5", None);
                book.alias.insert(cl.clone(), key);
                self.try_fill(&mut book, key, &mut out);
                Ok(out)
            }
            (_, Some(o)) => reject(Some(&o), "0", "too late to replace"),
            (_, None) => reject(None, "1", "unknown order"),
        }
    }

    fn on_status_request(&self, msg: &Message) -> Result<Vec<Message>, MsgFromAppError> {
        inc(&self.counters.status_requests);
        let cl = msg.get_field(11).ok_or(MsgFromAppError::FieldNotFound)?;
        let book = lock(&self.book);
        let mut er = match book.find(&cl).and_then(|k| book.orders.get(&k)) {
            Some(o) => {
                let mut shown = o.clone();
                shown.cl_ord_id = cl.clone();
                self.emit_sent_exec(&shown, "I", None);
                self.exec_report(&shown, "I", None, None)
            }
            None => {
                let unknown = Order {
                    order_id: "NONE".into(),
                    cl_ord_id: cl.clone(),
                    orig_cl_ord_id: None,
                    account: msg.get_field(1),
                    symbol: msg.get_field(55).unwrap_or_default(),
                    side: msg.get_field(54).unwrap_or_default(),
                    ord_type: "1".into(),
                    price: None,
                    qty: 0.0,
                    cum_qty: 0.0,
                    avg_px: 0.0,
                    status: "8",
                };
                self.emit_sent_exec(&unknown, "I", None);
                let mut er = self.exec_report(&unknown, "I", None, Some("unknown order"));
                set(&mut er, 103, "5");
                er
            }
        };
        if let Some(req) = msg.get_field(790) {
            set(&mut er, 790, &req);
        }
        Ok(vec![er])
    }

    fn emit_cancel_reject_sent(&self, cl: &str, orig: &str, response_to: &str, reason: &str) {
        if self.events_on() {
            self.out.emit(json!({
                "type": "cancel_reject_sent",
                "cl_ord_id": cl,
                "orig_cl_ord_id": orig,
                "response_to": response_to,
                "reason": reason,
            }));
        }
    }

    fn acceptor_from_app(&self, msg: &Message, session: &SessionId) -> Result<(), MsgFromAppError> {
        let mt = msg_type(msg);
        if self.events_on() {
            self.out.emit(json!({
                "type": "request",
                "msg_type": mt,
                "cl_ord_id": json_str(msg.get_field(11)),
                "orig_cl_ord_id": json_str(msg.get_field(41)),
                "symbol": json_str(msg.get_field(55)),
                "side": json_str(msg.get_field(54)),
                "qty": json_num(msg.get_field(38)),
                "price": json_num(msg.get_field(44)),
                "poss_dup": is_poss_dup(msg),
            }));
        }
        if is_poss_dup(msg) && matches!(mt.as_str(), "D" | "F" | "G") {
            // a resent request whose ClOrdID we already know was handled the first time
            let known = msg
                .get_field(11)
                .is_some_and(|cl| lock(&self.book).find(&cl).is_some());
            if known {
                inc(&self.counters.duplicates_ignored);
                return Ok(());
            }
        }
        let replies = match mt.as_str() {
            "D" => self.on_new_order(msg)?,
            "F" => self.on_cancel_request(msg)?,
            "G" => self.on_replace_request(msg)?,
            "H" => self.on_status_request(msg)?,
            _ => return Err(MsgFromAppError::UnsupportedMessageType),
        };
        for er in replies {
            inc(&self.counters.exec_reports);
            self.send(er, session);
        }
        Ok(())
    }

    // ------------------------------------------------------------------
    // Initiator: reports coming back
    // ------------------------------------------------------------------

    fn initiator_exec_report(&self, msg: &Message, session: &SessionId) {
        let cl = msg.get_field(11).unwrap_or_default();
        // A PossDup resend of a report already seen (same ExecID) changes nothing.
        let exec_id = msg.get_field(17).unwrap_or_default();
        let fresh = lock(&self.tracked).exec_ids.insert(exec_id);
        if !fresh && is_poss_dup(msg) {
            inc(&self.counters.duplicates_ignored);
            if self.events_on() {
                self.out.emit(json!({
                    "type": "duplicate",
                    "msg_type": "8",
                    "cl_ord_id": cl,
                    "exec_id": json_str(msg.get_field(17)),
                }));
            }
            return;
        }
        inc(&self.counters.exec_reports);
        let exec_type = msg.get_field(150).unwrap_or_default();
        let status = msg.get_field(39).unwrap_or_default();
        let exec_trans_type = msg.get_field(20);
        let is_status_report = exec_type == "I" || exec_trans_type.as_deref() == Some("3");
        if !is_status_report {
            match exec_type.as_str() {
                "F" | "1" | "2" => {
                    inc(&self.counters.fills);
                    if status == "2" {
                        inc(&self.counters.filled_orders);
                    }
                }
                "4" => inc(&self.counters.cancels),
                "5" => inc(&self.counters.replaces),
                "8" => inc(&self.counters.orders_rejected),
                _ => {}
            }
        }
        if !is_status_report || status != "8" {
            let mut t = lock(&self.tracked);
            if let Some(orig) = msg.get_field(41) {
                if exec_type == "4" || exec_type == "5" {
                    t.open.remove(&orig);
                }
            }
            if matches!(status.as_str(), "0" | "1" | "A" | "E" | "5" | "6") {
                t.open.insert(cl.clone());
            } else {
                t.open.remove(&cl);
            }
            t.last_status.insert(cl.clone(), status.clone());
        }
        // bench bookkeeping; possibly send the next order from right here
        if self.quiet.load(Ordering::Relaxed) {
            self.bench_on_report(&cl, &status, session);
            return;
        }
        if self.events_on() {
            self.out.emit(json!({
                "type": "exec",
                "cl_ord_id": cl,
                "orig_cl_ord_id": json_str(msg.get_field(41)),
                "order_id": json_str(msg.get_field(37)),
                "exec_id": json_str(msg.get_field(17)),
                "exec_type": exec_type,
                "ord_status": status,
                "symbol": json_str(msg.get_field(55)),
                "side": json_str(msg.get_field(54)),
                "order_qty": json_num(msg.get_field(38)),
                "price": json_num(msg.get_field(44)),
                "last_qty": json_num(msg.get_field(32)),
                "last_px": json_num(msg.get_field(31)),
                "cum_qty": json_num(msg.get_field(14)),
                "leaves_qty": json_num(msg.get_field(151)),
                "avg_px": json_num(msg.get_field(6)),
                "text": json_str(msg.get_field(58)),
                "poss_dup": is_poss_dup(msg),
            }));
        }
    }

    fn bench_on_report(&self, cl: &str, status: &str, session: &SessionId) {
        let completed = matches!(status, "2" | "8" | "4" | "C");
        if !completed {
            return;
        }
        let now = Instant::now();
        let next = {
            let mut guard = lock(&self.bench);
            let Some(b) = guard.as_mut() else { return };
            let Some(t0) = b.pending.remove(cl) else {
                return;
            };
            b.done += 1;
            if status == "2" {
                b.filled += 1;
                let ns = now.duration_since(t0).as_nanos() as u64;
                let _ = b.hist.record(ns.max(1));
            }
            if b.done == b.total {
                let _ = b.done_tx.send(());
            }
            if b.started < b.total {
                b.started += 1;
                Some((format!("{}-{}", b.prefix, b.started), b.symbol.clone()))
            } else {
                None
            }
        };
        if let Some((cl, symbol)) = next {
            self.bench_send(&cl, &symbol, session);
        }
    }

    /// Sends one bench order, stamping its start time just before the send.
    pub fn bench_send(&self, cl: &str, symbol: &str, session: &SessionId) {
        let msg = self.new_order_single(cl, symbol, "1", "1", None);
        if let Some(b) = lock(&self.bench).as_mut() {
            b.pending.insert(cl.to_string(), Instant::now());
        }
        inc(&self.counters.orders);
        self.send(msg, session);
    }

    pub fn track_sent_order(&self, cl: &str) {
        inc(&self.counters.orders);
        lock(&self.tracked)
            .last_status
            .insert(cl.to_string(), "sent".into());
    }

    fn initiator_from_app(
        &self,
        msg: &Message,
        session: &SessionId,
    ) -> Result<(), MsgFromAppError> {
        match msg_type(msg).as_str() {
            "8" => self.initiator_exec_report(msg, session),
            "9" => {
                inc(&self.counters.cancel_rejects);
                if self.events_on() {
                    self.out.emit(json!({
                        "type": "cancel_reject",
                        "cl_ord_id": json_str(msg.get_field(11)),
                        "orig_cl_ord_id": json_str(msg.get_field(41)),
                        "order_id": json_str(msg.get_field(37)),
                        "ord_status": json_str(msg.get_field(39)),
                        "response_to": json_str(msg.get_field(434)),
                        "reason": json_str(msg.get_field(102)),
                        "text": json_str(msg.get_field(58)),
                    }));
                }
            }
            _ => return Err(MsgFromAppError::UnsupportedMessageType),
        }
        Ok(())
    }
}

/// Splits `qty` in `n` pieces, integral when `qty` is; the last piece takes the rest.
fn split_qty(qty: f64, n: u32) -> Vec<f64> {
    if n <= 1 {
        return vec![qty];
    }
    let integral = qty.fract() == 0.0;
    let n = if integral {
        (n as f64).min(qty).max(1.0) as u32
    } else {
        n
    };
    let base = if integral {
        (qty / n as f64).floor()
    } else {
        qty / n as f64
    };
    let mut pieces = vec![base; n as usize - 1];
    pieces.push(qty - base * (n as f64 - 1.0));
    pieces
}

impl ApplicationCallback for Peer {
    fn on_create(&self, session: &SessionId) {
        let _ = session;
    }

    fn on_logon(&self, _session: &SessionId) {
        inc(&self.counters.logons);
        self.out.emit(json!({"type":"logon"}));
    }

    fn on_logout(&self, _session: &SessionId) {
        inc(&self.counters.logouts);
        self.out.emit(json!({"type":"logout"}));
    }

    fn on_msg_to_admin(&self, msg: &mut Message, _session: &SessionId) {
        inc(&self.counters.admin_messages_sent);
        match msg_type(msg).as_str() {
            "1" => inc(&self.counters.test_requests_sent),
            "2" => {
                inc(&self.counters.resend_requests_sent);
                self.out.emit(json!({
                    "type": "resend_request",
                    "dir": "out",
                    "begin_seq": json_num(msg.get_field(7)),
                    "end_seq": json_num(msg.get_field(16)),
                }));
            }
            "3" => {
                inc(&self.counters.rejects_sent);
                self.out.emit(json!({
                    "type": "reject_sent",
                    "ref_seq": json_num(msg.get_field(45)),
                    "reason": json_num(msg.get_field(373)),
                    "text": json_str(msg.get_field(58)),
                }));
            }
            "4" => {
                inc(&self.counters.sequence_resets_sent);
                let gap_fill = msg.get_field(123).as_deref() == Some("Y");
                if gap_fill {
                    inc(&self.counters.gap_fills_sent);
                }
                self.out.emit(json!({
                    "type": "sequence_reset",
                    "dir": "out",
                    "gap_fill": gap_fill,
                    "seq": json_num(header_field(msg, 34)),
                    "new_seq": json_num(msg.get_field(36)),
                }));
            }
            "5" => {
                inc(&self.counters.logouts_sent);
                self.out.emit(json!({
                    "type": "logout_msg",
                    "dir": "out",
                    "text": json_str(msg.get_field(58)),
                }));
            }
            _ => {}
        }
    }

    fn on_msg_to_app(&self, msg: &mut Message, _session: &SessionId) -> Result<(), MsgToAppError> {
        inc(&self.counters.app_messages_sent);
        if is_poss_dup(msg) {
            inc(&self.counters.app_messages_resent);
        }
        Ok(())
    }

    fn on_msg_from_admin(
        &self,
        msg: &Message,
        _session: &SessionId,
    ) -> Result<(), MsgFromAdminError> {
        inc(&self.counters.admin_messages_received);
        match msg_type(msg).as_str() {
            "0" => inc(&self.counters.heartbeats_received),
            "1" => inc(&self.counters.test_requests_received),
            "2" => {
                inc(&self.counters.resend_requests_received);
                self.out.emit(json!({
                    "type": "resend_request",
                    "dir": "in",
                    "begin_seq": json_num(msg.get_field(7)),
                    "end_seq": json_num(msg.get_field(16)),
                }));
            }
            "3" => {
                inc(&self.counters.rejects_received);
                self.out.emit(json!({
                    "type": "reject",
                    "ref_seq": json_num(msg.get_field(45)),
                    "reason": json_num(msg.get_field(373)),
                    "ref_tag": json_num(msg.get_field(371)),
                    "ref_msg_type": json_str(msg.get_field(372)),
                    "text": json_str(msg.get_field(58)),
                }));
            }
            "4" => {
                inc(&self.counters.sequence_resets_received);
                let gap_fill = msg.get_field(123).as_deref() == Some("Y");
                if gap_fill {
                    inc(&self.counters.gap_fills_received);
                }
                self.out.emit(json!({
                    "type": "sequence_reset",
                    "dir": "in",
                    "gap_fill": gap_fill,
                    "seq": json_num(header_field(msg, 34)),
                    "new_seq": json_num(msg.get_field(36)),
                }));
            }
            "5" => {
                inc(&self.counters.logouts_received);
                self.out.emit(json!({
                    "type": "logout_msg",
                    "dir": "in",
                    "text": json_str(msg.get_field(58)),
                }));
            }
            _ => {}
        }
        Ok(())
    }

    fn on_msg_from_app(&self, msg: &Message, session: &SessionId) -> Result<(), MsgFromAppError> {
        inc(&self.counters.app_messages_received);
        if is_poss_dup(msg) {
            inc(&self.counters.poss_dup_received);
        }
        if msg_type(msg) == "j" {
            inc(&self.counters.business_rejects_received);
            self.out.emit(json!({
                "type": "business_reject",
                "ref_seq": json_num(msg.get_field(45)),
                "ref_msg_type": json_str(msg.get_field(372)),
                "ref_id": json_str(msg.get_field(379)),
                "reason": json_num(msg.get_field(380)),
                "text": json_str(msg.get_field(58)),
            }));
            return Ok(());
        }
        match self.role {
            Role::Acceptor => self.acceptor_from_app(msg, session),
            Role::Initiator => self.initiator_from_app(msg, session),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split_qty;

    #[test]
    fn splits() {
        assert_eq!(split_qty(10.0, 1), vec![10.0]);
        assert_eq!(split_qty(10.0, 3), vec![3.0, 3.0, 4.0]);
        assert_eq!(split_qty(2.0, 5), vec![1.0, 1.0]);
        let p = split_qty(1.5, 3);
        assert_eq!(p.len(), 3);
        assert!((p.iter().sum::<f64>() - 1.5).abs() < 1e-12);
    }
}
