//! The core: the engine that owns every piece of trading state, the duty cycle that
//! drives it on one thread, the rings to and from producers, the journal records it
//! writes and recovers from, its clocks and its latency measurements.

mod bell;
// Crate-visible for the FIX codec's calendar import (see `clock`).
pub(crate) mod clock;
pub(crate) mod due_queue;
mod duty_cycle;
mod engine;
mod fill_latency;
mod handle;
mod idle;
pub mod latency;
pub mod latency_report;
pub mod metrics;
pub mod records;
pub mod recovery;
mod rings;
mod thread;
pub mod venues;
mod wait;

pub use bell::Bell;
pub use clock::{Clock, ManualClock, RealClock};
pub use engine::{Engine, EngineStats, Holding, Outbox};
pub use handle::Handle;
pub use metrics::CoreMetrics;
pub use thread::{spawn, CoreOptions, CoreReport, CoreThread, JournalRefused, StartError};
pub use wait::IdleCounts;
