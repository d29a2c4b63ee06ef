//! The order management system: state machine, order store, positions.

pub mod book;
pub mod order;
pub mod position;
pub mod state;

#[cfg(test)]
mod proptests;

pub use book::OrderBook;
pub use order::{FillResult, Order};
pub use position::{AccountState, Position};
