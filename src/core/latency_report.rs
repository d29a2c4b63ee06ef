//! The latency report people look at (issue 14, R-OPS-2): HDR histograms written in
//! HdrHistogram's standard percentile-distribution text (`.hgrm`: Value, Percentile,
//! TotalCount, 1/(1-Percentile)), the form HdrHistogram's own plotter and tools read,
//! and read back for plotting. `execd run --latency-report DIR` writes one per core stage
//! and per FIX venue; `cargo bench --bench fix_roundtrip` one per row.

use super::latency::{Latency, Stage};
use hdrhistogram::Histogram;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Percentile steps per halving of the distance to 100 %, as HdrHistogram's default.
const TICKS_PER_HALF: u32 = 5;

/// Writes `h` (values in nanoseconds) as a `.hgrm` percentile distribution in
/// microseconds, three decimals.
pub fn write_hgrm(h: &Histogram<u64>, w: &mut impl Write) -> io::Result<()> {
    writeln!(
        w,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    )?;
    let us = |ns: f64| ns / 1000.0;
    let mut total = 0u64;
    if !h.is_empty() {
        for v in h.iter_quantiles(TICKS_PER_HALF) {
            total += v.count_since_last_iteration();
            let q = v.quantile_iterated_to();
            let value = us(h.highest_equivalent(v.value_iterated_to()) as f64);
            if q < 1.0 {
                writeln!(
                    w,
                    "{value:>12.3} {q:>2.12} {total:>10} {:>14.2}",
                    1.0 / (1.0 - q)
                )?;
            } else {
                writeln!(w, "{value:>12.3} {q:>2.12} {total:>10}")?;
            }
        }
    }
    let (mean, sd, max) = if h.is_empty() {
        (0.0, 0.0, 0.0)
    } else {
        (us(h.mean()), us(h.stdev()), us(h.max() as f64))
    };
    writeln!(w, "#[Mean    = {mean:>12.3}, StdDeviation   = {sd:>12.3}]")?;
    writeln!(
        w,
        "#[Max     = {max:>12.3}, Total count    = {:>12}]",
        h.len()
    )?;
    writeln!(w, "#[Unit    = microseconds]")
}

/// One line of a `.hgrm` file.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HgrmLine {
    /// The value (µs in the files execd writes).
    pub value: f64,
    /// 0 … 1.
    pub percentile: f64,
    /// Values at or below `value`.
    pub total_count: u64,
}

/// The lines of a `.hgrm` text: the header, blank lines and `#` footers are skipped;
/// any other line that is not `value percentile count [1/(1-p)]` is an error naming it.
pub fn parse_hgrm(text: &str) -> Result<Vec<HgrmLine>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with("Value") {
            continue;
        }
        let bad = || format!("line {}: not `value percentile count`: {line:?}", i + 1);
        let mut f = t.split_whitespace();
        let value: f64 = f.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
        let percentile: f64 = f.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
        let total_count: u64 = f.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
        if !(0.0..=1.0).contains(&percentile) || !value.is_finite() {
            return Err(bad());
        }
        out.push(HgrmLine {
            value,
            percentile,
            total_count,
        });
    }
    Ok(out)
}

/// Writes `<name>.hgrm` for each non-empty histogram into `dir` (created if need be) and
/// returns the files written.
pub fn write_dir<'a>(
    dir: &Path,
    hists: impl IntoIterator<Item = (String, &'a Histogram<u64>)>,
) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (name, h) in hists {
        if h.is_empty() {
            continue;
        }
        let path = dir.join(format!("{name}.hgrm"));
        let mut f = io::BufWriter::new(std::fs::File::create(&path)?);
        write_hgrm(h, &mut f)?;
        f.flush()?;
        written.push(path);
    }
    Ok(written)
}

/// The core's stages under their report names (`stage-gate`, …), then submit → fill
/// (`submit-to-fill`) and its last part, socket read → fill (`read-to-fill`).
pub fn stages(latency: &Latency) -> impl Iterator<Item = (String, &Histogram<u64>)> {
    Stage::ALL
        .into_iter()
        .map(move |s| (format!("stage-{}", s.name()), latency.stage(s)))
        .chain([
            ("submit-to-fill".to_string(), latency.submit_to_fill()),
            ("read-to-fill".to_string(), latency.read_to_fill()),
        ])
}
