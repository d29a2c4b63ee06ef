//! execd's built-in dictionaries (fefix's complete data) against the ones QuickFIX's
//! reference acceptor validates with (`shared/quickfix-at/spec/`): every message type and
//! every field QuickFIX defines is in ours, with its name and type, or is a difference
//! listed here with the reason for it. Our loader reads QuickFIX's files too (a broker's
//! own full dictionary is such a file).
//!
//! Needs `shared/quickfix-at` beside the repository (or `EXECD_QUICKFIX_AT`): missing, the
//! test fails under `CI=true` and prints SKIP otherwise.

use execd::venue::fix::dictionary::Dictionary;
use std::path::{Path, PathBuf};

fn quickfix_at() -> Option<PathBuf> {
    let p = std::env::var_os("EXECD_QUICKFIX_AT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/quickfix-at"));
    if p.join("spec").is_dir() {
        return Some(p);
    }
    let why = format!(
        "QuickFIX's dictionaries not found at {} (set EXECD_QUICKFIX_AT)",
        p.join("spec").display()
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{why} (CI=true)");
    }
    eprintln!("SKIP: {why}");
    None
}

/// Message types, fields, and what our dictionary says of each, read through the same
/// loader.
struct View {
    msg_types: Vec<String>,
    /// (tag, name, type)
    fields: Vec<(u32, String, String)>,
}

fn view(d: &Dictionary) -> View {
    let msg_types = d
        .msg_types()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .collect();
    let fields = (1..=65535u32)
        .filter(|&t| d.has_field(t))
        .map(|t| {
            (
                t,
                d.field_name(t).unwrap_or("").to_string(),
                d.field_type(t).unwrap_or("").to_string(),
            )
        })
        .collect();
    View { msg_types, fields }
}

/// A difference we know of: what, and why it is acceptable.
struct Known {
    what: &'static str,
    why: &'static str,
}

/// Compares QuickFIX's `qf` with our `ours`; every difference must be matched by
/// `allowed` (which returns the explanation), and every listed difference must still
/// exist (a list that outlives its reason is wrong too).
fn compare(
    version: &str,
    qf: &View,
    ours: &View,
    allowed: impl Fn(&str) -> Option<Known>,
    listed: &[&str],
) -> Vec<String> {
    let mut found = Vec::new();
    for m in &qf.msg_types {
        if !ours.msg_types.contains(m) {
            found.push(format!("message {m}"));
        }
    }
    for (tag, name, ty) in &qf.fields {
        match ours.fields.iter().find(|f| f.0 == *tag) {
            None => found.push(format!("field {tag}")),
            Some((_, oname, oty)) => {
                if oname != name {
                    found.push(format!("name {tag}"));
                }
                if canon(oty) != canon(ty) {
                    found.push(format!("type {tag}"));
                }
            }
        }
    }
    let mut unexplained = Vec::new();
    let mut explained = 0;
    let mut reasons: Vec<String> = Vec::new();
    for f in &found {
        match allowed(f) {
            Some(k) => {
                explained += 1;
                let r = format!("{}: {}", k.what, k.why);
                if !reasons.contains(&r) {
                    reasons.push(r);
                }
            }
            None => unexplained.push(f.clone()),
        }
    }
    for r in &reasons {
        eprintln!("{version}: known difference: {r}");
    }
    for l in listed {
        assert!(
            found.iter().any(|f| f == l),
            "{version}: {l} is listed as a difference but is not one any more"
        );
    }
    eprintln!(
        "{version}: QuickFIX {} messages, {} fields; ours {} messages, {} fields; {explained} known differences",
        qf.msg_types.len(),
        qf.fields.len(),
        ours.msg_types.len(),
        ours.fields.len()
    );
    unexplained
}

/// QuickFIX type names fefix reads as one type (and writes back under one name): the
/// same values pass under either.
fn canon(ty: &str) -> &str {
    match ty {
        "MULTIPLEVALUESTRING" => "MULTIPLECHARVALUE",
        "UTCDATE" | "DATE" => "UTCDATEONLY",
        t => t,
    }
}

fn is(f: &str, list: &[&str]) -> bool {
    list.contains(&f)
}

#[test]
fn fix42_and_fix44_are_quickfix_own() {
    let Some(at) = quickfix_at() else { return };
    // FIX 4.2: fefix and QuickFIX name QuoteStatus (297) differently; same tag, values,
    // and use.
    let l42 = ["name 297"];
    let qf = view(&Dictionary::load(&at.join("spec/FIX42.xml"), &[]).unwrap());
    let ours = view(&Dictionary::builtin("FIX.4.2").unwrap());
    let bad = compare(
        "FIX.4.2",
        &qf,
        &ours,
        |f| {
            is(f, &l42).then_some(Known {
                what: "QuoteStatus (297) is QuoteAckStatus in fefix's data",
                why: "the tag, its values and the messages it is in are the same",
            })
        },
        &l42,
    );
    assert!(bad.is_empty(), "FIX.4.2 unexplained: {bad:?}");
    // FIX 4.4: MiscFeeType (139) and MassCancelRejectReason (532) are CHAR in fefix's
    // data, STRING in QuickFIX's; both have two-character values, and our validation
    // checks a CHAR field with such values by its values, which is what QuickFIX's
    // STRING with an enumeration does.
    let l44 = ["type 139", "type 532"];
    let qf = view(&Dictionary::load(&at.join("spec/FIX44.xml"), &[]).unwrap());
    let ours = view(&Dictionary::builtin("FIX.4.4").unwrap());
    let bad = compare(
        "FIX.4.4",
        &qf,
        &ours,
        |f| {
            is(f, &l44).then_some(Known {
                what: "CHAR typed fields with values of two characters",
                why: "validated by their values, as QuickFIX validates them",
            })
        },
        &l44,
    );
    assert!(bad.is_empty(), "FIX.4.4 unexplained: {bad:?}");
}

/// QuickFIX's FIX50SP2.xml follows the FIX extension packs published after 5.0 SP2
/// (EP97 onwards); fefix's is the 5.0 SP2 base. What those packs added is absent from
/// ours: 48 message types (CF–CZ, DA–DZ, EA, EB) and the fields they brought, all with
/// tags from 1505 on except 1233 and 1238. A session with a broker on a later pack names
/// its own dictionary file, which our loader reads (checked below).
const EP_MESSAGES: [&str; 48] = [
    "CF", "CG", "CH", "CI", "CJ", "CK", "CL", "CM", "CN", "CO", "CQ", "CR", "CS", "CT", "CU", "CV",
    "CW", "CX", "CY", "CZ", "DA", "DB", "DC", "DD", "DE", "DF", "DG", "DH", "DI", "DJ", "DK", "DL",
    "DM", "DN", "DO", "DP", "DQ", "DR", "DS", "DT", "DU", "DV", "DW", "DX", "DY", "DZ", "EA", "EB",
];

/// Fields the extension packs retyped or renamed after 5.0 SP2 (EP changes to the
/// base), and the FIXT.1.1 fields and message fefix's FIXT data predates.
const EP_CHANGES: [&str; 14] = [
    "type 213",  // XmlData: DATA → XMLDATA (same wire form)
    "type 587",  // SettlType: CHAR → STRING (tenors such as "M1")
    "type 674",  // LegAllocAcctIDSource: STRING → INT
    "type 877",  // UnderlyingCPProgram: STRING → INT
    "type 1009", // SideLastQty: INT → QTY
    "type 1193", // SettlMethod: CHAR → STRING
    "type 1283", // DerivativeSecurityXML: DATA → XMLDATA
    "type 1294", // DerivativeSettlMethod: STRING → CHAR
    "type 1299", // DerivativeContractMultiplierUnit: CHAR → INT
    "type 1308", // MaturityMonthYearIncrementUnits: CHAR → MULTIPLECHARVALUE
    "type 1317", // DerivativeSettleOnOpenFlag: CHAR → STRING
    "type 1492", // ComplexEventStartDate: UTCTIMESTAMP → UTCDATEONLY
    "type 1493", // ComplexEventEndDate: UTCTIMESTAMP → UTCDATEONLY
    "name 1008", // SideTrdSubTyp → SideTrdSubType (a spelling fix)
];

/// QuickFIX's FIXT11.xml: XMLnonFIX (n) and the session fields of later packs
/// (NewPassword 925 came to FIXT's Logon; ApplExtID 1156; encrypted passwords and
/// SessionStatus 1400–1409) that fefix's FIXT-1.1 data does not carry.
const FIXT_LATER: [&str; 12] = [
    "message n",
    "field 925",
    "field 1156",
    "field 1400",
    "field 1401",
    "field 1402",
    "field 1403",
    "field 1404",
    "field 1406",
    "field 1407",
    "field 1408",
    "field 1409",
];

#[test]
fn fixt11_and_fix50sp2_are_quickfix_base_without_later_extension_packs() {
    let Some(at) = quickfix_at() else { return };
    let qf = view(&Dictionary::load(&at.join("spec/FIXT11.xml"), &[]).unwrap());
    let ours = view(&Dictionary::builtin("FIXT.1.1").unwrap());
    let bad = compare(
        "FIXT.1.1",
        &qf,
        &ours,
        |f| {
            is(f, &FIXT_LATER).then_some(Known {
                what: "FIXT.1.1 additions of later extension packs",
                why: "no session of ours sends them; a counterparty that does names its file",
            })
        },
        &FIXT_LATER,
    );
    assert!(bad.is_empty(), "FIXT.1.1 unexplained: {bad:?}");

    let full = Dictionary::load_fixt(
        &at.join("spec/FIXT11.xml"),
        &at.join("spec/FIX50SP2.xml"),
        &[],
    )
    .expect("our loader reads QuickFIX's own FIX 5.0SP2 dictionary");
    let qf = view(&full);
    let ours = view(&Dictionary::builtin("FIX.5.0SP2").unwrap());
    let listed: Vec<String> = EP_MESSAGES
        .iter()
        .map(|m| format!("message {m}"))
        .chain(EP_CHANGES.iter().map(|s| s.to_string()))
        .collect();
    let listed_refs: Vec<&str> = listed.iter().map(String::as_str).collect();
    let bad = compare(
        "FIX.5.0SP2",
        &qf,
        &ours,
        |f| {
            if is(f, &listed_refs) || is(f, &FIXT_LATER) {
                return Some(Known {
                    what: "listed above",
                    why: "extension packs after the 5.0 SP2 base",
                });
            }
            let tag: u32 = f.strip_prefix("field ")?.parse().ok()?;
            (tag >= 1505 || tag == 1233 || tag == 1238).then_some(Known {
                what: "a field an extension pack added",
                why: "absent from the 5.0 SP2 base fefix embeds",
            })
        },
        &listed_refs,
    );
    assert!(bad.is_empty(), "FIX.5.0SP2 unexplained: {bad:?}");
    // What the acceptance suite sends is in both.
    for mt in ["D", "d", "8", "C", "j", "A", "0", "1", "2", "3", "4", "5"] {
        assert!(
            ours.msg_types.iter().any(|m| m == mt),
            "FIX.5.0SP2: message {mt}"
        );
    }
}
