//! The HDR percentile plot of the latency report (issue 14): one line per histogram,
//! x = 1/(1 − percentile) on a log axis labelled 50 % … 99.99 %, y = latency in µs on
//! a log axis (the floor's microseconds and QuickFIX's milliseconds on the same axes).
//! SVG through `plotters` (dev-dependency, SVG backend only). Shared by the benches,
//! `examples/latency_plot.rs` and `tests/latency_report.rs` through `#[path]`.

use execd::core::latency_report::HgrmLine;
use plotters::prelude::*;
use std::path::Path;

/// Line colours, one per row, in order (cycled past the end).
const COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The x of a percentile: 1/(1 − p), so 99 % is 100 and 99.99 % is 10 000.
fn x_of(p: f64) -> f64 {
    1.0 / (1.0 - p)
}

fn pct_label(x: f64) -> String {
    let p = 100.0 * (1.0 - 1.0 / x);
    if x < 1.5 {
        "0%".into()
    } else if (p - p.round()).abs() < 1e-6 {
        format!("{p:.0}%")
    } else if (p * 10.0 - (p * 10.0).round()).abs() < 1e-6 {
        format!("{p:.1}%")
    } else if (p * 100.0 - (p * 100.0).round()).abs() < 1e-6 {
        format!("{p:.2}%")
    } else {
        format!("{p:.3}%")
    }
}

/// Writes the plot of `rows` (name, its `.hgrm` lines in µs) to `path` as SVG.
pub fn write_svg(path: &Path, title: &str, rows: &[(String, Vec<HgrmLine>)]) -> Result<(), String> {
    let points: Vec<(&str, Vec<(f64, f64)>)> = rows
        .iter()
        .map(|(name, lines)| {
            let pts = lines
                .iter()
                .filter(|l| l.percentile < 1.0 && l.value > 0.0)
                .map(|l| (x_of(l.percentile), l.value))
                .collect();
            (name.as_str(), pts)
        })
        .filter(|(_, pts): &(&str, Vec<(f64, f64)>)| !pts.is_empty())
        .collect();
    if points.is_empty() {
        return Err("nothing to plot: every histogram is empty".into());
    }
    let all = points.iter().flat_map(|(_, p)| p.iter());
    let (mut x_max, mut y_min, mut y_max) = (1e4f64, f64::MAX, 0f64);
    for &(x, y) in all {
        x_max = x_max.max(x);
        y_min = y_min.min(y);
        y_max = y_max.max(y);
    }
    // Whole decades around the data, so the log axes keep round labels.
    let x_max = 10f64.powf(x_max.log10().ceil()).min(1e7);
    let y_lo = 10f64.powf(y_min.log10().floor());
    let y_hi = 10f64.powf(y_max.log10().ceil()).max(y_lo * 10.0);
    let keys: Vec<f64> = [1.0, 2.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6, 1e7]
        .into_iter()
        .filter(|&k| k <= x_max)
        .collect();

    let root = SVGBackend::new(path, (1000, 620)).into_drawing_area();
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(
            (1f64..x_max).log_scale().with_key_points(keys),
            (y_lo..y_hi).log_scale(),
        )
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency µs")
        .x_label_formatter(&|x| pct_label(*x))
        .y_label_formatter(&|y| {
            if *y >= 1.0 {
                format!("{y:.0}")
            } else {
                format!("{y}")
            }
        })
        .draw()
        .map_err(|e| err(&e))?;
    for (i, (name, pts)) in points.into_iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        chart
            .draw_series(LineSeries::new(pts, colour.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}
