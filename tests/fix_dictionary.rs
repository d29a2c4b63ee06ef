//! The built-in FIX dictionaries (fefix's complete data) load into our tables, overlays
//! merge, and validation answers with the SessionRejectReason and RefTagID FIX people
//! expect.

mod common;

use execd::venue::fix::codec::{Decoder, Field};
use execd::venue::fix::dictionary::{Dictionary, Invalid, ValidateOptions};
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fix-dictionaries")
}

fn load(version: &str) -> Dictionary {
    Dictionary::builtin(version).unwrap_or_else(|e| panic!("{e}"))
}

fn fixt() -> Dictionary {
    load("FIX.5.0SP2")
}

/// A whole frame from `begin` and a body written as `35=D|49=A|…|` (header fields after
/// BodyLength included), with the right BodyLength and CheckSum.
fn frame(begin: &str, body: &str) -> Vec<u8> {
    let body = body.replace('|', "\x01");
    let mut out = format!("8={begin}\x019={}\x01{body}", body.len()).into_bytes();
    let sum = out.iter().fold(0u32, |a, &b| a + b as u32) % 256;
    out.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
    out
}

/// Standard header after BodyLength for message type `mt`.
fn hdr(mt: &str) -> String {
    format!("35={mt}|49=EXECD|56=BROKER|34=7|52=20240315-13:30:00.123|")
}

fn check(d: &Dictionary, body: &str) -> Result<(), Invalid> {
    let bytes = frame(d.begin_string(), body);
    let mut dec = Decoder::new();
    let msg = dec
        .decode(&bytes)
        .unwrap_or_else(|e| panic!("decode {body}: {e:?}"));
    d.validate(&msg)
}

fn reject(d: &Dictionary, body: &str) -> (u32, Option<u32>) {
    match check(d, body) {
        Ok(()) => panic!("accepted: {body}"),
        Err(i) => (i.reason.code(), i.ref_tag),
    }
}

fn ok(d: &Dictionary, body: &str) {
    if let Err(e) = check(d, body) {
        panic!("{}: rejected {body}: {e:?}", d.version());
    }
}

// ---------------------------------------------------------------------------------------
// Loading

#[test]
fn every_built_in_dictionary_is_fefix_complete_one() {
    for (version, fe) in [
        ("FIX.4.2", fefix::Dictionary::fix42()),
        ("FIX.4.4", fefix::Dictionary::fix44()),
        ("FIXT.1.1", fefix::Dictionary::fixt11()),
    ] {
        let d = load(version);
        assert_eq!(d.field_count(), fe.iter_fields().count(), "{version}");
        assert_eq!(
            d.msg_types().count(),
            fe.iter_messages().count(),
            "{version}"
        );
        for m in fe.iter_messages() {
            assert!(
                d.has_msg_type(m.msg_type().as_bytes()),
                "{version} {}",
                m.name()
            );
        }
    }
    let d = fixt();
    let app = fefix::Dictionary::fix50sp2();
    for m in app.iter_messages() {
        assert!(
            d.has_msg_type(m.msg_type().as_bytes()),
            "5.0SP2 {}",
            m.name()
        );
    }
    for f in app.iter_fields() {
        assert!(d.has_field(f.tag().get() as u32), "5.0SP2 {}", f.name());
    }
    assert_eq!(d.begin_string(), "FIXT.1.1");
    assert_eq!(d.application_version(), Some("FIX.5.0SP2"));
    assert_eq!(d.default_appl_ver_id(), Some("9"));
    assert!(d.has_msg_type(b"A") && d.has_msg_type(b"8") && d.has_msg_type(b"AP"));
    assert!(d.is_admin(b"A") && !d.is_admin(b"D"));
    // A name that is not a built-in version is a file.
    let e = Dictionary::open("FIX.4.3", &[]).unwrap_err();
    assert!(e.0.contains("cannot read"), "{e}");
}

#[test]
fn field_types_and_enums_are_the_specifications() {
    let d42 = load("FIX.4.2");
    let d44 = load("FIX.4.4");
    let d50 = fixt();
    for (tag, ty) in [
        (34, "SEQNUM"),
        (9, "LENGTH"),
        (453, "NUMINGROUP"),
        (44, "PRICE"),
        (38, "QTY"),
        (12, "AMT"),
        (54, "CHAR"),
        (43, "BOOLEAN"),
        (52, "UTCTIMESTAMP"),
        (108, "INT"),
    ] {
        assert_eq!(d44.field_type(tag), Some(ty), "4.4 tag {tag}");
    }
    assert_eq!(d42.field_type(34), Some("INT"));
    assert_eq!(d42.field_name(32), Some("LastShares"));
    assert_eq!(d44.field_name(32), Some("LastQty"));
    // ExecType: 1 and 2 are FIX 4.2 only; F (Trade) and I (Order Status) from 4.4 on.
    assert!(d42.is_valid_value(150, b"2") && !d42.is_valid_value(150, b"F"));
    assert!(!d44.is_valid_value(150, b"2") && d44.is_valid_value(150, b"F"));
    assert!(d50.is_valid_value(150, b"L") && !d44.is_valid_value(150, b"L"));
    assert!(d42.has_field(20) && !d44.has_field(20));
    // Header and trailer.
    for tag in [
        8, 9, 35, 49, 56, 34, 52, 43, 97, 122, 50, 57, 115, 128, 116, 129, 142, 143, 144, 145, 90,
        91, 212, 213, 347, 369, 10, 93, 89,
    ] {
        for d in [&d42, &d44, &d50] {
            assert!(
                d.is_in_message(b"0", tag),
                "{} header/trailer {tag}",
                d.version()
            );
        }
    }
    assert!(d44.is_in_message(b"0", 628) && d50.is_in_message(b"0", 629));
    assert!(d50.is_in_message(b"D", 1128) && !d44.has_field(1128));
    assert!(d44.is_required(b"A", 98) && d44.is_required(b"A", 108));
    assert!(d50.is_required(b"A", 1137));
    assert!(d44.is_in_message(b"A", 553) && d44.is_in_message(b"A", 554));
    assert!(d44.is_in_message(b"8", 448) && d44.is_in_message(b"8", 523));
    // MiscFees are in the 4.4 ExecutionReport; FIX 4.2's has Commission only.
    assert!(d44.is_in_message(b"8", 139) && !d42.is_in_message(b"8", 137));
    assert!(d42.is_in_message(b"8", 12) && d42.is_in_message(b"8", 13));
}

#[test]
fn merged_xml_loads_in_fefix_again() {
    let ov = dir().join("overlays/venue-sim.xml");
    let d = Dictionary::open("FIX.4.4", &[&ov]).unwrap();
    let fe = fefix::Dictionary::from_quickfix_spec(d.merged_xml()).unwrap();
    assert_eq!(fe.field_by_tag(20001).unwrap().name(), "SimLatencyUs");
    assert_eq!(fe.iter_fields().count(), d.field_count());
    // And it is a file our loader reads back into the same dictionary.
    let back = Dictionary::from_xml("merged", d.merged_xml()).unwrap();
    assert_eq!(back.field_count(), d.field_count());
    assert_eq!(back.msg_types().count(), d.msg_types().count());
}

// ---------------------------------------------------------------------------------------
// Overlays

fn tmp(name: &str, text: &str) -> PathBuf {
    common::scratch_file(name, text)
}

const ER_FILL: &str = "37=O1|11=C1|17=E1|150=F|39=2|55=EURUSD|54=1|38=100|32=100|31=1.0855|151=0|14=100|6=1.0855|60=20240315-13:30:00.500|";

#[test]
fn the_venue_sim_overlay_adds_sim_latency_to_execution_reports() {
    let ov = dir().join("overlays/venue-sim.xml");
    let strict = ValidateOptions {
        allow_unknown_user_tags: false,
    };
    let base = load("FIX.4.4").with_options(strict);
    let body = format!("{}{ER_FILL}20001=42|", hdr("8"));
    assert_eq!(reject(&base, &body), (0, Some(20001)));
    for d in [
        Dictionary::open("FIX.4.4", &[&ov]).unwrap(),
        Dictionary::open("FIX.4.2", &[&ov]).unwrap(),
    ] {
        let d = d.with_options(strict);
        assert_eq!(d.field_type(20001), Some("INT"));
        assert!(d.is_in_message(b"8", 20001) && !d.is_in_message(b"D", 20001));
        let body = if d.begin_string() == "FIX.4.2" {
            format!(
                "{}{}20=0|20001=42|",
                hdr("8"),
                ER_FILL.replace("150=F", "150=2")
            )
        } else {
            body.clone()
        };
        ok(&d, &body);
        assert_eq!(
            reject(&d, &body.replace("20001=42", "20001=fast")),
            (6, Some(20001))
        );
    }
    let d = Dictionary::open_fixt("FIXT.1.1", "FIX.5.0SP2", &[&ov])
        .unwrap()
        .with_options(strict);
    ok(&d, &format!("{}1128=9|{ER_FILL}20001=42|", hdr("8")));
}

#[test]
fn an_overlay_adds_fields_and_messages_and_changes_existing_ones() {
    let ov = tmp(
        "custom.xml",
        r#"<?xml version="1.0"?>
<fix>
  <fields>
    <field number="20010" name="CustomFlag" type="BOOLEAN"/>
    <field number="20011" name="CustomSide" type="CHAR">
      <value enum="L" description="LEFT"/>
      <value enum="R" description="RIGHT"/>
    </field>
    <field number="20012" name="NoCustomLegs" type="NUMINGROUP"/>
    <field number="58" name="Text" type="STRING"/>
  </fields>
  <messages>
    <message name="CustomPing" msgtype="U1" msgcat="app">
      <field name="CustomSide" required="Y"/>
      <group name="NoCustomLegs" required="N">
        <field name="CustomFlag" required="N"/>
        <field name="CustomSide" required="Y"/>
      </group>
    </message>
    <message name="NewOrderSingle" msgtype="D" msgcat="app">
      <field name="Account" required="Y"/>
      <field name="CustomFlag" required="N"/>
    </message>
  </messages>
</fix>"#,
    );
    let d = Dictionary::open("FIX.4.4", &[&ov]).unwrap();
    assert_eq!(d.msg_name(b"U1"), Some("CustomPing"));
    // MsgType's enumeration follows the messages (QuickFIX checks it).
    assert!(d.is_valid_value(35, b"U1"));
    ok(
        &d,
        &format!(
            "{}20011=L|20012=2|20010=Y|20011=R|20010=N|20011=L|",
            hdr("U1")
        ),
    );
    assert_eq!(
        reject(&d, &format!("{}20011=X|", hdr("U1"))),
        (5, Some(20011))
    );
    assert_eq!(
        reject(&d, &format!("{}20011=L|20012=1|20011=R|", hdr("U1"))),
        (15, Some(20011))
    );
    // A required field missing inside a group instance.
    assert_eq!(
        reject(&d, &format!("{}20011=L|20012=1|20010=Y|", hdr("U1"))),
        (1, Some(20011))
    );
    assert_eq!(
        reject(
            &d,
            &format!("{}20011=L|20012=2|20010=Y|20010=N|20011=R|", hdr("U1"))
        ),
        (1, Some(20011))
    );
    // The message's own required field.
    assert_eq!(reject(&d, &hdr("U1")), (1, Some(20011)));
    // Account became required on NewOrderSingle, CustomFlag allowed.
    let nos = "11=C1|55=EURUSD|54=1|60=20240315-13:30:00|38=100|40=2|44=1.1|";
    assert_eq!(reject(&d, &format!("{}{nos}", hdr("D"))), (1, Some(1)));
    ok(&d, &format!("{}1=ACC|{nos}20010=N|", hdr("D")));
    assert!(d.is_required(b"D", 1));
    let fe = fefix::Dictionary::from_quickfix_spec(d.merged_xml()).unwrap();
    assert!(fe.message_by_msgtype("U1").is_some());
}

#[test]
fn a_message_can_be_replaced_whole() {
    let ov = tmp(
        "replace.xml",
        r#"<fix><messages>
  <message name="Heartbeat" msgtype="0" msgcat="admin" mode="replace">
    <field name="TestReqID" required="Y"/>
  </message>
</messages></fix>"#,
    );
    let d = Dictionary::open("FIX.4.4", &[&ov]).unwrap();
    assert!(d.is_required(b"0", 112));
    assert!(!d.merged_xml().contains("mode="));
}

// ---------------------------------------------------------------------------------------
// Valid messages of each type

fn session_messages(d: &Dictionary, extra_logon: &str) {
    ok(d, &format!("{}98=0|108=30|141=Y|{extra_logon}", hdr("A")));
    ok(
        d,
        &format!(
            "{}98=0|108=30|384=2|372=D|385=S|372=8|385=R|{extra_logon}",
            hdr("A")
        ),
    );
    ok(d, &hdr("0"));
    ok(d, &format!("{}112=TR1|", hdr("0")));
    ok(d, &format!("{}112=TR1|", hdr("1")));
    ok(d, &format!("{}7=1|16=0|", hdr("2")));
    ok(
        d,
        &format!(
            "{}45=3|371=54|372=D|373=5|58=Value is incorrect (out of range) for this tag|",
            hdr("3")
        ),
    );
    ok(d, &format!("{}123=Y|36=12|", hdr("4")));
    ok(
        d,
        &(hdr("4").replace("34=7|", "34=7|43=Y|122=20240315-13:29:00|") + "123=Y|36=12|"),
    );
    ok(d, &format!("{}58=bye|", hdr("5")));
}

#[test]
fn fix42_messages_pass() {
    let d = load("FIX.4.2");
    session_messages(&d, "");
    ok(
        &d,
        &format!(
            "{}11=C1|21=1|55=IBM|54=1|60=20240315-13:30:00|38=100|40=2|44=101.25|59=0|",
            hdr("D")
        ),
    );
    ok(
        &d,
        &format!(
            "{}41=C1|11=C2|55=IBM|54=1|60=20240315-13:30:00|38=100|",
            hdr("F")
        ),
    );
    ok(
        &d,
        &format!(
            "{}37=O1|41=C1|11=C3|21=1|55=IBM|54=1|60=20240315-13:30:00|38=200|40=2|44=101.5|",
            hdr("G")
        ),
    );
    ok(&d, &format!("{}37=O1|11=C1|55=IBM|54=1|", hdr("H")));
    ok(&d, &format!("{}37=O1|11=C1|17=E1|20=0|150=1|39=1|55=IBM|54=1|38=100|32=40|31=101.25|151=60|14=40|6=101.25|12=1.5|13=3|", hdr("8")));
    // No MiscFees in a 4.2 ExecutionReport.
    assert_eq!(
        reject(&d, &format!("{}37=O1|11=C1|17=E1|20=0|150=1|39=1|55=IBM|54=1|151=60|14=40|6=101.25|136=1|137=0.1|139=4|", hdr("8"))),
        (2, Some(136))
    );
    ok(
        &d,
        &format!(
            "{}37=O1|11=C2|41=C1|39=0|434=1|102=1|58=unknown order|",
            hdr("9")
        ),
    );
    ok(&d, &format!("{}45=9|372=Z|380=3|", hdr("j")));
    // Fields FIX 4.2 does not have.
    assert_eq!(
        reject(&d, &format!("{}98=0|108=30|553=u|", hdr("A"))),
        (0, Some(553))
    );
}

#[test]
fn fix44_messages_pass() {
    let d = load("FIX.4.4");
    session_messages(&d, "553=user|554=secret|");
    ok(
        &d,
        &format!("{}627=1|628=HUB|629=20240315-13:29:59|", hdr("0")),
    );
    let nos = "11=C1|453=2|448=TRADER1|447=D|452=11|802=1|523=desk|803=4|448=FIRM|447=D|452=1|1=ACC|55=EURUSD|454=1|455=EU0001|456=4|54=1|60=20240315-13:30:00.123|38=100000|40=2|44=1.0855|59=1|";
    ok(&d, &format!("{}{nos}", hdr("D")));
    ok(
        &d,
        &format!(
            "{}41=C1|37=O1|11=C2|55=EURUSD|54=1|60=20240315-13:30:00|38=100000|",
            hdr("F")
        ),
    );
    ok(
        &d,
        &format!(
            "{}37=O1|41=C1|11=C3|55=EURUSD|54=1|60=20240315-13:30:00|38=200000|40=2|44=1.0860|",
            hdr("G")
        ),
    );
    ok(
        &d,
        &format!("{}37=O1|11=C1|790=S1|55=EURUSD|54=1|", hdr("H")),
    );
    ok(&d, &format!("{}584=M1|585=7|", hdr("AF")));
    ok(&d, &format!("{}{ER_FILL}453=1|448=X|447=D|452=1|12=2.5|13=3|136=1|137=0.5|138=USD|139=4|891=0|58=filled|", hdr("8")));
    ok(
        &d,
        &format!(
            "{}37=O1|11=C1|17=E0|150=8|39=8|103=99|58=no|55=EURUSD|54=1|151=0|14=0|6=0|",
            hdr("8")
        ),
    );
    ok(
        &d,
        &format!(
            "{}37=O1|11=C1|17=E2|150=D|39=0|378=3|55=EURUSD|54=1|151=100|14=0|6=0|",
            hdr("8")
        ),
    );
    ok(
        &d,
        &format!("{}37=O1|11=C2|41=C1|39=0|434=2|102=0|", hdr("9")),
    );
    ok(
        &d,
        &format!("{}45=9|372=AN|380=3|58=positions not offered|", hdr("j")),
    );
    ok(&d, &format!("{}710=P1|724=0|453=1|448=ACC|447=D|452=24|1=ACC|581=1|715=20240315|60=20240315-13:30:00|", hdr("AN")));
    let ap = "721=R1|710=P1|724=0|728=0|715=20240315|453=1|448=ACC|447=D|452=24|1=ACC|581=1|55=EURUSD|730=1.0855|731=1|734=1.0850|702=2|703=SOD|704=100000|705=0|539=1|524=CLR|525=D|538=4|703=FIN|704=50000|705=0|753=1|707=CASH|708=12.5|";
    ok(&d, &format!("{}{ap}", hdr("AP")));
}

#[test]
fn fix50sp2_messages_pass_over_fixt() {
    let d = fixt();
    session_messages(&d, "553=user|554=secret|1137=9|");
    assert_eq!(
        reject(&d, &format!("{}98=0|108=30|", hdr("A"))),
        (1, Some(1137))
    );
    let nos = "11=C1|453=1|448=T1|447=D|452=11|48=EU0001|22=4|54=1|60=20240315-13:30:00.123456|38=100|40=2|44=1.0855|59=6|432=20240320|";
    ok(&d, &format!("{}1128=9|{nos}", hdr("D")));
    // Instrument's Symbol is not required in 5.0SP2.
    ok(&d, &format!("{}{nos}", hdr("D")));
    ok(
        &d,
        &format!(
            "{}41=C1|11=C2|55=EURUSD|54=1|60=20240315-13:30:00|",
            hdr("F")
        ),
    );
    ok(
        &d,
        &format!(
            "{}41=C1|11=C3|55=EURUSD|54=1|60=20240315-13:30:00|38=5|40=1|",
            hdr("G")
        ),
    );
    ok(&d, &format!("{}11=C1|55=EURUSD|54=1|", hdr("H")));
    ok(&d, &format!("{}584=M1|585=10|", hdr("AF")));
    ok(
        &d,
        &format!("{}{ER_FILL}150=L|", hdr("8")).replace("150=F|", ""),
    );
    ok(&d, &format!("{}37=O1|11=C2|39=0|434=1|102=18|", hdr("9")));
    ok(&d, &format!("{}372=D|380=18|", hdr("j")));
    ok(
        &d,
        &format!(
            "{}710=P1|724=0|715=20240315|60=20240315-13:30:00|",
            hdr("AN")
        ),
    );
    ok(
        &d,
        &format!("{}721=R1|715=20240315|702=1|703=FIN|704=5|", hdr("AP")),
    );
    // MiscFeeType is a STRING with two-digit values in 5.0SP2.
    ok(&d, &format!("{}{ER_FILL}136=1|137=1|139=12|", hdr("8")));
}

// ---------------------------------------------------------------------------------------
// Groups

#[test]
fn groups_nested_and_empty() {
    let d = load("FIX.4.4");
    let h = hdr("D");
    let tail = "55=EURUSD|54=1|60=20240315-13:30:00|38=1|40=1|";
    // NumInGroup = 0 with no instances.
    ok(&d, &format!("{h}11=C1|453=0|{tail}"));
    // Nested: NoPartyIDs → NoPartySubIDs, inner group with two instances, then outer again.
    ok(
        &d,
        &format!("{h}11=C1|453=2|448=A|802=2|523=x|803=1|523=y|448=B|447=D|{tail}"),
    );
    // Inner group count wrong.
    assert_eq!(
        reject(&d, &format!("{h}11=C1|453=1|448=A|802=2|523=x|{tail}")),
        (16, Some(802))
    );
    // Inner group claims none but has an instance.
    assert_eq!(
        reject(&d, &format!("{h}11=C1|453=1|448=A|802=0|523=x|{tail}")),
        (16, Some(802))
    );
    // NumInGroup = 0 followed by an instance.
    assert_eq!(
        reject(&d, &format!("{h}11=C1|453=0|448=A|{tail}")),
        (16, Some(453))
    );
    // More instances than counted.
    assert_eq!(
        reject(&d, &format!("{h}11=C1|453=1|448=A|448=B|{tail}")),
        (16, Some(453))
    );
    // Fewer, with the group at the end of the body.
    assert_eq!(
        reject(&d, &format!("{h}11=C1|{tail}453=3|448=A|448=B|")),
        (16, Some(453))
    );
    // A non-number count.
    assert_eq!(
        reject(&d, &format!("{h}11=C1|453=x|448=A|{tail}")),
        (6, Some(453))
    );
    // A group member outside its group.
    assert_eq!(
        reject(&d, &format!("{h}11=C1|448=A|{tail}")),
        (2, Some(448))
    );
    // Group in a group in a component: PositionQty → NestedParties.
    let ap = "721=R1|728=0|715=20240315|453=1|448=ACC|1=ACC|581=1|730=1|731=1|734=1|702=1|703=FIN|539=2|524=A|524=B|538=4|";
    ok(&d, &format!("{}{ap}", hdr("AP")));
    assert_eq!(
        reject(
            &d,
            &format!("{}{ap}", hdr("AP")).replace("539=2|524=A|524=B|538=4|", "539=1|538=4|524=A|")
        ),
        (15, Some(538))
    );
    // The same tag at two levels is fine (each level is its own).
    ok(&d, &format!("{}98=0|108=30|384=1|372=D|", hdr("A")));
}

// ---------------------------------------------------------------------------------------
// Each reject reason

#[test]
fn each_reject_reason_with_its_ref_tag() {
    let d = load("FIX.4.4");
    let h = hdr("D");
    let nos = "11=C1|55=EURUSD|54=1|60=20240315-13:30:00|38=100|40=2|44=1.1|";
    ok(&d, &format!("{h}{nos}"));
    // 0 Invalid tag number (not user-defined, so not excused).
    assert_eq!(reject(&d, &format!("{h}{nos}4321=x|")), (0, Some(4321)));
    // 1 Required tag missing.
    assert_eq!(
        reject(&d, &format!("{h}{}", nos.replace("54=1|", ""))),
        (1, Some(54))
    );
    assert_eq!(
        reject(
            &d,
            &format!("{h}{}", nos.replace("60=20240315-13:30:00|", ""))
        ),
        (1, Some(60))
    );
    // Several missing: the smallest tag is named.
    assert_eq!(
        reject(
            &d,
            &format!("{h}{}", nos.replace("11=C1|", "").replace("54=1|", ""))
        ),
        (1, Some(11))
    );
    assert_eq!(
        reject(
            &d,
            &format!("{}{nos}", h.replace("52=20240315-13:30:00.123|", ""))
        ),
        (1, Some(52))
    );
    // 2 Tag not defined for this message type.
    assert_eq!(reject(&d, &format!("{h}{nos}108=30|")), (2, Some(108)));
    // 4 Tag specified without a value (the decoder catches it on the wire too).
    let fields = [
        Field {
            tag: 8,
            value: b"FIX.4.4",
        },
        Field {
            tag: 9,
            value: b"10",
        },
        Field {
            tag: 35,
            value: b"0",
        },
        Field {
            tag: 49,
            value: b"A",
        },
        Field {
            tag: 56,
            value: b"B",
        },
        Field {
            tag: 34,
            value: b"1",
        },
        Field {
            tag: 52,
            value: b"20240315-13:30:00",
        },
        Field {
            tag: 112,
            value: b"",
        },
        Field {
            tag: 10,
            value: b"000",
        },
    ];
    let e = d.validate_fields(&fields).unwrap_err();
    assert_eq!(
        (e.reason.code(), e.ref_tag, e.text()),
        (4, Some(112), "Tag specified without a value")
    );
    // 5 Value is incorrect (out of range) for this tag.
    assert_eq!(
        reject(&d, &format!("{h}{}", nos.replace("54=1", "54=Z"))),
        (5, Some(54))
    );
    assert_eq!(reject(&d, &format!("{h}{nos}59=Q|")), (5, Some(59)));
    // 6 Incorrect data format for value.
    assert_eq!(
        reject(&d, &format!("{h}{}", nos.replace("38=100", "38=1OO"))),
        (6, Some(38))
    );
    assert_eq!(
        reject(
            &d,
            &format!(
                "{h}{}",
                nos.replace("60=20240315-13:30:00", "60=2024-03-15T13:30")
            )
        ),
        (6, Some(60))
    );
    assert_eq!(
        reject(&d, &format!("{h}{}", nos.replace("54=1", "54=12"))),
        (6, Some(54))
    );
    assert_eq!(
        reject(&d, &format!("{}{nos}", h.replace("34=7|", "34=7|43=X|"))),
        (6, Some(43))
    );
    assert_eq!(
        reject(&d, &format!("{}{nos}", h.replace("34=7", "34=-7"))),
        (6, Some(34))
    );
    // 11 Invalid MsgType.
    let e = check(&d, &format!("{}{nos}", h.replace("35=D", "35=ZZ"))).unwrap_err();
    assert_eq!(
        (e.reason.code(), e.ref_tag, e.text()),
        (11, None, "Invalid MsgType")
    );
    // 13 Tag appears more than once.
    assert_eq!(reject(&d, &format!("{h}{nos}11=C2|")), (13, Some(11)));
    // 14 Tag specified out of required order: a header field after the body.
    assert_eq!(
        reject(
            &d,
            &format!("{h}{}", nos.replace("44=1.1|", "44=1.1|115=X|"))
        ),
        (14, Some(115))
    );
    // ... or BeginString, BodyLength, MsgType not leading.
    let fields = [
        Field {
            tag: 8,
            value: b"FIX.4.4",
        },
        Field {
            tag: 35,
            value: b"0",
        },
        Field {
            tag: 9,
            value: b"10",
        },
    ];
    assert_eq!(d.validate_fields(&fields).unwrap_err().ref_tag, Some(35));
    // ... or anything after CheckSum.
    let fields = [
        Field {
            tag: 8,
            value: b"FIX.4.4",
        },
        Field {
            tag: 9,
            value: b"10",
        },
        Field {
            tag: 35,
            value: b"0",
        },
        Field {
            tag: 10,
            value: b"000",
        },
        Field {
            tag: 93,
            value: b"1",
        },
    ];
    let e = d.validate_fields(&fields).unwrap_err();
    assert_eq!((e.reason.code(), e.ref_tag), (14, Some(93)));
    // 15 Repeating group fields out of order: an instance not started by its delimiter.
    assert_eq!(
        reject(&d, &format!("{h}{nos}453=1|447=D|448=A|")),
        (15, Some(447))
    );
    // ... or a field twice in one instance.
    assert_eq!(
        reject(&d, &format!("{h}{nos}453=2|448=A|447=D|447=D|448=B|")),
        (15, Some(447))
    );
    // 16 Incorrect NumInGroup count for repeating group.
    assert_eq!(
        reject(&d, &format!("{h}453=2|448=A|{nos}")),
        (16, Some(453))
    );
}

#[test]
fn user_defined_tags_follow_the_option() {
    let mut d = load("FIX.4.4");
    let body = format!("{}{ER_FILL}5010=x|20500=y|", hdr("8"));
    ok(&d, &body);
    // Inside a group instance an unknown user tag does not end the group.
    ok(
        &d,
        &format!("{}{ER_FILL}453=2|448=A|9999=x|448=B|", hdr("8")),
    );
    d.set_options(ValidateOptions {
        allow_unknown_user_tags: false,
    });
    assert_eq!(reject(&d, &body), (0, Some(5010)));
    // Below 5000 is never user-defined.
    d.set_options(ValidateOptions::default());
    assert_eq!(
        reject(&d, &format!("{}{ER_FILL}4999=x|", hdr("8"))),
        (0, Some(4999))
    );
}

// ---------------------------------------------------------------------------------------
// Errors

fn load_err(base: &str, overlays: &[(&str, &str)]) -> String {
    let b = tmp(&format!("base-{}.xml", overlays.len()), base);
    let paths: Vec<PathBuf> = overlays.iter().map(|(n, t)| tmp(n, t)).collect();
    let refs: Vec<&Path> = paths.iter().map(|p| p.as_path()).collect();
    match Dictionary::load(&b, &refs) {
        Ok(_) => panic!("loaded"),
        Err(e) => e.to_string(),
    }
}

const MINI: &str = r#"<fix type="FIX" major="4" minor="4">
  <header><field name="BeginString" required="Y"/></header>
  <trailer/>
  <messages><message name="Heartbeat" msgtype="0" msgcat="admin"/></messages>
  <components/>
  <fields><field number="8" name="BeginString" type="STRING"/></fields>
</fix>"#;

#[test]
fn malformed_dictionaries_and_overlays_are_clear_errors() {
    // The minimal file itself is fine.
    let p = tmp("mini.xml", MINI);
    Dictionary::load(&p, &[]).unwrap();

    let missing = Dictionary::load(Path::new("/nonexistent/FIX99.xml"), &[]).unwrap_err();
    assert!(
        missing.0.contains("/nonexistent/FIX99.xml") && missing.0.contains("cannot read"),
        "{missing}"
    );

    let cases: &[(&str, &str)] = &[
        ("<fix type=\"FIX\" major=\"4\" minor=\"4\">\n<header>\n</fix>", "line 3"),
        ("", "no root element"),
        (&MINI.replace("type=\"STRING\"", "type=\"WIDGET\""), "unknown type \"WIDGET\""),
        (&MINI.replace("<components/>", ""), "section <components> missing"),
        (&MINI.replace(" minor=\"4\"", ""), "no minor attribute"),
        (&MINI.replace("required=\"Y\"", ""), "required=\"Y\" or \"N\""),
        (&MINI.replace("name=\"BeginString\" required", "name=\"Nope\" required"), "field Nope is not defined"),
        (&MINI.replace("number=\"8\"", "number=\"eight\""), "is not a tag"),
        (&MINI.replace("msgcat=\"admin\"", ""), "msgcat"),
        (
            &MINI.replace("type=\"STRING\"/>", "type=\"STRING\"><value enum=\"X\"/></field>"),
            "without a description",
        ),
        (
            &MINI.replace("<trailer/>", "<trailer><component name=\"Ghost\" required=\"N\"/></trailer>"),
            "component Ghost is not defined",
        ),
        (
            &MINI.replace("<components/>", "<components><component name=\"Loop\"><component name=\"Loop\" required=\"N\"/></component></components>"),
            "nested more than 32",
        ),
    ];
    for (i, (xml, want)) in cases.iter().enumerate() {
        let e = load_err(xml, &[]);
        assert!(e.contains("base-0.xml"), "case {i}: {e}");
        assert!(e.contains(want), "case {i}: want {want:?} in {e}");
    }

    let overlay_cases: &[(&str, &str)] = &[
        ("<fix><widgets/></fix>", "unknown section <widgets>"),
        ("<nofix/>", "not <fix>"),
        (
            "<fix><messages><message name=\"X\" msgtype=\"8\" msgcat=\"app\"><field name=\"Undefined\" required=\"N\"/></message></messages></fix>",
            "field Undefined is not defined",
        ),
        ("<fix><fields><field name=\"A\" type=\"INT\"/></fields></fix>", "number"),
        ("<fix><messages><message name=\"U\" msgtype=\"U9\"/></messages></fix>", "msgcat"),
        ("<fix><fields>", "never closed"),
    ];
    for (i, (xml, want)) in overlay_cases.iter().enumerate() {
        let e = load_err(MINI, &[("bad-overlay.xml", xml)]);
        assert!(
            e.contains("overlay") && e.contains("bad-overlay.xml"),
            "overlay case {i}: {e}"
        );
        assert!(e.contains(want), "overlay case {i}: want {want:?} in {e}");
    }
}
