//! Bringing a session back: its store and dictionary opened, the book of its orders
//! rebuilt from the order log (with the rule for a report that may not have left), and,
//! once the gateway runs, what a crash left unsettled asked about or sent again.

use super::book::{status, Book, ClientOrder, View};
use super::courier::{Courier, OpKind};
use super::desk::{Desk, DeskStats, Inbox, KEEP_SENT};
use super::order_log::{Entry, OrderLog};
use super::reports::Version;
use super::settings::{EntrySpec, Secret};
use crate::config::Registry;
use crate::model::event::{Command, OrderRef};
use crate::venue::fix::codec::Decoder;
use crate::venue::fix::dictionary::Dictionary;
use crate::venue::fix::session::Session;
use crate::venue::fix::settings::DictionaryFiles;
use crate::venue::fix::store::{MessageStore, SessionStore};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;

impl Desk {
    /// The session `spec`, its store and book restored from `<journal>/entry/<name>/`
    /// (in memory only without a journal).
    pub fn open(
        index: u16,
        spec: EntrySpec,
        password: Option<Secret>,
        reg: Arc<Registry>,
        journal: Option<&Path>,
        now: u64,
    ) -> Result<Desk, String> {
        let name = spec.name.as_str().to_string();
        let mut cfg = spec.session.clone();
        if let Some(files) = &spec.dictionary {
            let overlays: Vec<&Path> = spec.overlays.iter().map(Path::new).collect();
            let d = match files {
                DictionaryFiles::Single(base) => Dictionary::open(base, &overlays),
                DictionaryFiles::Fixt { transport, app } => {
                    Dictionary::open_fixt(transport, app, &overlays)
                }
            }
            .map_err(|e| format!("dictionary: {e}"))?;
            cfg.dictionary = Some(Arc::new(d));
        }
        let dir = journal.map(|j| j.join("entry").join(&name));
        // Numbers restored from an earlier window (the previous trading day) come back as
        // 1, as the client starts that window: the store applies the daily reset.
        let store = SessionStore::open(dir.as_deref(), KEEP_SENT, cfg.schedule.as_ref(), now)
            .map_err(|e| e.to_string())?;
        let seqs = store.seqs();
        // Whether a report the log announced was stored (so sent) is judged against the
        // numbers as the store left them, before any daily reset.
        let stored_out = store.reset_at_open().unwrap_or(seqs).next_out;
        let new_window = store.reset_at_open().is_some();
        let window = store.session_start();
        let (log, entries) = match &dir {
            Some(d) => {
                let (l, e) = OrderLog::open(d)?;
                (Some(l), e)
            }
            None => (None, Vec::new()),
        };
        let version = Version::of(&cfg.begin_string);
        let mut session = Session::new(cfg, seqs);
        if window.is_some() {
            session.set_session_start(window);
        }
        let mut desk = Desk {
            index,
            book: Book::new(spec.max_orders),
            spec,
            password,
            version,
            reg,
            session,
            conn: None,
            store,
            log,
            outbox: VecDeque::new(),
            inbox: Inbox::default(),
            said: Vec::new(),
            dec: Decoder::new(),
            resync: false,
            stats: DeskStats::default(),
        };
        desk.restore(now, entries, stored_out);
        if new_window {
            // The numbers of the old window mean nothing now (see `restore`).
            if let Some(l) = desk.log.as_mut() {
                l.reset(now);
            }
        }
        if let Some(l) = desk.log.as_mut() {
            if l.needs_snapshot(desk.book.len()) {
                l.snapshot(now, desk.book.iter().map(|(_, o)| o))
                    .map_err(|e| format!("order log snapshot: {e}"))?;
            }
        }
        Ok(desk)
    }

    /// Rebuilds the book from the log. The last record may announce a report that never
    /// left (a crash between the record and the send): the session stores every frame
    /// before sending it, so if the store has no frame with that number, the order is
    /// put back to what the client had before it.
    fn restore(&mut self, now: u64, entries: Vec<Entry>, stored_out: u64) {
        let mut in_doubt: Option<(u32, View, u64)> = None;
        for e in entries {
            in_doubt = None;
            match e {
                Entry::Order { key, in_seq, req } => {
                    let inst = self
                        .reg
                        .venue(&req.venue)
                        .and_then(|v| self.reg.instrument(v, &req.symbol));
                    let o = ClientOrder {
                        key,
                        req,
                        in_seq,
                        order: None,
                        inst,
                        known: View::new(key, &req),
                        told: View::new(key, &req),
                        busy: 0,
                        aliases: Vec::new(),
                    };
                    let _ = self.book.insert(o, true);
                }
                Entry::State {
                    key,
                    order,
                    out_seq,
                    view,
                } => {
                    let Some(slot) = self.book.by_key(&key) else {
                        continue;
                    };
                    if let Some(id) = order {
                        self.book.set_order(slot, id);
                    }
                    for cl in [Some(view.cl), view.pending.map(|p| p.cl)]
                        .into_iter()
                        .flatten()
                    {
                        if cl != key {
                            self.book.alias(slot, cl);
                        }
                    }
                    if let Some(o) = self.book.get_mut(slot) {
                        if out_seq > 0 {
                            in_doubt = Some((slot, o.told, out_seq));
                        }
                        o.told = view;
                        o.known = view;
                    }
                }
                Entry::Alias { key, cl } => {
                    if let Some(slot) = self.book.by_key(&key) {
                        self.book.alias(slot, cl);
                    }
                }
                Entry::Reset => {}
            }
        }
        if let Some((slot, before, out_seq)) = in_doubt {
            if out_seq >= stored_out {
                if let Some(o) = self.book.get_mut(slot) {
                    o.told = before;
                    o.known = before;
                    // Recorded, so that a later record (a reset) cannot make the report
                    // that never left look sent at the next start.
                    if let Some(l) = self.log.as_mut() {
                        l.state(now, &o.key, o.order, &before, 0);
                    }
                }
            }
        }
        let done: Vec<u32> = self
            .book
            .iter()
            .filter(|(_, o)| status::is_terminal(o.told.status))
            .map(|(s, _)| s)
            .collect();
        for s in done {
            self.book.finished(s);
        }
    }

    /// After a restart: orders whose first fate is unknown are submitted again (the same
    /// request id, so never twice), and every order the client has not seen finish is
    /// asked about, so what happened while the gateway was away reaches the client.
    pub fn recover(&mut self, courier: &mut Courier) {
        let mut todo = Vec::new();
        for (slot, o) in self.book.iter() {
            match (o.order, o.told.status) {
                (None, status::NONE) => todo.push((slot, Command::Submit(o.req), true)),
                (Some(id), s) if !status::is_terminal(s) => {
                    todo.push((slot, Command::Query(OrderRef::Id(id)), false))
                }
                _ => {}
            }
        }
        for (slot, cmd, resubmit) in todo {
            let kind = if resubmit {
                self.stats.resubmitted += 1;
                OpKind::Submit {
                    slot,
                    recovery: true,
                }
            } else {
                OpKind::Recover { slot }
            };
            self.send(courier, cmd, kind);
        }
    }
}
