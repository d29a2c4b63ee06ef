//! FIX in: NewOrderSingle, OrderCancelRequest, OrderCancelReplaceRequest,
//! OrderStatusRequest and MarketDataSnapshotFullRefresh read into what the core takes.
//! Every value is parsed with checked arithmetic into its range; what does not fit, or
//! asks for something execd does not do, is refused with a `CODE: sentence` text —
//! never guessed at, never a panic.

use super::book::ClientId;
use super::reports::{Echo, Rej};
use super::settings::EntrySpec;
use crate::model::fixed::Dec;
use crate::model::ids::{Name, OrderType, RequestId, Side, Tif};
use crate::model::request::{ExecutionRequest, UpstreamContext};
use crate::venue::fix::codec::Msg;
use crate::venue::fix::tag;
use crate::venue::fix::time::parse_utc_timestamp;

/// Why a message is refused without reaching the core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// `CLORDID_TOO_LONG`, `BAD_FIELD` …
    pub code: &'static str,
    /// For a human.
    pub text: String,
    /// OrdRejReason, when it becomes a rejected ExecutionReport.
    pub rej: Rej,
}

impl Refusal {
    fn new(code: &'static str, rej: Rej, text: String) -> Refusal {
        Refusal { code, text, rej }
    }
    /// `CODE: sentence`.
    pub fn message(&self) -> String {
        format!("{}: {}", self.code, self.text)
    }
}

/// Instructions execd does not carry out: an order that carries one is refused rather
/// than executed differently from what was asked.
const UNSUPPORTED: [(u32, &str); 7] = [
    (18, "ExecInst"),
    (110, "MinQty"),
    (111, "MaxFloor"),
    (152, "CashOrderQty"),
    (211, "PegOffsetValue"),
    (388, "DiscretionInst"),
    (847, "TargetStrategy"),
];

fn show(v: &[u8]) -> String {
    let s = String::from_utf8_lossy(&v[..v.len().min(40)]).into_owned();
    if v.len() > 40 {
        format!("{s:?}…")
    } else {
        format!("{s:?}")
    }
}

fn missing(name: &str, tag: u32) -> Refusal {
    Refusal::new(
        "MISSING_FIELD",
        Rej::Other,
        format!("{name}({tag}) is required"),
    )
}

fn bad(name: &str, tag: u32, v: &[u8], why: &str) -> Refusal {
    Refusal::new(
        "BAD_FIELD",
        Rej::Other,
        format!("{name}({tag}) {}: {why}", show(v)),
    )
}

fn unsupported(name: &str, tag: u32, v: &[u8], what: &str) -> Refusal {
    Refusal::new(
        "UNSUPPORTED",
        Rej::Unsupported,
        format!("{name}({tag}) {} is not supported ({what})", show(v)),
    )
}

fn required<'a>(m: &Msg<'a>, tag: u32, name: &str) -> Result<&'a [u8], Refusal> {
    m.get(tag).ok_or_else(|| missing(name, tag))
}

fn decimal(m: &Msg<'_>, tag: u32, name: &str) -> Result<Option<Dec>, Refusal> {
    match m.get(tag) {
        None => Ok(None),
        Some(v) => Dec::parse_bytes(v)
            .map(Some)
            .map_err(|_| bad(name, tag, v, "not a decimal that fits 18 digits")),
    }
}

fn name_of(m: &Msg<'_>, tag: u32, field: &str, default: Option<Name>) -> Result<Name, Refusal> {
    match (m.get(tag), default) {
        (Some(v), _) => Name::from_bytes(v).map_err(|_| {
            Refusal::new(
                "BAD_FIELD",
                if tag == 55 {
                    Rej::UnknownSymbol
                } else {
                    Rej::Other
                },
                format!(
                    "{field}({tag}) {}: longer than 16 characters, so not configured",
                    show(v)
                ),
            )
        }),
        (None, Some(d)) => Ok(d),
        (None, None) => Err(missing(field, tag)),
    }
}

/// Side (54): buy or sell; short sales are refused (the gate knows no locate).
pub fn side(m: &Msg<'_>) -> Result<Side, Refusal> {
    match required(m, 54, "Side")? {
        b"1" => Ok(Side::Buy),
        b"2" => Ok(Side::Sell),
        v => Err(unsupported("Side", 54, v, "1 buy and 2 sell are")),
    }
}

/// OrdType (40).
pub fn ord_type(m: &Msg<'_>) -> Result<OrderType, Refusal> {
    match required(m, 40, "OrdType")? {
        b"1" => Ok(OrderType::Market),
        b"2" => Ok(OrderType::Limit),
        b"3" => Ok(OrderType::Stop),
        b"4" => Ok(OrderType::StopLimit),
        v => Err(unsupported(
            "OrdType",
            40,
            v,
            "1 market, 2 limit, 3 stop, 4 stop limit are",
        )),
    }
}

fn tif(m: &Msg<'_>) -> Result<Tif, Refusal> {
    match m.get(tag::TIME_IN_FORCE) {
        None | Some(b"0") => Ok(Tif::Day),
        Some(b"1") => Ok(Tif::Gtc),
        Some(b"3") => Ok(Tif::Ioc),
        Some(b"4") => Ok(Tif::Fok),
        Some(v) => Err(unsupported(
            "TimeInForce",
            59,
            v,
            "0 day, 1 GTC, 3 IOC, 4 FOK are",
        )),
    }
}

/// FIX characters of the model's values, for echoing.
pub fn side_char(s: Side) -> u8 {
    match s {
        Side::Buy => b'1',
        Side::Sell => b'2',
    }
}

/// OrdType (40) of an order type.
pub fn ord_type_char(t: OrderType) -> u8 {
    match t {
        OrderType::Market => b'1',
        OrderType::Limit => b'2',
        OrderType::Stop => b'3',
        OrderType::StopLimit => b'4',
    }
}

/// TimeInForce (59) of a time in force.
pub fn tif_char(t: Tif) -> u8 {
    match t {
        Tif::Day => b'0',
        Tif::Gtc => b'1',
        Tif::Ioc => b'3',
        Tif::Fok => b'4',
    }
}

/// The request id of a ClOrdID on this session: `<name>:<ClOrdID>`.
pub fn request_id(name: &Name, cl: &[u8]) -> Option<RequestId> {
    let mut b = [0u8; 32];
    let n = name.as_bytes().len();
    if n + 1 + cl.len() > b.len() {
        return None;
    }
    b[..n].copy_from_slice(name.as_bytes());
    b[n] = b':';
    b[n + 1..n + 1 + cl.len()].copy_from_slice(cl);
    RequestId::from_bytes(&b[..n + 1 + cl.len()]).ok()
}

/// A ClOrdID as the gateway keeps it, or why it cannot be one.
pub fn client_id(name: &Name, cl: &[u8]) -> Result<ClientId, Refusal> {
    if cl.is_empty() {
        return Err(missing("ClOrdID", 11));
    }
    let max = 31 - name.as_bytes().len();
    if cl.len() > max {
        return Err(Refusal::new(
            "CLORDID_TOO_LONG",
            Rej::Other,
            format!(
                "ClOrdID(11) {} is longer than {max} characters: it would not fit execd's request id",
                show(cl)
            ),
        ));
    }
    match ClientId::from_bytes(cl) {
        Ok(c) if request_id(name, cl).is_some() => Ok(c),
        _ => Err(bad("ClOrdID", 11, cl, "not UTF-8 text")),
    }
}

/// A value echoed back in a report (ids, symbols); `None` when it is too long to echo.
pub fn echo(v: &[u8]) -> Option<Echo> {
    Echo::from_bytes(v).ok()
}

/// Refuses orders carrying instructions execd does not carry out.
fn no_unsupported(m: &Msg<'_>) -> Result<(), Refusal> {
    for (tag, name) in UNSUPPORTED {
        if let Some(v) = m.get(tag) {
            return Err(unsupported(
                name,
                tag,
                v,
                "execd would not execute the order as asked",
            ));
        }
    }
    Ok(())
}

/// A NewOrderSingle as an execution request for this session.
pub fn new_order(
    m: &Msg<'_>,
    spec: &EntrySpec,
    cl: &ClientId,
) -> Result<ExecutionRequest, Refusal> {
    let request_id = request_id(&spec.name, cl.as_bytes())
        .ok_or_else(|| bad("ClOrdID", 11, cl.as_bytes(), "does not fit a request id"))?;
    no_unsupported(m)?;
    let symbol = name_of(m, 55, "Symbol", None)?;
    let side = side(m)?;
    let qty_raw = required(m, 38, "OrderQty")?;
    let quantity = decimal(m, 38, "OrderQty")?.unwrap_or_default();
    if quantity.mant <= 0 {
        return Err(Refusal::new(
            "BAD_QUANTITY",
            Rej::IncorrectQty,
            format!("OrderQty(38) {} must be greater than zero", show(qty_raw)),
        ));
    }
    let order_type = ord_type(m)?;
    let tif = tif(m)?;
    let limit_price = decimal(m, 44, "Price")?;
    let stop_price = decimal(m, 99, "StopPx")?;
    let account = name_of(m, 1, "Account", Some(spec.account))?;
    let venue = name_of(m, 100, "ExDestination", Some(spec.venue))?;
    let expire_at_ns = match m.get(tag::EXPIRE_TIME) {
        None => None,
        Some(v) => Some(
            parse_utc_timestamp(v)
                .ok_or_else(|| bad("ExpireTime", 126, v, "not a UTCTimestamp"))?,
        ),
    };
    Ok(ExecutionRequest {
        request_id,
        account,
        venue,
        symbol,
        side,
        quantity,
        order_type,
        tif,
        limit_price,
        stop_price,
        stop_loss: None,
        take_profit: None,
        reference_price: None,
        max_slippage_bps: None,
        reject_on_fill_slippage: false,
        expire_at_ns,
        context: UpstreamContext {
            decision_id: RequestId::from_bytes(cl.as_bytes()).unwrap_or_default(),
            strategy: spec.name,
            risk_approved: spec.risk_approved,
            ..Default::default()
        },
    })
}

/// What a cancel/replace asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Amend {
    /// New total quantity.
    pub qty: Dec,
    /// New limit (the stop of a stop order), if the order has one.
    pub px: Option<Dec>,
}

/// An OrderCancelReplaceRequest against the order `req` (its side, symbol and type
/// cannot change; its quantity and price can).
pub fn amend(m: &Msg<'_>, req: &ExecutionRequest) -> Result<Amend, Refusal> {
    no_unsupported(m)?;
    let mismatch = |what: &str| {
        Refusal::new(
            "FIELD_MISMATCH",
            Rej::Other,
            format!("{what} cannot change in a replace; cancel and send a new order"),
        )
    };
    if side(m)? != req.side {
        return Err(mismatch("Side(54)"));
    }
    if let Some(s) = m.get(tag::SYMBOL) {
        if s != req.symbol.as_bytes() {
            return Err(mismatch("Symbol(55)"));
        }
    }
    if let Some(_v) = m.get(tag::ORD_TYPE) {
        if ord_type(m)? != req.order_type {
            return Err(mismatch("OrdType(40)"));
        }
    }
    let qty_raw = required(m, 38, "OrderQty")?;
    let qty = decimal(m, 38, "OrderQty")?.unwrap_or_default();
    if qty.mant <= 0 {
        return Err(Refusal::new(
            "BAD_QUANTITY",
            Rej::IncorrectQty,
            format!("OrderQty(38) {} must be greater than zero", show(qty_raw)),
        ));
    }
    let limit = decimal(m, 44, "Price")?;
    let stop = decimal(m, 99, "StopPx")?;
    let px = match req.order_type {
        OrderType::Market => None,
        OrderType::Limit => Some(limit.ok_or_else(|| missing("Price", 44))?),
        OrderType::Stop => Some(stop.ok_or_else(|| missing("StopPx", 99))?),
        OrderType::StopLimit => {
            if stop.is_some_and(|s| Some(s) != req.stop_price) {
                return Err(Refusal::new(
                    "UNSUPPORTED",
                    Rej::Unsupported,
                    "the stop of a stop limit order cannot be amended (its limit can)".into(),
                ));
            }
            Some(limit.ok_or_else(|| missing("Price", 44))?)
        }
    };
    Ok(Amend { qty, px })
}

/// A top of book from upstream (MarketDataSnapshotFullRefresh): bid, ask and their
/// sizes (0 = unknown).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TopOfBook {
    /// The instrument, as configured.
    pub symbol: Name,
    /// Best bid.
    pub bid: Dec,
    /// Best offer.
    pub ask: Dec,
    /// Size at the bid.
    pub bid_size: Dec,
    /// Size at the offer.
    pub ask_size: Dec,
}

/// The first bid (269=0) and first offer (269=1) of a snapshot's NoMDEntries (268).
pub fn top_of_book(m: &Msg<'_>) -> Result<TopOfBook, Refusal> {
    let symbol = name_of(m, 55, "Symbol", None)?;
    let mut bid: (Option<Dec>, Dec) = (None, Dec::default());
    let mut ask: (Option<Dec>, Dec) = (None, Dec::default());
    // Which side the fields after the last MDEntryType (269) belong to.
    let mut side = 0u8;
    for f in m.fields() {
        let num = || {
            Dec::parse_bytes(f.value).map_err(|_| bad("MDEntry", f.tag, f.value, "not a decimal"))
        };
        match f.tag {
            269 => side = f.value.first().copied().unwrap_or(0),
            270 => match side {
                b'0' if bid.0.is_none() => bid.0 = Some(num()?),
                b'1' if ask.0.is_none() => ask.0 = Some(num()?),
                _ => {}
            },
            271 => match side {
                b'0' if bid.1 == Dec::default() => bid.1 = num()?,
                b'1' if ask.1 == Dec::default() => ask.1 = num()?,
                _ => {}
            },
            _ => {}
        }
    }
    match (bid.0, ask.0) {
        (Some(b), Some(a)) => Ok(TopOfBook {
            symbol,
            bid: b,
            ask: a,
            bid_size: bid.1,
            ask_size: ask.1,
        }),
        _ => Err(Refusal::new(
            "MISSING_FIELD",
            Rej::Other,
            "a snapshot needs a bid (269=0) and an offer (269=1), each with MDEntryPx(270)".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::venue::fix::codec::{Decoder, Encoder};

    fn spec() -> EntrySpec {
        let c: super::super::settings::OrderEntryConfig = toml::from_str(
            "name = \"desk\"\naccount = \"alpha\"\nvenue = \"sim\"\nrisk_approved = true\n[fix]\nSocketAcceptPort = 1\nSenderCompID = \"E\"\nTargetCompID = \"C\"\n",
        )
        .unwrap();
        c.check().unwrap()
    }

    fn with(fields: &[(u32, &str)], f: impl FnOnce(&Msg<'_>)) {
        let mut e = Encoder::new("FIX.4.4", 1024);
        e.start(b"D").uint(tag::MSG_SEQ_NUM, 7);
        for (t, v) in fields {
            e.bytes(*t, v.as_bytes());
        }
        let frame = e.finish().to_vec();
        let mut d = Decoder::new();
        let m = d.decode(&frame).unwrap();
        f(&m);
    }

    const LIMIT: [(u32, &str); 6] = [
        (11, "o1"),
        (38, "100"),
        (40, "2"),
        (44, "101.25"),
        (54, "1"),
        (55, "AAPL"),
    ];

    #[test]
    fn a_limit_order_with_the_session_defaults() {
        with(&LIMIT, |m| {
            let cl = client_id(&spec().name, b"o1").unwrap();
            let r = new_order(m, &spec(), &cl).unwrap();
            assert_eq!(r.request_id.as_str(), "desk:o1");
            assert_eq!((r.account.as_str(), r.venue.as_str()), ("alpha", "sim"));
            assert_eq!(r.order_type, OrderType::Limit);
            assert_eq!(r.tif, Tif::Day);
            assert_eq!(r.limit_price, Some(Dec::new(10_125, 2)));
            assert!(r.context.risk_approved);
        });
    }

    #[test]
    fn what_does_not_fit_is_refused_with_its_field() {
        let mut f = LIMIT.to_vec();
        f[1] = (38, "99999999999999999999");
        with(&f, |m| {
            let e = new_order(m, &spec(), &ClientId::new("o1").unwrap()).unwrap_err();
            assert_eq!(e.code, "BAD_FIELD");
            assert!(e.text.contains("OrderQty(38)"), "{}", e.text);
        });
        f[1] = (38, "0");
        with(&f, |m| {
            let e = new_order(m, &spec(), &ClientId::new("o1").unwrap()).unwrap_err();
            assert_eq!(e.code, "BAD_QUANTITY");
        });
        let mut f = LIMIT.to_vec();
        f.push((59, "6"));
        with(&f, |m| {
            let e = new_order(m, &spec(), &ClientId::new("o1").unwrap()).unwrap_err();
            assert_eq!((e.code, e.rej), ("UNSUPPORTED", Rej::Unsupported));
        });
        let mut f = LIMIT.to_vec();
        f.push((111, "10"));
        with(&f, |m| {
            let e = new_order(m, &spec(), &ClientId::new("o1").unwrap()).unwrap_err();
            assert!(e.text.contains("MaxFloor(111)"), "{}", e.text);
        });
        let mut f = LIMIT.to_vec();
        f[5] = (55, "A-VERY-LONG-SYMBOL-NAME");
        with(&f, |m| {
            let e = new_order(m, &spec(), &ClientId::new("o1").unwrap()).unwrap_err();
            assert_eq!(e.rej, Rej::UnknownSymbol);
        });
        // "desk:" leaves 27 of the request id's 32 bytes.
        let e = client_id(&spec().name, &[b'x'; 28]).unwrap_err();
        assert_eq!(e.code, "CLORDID_TOO_LONG");
        assert!(client_id(&spec().name, &[b'x'; 27]).is_ok());
    }

    #[test]
    fn replaces_keep_side_symbol_and_type() {
        let cl = ClientId::new("o1").unwrap();
        let mut req = None;
        with(&LIMIT, |m| req = Some(new_order(m, &spec(), &cl).unwrap()));
        let req = req.unwrap();
        let mut f = LIMIT.to_vec();
        f[1] = (38, "150");
        f[3] = (44, "100.5");
        with(&f, |m| {
            assert_eq!(
                amend(m, &req).unwrap(),
                Amend {
                    qty: Dec::new(150, 0),
                    px: Some(Dec::new(1005, 1))
                }
            );
        });
        f[4] = (54, "2");
        with(&f, |m| {
            assert_eq!(amend(m, &req).unwrap_err().code, "FIELD_MISMATCH")
        });
    }

    #[test]
    fn a_snapshot_gives_the_top_of_book() {
        let f = [
            (55, "AAPL"),
            (268, "2"),
            (269, "0"),
            (270, "99.99"),
            (271, "500"),
            (269, "1"),
            (270, "100.01"),
        ];
        with(&f, |m| {
            let t = top_of_book(m).unwrap();
            assert_eq!((t.bid, t.ask), (Dec::new(9999, 2), Dec::new(10_001, 2)));
            assert_eq!((t.bid_size, t.ask_size), (Dec::new(500, 0), Dec::default()));
        });
        with(&f[..5], |m| assert!(top_of_book(m).is_err()));
    }
}
