//! Top of book from a FIX broker (R-VEN-6, for R-GATE-6): after each logon one
//! MarketDataRequest (35=V: snapshot plus updates, depth 1, bid and offer) per instrument
//! configured on the venue; its MarketDataSnapshotFullRefresh (W) and
//! MarketDataIncrementalRefresh (X) keep a top of book per instrument here, and each
//! refresh stating an instrument's bid or offer becomes a [`VenueEventKind::Quote`] of
//! it stamped with when it arrived on our clock (staleness is never the broker's word;
//! its SendingTime goes along as `venue_ns`, for the record). A MarketDataRequestReject
//! (Y), or a session or business reject of the request, marks the instrument as having
//! no venue feed until the next logon asks again.
//!
//! Values are input, not truth: prices read into the instrument's scale (rounded, with
//! checked arithmetic, positive), sizes not negative (rounded down: the gate's liquidity
//! check must not see more than was offered). A W or X that cannot be read whole is
//! applied not at all and answered with a session reject (35=3), as a message that fails
//! the dictionary is. A crossed book is passed on as the broker said it: the gate refuses
//! to trade on it (BAD_MARKET_DATA). Nothing here allocates per message: the books are
//! sized by the registry when the venue starts.

use super::codec::{Encoder, Msg};
use super::reject::SessionRejectReason;
use super::{msg_type, tag};
use crate::config::Registry;
use crate::model::fixed::{rescale, Dec, Price, Qty, POW10};
use crate::model::ids::{InstrumentId, Name, VenueId};
use crate::model::quote::Quote;
use crate::venue::{VenueEvent, VenueEventKind};
use std::collections::VecDeque;
use std::io::Write;

/// Most malformed refreshes waiting for their session reject; past it they are counted
/// and logged only (a broker sending garbage by the thousand gets no answer to each).
const MAX_TO_REJECT: usize = 64;

/// One side's best level as the broker last gave it (mantissas; 0 = none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Level {
    px: i64,
    size: i64,
}

/// The best bid and offer of one instrument.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Top {
    bid: Level,
    ask: Level,
}

/// Counters an operator reads (in [`super::reports::FixStats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MdStats {
    /// MarketDataRequests sent.
    pub requests: u64,
    /// Instruments the broker refused to quote (Y, or a reject of the request).
    pub refused: u64,
    /// Snapshots and incremental refreshes applied.
    pub refreshes: u64,
    /// Refreshes that could not be read and were rejected (35=3), or failed the dictionary.
    pub malformed: u64,
    /// Quotes handed to the core: one per instrument a refresh stated a bid or offer of
    /// (before conflation).
    pub quotes: u64,
}

/// A reason to refuse a refresh whole: the session reject's reason, its RefTagID, and
/// the words for the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Malformed {
    pub(super) reason: SessionRejectReason,
    pub(super) tag: Option<u32>,
    pub(super) why: &'static str,
}

fn bad(reason: SessionRejectReason, tag: u32, why: &'static str) -> Malformed {
    Malformed {
        reason,
        tag: Some(tag),
        why,
    }
}

/// One entry of a refresh, read.
#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    /// MDUpdateAction (279): b'0' new, b'1' change, b'2' delete (a snapshot: b'0').
    action: u8,
    /// MDEntryType (269); entries other than bid (0) and offer (1) are not applied.
    kind: u8,
    /// The instrument the entry names, or the message's.
    inst: Option<InstrumentId>,
    /// MDEntryPx (270) at the instrument's price scale.
    px: i64,
    /// MDEntrySize (271) at its quantity scale; 0 when not given.
    size: i64,
    has_px: bool,
}

/// The venue's market data: what was asked for, and the books it keeps.
pub(super) struct MarketData {
    venue: VenueId,
    /// Subscribe after each logon.
    pub(super) enabled: bool,
    /// Per registry instrument (only this venue's are used).
    tops: Vec<Top>,
    /// Per registry instrument: the broker refused to quote it since the last logon.
    no_feed: Vec<bool>,
    /// Instruments whose bid or offer a refresh stated, in the order it named them.
    touched: Vec<InstrumentId>,
    /// Logons so far: part of each MDReqID, so every subscription's id is new.
    round: u64,
    /// Malformed refreshes to answer with a session reject: (MsgSeqNum, MsgType, fault).
    pub(super) to_reject: Vec<(u64, u8, Malformed)>,
    pub(super) stats: MdStats,
}

impl MarketData {
    pub(super) fn new(reg: &Registry, venue: VenueId, enabled: bool) -> MarketData {
        let n = reg.instruments.len();
        MarketData {
            venue,
            enabled,
            tops: vec![Top::default(); n],
            no_feed: vec![false; n],
            touched: Vec::with_capacity(n),
            round: 0,
            to_reject: Vec::with_capacity(MAX_TO_REJECT),
            stats: MdStats::default(),
        }
    }

    /// Whether the broker refused to quote `i` since the last logon.
    #[cfg(test)]
    pub(super) fn has_no_feed(&self, i: InstrumentId) -> bool {
        self.no_feed.get(i.0 as usize).copied().unwrap_or(false)
    }

    /// A new logon: the books start empty (what the broker said before may have moved)
    /// and every instrument is asked for again. Returns the round for the MDReqIDs.
    pub(super) fn start_round(&mut self) -> u64 {
        self.round += 1;
        self.tops.fill(Top::default());
        self.no_feed.fill(false);
        self.round
    }

    /// MDReqID of instrument `i` in `round`: `md-<instrument>-<round>`, so an answer
    /// names its instrument even without a Symbol.
    pub(super) fn req_id(i: InstrumentId, round: u64, buf: &mut [u8; 32]) -> usize {
        let mut w = &mut buf[..];
        let _ = write!(w, "md-{}-{}", i.0, round);
        32 - w.len()
    }

    /// The body of a MarketDataRequest for `symbol`: snapshot plus updates (263=1), top
    /// of book (264=1), incremental refresh (265=1), bid and offer (267/269), one
    /// instrument (146/55) — in the order FIX 4.2, 4.4 and 5.0SP2 lay the message out.
    pub(super) fn request_body(e: &mut Encoder, id: &[u8], symbol: &[u8]) {
        e.bytes(tag::MD_REQ_ID, id);
        e.char(tag::SUBSCRIPTION_REQUEST_TYPE, b'1');
        e.uint(tag::MARKET_DEPTH, 1);
        e.char(tag::MD_UPDATE_TYPE, b'1');
        e.uint(tag::NO_MD_ENTRY_TYPES, 2);
        e.char(tag::MD_ENTRY_TYPE, b'0');
        e.char(tag::MD_ENTRY_TYPE, b'1');
        e.uint(tag::NO_RELATED_SYM, 1);
        e.bytes(tag::SYMBOL, symbol);
    }

    /// The instrument an MDReqID of ours names, if it is one of this venue's.
    fn by_req_id(&self, reg: &Registry, v: Option<&[u8]>) -> Option<InstrumentId> {
        let rest = v?.strip_prefix(b"md-")?;
        let end = rest.iter().position(|&b| b == b'-')?;
        let n = super::codec::parse_u64(&rest[..end])?;
        let i = reg.instruments.get(usize::try_from(n).ok()?)?;
        (i.venue == self.venue).then_some(i.id)
    }

    /// The broker refused to quote `i` (Y, or a reject of our request): logged once per
    /// logon, and no quote of it is expected until the next.
    pub(super) fn refused(&mut self, reg: &Registry, i: InstrumentId, why: &str) {
        let Some(flag) = self.no_feed.get_mut(i.0 as usize) else {
            return;
        };
        if !*flag {
            *flag = true;
            self.stats.refused += 1;
            eprintln!(
                "execd: fix venue {}: no market data for {}: {why}; the gate sees no venue quotes for it until the next logon (POST /v1/quotes still can)",
                reg.venues[self.venue.0 as usize].name.as_str(),
                reg.instruments[i.0 as usize].symbol.as_str(),
            );
        }
    }

    /// A MarketDataRequestReject (Y).
    pub(super) fn on_reject(&mut self, reg: &Registry, msg: &Msg<'_>) -> Result<(), &'static str> {
        let inst = self.by_req_id(reg, msg.get(tag::MD_REQ_ID));
        let Some(i) = inst else {
            return Err("market data request reject for no request of ours");
        };
        let why = match msg.get(tag::MD_REQ_REJ_REASON) {
            Some(b"0") => "unknown symbol (MDReqRejReason 0)",
            Some(b"1") => "duplicate MDReqID (MDReqRejReason 1)",
            Some(b"2") => "insufficient bandwidth (MDReqRejReason 2)",
            Some(b"3") => "insufficient permissions (MDReqRejReason 3)",
            Some(b"4") => "unsupported SubscriptionRequestType (MDReqRejReason 4)",
            Some(b"5") => "unsupported MarketDepth (MDReqRejReason 5)",
            Some(b"6") => "unsupported MDUpdateType (MDReqRejReason 6)",
            Some(b"7") => "unsupported AggregatedBook (MDReqRejReason 7)",
            Some(b"8") => "unsupported MDEntryType (MDReqRejReason 8)",
            Some(_) => "refused (MDReqRejReason given)",
            None => "refused (no MDReqRejReason)",
        };
        let text = msg
            .get(tag::TEXT)
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        if text.is_empty() {
            self.refused(reg, i, why);
        } else {
            self.refused(reg, i, &format!("{why}: {text}"));
        }
        Ok(())
    }

    /// A snapshot (W) or incremental refresh (X): read whole first, then applied, then
    /// a quote queued for each instrument whose top of book it changed. `Err`: nothing
    /// applied; the caller rejects the message.
    pub(super) fn on_refresh(
        &mut self,
        reg: &Registry,
        q: &mut VecDeque<VenueEvent>,
        now: u64,
        seq: u64,
        msg: &Msg<'_>,
    ) -> Result<(), Malformed> {
        let snapshot = msg.msg_type() == msg_type::MARKET_DATA_SNAPSHOT_FULL_REFRESH;
        let v = self.venue;
        // The instrument the message as a whole names: its Symbol, else our MDReqID.
        let whole = match msg.get(tag::SYMBOL) {
            Some(sym) => by_symbol(reg, v, Some(sym)),
            None => self.by_req_id(reg, msg.get(tag::MD_REQ_ID)),
        };
        if whole.is_none() && (snapshot || msg.get(tag::SYMBOL).is_some()) {
            return Err(Malformed {
                reason: SessionRejectReason::ValueIsIncorrect,
                tag: Some(tag::SYMBOL),
                why: "snapshot of an instrument not configured on this venue",
            });
        }
        // First pass: every entry readable, and as many as NoMDEntries says.
        let count = entries(reg, v, msg, snapshot, whole, |_| {})?;
        match msg.get(tag::NO_MD_ENTRIES).map(super::codec::parse_u64) {
            Some(Some(n)) if n == count => {}
            None if count == 0 => {
                return Err(bad(
                    SessionRejectReason::RequiredTagMissing,
                    tag::NO_MD_ENTRIES,
                    "refresh without NoMDEntries",
                ))
            }
            _ => {
                return Err(bad(
                    SessionRejectReason::IncorrectNumInGroupCount,
                    tag::NO_MD_ENTRIES,
                    "NoMDEntries is not the number of entries",
                ))
            }
        }
        // Second pass: applied.
        let (tops, touched) = (&mut self.tops, &mut self.touched);
        touched.clear();
        if let (true, Some(i)) = (snapshot, whole) {
            touched.push(i);
            tops[i.0 as usize] = Top::default();
        }
        let _ = entries(reg, v, msg, snapshot, whole, |e| {
            let Some(i) = e.inst else { return };
            if !matches!(e.kind, b'0' | b'1') {
                return;
            }
            let top = &mut tops[i.0 as usize];
            if !touched.contains(&i) && touched.len() < touched.capacity() {
                touched.push(i);
            }
            let side = if e.kind == b'0' {
                &mut top.bid
            } else {
                &mut top.ask
            };
            let level = Level {
                px: e.px,
                size: e.size,
            };
            *side = match e.action {
                // A delete naming another price (an old level after the new best came
                // first) leaves the top alone; one naming ours, or none, clears it.
                b'2' if e.px != 0 && e.px != side.px => *side,
                b'2' => Level::default(),
                // A snapshot listing more than the top keeps the best level.
                _ if snapshot && side.px > 0 => {
                    let better = if e.kind == b'0' {
                        e.px > side.px
                    } else {
                        e.px < side.px
                    };
                    if better {
                        level
                    } else {
                        *side
                    }
                }
                _ => level,
            };
        });
        self.stats.refreshes += 1;
        let venue_ns = msg
            .get(tag::SENDING_TIME)
            .and_then(super::time::parse_utc_timestamp)
            .unwrap_or(0);
        // Every instrument whose bid or offer the refresh stated is told, moved or not:
        // a broker restating an unchanged top says its feed is alive, and staleness is
        // measured from what arrived (R-GATE-6). Conflation keeps the journal's rate at
        // one quote per instrument per core cycle however fast they come.
        for &i in self.touched.iter() {
            let top = self.tops[i.0 as usize];
            self.stats.quotes += 1;
            q.push_back(VenueEvent {
                at_ns: now,
                kind: VenueEventKind::Quote {
                    instrument: i,
                    quote: Quote {
                        bid: Price(top.bid.px),
                        ask: Price(top.ask.px),
                        bid_size: Qty(top.bid.size),
                        ask_size: Qty(top.ask.size),
                        at_ns: now,
                    },
                    venue_ns,
                },
                src_seq: seq,
            });
        }
        Ok(())
    }
}

fn by_symbol(reg: &Registry, venue: VenueId, v: Option<&[u8]>) -> Option<InstrumentId> {
    let sym = Name::from_bytes(v?).ok()?;
    reg.instrument(venue, &sym)
}

/// Reads the entries of a refresh in order, handing each complete one to `f`; returns
/// how many there were. An entry starts at its group's first field: MDEntryType (269)
/// in a snapshot, MDUpdateAction (279) in an incremental refresh. Its Symbol, if it
/// carries one, comes before its price in every version's layout.
fn entries(
    reg: &Registry,
    venue: VenueId,
    msg: &Msg<'_>,
    snapshot: bool,
    whole: Option<InstrumentId>,
    mut f: impl FnMut(&Entry),
) -> Result<u64, Malformed> {
    let first = if snapshot {
        tag::MD_ENTRY_TYPE
    } else {
        tag::MD_UPDATE_ACTION
    };
    let mut cur: Option<Entry> = None;
    let mut n = 0u64;
    let mut in_group = false;
    for fld in msg.fields() {
        if fld.tag == tag::CHECK_SUM {
            break;
        }
        if fld.tag == tag::NO_MD_ENTRIES {
            in_group = true;
            continue;
        }
        if !in_group {
            continue;
        }
        if fld.tag == first {
            if let Some(e) = cur.take() {
                check(&e)?;
                f(&e);
            }
            n += 1;
            cur = Some(Entry {
                action: b'0',
                inst: whole,
                ..Entry::default()
            });
        }
        let Some(e) = cur.as_mut() else {
            return Err(bad(
                SessionRejectReason::RepeatingGroupFieldsOutOfOrder,
                fld.tag,
                "refresh entry does not start with its group's first field",
            ));
        };
        match fld.tag {
            tag::MD_UPDATE_ACTION => match fld.value {
                [c @ (b'0' | b'1' | b'2')] => e.action = *c,
                _ => {
                    return Err(bad(
                        SessionRejectReason::ValueIsIncorrect,
                        fld.tag,
                        "MDUpdateAction not 0, 1 or 2",
                    ))
                }
            },
            tag::MD_ENTRY_TYPE => match fld.value {
                [c] => e.kind = *c,
                _ => {
                    return Err(bad(
                        SessionRejectReason::ValueIsIncorrect,
                        fld.tag,
                        "MDEntryType not one character",
                    ))
                }
            },
            tag::SYMBOL => {
                e.inst = by_symbol(reg, venue, Some(fld.value));
                if e.inst.is_none() {
                    return Err(bad(
                        SessionRejectReason::ValueIsIncorrect,
                        fld.tag,
                        "refresh entry for an instrument not configured on this venue",
                    ));
                }
            }
            tag::MD_ENTRY_PX => {
                let Some(i) = e.inst else {
                    return Err(bad(
                        SessionRejectReason::RequiredTagMissing,
                        tag::SYMBOL,
                        "refresh entry priced before it names an instrument",
                    ));
                };
                let scale = reg.instruments[i.0 as usize].price_scale;
                e.px = price(fld.value, scale)
                    .map_err(|why| bad(SessionRejectReason::IncorrectDataFormat, fld.tag, why))?;
                if e.px <= 0 {
                    return Err(bad(
                        SessionRejectReason::ValueIsIncorrect,
                        fld.tag,
                        "MDEntryPx not positive at the instrument's scale",
                    ));
                }
                e.has_px = true;
            }
            tag::MD_ENTRY_SIZE => {
                let Some(i) = e.inst else {
                    return Err(bad(
                        SessionRejectReason::RequiredTagMissing,
                        tag::SYMBOL,
                        "refresh entry sized before it names an instrument",
                    ));
                };
                let scale = reg.instruments[i.0 as usize].qty_scale;
                e.size = size(fld.value, scale)
                    .map_err(|why| bad(SessionRejectReason::ValueIsIncorrect, fld.tag, why))?;
            }
            _ => {}
        }
    }
    if let Some(e) = cur.take() {
        check(&e)?;
        f(&e);
    }
    Ok(n)
}

/// What an entry must have to be applied: an instrument of this venue, and for a bid or
/// offer that is added or changed, a price.
fn check(e: &Entry) -> Result<(), Malformed> {
    if e.inst.is_none() {
        return Err(bad(
            SessionRejectReason::RequiredTagMissing,
            tag::SYMBOL,
            "refresh entry names no instrument (neither Symbol nor an MDReqID of ours)",
        ));
    }
    if matches!(e.kind, b'0' | b'1') && e.action != b'2' && !e.has_px {
        return Err(bad(
            SessionRejectReason::RequiredTagMissing,
            tag::MD_ENTRY_PX,
            "bid or offer without MDEntryPx",
        ));
    }
    Ok(())
}

/// A price at `scale`: a decimal, rounded there, within range.
fn price(v: &[u8], scale: u8) -> Result<i64, &'static str> {
    let d = Dec::parse_bytes(v).map_err(|_| "MDEntryPx not a decimal")?;
    i64::try_from(rescale(d.mant as i128, d.scale as i32, scale as i32))
        .map_err(|_| "MDEntryPx out of range")
}

/// A size at `scale`, rounded down: not negative, within range.
fn size(v: &[u8], scale: u8) -> Result<i64, &'static str> {
    let d = Dec::parse_bytes(v).map_err(|_| "MDEntrySize not a decimal")?;
    if d.mant < 0 {
        return Err("MDEntrySize negative");
    }
    if d.scale <= scale {
        let k = *POW10
            .get((scale - d.scale) as usize)
            .ok_or("MDEntrySize out of range")?;
        d.mant.checked_mul(k).ok_or("MDEntrySize out of range")
    } else {
        let k = *POW10
            .get((d.scale - scale) as usize)
            .ok_or("MDEntrySize out of range")?;
        Ok(d.mant / k)
    }
}

#[cfg(test)]
mod tests;
