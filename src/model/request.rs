//! The execution request as upstream sends it (R-IN-1), frozen at receipt (R-IN-2).

use super::fixed::{Dec, Price};
use super::ids::{Name, OrderType, RequestId, Side, Tif};
use xxhash_rust::xxh3::xxh3_64;

/// The most bytes `content_hash` lays out: two request ids and six names, each with its
/// length byte; six prices of flag, scale and mantissa; four flag bytes, slippage and
/// expiry, two approval bytes, the upstream configuration hash.
const HASH_INPUT_MAX: usize = 2 * (32 + 1) + 6 * (16 + 1) + 6 * 10 + 4 + 8 + 8 + 2 + 8;

struct HashInput {
    buf: [u8; HASH_INPUT_MAX],
    len: usize,
}

impl HashInput {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }
}

/// A stop-loss or take-profit level: absolute, or relative to the fill price.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protect {
    /// An absolute price.
    Price(Dec),
    /// Offset from the fill price in parts per million: level = fill × (1 + ppm/10⁶).
    OffsetPpm(i64),
}

/// A stop-loss or take-profit level after the gate checked it: on the instrument's grid
/// (absolute) or an offset it applies to the fill price once it is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// An absolute price at the instrument's price scale, on its tick.
    Abs(Price),
    /// Parts per million from the fill price.
    OffsetPpm(i64),
}

/// Upstream's approval context, copied into the audit trail untouched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct UpstreamContext {
    /// The upstream decision this execution implements.
    pub decision_id: RequestId,
    /// The strategy that proposed it.
    pub strategy: Name,
    /// Whether the risk manager approved it.
    pub risk_approved: bool,
    /// Whether upstream portfolio state says trading is halted (R-GATE-3).
    pub trading_halted: bool,
    /// Version of the strategy that proposed it.
    pub strategy_version: Name,
    /// Version of the risk model that approved it.
    pub risk_version: Name,
    /// Upstream's own configuration fingerprint, kept for the audit trail.
    pub config_hash: u64,
}

/// One execution request. `Copy` and fixed-size, so it crosses rings without allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExecutionRequest {
    /// Idempotency key (R-IN-3).
    pub request_id: RequestId,
    /// A configured account's name.
    pub account: Name,
    /// A configured venue's name.
    pub venue: Name,
    /// The symbol as configured for that venue.
    pub symbol: Name,
    /// Buy or sell.
    pub side: Side,
    /// Final size: execd never changes it; a multiple of the instrument's lot.
    pub quantity: Dec,
    /// MARKET, LIMIT, STOP or STOP_LIMIT: decides which prices must be present.
    pub order_type: OrderType,
    /// GTC, DAY, IOC or FOK.
    pub tif: Tif,
    /// Limit price (LIMIT, STOP_LIMIT).
    pub limit_price: Option<Dec>,
    /// Stop trigger (STOP, STOP_LIMIT).
    pub stop_price: Option<Dec>,
    /// Stop-loss, placed after the fill (R-OMS-5).
    pub stop_loss: Option<Protect>,
    /// Take-profit, placed after the fill (R-OMS-5).
    pub take_profit: Option<Protect>,
    /// The price upstream intended: reference for slippage and the fat-finger band.
    pub reference_price: Option<Dec>,
    /// Worst acceptable slippage in basis points of the reference price.
    pub max_slippage_bps: Option<u32>,
    /// Skip protective orders (and alert) when a fill slipped beyond `max_slippage_bps`.
    pub reject_on_fill_slippage: bool,
    /// The request is void after this instant (Unix ns); `None` = no expiry.
    pub expire_at_ns: Option<u64>,
    /// Who decided and approved it; copied into the audit trail untouched.
    pub context: UpstreamContext,
}

impl ExecutionRequest {
    /// Content hash frozen at receipt (R-IN-2): xxh3-64 over every field, in a fixed order.
    ///
    /// xxh3 rather than a cryptographic hash because it runs on the hot path for every
    /// request (≈20 ns); the audit log's own CRCs and append-only storage protect integrity.
    pub fn content_hash(&self) -> u64 {
        // The fields are laid out in a stack buffer and hashed in one call: xxh3's digest
        // of bytes is the same whether they come in one piece or forty, and forty small
        // streaming updates had cost as much as the rest of the pre-trade gate.
        let mut b = HashInput {
            buf: [0; HASH_INPUT_MAX],
            len: 0,
        };
        let dec = |b: &mut HashInput, d: Option<Dec>| match d {
            None => b.put(&[0]),
            Some(d) => {
                b.put(&[1, d.scale]);
                b.put(&d.mant.to_le_bytes());
            }
        };
        let protect = |b: &mut HashInput, p: Option<Protect>| match p {
            None => b.put(&[0]),
            Some(Protect::Price(d)) => {
                b.put(&[1, d.scale]);
                b.put(&d.mant.to_le_bytes());
            }
            Some(Protect::OffsetPpm(o)) => {
                b.put(&[2]);
                b.put(&o.to_le_bytes());
            }
        };
        let s = |b: &mut HashInput, text: &[u8]| {
            b.put(&[text.len() as u8]);
            b.put(text);
        };
        s(&mut b, self.request_id.as_bytes());
        s(&mut b, self.account.as_bytes());
        s(&mut b, self.venue.as_bytes());
        s(&mut b, self.symbol.as_bytes());
        b.put(&[
            self.side as u8,
            self.order_type as u8,
            self.tif as u8,
            self.reject_on_fill_slippage as u8,
        ]);
        dec(&mut b, Some(self.quantity));
        dec(&mut b, self.limit_price);
        dec(&mut b, self.stop_price);
        protect(&mut b, self.stop_loss);
        protect(&mut b, self.take_profit);
        dec(&mut b, self.reference_price);
        b.put(
            &self
                .max_slippage_bps
                .map_or(u64::MAX, |v| v as u64)
                .to_le_bytes(),
        );
        b.put(&self.expire_at_ns.unwrap_or(u64::MAX).to_le_bytes());
        let c = &self.context;
        s(&mut b, c.decision_id.as_bytes());
        s(&mut b, c.strategy.as_bytes());
        b.put(&[c.risk_approved as u8, c.trading_halted as u8]);
        s(&mut b, c.strategy_version.as_bytes());
        s(&mut b, c.risk_version.as_bytes());
        b.put(&c.config_hash.to_le_bytes());
        xxh3_64(&b.buf[..b.len])
    }

    /// A market buy with everything else empty: a starting point for callers and tests.
    pub fn market(
        request_id: &str,
        account: &str,
        venue: &str,
        symbol: &str,
        side: Side,
        qty: Dec,
    ) -> Self {
        ExecutionRequest {
            request_id: RequestId::new(request_id).unwrap_or_default(),
            account: Name::new(account).unwrap_or_default(),
            venue: Name::new(venue).unwrap_or_default(),
            symbol: Name::new(symbol).unwrap_or_default(),
            side,
            quantity: qty,
            order_type: OrderType::Market,
            tif: Tif::Ioc,
            limit_price: None,
            stop_price: None,
            stop_loss: None,
            take_profit: None,
            reference_price: None,
            max_slippage_bps: None,
            reject_on_fill_slippage: false,
            expire_at_ns: None,
            context: UpstreamContext {
                risk_approved: true,
                ..Default::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_changes_with_any_field() {
        let a =
            ExecutionRequest::market("r1", "acc", "paper", "BTCUSDT", Side::Buy, Dec::new(1, 0));
        let mut b = a;
        assert_eq!(a.content_hash(), b.content_hash());
        b.quantity = Dec::new(2, 0);
        assert_ne!(a.content_hash(), b.content_hash());
        let mut c = a;
        c.context.config_hash = 7;
        assert_ne!(a.content_hash(), c.content_hash());
        let mut d = a;
        d.stop_loss = Some(Protect::OffsetPpm(-20_000));
        assert_ne!(a.content_hash(), d.content_hash());
    }

    /// What `content_hash` was before it laid the fields out itself: the same bytes
    /// given to xxh3 one update at a time. Journals and audit logs hold these hashes.
    fn streamed(r: &ExecutionRequest) -> u64 {
        use xxhash_rust::xxh3::Xxh3;
        let mut h = Xxh3::new();
        let dec = |h: &mut Xxh3, d: Option<Dec>| match d {
            None => h.update(&[0]),
            Some(d) => {
                h.update(&[1, d.scale]);
                h.update(&d.mant.to_le_bytes());
            }
        };
        let protect = |h: &mut Xxh3, p: Option<Protect>| match p {
            None => h.update(&[0]),
            Some(Protect::Price(d)) => {
                h.update(&[1, d.scale]);
                h.update(&d.mant.to_le_bytes());
            }
            Some(Protect::OffsetPpm(o)) => {
                h.update(&[2]);
                h.update(&o.to_le_bytes());
            }
        };
        let s = |h: &mut Xxh3, b: &[u8]| {
            h.update(&[b.len() as u8]);
            h.update(b);
        };
        s(&mut h, r.request_id.as_bytes());
        s(&mut h, r.account.as_bytes());
        s(&mut h, r.venue.as_bytes());
        s(&mut h, r.symbol.as_bytes());
        h.update(&[
            r.side as u8,
            r.order_type as u8,
            r.tif as u8,
            r.reject_on_fill_slippage as u8,
        ]);
        dec(&mut h, Some(r.quantity));
        dec(&mut h, r.limit_price);
        dec(&mut h, r.stop_price);
        protect(&mut h, r.stop_loss);
        protect(&mut h, r.take_profit);
        dec(&mut h, r.reference_price);
        h.update(
            &r.max_slippage_bps
                .map_or(u64::MAX, |v| v as u64)
                .to_le_bytes(),
        );
        h.update(&r.expire_at_ns.unwrap_or(u64::MAX).to_le_bytes());
        let c = &r.context;
        s(&mut h, c.decision_id.as_bytes());
        s(&mut h, c.strategy.as_bytes());
        h.update(&[c.risk_approved as u8, c.trading_halted as u8]);
        s(&mut h, c.strategy_version.as_bytes());
        s(&mut h, c.risk_version.as_bytes());
        h.update(&c.config_hash.to_le_bytes());
        h.digest()
    }

    #[test]
    fn hash_is_the_same_as_streaming_the_fields() {
        let mut rng = fastrand::Rng::with_seed(5);
        let text = |rng: &mut fastrand::Rng, max: usize| -> String {
            let n = if rng.bool() { max } else { rng.usize(0..=max) };
            (0..n).map(|_| rng.alphanumeric()).collect()
        };
        let dec = |rng: &mut fastrand::Rng| Dec {
            mant: rng.i64(..),
            scale: rng.u8(..),
        };
        for round in 0..2_000 {
            let full = round % 2 == 0;
            let mut r = ExecutionRequest::market(
                &text(&mut rng, 32),
                &text(&mut rng, 16),
                &text(&mut rng, 16),
                &text(&mut rng, 16),
                if rng.bool() { Side::Buy } else { Side::Sell },
                dec(&mut rng),
            );
            let some = |rng: &mut fastrand::Rng| full || rng.bool();
            r.limit_price = some(&mut rng).then(|| dec(&mut rng));
            r.stop_price = some(&mut rng).then(|| dec(&mut rng));
            r.stop_loss = some(&mut rng).then(|| Protect::Price(dec(&mut rng)));
            // Full rounds reach the longest layout: every protection an absolute price.
            r.take_profit = some(&mut rng).then(|| {
                if full || rng.bool() {
                    Protect::Price(dec(&mut rng))
                } else {
                    Protect::OffsetPpm(rng.i64(..))
                }
            });
            r.reference_price = some(&mut rng).then(|| dec(&mut rng));
            r.max_slippage_bps = some(&mut rng).then(|| rng.u32(..));
            r.expire_at_ns = some(&mut rng).then(|| rng.u64(..));
            r.reject_on_fill_slippage = rng.bool();
            r.context = UpstreamContext {
                decision_id: RequestId::new(&text(&mut rng, 32)).unwrap(),
                strategy: Name::new(&text(&mut rng, 16)).unwrap(),
                risk_approved: rng.bool(),
                trading_halted: rng.bool(),
                strategy_version: Name::new(&text(&mut rng, 16)).unwrap(),
                risk_version: Name::new(&text(&mut rng, 16)).unwrap(),
                config_hash: rng.u64(..),
            };
            assert_eq!(r.content_hash(), streamed(&r), "round {round}: {r:?}");
        }
    }
}
