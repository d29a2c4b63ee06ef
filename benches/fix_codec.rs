//! The hot-path FIX codec against fefix 0.7 (DESIGN.md, "FIX"), on the same messages:
//! - `fix_codec/encode_new_order`: a NewOrderSingle as a broker gets it, fields in tag
//!   order as the session writes them (35=D, 34, 49, 52, 56, 1, 11, 38, 40, 44, 54, 55,
//!   59, 60). Ours formats the integers, the
//!   fixed-point price/quantity and both timestamps itself; fefix is handed those four
//!   values pre-formatted (it has no fixed-point or nanosecond-timestamp writer), so
//!   it does less of the work.
//! - `fix_codec/decode_exec_report`: a ≈260-byte ExecutionReport: ours frames (BodyLength
//!   and CheckSum), scans and reads 10 fields; fefix decodes (it checks both too) and
//!   reads the same 10 fields.
//! - `fix_codec/validate_exec_report`: the same ExecutionReport checked against the
//!   built-in dictionaries (structure, required fields, formats, enumerations) as each
//!   inbound application message is; FIX.5.0SP2's ExecutionReport defines many more
//!   members than FIX.4.4's. fefix has no such check.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use execd::venue::fix::codec::{frame, Decoder, Encoder};
use execd::venue::fix::dictionary::Layouts;
use fefix::prelude::{Dictionary, FieldAccess};
use fefix::tagvalue::{Config, Decoder as FeDecoder, Encoder as FeEncoder, FvWrite};

const T0: u64 = 1_767_625_200_123_456_789; // 2026-01-05 15:00:00.123456789 UTC

fn encode_ours(e: &mut Encoder, seq: u64) -> usize {
    e.start(b"D")
        .uint(34, seq)
        .bytes(49, b"EXECD")
        .timestamp(52, T0, false)
        .bytes(56, b"BROKER")
        .bytes(1, b"ACC-7")
        .bytes(11, b"E17C-00000042")
        .fixed(38, 100, 0)
        .char(40, b'2')
        .fixed(44, 451_225, 2)
        .char(54, b'1')
        .bytes(55, b"ESH6")
        .char(59, b'0')
        .timestamp(60, T0, true);
    e.finish().len()
}

fn encode_fefix(enc: &mut FeEncoder<Config>, buf: &mut Vec<u8>, seq: u64) -> usize {
    buf.clear();
    let mut h = enc.start_message(b"FIX.4.4", buf, b"D");
    h.set_fv(&34u32, seq);
    h.set_fv(&49u32, &b"EXECD"[..]);
    h.set_fv(&52u32, &b"20260105-15:00:00.123"[..]);
    h.set_fv(&56u32, &b"BROKER"[..]);
    h.set_fv(&1u32, &b"ACC-7"[..]);
    h.set_fv(&11u32, &b"E17C-00000042"[..]);
    h.set_fv(&38u32, &b"100"[..]);
    h.set_fv(&40u32, &b"2"[..]);
    h.set_fv(&44u32, &b"4512.25"[..]);
    h.set_fv(&54u32, &b"1"[..]);
    h.set_fv(&55u32, &b"ESH6"[..]);
    h.set_fv(&59u32, &b"0"[..]);
    h.set_fv(&60u32, &b"20260105-15:00:00.123456"[..]);
    h.wrap().len()
}

fn exec_report() -> Vec<u8> {
    let mut e = Encoder::new("FIX.4.4", 512);
    e.start(b"8")
        .uint(34, 1_234_567)
        .bytes(49, b"BROKER")
        .timestamp(52, T0, true)
        .bytes(56, b"EXECD")
        .bytes(1, b"ACC-7")
        .fixed(6, 451_200, 2)
        .bytes(11, b"E17C-00000042")
        .fixed(14, 25, 0)
        .bytes(17, b"EXEC-0000987654")
        .fixed(31, 451_200, 2)
        .fixed(32, 25, 0)
        .bytes(37, b"BRK-0001234567")
        .fixed(38, 100, 0)
        .char(39, b'1')
        .char(40, b'2')
        .fixed(44, 451_225, 2)
        .char(54, b'1')
        .bytes(55, b"ESH6")
        .char(59, b'0')
        .timestamp(60, T0, true)
        .char(150, b'F')
        .fixed(151, 75, 0);
    e.finish().to_vec()
}

/// The fields both decoders read.
const READ: [u32; 10] = [35, 34, 11, 37, 17, 150, 39, 32, 31, 151];

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("fix_codec/encode_new_order");
    let mut e = Encoder::new("FIX.4.4", 512);
    g.bench_function("execd", |b| b.iter(|| encode_ours(&mut e, black_box(42))));
    let mut fe = FeEncoder::<Config>::default();
    let mut buf = Vec::with_capacity(512);
    g.bench_function("fefix", |b| {
        b.iter(|| encode_fefix(&mut fe, &mut buf, black_box(42)))
    });
    g.finish();

    let er = exec_report();
    assert!((240..=280).contains(&er.len()), "{}", er.len());
    let mut g = c.benchmark_group("fix_codec/decode_exec_report");
    let mut d = Decoder::new();
    g.bench_function("execd", |b| {
        b.iter(|| {
            let buf = black_box(&er[..]);
            let n = frame(buf).unwrap();
            let m = d.decode(&buf[..n]).unwrap();
            let mut acc = 0usize;
            for t in READ {
                acc += m.get(t).unwrap().len();
            }
            (acc, m.seq())
        })
    });
    let mut fd = FeDecoder::<Config>::new(Dictionary::fix44());
    g.bench_function("fefix", |b| {
        b.iter(|| {
            let m = fd.decode(black_box(&er[..])).unwrap();
            let mut acc = 0usize;
            for t in READ {
                acc += m.fv_raw(&t).unwrap().len();
            }
            (acc, m.fv::<u64>(&34u32).ok())
        })
    });
    g.finish();

    let mut g = c.benchmark_group("fix_codec/validate_exec_report");
    let n = frame(&er).unwrap();
    let m = d.decode(&er[..n]).unwrap();
    for v in ["FIX.4.4", "FIX.5.0SP2"] {
        let dict = execd::venue::fix::dictionary::Dictionary::builtin(v).unwrap();
        dict.validate(&m).unwrap();
        g.bench_function(v, |b| b.iter(|| dict.validate(black_box(&m))));
        // What a session pays once it has seen the layout: the values' checks alone.
        let mut seen = Layouts::new();
        dict.validate_seen(&m, &mut seen).unwrap();
        g.bench_function(format!("{v} layout seen"), |b| {
            b.iter(|| dict.validate_seen(black_box(&m), &mut seen))
        });
        assert!(seen.hits() > 0);
    }
    g.finish();
}

criterion_group!(fix_codec, benches);
criterion_main!(fix_codec);
