//! REST/WebSocket bridges (R-VEN-1, R-VEN-3): venues reached over HTTP and WebSocket
//! rather than a FIX session, each on an I/O thread of its own that talks to the core
//! only through two rtrb rings.
//!
//! Written once for every such venue: request signing ([`sign`]), the venue's own rate
//! limits ([`limits`]), server-time sync ([`clock`]), the raw message log
//! ([`wire`]), the I/O thread's outcome rules (`worker`: idempotent client order ids,
//! unknown outcome → status query, user-data stream gaps → reconcile), and the core-side
//! adapter ([`venue::BridgeVenue`]). What one venue says and means lives in its own
//! module: [`binance`] (spot and USDⓈ-M futures).

pub mod binance;
pub mod clock;
pub mod limits;
pub mod settings;
pub mod sign;
pub mod venue;
pub mod wire;
mod worker;

pub use venue::BridgeVenue;
