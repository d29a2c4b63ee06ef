//! Stop-loss / take-profit after fills (R-OMS-5): levels from the actual average fill
//! price, placed as a reduce-only one-cancels-other pair on the opposite side, tracked
//! per position so stale legs are canceled when the position closes; and moving them
//! on request (R-OMS-7).

use super::orders::tick_price;
use super::{rejected_cmd, Engine, Outbox};
use crate::model::event::{CoreEvent, OrderRef};
use crate::model::fixed::{Dec, Money, Price, Qty};
use crate::model::ids::{AccountId, InstrumentId, OrderId, OrderType, RequestId, Tif};
use crate::model::order_state::OrderState;
use crate::model::reason::Reason;
use crate::model::request::Level;
use crate::model::slippage::slippage;
use crate::oms::{Order, Terms};
use crate::venue::{Venue, VenueOrder};

impl Engine {
    /// Places stop-loss / take-profit for filled quantity not yet protected.
    pub(super) fn protect(&mut self, id: OrderId, out: &mut impl Outbox) {
        let Some(o) = self.book.get_mut(id) else {
            return;
        };
        let t = *o.terms();
        let unprotected = Qty(o.cum_qty().0 - o.protected_qty().0);
        if o.is_protective()
            || unprotected.0 <= 0
            || (t.stop_loss.is_none() && t.take_profit.is_none())
        {
            return;
        }
        let inst = self.reg.instruments[t.instrument.0 as usize].clone();
        let fill = o.avg_px();
        if t.reject_on_fill_slippage {
            if let Some(max) = t.max_slippage_bps {
                let s = slippage(t.side, t.reference, fill, inst.pip);
                if t.reference.0 > 0 && s.bps_e2 > max as i64 * 100 {
                    self.stats.slippage_breaches += 1;
                    o.mark_protected();
                    return out.emit(
                        t.origin,
                        CoreEvent::SlippageBreach {
                            order: id,
                            bps_e2: s.bps_e2,
                        },
                    );
                }
            }
        }
        o.mark_protected();
        let level = |l: Level| -> Price {
            match l {
                Level::Abs(px) => px,
                // SL = fill × (1 + offset), on the tick grid.
                Level::OffsetPpm(ppm) => {
                    inst.round_ratio_to_tick(fill.0 as i128 * (1_000_000 + ppm as i128), 1_000_000)
                }
            }
        };
        let mut legs = [None, None];
        for (k, l) in [t.stop_loss, t.take_profit].into_iter().enumerate() {
            if let Some(l) = l {
                let Some(leg) = self.alloc_id() else {
                    return out.emit(t.origin, rejected_cmd(Some(id), Reason::StoreFull));
                };
                legs[k] = Some((leg, level(l)));
            }
        }
        self.place_protective(id, &t, legs, unprotected, out);
    }

    /// Sends the stop-loss and take-profit `legs` (id and level) of `parent` for `qty`,
    /// linked to each other and to the position's list.
    fn place_protective(
        &mut self,
        parent: OrderId,
        p: &Terms,
        legs: [Option<(OrderId, Price)>; 2],
        qty: Qty,
        out: &mut impl Outbox,
    ) {
        let v = p.venue.0 as usize;
        let native_oco = legs.iter().all(Option::is_some) && self.venue_links_oco(v);
        let mut staged: [Option<VenueOrder>; 2] = [None, None];
        for (k, leg) in legs.iter().enumerate() {
            let Some((id, px)) = *leg else { continue };
            let stop_loss = k == 0;
            let terms = Terms {
                request_id: RequestId::EMPTY,
                origin: p.origin,
                account: p.account,
                venue: p.venue,
                instrument: p.instrument,
                side: p.side.opposite(),
                order_type: if stop_loss {
                    OrderType::Stop
                } else {
                    OrderType::Limit
                },
                tif: Tif::Gtc,
                qty,
                limit: if stop_loss { Price(0) } else { px },
                stop: if stop_loss { px } else { Price(0) },
                reference: px,
                parent: Some(parent),
                oco: legs[1 - k].map(|(o, _)| o),
                received_at: self.now,
                expire_at_ns: None,
                ..Terms::BLANK
            };
            let mut order = Order::new(id, self.epoch, terms, Money(0));
            order.link_next_protective(self.ledger.position(p.account, p.instrument).protective);
            self.stats.protective_orders += 1;
            if native_oco {
                staged[k] = self.stage_new(order, out);
            } else {
                self.send_new(order, false, out, &mut ());
            }
            if self.book.get(id).is_some() {
                self.ledger.position_mut(p.account, p.instrument).protective = Some(id);
            }
        }
        match staged {
            [Some(sl), Some(tp)] => {
                let sent = self.venues[v].submit_oco(self.now, [&sl, &tp]);
                for (leg, sent) in [sl, tp].iter().zip(sent) {
                    self.after_submit(leg.cl.order, false, sent, out);
                }
            }
            // One leg found no room in the book: the other goes out alone.
            [Some(one), None] | [None, Some(one)] => {
                let sent = self.venues[v].submit(self.now, &one);
                self.after_submit(one.cl.order, false, sent, out);
            }
            [None, None] => {}
        }
        out.emit(
            p.origin,
            CoreEvent::Protection {
                parent,
                stop_loss: legs[0],
                take_profit: legs[1],
                qty,
            },
        );
    }

    /// Whether venue `v` links a protective pair itself (a FIX venue with OcoOrderList):
    /// then the core does not cancel the other leg on a fill, the venue does. Read from
    /// the configuration, which the journal holds, so a replay decides alike.
    pub(super) fn venue_links_oco(&self, v: usize) -> bool {
        self.reg.venues[v]
            .fix
            .as_ref()
            .is_some_and(|f| f.oco_order_list)
    }

    /// A protective leg's fill (`qty`) left the position on the leg's own side: the leg
    /// sold (bought) more than the position held — both legs of a pair executed in the
    /// same instant at a venue that does not link or limit them, or the position was
    /// closed another way first. The excess is sent back at once as a reduce-only
    /// market order and reported (R-OMS-5).
    pub(super) fn flatten_overfill(
        &mut self,
        leg: OrderId,
        qty: Qty,
        net_after: i64,
        out: &mut impl Outbox,
    ) {
        let Some(o) = self.book.get(leg) else { return };
        let t = *o.terms();
        if t.parent.is_none()
            || t.order_type == OrderType::Market
            || net_after.signum() != t.side.sign()
        {
            return;
        }
        let excess = Qty(net_after.unsigned_abs().min(qty.0.unsigned_abs()) as i64);
        self.stats.anomalies += 1;
        let flatten = self.alloc_id();
        if let Some(id) = flatten {
            let terms = Terms {
                request_id: RequestId::EMPTY,
                origin: t.origin,
                account: t.account,
                venue: t.venue,
                instrument: t.instrument,
                side: t.side.opposite(),
                order_type: OrderType::Market,
                tif: Tif::Ioc,
                qty: excess,
                parent: Some(leg),
                received_at: self.now,
                ..Terms::BLANK
            };
            let order = Order::new(id, self.epoch, terms, Money(0));
            self.stats.protective_orders += 1;
            self.send_new(order, false, out, &mut ());
        }
        out.emit(
            t.origin,
            CoreEvent::ProtectionOverfill {
                leg,
                flatten,
                qty: excess,
            },
        );
    }

    /// The venue refused a protective leg: the position is not protected as asked.
    pub(super) fn report_unprotected(
        &mut self,
        leg: OrderId,
        reason: Reason,
        out: &mut impl Outbox,
    ) {
        let Some(o) = self.book.get(leg) else { return };
        let t = o.terms();
        let Some(parent) = t.parent else { return };
        if t.order_type == OrderType::Market {
            return;
        }
        let origin = t.origin;
        self.stats.anomalies += 1;
        out.emit(
            origin,
            CoreEvent::Unprotected {
                parent,
                leg,
                reason,
            },
        );
    }

    /// The position went flat or flipped: cancel protective orders that can no longer
    /// reduce it (they would only be refused when triggered, or worse, add to it), and
    /// drop finished ones from the list.
    pub(super) fn trim_protection(&mut self, a: AccountId, i: InstrumentId, out: &mut impl Outbox) {
        let net = self.ledger.position(a, i).net.0;
        let mut cur = self.ledger.position_mut(a, i).protective.take();
        let mut kept_tail: Option<OrderId> = None;
        while let Some(id) = cur {
            let Some(o) = self.book.get(id) else { break };
            cur = o.next_protective();
            let (state, side, origin) = (o.state(), o.terms().side, o.terms().origin);
            if state.is_terminal() || state == OrderState::PendingCancel {
                continue;
            }
            if net == 0 || side.sign() == net.signum() {
                self.cancel(id, origin, out);
                continue;
            }
            // Keep it: relink behind the last kept one.
            match kept_tail {
                None => self.ledger.position_mut(a, i).protective = Some(id),
                Some(t) => {
                    if let Some(t) = self.book.get_mut(t) {
                        t.link_next_protective(Some(id));
                    }
                }
            }
            kept_tail = Some(id);
        }
        if let Some(t) = kept_tail.and_then(|t| self.book.get_mut(t)) {
            t.link_next_protective(None);
        }
    }

    /// Moves the stop-loss / take-profit of a parent's working protective orders.
    pub(super) fn modify_protection(
        &mut self,
        origin: u8,
        r: &OrderRef,
        sl: Option<Dec>,
        tp: Option<Dec>,
        out: &mut impl Outbox,
    ) {
        let Some(parent) = self.find(r) else {
            return out.emit(origin, rejected_cmd(None, Reason::UnknownOrder));
        };
        let mut legs = Vec::new();
        for o in self.book.working() {
            let t = o.terms();
            if t.parent == Some(parent) && o.state().is_working() {
                legs.push((o.id(), t.order_type, t.qty, t.instrument));
            }
        }
        if legs.is_empty() {
            return out.emit(origin, rejected_cmd(Some(parent), Reason::NotWorking));
        }
        for (id, order_type, qty, inst) in legs {
            let want = if order_type == OrderType::Stop {
                sl
            } else {
                tp
            };
            let Some(d) = want else { continue };
            match tick_price(&self.reg.instruments[inst.0 as usize], d) {
                Some(p) => self.send_replace(id, qty, p, origin, out),
                None => out.emit(origin, rejected_cmd(Some(id), Reason::PriceOffTick)),
            }
        }
    }
}
