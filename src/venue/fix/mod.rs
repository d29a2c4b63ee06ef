//! FIX connectivity (R-VEN-1, R-VEN-2): the hot-path codec, dictionaries, and the
//! session state machine shared by the FIX venue and `execd-venue-sim`.

pub mod codec;
pub mod dictionary;
mod layouts;
mod lists;
mod market_data;
pub mod msg_type;
#[doc(hidden)]
pub mod probe;
pub mod reject;
mod reports;
pub mod session;
pub mod settings;
mod snapshot;
pub mod store;
pub mod tag;
pub mod time;
pub mod transport;
pub mod venue;
mod wire_latency;
