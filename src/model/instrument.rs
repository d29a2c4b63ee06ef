//! Instruments: the grid a price and a quantity must sit on, and when they trade.

use super::fixed::{Money, Price, Qty};
use super::ids::{InstrumentId, Name, VenueId};

/// Nanoseconds in a minute and a day.
const NS_PER_MIN: u64 = 60_000_000_000;
const MIN_PER_DAY: u64 = 1440;

/// When an instrument's venue session is open, in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TradingHours {
    /// Bit 0 = Monday … bit 6 = Sunday.
    pub days: u8,
    /// Minute of the UTC day the session opens.
    pub open_min: u16,
    /// Minute of the UTC day it closes; below `open_min` means it runs past midnight.
    pub close_min: u16,
}

impl TradingHours {
    /// Around the clock, every day (crypto).
    pub const ALWAYS: TradingHours = TradingHours {
        days: 0x7f,
        open_min: 0,
        close_min: 1440,
    };

    /// Whether the session is open at `unix_ns`.
    pub fn is_open(&self, unix_ns: u64) -> bool {
        let minutes = unix_ns / NS_PER_MIN;
        let day = minutes / MIN_PER_DAY;
        let minute = (minutes % MIN_PER_DAY) as u16;
        // 1970-01-01 was a Thursday: Monday-based weekday index 3.
        let weekday = ((day + 3) % 7) as u8;
        if self.days & (1 << weekday) == 0 {
            return false;
        }
        if self.open_min <= self.close_min {
            minute >= self.open_min && minute < self.close_min
        } else {
            minute >= self.open_min || minute < self.close_min
        }
    }
}

/// A tradable instrument and its per-instrument limits.
#[derive(Clone, Debug)]
pub struct Instrument {
    /// Interned id (index in the registry).
    pub id: InstrumentId,
    /// Symbol as upstream and the venue spell it.
    pub symbol: Name,
    /// Venue it trades on.
    pub venue: VenueId,
    /// Decimals of a price mantissa.
    pub price_scale: u8,
    /// Decimals of a quantity mantissa.
    pub qty_scale: u8,
    /// Price grid.
    pub tick: Price,
    /// Quantity grid.
    pub lot: Qty,
    /// Pip size, for slippage in pips (R-OMS-8).
    pub pip: Price,
    /// Session hours (R-GATE-5).
    pub hours: TradingHours,
    /// Whether new orders may be sent at all.
    pub tradable: bool,
    /// Widest spread at which orders may be sent (R-GATE-6); `None` = no limit.
    pub max_spread: Option<Price>,
    /// Fat-finger band around the reference price, basis points (R-GATE-6).
    pub price_band_bps: u32,
    /// Margin required as basis points of notional (10 000 = fully funded).
    pub margin_bps: u32,
    /// Largest single order (R-GATE-7).
    pub max_order_qty: Qty,
    /// Largest single order notional (R-GATE-7).
    pub max_notional: Money,
    /// Largest absolute net position per account (R-GATE-7).
    pub max_position: Qty,
}

impl Instrument {
    /// Notional of `qty` at `px` in money units.
    #[inline]
    pub fn notional(&self, px: Price, qty: Qty) -> Money {
        Money::notional(px, qty, self.price_scale, self.qty_scale)
    }

    /// Whether `px` is on the tick grid.
    pub fn on_tick(&self, px: Price) -> bool {
        self.tick.0 > 0 && px.0 % self.tick.0 == 0
    }

    /// Rounds the price `num / den` (mantissa units) to the nearest tick, half away from
    /// zero, in one step so nothing is rounded twice.
    pub fn round_ratio_to_tick(&self, num: i128, den: i128) -> Price {
        let t = self.tick.0 as i128;
        Price(super::fixed::clamp_i64(
            super::fixed::div_round(num, den * t) * t,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(day_offset: u64, minute: u64) -> u64 {
        // 2026-01-05 is a Monday: 20458 days after the epoch.
        ((20458 + day_offset) * MIN_PER_DAY + minute) * NS_PER_MIN
    }

    #[test]
    fn hours_respect_days_and_wrap() {
        let equities = TradingHours {
            days: 0b001_1111,
            open_min: 14 * 60 + 30,
            close_min: 21 * 60,
        };
        assert!(equities.is_open(at(0, 15 * 60)));
        assert!(!equities.is_open(at(0, 14 * 60)));
        assert!(!equities.is_open(at(5, 15 * 60)), "Saturday");
        let overnight = TradingHours {
            days: 0x7f,
            open_min: 22 * 60,
            close_min: 21 * 60,
        };
        assert!(overnight.is_open(at(1, 23 * 60)));
        assert!(overnight.is_open(at(1, 60)));
        assert!(!overnight.is_open(at(1, 21 * 60 + 30)));
        assert!(TradingHours::ALWAYS.is_open(at(6, 0)));
    }
}
