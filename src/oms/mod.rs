//! The order management system: state machine, orders, the order store, and the
//! ledger of accounts and positions.

pub mod book;
pub mod ledger;
pub mod order;
pub mod position;
pub mod state;

#[cfg(test)]
mod tests;

pub use book::OrderBook;
pub use ledger::Ledger;
pub use order::{Execution, FillResult, Order, Terms};
pub use position::{AccountState, Position};
