//! A small mutation fuzzer driven by proptest, run as a plain `cargo test` on stable Rust
//! (docs/fuzzing.md says why this and not cargo-fuzz or AFL, and how to add a target).
//!
//! An input is a seed from the target's committed corpus (`fuzz/corpus/<target>/`) with a
//! list of mutations applied: bit flips, bytes set to boundary values, tokens of the
//! input's format inserted or overwritten, chunks deleted, duplicated or spliced in from
//! another seed, truncation. Proptest draws the mutations and, when an input fails,
//! shrinks the list to the fewest and smallest mutations that still fail. A target may
//! repair checksums after mutating (so mutations reach what lies behind a CRC) and may
//! report an outcome; an input that gives an outcome not seen before joins the corpus
//! for the rest of the run, which stands in for coverage feedback.
//!
//! Budget: `EXECD_FUZZ_SECS` per target (default 2, what `cargo test` spends);
//! `EXECD_FUZZ_SEED=N` (default 1: the same inputs every run) or `random`. A failing
//! input is written to `target/fuzz-crashes/<target>/` and named in the failure.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use std::cell::RefCell;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Inputs of a batch with their outcomes, gathered by the test closure.
type Fresh = Arc<std::sync::Mutex<Vec<(Vec<u8>, String)>>>;

/// What a target does with one input.
pub struct Target {
    /// Its name: the corpus is `fuzz/corpus/<name>/`.
    pub name: &'static str,
    /// Runs one input. A panic is a crash; `Err` is a broken promise (an oracle: what
    /// was accepted must round-trip, what opened must carry on); `Ok` names the outcome
    /// (an error's category, say: digits are ignored when outcomes are compared).
    pub run: fn(&[u8]) -> Result<String, String>,
    /// Repairs checksums in a mutated input, so mutations get past them.
    pub fixup: Option<fn(&mut [u8])>,
    /// Tokens of the input's format worth inserting (keys, magic, boundary numbers).
    pub tokens: &'static [&'static [u8]],
}

/// What a run of a target did.
#[derive(Debug, Default)]
pub struct Report {
    /// Inputs run.
    pub execs: u64,
    /// Wall time.
    pub time: Duration,
    /// Seeds in the committed corpus.
    pub seeds: usize,
    /// Inputs with a new outcome that joined the corpus.
    pub found: usize,
    /// Distinct outcomes seen.
    pub outcomes: usize,
    /// Slowest input.
    pub slowest: Duration,
    /// Failing inputs, written out, with why.
    pub crashes: Vec<(PathBuf, String)>,
    /// The first random seed (`EXECD_FUZZ_SEED` reproduces the run).
    pub seed: u64,
}

/// One mutation; positions are taken modulo the input's length when applied.
#[derive(Clone, Debug)]
enum Op {
    Flip {
        at: u32,
        bit: u8,
    },
    Set {
        at: u32,
        byte: u8,
    },
    Boundary {
        at: u32,
        width: u8,
        which: u8,
    },
    Token {
        at: u32,
        which: u16,
        overwrite: bool,
    },
    Insert {
        at: u32,
        bytes: Vec<u8>,
    },
    Delete {
        at: u32,
        len: u16,
    },
    Duplicate {
        from: u32,
        len: u16,
        to: u32,
    },
    Splice {
        seed: u16,
        from: u32,
        len: u16,
        to: u32,
    },
    Truncate {
        at: u32,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<u32>(), 0u8..8).prop_map(|(at, bit)| Op::Flip { at, bit }),
        3 => (any::<u32>(), any::<u8>()).prop_map(|(at, byte)| Op::Set { at, byte }),
        3 => (any::<u32>(), prop_oneof![Just(1u8), Just(2), Just(4), Just(8)], any::<u8>())
            .prop_map(|(at, width, which)| Op::Boundary { at, width, which }),
        3 => (any::<u32>(), any::<u16>(), any::<bool>())
            .prop_map(|(at, which, overwrite)| Op::Token { at, which, overwrite }),
        1 => (any::<u32>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Op::Insert { at, bytes }),
        2 => (any::<u32>(), 1u16..512).prop_map(|(at, len)| Op::Delete { at, len }),
        1 => (any::<u32>(), 1u16..256, any::<u32>())
            .prop_map(|(from, len, to)| Op::Duplicate { from, len, to }),
        1 => (any::<u16>(), any::<u32>(), 1u16..512, any::<u32>())
            .prop_map(|(seed, from, len, to)| Op::Splice { seed, from, len, to }),
        1 => any::<u32>().prop_map(|at| Op::Truncate { at }),
    ]
}

/// Little-endian values at the edges of their widths: where parsers overflow.
fn boundary(width: u8, which: u8) -> Vec<u8> {
    let w = width as usize;
    let max = if w == 8 {
        u64::MAX
    } else {
        (1u64 << (8 * w)) - 1
    };
    let v = match which % 8 {
        0 => 0,
        1 => 1,
        2 => max,
        3 => max - 1,
        4 => max >> 1,
        5 => (max >> 1) + 1,
        6 => 0x80,
        _ => 0x7f,
    };
    v.to_le_bytes()[..w].to_vec()
}

fn at(pos: u32, len: usize) -> usize {
    if len == 0 {
        0
    } else {
        pos as usize % len
    }
}

fn apply(seed: &[u8], ops: &[Op], corpus: &[Vec<u8>], tokens: &[&[u8]]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for op in ops {
        let n = b.len();
        match op {
            Op::Flip { at: p, bit } if n > 0 => b[at(*p, n)] ^= 1 << bit,
            Op::Set { at: p, byte } if n > 0 => b[at(*p, n)] = *byte,
            Op::Boundary {
                at: p,
                width,
                which,
            } => {
                let v = boundary(*width, *which);
                let i = at(*p, n.saturating_sub(v.len()) + 1).min(n);
                let end = (i + v.len()).min(n);
                b.splice(i..end, v);
            }
            Op::Token {
                at: p,
                which,
                overwrite,
            } if !tokens.is_empty() => {
                let t = tokens[*which as usize % tokens.len()];
                let i = at(*p, n + 1);
                let end = if *overwrite { (i + t.len()).min(n) } else { i };
                b.splice(i..end, t.iter().copied());
            }
            Op::Insert { at: p, bytes } => {
                let i = at(*p, n + 1);
                b.splice(i..i, bytes.iter().copied());
            }
            Op::Delete { at: p, len } if n > 0 => {
                let i = at(*p, n);
                b.drain(i..(i + *len as usize).min(n));
            }
            Op::Duplicate { from, len, to } if n > 0 => {
                let i = at(*from, n);
                let chunk = b[i..(i + *len as usize).min(n)].to_vec();
                let j = at(*to, n + 1);
                b.splice(j..j, chunk);
            }
            Op::Splice {
                seed,
                from,
                len,
                to,
            } if !corpus.is_empty() => {
                let other = &corpus[*seed as usize % corpus.len()];
                if !other.is_empty() {
                    let i = at(*from, other.len());
                    let chunk = &other[i..(i + *len as usize).min(other.len())];
                    let j = at(*to, n + 1);
                    let end = (j + chunk.len()).min(n);
                    b.splice(j..end, chunk.iter().copied());
                }
            }
            Op::Truncate { at: p } => b.truncate(at(*p, n + 1)),
            _ => {}
        }
    }
    b
}

/// The committed seeds of `name`, sorted by file name.
pub fn seeds(name: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = corpus_dir(name);
    let mut v: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    v.sort();
    v
}

/// `fuzz/corpus/<name>`.
pub fn corpus_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(name)
}

fn budget() -> Duration {
    let secs = std::env::var("EXECD_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .unwrap_or(2.0);
    Duration::from_secs_f64(secs)
}

fn first_seed() -> u64 {
    match std::env::var("EXECD_FUZZ_SEED").as_deref() {
        Ok("random") => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
        Ok(s) => s.parse().unwrap_or(1),
        Err(_) => 1,
    }
}

thread_local! {
    static PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Outcomes are compared without their numbers: "byte 4096" and "byte 64" are one.
fn shape(outcome: &str) -> String {
    outcome
        .chars()
        .filter(|c| !c.is_ascii_digit())
        .take(160)
        .collect()
}

/// Runs every seed, then mutations of them until the budget is spent.
pub fn fuzz(t: &Target) -> Report {
    let seeds = seeds(t.name);
    assert!(
        !seeds.is_empty(),
        "no seeds in {}",
        corpus_dir(t.name).display()
    );
    // Panics are caught and shrunk: keep the default hook from printing each one.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        PANIC.with(|p| *p.borrow_mut() = Some(info.to_string()));
    }));
    let t0 = Instant::now();
    let mut report = Report {
        seeds: seeds.len(),
        ..Report::default()
    };
    let mut outcomes: HashSet<String> = HashSet::new();
    let mut corpus: Vec<Vec<u8>> = Vec::new();
    let run_one = |input: &[u8]| -> Result<String, String> {
        match std::panic::catch_unwind(|| (t.run)(input)) {
            Ok(r) => r,
            Err(_) => Err(format!(
                "panicked: {}",
                PANIC.with(|p| p.borrow_mut().take()).unwrap_or_default()
            )),
        }
    };
    for (path, bytes) in &seeds {
        report.execs += 1;
        match run_one(bytes) {
            Ok(o) => {
                outcomes.insert(shape(&o));
            }
            Err(why) => report.crashes.push((path.clone(), why)),
        }
        corpus.push(bytes.clone());
    }
    let execs = Arc::new(AtomicU64::new(0));
    let slowest = Arc::new(AtomicU64::new(0));
    let deadline = t0 + budget();
    let mut round = first_seed();
    report.seed = round;
    while Instant::now() < deadline && report.crashes.is_empty() {
        let snapshot = Arc::new(corpus.clone());
        let fresh: Fresh = Arc::default();
        let mut seed_bytes = [0u8; 32];
        seed_bytes[..8].copy_from_slice(&round.to_le_bytes());
        round = round.wrapping_add(1);
        let mut runner = TestRunner::new_with_rng(
            Config {
                cases: 256,
                failure_persistence: None,
                max_shrink_iters: 2_000,
                ..Config::default()
            },
            TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
        );
        let strategy = (
            0..snapshot.len(),
            prop::collection::vec(op(), 1..12),
            any::<bool>(),
        );
        let (c, e, s, f) = (
            snapshot.clone(),
            execs.clone(),
            slowest.clone(),
            fresh.clone(),
        );
        let fixup = t.fixup;
        let tokens = t.tokens;
        let result = runner.run(&strategy, move |(seed, ops, fix)| {
            let mut input = apply(&c[seed], &ops, &c, tokens);
            if let (true, Some(fixup)) = (fix, fixup) {
                fixup(&mut input);
            }
            e.fetch_add(1, Ordering::Relaxed);
            let began = Instant::now();
            let r = run_one(&input);
            s.fetch_max(began.elapsed().as_nanos() as u64, Ordering::Relaxed);
            match r {
                Ok(outcome) => {
                    if let Ok(mut v) = f.lock() {
                        if v.len() < 64 {
                            v.push((input, outcome));
                        }
                    }
                    Ok(())
                }
                Err(why) => Err(TestCaseError::fail(why)),
            }
        });
        if let Ok(mut v) = fresh.lock() {
            for (input, outcome) in v.drain(..) {
                if corpus.len() < 512 && outcomes.insert(shape(&outcome)) {
                    corpus.push(input);
                    report.found += 1;
                }
            }
        }
        if let Err(TestError::Fail(why, (seed, ops, fix))) = result {
            let mut input = apply(&snapshot[seed], &ops, &snapshot, t.tokens);
            if let (true, Some(fixup)) = (fix, t.fixup) {
                fixup(&mut input);
            }
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("target/fuzz-crashes")
                .join(t.name);
            let _ = std::fs::create_dir_all(&dir);
            let path = dir.join(format!("crash-{:016x}", xxhash_rust::xxh3::xxh3_64(&input)));
            let _ = std::fs::write(&path, &input);
            report
                .crashes
                .push((path, format!("{why} (mutations: {ops:?})")));
        }
    }
    std::panic::set_hook(previous);
    report.execs += execs.load(Ordering::Relaxed);
    report.time = t0.elapsed();
    report.outcomes = outcomes.len();
    report.slowest = Duration::from_nanos(slowest.load(Ordering::Relaxed));
    report
}

/// Runs a target and fails the test on any crash, saying what was done either way.
pub fn check(t: &Target) {
    let r = fuzz(t);
    println!(
        "fuzz {} (EXECD_FUZZ_SEED={}): {} executions in {:.1} s ({:.0}/s), {} seeds + {} found, {} outcomes, slowest {:?}, {} crashes",
        t.name,
        r.seed,
        r.execs,
        r.time.as_secs_f64(),
        r.execs as f64 / r.time.as_secs_f64().max(1e-9),
        r.seeds,
        r.found,
        r.outcomes,
        r.slowest,
        r.crashes.len()
    );
    assert!(
        r.slowest < Duration::from_secs(2),
        "fuzz {}: one input took {:?}",
        t.name,
        r.slowest
    );
    if let Some((path, why)) = r.crashes.first() {
        panic!(
            "fuzz {}: {} fails: {why}\n(run it again: cp it into {} and cargo test --test fuzz)",
            t.name,
            path.display(),
            corpus_dir(t.name).display()
        );
    }
}
