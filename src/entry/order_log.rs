//! The gateway's memory of one session's orders, kept across a crash: an append-only log
//! in the journal's own segment format (CRC-checked, memory-mapped: a SIGKILL loses
//! nothing appended) under `<journal>/entry/<name>/orders-<generation>/`.
//!
//! Records:
//! - `ORDER`: a NewOrderSingle taken in, with the request as the core will get it —
//!   appended before the request goes to the core, so an order that the core never
//!   recorded is submitted again after a restart (the same request id: never twice);
//! - `STATE`: an order's persistent picture after a change — the core's order id
//!   learned, a cancel or replace asked for, or a report about to be sent (with the
//!   MsgSeqNum it will go out with, so a restart can tell whether it left: the session
//!   stores every frame before its bytes leave);
//! - `ALIAS`: one more ClOrdID an order answers to (written in snapshots);
//! - `RESET`: the session's sequence numbers were reset (earlier MsgSeqNums mean nothing);
//! - `DONE`: the snapshot that starts a generation is complete.
//!
//! The log would grow with every report, so it is rewritten now and then: a new
//! generation starts with a snapshot of every order held (`ORDER`, `STATE`, `ALIAS`),
//! then `DONE`, and only then is the old generation deleted. A generation without its
//! `DONE` (a crash mid-snapshot) is discarded at the next start in favour of the one
//! before it.

use super::book::{ClientId, ClientOrder, Pending, View};
use crate::core::records::{decode_command, encode_command, MAX_COMMAND};
use crate::journal::{scan, JournalWriter};
use crate::model::event::Command;
use crate::model::fixed::Dec;
use crate::model::ids::OrderId;
use crate::model::request::ExecutionRequest;
use std::path::{Path, PathBuf};

const KIND_ORDER: u16 = 1;
const KIND_STATE: u16 = 2;
const KIND_ALIAS: u16 = 3;
const KIND_RESET: u16 = 4;
const KIND_DONE: u16 = 5;

/// Segment size: a report's record is ~130 bytes, so 4 MiB hold ~30 000 of them.
const SEGMENT: usize = 4 << 20;

/// What a log holds, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    /// A new order taken in.
    Order {
        /// Its ClOrdID.
        key: ClientId,
        /// MsgSeqNum of its NewOrderSingle.
        in_seq: u64,
        /// The request as submitted.
        req: ExecutionRequest,
    },
    /// An order's persistent picture.
    State {
        /// Its ClOrdID.
        key: ClientId,
        /// The core's order, once known.
        order: Option<OrderId>,
        /// MsgSeqNum of the report this record precedes; 0 when it precedes none.
        out_seq: u64,
        /// What the client has been sent.
        view: View,
    },
    /// Another ClOrdID of an order.
    Alias {
        /// The order's ClOrdID.
        key: ClientId,
        /// The other one.
        cl: ClientId,
    },
    /// Sequence numbers reset.
    Reset,
}

/// One session's order log.
pub struct OrderLog {
    root: PathBuf,
    generation: u64,
    writer: JournalWriter,
    /// Records appended since the last snapshot.
    since_snapshot: u64,
    buf: Vec<u8>,
    cmd: [u8; MAX_COMMAND],
    /// Appends the journal refused (a full disk): counted and reported.
    pub errors: u64,
}

fn gen_dir(root: &Path, g: u64) -> PathBuf {
    root.join(format!("orders-{g:06}"))
}

/// Generations present, newest first.
fn generations(root: &Path) -> std::io::Result<Vec<u64>> {
    let mut out: Vec<u64> = Vec::new();
    if root.is_dir() {
        for e in std::fs::read_dir(root)? {
            let name = e?.file_name();
            if let Some(g) = name
                .to_str()
                .and_then(|n| n.strip_prefix("orders-"))
                .and_then(|n| n.parse().ok())
            {
                out.push(g);
            }
        }
    }
    out.sort_unstable_by(|a, b| b.cmp(a));
    Ok(out)
}

impl OrderLog {
    /// Opens the newest complete generation under `root` (creating the first), and
    /// returns what it holds.
    pub fn open(root: &Path) -> Result<(OrderLog, Vec<Entry>), String> {
        let fail = |what: &str, e: &dyn std::fmt::Display| format!("{what}: {e}");
        std::fs::create_dir_all(root).map_err(|e| fail(&root.display().to_string(), &e))?;
        for g in generations(root).map_err(|e| fail("listing generations", &e))? {
            let dir = gen_dir(root, g);
            let mut entries = Vec::new();
            let mut done = false;
            let mut bad: Option<String> = None;
            let summary = scan(&dir, |r| {
                if bad.is_some() {
                    return;
                }
                match decode(r.header.kind, r.payload) {
                    Ok(Some(e)) => entries.push(e),
                    Ok(None) if r.header.kind == KIND_DONE => done = true,
                    Ok(None) => {}
                    Err(e) => bad = Some(format!("record {}: {e}", r.header.seq)),
                }
            })
            .map_err(|e| fail(&dir.display().to_string(), &e))?;
            if let Some(b) = bad {
                return Err(format!("{}: {b}", dir.display()));
            }
            if !done {
                // A snapshot cut short by a crash: the generation before it is whole.
                std::fs::remove_dir_all(&dir)
                    .map_err(|e| fail("removing a partial snapshot", &e))?;
                continue;
            }
            let (writer, _) = JournalWriter::open(&dir, SEGMENT)
                .map_err(|e| fail(&dir.display().to_string(), &e))?;
            let log = OrderLog {
                root: root.to_path_buf(),
                generation: g,
                writer,
                since_snapshot: summary.records,
                buf: Vec::with_capacity(256),
                cmd: [0; MAX_COMMAND],
                errors: 0,
            };
            return Ok((log, entries));
        }
        let dir = gen_dir(root, 0);
        let (mut writer, _) =
            JournalWriter::open(&dir, SEGMENT).map_err(|e| fail(&dir.display().to_string(), &e))?;
        writer
            .append(KIND_DONE, 1, 0, &[])
            .map_err(|e| fail(&dir.display().to_string(), &e))?;
        let log = OrderLog {
            root: root.to_path_buf(),
            generation: 0,
            writer,
            since_snapshot: 0,
            buf: Vec::with_capacity(256),
            cmd: [0; MAX_COMMAND],
            errors: 0,
        };
        Ok((log, Vec::new()))
    }

    fn append(&mut self, kind: u16, now: u64) {
        if self.writer.append(kind, 1, now, &self.buf).is_err() {
            self.errors += 1;
        }
        self.since_snapshot += 1;
    }

    /// A new order taken in, before it goes to the core.
    pub fn order(&mut self, now: u64, key: &ClientId, in_seq: u64, req: &ExecutionRequest) {
        self.buf.clear();
        put_id(&mut self.buf, key);
        self.buf.extend_from_slice(&in_seq.to_le_bytes());
        let n = encode_command(0, &Command::Submit(*req), &mut self.cmd).unwrap_or(0);
        self.buf.extend_from_slice(&self.cmd[..n]);
        self.append(KIND_ORDER, now);
    }

    /// An order's persistent picture, before the report numbered `out_seq` (0: none)
    /// goes out.
    pub fn state(
        &mut self,
        now: u64,
        key: &ClientId,
        order: Option<OrderId>,
        view: &View,
        out_seq: u64,
    ) {
        self.buf.clear();
        encode_state(&mut self.buf, key, order, view, out_seq);
        self.append(KIND_STATE, now);
    }

    /// The session's sequence numbers were reset.
    pub fn reset(&mut self, now: u64) {
        self.buf.clear();
        self.append(KIND_RESET, now);
    }

    /// Whether the log has grown enough beyond `live` orders to be rewritten.
    pub fn needs_snapshot(&self, live: usize) -> bool {
        self.since_snapshot > (8 * live as u64).max(200_000)
    }

    /// Starts a new generation holding `orders` as they are, then deletes the old one.
    pub fn snapshot<'a>(
        &mut self,
        now: u64,
        orders: impl Iterator<Item = &'a ClientOrder>,
    ) -> Result<(), String> {
        let g = self.generation + 1;
        let dir = gen_dir(&self.root, g);
        let _ = std::fs::remove_dir_all(&dir);
        let (writer, _) =
            JournalWriter::open(&dir, SEGMENT).map_err(|e| format!("{}: {e}", dir.display()))?;
        let old = std::mem::replace(&mut self.writer, writer);
        let old_gen = std::mem::replace(&mut self.generation, g);
        self.since_snapshot = 0;
        let mut n = 0u64;
        for o in orders {
            self.order(now, &o.key, o.in_seq, &o.req);
            self.buf.clear();
            encode_state(&mut self.buf, &o.key, o.order, &o.told, 0);
            self.append(KIND_STATE, now);
            for cl in &o.aliases {
                self.buf.clear();
                put_id(&mut self.buf, &o.key);
                put_id(&mut self.buf, cl);
                self.append(KIND_ALIAS, now);
            }
            n += 1;
        }
        let written = self.writer.append(KIND_DONE, 1, now, &[]);
        if let Err(e) = written.as_ref() {
            // Keep writing to the old generation: the new one is incomplete.
            self.writer = old;
            self.generation = old_gen;
            let _ = std::fs::remove_dir_all(&dir);
            return Err(format!("{}: {e}", dir.display()));
        }
        let _ = self.writer.sync();
        drop(old);
        let _ = std::fs::remove_dir_all(gen_dir(&self.root, old_gen));
        self.since_snapshot = n;
        Ok(())
    }

    /// Flushes to disk (at a clean stop).
    pub fn sync(&self) {
        let _ = self.writer.sync();
    }
}

fn put_id(b: &mut Vec<u8>, id: &ClientId) {
    b.push(id.as_bytes().len() as u8);
    b.extend_from_slice(id.as_bytes());
}

fn put_dec(b: &mut Vec<u8>, d: Dec) {
    b.extend_from_slice(&d.mant.to_le_bytes());
    b.push(d.scale);
}

fn put_opt_dec(b: &mut Vec<u8>, d: Option<Dec>) {
    match d {
        None => b.push(0),
        Some(d) => {
            b.push(1);
            put_dec(b, d);
        }
    }
}

fn encode_state(b: &mut Vec<u8>, key: &ClientId, order: Option<OrderId>, v: &View, out_seq: u64) {
    put_id(b, key);
    b.extend_from_slice(&order.map_or(0, |o| o.0).to_le_bytes());
    b.extend_from_slice(&out_seq.to_le_bytes());
    b.push(v.status);
    b.extend_from_slice(&v.cum.to_le_bytes());
    b.extend_from_slice(&v.notional.to_le_bytes());
    put_id(b, &v.cl);
    put_dec(b, v.qty);
    put_opt_dec(b, v.px);
    match &v.pending {
        None => b.push(0),
        Some(p) => {
            b.push(p.kind);
            put_id(b, &p.cl);
            put_dec(b, p.qty);
            put_opt_dec(b, p.px);
        }
    }
}

/// A cursor over a record's payload; every read is checked.
struct In<'a>(&'a [u8]);

impl<'a> In<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if self.0.len() < n {
            return Err("record too short");
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, &'static str> {
        Ok(self.take(1)?[0])
    }
    fn u64(&mut self) -> Result<u64, &'static str> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
    fn i64(&mut self) -> Result<i64, &'static str> {
        Ok(self.u64()? as i64)
    }
    fn i128(&mut self) -> Result<i128, &'static str> {
        let mut a = [0u8; 16];
        a.copy_from_slice(self.take(16)?);
        Ok(i128::from_le_bytes(a))
    }
    fn id(&mut self) -> Result<ClientId, &'static str> {
        let n = self.u8()? as usize;
        ClientId::from_bytes(self.take(n)?).map_err(|_| "ClOrdID too long")
    }
    fn dec(&mut self) -> Result<Dec, &'static str> {
        let mant = self.i64()?;
        let scale = self.u8()?;
        if scale > 18 {
            return Err("decimal scale out of range");
        }
        Ok(Dec::new(mant, scale))
    }
    fn opt_dec(&mut self) -> Result<Option<Dec>, &'static str> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.dec()?)),
            _ => Err("bad option flag"),
        }
    }
}

fn decode(kind: u16, p: &[u8]) -> Result<Option<Entry>, &'static str> {
    let mut i = In(p);
    Ok(Some(match kind {
        KIND_ORDER => {
            let key = i.id()?;
            let in_seq = i.u64()?;
            match decode_command(i.0) {
                Ok((_, Command::Submit(req))) => Entry::Order { key, in_seq, req },
                _ => return Err("ORDER record without a request"),
            }
        }
        KIND_STATE => {
            let key = i.id()?;
            let order = match i.u64()? {
                0 => None,
                n => Some(OrderId(n)),
            };
            let out_seq = i.u64()?;
            let status = i.u8()?;
            let cum = i.i64()?;
            let notional = i.i128()?;
            let cl = i.id()?;
            let qty = i.dec()?;
            let px = i.opt_dec()?;
            let pending = match i.u8()? {
                0 => None,
                k @ (b'F' | b'G') => Some(Pending {
                    kind: k,
                    cl: i.id()?,
                    qty: i.dec()?,
                    px: i.opt_dec()?,
                    acked: false,
                }),
                _ => return Err("bad pending kind"),
            };
            Entry::State {
                key,
                order,
                out_seq,
                view: View {
                    status,
                    cum,
                    notional,
                    cl,
                    qty,
                    px,
                    pending,
                },
            }
        }
        KIND_ALIAS => Entry::Alias {
            key: i.id()?,
            cl: i.id()?,
        },
        KIND_RESET => Entry::Reset,
        // DONE marks a generation whole.
        KIND_DONE => return Ok(None),
        // Written by another version: refused rather than misread.
        _ => return Err("unknown record kind"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ids::Side;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("execd-orderlog-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn req() -> ExecutionRequest {
        ExecutionRequest::market("d:o1", "alpha", "sim", "AAPL", Side::Buy, Dec::new(5, 0))
    }

    #[test]
    fn entries_survive_a_reopen_and_a_snapshot_replaces_the_history() {
        let root = dir("reopen");
        let key = ClientId::new("o1").unwrap();
        let mut view = View::new(key, &req());
        {
            let (mut log, e) = OrderLog::open(&root).unwrap();
            assert!(e.is_empty());
            log.order(1, &key, 3, &req());
            view.status = b'A';
            view.pending = Some(Pending {
                kind: b'G',
                cl: ClientId::new("o2").unwrap(),
                qty: Dec::new(7, 0),
                px: Some(Dec::new(1005, 1)),
                acked: false,
            });
            log.state(2, &key, Some(OrderId(9)), &view, 12);
            log.reset(3);
        }
        let (mut log, e) = OrderLog::open(&root).unwrap();
        assert_eq!(
            e,
            vec![
                Entry::Order {
                    key,
                    in_seq: 3,
                    req: req()
                },
                Entry::State {
                    key,
                    order: Some(OrderId(9)),
                    out_seq: 12,
                    view
                },
                Entry::Reset,
            ]
        );
        let o = ClientOrder {
            key,
            req: req(),
            in_seq: 3,
            order: Some(OrderId(9)),
            inst: None,
            known: view,
            told: view,
            busy: 0,
            aliases: vec![ClientId::new("o0").unwrap()],
        };
        log.snapshot(4, std::iter::once(&o)).unwrap();
        drop(log);
        assert!(!gen_dir(&root, 0).exists(), "the old generation is gone");
        let (_, e) = OrderLog::open(&root).unwrap();
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(matches!(e[1], Entry::State { out_seq: 0, .. }));
        assert!(matches!(e[2], Entry::Alias { .. }));
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_snapshot_cut_short_is_discarded_for_the_generation_before_it() {
        let root = dir("partial");
        let key = ClientId::new("o1").unwrap();
        {
            let (mut log, _) = OrderLog::open(&root).unwrap();
            log.order(1, &key, 3, &req());
        }
        {
            // A generation that never got its DONE.
            let (mut w, _) = JournalWriter::open(&gen_dir(&root, 1), SEGMENT).unwrap();
            w.append(KIND_RESET, 1, 1, &[]).unwrap();
        }
        let (_, e) = OrderLog::open(&root).unwrap();
        assert_eq!(e.len(), 1);
        assert!(!gen_dir(&root, 1).exists());
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn damaged_payloads_are_refused_not_misread() {
        assert!(decode(KIND_STATE, &[1, b'a']).is_err());
        assert!(decode(KIND_ORDER, &[0, 0, 0]).is_err());
        assert!(decode(99, &[]).is_err());
        assert_eq!(decode(KIND_DONE, &[]), Ok(None));
    }
}
