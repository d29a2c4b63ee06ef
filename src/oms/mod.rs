//! The order management system: state machine, orders, the order store, and the
//! ledger of accounts and positions.

mod book;
mod ledger;
mod order;
mod position;
mod requests;
pub(crate) mod slot_set;
mod state;
pub(crate) mod table;

#[cfg(test)]
mod tests;

pub use book::OrderBook;
pub(crate) use ledger::Ledger;
pub use order::{Execution, FillResult, Order, Terms};
pub use position::{AccountState, Position};
pub use state::{Anomaly, Effects};
