//! Reconciliation holds (R-AUD-4, R-RES-4): scopes where new orders wait for a human or
//! for the venue's answers. Set and lifted only by the engine from journaled inputs, so
//! a replay refuses the same requests.

use crate::model::ids::{AccountId, InstrumentId, VenueId};
use crate::model::reason::Reason;

/// Which scopes are held.
#[derive(Clone, Debug, Default)]
pub struct Holds {
    /// Per account × instrument: a difference an operator has not resolved.
    pub(crate) scope: Vec<bool>,
    /// Per venue: a difference no account or instrument can be named for (an order the
    /// venue has and this core does not know).
    pub(crate) venue: Vec<bool>,
    /// Per venue: restarted on a journal and not yet reconciled.
    pub(crate) resuming: Vec<bool>,
    instruments: usize,
}

impl Holds {
    /// Nothing held.
    pub(crate) fn new(venues: usize, accounts: usize, instruments: usize) -> Holds {
        Holds {
            scope: vec![false; accounts * instruments],
            venue: vec![false; venues],
            resuming: vec![false; venues],
            instruments,
        }
    }

    /// The cell of an account and instrument.
    pub(crate) fn at(&self, a: AccountId, i: InstrumentId) -> usize {
        a.0 as usize * self.instruments + i.0 as usize
    }

    /// Keeps what is held where the configuration still has it.
    pub(crate) fn resize(&mut self, venues: usize, accounts: usize, instruments: usize) {
        let mut next = Holds::new(venues, accounts, instruments);
        for a in 0..accounts.min(self.scope.len() / self.instruments.max(1)) {
            for i in 0..instruments.min(self.instruments) {
                next.scope[a * instruments + i] = self.scope[a * self.instruments + i];
            }
        }
        for v in 0..venues.min(self.venue.len()) {
            next.venue[v] = self.venue[v];
            next.resuming[v] = self.resuming[v];
        }
        *self = next;
    }

    /// Whether a new order for this scope must wait.
    pub(crate) fn check(&self, v: VenueId, a: AccountId, i: InstrumentId) -> Result<(), Reason> {
        if self.resuming[v.0 as usize] {
            return Err(Reason::Reconciling);
        }
        if self.venue[v.0 as usize] || self.scope[self.at(a, i)] {
            return Err(Reason::ReconciliationRequired);
        }
        Ok(())
    }
}
