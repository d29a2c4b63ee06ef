//! Each symbol's top of book: a seeded random walk of the mid price (same seed and
//! symbol, same path, as in execd-venue-sim), bid one tick under the mid and ask one
//! tick over it, both rounded to the symbol's tick size.

#[derive(Debug)]
pub(crate) struct PricePath {
    /// Mid price, scaled 10⁻⁸, always a multiple of the tick.
    pub(crate) mid: i64,
    tick: i64,
    rng: fastrand::Rng,
    /// Largest step in hundredths of a basis point.
    vol_centi_bps: i64,
    /// Book update id, one per step (the `u` of bookTicker).
    pub(crate) update_id: u64,
}

impl PricePath {
    pub(crate) fn new(symbol: &str, seed: u64, start: i64, tick: i64, vol_bps: i64) -> PricePath {
        let seed = seed ^ xxhash_rust::xxh3::xxh3_64(symbol.as_bytes());
        PricePath {
            mid: round_to(start, tick).max(2 * tick),
            tick,
            rng: fastrand::Rng::with_seed(seed),
            vol_centi_bps: vol_bps.saturating_mul(100),
            update_id: 1,
        }
    }

    pub(crate) fn step(&mut self) {
        self.update_id += 1;
        let v = self.vol_centi_bps;
        if v == 0 {
            return;
        }
        let r = i128::from(self.rng.i64(-v..=v));
        let d = (i128::from(self.mid) * r / 1_000_000) as i64;
        self.mid = round_to(self.mid.saturating_add(d), self.tick).max(2 * self.tick);
    }

    /// Moves the mid (control command `price`), keeping it on the tick grid.
    pub(crate) fn set(&mut self, mid: i64) {
        self.update_id += 1;
        self.mid = round_to(mid, self.tick).max(2 * self.tick);
    }

    pub(crate) fn bid(&self) -> i64 {
        self.mid - self.tick
    }

    pub(crate) fn ask(&self) -> i64 {
        self.mid + self.tick
    }
}

fn round_to(v: i64, tick: i64) -> i64 {
    if tick <= 0 {
        return v;
    }
    (v + tick / 2) / tick * tick
}
