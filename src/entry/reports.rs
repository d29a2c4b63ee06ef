//! What goes back to the client: ExecutionReports (35=8), OrderCancelRejects (35=9) and
//! BusinessMessageRejects (35=j), and how each FIX version writes them.
//!
//! Bodies are written in tag order, as QuickFIX writes them. FIX 4.2 has no ExecType F
//! or I: a fill is ExecType 1 or 2 (partial, full) and a status answer ExecTransType 3
//! with ExecType = OrdStatus; reject reasons are limited to the values each version
//! defines.

use super::book::{ClientId, View};
use crate::model::fixed::Dec;
use crate::model::ids::{OrderId, ShortStr};
use crate::model::reason::Reason;
use crate::venue::fix::codec::Encoder;
use crate::venue::fix::tag;
use std::borrow::Cow;
use std::io::Write;

/// Which FIX the session speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// FIX 4.2.
    Fix42,
    /// FIX 4.4.
    Fix44,
    /// FIX 5.0SP2 over FIXT.1.1.
    Fix50,
}

impl Version {
    /// From the BeginString.
    pub fn of(begin: &str) -> Version {
        match begin {
            "FIX.4.2" => Version::Fix42,
            "FIXT.1.1" => Version::Fix50,
            _ => Version::Fix44,
        }
    }
}

/// An ExecID: derived from the core's facts (order, kind, execution), so a report sent
/// again after a restart carries the same one and a client can de-duplicate.
pub type ExecId = ShortStr<200>;

/// An id, symbol or account echoed from the client's message (longer ones are answered
/// with a BusinessMessageReject: they cannot be echoed).
pub type Echo = ShortStr<128>;

/// `<order>-<kind>` with an optional suffix: `17-0`, `17-F-9c3a…`, `17-5-ord2`.
pub fn exec_id(order: u64, kind: &str, suffix: std::fmt::Arguments<'_>) -> ExecId {
    let mut b = [0u8; 200];
    let mut w = &mut b[..];
    let _ = write!(w, "{order}-{kind}");
    let _ = w.write_fmt(suffix);
    let n = 200 - w.len();
    ExecId::from_bytes(&b[..n]).unwrap_or_default()
}

/// The ExecID of a report the gateway makes without the core (a refused message):
/// `R-<ClOrdID>-<MsgSeqNum>`, the same for the same message.
pub fn refusal_exec_id(cl: &[u8], in_seq: u64) -> ExecId {
    let mut b = [0u8; 200];
    let mut w = &mut b[..];
    let _ = w.write_all(b"R-");
    let _ = w.write_all(&cl[..cl.len().min(160)]);
    let _ = write!(w, "-{in_seq}");
    let n = 200 - w.len();
    ExecId::from_bytes(&b[..n]).unwrap_or_default()
}

/// OrdRejReason (103), by meaning; [`Rej::code`] gives the value a version defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rej {
    /// 1.
    UnknownSymbol,
    /// 2.
    ExchangeClosed,
    /// 3.
    ExceedsLimit,
    /// 4.
    TooLate,
    /// 5.
    UnknownOrder,
    /// 6.
    Duplicate,
    /// 11 (4.4 and later).
    Unsupported,
    /// 13 (4.4 and later).
    IncorrectQty,
    /// 99 (4.4 and later); 0 "broker option" in 4.2.
    Other,
}

impl Rej {
    /// The value of tag 103 in `v`.
    pub fn code(self, v: Version) -> u64 {
        let modern = v != Version::Fix42;
        match self {
            Rej::UnknownSymbol => 1,
            Rej::ExchangeClosed => 2,
            Rej::ExceedsLimit => 3,
            Rej::TooLate => 4,
            Rej::UnknownOrder => 5,
            Rej::Duplicate => 6,
            Rej::Unsupported if modern => 11,
            Rej::IncorrectQty if modern => 13,
            _ if modern => 99,
            _ => 0,
        }
    }

    /// The closest OrdRejReason for a refusal of the core.
    pub fn of(r: Reason) -> Rej {
        match r {
            Reason::UnknownInstrument => Rej::UnknownSymbol,
            Reason::SessionClosed => Rej::ExchangeClosed,
            Reason::MaxOrderQty
            | Reason::MaxNotional
            | Reason::MaxPosition
            | Reason::MaxOpenOrders
            | Reason::InsufficientMargin
            | Reason::VenueFunds => Rej::ExceedsLimit,
            Reason::Expired => Rej::TooLate,
            Reason::VenueUnknownOrder | Reason::UnknownOrder => Rej::UnknownOrder,
            Reason::BadQuantity | Reason::QtyNotLot => Rej::IncorrectQty,
            _ => Rej::Other,
        }
    }
}

/// CxlRejReason (102), by meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CxlReason {
    /// 0: the order is finished.
    TooLate,
    /// 1: no such order.
    UnknownOrder,
    /// 3: a cancel or replace is already pending.
    Pending,
    /// 6 (4.4 and later): the request's ClOrdID is in use.
    Duplicate,
    /// 99 (4.4 and later); 2 "broker option" in 4.2.
    Other,
}

impl CxlReason {
    /// The value of tag 102 in `v`.
    pub fn code(self, v: Version) -> u64 {
        let modern = v != Version::Fix42;
        match self {
            CxlReason::TooLate => 0,
            CxlReason::UnknownOrder => 1,
            CxlReason::Pending => 3,
            CxlReason::Duplicate if modern => 6,
            _ if modern => 99,
            _ => 2,
        }
    }

    /// The closest CxlRejReason for a refusal of the core.
    pub fn of(r: Reason) -> CxlReason {
        match r {
            Reason::NotWorking => CxlReason::TooLate,
            Reason::UnknownOrder | Reason::VenueUnknownOrder => CxlReason::UnknownOrder,
            _ => CxlReason::Other,
        }
    }
}

/// `<REASON_CODE>: <sentence>`, the Text (58) of every refusal.
pub fn reason_text(code: &str, sentence: &str) -> Cow<'static, str> {
    Cow::Owned(format!("{code}: {sentence}"))
}

/// What a report echoes of the order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Terms {
    /// Account (1).
    pub account: Echo,
    /// Symbol (55).
    pub symbol: Echo,
    /// Side (54), as the FIX character.
    pub side: u8,
    /// OrdType (40); 0 when unknown.
    pub ord_type: u8,
    /// TimeInForce (59); 0 when unknown.
    pub tif: u8,
}

/// A quantity or price as a mantissa and its scale.
pub type Num = (i64, u8);

/// One ExecutionReport.
#[derive(Clone, Debug, PartialEq)]
pub struct Exec {
    /// ExecType (150) as FIX 4.4 writes it (`F` for fills, `I` for status).
    pub exec_type: u8,
    /// OrdStatus (39).
    pub status: u8,
    /// OrderID (37): the core's order; `NONE` when there is none.
    pub order: Option<OrderId>,
    /// ExecID (17).
    pub exec_id: ExecId,
    /// ClOrdID (11).
    pub cl: Echo,
    /// OrigClOrdID (41).
    pub orig_cl: Option<Echo>,
    /// Echoed order terms.
    pub terms: Terms,
    /// OrderQty (38).
    pub qty: Option<Dec>,
    /// Price (44).
    pub price: Option<Dec>,
    /// StopPx (99).
    pub stop_px: Option<Dec>,
    /// LastPx (31) and LastQty (32) of a fill.
    pub last: Option<(Num, Num)>,
    /// CumQty (14).
    pub cum: Num,
    /// LeavesQty (151).
    pub leaves: Num,
    /// AvgPx (6).
    pub avg: Num,
    /// Text (58); empty for none.
    pub text: Cow<'static, str>,
    /// OrdRejReason (103).
    pub rej: Option<Rej>,
    /// OrdStatusReqID (790, FIX 4.4 and later) of the request a status answer answers.
    pub status_req: Option<Echo>,
}

/// One OrderCancelReject.
#[derive(Clone, Debug, PartialEq)]
pub struct CxlReject {
    /// ClOrdID (11) of the refused request.
    pub cl: Echo,
    /// OrigClOrdID (41) it named.
    pub orig_cl: Echo,
    /// OrderID (37), or `NONE`.
    pub order: Option<OrderId>,
    /// OrdStatus (39) of the order now (8 for an unknown one).
    pub status: u8,
    /// CxlRejResponseTo (434): b'1' cancel, b'2' replace.
    pub response_to: u8,
    /// CxlRejReason (102).
    pub reason: CxlReason,
    /// Text (58).
    pub text: Cow<'static, str>,
}

/// An order's picture to record when a report about it goes out: the STATE record of
/// the order log and the book's `told`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Persist {
    /// Its slot in the book.
    pub slot: u32,
    /// Its ClOrdID (checked against the slot before writing).
    pub key: ClientId,
    /// What the client knows once the report is out.
    pub view: View,
}

/// What the gateway sends a client.
// Nearly every report is an ExecutionReport: boxing it would allocate for each one
// and save no memory.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Report {
    /// 35=8.
    Exec(Exec, Option<Persist>),
    /// 35=9.
    CxlReject(CxlReject, Option<Persist>),
    /// 35=j.
    BizReject {
        /// RefSeqNum (45).
        ref_seq: u64,
        /// RefMsgType (372).
        ref_msg_type: ShortStr<8>,
        /// BusinessRejectReason (380).
        reason: u32,
        /// Text (58).
        text: Cow<'static, str>,
    },
}

impl Report {
    /// The picture to persist when it goes out.
    pub fn persist(&self) -> Option<&Persist> {
        match self {
            Report::Exec(_, p) | Report::CxlReject(_, p) => p.as_ref(),
            Report::BizReject { .. } => None,
        }
    }
}

fn order_id(enc: &mut Encoder, order: Option<OrderId>) {
    match order {
        Some(o) => enc.uint(tag::ORDER_ID, o.0),
        None => enc.bytes(tag::ORDER_ID, b"NONE"),
    };
}

fn opt_dec(enc: &mut Encoder, tag: u32, d: Option<Dec>) {
    if let Some(d) = d {
        enc.fixed(tag, d.mant, d.scale);
    }
}

/// Writes the body of an ExecutionReport for `v`.
pub fn encode_exec(enc: &mut Encoder, v: Version, e: &Exec, now_ns: u64, micros: bool) {
    let fix42 = v == Version::Fix42;
    let exec_type = match e.exec_type {
        b'F' if fix42 => {
            if e.status == b'2' {
                b'2'
            } else {
                b'1'
            }
        }
        b'I' if fix42 => e.status,
        t => t,
    };
    if !e.terms.account.is_empty() {
        enc.bytes(tag::ACCOUNT, e.terms.account.as_bytes());
    }
    enc.fixed(tag::AVG_PX, e.avg.0, e.avg.1);
    enc.bytes(tag::CL_ORD_ID, e.cl.as_bytes());
    enc.fixed(tag::CUM_QTY, e.cum.0, e.cum.1);
    enc.bytes(tag::EXEC_ID, e.exec_id.as_bytes());
    if fix42 {
        enc.char(
            tag::EXEC_TRANS_TYPE,
            if e.exec_type == b'I' { b'3' } else { b'0' },
        );
    }
    if let Some(((px, ps), (q, qs))) = e.last {
        enc.fixed(tag::LAST_PX, px, ps).fixed(tag::LAST_QTY, q, qs);
    }
    order_id(enc, e.order);
    opt_dec(enc, 38, e.qty);
    enc.char(tag::ORD_STATUS, e.status);
    if e.terms.ord_type != 0 {
        enc.char(tag::ORD_TYPE, e.terms.ord_type);
    }
    if let Some(o) = &e.orig_cl {
        enc.bytes(tag::ORIG_CL_ORD_ID, o.as_bytes());
    }
    opt_dec(enc, 44, e.price);
    enc.char(tag::SIDE, e.terms.side);
    enc.bytes(tag::SYMBOL, e.terms.symbol.as_bytes());
    if !e.text.is_empty() {
        enc.bytes(tag::TEXT, e.text.as_bytes());
    }
    if e.terms.tif != 0 {
        enc.char(tag::TIME_IN_FORCE, e.terms.tif);
    }
    enc.timestamp(tag::TRANSACT_TIME, now_ns, micros);
    opt_dec(enc, 99, e.stop_px);
    if let Some(r) = e.rej {
        enc.uint(tag::ORD_REJ_REASON, r.code(v));
    }
    enc.char(tag::EXEC_TYPE, exec_type);
    enc.fixed(tag::LEAVES_QTY, e.leaves.0, e.leaves.1);
    if let (Some(id), false) = (&e.status_req, fix42) {
        enc.bytes(tag::ORD_STATUS_REQ_ID, id.as_bytes());
    }
}

/// Writes the body of an OrderCancelReject for `v`.
pub fn encode_cxl_reject(enc: &mut Encoder, v: Version, c: &CxlReject) {
    enc.bytes(tag::CL_ORD_ID, c.cl.as_bytes());
    order_id(enc, c.order);
    enc.char(tag::ORD_STATUS, c.status);
    enc.bytes(tag::ORIG_CL_ORD_ID, c.orig_cl.as_bytes());
    if !c.text.is_empty() {
        enc.bytes(tag::TEXT, c.text.as_bytes());
    }
    enc.uint(tag::CXL_REJ_REASON, c.reason.code(v));
    enc.char(tag::CXL_REJ_RESPONSE_TO, c.response_to);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::venue::fix::codec::{frame, Decoder};

    fn fill() -> Exec {
        Exec {
            exec_type: b'F',
            status: b'2',
            order: Some(OrderId(17)),
            exec_id: exec_id(17, "F", format_args!("-{:x}", 0xbeefu64)),
            cl: Echo::new("o1").unwrap(),
            orig_cl: None,
            terms: Terms {
                account: Echo::new("alpha").unwrap(),
                symbol: Echo::new("AAPL").unwrap(),
                side: b'1',
                ord_type: b'2',
                tif: b'0',
            },
            qty: Some(Dec::new(10, 0)),
            price: Some(Dec::new(10_050, 2)),
            stop_px: None,
            last: Some(((10_049, 2), (10, 0))),
            cum: (10, 0),
            leaves: (0, 0),
            avg: (10_049, 2),
            text: Cow::Borrowed(""),
            rej: None,
            status_req: None,
        }
    }

    fn body(v: Version, begin: &str, e: &Exec) -> Vec<(u32, String)> {
        let mut enc = Encoder::new(begin, 1024);
        enc.start(b"8");
        encode_exec(&mut enc, v, e, 1_700_000_000_000_000_000, false);
        let f = enc.finish().to_vec();
        assert_eq!(frame(&f), Ok(f.len()));
        let mut d = Decoder::new();
        let m = d.decode(&f).unwrap();
        m.fields()
            .map(|x| (x.tag, String::from_utf8_lossy(x.value).into_owned()))
            .collect()
    }

    fn get(b: &[(u32, String)], tag: u32) -> Option<&str> {
        b.iter().find(|(t, _)| *t == tag).map(|(_, v)| v.as_str())
    }

    #[test]
    fn a_fill_in_each_version() {
        let b = body(Version::Fix44, "FIX.4.4", &fill());
        assert_eq!(get(&b, 150), Some("F"));
        assert_eq!(get(&b, 20), None);
        assert_eq!(get(&b, 17), Some("17-F-beef"));
        assert_eq!(get(&b, 31), Some("100.49"));
        assert_eq!(get(&b, 6), Some("100.49"));
        let tags: Vec<u32> = b
            .iter()
            .map(|(t, _)| *t)
            .filter(|t| ![8, 9, 35, 10].contains(t))
            .collect();
        let mut sorted = tags.clone();
        sorted.sort();
        assert_eq!(tags, sorted, "body in tag order");
        let b = body(Version::Fix42, "FIX.4.2", &fill());
        assert_eq!((get(&b, 150), get(&b, 20)), (Some("2"), Some("0")));
        let mut partial = fill();
        partial.status = b'1';
        let b = body(Version::Fix42, "FIX.4.2", &partial);
        assert_eq!(get(&b, 150), Some("1"));
    }

    #[test]
    fn status_answers_and_rejects() {
        let mut e = fill();
        e.exec_type = b'I';
        e.status = b'1';
        e.last = None;
        e.status_req = Some(Echo::new("q1").unwrap());
        let b = body(Version::Fix44, "FIX.4.4", &e);
        assert_eq!((get(&b, 150), get(&b, 790)), (Some("I"), Some("q1")));
        let b = body(Version::Fix42, "FIX.4.2", &e);
        assert_eq!(
            (get(&b, 150), get(&b, 20), get(&b, 790)),
            (Some("1"), Some("3"), None)
        );
        e.rej = Some(Rej::IncorrectQty);
        e.order = None;
        assert_eq!(get(&body(Version::Fix44, "FIX.4.4", &e), 103), Some("13"));
        assert_eq!(get(&body(Version::Fix42, "FIX.4.2", &e), 103), Some("0"));
        assert_eq!(get(&body(Version::Fix44, "FIX.4.4", &e), 37), Some("NONE"));
        assert_eq!(CxlReason::Duplicate.code(Version::Fix42), 2);
        assert_eq!(CxlReason::Duplicate.code(Version::Fix50), 6);
    }
}
