//! What crosses the HTTP boundary: request bodies (strict: unknown fields, wrong types
//! and numbers that are not decimal strings are refused, naming the field) and the JSON
//! answers built from the core's events. Decimals are strings, read and written exactly.

use crate::config::Registry;
use crate::model::control::{KillState, Mode};
use crate::model::event::Scope;
use crate::model::fixed::{Dec, Fixed, MONEY_SCALE};
use crate::model::ids::{Name, OrderType, RequestId, ShortStr, Side, Tif};
use crate::model::request::{ExecutionRequest, Protect, UpstreamContext};
use serde::de::{self, Deserializer};
use serde::Deserialize;
use serde_json::{json, Value};

/// A decimal given as a JSON string ("0.01"), never a JSON number (floats are not exact).
#[derive(Clone, Copy, Debug)]
pub struct DecStr(pub Dec);

impl<'de> Deserialize<'de> for DecStr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Dec::parse(s.trim())
            .map(DecStr)
            .map_err(|e| de::Error::custom(format!("{s:?}: {e} (a decimal string like \"0.01\")")))
    }
}

/// A short name or id, refused when longer than its field holds.
#[derive(Clone, Copy, Debug)]
pub struct Short<const N: usize>(pub ShortStr<N>);

impl<'de, const N: usize> Deserialize<'de> for Short<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ShortStr::<N>::new(&s)
            .map(Short)
            .map_err(|_| de::Error::custom(format!("{s:?} is longer than {N} bytes")))
    }
}

/// BUY or SELL.
#[derive(Clone, Copy, Debug, Deserialize)]
pub enum SideW {
    /// Buy.
    #[serde(rename = "BUY")]
    Buy,
    /// Sell.
    #[serde(rename = "SELL")]
    Sell,
}

/// MARKET, LIMIT, STOP, STOP_LIMIT.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderTypeW {
    /// Market.
    Market,
    /// Limit.
    Limit,
    /// Stop.
    Stop,
    /// Stop limit.
    StopLimit,
}

/// GTC, DAY, IOC, FOK.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TifW {
    /// Good till canceled.
    Gtc,
    /// Day.
    Day,
    /// Immediate or cancel.
    Ioc,
    /// Fill or kill.
    Fok,
}

/// Upstream's approval context, copied into the audit trail untouched.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContextBody {
    decision_id: Option<Short<32>>,
    strategy: Option<Short<16>>,
    risk_approved: bool,
    trading_halted: bool,
    strategy_version: Option<Short<16>>,
    risk_version: Option<Short<16>>,
    config_hash: u64,
}

/// `POST /v1/executions`: an [`ExecutionRequest`] in snake case.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitBody {
    request_id: Short<32>,
    account: Short<16>,
    venue: Short<16>,
    symbol: Short<16>,
    side: SideW,
    quantity: DecStr,
    order_type: OrderTypeW,
    #[serde(default)]
    time_in_force: Option<TifW>,
    #[serde(default)]
    limit_price: Option<DecStr>,
    #[serde(default)]
    stop_price: Option<DecStr>,
    /// Absolute stop-loss price.
    #[serde(default)]
    stop_loss: Option<DecStr>,
    /// Absolute take-profit price.
    #[serde(default)]
    take_profit: Option<DecStr>,
    /// Stop-loss as a fraction of the fill price: "-0.02" is 2 % below.
    #[serde(default)]
    stop_loss_offset: Option<DecStr>,
    /// Take-profit as a fraction of the fill price: "0.03" is 3 % above.
    #[serde(default)]
    take_profit_offset: Option<DecStr>,
    #[serde(default)]
    reference_price: Option<DecStr>,
    #[serde(default)]
    max_slippage_bps: Option<u32>,
    #[serde(default)]
    reject_on_fill_slippage: bool,
    /// RFC 3339 UTC.
    #[serde(default)]
    expire_at: Option<String>,
    #[serde(default)]
    context: ContextBody,
}

/// A field that parsed but does not make sense: (field, sentence).
pub type FieldError = (&'static str, String);

fn ppm(field: &'static str, d: Dec) -> Result<i64, FieldError> {
    d.to_scale(6).filter(|v| v.abs() < 1_000_000).ok_or((
        field,
        format!("{d} must be a fraction between -1 and 1 with at most 6 decimals"),
    ))
}

impl SubmitBody {
    /// The request as the core takes it; nothing the gate checks is checked here.
    pub fn into_request(self) -> Result<ExecutionRequest, FieldError> {
        let protect = |abs: Option<DecStr>,
                       off: Option<DecStr>,
                       f: &'static str|
         -> Result<Option<Protect>, FieldError> {
            match (abs, off) {
                (Some(_), Some(_)) => Err((f, format!("give {f} or {f}_offset, not both"))),
                (Some(a), None) => Ok(Some(Protect::Price(a.0))),
                (None, Some(o)) => Ok(Some(Protect::OffsetPpm(ppm(f, o.0)?))),
                (None, None) => Ok(None),
            }
        };
        let expire_at_ns = match &self.expire_at {
            None => None,
            Some(s) => Some(crate::calendar::parse_rfc3339(s).ok_or((
                "expire_at",
                format!("{s:?} is not an RFC 3339 UTC time like 2026-01-05T15:00:00Z"),
            ))?),
        };
        let order_type = match self.order_type {
            OrderTypeW::Market => OrderType::Market,
            OrderTypeW::Limit => OrderType::Limit,
            OrderTypeW::Stop => OrderType::Stop,
            OrderTypeW::StopLimit => OrderType::StopLimit,
        };
        let tif = match self.time_in_force {
            Some(TifW::Gtc) => Tif::Gtc,
            Some(TifW::Day) => Tif::Day,
            Some(TifW::Ioc) => Tif::Ioc,
            Some(TifW::Fok) => Tif::Fok,
            // A market order that cannot fill at once has nothing to wait for.
            None if order_type == OrderType::Market => Tif::Ioc,
            None => Tif::Gtc,
        };
        let c = self.context;
        let name = |o: Option<Short<16>>| o.map(|s| s.0).unwrap_or_default();
        Ok(ExecutionRequest {
            request_id: self.request_id.0,
            account: self.account.0,
            venue: self.venue.0,
            symbol: self.symbol.0,
            side: match self.side {
                SideW::Buy => Side::Buy,
                SideW::Sell => Side::Sell,
            },
            quantity: self.quantity.0,
            order_type,
            tif,
            limit_price: self.limit_price.map(|d| d.0),
            stop_price: self.stop_price.map(|d| d.0),
            stop_loss: protect(self.stop_loss, self.stop_loss_offset, "stop_loss")?,
            take_profit: protect(self.take_profit, self.take_profit_offset, "take_profit")?,
            reference_price: self.reference_price.map(|d| d.0),
            max_slippage_bps: self.max_slippage_bps,
            reject_on_fill_slippage: self.reject_on_fill_slippage,
            expire_at_ns,
            context: UpstreamContext {
                decision_id: c.decision_id.map(|s| s.0).unwrap_or_default(),
                strategy: name(c.strategy),
                risk_approved: c.risk_approved,
                trading_halted: c.trading_halted,
                strategy_version: name(c.strategy_version),
                risk_version: name(c.risk_version),
                config_hash: c.config_hash,
            },
        })
    }
}

/// Which orders a kill switch or cancel-all covers; absent fields = global.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeBody {
    #[serde(default)]
    venue: Option<Short<16>>,
    #[serde(default)]
    account: Option<Short<16>>,
    #[serde(default)]
    symbol: Option<Short<16>>,
    #[serde(default)]
    global: Option<bool>,
}

impl ScopeBody {
    /// At most one of venue, account, symbol; none (or `"global": true`) is global.
    pub fn scope(&self) -> Result<Scope, FieldError> {
        let given = [self.venue, self.account, self.symbol]
            .iter()
            .filter(|x| x.is_some())
            .count();
        if given > 1 || (given == 1 && self.global == Some(true)) {
            return Err((
                "scope",
                "name one of venue, account, symbol, or global".to_string(),
            ));
        }
        Ok(match (self.venue, self.account, self.symbol) {
            (Some(v), _, _) => Scope::Venue(v.0),
            (_, Some(a), _) => Scope::Account(a.0),
            (_, _, Some(s)) => Scope::Symbol(s.0),
            _ => Scope::Global,
        })
    }
}

/// `POST /v1/cancel-all`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelAllBody {
    /// Absent: every open order.
    #[serde(default)]
    pub scope: ScopeBody,
    /// Why, in one line (journaled with the operator's name).
    #[serde(default)]
    pub reason: Option<String>,
}

/// `PUT /v1/kill-switches`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KillBody {
    /// Absent: the global switch.
    #[serde(default)]
    pub scope: ScopeBody,
    /// OFF, WARNING or ACTIVE.
    pub state: KillState,
    /// Why, for the operator who reads the answer (the journal records the command).
    #[serde(default)]
    pub reason: Option<String>,
    /// With ACTIVE: cancel the open orders in scope too.
    #[serde(default)]
    pub cancel_open: bool,
}

/// `POST /v1/emergency-stop`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmergencyBody {
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `PUT /v1/mode`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModeBody {
    /// A configured account.
    pub account: Short<16>,
    /// GUIDE or AUTONOMOUS.
    pub mode: Mode,
    /// Why, in one line (journaled with the operator's name).
    #[serde(default)]
    pub reason: Option<String>,
}

/// `PUT /v1/halt`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HaltBody {
    /// A configured account.
    pub account: Short<16>,
    /// `true` refuses every new request of the account until cleared.
    pub halted: bool,
    /// Why, in one line (journaled with the operator's name).
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /v1/orders/{id}/replace`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplaceBody {
    /// New total quantity.
    #[serde(default)]
    pub quantity: Option<DecStr>,
    /// New limit price.
    #[serde(default)]
    pub limit_price: Option<DecStr>,
    /// Why, in one line (journaled with the operator's name).
    #[serde(default)]
    pub reason: Option<String>,
}

/// `PUT /v1/limits`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsBody {
    /// The venue, as configured.
    pub venue: Short<16>,
    /// The symbol, as configured for that venue.
    pub symbol: Short<16>,
    /// Largest quantity of one order.
    #[serde(default)]
    pub max_order_qty: Option<DecStr>,
    /// Largest notional of one order, account currency.
    #[serde(default)]
    pub max_notional: Option<DecStr>,
    /// Largest net position, either side, counting working orders.
    #[serde(default)]
    pub max_position: Option<DecStr>,
    /// Why, in one line (journaled with the operator's name).
    #[serde(default)]
    pub reason: Option<String>,
}

/// `PUT /v1/orders/{id}/protection`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtectionBody {
    /// New stop-loss trigger.
    #[serde(default)]
    pub stop_loss: Option<DecStr>,
    /// New take-profit limit.
    #[serde(default)]
    pub take_profit: Option<DecStr>,
    /// Why, in one line (journaled with the operator's name).
    #[serde(default)]
    pub reason: Option<String>,
}

/// A scope as JSON: `{"global":true}` or `{"venue":"paper"}`.
pub fn scope_json(s: &Scope) -> Value {
    match s {
        Scope::Global => json!({"global": true}),
        Scope::Venue(v) => json!({"venue": v.as_str()}),
        Scope::Account(a) => json!({"account": a.as_str()}),
        Scope::Symbol(s) => json!({"symbol": s.as_str()}),
    }
}

/// A mantissa at `scale` as a decimal string.
pub fn dec(mant: i64, scale: u8) -> String {
    Fixed(mant, scale).to_string()
}

/// Money (micro-units) as a decimal string.
pub fn money(m: i64) -> String {
    Fixed(m, MONEY_SCALE).to_string()
}

/// Name of a configured instrument's venue, for answers.
pub fn venue_name(reg: &Registry, inst: usize) -> Name {
    reg.instruments
        .get(inst)
        .and_then(|i| reg.venues.get(i.venue.0 as usize))
        .map(|v| v.name)
        .unwrap_or_default()
}

/// An order id in a path: a positive integer.
pub fn order_id(s: &str) -> Option<u64> {
    s.parse::<u64>().ok().filter(|&v| v > 0)
}

/// A request id in a path.
pub fn request_id(s: &str) -> Option<RequestId> {
    RequestId::new(s).ok().filter(|r| !r.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<SubmitBody, String> {
        let s = v.to_string();
        let de = &mut serde_json::Deserializer::from_str(&s);
        serde_path_to_error::deserialize(de).map_err(|e| format!("{}: {}", e.path(), e.inner()))
    }

    #[test]
    fn a_request_reads_exactly_and_refuses_what_does_not_fit() {
        let b = parse(
            json!({"request_id":"r1","account":"alpha","venue":"paper","symbol":"BTCUSDT",
            "side":"BUY","quantity":"0.01","order_type":"LIMIT","limit_price":"96000.5",
            "stop_loss_offset":"-0.02","context":{"risk_approved":true}}),
        )
        .unwrap();
        let r = b.into_request().unwrap();
        assert_eq!(r.quantity, Dec::new(1, 2));
        assert_eq!(r.tif, Tif::Gtc);
        assert_eq!(r.stop_loss, Some(Protect::OffsetPpm(-20_000)));
        assert!(r.context.risk_approved);
        let e = parse(
            json!({"request_id":"r1","account":"alpha","venue":"paper","symbol":"BTCUSDT",
            "side":"BUY","quantity":0.01,"order_type":"MARKET"}),
        )
        .unwrap_err();
        assert!(e.starts_with("quantity: "), "{e}");
        let e = parse(
            json!({"request_id":"r1","account":"alpha","venue":"paper","symbol":"BTCUSDT",
            "side":"BUY","quantity":"1","order_type":"MARKET","colour":"red"}),
        )
        .unwrap_err();
        assert!(e.contains("unknown field `colour`"), "{e}");
        let e = parse(
            json!({"request_id":"r1","account":"alpha","venue":"paper","symbol":"BTCUSDT",
            "side":"BUY","quantity":"1","order_type":"MARKET","context":{"risk_approved":"yes"}}),
        )
        .unwrap_err();
        assert!(e.starts_with("context.risk_approved: "), "{e}");
        let e = parse(
            json!({"request_id":"x".repeat(33),"account":"alpha","venue":"paper",
            "symbol":"BTCUSDT","side":"BUY","quantity":"1","order_type":"MARKET"}),
        )
        .unwrap_err();
        assert!(
            e.starts_with("request_id: ") && e.contains("32 bytes"),
            "{e}"
        );
    }
}

/// `POST /v1/reconciliation`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcileBody {
    /// The venue to ask, as configured.
    pub venue: Short<16>,
    /// Why, in one line (journaled with the operator's name).
    #[serde(default)]
    pub reason: Option<String>,
}

/// Whose state a resolution keeps.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Keep {
    /// The venue is right: the core books its positions.
    Venue,
    /// The core is right: the operator acts at the venue; only the hold is lifted.
    Ours,
}

/// `POST /v1/reconciliation/resolve`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    /// The venue whose differences are resolved.
    pub venue: Short<16>,
    /// Only this account's (all when absent).
    #[serde(default)]
    pub account: Option<Short<16>>,
    /// Only this symbol's (all when absent).
    #[serde(default)]
    pub symbol: Option<Short<16>>,
    /// `venue` or `ours`.
    pub keep: Keep,
    /// Why (required: an auditor reads it a year later).
    pub reason: String,
}

/// `POST /v1/quotes`: a top of book from upstream (R-VEN-6).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuoteBody {
    /// The venue the instrument trades on, as configured.
    pub venue: Short<16>,
    /// As configured for that venue.
    pub symbol: Short<16>,
    /// Best bid.
    pub bid: DecStr,
    /// Best ask.
    pub ask: DecStr,
    /// Size at the bid (0 or absent: unknown).
    #[serde(default)]
    pub bid_size: Option<DecStr>,
    /// Size at the ask (0 or absent: unknown).
    #[serde(default)]
    pub ask_size: Option<DecStr>,
}
