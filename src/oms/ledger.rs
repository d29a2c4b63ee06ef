//! Accounts and positions (R-OMS-6), dense by account × instrument, and what orders
//! reserve in them while they work: an open-order count, margin, and working quantity
//! per side (what the gate's position and margin checks read).
//!
//! Protective orders reserve margin and count as open orders, but not as working
//! quantity: they only ever reduce the position they protect.

use super::order::{Execution, Order};
use super::position::{AccountState, Position};
use crate::model::fixed::{Money, Price, Qty};
use crate::model::ids::{AccountId, InstrumentId, Side};
use crate::model::instrument::Instrument;

/// Every account's money and every position.
#[derive(Clone, Debug)]
pub struct Ledger {
    accounts: Vec<AccountState>,
    positions: Vec<Position>,
    instruments: usize,
}

/// How a fill moved its position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Booked {
    /// Net quantity before the fill.
    pub net_before: Qty,
    /// Net quantity after it.
    pub net_after: Qty,
}

impl Booked {
    /// The fill closed the position or flipped it to the other side.
    pub fn flat_or_flipped(&self) -> bool {
        self.net_after.0 == 0 || self.net_after.0.signum() == -self.net_before.0.signum()
    }
}

impl Ledger {
    /// Accounts starting with `cash` each, flat in `instruments` instruments.
    pub fn new(cash: impl IntoIterator<Item = Money>, instruments: usize) -> Ledger {
        let accounts: Vec<AccountState> = cash
            .into_iter()
            .map(|cash| AccountState {
                cash,
                ..Default::default()
            })
            .collect();
        Ledger {
            positions: vec![Position::default(); accounts.len() * instruments],
            accounts,
            instruments,
        }
    }

    /// Takes a configuration change: `instruments` (the new table) is the old one with
    /// instruments added or removed at the end only (removed ones flat, with nothing
    /// working), and margin rates may differ. Position margin is summed again at the new
    /// rates: booking it by differences at the old rate would drift.
    pub(crate) fn reconfigure(&mut self, instruments: &[Instrument]) {
        let n = instruments.len();
        if n != self.instruments {
            let mut positions = vec![Position::default(); self.accounts.len() * n];
            for a in 0..self.accounts.len() {
                let keep = n.min(self.instruments);
                let from = a * self.instruments;
                positions[a * n..a * n + keep].copy_from_slice(&self.positions[from..from + keep]);
            }
            self.positions = positions;
            self.instruments = n;
        }
        for (a, acct) in self.accounts.iter_mut().enumerate() {
            let ps = &self.positions[a * n..(a + 1) * n];
            acct.position_margin = ps
                .iter()
                .zip(instruments)
                .fold(Money(0), |m, (p, inst)| m + p.margin(inst));
        }
    }

    fn at(&self, a: AccountId, i: InstrumentId) -> usize {
        a.0 as usize * self.instruments + i.0 as usize
    }

    /// An account's money and order count.
    #[inline]
    pub fn account(&self, a: AccountId) -> &AccountState {
        &self.accounts[a.0 as usize]
    }

    /// An account's position in an instrument.
    #[inline]
    pub fn position(&self, a: AccountId, i: InstrumentId) -> &Position {
        &self.positions[self.at(a, i)]
    }

    /// The position, to relink its list of protective orders.
    pub fn position_mut(&mut self, a: AccountId, i: InstrumentId) -> &mut Position {
        let at = self.at(a, i);
        &mut self.positions[at]
    }

    /// The order was sent: it counts as open and reserves its margin and quantity.
    pub fn reserve(&mut self, o: &Order) {
        let t = o.terms();
        let a = &mut self.accounts[t.account.0 as usize];
        a.open_orders += 1;
        a.order_margin = a.order_margin + o.margin();
        if !o.is_protective() {
            let p = self.position_mut(t.account, t.instrument);
            match t.side {
                Side::Buy => p.open_buy = p.open_buy + t.qty,
                Side::Sell => p.open_sell = p.open_sell + t.qty,
            }
        }
    }

    /// The order left the working set: its count, remaining margin and unfilled quantity
    /// are released.
    pub fn release(&mut self, o: &mut Order) {
        let margin = o.take_margin();
        let t = *o.terms();
        let unfilled = Qty(t.qty.0 - o.cum_qty().0);
        let a = &mut self.accounts[t.account.0 as usize];
        a.open_orders = a.open_orders.saturating_sub(1);
        a.order_margin = a.order_margin - margin;
        if !o.is_protective() {
            self.position_mut(t.account, t.instrument)
                .unwork(t.side, unfilled);
        }
    }

    /// A replace the venue confirmed changed the order's quantity by `delta`.
    pub fn resized(&mut self, o: &Order, delta: i64) {
        let t = o.terms();
        if !o.is_protective() {
            let p = self.position_mut(t.account, t.instrument);
            match t.side {
                Side::Buy => p.open_buy.0 += delta,
                Side::Sell => p.open_sell.0 += delta,
            }
        }
    }

    /// An operator accepted the venue's position (R-AUD-4): `net` becomes `q` at the
    /// same average entry, or at `mark` when it was flat; the account's position margin
    /// follows. `false` (nothing changed) when a flat position has no mark to enter at,
    /// or the cost would not fit.
    pub(crate) fn restate(&mut self, inst: &Instrument, a: AccountId, q: Qty, mark: Price) -> bool {
        let p = self.position_mut(a, inst.id);
        let cost = if p.net.0 != 0 {
            p.cost.checked_mul(q.0 as i128).map(|c| c / p.net.0 as i128)
        } else if mark.0 > 0 {
            (mark.0 as i128).checked_mul(q.0 as i128)
        } else {
            None
        };
        let Some(cost) = cost else {
            return false;
        };
        let margin_before = p.margin(inst);
        p.cost = cost;
        p.net = q;
        let margin_after = p.margin(inst);
        let acct = &mut self.accounts[a.0 as usize];
        acct.position_margin = acct.position_margin + margin_after - margin_before;
        true
    }

    /// Books an execution on the order's account and position. `released` is the
    /// margin a working order gave back for it (its working quantity shrinks too); `None`
    /// for an order already terminal (a fill racing a cancel), which reserves nothing.
    pub fn book_fill(
        &mut self,
        inst: &Instrument,
        o: &Order,
        x: &Execution,
        released: Option<Money>,
    ) -> Booked {
        let t = o.terms();
        let p = self.position_mut(t.account, t.instrument);
        let margin_before = p.margin(inst);
        let net_before = p.net;
        let realised = p.apply_fill(inst, t.side, x.px, x.qty, x.fee);
        let net_after = p.net;
        let margin_after = p.margin(inst);
        if !o.is_protective() && released.is_some() {
            p.unwork(t.side, x.qty);
        }
        let a = &mut self.accounts[t.account.0 as usize];
        a.realised = a.realised + realised;
        a.fees = a.fees + x.fee;
        if let Some(released) = released {
            a.order_margin = a.order_margin - released;
        }
        a.position_margin = a.position_margin + margin_after - margin_before;
        Booked {
            net_before,
            net_after,
        }
    }
}
