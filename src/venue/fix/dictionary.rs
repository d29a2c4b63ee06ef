//! FIX dictionaries: QuickFIX-format XML from `fix-dictionaries/`, loaded at run time by
//! fefix, with per-venue overlays for custom fields and messages, and the tables the
//! session validates inbound messages against (R-VEN-2).
//!
//! Loading reads the base file and each overlay with a small XML reader of our own,
//! merges the overlays into the base at XML level (fields by number or name, messages by
//! MsgType, components by name, fields inside a message or component by name), checks the
//! result (every reference resolves, every type is known, every attribute QuickFIX and
//! fefix need is there — so that neither can panic on it), hands the merged XML to fefix's
//! `Dictionary::from_quickfix_spec`, and builds compact validation tables once.
//!
//! [`Dictionary::validate`] then walks a message's fields in wire order without
//! allocating (fixed-size bitmaps on the stack) and answers with the SessionRejectReason
//! (373) FIX people know. Order of checks: MsgType present and known (1, 11); then per
//! field in wire order: tag defined (0), value present (4), placement — header first and
//! trailer last (14), no repeats outside groups (13), defined for this message (2), group
//! instances start with the delimiter and carry no field twice (15), as many instances as
//! NumInGroup says (16) — then format (6) and enumerated value (5); last, required tags of
//! each group instance as it closes and of header, body and trailer (1).

use super::codec::{parse_u64, Field, Msg};
use rustc_hash::FxHashMap;
use std::fmt;
use std::path::Path;

/// Why a dictionary could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DictionaryError(pub String);

impl std::fmt::Display for DictionaryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DictionaryError {}

/// A reason to reject a message at the session level: SessionRejectReason (373),
/// the tag it is about (371) and a text (58) FIX people recognise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// SessionRejectReason (373).
    pub reason: u32,
    /// RefTagID (371), if the reason is about one tag.
    pub ref_tag: Option<u32>,
    /// Text (58).
    pub text: &'static str,
}

/// SessionRejectReason (373) values [`Dictionary::validate`] produces.
pub mod reason {
    /// 0 Invalid tag number.
    pub const INVALID_TAG_NUMBER: u32 = 0;
    /// 1 Required tag missing.
    pub const REQUIRED_TAG_MISSING: u32 = 1;
    /// 2 Tag not defined for this message type.
    pub const TAG_NOT_DEFINED_FOR_MSG_TYPE: u32 = 2;
    /// 4 Tag specified without a value.
    pub const TAG_WITHOUT_VALUE: u32 = 4;
    /// 5 Value is incorrect (out of range) for this tag.
    pub const VALUE_INCORRECT: u32 = 5;
    /// 6 Incorrect data format for value.
    pub const INCORRECT_DATA_FORMAT: u32 = 6;
    /// 11 Invalid MsgType.
    pub const INVALID_MSG_TYPE: u32 = 11;
    /// 13 Tag appears more than once.
    pub const TAG_APPEARS_MORE_THAN_ONCE: u32 = 13;
    /// 14 Tag specified out of required order.
    pub const TAG_OUT_OF_ORDER: u32 = 14;
    /// 15 Repeating group fields out of order.
    pub const GROUP_FIELDS_OUT_OF_ORDER: u32 = 15;
    /// 16 Incorrect NumInGroup count for repeating group.
    pub const INCORRECT_NUM_IN_GROUP: u32 = 16;
}

/// The text (58) that goes with a SessionRejectReason.
pub fn reason_text(reason: u32) -> &'static str {
    match reason {
        0 => "Invalid tag number",
        1 => "Required tag missing",
        2 => "Tag not defined for this message type",
        3 => "Undefined Tag",
        4 => "Tag specified without a value",
        5 => "Value is incorrect (out of range) for this tag",
        6 => "Incorrect data format for value",
        7 => "Decryption problem",
        8 => "Signature problem",
        9 => "CompID problem",
        10 => "SendingTime accuracy problem",
        11 => "Invalid MsgType",
        12 => "XML Validation error",
        13 => "Tag appears more than once",
        14 => "Tag specified out of required order",
        15 => "Repeating group fields out of order",
        16 => "Incorrect NumInGroup count for repeating group",
        17 => "Non \"data\" value includes field delimiter (SOH character)",
        18 => "Invalid/Unsupported Application Version",
        _ => "Other",
    }
}

fn invalid(reason: u32, tag: u32) -> Invalid {
    Invalid {
        reason,
        ref_tag: Some(tag),
        text: reason_text(reason),
    }
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
pub fn is_user_defined_tag(tag: u32) -> bool {
    (5000..=9999).contains(&tag) || tag >= 20000
}

// ---------------------------------------------------------------------------------------
// Tables

/// Members one level (header, body, trailer, one group) may have: the size of the
/// per-level bitmaps validation keeps on the stack.
const MAX_MEMBERS: usize = 512;
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
    /// UTCTIMESTAMP: `YYYYMMDD-HH:MM:SS[.f…]`.
    Timestamp,
    /// UTCTIMEONLY: `HH:MM:SS[.f…]`.
    TimeOnly,
    /// UTCDATEONLY, UTCDATE, LOCALMKTDATE, DATE: `YYYYMMDD`.
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

/// QuickFIX type names this loader accepts (those both QuickFIX and fefix know).
const KNOWN_TYPES: &[(&str, Fmt)] = &[
    ("INT", Fmt::Int),
    ("LENGTH", Fmt::UInt),
    ("SEQNUM", Fmt::UInt),
    ("NUMINGROUP", Fmt::UInt),
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
    /// (slot, tag) of required members in definition order.
    required: Vec<(u16, u32)>,
}

impl Level {
    #[inline]
    fn find(&self, tag: u32) -> Option<&Member> {
        self.members
            .binary_search_by_key(&tag, |m| m.tag)
            .ok()
            .map(|i| &self.members[i])
    }
    fn check_required(&self, seen: &Bits) -> Result<(), Invalid> {
        for &(slot, tag) in &self.required {
            if !bit(seen, slot) {
                return Err(invalid(reason::REQUIRED_TAG_MISSING, tag));
            }
        }
        Ok(())
    }
}

#[derive(Debug)]
struct MsgInfo {
    msg_type: Box<[u8]>,
    name: String,
    admin: bool,
    body: u32,
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
    fefix: fefix::Dictionary,
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

impl Dictionary {
    /// Loads `base` (a QuickFIX-format XML file) and applies `overlays` in order.
    ///
    /// For FIX 5.0+ sessions, load the transport dictionary (`FIXT11.xml`) as the base
    /// and the application dictionary (`FIX50SP2.xml`) as the first overlay, or call
    /// [`Dictionary::load_fixt`].
    pub fn load(base: &Path, overlays: &[&Path]) -> Result<Dictionary, DictionaryError> {
        let name = base.display().to_string();
        let text = read(base)?;
        let mut root = xml::parse(&text).map_err(|e| err(&name, e))?;
        check_root(&root, true).map_err(|e| err(&name, e))?;
        check(&root).map_err(|e| err(&name, e))?;
        let begin = begin_string_of(&root);
        let mut application_version = app_version_of(&root);
        for ov in overlays {
            let oname = format!("overlay {}", ov.display());
            let otext = read(ov)?;
            let overlay = xml::parse(&otext).map_err(|e| err(&oname, e))?;
            check_root(&overlay, false).map_err(|e| err(&oname, e))?;
            if let Some(v) = app_version_of(&overlay) {
                application_version = Some(v);
            }
            merge(&mut root, &overlay).map_err(|e| err(&oname, e))?;
            check(&root).map_err(|e| err(&oname, e))?;
        }
        let origin = if overlays.is_empty() {
            name
        } else {
            format!("{name} with its overlays")
        };
        Self::from_root(root, begin, application_version).map_err(|e| err(&origin, e))
    }

    /// Loads a FIXT.1.1 session's dictionary: the `transport` dictionary (header,
    /// trailer, session messages) with the `app` dictionary and then `overlays` merged in.
    pub fn load_fixt(
        transport: &Path,
        app: &Path,
        overlays: &[&Path],
    ) -> Result<Dictionary, DictionaryError> {
        let mut all = Vec::with_capacity(overlays.len() + 1);
        all.push(app);
        all.extend_from_slice(overlays);
        Self::load(transport, &all)
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
        let merged_xml = xml::to_string(&root);
        let fefix = std::panic::catch_unwind(|| fefix::Dictionary::from_quickfix_spec(&merged_xml))
            .map_err(|_| "fefix panicked reading the merged dictionary".to_string())?
            .map_err(|e| format!("fefix cannot read the merged dictionary: {e:?}"))?;
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
            fefix,
        };
        Builder::new(&root)?.build(&mut d)?;
        d.merged_xml = merged_xml;
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
    }

    /// The same dictionary with other validation options.
    pub fn with_options(mut self, options: ValidateOptions) -> Dictionary {
        self.options = options;
        self
    }

    /// fefix's view of the (merged) dictionary.
    pub fn fefix(&self) -> &fefix::Dictionary {
        &self.fefix
    }

    /// The merged QuickFIX-format XML (base with overlays applied).
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
        self.messages
            .binary_search_by(|m| m.msg_type.as_ref().cmp(msg_type))
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

    /// Checks a decoded message against the dictionary.
    pub fn validate(&self, msg: &Msg<'_>) -> Result<(), Invalid> {
        self.validate_seq(msg)
    }

    /// Checks a message given as its fields in wire order (header and trailer included).
    pub fn validate_fields(&self, fields: &[Field<'_>]) -> Result<(), Invalid> {
        self.validate_seq(fields)
    }

    fn validate_seq<'a, S: FieldSeq<'a> + ?Sized>(&self, msg: &S) -> Result<(), Invalid> {
        let n = msg.count();
        // MsgType first: without it nothing else can be checked.
        let mut mt: Option<&[u8]> = None;
        for i in 0..n {
            let f = msg.at(i);
            if f.tag == 35 {
                mt = Some(f.value);
                break;
            }
        }
        let Some(mt) = mt else {
            return Err(invalid(reason::REQUIRED_TAG_MISSING, 35));
        };
        if mt.is_empty() {
            return Err(invalid(reason::TAG_WITHOUT_VALUE, 35));
        }
        let Some(info) = self.msg(mt) else {
            return Err(invalid(reason::INVALID_MSG_TYPE, 35));
        };
        let tops: [&Level; 3] = [
            &self.levels[HEADER],
            &self.levels[info.body as usize],
            &self.levels[TRAILER],
        ];
        // 8, 9, 35 lead a message whose dictionary has a standard header.
        let std_header = tops[0].find(8).is_some();
        let allow_user = self.options.allow_unknown_user_tags;

        let mut top_seen: [Bits; 3] = [[0; WORDS]; 3];
        let mut section = 0usize;
        let mut after_checksum = false;
        let mut stack: [Frame; MAX_DEPTH] = [Frame::EMPTY; MAX_DEPTH];
        let mut depth = 0usize;

        for i in 0..n {
            let Field { tag, value } = msg.at(i);
            let Some(fi) = self.field_info(tag) else {
                if allow_user && is_user_defined_tag(tag) {
                    continue;
                }
                return Err(invalid(reason::INVALID_TAG_NUMBER, tag));
            };
            if value.is_empty() {
                return Err(invalid(reason::TAG_WITHOUT_VALUE, tag));
            }
            if std_header {
                let lead = match i {
                    0 => Some(8),
                    1 => Some(9),
                    2 => Some(35),
                    _ => None,
                };
                if lead != Some(tag) && (lead.is_some() || matches!(tag, 8 | 9 | 35)) {
                    return Err(invalid(reason::TAG_OUT_OF_ORDER, tag));
                }
            }
            if after_checksum {
                return Err(invalid(reason::TAG_OUT_OF_ORDER, tag));
            }
            // A user-defined tag with no place in this message is passed over when allowed,
            // without closing the groups around it.
            if allow_user
                && is_user_defined_tag(tag)
                && !tops.iter().any(|l| l.find(tag).is_some())
                && !stack[..depth]
                    .iter()
                    .any(|f| self.levels[f.level as usize].find(tag).is_some())
            {
                continue;
            }

            // Placement.
            let member: Member = loop {
                if depth > 0 {
                    let fr = &mut stack[depth - 1];
                    let lvl = &self.levels[fr.level as usize];
                    if let Some(&m) = lvl.find(tag) {
                        if tag == lvl.delim {
                            if fr.instances == fr.expected {
                                return Err(invalid(reason::INCORRECT_NUM_IN_GROUP, fr.count_tag));
                            }
                            if fr.instances > 0 {
                                lvl.check_required(&fr.seen)?;
                            }
                            fr.instances += 1;
                            fr.seen = [0; WORDS];
                        } else if fr.instances == 0 || bit(&fr.seen, m.slot) {
                            return Err(invalid(reason::GROUP_FIELDS_OUT_OF_ORDER, tag));
                        }
                        set_bit(&mut fr.seen, m.slot);
                        break m;
                    }
                    // Not a member: the group ends here.
                    if fr.instances != fr.expected {
                        return Err(invalid(reason::INCORRECT_NUM_IN_GROUP, fr.count_tag));
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
                    return Err(invalid(reason::TAG_NOT_DEFINED_FOR_MSG_TYPE, tag));
                };
                if s < section {
                    return Err(invalid(reason::TAG_OUT_OF_ORDER, tag));
                }
                section = s;
                if bit(&top_seen[s], m.slot) {
                    return Err(invalid(reason::TAG_APPEARS_MORE_THAN_ONCE, tag));
                }
                set_bit(&mut top_seen[s], m.slot);
                if s == 2 && tag == 10 {
                    after_checksum = true;
                }
                break m;
            };

            if !fmt_ok(fi.fmt, value) {
                return Err(invalid(reason::INCORRECT_DATA_FORMAT, tag));
            }
            if tag != 35 && !enum_ok(fi, value) {
                return Err(invalid(reason::VALUE_INCORRECT, tag));
            }
            if member.group != NONE {
                let Some(count) = parse_u64(value) else {
                    return Err(invalid(reason::INCORRECT_DATA_FORMAT, tag));
                };
                if depth == MAX_DEPTH {
                    // The loader refuses dictionaries nested deeper than this.
                    return Err(invalid(reason::GROUP_FIELDS_OUT_OF_ORDER, tag));
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
                return Err(invalid(reason::INCORRECT_NUM_IN_GROUP, fr.count_tag));
            }
            if fr.instances > 0 {
                self.levels[fr.level as usize].check_required(&fr.seen)?;
            }
            depth -= 1;
        }
        for (s, l) in tops.iter().enumerate() {
            l.check_required(&top_seen[s])?;
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

fn num2(v: &[u8]) -> u32 {
    (v[0] - b'0') as u32 * 10 + (v[1] - b'0') as u32
}

fn date_ok(v: &[u8]) -> bool {
    v.len() == 8
        && digits(v)
        && (1..=12).contains(&num2(&v[4..6]))
        && (1..=31).contains(&num2(&v[6..8]))
}

fn time_ok(v: &[u8]) -> bool {
    if v.len() < 8 {
        return false;
    }
    let (hms, frac) = v.split_at(8);
    let ok = hms[2] == b':'
        && hms[5] == b':'
        && digits(&hms[0..2])
        && digits(&hms[3..5])
        && digits(&hms[6..8])
        && num2(&hms[0..2]) <= 23
        && num2(&hms[3..5]) <= 59
        && num2(&hms[6..8]) <= 60;
    ok && (frac.is_empty() || (frac[0] == b'.' && frac.len() <= 13 && digits(&frac[1..])))
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
        Fmt::Timestamp => v.len() >= 17 && date_ok(&v[..8]) && v[8] == b'-' && time_ok(&v[9..]),
        Fmt::TimeOnly => time_ok(v),
        Fmt::Date => date_ok(v),
        Fmt::MonthYear => match v.len() {
            6 => digits(v) && (1..=12).contains(&num2(&v[4..6])),
            8 if v[6] == b'w' => {
                digits(&v[..6])
                    && (1..=12).contains(&num2(&v[4..6]))
                    && (b'1'..=b'5').contains(&v[7])
            }
            8 => date_ok(v),
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
    let one = |x: &[u8]| f.enums.binary_search_by(|e| e.as_ref().cmp(x)).is_ok();
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

/// Checks everything QuickFIX and fefix rely on, so that neither fails or panics later.
fn check(root: &xml::Elem) -> Result<(), String> {
    let mut names: FxHashMap<&str, u32> = FxHashMap::default();
    let mut tags: FxHashMap<u32, &str> = FxHashMap::default();
    if let Some(fields) = section(root, "fields") {
        for f in &fields.children {
            if f.name != "field" {
                return Err(format!(
                    "line {}: <{}> in <fields>; only <field> belongs there",
                    f.line, f.name
                ));
            }
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
                if v.name != "value" {
                    return Err(format!(
                        "line {}: <{}> in field {name}; only <value> belongs there",
                        v.line, v.name
                    ));
                }
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
            if c.name != "component" {
                return Err(format!(
                    "line {}: <{}> in <components>; only <component> belongs there",
                    c.line, c.name
                ));
            }
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
            if m.name != "message" {
                return Err(format!(
                    "line {}: <{}> in <messages>; only <message> belongs there",
                    m.line, m.name
                ));
            }
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
                    if f.name != "field" {
                        return Err(format!(
                            "line {}: <{}> in <fields>; only <field> belongs there",
                            f.line, f.name
                        ));
                    }
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
                    if m.name != child {
                        return Err(format!(
                            "line {}: <{}> in <{}>; only <{child}> belongs there",
                            m.line, m.name, sec.name
                        ));
                    }
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
        .find(|f| f.attr("number") == Some("35"))
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
            d.tag_index[tag as usize] = d.fields.len() as u32;
            d.fields.push(FieldInfo {
                tag,
                name: need(f, "name")?.to_string(),
                qf_type,
                fmt,
                enums,
            });
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
            d.messages.push(MsgInfo {
                msg_type: need(m, "msgtype")?.as_bytes().to_vec().into_boxed_slice(),
                name: name.to_string(),
                admin: m.attr("msgcat") == Some("admin"),
                body,
            });
        }
        d.messages.sort_by(|a, b| a.msg_type.cmp(&b.msg_type));
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
        flat.sort_by_key(|m| m.tag);
        let idx = d.levels.len() as u32;
        d.levels.push(Level {
            delim,
            members: flat,
            required,
        });
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
// A small XML reader and writer for QuickFIX dictionaries: elements, attributes, comments,
// processing instructions, CDATA and the predefined and numeric entities. Text content is
// ignored (QuickFIX dictionaries carry none).

mod xml {
    /// One element.
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

    fn dict(name: &str) -> Dictionary {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fix-dictionaries")
            .join(name);
        Dictionary::load(&p, &[]).unwrap()
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
        assert!(fmt_ok(Fmt::MonthYear, b"202403") && fmt_ok(Fmt::MonthYear, b"202403w2"));
        assert!(!fmt_ok(Fmt::MonthYear, b"202413"));
        assert!(fmt_ok(Fmt::DayOfMonth, b"31") && !fmt_ok(Fmt::DayOfMonth, b"32"));
    }

    #[test]
    fn every_bundled_dictionary_builds_tables() {
        for (file, begin, fields) in [
            ("FIX42.xml", "FIX.4.2", 100),
            ("FIX44.xml", "FIX.4.4", 150),
            ("FIX50SP2.xml", "FIXT.1.1", 100),
            ("FIXT11.xml", "FIXT.1.1", 50),
        ] {
            let d = dict(file);
            assert_eq!(d.begin_string(), begin, "{file}");
            assert!(d.field_count() > fields, "{file}: {}", d.field_count());
            assert_eq!(d.fefix().iter_fields().count(), d.field_count(), "{file}");
        }
    }

    #[test]
    fn heartbeat_passes_and_user_tags_follow_the_option() {
        let d = dict("FIX44.xml");
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
        let strict = dict("FIX44.xml").with_options(ValidateOptions {
            allow_unknown_user_tags: false,
        });
        assert_eq!(strict.validate_fields(&hb).unwrap_err().reason, 0);
    }

    #[test]
    fn dictionary_is_send_and_sync() {
        fn ok<T: Send + Sync>() {}
        ok::<Dictionary>();
    }
}
