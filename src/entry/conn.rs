//! One client connection: its socket, what it sent before its Logon bound it to a
//! session, and its bounded output.

use crate::venue::fix::transport::Link;
use std::io::{self, ErrorKind, Write};
use std::net::SocketAddr;

/// Unsent bytes a client may leave in its buffer before it is disconnected (a client
/// that does not read must not make the gateway grow without bound).
pub const MAX_OUTPUT: usize = 16 << 20;

/// Bytes a connection may send before its Logon is complete.
pub const MAX_PRE_LOGON: usize = 64 << 10;

/// A connection's output: what the socket did not take yet.
#[derive(Debug, Default)]
pub struct Outbuf {
    buf: Vec<u8>,
    pos: usize,
    /// More than [`MAX_OUTPUT`] was left unread: the connection must close.
    pub overflow: bool,
}

impl Outbuf {
    /// Bytes waiting.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Queues a frame (written out by [`Outbuf::flush`]).
    pub fn push(&mut self, b: &[u8]) {
        if self.pending() + b.len() > MAX_OUTPUT {
            self.overflow = true;
            return;
        }
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        self.buf.extend_from_slice(b);
    }

    /// Writes what the socket takes now; `Err` when the connection is broken.
    pub fn flush(&mut self, s: &mut Link) -> io::Result<()> {
        match s.flush() {
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            r => r?,
        }
        while self.pos < self.buf.len() {
            match s.write(&self.buf[self.pos..]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => self.pos += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > (1 << 20) {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        Ok(())
    }
}

/// A client connection.
pub struct Conn {
    /// The socket.
    pub link: Link,
    /// The client's address, for logs.
    pub addr: SocketAddr,
    /// Which listener accepted it.
    pub listener: usize,
    /// Output not yet written.
    pub out: Outbuf,
    /// Bytes received before the Logon bound it to a session.
    pub pre: Vec<u8>,
    /// The session it is bound to, once its Logon named one.
    pub desk: Option<usize>,
    /// It must be closed at the end of this loop turn, for this reason.
    pub close: Option<String>,
    /// The socket said it is readable and has not been read dry since: read it when
    /// the core has room again (readiness is edge-triggered).
    pub readable: bool,
    /// A connection not bound to a session by then is closed (unix ns).
    pub logon_deadline: u64,
    /// Its number among the connections accepted (which waited longest for a Logon).
    pub accepted: u64,
}
