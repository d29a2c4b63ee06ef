//! FIX dictionaries: the complete FIX 4.2, 4.4, 5.0SP2 and FIXT.1.1 dictionaries fefix
//! embeds (QuickFIX-format data), or a broker's own QuickFIX-format XML file, with
//! per-venue overlays for custom fields and messages, and the tables the session
//! validates inbound messages against (R-VEN-2).
//!
//! A base is named by its version (`FIX.4.2`, `FIX.4.4`, `FIXT.1.1`, `FIX.5.0SP2`: the
//! built-in ones) or by a file path. A built-in base is fefix's parsed dictionary turned
//! back into the QuickFIX XML form (see [`builtin`]); a file is read with a small XML
//! reader of our own. Overlays are merged into the base at XML level (fields by number
//! or name, messages by MsgType, components by name, fields inside a message or
//! component by name), the result is checked (every reference resolves, every type is
//! known, every attribute QuickFIX and fefix need is there), and compact validation
//! tables are built once.
//!
//! [`Dictionary::validate`] then walks a message's fields without allocating
//! (fixed-size bitmaps on the stack) and answers with the SessionRejectReason (373) FIX
//! people know. The order of checks follows what counterparties expect of a QuickFIX
//! acceptor where one message has several faults — structure before values: MsgType
//! present and known (1, 11); then per field in wire order: tag defined (0), value
//! present (4), placement — header first and trailer last (14), no repeats outside
//! groups (13), defined for this message (2), group instances start with the delimiter
//! and carry no field twice (15), as many instances as NumInGroup says (16); then the
//! required tags of each group instance, of the header, the trailer and the body,
//! smallest tag first (1); last, per field in wire order, format (6) and enumerated
//! value (5).

use super::codec::{parse_u64, Field, Msg, LEADING_TAGS};
pub use super::layouts::Layouts;
use super::reject::SessionRejectReason;
use super::{tag, time};
use rustc_hash::FxHashMap;
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Why a dictionary could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DictionaryError(pub String);

impl std::fmt::Display for DictionaryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DictionaryError {}

/// A reason to reject a message at the session level: SessionRejectReason (373) and
/// the tag it is about (371).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid {
    /// SessionRejectReason (373).
    pub reason: SessionRejectReason,
    /// RefTagID (371), if the reason is about one tag.
    pub ref_tag: Option<u32>,
}

impl Invalid {
    /// The Text (58) that goes with the reason.
    pub fn text(&self) -> &'static str {
        self.reason.text()
    }
}

fn invalid(reason: SessionRejectReason, tag: u32) -> Invalid {
    Invalid {
        reason,
        ref_tag: Some(tag),
    }
}

use SessionRejectReason as R;

/// The base dictionaries execd carries: fefix's complete data for each version.
pub const BUILT_IN: [&str; 4] = ["FIX.4.2", "FIX.4.4", "FIXT.1.1", "FIX.5.0SP2"];

/// Whether `name` names a built-in base dictionary rather than a file.
pub(crate) fn is_builtin(name: &str) -> bool {
    BUILT_IN.contains(&name)
}

/// How strict [`Dictionary::validate`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidateOptions {
    /// Accept user-defined tags (5000–9999 and ≥ 20000) that the dictionary does not
    /// define, or does not define for the message at hand, instead of rejecting them
    /// (373=0 / 373=2). Like QuickFIX's `ValidateUserDefinedFields=N`. Default: true —
    /// a venue's custom tag must never cost a fill.
    pub allow_unknown_user_tags: bool,
}

impl Default for ValidateOptions {
    fn default() -> Self {
        ValidateOptions {
            allow_unknown_user_tags: true,
        }
    }
}

/// Whether `tag` is in a range FIX reserves for user-defined fields.
fn is_user_defined_tag(tag: u32) -> bool {
    (5000..=9999).contains(&tag) || tag >= 20000
}

// ---------------------------------------------------------------------------------------
// Tables

/// Members one level (header, body, trailer, one group) may have: the size of the
/// per-level bitmaps validation keeps on the stack.
const MAX_MEMBERS: usize = 1024;
const WORDS: usize = MAX_MEMBERS / 64;
type Bits = [u64; WORDS];
/// Deepest nesting of repeating groups a dictionary may define.
const MAX_DEPTH: usize = 8;
const NONE: u32 = u32::MAX;
/// Highest tag number a dictionary may define (fefix keeps tags as u16).
const MAX_TAG: u32 = 65535;

#[inline]
fn bit(b: &Bits, slot: u16) -> bool {
    b[slot as usize / 64] & (1u64 << (slot % 64)) != 0
}
#[inline]
fn set_bit(b: &mut Bits, slot: u16) {
    b[slot as usize / 64] |= 1u64 << (slot % 64);
}

/// The value format checked for a field type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fmt {
    /// INT: optional `-`, digits.
    Int,
    /// LENGTH, SEQNUM, NUMINGROUP: digits.
    UInt,
    /// PRICE, QTY, AMT, FLOAT, PRICEOFFSET, PERCENTAGE: optional `-`, digits, one `.`.
    Decimal,
    /// CHAR: one byte.
    Char,
    /// BOOLEAN: `Y` or `N`.
    Bool,
    /// UTCTIMESTAMP: `YYYYMMDD-HH:MM:SS[.sss…]`, a day that exists ([`time`]).
    Timestamp,
    /// UTCTIMEONLY, LOCALMKTTIME: `HH:MM:SS[.sss…]`.
    TimeOnly,
    /// UTCDATEONLY, UTCDATE, LOCALMKTDATE, DATE: `YYYYMMDD`, a day that exists.
    Date,
    /// MONTHYEAR: `YYYYMM`, `YYYYMMDD` or `YYYYMMwN`.
    MonthYear,
    /// DAYOFMONTH: 1–31.
    DayOfMonth,
    /// MULTIPLEVALUESTRING, MULTIPLECHARVALUE, MULTIPLESTRINGVALUE: space-separated.
    Multi,
    /// Anything else (STRING, DATA, CURRENCY, EXCHANGE …): not checked.
    Text,
}

/// QuickFIX type names this loader accepts: what its dictionaries use, up to the
/// extension packs of 5.0SP2.
const KNOWN_TYPES: &[(&str, Fmt)] = &[
    ("INT", Fmt::Int),
    ("LENGTH", Fmt::UInt),
    ("SEQNUM", Fmt::UInt),
    ("NUMINGROUP", Fmt::UInt),
    ("TAGNUM", Fmt::UInt),
    ("DAYOFMONTH", Fmt::DayOfMonth),
    ("PRICE", Fmt::Decimal),
    ("QTY", Fmt::Decimal),
    ("AMT", Fmt::Decimal),
    ("FLOAT", Fmt::Decimal),
    ("PRICEOFFSET", Fmt::Decimal),
    ("PERCENTAGE", Fmt::Decimal),
    ("CHAR", Fmt::Char),
    ("BOOLEAN", Fmt::Bool),
    ("UTCTIMESTAMP", Fmt::Timestamp),
    ("UTCTIMEONLY", Fmt::TimeOnly),
    ("LOCALMKTTIME", Fmt::TimeOnly),
    ("UTCDATEONLY", Fmt::Date),
    ("UTCDATE", Fmt::Date),
    ("LOCALMKTDATE", Fmt::Date),
    ("DATE", Fmt::Date),
    ("MONTHYEAR", Fmt::MonthYear),
    ("MULTIPLEVALUESTRING", Fmt::Multi),
    ("MULTIPLECHARVALUE", Fmt::Multi),
    ("MULTIPLESTRINGVALUE", Fmt::Multi),
    ("STRING", Fmt::Text),
    ("DATA", Fmt::Text),
    ("XMLDATA", Fmt::Text),
    ("CURRENCY", Fmt::Text),
    ("EXCHANGE", Fmt::Text),
    ("COUNTRY", Fmt::Text),
    ("LANGUAGE", Fmt::Text),
    ("TZTIMEONLY", Fmt::Text),
    ("TZTIMESTAMP", Fmt::Text),
    ("XID", Fmt::Text),
    ("XIDREF", Fmt::Text),
];

fn fmt_of(qf_type: &str) -> Option<Fmt> {
    KNOWN_TYPES
        .iter()
        .find(|(n, _)| *n == qf_type)
        .map(|&(_, f)| f)
}

#[derive(Debug)]
struct FieldInfo {
    tag: u32,
    name: String,
    qf_type: String,
    fmt: Fmt,
    /// Enumerated values, sorted; empty if any value goes.
    enums: Vec<Box<[u8]>>,
    /// The one-byte values of `enums` as a bitmap: most enumerations (Side, OrdStatus,
    /// ExecType …) are single characters, checked on every inbound message.
    one_byte: [u64; 4],
    /// Whether some value of `enums` is longer than a byte.
    longer: bool,
}

impl FieldInfo {
    fn new(tag: u32, name: String, qf_type: String, fmt: Fmt, enums: Vec<Box<[u8]>>) -> Self {
        let mut one_byte = [0u64; 4];
        for e in enums.iter().filter(|e| e.len() == 1) {
            one_byte[e[0] as usize / 64] |= 1 << (e[0] % 64);
        }
        let longer = enums.iter().any(|e| e.len() > 1);
        FieldInfo {
            tag,
            name,
            qf_type,
            fmt,
            enums,
            one_byte,
            longer,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Member {
    tag: u32,
    /// Position in the level's definition order (bitmap index).
    slot: u16,
    required: bool,
    /// The level of the group this field counts, or NONE.
    group: u32,
}

#[derive(Debug, Default)]
struct Level {
    /// First field of each instance (groups only).
    delim: u32,
    /// Sorted by tag.
    members: Vec<Member>,
    /// (slot, tag) of required members, by tag.
    required: Vec<(u16, u32)>,
    /// Open-addressed hash of `members` by tag (member index + 1; 0 is empty), at most
    /// half full. Validation looks up every field of every inbound message in up to
    /// three levels; a binary search over a body of a hundred members was most of its
    /// time.
    index: Box<[u16]>,
    /// 32 − log2(`index.len()`): Fibonacci hashing keeps the top bits.
    shift: u32,
}

/// Knuth's multiplicative constant, 2^32 / φ.
const FIB32: u32 = 0x9E37_79B9;

impl Level {
    fn new(delim: u32, members: Vec<Member>, required: Vec<(u16, u32)>) -> Level {
        let size = (members.len() * 2).next_power_of_two().max(4);
        let shift = 32 - size.trailing_zeros();
        let mut index = vec![0u16; size].into_boxed_slice();
        for (i, m) in members.iter().enumerate() {
            let mut at = (m.tag.wrapping_mul(FIB32) >> shift) as usize;
            while index[at] != 0 {
                at = (at + 1) & (size - 1);
            }
            // MAX_MEMBERS (1024) members fit a u16 with room for the empty mark.
            index[at] = i as u16 + 1;
        }
        Level {
            delim,
            members,
            required,
            index,
            shift,
        }
    }

    #[inline]
    fn find(&self, tag: u32) -> Option<&Member> {
        if self.members.is_empty() {
            return None;
        }
        let mask = self.index.len() - 1;
        let mut at = (tag.wrapping_mul(FIB32) >> self.shift) as usize;
        loop {
            let e = *self.index.get(at)?;
            if e == 0 {
                return None;
            }
            let m = self.members.get(e as usize - 1)?;
            if m.tag == tag {
                return Some(m);
            }
            at = (at + 1) & mask;
        }
    }
    fn check_required(&self, seen: &Bits) -> Result<(), Invalid> {
        for &(slot, tag) in &self.required {
            if !bit(seen, slot) {
                return Err(invalid(R::RequiredTagMissing, tag));
            }
        }
        Ok(())
    }
}

#[derive(Debug)]
struct MsgInfo {
    /// `msg_type`'s first eight bytes, big-endian and zero-padded: ordered as the bytes
    /// are, so the lookup of every inbound message compares integers, not slices.
    key: u64,
    msg_type: Box<[u8]>,
    name: String,
    admin: bool,
    body: u32,
}

/// See [`MsgInfo::key`]. MsgType values hold no NUL byte, so the padding sorts first as
/// a shorter value does.
fn msg_key(msg_type: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = msg_type.len().min(8);
    b[..n].copy_from_slice(&msg_type[..n]);
    u64::from_be_bytes(b)
}

const HEADER: usize = 0;
const TRAILER: usize = 1;

/// A loaded dictionary with its validation tables.
pub struct Dictionary {
    begin_string: String,
    version: String,
    application_version: Option<String>,
    fields: Vec<FieldInfo>,
    /// Tag → index into `fields`, NONE if undefined.
    tag_index: Vec<u32>,
    /// Levels: 0 header, 1 trailer, then message bodies and groups.
    levels: Vec<Level>,
    /// Sorted by MsgType.
    messages: Vec<MsgInfo>,
    options: ValidateOptions,
    merged_xml: String,
    /// FIXT.1.1: tags only the application dictionary defines, sorted. Session messages
    /// are checked against the transport dictionary alone, as QuickFIX checks them.
    app_only: Vec<u32>,
    /// Tells `Layouts` which dictionary and options found a layout sound: new for every
    /// dictionary loaded and every change of options.
    id: u64,
}

/// The next `Dictionary::id` (0 is no dictionary's).
fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl fmt::Debug for Dictionary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dictionary")
            .field("begin_string", &self.begin_string)
            .field("version", &self.version)
            .field("application_version", &self.application_version)
            .field("fields", &self.fields.len())
            .field("messages", &self.messages.len())
            .field("options", &self.options)
            .finish()
    }
}

/// Where a base dictionary comes from.
#[derive(Clone, Copy, Debug)]
enum Base<'a> {
    /// One of [`BUILT_IN`].
    BuiltIn(&'a str),
    /// A QuickFIX-format XML file.
    File(&'a Path),
}

/// A configured name: a built-in version, or else a file path.
fn base_named(name: &str) -> Base<'_> {
    if is_builtin(name) {
        Base::BuiltIn(name)
    } else {
        Base::File(Path::new(name))
    }
}

/// A base dictionary's tree and the name errors call it by.
fn base_root(base: Base<'_>) -> Result<(xml::Elem, String), DictionaryError> {
    let path = match base {
        Base::BuiltIn(v) => {
            let root = builtin::root(v).ok_or_else(|| {
                DictionaryError(format!("FIX dictionary {v:?}: not a built-in one"))
            })?;
            return Ok((root, format!("{v} (built-in)")));
        }
        Base::File(p) => p,
    };
    let name = path.display().to_string();
    let text = read(path)?;
    let root = xml::parse(&text).map_err(|e| err(&name, e))?;
    check_root(&root, true).map_err(|e| err(&name, e))?;
    check(&root).map_err(|e| err(&name, e))?;
    Ok((root, name))
}

/// Reads one overlay file.
fn overlay_root(ov: &Path) -> Result<(xml::Elem, String), DictionaryError> {
    let oname = format!("overlay {}", ov.display());
    let otext = read(ov)?;
    let overlay = xml::parse(&otext).map_err(|e| err(&oname, e))?;
    check_root(&overlay, false).map_err(|e| err(&oname, e))?;
    Ok((overlay, oname))
}

/// The base named `base` (or, for FIXT.1.1, the transport base with the application
/// base `app` merged over it) with `overlays` applied in order; `each` sees the tree
/// before and after every overlay.
fn merged(
    base: Base<'_>,
    app: Option<Base<'_>>,
    overlays: &[&Path],
    mut each: impl FnMut(&str, &xml::Elem, &xml::Elem),
) -> Result<Merged, DictionaryError> {
    let (mut root, name) = base_root(base)?;
    let mut app_only = Vec::new();
    let begin = begin_string_of(&root);
    let mut application_version = app_version_of(&root);
    let mut origin = name;
    if let Some(app) = app {
        let (a, aname) = base_root(app)?;
        application_version = app_version_of(&a).or(application_version);
        let tags = |r: &xml::Elem| -> Vec<u32> {
            section(r, "fields")
                .map(|f| {
                    f.children
                        .iter()
                        .filter_map(|c| c.attr("number")?.parse().ok())
                        .collect()
                })
                .unwrap_or_default()
        };
        let transport = tags(&root);
        app_only = tags(&a)
            .into_iter()
            .filter(|t| !transport.contains(t))
            .collect();
        app_only.sort_unstable();
        merge(&mut root, &a).map_err(|e| err(&aname, e))?;
        check(&root).map_err(|e| err(&format!("{origin} with {aname}"), e))?;
        origin = format!("{origin} with {aname}");
    }
    for ov in overlays {
        let (overlay, oname) = overlay_root(ov)?;
        if let Some(v) = app_version_of(&overlay) {
            application_version = Some(v);
        }
        let before = root.clone();
        merge(&mut root, &overlay).map_err(|e| err(&oname, e))?;
        check(&root).map_err(|e| err(&oname, e))?;
        each(&ov.display().to_string(), &before, &root);
    }
    if !overlays.is_empty() {
        origin = format!("{origin} with its overlays");
    }
    Ok(Merged {
        root,
        begin,
        application_version,
        origin,
        app_only,
    })
}

/// What a session's dictionary is made of, for `execd check-config`: the base (and for
/// FIXT.1.1 the application base), then for each overlay what it adds, changes or
/// removes. Loading it checks that every file named exists and reads.
pub fn describe(
    base: &str,
    app: Option<&str>,
    overlays: &[&Path],
) -> Result<Vec<String>, DictionaryError> {
    let mut lines = Vec::new();
    let mut changes: Vec<(String, Vec<String>)> = Vec::new();
    let m = merged(
        base_named(base),
        app.map(base_named),
        overlays,
        |name, before, after| {
            let mut out = Vec::new();
            diff_roots(before, after, &mut out);
            changes.push((name.to_string(), out));
        },
    )?;
    let d = Dictionary::from_root(m.root, m.begin, m.application_version)
        .map_err(|e| err(&m.origin, e))?;
    let what = |n: &str| {
        if is_builtin(n) {
            format!("{n} (built in)")
        } else {
            format!("{n} (file)")
        }
    };
    lines.push(match app {
        None => format!("dictionary {}", what(base)),
        Some(a) => format!("dictionary {} with {}", what(base), what(a)),
    });
    for (name, out) in changes {
        if out.is_empty() {
            lines.push(format!("  overlay {name}: changes nothing"));
        }
        for l in out {
            lines.push(format!("  overlay {name}: {l}"));
        }
    }
    lines.push(format!(
        "  {} messages, {} fields",
        d.msg_types().count(),
        d.field_count()
    ));
    Ok(lines)
}

/// What turned `before` into `after`, one sentence per change.
fn diff_roots(before: &xml::Elem, after: &xml::Elem, out: &mut Vec<String>) {
    let fields = |r: &xml::Elem| -> Vec<(String, String, String, Vec<String>)> {
        section(r, "fields")
            .map(|f| {
                f.children
                    .iter()
                    .map(|c| {
                        let mut values: Vec<String> = c
                            .children
                            .iter()
                            .filter_map(|v| v.attr("enum").map(str::to_string))
                            .collect();
                        values.sort();
                        (
                            c.attr("number").unwrap_or("").to_string(),
                            c.attr("name").unwrap_or("").to_string(),
                            c.attr("type").unwrap_or("").to_string(),
                            values,
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let (fb, fa) = (fields(before), fields(after));
    for (num, name, ty, values) in &fa {
        match fb.iter().find(|b| b.0 == *num) {
            None => out.push(format!("adds field {name} ({num}, {ty})")),
            Some(b) => {
                if b.1 != *name {
                    out.push(format!("renames field {num}: {} → {name}", b.1));
                }
                if b.2 != *ty {
                    out.push(format!("changes field {name} ({num}): type {} → {ty}", b.2));
                }
                let added: Vec<&str> = values
                    .iter()
                    .filter(|v| !b.3.contains(v))
                    .map(String::as_str)
                    .collect();
                let removed: Vec<&str> =
                    b.3.iter()
                        .filter(|v| !values.contains(v))
                        .map(String::as_str)
                        .collect();
                if !removed.is_empty() {
                    out.push(format!(
                        "field {name} ({num}) no longer accepts {}",
                        removed.join(", ")
                    ));
                }
                if !added.is_empty() {
                    out.push(format!(
                        "field {name} ({num}) also accepts {}",
                        added.join(", ")
                    ));
                }
            }
        }
    }
    for (num, name, _, _) in &fb {
        if !fa.iter().any(|a| a.0 == *num) {
            out.push(format!("removes field {name} ({num})"));
        }
    }
    for (sec, key) in [("messages", "msgtype"), ("components", "name")] {
        let (Some(sb), Some(sa)) = (section(before, sec), section(after, sec)) else {
            continue;
        };
        for a in &sa.children {
            let k = a.attr(key).unwrap_or("");
            let label = match sec {
                "messages" => format!("{} ({k})", a.attr("name").unwrap_or("")),
                _ => format!("component {k}"),
            };
            match sb.children.iter().find(|b| b.attr(key) == Some(k)) {
                None if sec == "messages" => out.push(format!("adds message {label}")),
                None => out.push(format!("adds {label}")),
                Some(b) => diff_items(&label, &b.children, &a.children, out),
            }
        }
    }
    for sec in ["header", "trailer"] {
        if let (Some(b), Some(a)) = (section(before, sec), section(after, sec)) {
            diff_items(sec, &b.children, &a.children, out);
        }
    }
}

/// The items (fields, groups, components) `owner` lost, gained or changed.
fn diff_items(owner: &str, before: &[xml::Elem], after: &[xml::Elem], out: &mut Vec<String>) {
    let same = |x: &xml::Elem, y: &xml::Elem| x.name == y.name && x.attr("name") == y.attr("name");
    let label = |e: &xml::Elem| match e.name.as_str() {
        "field" => e.attr("name").unwrap_or("").to_string(),
        other => format!("{other} {}", e.attr("name").unwrap_or("")),
    };
    for b in before {
        if !after.iter().any(|a| same(a, b)) {
            out.push(format!("{owner}: removes {}", label(b)));
        }
    }
    for a in after {
        match before.iter().find(|b| same(a, b)) {
            None => out.push(format!(
                "{owner}: adds {}{}",
                label(a),
                if a.attr("required") == Some("Y") {
                    " (required)"
                } else {
                    ""
                }
            )),
            Some(b) => {
                if a.attr("required") != b.attr("required") {
                    let now = if a.attr("required") == Some("Y") {
                        "required"
                    } else {
                        "optional"
                    };
                    out.push(format!("{owner}: {} now {now}", label(a)));
                }
                if a.name == "group" {
                    diff_items(
                        &format!("{owner}, {}", label(a)),
                        &b.children,
                        &a.children,
                        out,
                    );
                }
            }
        }
    }
}

/// A base with its application base and overlays merged in.
struct Merged {
    root: xml::Elem,
    begin: String,
    application_version: Option<String>,
    /// Names the dictionary in errors.
    origin: String,
    app_only: Vec<u32>,
}

impl Dictionary {
    /// Loads the base `base` — a built-in version ([`BUILT_IN`]) or else the path of a
    /// QuickFIX-format XML file — and applies `overlays` in order.
    pub fn open(base: &str, overlays: &[&Path]) -> Result<Dictionary, DictionaryError> {
        Self::assemble(base_named(base), None, overlays)
    }

    /// Loads a FIXT.1.1 session's dictionary: the `transport` base (header, trailer,
    /// session messages) with the `app` base and then `overlays` merged in. Each base is
    /// a built-in version (`FIXT.1.1`, `FIX.5.0SP2`) or a file.
    pub fn open_fixt(
        transport: &str,
        app: &str,
        overlays: &[&Path],
    ) -> Result<Dictionary, DictionaryError> {
        Self::assemble(base_named(transport), Some(base_named(app)), overlays)
    }

    /// A built-in dictionary as it is (`FIX.4.2`, `FIX.4.4`, `FIXT.1.1`; `FIX.5.0SP2`
    /// over `FIXT.1.1`, as a FIXT session uses it).
    pub fn builtin(version: &str) -> Result<Dictionary, DictionaryError> {
        match version {
            "FIX.5.0SP2" => Self::open_fixt("FIXT.1.1", version, &[]),
            v if is_builtin(v) => Self::open(v, &[]),
            v => Err(DictionaryError(format!(
                "FIX dictionary {v:?}: not a built-in one ({})",
                BUILT_IN.join(", ")
            ))),
        }
    }

    /// Loads `base` (a QuickFIX-format XML file) and applies `overlays` in order.
    pub fn load(base: &Path, overlays: &[&Path]) -> Result<Dictionary, DictionaryError> {
        Self::assemble(Base::File(base), None, overlays)
    }

    /// Loads a FIXT.1.1 session's dictionary from files: the `transport` dictionary
    /// with the `app` dictionary and then `overlays` merged in.
    pub fn load_fixt(
        transport: &Path,
        app: &Path,
        overlays: &[&Path],
    ) -> Result<Dictionary, DictionaryError> {
        Self::assemble(Base::File(transport), Some(Base::File(app)), overlays)
    }

    fn assemble(
        base: Base<'_>,
        app: Option<Base<'_>>,
        overlays: &[&Path],
    ) -> Result<Dictionary, DictionaryError> {
        let m = merged(base, app, overlays, |_, _, _| {})?;
        let mut d = Self::from_root(m.root, m.begin, m.application_version)
            .map_err(|e| err(&m.origin, e))?;
        d.app_only = m.app_only;
        Ok(d)
    }

    /// Loads a dictionary from XML text (`name` is used in error messages).
    pub fn from_xml(name: &str, text: &str) -> Result<Dictionary, DictionaryError> {
        let root = xml::parse(text).map_err(|e| err(name, e))?;
        check_root(&root, true).map_err(|e| err(name, e))?;
        check(&root).map_err(|e| err(name, e))?;
        let begin = begin_string_of(&root);
        let app = app_version_of(&root);
        Self::from_root(root, begin, app).map_err(|e| err(name, e))
    }

    fn from_root(
        mut root: xml::Elem,
        begin_string: String,
        application_version: Option<String>,
    ) -> Result<Dictionary, String> {
        add_msg_type_enums(&mut root);
        order_components(&mut root);
        let version = version_of(&root);
        let mut d = Dictionary {
            begin_string,
            version,
            application_version,
            fields: Vec::new(),
            tag_index: Vec::new(),
            levels: Vec::new(),
            messages: Vec::new(),
            options: ValidateOptions::default(),
            merged_xml: String::new(),
            app_only: Vec::new(),
            id: next_id(),
        };
        Builder::new(&root)?.build(&mut d)?;
        d.merged_xml = xml::to_string(&root);
        Ok(d)
    }

    /// The BeginString this dictionary is for (`FIX.4.4`, `FIXT.1.1` …).
    pub fn begin_string(&self) -> &str {
        &self.begin_string
    }

    /// The dictionary's version as QuickFIX names it (`FIX.4.4`, `FIXT.1.1`,
    /// `FIX.5.0SP2`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// For FIX 5.0+: the application version (`FIX.5.0SP2`) merged in.
    pub fn application_version(&self) -> Option<&str> {
        self.application_version.as_deref()
    }

    /// For FIX 5.0+: the ApplVerID (1128) / DefaultApplVerID (1137) value of the
    /// application version (`9` for FIX.5.0SP2).
    pub fn default_appl_ver_id(&self) -> Option<&'static str> {
        match self.application_version.as_deref()? {
            "FIX.5.0" => Some("7"),
            "FIX.5.0SP1" => Some("8"),
            "FIX.5.0SP2" => Some("9"),
            _ => None,
        }
    }

    /// The validation options in force.
    pub fn options(&self) -> ValidateOptions {
        self.options
    }

    /// Changes the validation options.
    pub fn set_options(&mut self, options: ValidateOptions) {
        self.options = options;
        self.id = next_id();
    }

    /// The same dictionary with other validation options.
    pub fn with_options(mut self, options: ValidateOptions) -> Dictionary {
        self.set_options(options);
        self
    }

    /// The merged dictionary (base with overlays applied) in the QuickFIX XML form: what
    /// QuickFIX or fefix load as this session's DataDictionary.
    pub fn merged_xml(&self) -> &str {
        &self.merged_xml
    }

    fn field_info(&self, tag: u32) -> Option<&FieldInfo> {
        let i = *self.tag_index.get(tag as usize)?;
        (i != NONE).then(|| &self.fields[i as usize])
    }

    /// Whether `tag` is defined.
    pub fn has_field(&self, tag: u32) -> bool {
        self.field_info(tag).is_some()
    }

    /// The name of field `tag`.
    pub fn field_name(&self, tag: u32) -> Option<&str> {
        self.field_info(tag).map(|f| f.name.as_str())
    }

    /// The QuickFIX type name of field `tag` (`INT`, `PRICE` …).
    pub fn field_type(&self, tag: u32) -> Option<&str> {
        self.field_info(tag).map(|f| f.qf_type.as_str())
    }

    /// Number of fields defined.
    pub fn field_count(&self) -> usize {
        self.fields.len()
    }

    /// Whether `value` is one of the enumerated values of `tag` (true if the field has
    /// no enumeration; false if the field is unknown).
    pub fn is_valid_value(&self, tag: u32, value: &[u8]) -> bool {
        self.field_info(tag).is_some_and(|f| enum_ok(f, value))
    }

    fn msg(&self, msg_type: &[u8]) -> Option<&MsgInfo> {
        let key = msg_key(msg_type);
        self.messages
            .binary_search_by(|m| {
                m.key
                    .cmp(&key)
                    .then_with(|| m.msg_type.as_ref().cmp(msg_type))
            })
            .ok()
            .map(|i| &self.messages[i])
    }

    /// Whether `msg_type` is defined.
    pub fn has_msg_type(&self, msg_type: &[u8]) -> bool {
        self.msg(msg_type).is_some()
    }

    /// Whether `msg_type` is a session (admin) message.
    pub fn is_admin(&self, msg_type: &[u8]) -> bool {
        self.msg(msg_type).is_some_and(|m| m.admin)
    }

    /// The name of message type `msg_type`.
    pub fn msg_name(&self, msg_type: &[u8]) -> Option<&str> {
        self.msg(msg_type).map(|m| m.name.as_str())
    }

    /// MsgTypes defined, in byte order.
    pub fn msg_types(&self) -> impl Iterator<Item = &[u8]> {
        self.messages.iter().map(|m| m.msg_type.as_ref())
    }

    /// Whether `tag` is allowed in message `msg_type` (body, header or trailer, at any
    /// group depth).
    pub fn is_in_message(&self, msg_type: &[u8], tag: u32) -> bool {
        let Some(m) = self.msg(msg_type) else {
            return false;
        };
        [HEADER as u32, m.body, TRAILER as u32]
            .iter()
            .any(|&l| self.level_has(l, tag, 0))
    }

    fn level_has(&self, level: u32, tag: u32, depth: usize) -> bool {
        let l = &self.levels[level as usize];
        l.find(tag).is_some()
            || (depth < MAX_DEPTH
                && l.members
                    .iter()
                    .any(|m| m.group != NONE && self.level_has(m.group, tag, depth + 1)))
    }

    /// The fields of repeating group `count_tag` in message `msg_type`'s body, in the
    /// group's definition order (the delimiter first); None if the message has no such
    /// group. Writers follow it so a counterparty's strict validation takes the group.
    pub fn group_fields(&self, msg_type: &[u8], count_tag: u32) -> Option<Vec<u32>> {
        let m = self.msg(msg_type)?;
        let g = self.levels[m.body as usize].find(count_tag)?.group;
        if g == NONE {
            return None;
        }
        let mut members = self.levels[g as usize].members.clone();
        members.sort_by_key(|m| m.slot);
        Some(members.iter().map(|m| m.tag).collect())
    }

    /// Whether `tag` is required in message `msg_type` (body, header or trailer, outside
    /// groups).
    pub fn is_required(&self, msg_type: &[u8], tag: u32) -> bool {
        let Some(m) = self.msg(msg_type) else {
            return false;
        };
        [HEADER as u32, m.body, TRAILER as u32].iter().any(|&l| {
            self.levels[l as usize]
                .find(tag)
                .is_some_and(|mem| mem.required)
        })
    }

    /// The body of `msg` (header and trailer left out) in the order QuickFIX writes a
    /// message: fields by tag, each repeating group right after its NumInGroup with its
    /// instances' fields in the group's definition order. For echoing a message the way
    /// counterparties' conformance tests read it; None if its MsgType is unknown.
    pub fn body_in_order<'a>(&self, msg: &Msg<'a>) -> Option<Vec<Field<'a>>> {
        let info = self.msg(msg.msg_type())?;
        let (h, t) = (&self.levels[HEADER], &self.levels[TRAILER]);
        let fields: Vec<Field<'a>> = msg
            .fields()
            .filter(|f| h.find(f.tag).is_none() && t.find(f.tag).is_none())
            .collect();
        let body = &self.levels[info.body as usize];
        let mut i = 0;
        let mut units: Vec<(u32, Vec<Field<'a>>)> = Vec::new();
        while i < fields.len() {
            let f = fields[i];
            i += 1;
            let mut unit = vec![f];
            if let Some(m) = body.find(f.tag).filter(|m| m.group != NONE) {
                self.instances(m.group, &fields, &mut i, &mut unit, 0);
            }
            units.push((f.tag, unit));
        }
        units.sort_by_key(|u| u.0);
        Some(units.into_iter().flat_map(|u| u.1).collect())
    }

    /// Appends the instances of group `level` starting at `fields[*i]`, each in the
    /// group's definition order.
    fn instances<'a>(
        &self,
        level: u32,
        fields: &[Field<'a>],
        i: &mut usize,
        out: &mut Vec<Field<'a>>,
        depth: usize,
    ) {
        let g = &self.levels[level as usize];
        while depth < MAX_DEPTH && *i < fields.len() && fields[*i].tag == g.delim {
            let mut units: Vec<(u16, Vec<Field<'a>>)> = Vec::new();
            let mut first = true;
            while *i < fields.len() {
                let f = fields[*i];
                let Some(m) = g.find(f.tag) else { break };
                if f.tag == g.delim && !first {
                    break;
                }
                first = false;
                *i += 1;
                let mut unit = vec![f];
                if m.group != NONE {
                    self.instances(m.group, fields, i, &mut unit, depth + 1);
                }
                units.push((m.slot, unit));
            }
            units.sort_by_key(|u| u.0);
            out.extend(units.into_iter().flat_map(|u| u.1));
        }
    }

    /// Checks a decoded message against the dictionary.
    pub fn validate(&self, msg: &Msg<'_>) -> Result<(), Invalid> {
        self.validate_seq(msg)
    }

    /// `validate`, with the answer the same, for a session's inbound messages: a message
    /// whose layout `seen` holds has only its values checked, and a sound one's layout is
    /// remembered (`layouts.rs` says why that is enough).
    pub fn validate_seen(&self, msg: &Msg<'_>, seen: &mut Layouts) -> Result<(), Invalid> {
        if seen.knows(self.id, msg) {
            return self.check_values(msg);
        }
        let mut count_at = 0;
        self.validate_counting(msg, &mut count_at)?;
        seen.remember(self.id, msg, count_at);
        Ok(())
    }

    /// Checks a message given as its fields in wire order (header and trailer included).
    pub fn validate_fields(&self, fields: &[Field<'_>]) -> Result<(), Invalid> {
        self.validate_seq(fields)
    }

    fn validate_seq<'a, S: FieldSeq<'a> + ?Sized>(&self, msg: &S) -> Result<(), Invalid> {
        self.validate_counting(msg, &mut 0)
    }

    /// `validate_seq`, setting bit i of `count_at` where field i (i < 64) opened a group.
    fn validate_counting<'a, S: FieldSeq<'a> + ?Sized>(
        &self,
        msg: &S,
        count_at: &mut u64,
    ) -> Result<(), Invalid> {
        let n = msg.count();
        // MsgType first: without it nothing else can be checked.
        let mut mt: Option<&[u8]> = None;
        for i in 0..n {
            let f = msg.at(i);
            if f.tag == tag::MSG_TYPE {
                mt = Some(f.value);
                break;
            }
        }
        let Some(mt) = mt else {
            return Err(invalid(R::RequiredTagMissing, tag::MSG_TYPE));
        };
        if mt.is_empty() {
            return Err(invalid(R::TagSpecifiedWithoutValue, 35));
        }
        let Some(info) = self.msg(mt) else {
            // QuickFIX names no tag here: the MsgType is what RefMsgType (372) carries.
            return Err(Invalid {
                reason: R::InvalidMsgType,
                ref_tag: None,
            });
        };
        let tops: [&Level; 3] = [
            &self.levels[HEADER],
            &self.levels[info.body as usize],
            &self.levels[TRAILER],
        ];
        self.check_structure(msg, &tops, info.admin, count_at)?;
        self.check_values(msg)
    }

    /// Tags, placement, repeats and groups, then what is required.
    fn check_structure<'a, S: FieldSeq<'a> + ?Sized>(
        &self,
        msg: &S,
        tops: &[&Level; 3],
        admin: bool,
        count_at: &mut u64,
    ) -> Result<(), Invalid> {
        // 8, 9, 35 lead a message whose dictionary has a standard header.
        let std_header = tops[0].find(tag::BEGIN_STRING).is_some();
        let allow_user = self.options.allow_unknown_user_tags;
        let mut top_seen: [Bits; 3] = [[0; WORDS]; 3];
        let mut section = 0usize;
        let mut after_checksum = false;
        let mut stack: [Frame; MAX_DEPTH] = [Frame::EMPTY; MAX_DEPTH];
        let mut depth = 0usize;

        for i in 0..msg.count() {
            let Field { tag, value } = msg.at(i);
            let known = self.field_info(tag).is_some()
                && !(admin && self.app_only.binary_search(&tag).is_ok());
            if !known {
                if allow_user && is_user_defined_tag(tag) {
                    continue;
                }
                return Err(invalid(R::InvalidTagNumber, tag));
            }
            if value.is_empty() {
                return Err(invalid(R::TagSpecifiedWithoutValue, tag));
            }
            if std_header {
                let lead = LEADING_TAGS.get(i).copied();
                if lead != Some(tag) && (lead.is_some() || LEADING_TAGS.contains(&tag)) {
                    return Err(invalid(R::TagSpecifiedOutOfRequiredOrder, tag));
                }
            }
            if after_checksum {
                return Err(invalid(R::TagSpecifiedOutOfRequiredOrder, tag));
            }
            // A user-defined tag with no place in this message is passed over when allowed,
            // without closing the groups around it.
            if allow_user && is_user_defined_tag(tag) && !self.placed(tag, tops, &stack[..depth]) {
                continue;
            }

            let member: Member = loop {
                if depth > 0 {
                    let fr = &mut stack[depth - 1];
                    let lvl = &self.levels[fr.level as usize];
                    if let Some(&m) = lvl.find(tag) {
                        if tag == lvl.delim {
                            if fr.instances == fr.expected {
                                return Err(invalid(R::IncorrectNumInGroupCount, fr.count_tag));
                            }
                            if fr.instances > 0 {
                                lvl.check_required(&fr.seen)?;
                            }
                            fr.instances += 1;
                            fr.seen = [0; WORDS];
                        } else if fr.instances == 0 || bit(&fr.seen, m.slot) {
                            return Err(invalid(R::RepeatingGroupFieldsOutOfOrder, tag));
                        }
                        set_bit(&mut fr.seen, m.slot);
                        break m;
                    }
                    // Not a member: the group ends here.
                    if fr.instances != fr.expected {
                        return Err(invalid(R::IncorrectNumInGroupCount, fr.count_tag));
                    }
                    if fr.instances > 0 {
                        lvl.check_required(&fr.seen)?;
                    }
                    depth -= 1;
                    continue;
                }
                let found = tops
                    .iter()
                    .enumerate()
                    .find_map(|(s, l)| l.find(tag).map(|m| (s, *m)));
                let Some((s, m)) = found else {
                    return Err(invalid(R::TagNotDefinedForMessageType, tag));
                };
                if s < section {
                    return Err(invalid(R::TagSpecifiedOutOfRequiredOrder, tag));
                }
                section = s;
                if bit(&top_seen[s], m.slot) {
                    return Err(invalid(R::TagAppearsMoreThanOnce, tag));
                }
                set_bit(&mut top_seen[s], m.slot);
                if s == 2 && tag == tag::CHECK_SUM {
                    after_checksum = true;
                }
                break m;
            };

            if member.group != NONE {
                // The count shapes what follows: a count that is not a number is a
                // format fault found here, before any value is looked at.
                let Some(count) = parse_u64(value) else {
                    return Err(invalid(R::IncorrectDataFormat, tag));
                };
                if i < 64 {
                    *count_at |= 1 << i;
                }
                if depth == MAX_DEPTH {
                    // The loader refuses dictionaries nested deeper than this.
                    return Err(invalid(R::RepeatingGroupFieldsOutOfOrder, tag));
                }
                stack[depth] = Frame {
                    level: member.group,
                    count_tag: tag,
                    expected: count,
                    instances: 0,
                    seen: [0; WORDS],
                };
                depth += 1;
            }
        }
        while depth > 0 {
            let fr = &stack[depth - 1];
            if fr.instances != fr.expected {
                return Err(invalid(R::IncorrectNumInGroupCount, fr.count_tag));
            }
            if fr.instances > 0 {
                self.levels[fr.level as usize].check_required(&fr.seen)?;
            }
            depth -= 1;
        }
        // Header, trailer, body: the order QuickFIX reports missing tags in.
        for s in [0, 2, 1] {
            tops[s].check_required(&top_seen[s])?;
        }
        Ok(())
    }

    /// Whether `tag` has a place in the message or the groups open around it.
    fn placed(&self, tag: u32, tops: &[&Level; 3], open: &[Frame]) -> bool {
        tops.iter().any(|l| l.find(tag).is_some())
            || open
                .iter()
                .any(|f| self.levels[f.level as usize].find(tag).is_some())
    }

    /// Formats and enumerated values, once the structure is known to be sound.
    fn check_values<'a, S: FieldSeq<'a> + ?Sized>(&self, msg: &S) -> Result<(), Invalid> {
        for i in 0..msg.count() {
            let Field { tag, value } = msg.at(i);
            let Some(fi) = self.field_info(tag) else {
                continue;
            };
            if !fmt_ok(fi.fmt, value) {
                return Err(invalid(R::IncorrectDataFormat, tag));
            }
            if tag != 35 && !enum_ok(fi, value) {
                return Err(invalid(R::ValueIsIncorrect, tag));
            }
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
struct Frame {
    level: u32,
    count_tag: u32,
    expected: u64,
    instances: u64,
    seen: Bits,
}

impl Frame {
    const EMPTY: Frame = Frame {
        level: 0,
        count_tag: 0,
        expected: 0,
        instances: 0,
        seen: [0; WORDS],
    };
}

trait FieldSeq<'a> {
    fn count(&self) -> usize;
    fn at(&self, i: usize) -> Field<'a>;
}

impl<'a> FieldSeq<'a> for Msg<'a> {
    fn count(&self) -> usize {
        self.len()
    }
    fn at(&self, i: usize) -> Field<'a> {
        self.field(i).unwrap_or(Field { tag: 0, value: b"" })
    }
}

impl<'a> FieldSeq<'a> for [Field<'a>] {
    fn count(&self) -> usize {
        self.len()
    }
    fn at(&self, i: usize) -> Field<'a> {
        self[i]
    }
}

// ---------------------------------------------------------------------------------------
// Formats and enumerations

fn digits(v: &[u8]) -> bool {
    !v.is_empty() && v.iter().all(u8::is_ascii_digit)
}

fn month_ok(v: &[u8]) -> bool {
    matches!(parse_u64(v), Some(1..=12))
}

fn fmt_ok(fmt: Fmt, v: &[u8]) -> bool {
    match fmt {
        Fmt::Int => digits(v.strip_prefix(b"-").unwrap_or(v)),
        Fmt::UInt => digits(v),
        Fmt::Decimal => {
            let v = v.strip_prefix(b"-").unwrap_or(v);
            let mut dot = false;
            let mut any = false;
            for &c in v {
                match c {
                    b'0'..=b'9' => any = true,
                    b'.' if !dot => dot = true,
                    _ => return false,
                }
            }
            any
        }
        Fmt::Char => v.len() == 1,
        Fmt::Bool => v == b"Y" || v == b"N",
        Fmt::Timestamp => time::is_utc_timestamp(v),
        Fmt::TimeOnly => time::is_utc_time_only(v),
        Fmt::Date => time::is_date(v),
        Fmt::MonthYear => match v.len() {
            6 => digits(v) && month_ok(&v[4..6]),
            8 if v[6] == b'w' => {
                digits(&v[..6]) && month_ok(&v[4..6]) && (b'1'..=b'5').contains(&v[7])
            }
            8 => time::is_date(v),
            _ => false,
        },
        Fmt::DayOfMonth => {
            digits(v) && v.len() <= 2 && (1..=31).contains(&parse_u64(v).unwrap_or(0))
        }
        Fmt::Multi | Fmt::Text => true,
    }
}

fn enum_ok(f: &FieldInfo, v: &[u8]) -> bool {
    if f.enums.is_empty() {
        return true;
    }
    let one = |x: &[u8]| match x {
        [b] => f.one_byte[*b as usize / 64] & (1 << (b % 64)) != 0,
        _ => f.longer && f.enums.binary_search_by(|e| e.as_ref().cmp(x)).is_ok(),
    };
    if f.fmt == Fmt::Multi {
        let mut any = false;
        for part in v.split(|&c| c == b' ').filter(|p| !p.is_empty()) {
            if !one(part) {
                return false;
            }
            any = true;
        }
        any
    } else {
        one(v)
    }
}

// ---------------------------------------------------------------------------------------
// Loading: reading, checking and merging the XML

fn err(origin: &str, msg: String) -> DictionaryError {
    DictionaryError(format!("FIX dictionary {origin}: {msg}"))
}

fn read(path: &Path) -> Result<String, DictionaryError> {
    std::fs::read_to_string(path).map_err(|e| {
        DictionaryError(format!(
            "FIX dictionary {}: cannot read: {e}",
            path.display()
        ))
    })
}

const SECTIONS: [&str; 5] = ["header", "trailer", "messages", "components", "fields"];

/// Checks the `<fix>` element; a base needs its version attributes and every section.
fn check_root(root: &xml::Elem, base: bool) -> Result<(), String> {
    if root.name != "fix" {
        return Err(format!(
            "line {}: root element is <{}>, not <fix>",
            root.line, root.name
        ));
    }
    if base {
        let ty = root
            .attr("type")
            .ok_or("<fix> has no type attribute (FIX or FIXT)")?;
        if ty != "FIX" && ty != "FIXT" {
            return Err(format!("<fix type=\"{ty}\">: type must be FIX or FIXT"));
        }
        for a in ["major", "minor"] {
            let v = root
                .attr(a)
                .ok_or_else(|| format!("<fix> has no {a} attribute"))?;
            if !digits(v.as_bytes()) {
                return Err(format!("<fix {a}=\"{v}\">: not a number"));
            }
        }
        if let Some(sp) = root.attr("servicepack") {
            if !digits(sp.as_bytes()) {
                return Err(format!("<fix servicepack=\"{sp}\">: not a number"));
            }
        }
    }
    let mut seen = [false; 5];
    for c in &root.children {
        let Some(i) = SECTIONS.iter().position(|s| *s == c.name) else {
            return Err(format!(
                "line {}: unknown section <{}> (expected header, trailer, messages, components, fields)",
                c.line, c.name
            ));
        };
        if seen[i] {
            return Err(format!(
                "line {}: section <{}> appears twice",
                c.line, c.name
            ));
        }
        seen[i] = true;
    }
    if base {
        if let Some(i) = seen.iter().position(|s| !s) {
            return Err(format!("section <{}> missing", SECTIONS[i]));
        }
    }
    Ok(())
}

fn section<'e>(root: &'e xml::Elem, name: &str) -> Option<&'e xml::Elem> {
    root.children.iter().find(|c| c.name == name)
}

fn section_mut<'e>(root: &'e mut xml::Elem, name: &str) -> &'e mut xml::Elem {
    if let Some(i) = root.children.iter().position(|c| c.name == name) {
        return &mut root.children[i];
    }
    root.children.push(xml::Elem::new(name, 0));
    root.children.last_mut().expect("just pushed")
}

fn need<'e>(e: &'e xml::Elem, attr: &str) -> Result<&'e str, String> {
    match e.attr(attr) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(format!(
            "line {}: <{}> without a {attr} attribute",
            e.line, e.name
        )),
    }
}

fn begin_string_of(root: &xml::Elem) -> String {
    let ty = root.attr("type").unwrap_or("FIX");
    let major = root.attr("major").unwrap_or("4");
    let minor = root.attr("minor").unwrap_or("4");
    if ty == "FIX" && major.parse::<u32>().unwrap_or(0) >= 5 {
        // FIX 5.0+ travels over FIXT.1.1.
        "FIXT.1.1".to_string()
    } else {
        format!("{ty}.{major}.{minor}")
    }
}

fn version_of(root: &xml::Elem) -> String {
    let ty = root.attr("type").unwrap_or("FIX");
    let major = root.attr("major").unwrap_or("4");
    let minor = root.attr("minor").unwrap_or("4");
    match root.attr("servicepack") {
        Some(sp) if sp != "0" => format!("{ty}.{major}.{minor}SP{sp}"),
        _ => format!("{ty}.{major}.{minor}"),
    }
}

fn app_version_of(root: &xml::Elem) -> Option<String> {
    let major: u32 = root.attr("major")?.parse().ok()?;
    (root.attr("type") == Some("FIX") && major >= 5).then(|| version_of(root))
}

/// `e` must be a `<child>` element: what else stands `within` its parent is an error.
fn is_a(e: &xml::Elem, child: &str, within: &str) -> Result<(), String> {
    if e.name == child {
        return Ok(());
    }
    Err(format!(
        "line {}: <{}> in {within}; only <{child}> belongs there",
        e.line, e.name
    ))
}

/// Checks everything QuickFIX and fefix rely on, so that neither fails or panics later.
fn check(root: &xml::Elem) -> Result<(), String> {
    let mut names: FxHashMap<&str, u32> = FxHashMap::default();
    let mut tags: FxHashMap<u32, &str> = FxHashMap::default();
    if let Some(fields) = section(root, "fields") {
        for f in &fields.children {
            is_a(f, "field", "<fields>")?;
            let name = need(f, "name")?;
            let num = need(f, "number")?;
            let tag: u32 = num
                .parse()
                .ok()
                .filter(|t| (1..=MAX_TAG).contains(t))
                .ok_or_else(|| {
                    format!(
                        "line {}: field {name}: number \"{num}\" is not a tag (1–{MAX_TAG})",
                        f.line
                    )
                })?;
            let ty = need(f, "type")?;
            if fmt_of(ty).is_none() {
                return Err(format!(
                    "line {}: field {name} ({tag}): unknown type \"{ty}\"",
                    f.line
                ));
            }
            if let Some(other) = tags.insert(tag, name) {
                return Err(format!(
                    "line {}: tag {tag} defined twice ({other} and {name})",
                    f.line
                ));
            }
            if names.insert(name, tag).is_some() {
                return Err(format!("line {}: field name {name} defined twice", f.line));
            }
            for v in &f.children {
                is_a(v, "value", &format!("field {name}"))?;
                need(v, "enum")?;
                if v.attr("description").is_none() {
                    return Err(format!(
                        "line {}: <value> of field {name} without a description attribute",
                        v.line
                    ));
                }
            }
        }
    }
    let mut comps: FxHashMap<&str, &xml::Elem> = FxHashMap::default();
    if let Some(cs) = section(root, "components") {
        for c in &cs.children {
            is_a(c, "component", "<components>")?;
            let name = need(c, "name")?;
            if comps.insert(name, c).is_some() {
                return Err(format!("line {}: component {name} defined twice", c.line));
            }
        }
    }
    let ctx = CheckCtx {
        names: &names,
        comps: &comps,
    };
    for c in comps.values() {
        ctx.items(&c.children, &format!("component {}", need(c, "name")?), 0)?;
    }
    for s in ["header", "trailer"] {
        if let Some(sec) = section(root, s) {
            ctx.items(&sec.children, &format!("<{s}>"), 0)?;
        }
    }
    if let Some(ms) = section(root, "messages") {
        let mut types: FxHashMap<&str, &str> = FxHashMap::default();
        for m in &ms.children {
            is_a(m, "message", "<messages>")?;
            let name = need(m, "name")?;
            let ty = need(m, "msgtype")?;
            let cat = need(m, "msgcat")?;
            if cat != "app" && cat != "admin" {
                return Err(format!(
                    "line {}: message {name}: msgcat \"{cat}\" is neither app nor admin",
                    m.line
                ));
            }
            if let Some(other) = types.insert(ty, name) {
                return Err(format!(
                    "line {}: MsgType {ty} defined twice ({other} and {name})",
                    m.line
                ));
            }
            ctx.items(&m.children, &format!("message {name}"), 0)?;
        }
    }
    Ok(())
}

struct CheckCtx<'a, 'e> {
    names: &'a FxHashMap<&'e str, u32>,
    comps: &'a FxHashMap<&'e str, &'e xml::Elem>,
}

impl CheckCtx<'_, '_> {
    fn items(&self, items: &[xml::Elem], owner: &str, depth: usize) -> Result<(), String> {
        if depth > 32 {
            return Err(format!(
                "{owner}: components nested more than 32 deep (a component includes itself?)"
            ));
        }
        for it in items {
            let name = need(it, "name")?;
            match it.attr("required") {
                Some("Y") | Some("N") => {}
                _ => {
                    return Err(format!(
                        "line {}: {owner}: <{} name=\"{name}\"> needs required=\"Y\" or \"N\"",
                        it.line, it.name
                    ))
                }
            }
            match it.name.as_str() {
                "field" | "group" => {
                    if !self.names.contains_key(name) {
                        return Err(format!(
                            "line {}: {owner}: field {name} is not defined in <fields>",
                            it.line
                        ));
                    }
                    if it.name == "field" && !it.children.is_empty() {
                        return Err(format!(
                            "line {}: {owner}: <field name=\"{name}\"> has children",
                            it.line
                        ));
                    }
                    if it.name == "group" {
                        if it.children.is_empty() {
                            return Err(format!(
                                "line {}: {owner}: group {name} has no fields",
                                it.line
                            ));
                        }
                        self.items(&it.children, &format!("{owner}, group {name}"), depth + 1)?;
                    }
                }
                "component" => {
                    let Some(c) = self.comps.get(name) else {
                        return Err(format!(
                            "line {}: {owner}: component {name} is not defined in <components>",
                            it.line
                        ));
                    };
                    if !it.children.is_empty() {
                        return Err(format!(
                            "line {}: {owner}: a reference to component {name} has children",
                            it.line
                        ));
                    }
                    self.items(
                        &c.children,
                        &format!("{owner}, component {name}"),
                        depth + 1,
                    )?;
                }
                other => {
                    return Err(format!(
                        "line {}: {owner}: <{other}>; expected <field>, <group> or <component>",
                        it.line
                    ))
                }
            }
        }
        Ok(())
    }
}

/// Merges an overlay into the base: fields by number (or name), messages by MsgType,
/// components by name; the items of an existing message, component, header or trailer
/// are merged by name unless the overlay element says `mode="replace"`.
fn merge(base: &mut xml::Elem, overlay: &xml::Elem) -> Result<(), String> {
    for sec in &overlay.children {
        match sec.name.as_str() {
            "fields" => {
                let dst = section_mut(base, "fields");
                for f in &sec.children {
                    is_a(f, "field", "<fields>")?;
                    let name = need(f, "name")?;
                    let num = need(f, "number")?;
                    dst.children
                        .retain(|b| b.attr("number") != Some(num) && b.attr("name") != Some(name));
                    dst.children.push(f.clone());
                }
            }
            "messages" | "components" => {
                let (child, key) = if sec.name == "messages" {
                    ("message", "msgtype")
                } else {
                    ("component", "name")
                };
                let dst = section_mut(base, &sec.name);
                for m in &sec.children {
                    is_a(m, child, &format!("<{}>", sec.name))?;
                    let k = need(m, key)?;
                    let replace = match m.attr("mode") {
                        None | Some("merge") => false,
                        Some("replace") => true,
                        Some(other) => {
                            return Err(format!(
                                "line {}: mode=\"{other}\": expected merge or replace",
                                m.line
                            ))
                        }
                    };
                    let mut m = m.clone();
                    m.attrs.retain(|(a, _)| a != "mode");
                    match dst.children.iter_mut().find(|b| b.attr(key) == Some(k)) {
                        Some(b) if replace => *b = m,
                        Some(b) => {
                            for (a, v) in &m.attrs {
                                b.set_attr(a, v);
                            }
                            merge_items(b, &m.children);
                        }
                        None => {
                            if child == "message" {
                                need(&m, "name")?;
                                need(&m, "msgcat")?;
                            }
                            dst.children.push(m);
                        }
                    }
                }
            }
            "header" | "trailer" => {
                let dst = section_mut(base, &sec.name);
                if sec.attr("mode") == Some("replace") {
                    dst.children = sec.children.clone();
                } else {
                    merge_items(dst, &sec.children);
                }
            }
            other => return Err(format!("line {}: unknown section <{other}>", sec.line)),
        }
    }
    Ok(())
}

/// Items with the name of an existing item replace it in place; others are appended.
fn merge_items(dst: &mut xml::Elem, items: &[xml::Elem]) {
    for it in items {
        match dst
            .children
            .iter_mut()
            .find(|b| b.name == it.name && b.attr("name") == it.attr("name"))
        {
            Some(b) => *b = it.clone(),
            None => dst.children.push(it.clone()),
        }
    }
}

/// Keeps MsgType's (35) enumeration, if it has one, in step with the messages defined.
fn add_msg_type_enums(root: &mut xml::Elem) {
    let msgs: Vec<(String, String)> = section(root, "messages")
        .map(|ms| {
            ms.children
                .iter()
                .filter_map(|m| Some((m.attr("msgtype")?.to_string(), m.attr("name")?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let fields = section_mut(root, "fields");
    let Some(f35) = fields
        .children
        .iter_mut()
        .find(|f| f.attr("number").and_then(|n| n.parse().ok()) == Some(tag::MSG_TYPE))
    else {
        return;
    };
    if f35.children.is_empty() {
        return;
    }
    for (ty, name) in msgs {
        if !f35
            .children
            .iter()
            .any(|v| v.attr("enum") == Some(ty.as_str()))
        {
            let mut v = xml::Elem::new("value", 0);
            v.set_attr("enum", &ty);
            v.set_attr("description", &upper_snake(&name));
            f35.children.push(v);
        }
    }
}

fn upper_snake(name: &str) -> String {
    let mut s = String::with_capacity(name.len() + 4);
    let mut prev_upper = true;
    for c in name.chars() {
        if c.is_ascii_uppercase() && !prev_upper {
            s.push('_');
        }
        prev_upper = c.is_ascii_uppercase();
        s.push(c.to_ascii_uppercase());
    }
    s
}

/// Puts components after those they use: fefix resolves a reference to a component not
/// yet read as an empty one.
fn order_components(root: &mut xml::Elem) {
    let comps = section_mut(root, "components");
    let list = std::mem::take(&mut comps.children);
    let index: FxHashMap<String, usize> = list
        .iter()
        .enumerate()
        .filter_map(|(i, c)| Some((c.attr("name")?.to_string(), i)))
        .collect();
    fn uses(items: &[xml::Elem], out: &mut Vec<String>) {
        for it in items {
            if it.name == "component" {
                if let Some(n) = it.attr("name") {
                    out.push(n.to_string());
                }
            }
            uses(&it.children, out);
        }
    }
    fn visit(
        i: usize,
        list: &[xml::Elem],
        index: &FxHashMap<String, usize>,
        state: &mut [u8],
        order: &mut Vec<usize>,
    ) {
        if state[i] != 0 {
            return;
        }
        state[i] = 1;
        let mut deps = Vec::new();
        uses(&list[i].children, &mut deps);
        for d in deps {
            if let Some(&j) = index.get(&d) {
                visit(j, list, index, state, order);
            }
        }
        state[i] = 2;
        order.push(i);
    }
    let mut state = vec![0u8; list.len()];
    let mut order = Vec::with_capacity(list.len());
    for i in 0..list.len() {
        visit(i, &list, &index, &mut state, &mut order);
    }
    let mut slots: Vec<Option<xml::Elem>> = list.into_iter().map(Some).collect();
    let comps = section_mut(root, "components");
    comps.children = order.into_iter().filter_map(|i| slots[i].take()).collect();
}

// ---------------------------------------------------------------------------------------
// Building the tables

struct Builder<'e> {
    fields: FxHashMap<&'e str, u32>,
    comps: FxHashMap<&'e str, &'e xml::Elem>,
    header: &'e xml::Elem,
    trailer: &'e xml::Elem,
    messages: &'e xml::Elem,
    field_list: &'e xml::Elem,
}

impl<'e> Builder<'e> {
    fn new(root: &'e xml::Elem) -> Result<Builder<'e>, String> {
        let sec = |n: &str| section(root, n).ok_or_else(|| format!("section <{n}> missing"));
        let field_list = sec("fields")?;
        let mut fields = FxHashMap::default();
        for f in &field_list.children {
            let tag: u32 = need(f, "number")?
                .parse()
                .map_err(|_| "bad field number".to_string())?;
            fields.insert(need(f, "name")?, tag);
        }
        let mut comps = FxHashMap::default();
        for c in &sec("components")?.children {
            comps.insert(need(c, "name")?, c);
        }
        Ok(Builder {
            fields,
            comps,
            header: sec("header")?,
            trailer: sec("trailer")?,
            messages: sec("messages")?,
            field_list,
        })
    }

    fn build(&self, d: &mut Dictionary) -> Result<(), String> {
        let max_tag = self.fields.values().copied().max().unwrap_or(0);
        d.tag_index = vec![NONE; max_tag as usize + 1];
        for f in &self.field_list.children {
            let tag: u32 = need(f, "number")?
                .parse()
                .map_err(|_| "bad field number".to_string())?;
            let qf_type = need(f, "type")?.to_string();
            let fmt = fmt_of(&qf_type).ok_or_else(|| format!("unknown type {qf_type}"))?;
            let mut enums: Vec<Box<[u8]>> = f
                .children
                .iter()
                .filter_map(|v| v.attr("enum"))
                .map(|e| e.as_bytes().to_vec().into_boxed_slice())
                .collect();
            enums.sort();
            enums.dedup();
            // Some published dictionaries type a field CHAR yet list values of two
            // characters (FIX 4.4's MiscFeeType, 10–12): the values are what peers send.
            let fmt = if fmt == Fmt::Char && enums.iter().any(|e| e.len() > 1) {
                Fmt::Text
            } else {
                fmt
            };
            d.tag_index[tag as usize] = d.fields.len() as u32;
            let name = need(f, "name")?.to_string();
            d.fields
                .push(FieldInfo::new(tag, name, qf_type, fmt, enums));
        }
        d.levels.push(Level::default());
        d.levels.push(Level::default());
        let h = self.level(d, &self.header.children, "<header>", false, 0)?;
        let t = self.level(d, &self.trailer.children, "<trailer>", false, 0)?;
        d.levels.swap(HEADER, h as usize);
        d.levels.swap(TRAILER, t as usize);
        for m in &self.messages.children {
            let name = need(m, "name")?;
            let body = self.level(d, &m.children, &format!("message {name}"), false, 0)?;
            let msg_type = need(m, "msgtype")?.as_bytes();
            d.messages.push(MsgInfo {
                key: msg_key(msg_type),
                msg_type: msg_type.to_vec().into_boxed_slice(),
                name: name.to_string(),
                admin: m.attr("msgcat") == Some("admin"),
                body,
            });
        }
        // In the order `Dictionary::msg` searches.
        d.messages
            .sort_by(|a, b| a.key.cmp(&b.key).then_with(|| a.msg_type.cmp(&b.msg_type)));
        debug_assert!(d.fields.iter().all(|f| d.tag_index[f.tag as usize] != NONE));
        Ok(())
    }

    /// Builds the level for `items` (a message body, header, trailer or one group) and
    /// returns its index.
    fn level(
        &self,
        d: &mut Dictionary,
        items: &[xml::Elem],
        owner: &str,
        group: bool,
        depth: usize,
    ) -> Result<u32, String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "{owner}: repeating groups nested more than {MAX_DEPTH} deep"
            ));
        }
        let mut flat: Vec<Member> = Vec::new();
        self.flatten(d, items, true, owner, depth, &mut flat, 0)?;
        if flat.len() > MAX_MEMBERS {
            return Err(format!("{owner}: more than {MAX_MEMBERS} fields"));
        }
        let delim = if group {
            flat.first()
                .map(|m| m.tag)
                .ok_or_else(|| format!("{owner}: empty group"))?
        } else {
            0
        };
        let mut required = Vec::new();
        for (i, m) in flat.iter_mut().enumerate() {
            m.slot = i as u16;
            if m.required {
                required.push((m.slot, m.tag));
            }
        }
        // The smallest missing tag is the one reported, as QuickFIX reports it.
        required.sort_by_key(|&(_, tag)| tag);
        flat.sort_by_key(|m| m.tag);
        let idx = d.levels.len() as u32;
        d.levels.push(Level::new(delim, flat, required));
        Ok(idx)
    }

    #[allow(clippy::too_many_arguments)]
    fn flatten(
        &self,
        d: &mut Dictionary,
        items: &[xml::Elem],
        required_ctx: bool,
        owner: &str,
        depth: usize,
        out: &mut Vec<Member>,
        comp_depth: usize,
    ) -> Result<(), String> {
        if comp_depth > 32 {
            return Err(format!("{owner}: components nested more than 32 deep"));
        }
        for it in items {
            let name = need(it, "name")?;
            let required = required_ctx && it.attr("required") == Some("Y");
            match it.name.as_str() {
                "component" => {
                    let c = self
                        .comps
                        .get(name)
                        .ok_or_else(|| format!("{owner}: component {name} undefined"))?;
                    self.flatten(d, &c.children, required, owner, depth, out, comp_depth + 1)?;
                }
                "field" | "group" => {
                    let tag = *self
                        .fields
                        .get(name)
                        .ok_or_else(|| format!("{owner}: field {name} undefined"))?;
                    let group = if it.name == "group" {
                        self.level(
                            d,
                            &it.children,
                            &format!("{owner}, group {name}"),
                            true,
                            depth + 1,
                        )?
                    } else {
                        NONE
                    };
                    if let Some(prev) = out.iter_mut().find(|m| m.tag == tag) {
                        prev.required |= required;
                    } else {
                        out.push(Member {
                            tag,
                            slot: 0,
                            required,
                            group,
                        });
                    }
                }
                other => return Err(format!("{owner}: unexpected <{other}>")),
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// The built-in bases: fefix's dictionaries, back in the QuickFIX XML form

/// fefix's embedded dictionaries (QuickFIX-format data it parsed at build time) turned
/// into the same XML tree a dictionary file gives, so built-in bases and broker files go
/// through one merge, check and table builder.
pub mod builtin {
    use super::{xml::Elem, OnceLock};
    use fefix::dict::{LayoutItem, LayoutItemKind};

    /// FIX 5.0 SP2 fields typed TZTIMEONLY / TZTIMESTAMP by the specification: fefix
    /// reads those types as their UTC counterparts, which would refuse a timezone suffix.
    const FIX50SP2_TZ_FIELDS: [(u32, &str); 6] = [
        (1079, "TZTIMEONLY"),
        (1132, "TZTIMESTAMP"),
        (1212, "TZTIMEONLY"),
        (1213, "TZTIMEONLY"),
        (1253, "TZTIMEONLY"),
        (1405, "TZTIMEONLY"),
    ];

    /// The tree of built-in base `version` (one of [`super::BUILT_IN`]), built once per
    /// process and cloned for each session that merges overlays into it.
    pub(super) fn root(version: &str) -> Option<Elem> {
        static CACHE: [OnceLock<Elem>; 4] = [
            OnceLock::new(),
            OnceLock::new(),
            OnceLock::new(),
            OnceLock::new(),
        ];
        let i = super::BUILT_IN.iter().position(|v| *v == version)?;
        Some(CACHE[i].get_or_init(|| build(version)).clone())
    }

    fn build(version: &str) -> Elem {
        let (d, attrs) = match version {
            "FIX.4.2" => (fefix::Dictionary::fix42(), ("FIX", "4", "2", "0")),
            "FIX.4.4" => (fefix::Dictionary::fix44(), ("FIX", "4", "4", "0")),
            "FIXT.1.1" => (fefix::Dictionary::fixt11(), ("FIXT", "1", "1", "0")),
            _ => (fefix::Dictionary::fix50sp2(), ("FIX", "5", "0", "2")),
        };
        let mut root = Elem::new("fix", 0);
        for (k, v) in [
            ("type", attrs.0),
            ("major", attrs.1),
            ("minor", attrs.2),
            ("servicepack", attrs.3),
        ] {
            root.set_attr(k, v);
        }
        let mut header = Elem::new("header", 0);
        let mut trailer = Elem::new("trailer", 0);
        for (name, dst) in [
            ("StandardHeader", &mut header),
            ("StandardTrailer", &mut trailer),
        ] {
            if let Some(c) = d.component_by_name(name) {
                dst.children = c.items().map(|i| item(&i)).collect();
            }
        }
        let mut messages = Elem::new("messages", 0);
        for m in d.iter_messages() {
            let mut e = Elem::new("message", 0);
            e.set_attr("name", m.name());
            e.set_attr("msgtype", m.msg_type());
            // fefix keeps no category; the session layer's messages are these.
            let admin = matches!(m.msg_type(), "0" | "1" | "2" | "3" | "4" | "5" | "A");
            e.set_attr("msgcat", if admin { "admin" } else { "app" });
            e.children = m.layout().map(|i| item(&i)).collect();
            messages.children.push(e);
        }
        // fefix registers an empty placeholder under a component's name for every
        // reference to it; the definition is the one with the items.
        let mut components = Elem::new("components", 0);
        let mut index: std::collections::HashMap<String, usize> = Default::default();
        for c in d.iter_components() {
            let name = c.name();
            if name == "StandardHeader" || name == "StandardTrailer" {
                continue;
            }
            let items: Vec<Elem> = c.items().map(|i| item(&i)).collect();
            match index.get(name) {
                Some(&k) => {
                    if components.children[k].children.len() < items.len() {
                        components.children[k].children = items;
                    }
                }
                None => {
                    let mut e = Elem::new("component", 0);
                    e.set_attr("name", name);
                    e.children = items;
                    index.insert(name.to_string(), components.children.len());
                    components.children.push(e);
                }
            }
        }
        let mut fields = Elem::new("fields", 0);
        for f in d.iter_fields() {
            let tag = f.tag().get() as u32;
            let mut e = Elem::new("field", 0);
            e.set_attr("number", &tag.to_string());
            e.set_attr("name", f.name());
            let tz = FIX50SP2_TZ_FIELDS
                .iter()
                .find(|(t, _)| version == "FIX.5.0SP2" && *t == tag)
                .map(|(_, ty)| *ty);
            e.set_attr("type", tz.unwrap_or(f.fix_datatype().to_quickfix_name()));
            if let Some(values) = f.enums() {
                for v in values {
                    let mut ve = Elem::new("value", 0);
                    ve.set_attr("enum", v.value());
                    ve.set_attr("description", v.description());
                    e.children.push(ve);
                }
            }
            fields.children.push(e);
        }
        root.children = vec![header, trailer, messages, components, fields];
        root
    }

    fn item(i: &LayoutItem<'_>) -> Elem {
        let required = if i.required() { "Y" } else { "N" };
        let mut e = match i.kind() {
            LayoutItemKind::Field(f) => {
                let mut e = Elem::new("field", 0);
                e.set_attr("name", f.name());
                e
            }
            LayoutItemKind::Group(count, items) => {
                let mut e = Elem::new("group", 0);
                e.set_attr("name", count.name());
                e.children = items.iter().map(item).collect();
                e
            }
            LayoutItemKind::Component(_) => {
                let mut e = Elem::new("component", 0);
                // The reference's own name: fefix points it at the empty placeholder.
                e.set_attr("name", i.tag_text());
                e
            }
        };
        e.set_attr("required", required);
        e
    }
}

// ---------------------------------------------------------------------------------------
// A small XML reader and writer for QuickFIX dictionaries: elements, attributes, comments,
// processing instructions, CDATA and the predefined and numeric entities. Text content is
// ignored (QuickFIX dictionaries carry none).

mod xml {
    /// An element with its attributes and children; `line` is where it starts, for
    /// errors that name the line.
    #[derive(Debug, Clone)]
    pub struct Elem {
        pub name: String,
        pub attrs: Vec<(String, String)>,
        pub children: Vec<Elem>,
        pub line: usize,
    }

    impl Elem {
        pub fn new(name: &str, line: usize) -> Elem {
            Elem {
                name: name.to_string(),
                attrs: Vec::new(),
                children: Vec::new(),
                line,
            }
        }
        pub fn attr(&self, k: &str) -> Option<&str> {
            self.attrs
                .iter()
                .find(|(a, _)| a == k)
                .map(|(_, v)| v.as_str())
        }
        pub fn set_attr(&mut self, k: &str, v: &str) {
            match self.attrs.iter_mut().find(|(a, _)| a == k) {
                Some(p) => p.1 = v.to_string(),
                None => self.attrs.push((k.to_string(), v.to_string())),
            }
        }
    }

    const MAX_NESTING: usize = 64;

    struct P<'a> {
        s: &'a [u8],
        i: usize,
        line: usize,
        mark: usize,
    }

    /// Parses a document into its root element; errors name the line.
    pub fn parse(text: &str) -> Result<Elem, String> {
        let mut p = P {
            s: text.as_bytes(),
            i: 0,
            line: 1,
            mark: 0,
        };
        if p.s.starts_with("\u{feff}".as_bytes()) {
            p.i = 3;
        }
        p.misc()?;
        if p.i >= p.s.len() {
            return Err("no root element (empty document?)".into());
        }
        let root = p.element(0)?;
        p.misc()?;
        if p.i < p.s.len() {
            return Err(p.fail("content after the root element"));
        }
        Ok(root)
    }

    impl P<'_> {
        fn line(&mut self) -> usize {
            let end = self.i.min(self.s.len());
            if end > self.mark {
                self.line += self.s[self.mark..end]
                    .iter()
                    .filter(|&&c| c == b'\n')
                    .count();
                self.mark = end;
            }
            self.line
        }
        fn fail(&mut self, what: &str) -> String {
            format!("line {}: XML: {what}", self.line())
        }
        fn at(&self, pat: &str) -> bool {
            self.s[self.i..].starts_with(pat.as_bytes())
        }
        fn ws(&mut self) {
            while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
                self.i += 1;
            }
        }
        fn skip_past(&mut self, end: &str, what: &str) -> Result<(), String> {
            match self.s[self.i..]
                .windows(end.len())
                .position(|w| w == end.as_bytes())
            {
                Some(k) => {
                    self.i += k + end.len();
                    Ok(())
                }
                None => Err(self.fail(&format!("unterminated {what}"))),
            }
        }
        /// Whitespace, declarations, comments, processing instructions, DOCTYPE.
        fn misc(&mut self) -> Result<(), String> {
            loop {
                self.ws();
                if self.at("<?") {
                    self.skip_past("?>", "processing instruction")?;
                } else if self.at("<!--") {
                    self.skip_past("-->", "comment")?;
                } else if self.at("<!DOCTYPE") {
                    self.skip_past(">", "DOCTYPE")?;
                } else {
                    return Ok(());
                }
            }
        }
        fn name(&mut self) -> Result<String, String> {
            let start = self.i;
            while self.i < self.s.len() {
                let c = self.s[self.i];
                if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b':') || c >= 0x80
                {
                    self.i += 1;
                } else {
                    break;
                }
            }
            if start == self.i {
                return Err(self.fail("expected a name"));
            }
            Ok(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
        }
        fn element(&mut self, depth: usize) -> Result<Elem, String> {
            if depth > MAX_NESTING {
                return Err(self.fail("elements nested too deep"));
            }
            if !self.at("<") {
                return Err(self.fail("expected '<'"));
            }
            self.i += 1;
            let line = self.line();
            let mut e = Elem::new(&self.name()?, line);
            loop {
                let had_ws = self.i < self.s.len() && self.s[self.i].is_ascii_whitespace();
                self.ws();
                if self.i >= self.s.len() {
                    return Err(self.fail(&format!("unterminated <{}>", e.name)));
                }
                if self.at("/>") {
                    self.i += 2;
                    return Ok(e);
                }
                if self.at(">") {
                    self.i += 1;
                    break;
                }
                if !had_ws {
                    return Err(
                        self.fail(&format!("expected whitespace, '>' or '/>' in <{}>", e.name))
                    );
                }
                let a = self.name()?;
                self.ws();
                if !self.at("=") {
                    return Err(self.fail(&format!("attribute {a} of <{}> without '='", e.name)));
                }
                self.i += 1;
                self.ws();
                let q = match self.s.get(self.i) {
                    Some(&c @ (b'"' | b'\'')) => c,
                    _ => {
                        return Err(
                            self.fail(&format!("attribute {a} of <{}>: value not quoted", e.name))
                        )
                    }
                };
                self.i += 1;
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i] != q {
                    if self.s[self.i] == b'<' {
                        return Err(self.fail(&format!("'<' in the value of attribute {a}")));
                    }
                    self.i += 1;
                }
                if self.i >= self.s.len() {
                    return Err(self.fail(&format!("attribute {a}: unterminated value")));
                }
                let raw = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
                self.i += 1;
                let v = unescape(&raw).map_err(|m| self.fail(&m))?;
                if e.attr(&a).is_some() {
                    return Err(self.fail(&format!("attribute {a} repeated in <{}>", e.name)));
                }
                e.attrs.push((a, v));
            }
            // Content.
            loop {
                while self.i < self.s.len() && self.s[self.i] != b'<' {
                    self.i += 1;
                }
                if self.i >= self.s.len() {
                    return Err(
                        self.fail(&format!("<{}> (line {}) is never closed", e.name, e.line))
                    );
                }
                if self.at("</") {
                    self.i += 2;
                    let n = self.name()?;
                    if n != e.name {
                        return Err(
                            self.fail(&format!("</{n}> closes <{}> (line {})", e.name, e.line))
                        );
                    }
                    self.ws();
                    if !self.at(">") {
                        return Err(self.fail(&format!("expected '>' after </{n}")));
                    }
                    self.i += 1;
                    return Ok(e);
                } else if self.at("<!--") {
                    self.skip_past("-->", "comment")?;
                } else if self.at("<![CDATA[") {
                    self.skip_past("]]>", "CDATA section")?;
                } else if self.at("<?") {
                    self.skip_past("?>", "processing instruction")?;
                } else {
                    let child = self.element(depth + 1)?;
                    e.children.push(child);
                }
            }
        }
    }

    fn unescape(s: &str) -> Result<String, String> {
        if !s.contains('&') {
            return Ok(s.to_string());
        }
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(k) = rest.find('&') {
            out.push_str(&rest[..k]);
            rest = &rest[k + 1..];
            let end = rest.find(';').ok_or("'&' without ';'")?;
            let ent = &rest[..end];
            let c = match ent {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                _ => {
                    let code = if let Some(h) = ent.strip_prefix("#x") {
                        u32::from_str_radix(h, 16).ok()
                    } else if let Some(d) = ent.strip_prefix('#') {
                        d.parse().ok()
                    } else {
                        None
                    };
                    code.and_then(char::from_u32)
                        .ok_or_else(|| format!("unknown entity &{ent};"))?
                }
            };
            out.push(c);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn escape(s: &str, out: &mut String) {
        for c in s.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' => out.push_str("&quot;"),
                _ => out.push(c),
            }
        }
    }

    /// Writes a document with `root` as its root element.
    pub fn to_string(root: &Elem) -> String {
        let mut out = String::with_capacity(64 * 1024);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        write(root, 0, &mut out);
        out
    }

    fn write(e: &Elem, indent: usize, out: &mut String) {
        for _ in 0..indent {
            out.push_str("  ");
        }
        out.push('<');
        out.push_str(&e.name);
        for (a, v) in &e.attrs {
            out.push(' ');
            out.push_str(a);
            out.push_str("=\"");
            escape(v, out);
            out.push('"');
        }
        if e.children.is_empty() {
            out.push_str("/>\n");
            return;
        }
        out.push_str(">\n");
        for c in &e.children {
            write(c, indent + 1, out);
        }
        for _ in 0..indent {
            out.push_str("  ");
        }
        out.push_str("</");
        out.push_str(&e.name);
        out.push_str(">\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(tag: u32, value: &'static str) -> Field<'static> {
        Field {
            tag,
            value: value.as_bytes(),
        }
    }

    fn dict(version: &str) -> Dictionary {
        Dictionary::builtin(version).unwrap()
    }

    /// The hashed member lookup against the sorted member list it replaced, in every
    /// level of every built-in dictionary (group levels included), for members and for
    /// every other tag up to 10 000.
    #[test]
    fn level_lookup_finds_exactly_the_members() {
        for v in BUILT_IN.iter().chain(&["FIX.5.0SP2"]) {
            let d = dict(v);
            for (li, l) in d.levels.iter().enumerate() {
                for tag in 0..10_000u32 {
                    let want = l.members.binary_search_by_key(&tag, |m| m.tag).ok();
                    let got = l.find(tag).map(|m| m.slot);
                    assert_eq!(
                        got,
                        want.map(|i| l.members[i].slot),
                        "{v} level {li} tag {tag}"
                    );
                }
                for m in &l.members {
                    assert_eq!(l.find(m.tag).map(|f| f.slot), Some(m.slot));
                }
            }
        }
    }

    /// The one-byte bitmap and the sorted list agree: single characters, longer values,
    /// a value that is a prefix of one listed, and bytes no dictionary lists.
    #[test]
    fn enumerated_values_are_checked_the_same_through_the_bitmap() {
        let d = dict("FIX.4.4");
        for f in &d.fields {
            let mut probes: Vec<Vec<u8>> = (0u8..=255).map(|b| vec![b]).collect();
            for e in &f.enums {
                probes.push(e.to_vec());
                probes.push(e[..e.len() - 1].to_vec());
                let mut longer = e.to_vec();
                longer.push(b'0');
                probes.push(longer);
            }
            for p in probes.iter().filter(|p| !p.is_empty()) {
                let want = f.enums.is_empty() || f.enums.iter().any(|e| e.as_ref() == &p[..]);
                if f.fmt != Fmt::Multi {
                    assert_eq!(enum_ok(f, p), want, "tag {} value {p:?}", f.tag);
                }
            }
        }
        // MiscFeeType (139) lists 1 … 12: "1" and "12" pass, "13" does not.
        assert!(d.is_valid_value(139, b"1") && d.is_valid_value(139, b"12"));
        assert!(!d.is_valid_value(139, b"13"));
    }

    /// MsgType lookups by the integer key: every defined type is found as itself, and
    /// near misses (a prefix, one byte more, a NUL) are not.
    #[test]
    fn msg_types_are_found_by_their_key() {
        for v in ["FIX.4.2", "FIX.4.4", "FIX.5.0SP2"] {
            let d = dict(v);
            let types: Vec<Vec<u8>> = d.msg_types().map(|t| t.to_vec()).collect();
            assert!(types.len() > 40, "{v}");
            for t in &types {
                assert_eq!(d.msg(t).map(|m| m.msg_type.as_ref()), Some(&t[..]), "{v}");
                for near in [[&t[..], b"\0"].concat(), [&t[..], b"Z9"].concat()] {
                    if !types.contains(&near) {
                        assert!(d.msg(&near).is_none(), "{v} {near:?}");
                    }
                }
            }
            assert!(d.msg(b"").is_none() && d.msg(b"ZZZZZZZZZZ").is_none());
        }
    }

    #[test]
    fn xml_reader_handles_comments_entities_and_reports_lines() {
        let e = xml::parse(
            "<?xml version='1.0'?>\n<!-- c -->\n<a x=\"1 &amp; 2\"><b y='&#65;'/><!-- d --></a>",
        )
        .unwrap();
        assert_eq!(e.name, "a");
        assert_eq!(e.attr("x"), Some("1 & 2"));
        assert_eq!(e.children[0].attr("y"), Some("A"));
        let err = xml::parse("<a>\n<b>\n</a>").unwrap_err();
        assert!(err.contains("line 3"), "{err}");
        assert!(xml::parse("").is_err());
        assert!(xml::parse("<a x=1/>").is_err());
        assert!(xml::parse("<a/><b/>").is_err());
        assert!(xml::parse("<a x='&bogus;'/>").is_err());
    }

    #[test]
    fn formats() {
        assert!(fmt_ok(Fmt::Int, b"-12") && !fmt_ok(Fmt::Int, b"1a") && !fmt_ok(Fmt::Int, b"-"));
        assert!(fmt_ok(Fmt::UInt, b"0") && !fmt_ok(Fmt::UInt, b"-1"));
        assert!(
            fmt_ok(Fmt::Decimal, b"1.5")
                && fmt_ok(Fmt::Decimal, b"-0.25")
                && fmt_ok(Fmt::Decimal, b"3")
        );
        assert!(
            !fmt_ok(Fmt::Decimal, b"1.2.3")
                && !fmt_ok(Fmt::Decimal, b".")
                && !fmt_ok(Fmt::Decimal, b"1e5")
        );
        assert!(fmt_ok(Fmt::Char, b"A") && !fmt_ok(Fmt::Char, b"AB"));
        assert!(fmt_ok(Fmt::Bool, b"Y") && !fmt_ok(Fmt::Bool, b"y"));
        assert!(fmt_ok(Fmt::Timestamp, b"20240131-23:59:60"));
        assert!(fmt_ok(Fmt::Timestamp, b"20240131-12:00:00.123"));
        assert!(fmt_ok(Fmt::Timestamp, b"20240131-12:00:00.123456789"));
        assert!(!fmt_ok(Fmt::Timestamp, b"20241331-12:00:00"));
        assert!(!fmt_ok(Fmt::Timestamp, b"20240131 12:00:00"));
        assert!(!fmt_ok(Fmt::Timestamp, b"20240131-24:00:00"));
        assert!(!fmt_ok(Fmt::Timestamp, b"20240131-12:00:00."));
        assert!(fmt_ok(Fmt::Date, b"20240229") && !fmt_ok(Fmt::Date, b"2024022"));
        assert!(!fmt_ok(Fmt::Date, b"20240230") && !fmt_ok(Fmt::Timestamp, b"20240231-12:00:00"));
        assert!(fmt_ok(Fmt::MonthYear, b"20240229") && !fmt_ok(Fmt::MonthYear, b"20230229"));
        assert!(fmt_ok(Fmt::MonthYear, b"202403") && fmt_ok(Fmt::MonthYear, b"202403w2"));
        assert!(!fmt_ok(Fmt::MonthYear, b"202413"));
        assert!(fmt_ok(Fmt::DayOfMonth, b"31") && !fmt_ok(Fmt::DayOfMonth, b"32"));
    }

    #[test]
    fn every_built_in_dictionary_builds_tables() {
        for (version, begin, fields, messages) in [
            ("FIX.4.2", "FIX.4.2", 400, 46),
            ("FIX.4.4", "FIX.4.4", 900, 93),
            ("FIXT.1.1", "FIXT.1.1", 60, 7),
            ("FIX.5.0SP2", "FIXT.1.1", 1450, 115),
        ] {
            let d = dict(version);
            assert_eq!(d.begin_string(), begin, "{version}");
            assert!(d.field_count() >= fields, "{version}: {}", d.field_count());
            assert!(
                d.msg_types().count() >= messages,
                "{version}: {}",
                d.msg_types().count()
            );
            // What QuickFIX and fefix read as this dictionary.
            let fe = fefix::Dictionary::from_quickfix_spec(d.merged_xml()).unwrap();
            assert_eq!(fe.iter_fields().count(), d.field_count(), "{version}");
        }
        assert!(Dictionary::builtin("FIX.4.3").is_err());
    }

    /// `validate_seen` answers what `validate` answers, message after message through one
    /// session's `Layouts`: a sound ExecutionReport with a Parties group is remembered,
    /// then every variation of it (a group count or MsgType changed with the tags kept, an
    /// empty, badly formatted or unlisted value, a field dropped, repeated or moved, a
    /// user-defined tag added) is checked, each before and after the sound one again.
    #[test]
    fn a_remembered_layout_answers_as_full_validation_does() {
        use crate::venue::fix::codec::Decoder;
        let er: Vec<(u32, &str)> = vec![
            (8, "FIX.4.4"),
            (9, "200"),
            (35, "8"),
            (49, "B"),
            (56, "A"),
            (34, "7"),
            (52, "20260105-15:00:00.000"),
            (37, "O1"),
            (11, "1-2-0"),
            (453, "2"),
            (448, "P1"),
            (447, "D"),
            (452, "1"),
            (448, "P2"),
            (447, "D"),
            (452, "3"),
            (17, "E1"),
            (150, "F"),
            (39, "2"),
            (55, "AAPL"),
            (54, "1"),
            (38, "10"),
            (32, "10"),
            (31, "100.25"),
            (151, "0"),
            (14, "10"),
            (6, "100.25"),
            (60, "20260105-15:00:00.000"),
            (10, "000"),
        ];
        let at = |tag: u32| er.iter().position(|f| f.0 == tag).unwrap();
        let mut variants: Vec<Vec<(u32, &str)>> = vec![er.clone()];
        let mut with = |i: usize, v: &'static str| {
            let mut m = er.clone();
            m[i].1 = v;
            variants.push(m);
        };
        with(at(453), "1"); // one fewer party than the fields say
        with(at(453), "3");
        with(at(453), "02"); // the same count, written otherwise
        with(at(35), "D"); // a NewOrderSingle's tags differ: fields not in the message
        with(at(150), "");
        with(at(31), "1O0");
        with(at(54), "Z");
        with(at(60), "20261305-15:00:00.000");
        with(at(52), "20260105-25:00:00.000");
        with(at(447), "DD");
        for i in 3..er.len() - 1 {
            let mut dropped = er.clone();
            dropped.remove(i);
            variants.push(dropped);
            let mut twice = er.clone();
            twice.insert(i, er[i]);
            variants.push(twice);
            let mut moved = er.clone();
            moved.swap(i, i + 1);
            variants.push(moved);
        }
        let mut user = er.clone();
        user.insert(at(17), (5001, "x"));
        variants.push(user);
        let wire: Vec<Vec<u8>> = variants
            .iter()
            .map(|m| {
                m.iter()
                    .flat_map(|(t, v)| format!("{t}={v}\x01").into_bytes())
                    .collect()
            })
            .collect();
        for d in [
            dict("FIX.4.4"),
            dict("FIX.4.4").with_options(ValidateOptions {
                allow_unknown_user_tags: false,
            }),
        ] {
            let mut seen = Layouts::new();
            let mut dec = Decoder::new();
            let mut full = Decoder::new();
            let mut faults = 0;
            for (i, frame) in wire.iter().enumerate() {
                if full.decode(frame).is_err() {
                    continue; // the decoder's to refuse (CheckSum not last)
                }
                for f in [&wire[0], frame, &wire[0], frame] {
                    let want = d.validate(&full.decode(f).unwrap());
                    let got = d.validate_seen(&dec.decode(f).unwrap(), &mut seen);
                    assert_eq!(got, want, "variant {i}: {}", String::from_utf8_lossy(f));
                    faults += usize::from(want.is_err());
                }
            }
            assert_eq!(d.validate(&full.decode(&wire[0]).unwrap()), Ok(()));
            assert!(
                faults > wire.len(),
                "{faults} faults: the variants must be faulty"
            );
            // Each sound message after the first was checked through its layout.
            assert!(seen.hits() >= 2 * wire.len() as u64, "hits {}", seen.hits());
        }
        // Options changed: what was remembered under the old ones is not trusted.
        let mut d = dict("FIX.4.4");
        let mut seen = Layouts::new();
        let mut user: Vec<u8> = Vec::new();
        for (t, v) in &variants[variants.len() - 1] {
            user.extend(format!("{t}={v}\x01").bytes());
        }
        let mut dec = Decoder::new();
        assert_eq!(
            d.validate_seen(&dec.decode(&wire[0]).unwrap(), &mut seen),
            Ok(())
        );
        assert_eq!(
            d.validate_seen(&dec.decode(&user).unwrap(), &mut seen),
            Ok(())
        );
        d.set_options(ValidateOptions {
            allow_unknown_user_tags: false,
        });
        assert_eq!(
            d.validate_seen(&dec.decode(&wire[0]).unwrap(), &mut seen),
            Ok(())
        );
        assert_eq!(
            d.validate_seen(&dec.decode(&user).unwrap(), &mut seen),
            Err(invalid(R::InvalidTagNumber, 5001))
        );
    }

    #[test]
    fn heartbeat_passes_and_user_tags_follow_the_option() {
        let d = dict("FIX.4.4");
        let hb = [
            f(8, "FIX.4.4"),
            f(9, "60"),
            f(35, "0"),
            f(49, "A"),
            f(56, "B"),
            f(34, "2"),
            f(52, "20240101-00:00:00.000"),
            f(5001, "x"),
            f(10, "000"),
        ];
        assert_eq!(d.validate_fields(&hb), Ok(()));
        let strict = dict("FIX.4.4").with_options(ValidateOptions {
            allow_unknown_user_tags: false,
        });
        assert_eq!(
            strict.validate_fields(&hb).unwrap_err().reason,
            R::InvalidTagNumber
        );
    }

    #[test]
    fn dictionary_is_send_and_sync() {
        fn ok<T: Send + Sync>() {}
        ok::<Dictionary>();
    }
}
