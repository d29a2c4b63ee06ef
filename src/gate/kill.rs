//! Kill switches (R-GATE-2) and account modes (R-GATE-1).

use crate::model::ids::{AccountId, InstrumentId, VenueId};
use serde::{Deserialize, Serialize};

/// A kill switch's position.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize,
)]
#[serde(rename_all = "UPPERCASE")]
#[repr(u8)]
pub enum KillState {
    /// Trading proceeds.
    #[default]
    Off = 0,
    /// Trading proceeds, flagged.
    Warning = 1,
    /// Nothing new is sent.
    Active = 2,
}

impl KillState {
    /// "OFF" / "WARNING" / "ACTIVE".
    pub fn as_str(self) -> &'static str {
        match self {
            KillState::Off => "OFF",
            KillState::Warning => "WARNING",
            KillState::Active => "ACTIVE",
        }
    }
}

/// An account's mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "UPPERCASE")]
#[repr(u8)]
pub enum Mode {
    /// Advise only: every check runs, nothing is sent.
    #[default]
    Guide = 0,
    /// May send.
    Autonomous = 1,
}

impl Mode {
    /// "GUIDE" / "AUTONOMOUS".
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Guide => "GUIDE",
            Mode::Autonomous => "AUTONOMOUS",
        }
    }
}

/// Every kill switch, dense by interned id.
#[derive(Clone, Debug)]
pub struct KillSwitches {
    /// Global.
    pub global: KillState,
    /// Per venue.
    pub venue: Vec<KillState>,
    /// Per account.
    pub account: Vec<KillState>,
    /// Per instrument (a symbol switch sets every instrument with that symbol).
    pub instrument: Vec<KillState>,
}

/// Which switch blocked or flagged a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillHit {
    /// None is ACTIVE; `true` if one is WARNING.
    Clear(bool),
    /// Global ACTIVE.
    Global,
    /// Venue ACTIVE.
    Venue,
    /// Account ACTIVE.
    Account,
    /// Symbol ACTIVE.
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
    pub fn check(&self, v: VenueId, a: AccountId, i: InstrumentId) -> KillHit {
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
