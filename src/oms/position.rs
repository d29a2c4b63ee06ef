//! Positions per account and instrument by netting (R-OMS-6), and account money.

use crate::model::fixed::{clamp_i64, div_round, rescale, Money, Price, Qty, MONEY_SCALE};
use crate::model::ids::Side;
use crate::model::instrument::Instrument;

/// A net position. Cost is kept as Σ signed qty × price in mantissa units, so the
/// average entry and realised P&L are exact.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Position {
    /// Net quantity (negative = short).
    pub net: Qty,
    /// Signed cost of the open quantity, price × qty mantissas.
    pub cost: i128,
    /// P&L realised by closing fills, in money units.
    pub realised: Money,
    /// Commissions on every fill in this instrument.
    pub fees: Money,
    /// Unfilled quantity of working buy orders (protective orders excluded): what the
    /// position could grow by.
    pub open_buy: Qty,
    /// Unfilled quantity of working sell orders (protective orders excluded).
    pub open_sell: Qty,
    /// First of the protective orders placed on this position, linked through
    /// `Order::next_protective`.
    pub protective: Option<crate::model::ids::OrderId>,
}

impl Position {
    /// Applies a fill; returns the P&L it realised.
    pub(crate) fn apply_fill(
        &mut self,
        inst: &Instrument,
        side: Side,
        px: Price,
        qty: Qty,
        fee: Money,
    ) -> Money {
        let s = side.sign();
        self.fees = self.fees + fee;
        let mut realised_raw: i128 = 0;
        let mut rest = qty.0;
        if self.net.0 != 0 && self.net.0.signum() != s {
            let closing = rest.min(self.net.0.abs());
            // Cost of the closed part, proportional to the open cost.
            let removed = self.cost * closing as i128 / self.net.0.abs() as i128;
            // Proceeds of closing a long: +px×q; covering a short: -px×q.
            let proceeds = -(s as i128) * px.0 as i128 * closing as i128;
            realised_raw = proceeds - removed;
            self.cost -= removed;
            self.net.0 += s * closing;
            rest -= closing;
        }
        if rest > 0 {
            self.net.0 += s * rest;
            self.cost += s as i128 * px.0 as i128 * rest as i128;
        }
        if self.net.0 == 0 {
            // Rounding remainders of proportional cost removal go to realised.
            realised_raw -= self.cost;
            self.cost = 0;
        }
        let r = Money(clamp_i64(rescale(
            realised_raw,
            (inst.price_scale + inst.qty_scale) as i32,
            MONEY_SCALE as i32,
        )));
        self.realised = self.realised + r;
        r
    }

    /// `qty` on `side` is no longer working (filled or done); never below zero.
    pub(crate) fn unwork(&mut self, side: Side, qty: Qty) {
        match side {
            Side::Buy => self.open_buy = Qty((self.open_buy.0 - qty.0).max(0)),
            Side::Sell => self.open_sell = Qty((self.open_sell.0 - qty.0).max(0)),
        }
    }

    /// Average entry price of the open quantity.
    pub fn avg_entry(&self) -> Price {
        if self.net.0 == 0 {
            Price(0)
        } else {
            Price(clamp_i64(div_round(
                self.cost.abs(),
                self.net.0.abs() as i128,
            )))
        }
    }

    /// Unrealised P&L at `mark`.
    pub fn unrealised(&self, inst: &Instrument, mark: Price) -> Money {
        let raw = self.net.0 as i128 * mark.0 as i128 - self.cost;
        Money(clamp_i64(rescale(
            raw,
            (inst.price_scale + inst.qty_scale) as i32,
            MONEY_SCALE as i32,
        )))
    }

    /// Margin the open position uses.
    pub(crate) fn margin(&self, inst: &Instrument) -> Money {
        let notional = rescale(
            self.cost.abs(),
            (inst.price_scale + inst.qty_scale) as i32,
            MONEY_SCALE as i32,
        );
        Money(clamp_i64(notional)).bps(inst.margin_bps as i64)
    }
}

/// An account's money and order count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccountState {
    /// As configured; fills do not change it (realised P&L and fees are kept apart).
    pub cash: Money,
    /// Realised P&L over all instruments.
    pub realised: Money,
    /// Commissions over all instruments.
    pub fees: Money,
    /// Margin reserved by working orders for their unfilled part.
    pub order_margin: Money,
    /// Margin used by open positions (notional × the instrument's margin rate).
    pub position_margin: Money,
    /// Orders sent and not yet in a terminal state, protective ones included (R-GATE-7).
    pub open_orders: u32,
}

impl AccountState {
    /// Cash + realised − fees.
    pub fn equity(&self) -> Money {
        self.cash + self.realised - self.fees
    }

    /// Equity minus margin in use.
    pub fn margin_available(&self) -> Money {
        self.equity() - self.order_margin - self.position_margin
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Registry;

    #[test]
    fn netting_realises_exactly() {
        let reg = Registry::default_paper();
        let inst = reg.instrument_by_names("paper", "AAPL").unwrap().clone();
        let mut p = Position::default();
        p.apply_fill(&inst, Side::Buy, Price(10_000), Qty(10), Money(0));
        p.apply_fill(&inst, Side::Buy, Price(10_100), Qty(10), Money(0));
        assert_eq!(p.avg_entry(), Price(10_050));
        // Sell 15 at 102.00: realised (102 - 100.5) × 15 = 22.50
        let r = p.apply_fill(&inst, Side::Sell, Price(10_200), Qty(15), Money(1_000_000));
        assert_eq!(r, Money(22_500_000));
        assert_eq!(p.net, Qty(5));
        assert_eq!(p.fees, Money(1_000_000));
        // Flip: sell 10 at 99.00: close 5 (-7.50), open 5 short at 99.
        let r = p.apply_fill(&inst, Side::Sell, Price(9_900), Qty(10), Money(0));
        assert_eq!(r, Money(-7_500_000));
        assert_eq!(p.net, Qty(-5));
        assert_eq!(p.avg_entry(), Price(9_900));
        assert_eq!(p.unrealised(&inst, Price(9_800)), Money(5_000_000));
        assert_eq!(p.realised, Money(15_000_000));
    }
}
