//! The trading vocabulary: fixed-point numbers, ids, instruments, requests and events.

pub mod event;
pub mod fixed;
pub mod ids;
pub mod instrument;
pub mod request;
