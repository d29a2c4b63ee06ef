//! The order state machine (R-OMS-1): one transition table, a pure function of
//! (state, event). An event that does not fit is an anomaly, never a panic.

use crate::model::order_state::{OmsEvent, OrderState};

/// Where a transition leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// A definite state.
    State(OrderState),
    /// Back to where the venue has the order: `PartiallyFilled` if anything is filled,
    /// else `New` if acknowledged, else `PendingNew` (a refused cancel or replace leaves
    /// the order as it was).
    Working,
}

/// Side effects the core must carry out after a transition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Effects {
    /// Send a cancel to the venue.
    pub send_cancel: bool,
    /// Queue the order for reconciliation with the venue.
    pub reconcile: bool,
    /// Arm the hard timeout.
    pub arm_timeout: bool,
}

/// The result of a fitting event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Step {
    /// The next state.
    pub to: Target,
    /// What to do about it.
    pub effects: Effects,
}

/// An event that does not fit the state: recorded, state unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Anomaly {
    /// The state the order was in.
    pub state: OrderState,
    /// The event that did not fit.
    pub event: OmsEvent,
}

const NONE: Effects = Effects {
    send_cancel: false,
    reconcile: false,
    arm_timeout: false,
};

const fn to(s: OrderState) -> Step {
    Step {
        to: Target::State(s),
        effects: NONE,
    }
}

/// The transition table.
pub(crate) fn transition(state: OrderState, event: OmsEvent) -> Result<Step, Anomaly> {
    use OmsEvent as E;
    use OrderState as S;
    let step = match (state, event) {
        (S::Received, E::GateReject) => to(S::Rejected),
        (S::Received, E::Sent) => Step {
            to: Target::State(S::PendingNew),
            effects: Effects {
                arm_timeout: true,
                ..NONE
            },
        },

        (S::PendingNew, E::Ack) => to(S::New),
        (S::PendingNew | S::PendingCancel | S::TimedOut, E::VenueReject) => to(S::Rejected),
        (S::PendingNew | S::New | S::PartiallyFilled | S::Replaced, E::PartialFill) => {
            to(S::PartiallyFilled)
        }
        (S::PendingNew | S::New | S::PartiallyFilled | S::Replaced, E::CancelSent) => {
            to(S::PendingCancel)
        }
        (S::New | S::PartiallyFilled | S::Replaced, E::ReplaceSent) => to(S::PendingReplace),
        (S::PendingNew, E::Timeout) => Step {
            to: Target::State(S::TimedOut),
            effects: Effects {
                send_cancel: true,
                reconcile: true,
                arm_timeout: false,
            },
        },

        // Any live order can complete, be canceled (IOC remainder, venue action) or expire.
        (
            S::PendingNew
            | S::New
            | S::PartiallyFilled
            | S::Replaced
            | S::PendingCancel
            | S::PendingReplace
            | S::TimedOut,
            E::FinalFill,
        ) => to(S::Filled),
        (
            S::PendingNew
            | S::New
            | S::PartiallyFilled
            | S::Replaced
            | S::PendingCancel
            | S::PendingReplace
            | S::TimedOut,
            E::Canceled,
        ) => to(S::Canceled),
        (
            S::PendingNew
            | S::New
            | S::PartiallyFilled
            | S::Replaced
            | S::PendingCancel
            | S::PendingReplace
            | S::TimedOut,
            E::Expired,
        ) => to(S::Expired),

        // A cancel in flight: partial fills and a late ack keep it pending.
        (S::PendingCancel, E::PartialFill | E::Ack) => to(S::PendingCancel),
        (S::PendingCancel, E::CancelRejected) => Step {
            to: Target::Working,
            effects: NONE,
        },

        // A replace in flight.
        (S::PendingReplace, E::PartialFill | E::Ack) => to(S::PendingReplace),
        (S::PendingReplace, E::Replaced) => to(S::Replaced),
        (S::PendingReplace, E::ReplaceRejected) => Step {
            to: Target::Working,
            effects: NONE,
        },
        (S::PendingReplace, E::CancelSent) => to(S::PendingCancel),
        // A cancel sent while a replace was in flight: the venue may answer the replace
        // first. Its outcome changes the order's terms, not the cancel in flight.
        (S::PendingCancel, E::Replaced | E::ReplaceRejected) => to(S::PendingCancel),

        // Late outcomes after a timeout: the cancel is in flight, reconciliation queued.
        // Late partial fills are applied and the order stays TimedOut until it resolves.
        (S::TimedOut, E::Ack | E::PartialFill) => to(S::TimedOut),
        (S::TimedOut, E::CancelRejected) => Step {
            to: Target::State(S::TimedOut),
            effects: Effects {
                reconcile: true,
                ..NONE
            },
        },

        _ => return Err(Anomaly { state, event }),
    };
    Ok(step)
}

#[cfg(test)]
mod tests {
    use super::*;
    use OmsEvent as E;
    use OrderState as S;

    #[test]
    fn happy_path() {
        let mut s = S::Received;
        for (e, want) in [
            (E::Sent, S::PendingNew),
            (E::Ack, S::New),
            (E::PartialFill, S::PartiallyFilled),
            (E::FinalFill, S::Filled),
        ] {
            match transition(s, e).unwrap().to {
                Target::State(n) => s = n,
                Target::Working => panic!(),
            }
            assert_eq!(s, want);
        }
    }

    #[test]
    fn terminal_states_absorb_everything() {
        for s in OrderState::ALL.into_iter().filter(|s| s.is_terminal()) {
            for e in OmsEvent::ALL {
                assert_eq!(transition(s, e), Err(Anomaly { state: s, event: e }));
            }
        }
    }

    #[test]
    fn timeout_sends_cancel_and_queues_reconciliation() {
        let st = transition(S::PendingNew, E::Timeout).unwrap();
        assert_eq!(st.to, Target::State(S::TimedOut));
        assert!(st.effects.send_cancel && st.effects.reconcile);
        // A late fill is still valid.
        assert_eq!(
            transition(S::TimedOut, E::FinalFill).unwrap().to,
            Target::State(S::Filled)
        );
        // A timeout on an acknowledged order does not fit.
        assert!(transition(S::New, E::Timeout).is_err());
    }

    #[test]
    fn refused_cancel_returns_to_working() {
        assert_eq!(
            transition(S::PendingCancel, E::CancelRejected).unwrap().to,
            Target::Working
        );
        assert_eq!(
            transition(S::PendingReplace, E::ReplaceRejected)
                .unwrap()
                .to,
            Target::Working
        );
    }
}
