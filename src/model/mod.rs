//! The trading vocabulary: fixed-point numbers, ids, instruments, requests, quotes,
//! reason codes, order states, and the commands and events that cross the core's rings.
//! It imports nothing else from the crate.

pub mod control;
pub mod event;
pub mod fixed;
pub mod ids;
pub mod instrument;
pub mod order_state;
pub mod quote;
pub mod rate_limits;
pub mod reason;
pub mod reconcile;
pub mod request;
pub mod slippage;
