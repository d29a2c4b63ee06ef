//! Draws the HDR percentile plot (SVG) of a latency report directory: every `.hgrm` file
//! in DIR (what `execd run --latency-report DIR` writes) as one line, into
//! DIR/latency.svg or the file given second.
//!
//! ```sh
//! cargo run --example latency_plot -- DIR [OUT.svg]
//! ```
//!
//! A separate tool so that `plotters` stays a dev-dependency: the daemon writes only
//! text (benches/README.md, "The latency report").

#[path = "../benches/common/plot.rs"]
mod plot;

use execd::core::latency_report::parse_hgrm;
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first().map(PathBuf::from) else {
        eprintln!("usage: latency_plot DIR [OUT.svg]");
        return ExitCode::from(2);
    };
    let out = args
        .get(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join("latency.svg"));
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "hgrm"))
            .collect(),
        Err(e) => {
            eprintln!("latency_plot: {}: {e}", dir.display());
            return ExitCode::from(1);
        }
    };
    files.sort();
    let mut rows = Vec::new();
    for f in &files {
        let name = f
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        match std::fs::read_to_string(f)
            .map_err(|e| e.to_string())
            .and_then(|t| parse_hgrm(&t))
        {
            Ok(lines) => rows.push((name, lines)),
            Err(e) => {
                eprintln!("latency_plot: {}: {e}", f.display());
                return ExitCode::from(1);
            }
        }
    }
    let title = format!("latency, {}", dir.display());
    match plot::write_svg(&out, &title, &rows) {
        Ok(()) => {
            println!("{}: {} lines", out.display(), rows.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("latency_plot: {e}");
            ExitCode::from(1)
        }
    }
}
