//! The execution request as upstream sends it (R-IN-1), frozen at receipt (R-IN-2).

use super::fixed::{Dec, Price};
use super::ids::{Name, OrderType, RequestId, Side, Tif};
use xxhash_rust::xxh3::Xxh3;

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
        s(&mut h, self.request_id.as_bytes());
        s(&mut h, self.account.as_bytes());
        s(&mut h, self.venue.as_bytes());
        s(&mut h, self.symbol.as_bytes());
        h.update(&[
            self.side as u8,
            self.order_type as u8,
            self.tif as u8,
            self.reject_on_fill_slippage as u8,
        ]);
        dec(&mut h, Some(self.quantity));
        dec(&mut h, self.limit_price);
        dec(&mut h, self.stop_price);
        protect(&mut h, self.stop_loss);
        protect(&mut h, self.take_profit);
        dec(&mut h, self.reference_price);
        h.update(
            &self
                .max_slippage_bps
                .map_or(u64::MAX, |v| v as u64)
                .to_le_bytes(),
        );
        h.update(&self.expire_at_ns.unwrap_or(u64::MAX).to_le_bytes());
        let c = &self.context;
        s(&mut h, c.decision_id.as_bytes());
        s(&mut h, c.strategy.as_bytes());
        h.update(&[c.risk_approved as u8, c.trading_halted as u8]);
        s(&mut h, c.strategy_version.as_bytes());
        s(&mut h, c.risk_version.as_bytes());
        h.update(&c.config_hash.to_le_bytes());
        h.digest()
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
}
