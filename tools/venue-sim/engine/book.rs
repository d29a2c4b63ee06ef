//! The broker's books across its own restarts (`--store DIR`, `DIR/book.json`): every
//! order it still keeps (open ones, and closed ones within `--keep-closed`, which status
//! requests may ask about) and every position, by the client's CompID — session numbers
//! are given out anew at each start, so what a client held is handed back when it logs on
//! again. Written at a clean stop; a broker killed outright loses them, as it would its
//! pending answers.

use super::{Id, Order, Sim};
use rustc_hash::FxHashMap;
use serde_json::{json, Value};

/// What the books held for one client that has not logged on since the restart.
#[derive(Default)]
pub(super) struct Kept {
    positions: Vec<(Id, Id, i64)>,
    /// Each order with the order id of its one-cancels-other partner.
    orders: Vec<(Order, Option<u64>)>,
}

fn id(v: &Value) -> Id {
    Id::new(v.as_str().unwrap_or("").as_bytes())
}

/// One order as the file holds it; `oco`: its partner's order id.
fn order_json(peer: &str, o: &Order, oco: Option<u64>) -> Value {
    json!({
        "peer": peer, "order_id": o.order_id, "cl_ord_id": text(&o.cl_ord_id),
        "orig_cl_ord_id": text(&o.orig_cl_ord_id), "account": text(&o.account),
        "symbol": text(&o.symbol), "side": o.side, "ord_type": o.ord_type, "qty": o.qty,
        "price": o.price, "stop": o.stop, "reduce_only": o.reduce_only, "oco": oco,
        "unit": o.unit, "cum": o.cum, "notional": o.notional.to_string(),
        "status": o.status,
    })
}

fn text(i: &Id) -> String {
    String::from_utf8_lossy(i.as_bytes()).into_owned()
}

impl Sim {
    /// The books as JSON; `peer_of` names each session's client.
    pub fn book_json(&self, peer_of: impl Fn(u32) -> Option<String>) -> Value {
        let mut positions = Vec::new();
        for ((sess, a, y), q) in &self.positions {
            if let (Some(p), true) = (peer_of(*sess), *q != 0) {
                positions.push(json!({"peer": p, "account": text(a), "symbol": text(y), "qty": q}));
            }
        }
        let mut orders = Vec::new();
        let kept: Vec<u32> = self
            .orders
            .iter()
            .enumerate()
            .filter(|(i, o)| o.open() || self.closed.contains(&(*i as u32)))
            .map(|(i, _)| i as u32)
            .collect();
        for i in kept {
            let o = &self.orders[i as usize];
            let Some(peer) = peer_of(o.sess) else {
                continue;
            };
            let oco = o
                .oco
                .and_then(|(slot, _)| self.orders.get(slot as usize))
                .map(|p| p.order_id);
            orders.push(order_json(&peer, o, oco));
        }
        // Clients that have not logged on since the last start keep what they had.
        for (peer, k) in &self.kept {
            for (a, y, q) in &k.positions {
                positions
                    .push(json!({"peer": peer, "account": text(a), "symbol": text(y), "qty": q}));
            }
            for (o, oco) in &k.orders {
                orders.push(order_json(peer, o, *oco));
            }
        }
        json!({
            "next_order_id": self.next_order_id,
            "next_exec_id": self.next_exec_id,
            "next_rpt_id": self.next_rpt_id,
            "positions": positions,
            "orders": orders,
        })
    }

    /// Takes the books a previous run wrote; each client's part waits for its logon.
    pub fn load_book(&mut self, v: &Value) -> Result<(), String> {
        let num = |x: &Value, k: &str| x[k].as_i64().ok_or(format!("book.json: {k} missing"));
        self.next_order_id = self
            .next_order_id
            .max(v["next_order_id"].as_u64().unwrap_or(1));
        self.next_exec_id = self
            .next_exec_id
            .max(v["next_exec_id"].as_u64().unwrap_or(1));
        self.next_rpt_id = self.next_rpt_id.max(v["next_rpt_id"].as_u64().unwrap_or(1));
        let mut kept: FxHashMap<String, Kept> = FxHashMap::default();
        for p in v["positions"].as_array().into_iter().flatten() {
            let peer = p["peer"].as_str().unwrap_or("").to_string();
            kept.entry(peer).or_default().positions.push((
                id(&p["account"]),
                id(&p["symbol"]),
                num(p, "qty")?,
            ));
        }
        for o in v["orders"].as_array().into_iter().flatten() {
            let peer = o["peer"].as_str().unwrap_or("").to_string();
            let small = |k: &str| o[k].as_u64().unwrap_or(0) as u8;
            let order = Order {
                sess: 0,
                order_id: o["order_id"].as_u64().unwrap_or(0),
                cl_ord_id: id(&o["cl_ord_id"]),
                orig_cl_ord_id: id(&o["orig_cl_ord_id"]),
                account: id(&o["account"]),
                symbol: id(&o["symbol"]),
                side: small("side"),
                ord_type: small("ord_type"),
                qty: num(o, "qty")?,
                price: num(o, "price")?,
                stop: num(o, "stop")?,
                reduce_only: o["reduce_only"].as_bool().unwrap_or(false),
                oco: None,
                unit: num(o, "unit")?,
                cum: num(o, "cum")?,
                notional: o["notional"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .ok_or("book.json: notional missing")?,
                status: small("status"),
                gen: 0,
                pieces_left: 0,
                piece: 0,
                epoch: 0,
            };
            kept.entry(peer)
                .or_default()
                .orders
                .push((order, o["oco"].as_u64()));
        }
        self.kept = kept;
        Ok(())
    }

    /// Client `peer` logged on as session `sess`: what the books held for it is its own
    /// again — positions, orders (resting ones rest again), status requests answered.
    pub fn adopt(&mut self, peer: &str, sess: u32) {
        let Some(k) = self.kept.remove(peer) else {
            return;
        };
        for (a, y, q) in k.positions {
            *self.positions.entry((sess, a, y)).or_insert(0) += q;
        }
        let mut slots: Vec<(u32, Option<u64>)> = Vec::new();
        let mut by_order: FxHashMap<u64, u32> = FxHashMap::default();
        for (mut o, oco) in k.orders {
            o.sess = sess;
            let open = o.open();
            let idx = self.alloc(o);
            let o = self.orders[idx as usize];
            if !o.orig_cl_ord_id.is_empty() {
                self.by_cl.insert((sess, o.orig_cl_ord_id), (idx, o.epoch));
            }
            if open {
                self.counters.open_orders += 1;
                let o = self.orders[idx as usize];
                if matches!(o.ord_type, b'2' | b'3' | b'4') && !self.resting.contains(&idx) {
                    self.resting.push(idx);
                }
            } else {
                self.closed.push_back(idx);
            }
            by_order.insert(self.orders[idx as usize].order_id, idx);
            slots.push((idx, oco));
        }
        for (idx, oco) in slots {
            if let Some(p) = oco.and_then(|id| by_order.get(&id)) {
                let epoch = self.orders[*p as usize].epoch;
                self.orders[idx as usize].oco = Some((*p, epoch));
            }
        }
    }
}
