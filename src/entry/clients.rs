//! The gateway loop's side facing the clients: accepting connections, reading them
//! (unless commands wait for room in the core's ring), binding a connection to its
//! session by its Logon, session timers, writing, closing.

use super::conn::{Conn, Outbuf, MAX_PRE_LOGON};
use super::gateway::{Gateway, FIRST_CONN, MAX_UNBOUND, READ_PER_TURN};
use crate::venue::fix::codec::{self, FrameError};
use crate::venue::fix::transport::AfterAccept;
use crate::venue::fix::transport::Link;
use crate::venue::fix::{msg_type, tag};
use mio::{Interest, Token};
use std::io::{ErrorKind, Read};

impl Gateway {
    /// Accepts every connection waiting on listener `li`, until it would block. Out of
    /// file descriptors (or socket memory), accepting pauses (`AcceptPause`)
    /// on every listener and `retry_accept` tries again: the connections wait in the
    /// backlog meanwhile, and readiness is edge-triggered, so nothing else would.
    pub(super) fn accept(&mut self, li: usize, now: u64) {
        if self.accept.paused(now) {
            return;
        }
        loop {
            let Some(l) = self.listeners.get(li) else {
                return;
            };
            match l.sock.accept() {
                Ok((stream, addr)) => {
                    self.report.connections += 1;
                    let _ = stream.set_nodelay(true);
                    let mut link = match Link::accepted(stream, None) {
                        Ok(l) => l,
                        Err(_) => continue,
                    };
                    let ci = match self.conns.iter().position(|c| c.is_none()) {
                        Some(i) => i,
                        None => {
                            self.conns.push(None);
                            self.conns.len() - 1
                        }
                    };
                    if self
                        .poll
                        .registry()
                        .register(
                            &mut link,
                            Token(FIRST_CONN + ci),
                            Interest::READABLE | Interest::WRITABLE,
                        )
                        .is_err()
                    {
                        continue;
                    }
                    // The shortest LogonTimeout of the sessions it may be for.
                    let secs = l
                        .desks
                        .iter()
                        .map(|&d| self.desks[d].spec.session.logon_timeout_secs)
                        .min()
                        .unwrap_or(10);
                    self.conns[ci] = Some(Conn {
                        link,
                        addr,
                        listener: li,
                        out: Outbuf::default(),
                        pre: Vec::new(),
                        desk: None,
                        close: None,
                        readable: true,
                        logon_deadline: now + secs as u64 * 1_000_000_000,
                        accepted: self.report.connections,
                    });
                    self.evict_beyond_unbound(ci, now);
                }
                Err(e) => {
                    if self.accept.on_error(&e, now, "execd: order entry") == AfterAccept::Stop {
                        return;
                    }
                }
            }
        }
    }

    /// More connections waiting for a Logon than allowed, with `newest` just accepted:
    /// the one that has waited longest is closed now. Refusing newcomers instead would let
    /// a stranger holding idle connections lock every client out.
    fn evict_beyond_unbound(&mut self, newest: usize, now: u64) {
        let waiting = |c: &Conn| c.desk.is_none() && c.close.is_none();
        let unbound = self.conns.iter().flatten().filter(|c| waiting(c)).count();
        if unbound <= MAX_UNBOUND {
            return;
        }
        let oldest = self
            .conns
            .iter()
            .enumerate()
            .filter(|&(i, c)| i != newest && c.as_ref().is_some_and(waiting))
            .min_by_key(|(_, c)| c.as_ref().map_or(u64::MAX, |c| c.accepted))
            .map(|(i, _)| i);
        if let Some(i) = oldest {
            if let Some(c) = self.conns[i].as_mut() {
                c.close = Some("no Logon, the oldest of too many connections without one".into());
            }
            self.report.refused += 1;
            self.close(i, now);
        }
    }

    /// Accepting again on every listener once a pause for want of file descriptors is
    /// over.
    pub(super) fn retry_accept(&mut self, now: u64) {
        if self.accept.due(now) {
            self.accept.paused_until = None;
            for li in 0..self.listeners.len() {
                self.accept(li, now);
            }
        }
    }

    /// Reads every connection with data waiting, unless commands wait for room in the
    /// core's ring: then the bytes stay in the kernel and TCP holds the clients back.
    pub(super) fn read_ready(&mut self, now: u64) {
        for ci in 0..self.conns.len() {
            if self.courier.blocked() {
                if self.conns.iter().flatten().any(|c| c.readable) {
                    self.report.held_back += 1;
                }
                return;
            }
            if self.conns[ci]
                .as_ref()
                .is_some_and(|c| c.readable && c.close.is_none())
            {
                self.read(ci, now);
            }
        }
    }

    pub(super) fn read(&mut self, ci: usize, now: u64) {
        let mut taken = 0;
        loop {
            let Some(c) = self.conns.get_mut(ci).and_then(|c| c.as_mut()) else {
                return;
            };
            if c.close.is_some() {
                return;
            }
            if taken >= READ_PER_TURN || self.courier.blocked() {
                return; // still readable: the next turn goes on
            }
            match c.link.read(&mut self.rbuf) {
                Ok(0) => {
                    c.readable = false;
                    c.close = Some("the client closed the connection".into());
                    return;
                }
                Ok(n) => {
                    taken += n;
                    match c.desk {
                        Some(d) => {
                            let rbuf = std::mem::take(&mut self.rbuf);
                            let close =
                                self.desks[d].bytes(now, &rbuf[..n], &mut c.out, &mut self.courier);
                            self.rbuf = rbuf;
                            if let Some(why) = close {
                                c.close.get_or_insert(why);
                            }
                        }
                        None => {
                            c.pre.extend_from_slice(&self.rbuf[..n]);
                            self.bind(ci, now);
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    c.readable = false;
                    return;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    c.readable = false;
                    c.close = Some(format!("read: {e}"));
                    return;
                }
            }
        }
    }

    /// Looks at a new connection's first frame (its Logon) for the session it is for:
    /// the CompIDs must name one on this address, the BeginString be that session's and
    /// the credentials the configured ones. Anything else closes the connection without
    /// an answer (nothing is numbered for a stranger); only then does the session see
    /// the bytes.
    pub(super) fn bind(&mut self, ci: usize, now: u64) {
        let Some(c) = self.conns.get_mut(ci).and_then(|c| c.as_mut()) else {
            return;
        };
        // Garbage before the Logon is stepped over and dropped once at the end: draining
        // it frame by frame would move the rest of the buffer each time, quadratic work
        // a stranger could make the gateway's one thread do with tiny broken frames.
        let mut at = 0;
        let n = loop {
            match codec::frame(&c.pre[at..]) {
                Ok(n) => break n,
                Err(FrameError::Incomplete) => {
                    c.pre.drain(..at);
                    if c.pre.len() > MAX_PRE_LOGON {
                        c.close = Some("no Logon in the first 64 KiB".into());
                        self.report.refused += 1;
                    }
                    return;
                }
                Err(FrameError::Garbled { skip, why }) => {
                    let rest = &c.pre[at..];
                    let skip = skip.clamp(1, rest.len());
                    if !matches!(why, codec::Garble::NoBeginString)
                        && codec::scan_tag(&rest[..skip], tag::MSG_TYPE) == Some(msg_type::LOGON)
                    {
                        c.close = Some(format!("Logon message is not valid ({why:?})"));
                        self.report.refused += 1;
                        return;
                    }
                    at += skip;
                    if at == c.pre.len() {
                        c.pre.clear();
                        return;
                    }
                }
            }
        };
        c.pre.drain(..at);
        let listener = &self.listeners[c.listener];
        let who: Result<usize, (Option<usize>, String)> = match self.dec.decode(&c.pre[..n]) {
            Err(e) => Err((None, format!("first frame undecodable: {e:?}"))),
            Ok(m) if m.msg_type() != msg_type::LOGON => {
                Err((None, "first message is not a Logon".into()))
            }
            Ok(m) => {
                let (begin, peer, us) = (
                    m.get(tag::BEGIN_STRING).unwrap_or(b""),
                    m.get(tag::SENDER_COMP_ID).unwrap_or(b""),
                    m.get(tag::TARGET_COMP_ID).unwrap_or(b""),
                );
                let found = listener.desks.iter().copied().find(|&d| {
                    let s = &self.desks[d].spec.session;
                    s.sender_comp_id.as_bytes() == us && s.target_comp_id.as_bytes() == peer
                });
                match found {
                    None => Err((
                        None,
                        format!(
                            "no session for SenderCompID {:?} and TargetCompID {:?}",
                            String::from_utf8_lossy(peer),
                            String::from_utf8_lossy(us)
                        ),
                    )),
                    Some(d) => {
                        let desk = &self.desks[d];
                        let spec = &desk.spec;
                        let user_ok = spec
                            .username
                            .as_ref()
                            .is_none_or(|u| m.get(tag::USERNAME) == Some(u.as_bytes()));
                        let pass_ok = desk
                            .password
                            .as_ref()
                            .is_none_or(|p| m.get(tag::PASSWORD).is_some_and(|g| p.matches(g)));
                        if begin != spec.session.begin_string.as_bytes() {
                            Err((
                                Some(d),
                                format!(
                                    "BeginString {:?} is not the session's {}",
                                    String::from_utf8_lossy(begin),
                                    spec.session.begin_string
                                ),
                            ))
                        } else if !user_ok || !pass_ok {
                            // Which of the two was wrong is not said, and neither is shown.
                            Err((Some(d), "wrong Username or Password".into()))
                        } else {
                            Ok(d)
                        }
                    }
                }
            }
        };
        let d = match who {
            Ok(d) => d,
            Err((d, why)) => {
                self.report.refused += 1;
                if let Some(d) = d {
                    self.desks[d].stats.refused += 1;
                }
                eprintln!("execd: order entry: {}: Logon refused: {why}", c.addr);
                c.close = Some(why);
                return;
            }
        };
        // A connection the client closed a moment ago may not have been read yet (the
        // same poll can bring its end and the new Logon): look before refusing.
        if let Some(old) = self.desks[d].conn.filter(|&o| o != ci) {
            self.read(old, now);
            if self.conns[old].as_ref().is_some_and(|c| c.close.is_some()) {
                self.close(old, now);
            }
        }
        let Some(c) = self.conns.get_mut(ci).and_then(|c| c.as_mut()) else {
            return;
        };
        let desk = &mut self.desks[d];
        if desk.conn.is_some() {
            self.report.refused += 1;
            desk.stats.refused += 1;
            eprintln!(
                "execd: order entry {}: {}: Logon refused: {} is already connected",
                desk.spec.name, c.addr, desk.spec.session.target_comp_id
            );
            c.close = Some("already connected".into());
            return;
        }
        c.desk = Some(d);
        desk.connected(now, ci, &mut c.out);
        let pre = std::mem::take(&mut c.pre);
        if let Some(why) = desk.bytes(now, &pre, &mut c.out, &mut self.courier) {
            c.close.get_or_insert(why);
        }
    }

    /// Session timers, and connections that never logged on.
    pub(super) fn timers(&mut self, now: u64) {
        for d in &mut self.desks {
            if d.session.next_deadline().is_some_and(|t| t <= now) {
                let c = d
                    .conn
                    .and_then(|ci| self.conns.get_mut(ci))
                    .and_then(|c| c.as_mut());
                match c {
                    Some(c) => {
                        if let Some(why) = d.timer(now, Some(&mut c.out), &mut self.courier) {
                            c.close.get_or_insert(why);
                        }
                    }
                    None => {
                        let _ = d.timer(now, None, &mut self.courier);
                    }
                }
            }
        }
        for c in self.conns.iter_mut().flatten() {
            if c.desk.is_none() && c.close.is_none() && now >= c.logon_deadline {
                self.report.refused += 1;
                c.close = Some("no Logon within LogonTimeout".into());
            }
        }
    }

    pub(super) fn flush_and_close(&mut self, now: u64) {
        for ci in 0..self.conns.len() {
            let Some(c) = self.conns[ci].as_mut() else {
                continue;
            };
            if c.out.pending() > 0 || c.link.wants_write() {
                if let Err(e) = c.out.flush(&mut c.link) {
                    c.close.get_or_insert_with(|| format!("write: {e}"));
                }
            }
            self.pump_output(ci, now);
            let Some(c) = self.conns[ci].as_mut() else {
                continue;
            };
            if c.out.overflow {
                c.close
                    .get_or_insert_with(|| "the client does not read: output buffer full".into());
            }
            if c.close.is_some() {
                self.close(ci, now);
            }
        }
    }

    /// A resend being served to a client (and what waits behind it) goes on while its
    /// socket takes it; once the socket is full, its writable event brings it back.
    fn pump_output(&mut self, ci: usize, now: u64) {
        loop {
            let Some(c) = self.conns.get_mut(ci).and_then(|c| c.as_mut()) else {
                return;
            };
            let Some(d) = c.desk else {
                return;
            };
            let desk = &mut self.desks[d];
            if !desk.session.output_waiting() || c.close.is_some() || c.out.pending() > 0 {
                return;
            }
            if let Some(why) = desk.writable(now, &mut c.out, &mut self.courier) {
                c.close.get_or_insert(why);
            }
            if let Err(e) = c.out.flush(&mut c.link) {
                c.close.get_or_insert_with(|| format!("write: {e}"));
            }
        }
    }

    pub(super) fn close(&mut self, ci: usize, now: u64) {
        let Some(mut c) = self.conns.get_mut(ci).and_then(|c| c.take()) else {
            return;
        };
        let _ = c.out.flush(&mut c.link);
        let _ = self.poll.registry().deregister(&mut c.link);
        let _ = c.link.shutdown(std::net::Shutdown::Both);
        if let Some(d) = c.desk {
            let desk = &mut self.desks[d];
            if desk.conn == Some(ci) {
                desk.disconnected(now, &mut self.courier);
                eprintln!(
                    "execd: order entry {}: {} disconnected: {}",
                    desk.spec.name,
                    c.addr,
                    c.close.as_deref().unwrap_or("")
                );
            }
        }
    }
}
