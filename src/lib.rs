//! execd: an order-execution core for co-located trading.
//!
//! Upstream decides what to trade; execd validates it (gate), tracks it (oms), sends it
//! (venue) and reports back, on one deterministic core thread.

#![warn(missing_docs)]

pub mod config;
pub mod core;
pub mod demo;
pub mod gate;
pub mod model;
pub mod oms;
pub mod venue;
