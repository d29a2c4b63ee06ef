//! The core: duty cycle, idle strategies, clock, rings and the engine they drive.

pub mod clock;
pub mod engine;
pub mod idle;
pub mod latency;
pub mod records;
pub mod recovery;
pub mod thread;

pub use clock::{Clock, ManualClock, RealClock};
pub use engine::{Engine, EngineStats, Outbox};
pub use thread::{spawn, CoreOptions, CoreReport, CoreThread, Handle};
