//! Operator and market-data commands: kill switches and emergency stops (R-GATE-2),
//! account modes (R-GATE-1), trading halts (R-GATE-3), and quotes from upstream
//! (R-VEN-6).

use super::{rejected_cmd, Engine, Outbox};
use crate::gate::Gate;
use crate::model::control::{KillState, Mode};
use crate::model::event::{CoreEvent, LimitChange, Scope};
use crate::model::fixed::{clamp_i64, rescale, Dec, Money, Price, Qty, MONEY_SCALE};
use crate::model::ids::Name;
use crate::model::quote::Quote;
use crate::model::reason::Reason;

impl Engine {
    pub(super) fn set_kill_switch(
        &mut self,
        origin: u8,
        scope: &Scope,
        state: KillState,
        cancel_open: bool,
        out: &mut impl Outbox,
    ) {
        let k = &mut self.gate.kill;
        match scope {
            Scope::Global => k.global = state,
            Scope::Venue(v) => match self.reg.venue(v) {
                Some(v) => k.venue[v.0 as usize] = state,
                None => return out.emit(origin, rejected_cmd(None, Reason::UnknownVenue)),
            },
            Scope::Account(a) => match self.reg.account(a) {
                Some(a) => k.account[a.0 as usize] = state,
                None => return out.emit(origin, rejected_cmd(None, Reason::UnknownAccount)),
            },
            Scope::Symbol(s) => {
                let mut any = false;
                for i in self.reg.instruments.iter().filter(|i| i.symbol == *s) {
                    k.instrument[i.id.0 as usize] = state;
                    any = true;
                }
                if !any {
                    return out.emit(origin, rejected_cmd(None, Reason::UnknownInstrument));
                }
            }
        }
        // An emergency stop cancels open orders; it never closes a filled position.
        let canceled = if state == KillState::Active && cancel_open {
            self.cancel_scope(scope, origin, out)
        } else {
            0
        };
        out.broadcast(CoreEvent::KillSwitch {
            scope: *scope,
            state,
            canceled,
        });
    }

    pub(super) fn set_mode(
        &mut self,
        origin: u8,
        account: &Name,
        mode: Mode,
        out: &mut impl Outbox,
    ) {
        let changed = CoreEvent::ModeChanged {
            account: *account,
            mode,
        };
        self.set_for_account(origin, account, changed, out, |g, a| g.modes[a] = mode);
    }

    pub(super) fn set_halted(
        &mut self,
        origin: u8,
        account: &Name,
        halted: bool,
        out: &mut impl Outbox,
    ) {
        let changed = CoreEvent::HaltChanged {
            account: *account,
            halted,
        };
        self.set_for_account(origin, account, changed, out, |g, a| g.halted[a] = halted);
    }

    /// Changes one account's setting in the gate and tells every producer.
    fn set_for_account(
        &mut self,
        origin: u8,
        account: &Name,
        changed: CoreEvent,
        out: &mut impl Outbox,
        set: impl FnOnce(&mut Gate, usize),
    ) {
        match self.reg.account(account) {
            Some(a) => {
                set(&mut self.gate, a.0 as usize);
                out.broadcast(changed);
            }
            None => out.emit(origin, rejected_cmd(None, Reason::UnknownAccount)),
        }
    }

    /// New risk limits for an instrument (R-GATE-7): each given value positive and
    /// exact at the instrument's scale (a quantity also on its lot), or the whole change
    /// is refused; then every producer hears the limits now in force.
    pub(super) fn set_limits(&mut self, origin: u8, c: &LimitChange, out: &mut impl Outbox) {
        let Some(v) = self.reg.venue(&c.venue) else {
            return out.emit(origin, rejected_cmd(None, Reason::UnknownVenue));
        };
        let Some(i) = self.reg.instrument(v, &c.symbol) else {
            return out.emit(origin, rejected_cmd(None, Reason::UnknownInstrument));
        };
        let inst = &self.reg.instruments[i.0 as usize];
        let qty = |d: Option<Dec>| -> Result<Option<Qty>, Reason> {
            match d {
                None => Ok(None),
                Some(d) => match d.to_scale(inst.qty_scale) {
                    Some(q) if q > 0 && q % inst.lot.0 == 0 => Ok(Some(Qty(q))),
                    _ => Err(Reason::BadQuantity),
                },
            }
        };
        let money = match c.max_notional.map(|d| d.to_scale(MONEY_SCALE)) {
            None => Ok(None),
            Some(Some(m)) if m > 0 => Ok(Some(Money(m))),
            Some(_) => Err(Reason::BadQuantity),
        };
        let (order_qty, position, notional) =
            match (qty(c.max_order_qty), qty(c.max_position), money) {
                (Ok(a), Ok(b), Ok(n)) => (a, b, n),
                _ => return out.emit(origin, rejected_cmd(None, Reason::BadQuantity)),
            };
        let l = &mut self.gate.limits[i.0 as usize];
        if let Some(q) = order_qty {
            l.max_order_qty = q;
        }
        if let Some(p) = position {
            l.max_position = p;
        }
        if let Some(n) = notional {
            l.max_notional = n;
        }
        out.broadcast(CoreEvent::LimitsChanged(*l));
    }

    /// A top of book from upstream: bid, ask and their sizes, rounded to the
    /// instrument's scales and stamped with engine time.
    pub(super) fn quote(
        &mut self,
        origin: u8,
        venue: &Name,
        symbol: &Name,
        [bid, ask, bid_size, ask_size]: [Dec; 4],
        out: &mut impl Outbox,
    ) {
        let Some(v) = self.reg.venue(venue) else {
            return out.emit(origin, rejected_cmd(None, Reason::UnknownVenue));
        };
        let Some(i) = self.reg.instrument(v, symbol) else {
            return out.emit(origin, rejected_cmd(None, Reason::UnknownInstrument));
        };
        let inst = &self.reg.instruments[i.0 as usize];
        let at =
            |d: Dec, scale: u8| clamp_i64(rescale(d.mant as i128, d.scale as i32, scale as i32));
        self.gate.quotes[i.0 as usize] = Quote {
            bid: Price(at(bid, inst.price_scale)),
            ask: Price(at(ask, inst.price_scale)),
            bid_size: Qty(at(bid_size, inst.qty_scale)),
            ask_size: Qty(at(ask_size, inst.qty_scale)),
            at_ns: self.now,
        };
    }
}
