//! Order entry (R-VEN-2 "both roles", R-IN-4): upstream systems send orders to execd
//! over FIX, and execd answers with execution reports on the same session.
//!
//! A gateway thread owns the listening sockets and one FIX session in the acceptor role
//! per configured counterparty (`[[order_entry]]`). NewOrderSingle, OrderCancelRequest,
//! OrderCancelReplaceRequest and OrderStatusRequest become commands through the same
//! gate and state machine as any other producer's, over the gateway's own producer
//! handle; what the core says about them comes back as ExecutionReports and
//! OrderCancelRejects. The core never sees a socket and never waits for the gateway.
//!
//! Request ids are `<session>:<ClOrdID>`, so the same ClOrdID twice never makes a second
//! order (R-IN-3). Every session's sequence numbers and sent frames are kept in its
//! message store, and the gateway's memory of its orders (which core order each ClOrdID
//! is, what the client was told, which cancel or replace it waits for) in an order log
//! beside it, both under `<journal>/entry/<name>/`: after a SIGKILL, a fill for an order
//! entered before the crash reaches the client under the right ClOrdID, a resend request
//! is served from the store, and nothing is reported twice or lost.
//!
//! | file | what |
//! |---|---|
//! | `settings.rs` | `[[order_entry]]` under QuickFIX's acceptor names, checked |
//! | `requests.rs` | FIX in: messages read into requests, refusals with their reasons |
//! | `reports.rs` | FIX out: ExecutionReport, OrderCancelReject, per FIX version |
//! | `book.rs` | the gateway's memory of one session's orders |
//! | `order_log.rs` | that memory on disk |
//! | `courier.rs` | commands to the core, each answered in full before the next is judged |
//! | `desk.rs` | one session: FIX session, store, book, log, reports waiting |
//! | `restart.rs` | a session brought back from its store and log after a restart |
//! | `intake.rs` | what a client sends, handled |
//! | `outcome.rs` | what the core says, reported |
//! | `conn.rs` | one client connection |
//! | `gateway.rs` | the thread: its loop, the core's events, starting and stopping |
//! | `clients.rs` | the loop's side facing clients: accept, read, bind by Logon, write |

mod book;
mod clients;
mod conn;
mod courier;
mod desk;
mod gateway;
mod intake;
mod order_log;
mod outcome;
mod reports;
mod requests;
mod restart;
pub mod settings;
#[cfg(test)]
mod tests;

pub use desk::DeskStats;
pub use gateway::{start, DeskReport, EntryGateway, EntryReport};
