//! Asset balances at venues that hold assets, not positions (Binance spot), and
//! execd's own account of them (R-AUD-4): the venue's balance as it last said, the
//! balance when execd first heard it, and what this core's fills moved since (each
//! commission in the asset it was charged in). A reconciliation compares the two
//! changes per asset; a difference is a line to resolve like any other.
//!
//! Three things keep a line from crying wolf:
//! - a fill's assets count once, and only when its `Fill` was booked (a resent
//!   executionReport moves nothing twice);
//! - an asset a fill moved that the venue has not confirmed with a balance since is
//!   IN_FLIGHT, not a mismatch (Binance tells the fill, then the account): deterministic,
//!   and the next `outboundAccountPosition` settles it;
//! - after a stream gap (`Restarted`) or a core restart, fills come back through status
//!   answers, which carry no assets: the comparison restarts from the venue's word (its
//!   last balance, then its next one per asset), and the next report shows each asset so
//!   rebased as a REBASED line with the changes set aside.
//!
//! Everything here comes from journaled venue inputs (`Balance`, `FillAssets`,
//! `Restarted`) and commands, so a replay rebuilds the same holdings. A venue adds an entry per asset once (rare, off
//! the order path); after that nothing allocates.

use super::{Engine, Outbox};
use crate::model::event::CoreEvent;
use crate::model::ids::{AccountId, ClOrdId, Name, OrderId, VenueId};
use crate::model::reconcile::{BalanceLine, ReconStatus};

/// Most assets one venue's account may list (R-RES-5: the venue's input is bounded);
/// beyond, new assets are not tracked.
const MAX_ASSETS: usize = 4096;

/// One asset of one account at one venue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Holding {
    /// Whose.
    pub account: AccountId,
    /// The venue's asset code.
    pub asset: Name,
    /// Available, as the venue last said ([`crate::venue::ASSET_SCALE`] decimals).
    pub free: i64,
    /// Held by open orders, as the venue last said.
    pub locked: i64,
    /// A futures wallet (shown, not reconciled).
    pub wallet: bool,
    /// free + locked when execd first heard of the asset: what changes are measured
    /// from. `None` until the venue has said (fills before that are in it).
    pub start: Option<i64>,
    /// What this core's fills and commissions moved since `start`.
    pub moved: i64,
    /// Commissions charged in this asset since `start`.
    pub fees: i64,
    /// A fill moved it and no balance from the venue has come since.
    pub unconfirmed: bool,
    /// The venue's next balance restarts the comparison (a gap or restart was heard).
    pub rebase_due: bool,
    /// Changes (ours, theirs) set aside by rebases since the last report.
    pub rebased: Option<(i64, i64)>,
}

impl Holding {
    /// The venue's balance change since `start` (0 before there is one).
    pub fn venue_change(&self) -> i64 {
        self.start.map_or(0, |s| {
            self.free.saturating_add(self.locked).saturating_sub(s)
        })
    }
}

/// A venue's holdings.
#[derive(Debug, Default)]
pub(crate) struct Holdings(Vec<Holding>);

impl Holdings {
    fn get_mut(&mut self, account: AccountId, asset: Name) -> Option<&mut Holding> {
        self.0
            .iter_mut()
            .find(|h| h.account == account && h.asset == asset)
    }

    /// Set aside what was measured: from here the venue's word is the start.
    fn rebase(x: &mut Holding) {
        let Some(start) = x.start else { return };
        let total = x.free.saturating_add(x.locked);
        let (ours, theirs) = x.rebased.unwrap_or_default();
        x.rebased = Some((
            ours.saturating_add(x.moved),
            theirs.saturating_add(total.saturating_sub(start)),
        ));
        x.start = Some(total);
        x.moved = 0;
        x.unconfirmed = false;
    }

    /// Every holding, in the order first heard.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Holding> {
        self.0.iter()
    }
}

impl Engine {
    /// The venue's word on an asset.
    pub(super) fn on_balance(
        &mut self,
        v: VenueId,
        account: AccountId,
        asset: Name,
        (free, locked): (i64, i64),
        wallet: bool,
    ) {
        let Some(h) = self.holdings_mut(v) else {
            return;
        };
        let total = free.saturating_add(locked);
        if let Some(x) = h.get_mut(account, asset) {
            x.free = free;
            x.locked = locked;
            x.wallet = wallet;
            x.start.get_or_insert(total);
            x.unconfirmed = false;
            if std::mem::take(&mut x.rebase_due) {
                Holdings::rebase(x);
            }
        } else if h.0.len() < MAX_ASSETS {
            h.0.push(Holding {
                account,
                asset,
                free,
                locked,
                wallet,
                start: Some(total),
                moved: 0,
                fees: 0,
                unconfirmed: false,
                rebase_due: false,
                rebased: None,
            });
        }
    }

    /// Venue `v`'s stream had a gap or the core restarted: fills booked from status
    /// answers move no assets here, so what the venue says now and next is the start.
    pub(super) fn rebase_balances(&mut self, v: VenueId) {
        let Some(h) = self.holdings_mut(v) else {
            return;
        };
        for x in h.0.iter_mut() {
            // Its last word may already hold the gap (read before the gap was told),
            // or its next one will (read after): both restart the comparison.
            Holdings::rebase(x);
            x.rebase_due = true;
        }
    }

    /// A `Fill` from venue `v` was booked: its assets may follow.
    pub(super) fn fill_booked(&mut self, v: VenueId, id: OrderId, exec_id: u64) {
        if let Some(r) = self.recon.venues.get_mut(v.0 as usize) {
            r.fill_booked = Some((id, exec_id));
        }
    }

    /// What one of our fills moved (its `Fill` came just before). Counted only for the
    /// fill booked last, once: a duplicate or refused `Fill` moves nothing here. Assets
    /// the venue has not told a balance of yet are left: the balance it tells will
    /// include the move.
    pub(super) fn on_fill_assets(
        &mut self,
        v: VenueId,
        (cl, exec_id): (ClOrdId, u64),
        moves: [(Name, i64); 2],
        (fee_asset, fee): (Name, i64),
    ) {
        let booked = self
            .recon
            .venues
            .get_mut(v.0 as usize)
            .and_then(|r| r.fill_booked.take());
        if booked != Some((cl.order, exec_id)) {
            self.stats.duplicate_fill_assets += 1;
            return;
        }
        let Some(account) = self
            .book
            .get(cl.order)
            .filter(|o| o.epoch() == cl.epoch)
            .map(|o| o.terms().account)
        else {
            return;
        };
        let Some(h) = self.holdings_mut(v) else {
            return;
        };
        for (asset, delta) in moves {
            if let Some(x) = h.get_mut(account, asset).filter(|x| x.start.is_some()) {
                x.moved = x.moved.saturating_add(delta);
                x.unconfirmed = true;
            }
        }
        if let Some(x) = h.get_mut(account, fee_asset).filter(|x| x.start.is_some()) {
            x.moved = x.moved.saturating_sub(fee);
            x.fees = x.fees.saturating_add(fee);
            x.unconfirmed = true;
        }
    }

    fn holdings_mut(&mut self, v: VenueId) -> Option<&mut Holdings> {
        self.recon
            .venues
            .get_mut(v.0 as usize)
            .map(|r| &mut r.holdings)
    }

    /// Venue `v`'s holdings (reads, the stop summary).
    pub fn holdings(&self, v: VenueId) -> impl Iterator<Item = &Holding> {
        self.recon
            .venues
            .get(v.0 as usize)
            .into_iter()
            .flat_map(|r| r.holdings.iter())
    }

    /// The balance lines of report `report` for venue `v` (spot holdings only):
    /// broadcast, and (lines, mismatches, in flight) counted.
    pub(super) fn balance_lines(
        &mut self,
        v: VenueId,
        report: u32,
        out: &mut impl Outbox,
    ) -> (u32, u32, u32) {
        let vi = v.0 as usize;
        if vi >= self.recon.venues.len() {
            return (0, 0, 0);
        }
        let (mut lines, mut mismatches, mut in_flight) = (0, 0, 0);
        for h in self.recon.venues[vi].holdings.0.iter_mut() {
            if h.wallet || h.start.is_none() {
                continue;
            }
            let (account, asset) = (h.account, h.asset);
            let line = |status, ours, theirs| {
                CoreEvent::BalanceLine(BalanceLine {
                    report,
                    venue: v,
                    account,
                    asset,
                    status,
                    ours,
                    theirs,
                })
            };
            if let Some((ours, theirs)) = h.rebased.take().filter(|&c| c != (0, 0)) {
                lines += 1;
                out.broadcast(line(ReconStatus::Rebased, ours, theirs));
            }
            let theirs = h.venue_change();
            if h.moved == 0 && theirs == 0 {
                continue;
            }
            let status = if h.moved == theirs {
                ReconStatus::Matched
            } else if h.unconfirmed {
                in_flight += 1;
                ReconStatus::InFlight
            } else {
                mismatches += 1;
                ReconStatus::Mismatch
            };
            lines += 1;
            out.broadcast(line(status, h.moved, theirs));
        }
        if mismatches > 0 {
            self.gate.holds.venue[vi] = true;
        }
        (lines, mismatches, in_flight)
    }

    /// An operator accepted the venue's balances: changes are measured from here on.
    pub(super) fn accept_venue_balances(&mut self, v: VenueId, account: Option<AccountId>) -> u32 {
        let Some(h) = self.holdings_mut(v) else {
            return 0;
        };
        let mut n = 0;
        for x in
            h.0.iter_mut()
                .filter(|x| account.is_none_or(|a| a == x.account))
        {
            if x.start.is_some() && x.venue_change() != x.moved {
                x.start = Some(x.free.saturating_add(x.locked));
                x.moved = 0;
                n += 1;
            }
        }
        n
    }
}
