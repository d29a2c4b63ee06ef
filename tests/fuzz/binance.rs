//! The Binance bridge's reading of what the exchange sends (docs/fuzzing.md): user data
//! stream events, book tickers, REST answers (order status, cancel/replace, balances,
//! positions, exchange filters), as JSON mutated byte by byte. `Err` is a broken promise,
//! a panic a crash, `Ok` a coarse outcome name.

use execd::config::Registry;
use execd::model::fixed::Qty;
use execd::model::ids::{AccountId, VenueId};
use execd::venue::bridge::binance::{self, Flavor, StreamState, Symbols};
use execd::venue::VenueEventKind;
use serde_json::Value;
use std::sync::OnceLock;

/// Tokens of Binance's JSON worth inserting: keys the mapping reads, its enumerations,
/// and numbers at the edges of what fits.
pub const BINANCE_TOKENS: &[&[u8]] = &[
    b"\"e\":",
    b"\"executionReport\"",
    b"\"ORDER_TRADE_UPDATE\"",
    b"\"ACCOUNT_UPDATE\"",
    b"\"outboundAccountPosition\"",
    b"\"ALGO_UPDATE\"",
    b"\"x\":",
    b"\"X\":",
    b"\"TRADE\"",
    b"\"NEW\"",
    b"\"CANCELED\"",
    b"\"REPLACED\"",
    b"\"EXPIRED\"",
    b"\"REJECTED\"",
    b"\"PARTIALLY_FILLED\"",
    b"\"FILLED\"",
    b"\"L\":",
    b"\"l\":",
    b"\"z\":",
    b"\"n\":",
    b"\"N\":",
    b"\"t\":",
    b"\"c\":",
    b"\"C\":",
    b"\"s\":",
    b"\"executedQty\":",
    b"\"origQty\":",
    b"\"cummulativeQuoteQty\":",
    b"\"avgPrice\":",
    b"\"positionAmt\":",
    b"\"walletBalance\":",
    b"\"cancelResponse\":",
    b"\"BTCUSDT\"",
    b"\"1-42-0\"",
    b"\"0\"",
    b"\"-0.001\"",
    b"\"0.00000001\"",
    b"\"92233720368.54775807\"",
    b"\"99999999999999999999\"",
    b"\"1e3\"",
    b"\"NaN\"",
    b"9223372036854775807",
    b"-1",
    b"null",
    b"[]",
    b"{}",
    b",",
    b"\"",
];

fn registry() -> &'static (Registry, Symbols) {
    static R: OnceLock<(Registry, Symbols)> = OnceLock::new();
    R.get_or_init(|| {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/binance-sim.toml"),
        )
        .expect("examples/binance-sim.toml");
        let reg = Registry::from_toml(&text).expect("the example configuration loads");
        let syms = Symbols::of(&reg, VenueId(0));
        (reg, syms)
    })
}

/// What a fill the mapping hands the core must be: a price, a quantity, and a
/// cumulative quantity that includes it.
fn check_fills(out: &[VenueEventKind]) -> Result<(), String> {
    for k in out {
        if let VenueEventKind::Fill { px, qty, cum, .. } = k {
            if px.0 <= 0 || qty.0 <= 0 || cum.is_some_and(|c| c.0 < qty.0) {
                return Err(format!("a fill the core would book: {k:?}"));
            }
        }
    }
    Ok(())
}

/// One JSON document through every reader of the bridge, as the exchange could send it
/// on any channel.
pub fn binance_target(input: &[u8]) -> Result<String, String> {
    let Ok(v) = serde_json::from_slice::<Value>(input) else {
        return Ok("not json".into());
    };
    let (reg, syms) = registry();
    let mut outcome = Vec::new();
    // The same event twice on one stream state: a replay after a reconnect.
    let mut st = StreamState::default();
    let mut out = Vec::new();
    for _ in 0..2 {
        let ok = binance::user_event(syms, &mut st, AccountId(0), &v, &mut out);
        outcome.push(if ok { "user" } else { "user-invalid" });
    }
    check_fills(&out)?;
    if let Some(k) = out.first() {
        outcome.push(kind_name(k));
    }
    if binance::book_ticker(syms, &v, 1).is_some() {
        outcome.push("quote");
    }
    for flavor in [Flavor::Spot, Flavor::Usdm] {
        if let Some((_, _, _, cum, avg)) = binance::order_status(flavor, syms, &v) {
            if cum.0 < 0 || avg.0 < 0 {
                return Err(format!("a status answer read as cum {cum:?} avg {avg:?}"));
            }
            outcome.push("status");
        }
        let mut out = Vec::new();
        if binance::balances(flavor, syms, AccountId(0), &v, &mut out) {
            outcome.push("balances");
        }
    }
    let earlier = binance::earlier_fills(syms, Qty(1_000), &v);
    if !(0..=1_000).contains(&earlier) {
        return Err(format!("earlier venue orders filled {earlier} of 1000"));
    }
    if binance::filled_at_replace(syms, Qty(1_000), &v).is_some() {
        outcome.push("replace");
    }
    let mut out = Vec::new();
    if binance::positions(syms, AccountId(0), &v, &mut out) {
        outcome.push("positions");
    }
    if binance::check_filters(reg, VenueId(0), &v).is_ok() {
        outcome.push("filters");
    }
    if binance::algo_state(&v).is_some() {
        outcome.push("algo");
    }
    Ok(outcome.join(","))
}

fn kind_name(k: &VenueEventKind) -> &'static str {
    match k {
        VenueEventKind::Ack { .. } => "ack",
        VenueEventKind::Fill { .. } => "fill",
        VenueEventKind::Canceled { .. } => "canceled",
        VenueEventKind::Rejected { .. } => "rejected",
        VenueEventKind::Expired { .. } => "expired",
        _ => "other",
    }
}
