//! The latency report (issue 14): `.hgrm` files written and read back, the SVG plot the
//! benches draw from them, and `execd run --latency-report DIR` through the binary
//! against `execd-venue-sim`.

mod common;
#[path = "../benches/common/plot.rs"]
mod plot;

use common::{LineProc, TempDir, VenueSim};
use execd::core::latency_report::{parse_hgrm, write_hgrm, HgrmLine};
use hdrhistogram::Histogram;
use std::process::Command;

fn hist(values_ns: impl IntoIterator<Item = u64>) -> Histogram<u64> {
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
    for v in values_ns {
        h.record(v).unwrap();
    }
    h
}

fn hgrm(h: &Histogram<u64>) -> String {
    let mut out = Vec::new();
    write_hgrm(h, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// The first line at or past percentile `q`.
fn at(lines: &[HgrmLine], q: f64) -> HgrmLine {
    *lines
        .iter()
        .find(|l| l.percentile >= q)
        .unwrap_or_else(|| panic!("no line at {q}"))
}

#[test]
fn hgrm_round_trips_the_percentiles() {
    // 10 000 values, 10 µs … 10 ms with a long tail, in ns.
    let h = hist((1..=10_000u64).map(|i| 10_000 + i * i / 10));
    let text = hgrm(&h);
    assert!(text.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)\n\n"));
    let lines = parse_hgrm(&text).unwrap();
    assert!(lines.len() > 50, "{} lines", lines.len());
    for w in lines.windows(2) {
        assert!(w[0].percentile <= w[1].percentile, "{w:?}");
        assert!(w[0].value <= w[1].value, "{w:?}");
        assert!(w[0].total_count <= w[1].total_count, "{w:?}");
    }
    let last = lines.last().unwrap();
    assert_eq!(last.percentile, 1.0);
    assert_eq!(last.total_count, h.len());
    // Each line is the histogram's value at the line's percentile (the ticks step by
    // halving the distance to 100 %: 50 %, 75 %, …, so 99 % is read at the next tick).
    for q in [0.5, 0.9, 0.99, 0.999] {
        let l = at(&lines, q);
        assert!(l.percentile - q <= 0.2 * (1.0 - q), "{q}: {l:?}");
        // The tick is summed in floating point, so it may land one value past the rank.
        let us = |q: f64| h.highest_equivalent(h.value_at_quantile(q.min(1.0))) as f64 / 1000.0;
        let (lo, hi) = (us(l.percentile), us(l.percentile + 1.0 / h.len() as f64));
        assert!(
            lo - 0.0011 <= l.value && l.value <= hi + 0.0011,
            "p{q}: file {} µs at {}, histogram {lo}…{hi} µs",
            l.value,
            l.percentile
        );
    }
    assert!((last.value - h.max() as f64 / 1000.0).abs() < 0.0011);
    // Every line but the last has the fourth column, 1/(1-p), consistent with p.
    for line in text
        .lines()
        .filter(|l| l.starts_with(' ') && !l.contains("Value"))
    {
        let f: Vec<f64> = line
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect();
        if f[1] < 1.0 {
            assert_eq!(f.len(), 4, "{line}");
            assert!((f[3] - 1.0 / (1.0 - f[1])).abs() <= 0.01, "{line}");
        } else {
            assert_eq!(f.len(), 3, "{line}");
        }
    }
    assert!(text.contains("Total count    =        10000]"), "{text}");
}

#[test]
fn hgrm_of_one_value_and_of_none() {
    let lines = parse_hgrm(&hgrm(&hist([42_000]))).unwrap();
    assert!(!lines.is_empty());
    assert!(
        lines.iter().all(|l| (l.value - 42.0).abs() < 0.05),
        "{lines:?}"
    );
    assert_eq!(lines.last().unwrap().total_count, 1);
    assert!(parse_hgrm(&hgrm(&hist([]))).unwrap().is_empty());
}

#[test]
fn hgrm_parser_names_a_bad_line() {
    let e = parse_hgrm("       Value     Percentile TotalCount 1/(1-Percentile)\n\n 1.0 0.5 x\n")
        .unwrap_err();
    assert!(e.contains("line 3"), "{e}");
    assert!(parse_hgrm("1.0 1.5 3\n").is_err(), "a percentile above 1");
}

#[test]
fn svg_plot_draws_every_row_on_percentile_axes() {
    let dir = TempDir::new("latency-svg");
    let fast = parse_hgrm(&hgrm(&hist((1..=5000u64).map(|i| 9_000 + i)))).unwrap();
    let slow = parse_hgrm(&hgrm(&hist((1..=5000u64).map(|i| 200_000 + i * 300)))).unwrap();
    let path = dir.join("latency.svg");
    plot::write_svg(
        &path,
        "test",
        &[("floor".into(), fast), ("QuickFIX → QuickFIX".into(), slow)],
    )
    .unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
    for label in [
        "floor",
        "QuickFIX → QuickFIX",
        "50%",
        "90%",
        "99%",
        "99.9%",
        "99.99%",
        "latency µs",
    ] {
        assert!(svg.contains(label), "no {label:?} in the SVG");
    }
    assert!(svg.matches("<polyline").count() >= 2, "one line per row");
    assert!(plot::write_svg(&path, "empty", &[("none".into(), Vec::new())]).is_err());
}

#[test]
fn execd_run_writes_the_latency_report_at_exit() {
    report_of_a_run("FIX.4.4");
    // FIX 4.2 tells fills as ExecType 1/2, not F: the wire-to-fill figure counts them too.
    report_of_a_run("FIX.4.2");
}

fn report_of_a_run(begin: &str) {
    let dir = TempDir::new("latency-run");
    let sim = VenueSim::start(&["--policy", "fill", "--dict-dir", "fix-dictionaries"]);
    let text = std::fs::read_to_string("examples/fix-sim.toml")
        .unwrap()
        .replace(
            "SocketConnectPort = 9878",
            &format!("SocketConnectPort = {}", sim.port),
        )
        .replace(
            "BeginString = \"FIX.4.4\"",
            &format!("BeginString = \"{begin}\""),
        )
        .replace(
            "DataDictionary = \"FIX.4.4\"",
            &format!("DataDictionary = \"{begin}\""),
        );
    assert!(text.contains(&format!("BeginString = \"{begin}\"")));
    let cfg = dir.join("fix-sim.toml");
    std::fs::write(&cfg, text).unwrap();
    let report = dir.join("report");
    let mut c = Command::new(env!("CARGO_BIN_EXE_execd"));
    c.args([
        "run", "--listen", "off", "--exit", "--orders", "40", "--rate", "400",
    ])
    .arg("--config")
    .arg(&cfg)
    .arg("--journal")
    .arg(dir.join("journal"))
    .arg("--latency-report")
    .arg(&report);
    let (code, lines) = LineProc::spawn(&mut c).finish(60);
    assert_eq!(code, Some(0), "{lines:#?}");
    assert!(
        lines.iter().any(|l| l.contains("latency report:")),
        "{lines:#?}"
    );
    for name in [
        "stage-gate",
        "stage-oms",
        "stage-venue",
        "stage-total",
        "wire-to-fill-sim",
        "submit-to-fill",
        "read-to-fill",
    ] {
        let p = report.join(format!("{name}.hgrm"));
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let parsed = parse_hgrm(&text).unwrap();
        let last = parsed.last().unwrap_or_else(|| panic!("{name}: no lines"));
        assert!(last.total_count > 0, "{begin} {name}");
        assert!(last.value > 0.0, "{begin} {name}");
        if name == "wire-to-fill-sim" || name == "submit-to-fill" {
            // One sample per filled order; loopback is well above a microsecond.
            assert!(last.total_count <= 40, "{name}: {}", last.total_count);
            assert!(at(&parsed, 0.5).value >= 1.0, "{name}: {text}");
        }
        if name == "read-to-fill" {
            // The fills the simulator's socket brought: one per filled order at most.
            assert!(last.total_count <= 40, "{name}: {}", last.total_count);
        }
    }
    // Submit → fill holds the wire-to-fill of the same orders, and more.
    let p50 = |name: &str| {
        let text = std::fs::read_to_string(report.join(format!("{name}.hgrm"))).unwrap();
        at(&parse_hgrm(&text).unwrap(), 0.5).value
    };
    assert!(
        p50("submit-to-fill") >= p50("wire-to-fill-sim"),
        "{} < {}",
        p50("submit-to-fill"),
        p50("wire-to-fill-sim")
    );
    // Read → fill is the last part of submit → fill.
    assert!(
        p50("read-to-fill") < p50("submit-to-fill"),
        "{} >= {}",
        p50("read-to-fill"),
        p50("submit-to-fill")
    );
    // Stages with nothing recorded (no command with a future event time) are not written.
    assert!(!report.join("stage-events.hgrm").exists());
    sim.quit();
}

/// A report directory that cannot be made stops the run before it starts (exit 2, the
/// path named), rather than losing the run's histograms at its end.
#[test]
fn an_unwritable_latency_report_directory_is_refused_at_start() {
    let dir = TempDir::new("latency-bad");
    let file = dir.join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_execd"));
    c.args(["run", "--listen", "off", "--exit", "--orders", "1"])
        .arg("--latency-report")
        .arg(file.join("report"));
    let (code, lines) = LineProc::spawn(&mut c).finish(30);
    assert_eq!(code, Some(2), "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("--latency-report") && l.contains("a-file")),
        "{lines:#?}"
    );
}
