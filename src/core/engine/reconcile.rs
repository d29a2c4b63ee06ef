//! Reconciliation (R-AUD-4, R-RES-4): each venue is asked once for its open orders and
//! positions, what it lists is compared with the book and the ledger, and every line
//! is journaled as an event. Nothing is corrected silently: a difference holds new
//! orders for its account/venue/symbol scope until an operator resolves it with a
//! journaled command. After a restart on a journal, a venue takes no new order until
//! its in-flight orders are settled and its first report is clean or resolved.
//!
//! Reconciliations are rare and off the order path: what they collect grows as the
//! venue answers (the only allocation the engine does outside its start).

use super::{awaiting, Engine, Outbox};
use crate::model::event::CoreEvent;
use crate::model::fixed::{Price, Qty};
use crate::model::ids::{AccountId, ClOrdId, InstrumentId, VenueId};
use crate::model::order_state::OrderState;
use crate::model::reason::Reason;
use crate::model::reconcile::{
    ReconLine, ReconResolution, ReconStatus, ReconSummary, ReconTrigger,
};
use crate::venue::Venue;

/// Most open orders one answer may list (the venue's input is bounded like any other,
/// R-RES-5); beyond, the report says orders were not compared.
const MAX_LISTED: usize = 1 << 20;

/// Timer ids at and above this are a venue's scheduled reconciliation, not an order.
pub(super) const SCHEDULE_TIMER: u64 = u64::MAX - u16::MAX as u64;

/// One venue's reconciliation in progress and what it has heard so far.
#[derive(Debug, Default)]
pub(crate) struct VenueRecon {
    /// Asked, waiting for the venue's `SnapshotEnd`: why, and since when.
    asking: Option<(ReconTrigger, u64)>,
    /// Wanted while the venue was down or another one was running.
    wanted: Option<ReconTrigger>,
    /// Open orders the venue listed: (client order id, quantity it filled).
    listed: Vec<(ClOrdId, Qty)>,
    /// It listed more than [`MAX_LISTED`]: the orders part is not compared.
    overflowed: bool,
    /// Positions it reported: (account, instrument, net).
    positions: Vec<(AccountId, InstrumentId, Qty)>,
    /// The venue's positions as its last report with positions gave them.
    reported: Vec<(AccountId, InstrumentId, Qty)>,
    /// The last report's summary.
    pub(crate) last: Option<ReconSummary>,
    /// A schedule timer is set.
    scheduled: bool,
    /// Asset balances (spot venues) and execd's account of them.
    pub(super) holdings: super::balances::Holdings,
    /// The `Fill` booked last (order, exec id): the one whose `FillAssets` may count.
    pub(super) fill_booked: Option<(crate::model::ids::OrderId, u64)>,
}

/// Every venue's reconciliation state.
#[derive(Debug, Default)]
pub(crate) struct Reconciler {
    pub(super) venues: Vec<VenueRecon>,
    reports: u32,
    /// Set by the first journaled `Command::Reconcile`: only from then does the engine
    /// start reconciliations of its own (timeouts, logons), so a journal written before
    /// reconciliation existed replays exactly as it ran.
    enabled: bool,
}

impl Reconciler {
    pub(crate) fn new(venues: usize) -> Reconciler {
        Reconciler {
            venues: (0..venues).map(|_| VenueRecon::default()).collect(),
            reports: 0,
            enabled: false,
        }
    }

    /// Room for venues a new configuration added.
    pub(crate) fn resize(&mut self, venues: usize) {
        self.venues.resize_with(venues, VenueRecon::default);
    }
}

impl VenueRecon {
    /// Asked now: what an earlier answer left is dropped.
    fn begin(&mut self, why: ReconTrigger, now: u64) {
        self.asking = Some((why, now));
        self.listed.clear();
        self.overflowed = false;
        self.positions.clear();
        self.wanted = None;
    }
}

impl Engine {
    /// Asks venue `v` for its picture, now if it can be asked, else once it is up. A
    /// reconciliation already running is followed by one more.
    pub(crate) fn reconcile_venue(&mut self, v: VenueId, why: ReconTrigger, out: &mut impl Outbox) {
        if !self.recon.enabled {
            return;
        }
        let vi = v.0 as usize;
        let Some(r) = self.recon.venues.get_mut(vi) else {
            return;
        };
        if r.asking.is_some() {
            r.wanted.get_or_insert(why);
            return;
        }
        if self.venues[vi].snapshot(self.now) {
            r.begin(why, self.now);
        } else if self.venues[vi].is_logged_on() && !self.venues[vi].is_external() {
            // Up, but it cannot tell (an in-process venue with no such requests): an
            // unchecked report, so what the core holds is still on record. A network venue
            // must answer through its (journaled) inputs, or a replay would not see it.
            r.begin(why, self.now);
            self.finish_reconciliation(v, false, false, 0, out);
        } else {
            r.wanted = Some(why);
        }
    }

    /// `Command::Reconcile`: with `hold` (a restart on a journal), the venue takes no
    /// new order (RECONCILING) until a report finds nothing in flight there.
    pub(super) fn reconcile_command(
        &mut self,
        origin: u8,
        venue: &crate::model::ids::Name,
        why: ReconTrigger,
        hold: bool,
        out: &mut impl Outbox,
    ) {
        let Some(v) = self.reg.venue(venue) else {
            return out.emit(origin, super::rejected_cmd(None, Reason::UnknownVenue));
        };
        self.recon.enabled = true;
        // An in-process venue is rebuilt by the same replay as the core: nothing of it
        // is unknown after a restart, so only network venues are held.
        if hold && self.venues[v.0 as usize].is_external() {
            self.gate.holds.resuming[v.0 as usize] = true;
            // The core was down: fills meanwhile come back through status answers,
            // which move no assets here.
            self.rebase_balances(v);
        }
        // Timers come from journaled inputs only: the schedule starts with the core's
        // own start command, so a replay sets the same ones.
        if why == ReconTrigger::Start {
            self.schedule(v);
        }
        self.reconcile_venue(v, why, out);
    }

    /// Venue `v`'s first scheduled reconciliation, once (the timer then sets the next).
    fn schedule(&mut self, v: VenueId) {
        let vi = v.0 as usize;
        let every = self.reg.venues[vi].reconcile_every_ns;
        let Some(r) = self.recon.venues.get_mut(vi) else {
            return;
        };
        if every > 0 && !r.scheduled {
            r.scheduled = true;
            let due = self.now.saturating_add(every);
            self.timers.push_late((due, SCHEDULE_TIMER + vi as u64));
        }
    }

    /// A schedule timer fired: reconcile, and set the next one.
    pub(super) fn on_schedule_timer(&mut self, timer: u64, out: &mut impl Outbox) {
        let vi = (timer - SCHEDULE_TIMER) as usize;
        let Some(spec) = self.reg.venues.get(vi) else {
            return;
        };
        let every = spec.reconcile_every_ns;
        if every == 0 {
            if let Some(r) = self.recon.venues.get_mut(vi) {
                r.scheduled = false;
            }
            return;
        }
        self.timers
            .push_late((self.now.saturating_add(every), timer));
        self.reconcile_venue(VenueId(vi as u16), ReconTrigger::Schedule, out);
    }

    /// Venue `v`'s session came up: what was wanted while it was down is asked now.
    pub(super) fn reconcile_on_logon(&mut self, v: VenueId, out: &mut impl Outbox) {
        let wanted = self
            .recon
            .venues
            .get(v.0 as usize)
            .and_then(|r| r.wanted)
            .unwrap_or(ReconTrigger::Start);
        self.reconcile_venue(v, wanted, out);
    }

    /// Venue `v` went down while answering: no report from half an answer; it is asked
    /// again when it is back.
    pub(super) fn reconciliation_interrupted(&mut self, v: VenueId) {
        if let Some(r) = self.recon.venues.get_mut(v.0 as usize) {
            if let Some((why, _)) = r.asking.take() {
                r.wanted.get_or_insert(why);
            }
        }
    }

    /// An open order venue `v` listed.
    pub(super) fn on_listed(&mut self, v: VenueId, cl: ClOrdId, cum: Qty) {
        if let Some(r) = self.recon.venues.get_mut(v.0 as usize) {
            if r.asking.is_some() {
                if r.listed.len() < MAX_LISTED {
                    r.listed.push((cl, cum));
                } else {
                    r.overflowed = true;
                }
            }
        }
    }

    /// A position venue `v` reported.
    pub(super) fn on_venue_position(&mut self, v: VenueId, a: AccountId, i: InstrumentId, q: Qty) {
        if let Some(r) = self.recon.venues.get_mut(v.0 as usize) {
            if r.asking.is_some() {
                match r.positions.iter_mut().find(|p| p.0 == a && p.1 == i) {
                    Some(p) => p.2 = q,
                    None => r.positions.push((a, i, q)),
                }
            }
        }
    }

    /// Venue `v` finished answering: compare, report, hold what differs.
    pub(super) fn finish_reconciliation(
        &mut self,
        v: VenueId,
        orders: bool,
        positions: bool,
        foreign: u32,
        out: &mut impl Outbox,
    ) {
        let vi = v.0 as usize;
        let Some((trigger, asked_ns)) = self.recon.venues.get_mut(vi).and_then(|r| r.asking.take())
        else {
            return;
        };
        self.recon.reports += 1;
        let report = self.recon.reports;
        let mut sum = ReconSummary {
            report,
            venue: v,
            trigger,
            asked_ns,
            lines: 0,
            mismatches: 0,
            in_flight: 0,
            orders_checked: orders,
            positions_checked: positions,
        };
        let listed = std::mem::take(&mut self.recon.venues[vi].listed);
        let orders = orders && !self.recon.venues[vi].overflowed;
        let venue_pos = std::mem::take(&mut self.recon.venues[vi].positions);
        if positions {
            self.recon.venues[vi].reported = venue_pos.clone();
        }
        let mut lines: Vec<ReconLine> = Vec::new();
        let blank = ReconLine {
            report,
            venue: v,
            status: ReconStatus::Matched,
            account: None,
            instrument: None,
            order: None,
            venue_order: 0,
            ours_state: None,
            theirs_state: None,
            ours: Qty(0),
            theirs: Qty(0),
        };
        // Orders not yet known to have reached the venue are left to their status
        // queries, whether or not the venue could list the others.
        // Counted in the same walk of the book as the listing below when there is one:
        // on a large book each walk is what a report costs.
        if !orders {
            sum.in_flight = self.unsettled(v) as u32;
        }
        let mut listed = listed;
        listed.sort_unstable_by_key(|(cl, _)| (cl.order.0, cl.epoch));
        let find = |id: u64, epoch: u32| {
            listed
                .binary_search_by_key(&(id, epoch), |(cl, _)| (cl.order.0, cl.epoch))
                .ok()
                .map(|i| listed[i])
        };
        if orders {
            for o in self.book.working() {
                let t = o.terms();
                let s = o.state();
                if t.venue != v {
                    continue;
                }
                let unknown = self.unknown_to_venue(o);
                sum.in_flight += u32::from(unknown);
                // Not yet known to the venue (its status query settles it), or known never
                // to have reached it (retrying, or a dead letter: R-RES-3's business).
                if s.is_terminal() || unknown || self.is_undelivered(o.id()) {
                    continue;
                }
                let here = find(o.id().0, o.epoch());
                let (status, theirs_state, theirs) = match here {
                    Some((_, cum)) if cum == o.cum_qty() => {
                        (ReconStatus::Matched, Some(OrderState::New), cum)
                    }
                    Some((_, cum)) => (ReconStatus::Mismatch, Some(OrderState::New), cum),
                    None => (ReconStatus::Mismatch, None, Qty(0)),
                };
                lines.push(ReconLine {
                    status,
                    account: Some(t.account),
                    instrument: Some(t.instrument),
                    order: Some(o.id()),
                    ours_state: Some(s),
                    theirs_state,
                    ours: o.cum_qty(),
                    theirs,
                    ..blank
                });
            }
            for &(cl, cum) in &listed {
                let held = self.book.get(cl.order).filter(|o| o.epoch() == cl.epoch);
                match held {
                    Some(o) if !o.state().is_terminal() => {}
                    Some(o) => lines.push(ReconLine {
                        status: ReconStatus::Mismatch,
                        account: Some(o.terms().account),
                        instrument: Some(o.terms().instrument),
                        order: Some(o.id()),
                        ours_state: Some(o.state()),
                        theirs_state: Some(OrderState::New),
                        ours: o.cum_qty(),
                        theirs: cum,
                        ..blank
                    }),
                    None => lines.push(ReconLine {
                        status: ReconStatus::UnknownOrder,
                        venue_order: cl.order.0,
                        theirs_state: Some(OrderState::New),
                        theirs: cum,
                        ..blank
                    }),
                }
            }
            for _ in 0..foreign {
                lines.push(ReconLine {
                    status: ReconStatus::UnknownOrder,
                    theirs_state: Some(OrderState::New),
                    ..blank
                });
            }
        }
        if positions {
            let n_acc = self.reg.accounts.len();
            for inst in self.reg.instruments.iter().filter(|i| i.venue == v) {
                for a in 0..n_acc {
                    let a = AccountId(a as u16);
                    let ours = self.ledger.position(a, inst.id).net;
                    let theirs = venue_pos
                        .iter()
                        .find(|p| p.0 == a && p.1 == inst.id)
                        .map_or(Qty(0), |p| p.2);
                    if ours.0 == 0 && theirs.0 == 0 {
                        continue;
                    }
                    let status = if ours == theirs {
                        if orders && self.protection_missing(a, inst.id, &find) {
                            ReconStatus::MissingSlTp
                        } else {
                            ReconStatus::Matched
                        }
                    } else if ours.0 == 0 {
                        ReconStatus::PhantomPosition
                    } else if theirs.0 == 0 {
                        ReconStatus::MissingPosition
                    } else {
                        ReconStatus::Mismatch
                    };
                    lines.push(ReconLine {
                        status,
                        account: Some(a),
                        instrument: Some(inst.id),
                        ours,
                        theirs,
                        ..blank
                    });
                }
            }
        }
        let orders_in_flight = sum.in_flight;
        let (n, bad, moving) = self.balance_lines(v, report, out);
        sum.lines += n;
        sum.mismatches += bad;
        sum.in_flight += moving;
        for l in &lines {
            sum.lines += 1;
            if l.status != ReconStatus::Matched {
                sum.mismatches += 1;
                match (l.account, l.instrument) {
                    (Some(a), Some(i)) => {
                        let k = self.gate.holds.at(a, i);
                        self.gate.holds.scope[k] = true;
                    }
                    _ => self.gate.holds.venue[vi] = true,
                }
            }
            out.broadcast(CoreEvent::ReconLine(*l));
        }
        if orders_in_flight == 0 {
            self.gate.holds.resuming[vi] = false;
        }
        // Queued orders of this venue that are finished have been compared now.
        let book = &self.book;
        self.reconcile.retain(|id| {
            book.get(*id)
                .is_some_and(|o| o.terms().venue != v || !o.state().is_terminal())
        });
        self.recon.venues[vi].last = Some(sum);
        out.broadcast(CoreEvent::ReconReport(sum));
        if let Some(again) = self.recon.venues[vi].wanted.take() {
            self.reconcile_venue(v, again, out);
        }
    }

    /// Whether the position of `a` in `i` lacks protection it was given: a protective
    /// order the venue has acknowledged that it did not list, or legs placed of which
    /// none works any more and none filled. Legs still on their way are not judged.
    fn protection_missing(
        &self,
        a: AccountId,
        i: InstrumentId,
        listed: &impl Fn(u64, u32) -> Option<(ClOrdId, Qty)>,
    ) -> bool {
        let mut cur = self.ledger.position(a, i).protective;
        let (mut placed, mut live, mut filled) = (false, false, false);
        while let Some(id) = cur {
            let Some(o) = self.book.get(id) else { break };
            placed = true;
            filled |= o.cum_qty().0 > 0;
            if !o.state().is_terminal() {
                live = true;
                if !self.unknown_to_venue(o)
                    && !self.is_undelivered(id)
                    && listed(id.0, o.epoch()).is_none()
                {
                    return true;
                }
            }
            cur = o.next_protective();
        }
        placed && !live && !filled
    }

    /// A venue held after a restart whose last report found orders in flight: once the
    /// venue has settled them all, it is reconciled again (their fills may have moved
    /// positions), and that report lifts the hold.
    pub(super) fn maybe_resume(&mut self, v: VenueId, out: &mut impl Outbox) {
        let vi = v.0 as usize;
        if !self.gate.holds.resuming.get(vi).copied().unwrap_or(false) {
            return;
        }
        let Some(r) = self.recon.venues.get(vi) else {
            return;
        };
        let waited = r.last.is_some_and(|s| s.in_flight > 0);
        if !waited || r.asking.is_some() || self.unsettled(v) > 0 {
            return;
        }
        self.reconcile_venue(v, ReconTrigger::Start, out);
    }

    /// An operator's decision (journaled with the note before it): lift the holds in
    /// scope, and with `accept_venue` restate the core's positions to the venue's last
    /// report.
    pub(super) fn resolve_reconciliation(
        &mut self,
        origin: u8,
        r: &ReconResolution,
        out: &mut impl Outbox,
    ) {
        let Some(v) = self.reg.venue(&r.venue) else {
            return out.emit(origin, super::rejected_cmd(None, Reason::UnknownVenue));
        };
        let account = match r.account {
            None => None,
            Some(n) => match self.reg.account(&n) {
                Some(a) => Some(a),
                None => return out.emit(origin, super::rejected_cmd(None, Reason::UnknownAccount)),
            },
        };
        let instrument = match r.symbol {
            None => None,
            Some(n) => match self.reg.instrument(v, &n) {
                Some(i) => Some(i),
                None => {
                    return out.emit(origin, super::rejected_cmd(None, Reason::UnknownInstrument))
                }
            },
        };
        let vi = v.0 as usize;
        let mut released = 0;
        let mut restated = 0;
        let n_acc = self.reg.accounts.len() as u16;
        let insts: Vec<InstrumentId> = self
            .reg
            .instruments
            .iter()
            .filter(|i| i.venue == v && instrument.is_none_or(|x| x == i.id))
            .map(|i| i.id)
            .collect();
        for a in (0..n_acc)
            .map(AccountId)
            .filter(|a| account.is_none_or(|x| x == *a))
        {
            for &i in &insts {
                let k = self.gate.holds.at(a, i);
                if !self.gate.holds.scope[k] {
                    continue;
                }
                if r.accept_venue {
                    if let Some(q) = self.last_venue_position(v, a, i) {
                        if self.ledger.position(a, i).net != q {
                            if !self.restate_position(a, i, q) {
                                // No price to enter a position execd did not hold at:
                                // the hold stays until one is quoted.
                                continue;
                            }
                            restated += 1;
                        }
                    }
                }
                self.gate.holds.scope[k] = false;
                released += 1;
            }
        }
        if r.accept_venue && instrument.is_none() {
            restated += self.accept_venue_balances(v, account);
        }
        if account.is_none() && instrument.is_none() {
            // The whole venue: an operator's word also ends a restart's wait (R-RES-4:
            // "MATCHED or resolved"), e.g. for an order the venue will not answer about.
            for held in [
                &mut self.gate.holds.venue[vi],
                &mut self.gate.holds.resuming[vi],
            ] {
                if *held {
                    *held = false;
                    released += 1;
                }
            }
        }
        out.broadcast(CoreEvent::ReconResolved {
            venue: v,
            account,
            instrument,
            accept_venue: r.accept_venue,
            released,
            restated,
        });
    }

    /// The venue's position in the last report it answered with positions.
    fn last_venue_position(&self, v: VenueId, a: AccountId, i: InstrumentId) -> Option<Qty> {
        let r = self.recon.venues.get(v.0 as usize)?;
        r.last.filter(|s| s.positions_checked)?;
        Some(
            r.reported
                .iter()
                .find(|p| p.0 == a && p.1 == i)
                .map_or(Qty(0), |p| p.2),
        )
    }

    /// Books `q` as the position, keeping the average entry (the quote's mid when it was
    /// flat); whether it could.
    fn restate_position(&mut self, a: AccountId, i: InstrumentId, q: Qty) -> bool {
        let quote = self.gate.quotes[i.0 as usize];
        let mark = Price(((quote.bid.0 as i128 + quote.ask.0 as i128) / 2) as i64);
        let inst = &self.reg.instruments[i.0 as usize];
        self.ledger.restate(inst, a, q, mark)
    }

    /// Order ids the book holds that venue `v` still has to answer about (for reads).
    pub(crate) fn unsettled(&self, v: VenueId) -> usize {
        self.book
            .working()
            .filter(|o| o.terms().venue == v && self.unknown_to_venue(o))
            .count()
    }
}

impl Engine {
    /// Not yet known to have reached its venue: sent (or about to be) and never
    /// acknowledged; a status query settles it, not a listing. An order known never to
    /// have reached it (being resent, or a dead letter) is not waited for.
    fn unknown_to_venue(&self, o: &crate::oms::Order) -> bool {
        (o.state() == OrderState::Received || (awaiting(o.state()) && !o.acked()))
            && !self.is_undelivered(o.id())
    }
}
