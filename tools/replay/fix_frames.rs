//! The raw venue messages beside a journal (R-AUD-1, R-AUD-3): each FIX venue's session
//! store (`DIR/fix/VENUE`) keeps the frames sent and received. `verify` checks them as
//! FIX; `order` lists those about one order, by the ClOrdID (11) or OrigClOrdID (41)
//! the core gave it (`epoch-order-version`, the journal's epoch).

use execd::calendar::iso8601;
use execd::export::Row;
use execd::model::ids::ClOrdId;
use execd::venue::fix::codec::{scan_tag, SOH};
use execd::venue::fix::store::{read_frames, Direction};
use std::path::{Path, PathBuf};

/// One venue's session store.
pub struct Store {
    /// The venue's name (the directory's).
    pub venue: String,
    /// Its directory.
    pub dir: PathBuf,
}

/// The session stores beside the journal in `dir`, by venue name.
pub fn stores(dir: &Path) -> Vec<Store> {
    let Ok(rd) = std::fs::read_dir(dir.join("fix")) else {
        return Vec::new();
    };
    let mut out: Vec<Store> = rd
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| Store {
            venue: e.file_name().to_string_lossy().into_owned(),
            dir: e.path(),
        })
        .collect();
    out.sort_by(|a, b| a.venue.cmp(&b.venue));
    out
}

/// What checking one store found.
pub struct Checked {
    /// Frames sent.
    pub out: u64,
    /// Frames received.
    pub inbound: u64,
    /// Store records whose frame is not well-formed FIX, and why.
    pub malformed: Vec<(u64, &'static str)>,
    /// The store's records themselves could not be read (a CRC, a torn segment).
    pub unreadable: Option<String>,
}

/// Reads every record of `s` (CRC-checked) and checks every frame as FIX.
pub fn check(s: &Store) -> Checked {
    let mut c = Checked {
        out: 0,
        inbound: 0,
        malformed: Vec::new(),
        unreadable: None,
    };
    let r = read_frames(&s.dir, |f| {
        match f.direction {
            Direction::Out => c.out += 1,
            Direction::In => c.inbound += 1,
        }
        if let Some(why) = f.malformed {
            c.malformed.push((f.record, why));
        }
    });
    if let Err(e) = r {
        c.unreadable = Some(e.to_string());
    }
    c
}

/// A frame for a person: SOH shown as `|`.
pub fn printable(frame: &[u8]) -> String {
    String::from_utf8_lossy(frame).replace(SOH as char, "|")
}

/// The order of ours `frame` is about: the ClOrdID (11), else OrigClOrdID (41), under
/// `epoch` (ids of another start of the core are another order).
fn frame_order(frame: &[u8], epoch: u32) -> Option<u64> {
    [11, 41].iter().find_map(|&t| {
        scan_tag(frame, t)
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(ClOrdId::parse)
            .filter(|c| c.epoch == epoch)
            .map(|c| c.order.0)
    })
}

/// Export rows (kind `fix_frame`) for every frame of every store, in time order: the
/// store's record number as `seq`, `out`/`in` as the state, the order it is about (by
/// 11 or 41 under `epoch`), and `venue=NAME` and the frame (SOH as `|`) as the detail.
/// A store that cannot be read whole (a damaged record) is an error naming it: an
/// export that left its frames out would look complete.
pub fn rows(stores: &[Store], epoch: u32) -> Result<Vec<Row>, String> {
    let mut out = Vec::new();
    for s in stores {
        read_frames(&s.dir, |f| {
            let order = frame_order(f.frame, epoch);
            let mut r = Row {
                time_ns: f.ts_ns,
                time: iso8601(f.ts_ns),
                seq: f.record,
                kind: FIX_FRAME,
                order,
                state: f.direction.as_str().into(),
                reason: f.malformed.unwrap_or("").into(),
                detail: "a FIX frame as it went over the wire (SOH shown as |)".into(),
                ..Row::default()
            };
            r.fields
                .text("venue", s.venue.clone())
                .text("direction", f.direction.as_str())
                .text("frame", printable(f.frame));
            if let Some(t) = scan_tag(f.frame, 35).and_then(|v| std::str::from_utf8(v).ok()) {
                r.fields.text("msg_type", t);
            }
            if let Some(n) = scan_tag(f.frame, 34)
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|v| v.parse().ok())
            {
                r.fields.int("msg_seq_num", n);
            }
            if let Some(c) = scan_tag(f.frame, 11).and_then(|v| std::str::from_utf8(v).ok()) {
                r.fields.text("cl_ord_id", c);
            }
            if let Some(c) = scan_tag(f.frame, 41).and_then(|v| std::str::from_utf8(v).ok()) {
                r.fields.text("orig_cl_ord_id", c);
            }
            out.push(r);
        })
        .map_err(|e| format!("FIX store {}: {e}", s.dir.display()))?;
    }
    out.sort_by_key(|r| r.time_ns);
    Ok(out)
}

/// The export row kind of a raw FIX frame (`execd-replay export --with-fix`).
pub const FIX_FRAME: &str = "fix_frame";

/// The story row kind of a REST/WebSocket bridge's raw message (`execd-replay order`).
pub const VENUE_MESSAGE: &str = "venue_message";

/// Story rows for every message in the bridge wire logs beside the journal
/// (`<journal>/bridge/<venue>`) that names a client order id under `epoch` of an order
/// `follows` accepts, in time order: what went over REST and WebSocket as it was logged
/// (signatures blanked, no keys). A wire log that cannot be read whole is an error
/// naming it.
pub fn bridge_rows(
    dir: &Path,
    epoch: u32,
    follows: impl Fn(u64) -> bool,
) -> Result<Vec<Row>, String> {
    let mut out = Vec::new();
    let Ok(venues) = std::fs::read_dir(dir.join("bridge")) else {
        return Ok(out);
    };
    let mut venues: Vec<_> = venues.flatten().map(|e| e.path()).collect();
    venues.sort();
    for v in venues {
        let venue = v
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        execd::venue::bridge::wire::read_messages(&v, |ts, sent, text| {
            let order = text
                .split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
                .filter_map(ClOrdId::parse)
                .find(|c| c.epoch == epoch && follows(c.order.0));
            let Some(c) = order else { return };
            let mut r = Row {
                time_ns: ts,
                time: iso8601(ts),
                kind: VENUE_MESSAGE,
                order: Some(c.order.0),
                state: if sent { "out" } else { "in" }.into(),
                detail: "a message to or from the venue as logged (signatures blanked)".into(),
                ..Row::default()
            };
            r.fields
                .text("venue", venue.clone())
                .text("direction", if sent { "out" } else { "in" })
                .text("cl_ord_id", c.to_string())
                .text("payload", text);
            out.push(r);
        })
        .map_err(|e| format!("venue wire log {}: {e}", v.display()))?;
    }
    out.sort_by_key(|r| r.time_ns);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_is_about_an_order_by_its_cl_ord_id_or_orig() {
        let f = b"8=FIX.4.4\x019=5\x0135=F\x0111=1f-42-1\x0141=1f-42-0\x0110=000\x01";
        assert_eq!(frame_order(f, 0x1f), Some(42));
        assert_eq!(frame_order(f, 0x20), None, "another epoch");
        let g = b"8=FIX.4.4\x019=5\x0135=8\x0111=1f-7-0\x0141=NONE\x0110=000\x01";
        assert_eq!(frame_order(g, 0x1f), Some(7));
        let h = b"8=FIX.4.4\x019=5\x0135=9\x0111=zz\x0141=1f-9-2\x0110=000\x01";
        assert_eq!(frame_order(h, 0x1f), Some(9), "by OrigClOrdID");
        assert_eq!(printable(b"8=FIX.4.4\x019=5\x01"), "8=FIX.4.4|9=5|");
    }
}
