//! Read-only shapes: exchangeInfo, spot account, USDⓈ-M account / positionRisk / balance.

use crate::decimal as dec;
use crate::exchange::{Exchange, Protocol};
use crate::server::App;
use serde_json::{json, Value};

pub(crate) fn exchange_info(app: &App, ex: &Exchange, only: Option<&str>, now: i64) -> Value {
    let s8 = |v: i64| dec::fixed(v, 8);
    let symbols: Vec<Value> = ex
        .symbols
        .iter()
        .filter(|s| only.is_none_or(|o| o == s.name))
        .map(|s| match ex.proto {
            Protocol::Spot => json!({
                "symbol": s.name, "status": "TRADING", "baseAsset": s.base,
                "baseAssetPrecision": 8, "quoteAsset": s.quote, "quotePrecision": 8,
                "quoteAssetPrecision": 8, "baseCommissionPrecision": 8,
                "quoteCommissionPrecision": 8,
                "orderTypes": ["LIMIT", "MARKET", "STOP_LOSS_LIMIT"],
                "icebergAllowed": false, "ocoAllowed": false, "otoAllowed": false,
                "quoteOrderQtyMarketAllowed": false, "allowTrailingStop": false,
                "cancelReplaceAllowed": true, "amendAllowed": false, "pegInstructionsAllowed": false,
                "isSpotTradingAllowed": true, "isMarginTradingAllowed": false,
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": s8(s.tick), "maxPrice": s8(crate::exchange::MAX_PRICE), "tickSize": s8(s.tick)},
                    {"filterType": "LOT_SIZE", "minQty": s8(s.min_qty), "maxQty": s8(s.max_qty), "stepSize": s8(s.step)},
                    {"filterType": "MARKET_LOT_SIZE", "minQty": s8(s.min_qty), "maxQty": s8(s.max_qty), "stepSize": s8(s.step)},
                    {"filterType": "NOTIONAL", "minNotional": s8(s.min_notional), "applyMinToMarket": true,
                     "maxNotional": s8(9_000_000 * dec::SCALE), "applyMaxToMarket": false, "avgPriceMins": 5}
                ],
                "permissions": [], "permissionSets": [["SPOT"]],
                "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
                "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH", "DECREMENT"]
            }),
            Protocol::Usdm => {
                let t = |v: i64| dec::trim(v);
                json!({
                    "symbol": s.name, "pair": s.name, "contractType": "PERPETUAL",
                    "deliveryDate": 4133404800000_i64, "onboardDate": 1569398400000_i64,
                    "status": "TRADING", "maintMarginPercent": "2.5000", "requiredMarginPercent": "5.0000",
                    "baseAsset": s.base, "quoteAsset": s.quote, "marginAsset": s.quote,
                    "pricePrecision": dec::places(s.tick), "quantityPrecision": dec::places(s.step),
                    "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN",
                    "underlyingSubType": [], "settlePlan": 0, "triggerProtect": "0.0500",
                    "liquidationFee": "0.012500", "marketTakeBound": "0.05", "maxMoveOrderLimit": 10000,
                    "filters": [
                        {"filterType": "PRICE_FILTER", "minPrice": t(s.tick), "maxPrice": t(crate::exchange::MAX_PRICE), "tickSize": t(s.tick)},
                        {"filterType": "LOT_SIZE", "minQty": t(s.min_qty), "maxQty": t(s.max_qty), "stepSize": t(s.step)},
                        {"filterType": "MARKET_LOT_SIZE", "minQty": t(s.min_qty), "maxQty": t(s.max_qty), "stepSize": t(s.step)},
                        {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                        {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
                        {"filterType": "MIN_NOTIONAL", "notional": t(s.min_notional)},
                        {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500", "multiplierDecimal": "4"}
                    ],
                    "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"],
                    "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"]
                })
            }
        })
        .collect();
    let st = &app.settings;
    let mut rate_limits = vec![
        json!({"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": st.weight_limit}),
        json!({"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": st.order_limit_10s}),
    ];
    let mut j = match ex.proto {
        Protocol::Spot => {
            rate_limits.push(json!({"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": st.order_limit_long}));
            rate_limits.push(json!({"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000}));
            json!({"timezone": "UTC", "serverTime": now, "exchangeFilters": [], "symbols": symbols})
        }
        Protocol::Usdm => {
            rate_limits.push(json!({"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": st.order_limit_long}));
            json!({
                "timezone": "UTC", "serverTime": now, "futuresType": "U_MARGINED", "exchangeFilters": [],
                "assets": [{"asset": "USDT", "marginAvailable": true, "autoAssetExchange": "-10000"}],
                "symbols": symbols
            })
        }
    };
    j["rateLimits"] = Value::Array(rate_limits);
    j
}

pub(crate) fn spot_account(ex: &Exchange, omit_zero: bool, now: i64) -> Value {
    let bps = ex.commission_bps;
    let rate = dec::fixed(bps * dec::SCALE / 10_000, 8);
    let balances: Vec<Value> = ex
        .balances
        .iter()
        .filter(|(_, (f, l))| !omit_zero || *f != 0 || *l != 0)
        .map(|(a, (f, l))| json!({"asset": a, "free": dec::fixed(*f, 8), "locked": dec::fixed(*l, 8)}))
        .collect();
    json!({
        "makerCommission": bps, "takerCommission": bps, "buyerCommission": 0, "sellerCommission": 0,
        "commissionRates": {"maker": rate, "taker": rate, "buyer": "0.00000000", "seller": "0.00000000"},
        "canTrade": true, "canWithdraw": true, "canDeposit": true, "brokered": false,
        "requireSelfTradePrevention": false, "preventSor": false, "updateTime": now,
        "accountType": "SPOT", "balances": balances, "permissions": ["SPOT"], "uid": 1
    })
}

fn position_rows(
    ex: &Exchange,
    only: Option<&str>,
    nonzero: bool,
) -> Vec<(usize, crate::exchange::Position)> {
    (0..ex.symbols.len())
        .filter(|i| only.is_none_or(|o| o == ex.symbols[*i].name))
        .map(|i| (i, ex.positions.get(&i).copied().unwrap_or_default()))
        .filter(|(_, p)| !nonzero || p.amt != 0)
        .collect()
}

pub(crate) fn futures_account(ex: &Exchange, v3: bool, now: i64) -> Value {
    let t = |v: i64| dec::trim(v);
    let l = ex.leverage.max(1);
    let upnl: i64 = (0..ex.symbols.len()).map(|i| ex.unrealized_of(i)).sum();
    let pos_im: i64 = ex
        .positions
        .values()
        .map(|p| dec::mul(p.amt.abs(), p.entry).unwrap_or(0) / l)
        .sum();
    let avail = ex.available();
    let ord_im = ex.wallet - avail - pos_im;
    let positions: Vec<Value> = position_rows(ex, None, v3)
        .into_iter()
        .map(|(i, p)| {
            let s = &ex.symbols[i];
            let notional = dec::mul(p.amt, s.path.mid).unwrap_or(0);
            let mut j = json!({
                "symbol": s.name, "positionSide": "BOTH", "positionAmt": t(p.amt),
                "unrealizedProfit": t(ex.unrealized_of(i)), "isolatedMargin": "0", "notional": t(notional),
                "isolatedWallet": "0", "initialMargin": t(notional.abs() / l), "maintMargin": "0", "updateTime": now
            });
            if !v3 {
                j["leverage"] = json!(ex.leverage.to_string());
                j["isolated"] = json!(false);
                j["entryPrice"] = json!(t(p.entry));
                j["breakEvenPrice"] = json!(t(p.entry));
            }
            j
        })
        .collect();
    json!({
        "totalInitialMargin": t(pos_im + ord_im), "totalMaintMargin": "0",
        "totalWalletBalance": t(ex.wallet), "totalUnrealizedProfit": t(upnl),
        "totalMarginBalance": t(ex.wallet + upnl), "totalPositionInitialMargin": t(pos_im),
        "totalOpenOrderInitialMargin": t(ord_im), "totalCrossWalletBalance": t(ex.wallet),
        "totalCrossUnPnl": t(upnl), "availableBalance": t(avail), "maxWithdrawAmount": t(avail),
        "assets": [{
            "asset": "USDT", "walletBalance": t(ex.wallet), "unrealizedProfit": t(upnl),
            "marginBalance": t(ex.wallet + upnl), "maintMargin": "0", "initialMargin": t(pos_im + ord_im),
            "positionInitialMargin": t(pos_im), "openOrderInitialMargin": t(ord_im),
            "crossWalletBalance": t(ex.wallet), "crossUnPnl": t(upnl), "availableBalance": t(avail),
            "maxWithdrawAmount": t(avail), "updateTime": now
        }],
        "positions": positions
    })
}

pub(crate) fn position_risk(ex: &Exchange, only: Option<&str>, v3: bool, now: i64) -> Value {
    let t = |v: i64| dec::trim(v);
    let l = ex.leverage.max(1);
    Value::Array(
        position_rows(ex, only, v3)
            .into_iter()
            .map(|(i, p)| {
                let s = &ex.symbols[i];
                let notional = dec::mul(p.amt, s.path.mid).unwrap_or(0);
                let mut j = json!({
                    "symbol": s.name, "positionSide": "BOTH", "positionAmt": t(p.amt),
                    "entryPrice": t(p.entry), "breakEvenPrice": t(p.entry), "markPrice": t(s.path.mid),
                    "unRealizedProfit": t(ex.unrealized_of(i)), "liquidationPrice": "0",
                    "isolatedMargin": "0", "notional": t(notional), "marginAsset": "USDT",
                    "isolatedWallet": "0", "initialMargin": t(notional.abs() / l), "maintMargin": "0",
                    "positionInitialMargin": t(notional.abs() / l), "openOrderInitialMargin": "0",
                    "adl": 0, "bidNotional": "0", "askNotional": "0", "updateTime": now
                });
                if !v3 {
                    j["leverage"] = json!(ex.leverage.to_string());
                    j["marginType"] = json!("cross");
                    j["isAutoAddMargin"] = json!("false");
                    j["maxNotionalValue"] = json!("1000000000");
                }
                j
            })
            .collect(),
    )
}

pub(crate) fn futures_balance(ex: &Exchange, now: i64) -> Value {
    let t = |v: i64| dec::trim(v);
    let upnl: i64 = (0..ex.symbols.len()).map(|i| ex.unrealized_of(i)).sum();
    json!([{
        "accountAlias": "SgsR", "asset": "USDT", "balance": t(ex.wallet), "crossWalletBalance": t(ex.wallet),
        "crossUnPnl": t(upnl), "availableBalance": t(ex.available()), "maxWithdrawAmount": t(ex.available()),
        "marginAvailable": true, "updateTime": now
    }])
}
