//! Kill switches (R-GATE-2), dense by interned id.

use crate::model::control::KillState;
use crate::model::ids::{AccountId, InstrumentId, VenueId};

/// Every kill switch, dense by interned id.
#[derive(Clone, Debug)]
pub struct KillSwitches {
    /// Covers everything.
    pub global: KillState,
    /// By venue id.
    pub venue: Vec<KillState>,
    /// By account id.
    pub account: Vec<KillState>,
    /// By instrument id (a symbol switch sets every instrument with that symbol).
    pub instrument: Vec<KillState>,
}

/// Which switch blocked or flagged a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KillHit {
    /// None is ACTIVE; `true` if one is WARNING.
    Clear(bool),
    // The ACTIVE switch, the widest first.
    Global,
    Venue,
    Account,
    Symbol,
}

impl KillSwitches {
    /// All OFF.
    pub fn new(venues: usize, accounts: usize, instruments: usize) -> Self {
        KillSwitches {
            global: KillState::Off,
            venue: vec![KillState::Off; venues],
            account: vec![KillState::Off; accounts],
            instrument: vec![KillState::Off; instruments],
        }
    }

    /// The most restrictive switch covering this order.
    pub(crate) fn check(&self, v: VenueId, a: AccountId, i: InstrumentId) -> KillHit {
        let states = [
            (self.global, KillHit::Global),
            (self.venue[v.0 as usize], KillHit::Venue),
            (self.account[a.0 as usize], KillHit::Account),
            (self.instrument[i.0 as usize], KillHit::Symbol),
        ];
        let mut warning = false;
        for (s, hit) in states {
            match s {
                KillState::Active => return hit,
                KillState::Warning => warning = true,
                KillState::Off => {}
            }
        }
        KillHit::Clear(warning)
    }
}
