//! The order management system: state machine, order store, positions, slippage.

pub mod book;
pub mod order;
pub mod position;
pub mod slippage;
pub mod state;

#[cfg(test)]
mod proptests;

pub use book::OrderBook;
pub use order::{FillResult, Order};
pub use position::{AccountState, Position};
pub use state::{OmsEvent, OrderState};
