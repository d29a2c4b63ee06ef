//! Operator controls: kill-switch positions (R-GATE-2) and account modes (R-GATE-1).
//! (Discriminants are the journal's encoding: never renumber.)

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
