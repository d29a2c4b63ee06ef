//! A broker's answer to a reconciliation (R-AUD-4): an OrderMassStatusRequest answered
//! by one ExecutionReport per open order (the last with LastRptRequested 912=Y, or as
//! many as TotNumReports 911 says), and a RequestForPositions per account answered by
//! PositionReports (TotalNumPosReports 727 of them) or a RequestForPositionsAck saying
//! there are none (PosReqResult 728=2). When every part is in, or refused, or the
//! deadline passed, the venue says `SnapshotEnd` with what it could compare.

use crate::venue::{VenueEvent, VenueEventKind};
use std::collections::VecDeque;

/// How long a broker has to answer before the report goes out with what it has.
pub(super) const ANSWER_WITHIN_NS: u64 = 10_000_000_000;

/// One part of the answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Part {
    /// Not asked (the venue's settings say it has no such request).
    #[default]
    NotAsked,
    /// Asked; answers coming.
    Waiting,
    /// Every answer is in.
    Done,
    /// Refused, or not finished in time.
    Failed,
}

/// Positions of one account: how many reports were announced and how many came.
#[derive(Clone, Copy, Debug, Default)]
struct Account {
    part: Part,
    expected: Option<u32>,
    got: u32,
}

/// The snapshot in progress.
#[derive(Clone, Debug, Default)]
pub(super) struct Snapshot {
    active: bool,
    /// MassStatusReqID and PosReqID of the questions: an answer to an older one (late,
    /// after its deadline) is not counted for this one.
    id: Vec<u8>,
    deadline: u64,
    orders: Part,
    reports: u32,
    expected_reports: Option<u32>,
    foreign: u32,
    accounts: Vec<Account>,
}

impl Snapshot {
    /// Starts one: `orders` whether the mass status request went out, `accounts` one
    /// flag per account whose positions were asked for.
    pub(super) fn start(
        &mut self,
        now: u64,
        id: &[u8],
        orders: bool,
        accounts: impl Iterator<Item = bool>,
    ) {
        self.active = true;
        self.id.clear();
        self.id.extend_from_slice(id);
        self.deadline = now.saturating_add(ANSWER_WITHIN_NS);
        self.orders = if orders {
            Part::Waiting
        } else {
            Part::NotAsked
        };
        self.reports = 0;
        self.expected_reports = None;
        self.foreign = 0;
        self.accounts.clear();
        self.accounts.extend(accounts.map(|asked| Account {
            part: if asked { Part::Waiting } else { Part::NotAsked },
            ..Account::default()
        }));
    }

    /// Whether one is being answered.
    pub(super) fn active(&self) -> bool {
        self.active
    }

    /// Whether an answer naming request id `id` belongs to this one: the same id, or
    /// none given (a broker that does not echo it).
    pub(super) fn answers(&self, id: Option<&[u8]>) -> bool {
        self.active && id.is_none_or(|id| id == self.id.as_slice())
    }

    /// A mass status report arrived: `last` it said it was the last (912=Y), `total`
    /// how many there are (911), `ours` whether it named an order of ours.
    pub(super) fn order_report(&mut self, last: bool, total: Option<u32>, ours: bool) {
        if !self.active || self.orders != Part::Waiting {
            return;
        }
        self.reports += 1;
        if !ours {
            self.foreign += 1;
        }
        if total.is_some() {
            self.expected_reports = total;
        }
        if last || self.expected_reports.is_some_and(|n| self.reports >= n) {
            self.orders = Part::Done;
        }
    }

    /// The broker answered the mass status request with "no open orders".
    pub(super) fn no_orders(&mut self) {
        if self.active && self.orders == Part::Waiting {
            self.orders = Part::Done;
        }
    }

    /// The broker refused the mass status request.
    pub(super) fn orders_refused(&mut self) {
        if self.active && self.orders == Part::Waiting {
            self.orders = Part::Failed;
        }
    }

    /// A PositionReport for account `a` (of `total` announced, when it says).
    pub(super) fn position_report(&mut self, a: usize, total: Option<u32>) {
        let Some(acc) = self.accounts.get_mut(a).filter(|x| x.part == Part::Waiting) else {
            return;
        };
        acc.got += 1;
        if total.is_some() {
            acc.expected = total;
        }
        if acc.expected.is_some_and(|n| acc.got >= n) {
            acc.part = Part::Done;
        }
    }

    /// A RequestForPositionsAck: `none` there are no positions (728=2 or 727=0),
    /// `refused` the request failed; `a` its account when the ack names one (else the
    /// first still waiting: the requests went out in account order).
    pub(super) fn positions_ack(
        &mut self,
        a: Option<usize>,
        total: Option<u32>,
        none: bool,
        refused: bool,
    ) {
        let i = match a {
            Some(i) => Some(i),
            None => self.accounts.iter().position(|x| x.part == Part::Waiting),
        };
        let Some(acc) = i
            .and_then(|i| self.accounts.get_mut(i))
            .filter(|x| x.part == Part::Waiting)
        else {
            return;
        };
        if refused {
            acc.part = Part::Failed;
        } else if none {
            acc.part = Part::Done;
        } else if total.is_some() {
            acc.expected = total;
            if acc.expected.is_some_and(|n| acc.got >= n) {
                acc.part = Part::Done;
            }
        }
    }

    /// Every positions request refused (a business reject of the message type).
    pub(super) fn positions_refused(&mut self) {
        for acc in &mut self.accounts {
            if acc.part == Part::Waiting {
                acc.part = Part::Failed;
            }
        }
    }

    /// The session went down: the answer will not come; the core asks again at logon.
    pub(super) fn abandon(&mut self) {
        self.active = false;
    }

    /// Says `SnapshotEnd` when every part is in, or at the deadline with what is.
    pub(super) fn settle(&mut self, q: &mut VecDeque<VenueEvent>, now: u64, seq: u64) {
        if !self.active {
            return;
        }
        let waiting =
            self.orders == Part::Waiting || self.accounts.iter().any(|a| a.part == Part::Waiting);
        if waiting && now < self.deadline {
            return;
        }
        self.active = false;
        let positions_asked = self.accounts.iter().any(|a| a.part != Part::NotAsked);
        let positions = positions_asked
            && self
                .accounts
                .iter()
                .all(|a| matches!(a.part, Part::Done | Part::NotAsked));
        q.push_back(VenueEvent {
            at_ns: now,
            kind: VenueEventKind::SnapshotEnd {
                orders: self.orders == Part::Done,
                positions,
                foreign: self.foreign,
            },
            src_seq: seq,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(s: &mut Snapshot, now: u64) -> Option<VenueEventKind> {
        let mut q = VecDeque::new();
        s.settle(&mut q, now, 0);
        q.pop_front().map(|e| e.kind)
    }

    #[test]
    fn complete_when_every_part_is_in_and_not_before() {
        let mut s = Snapshot::default();
        s.start(0, b"q1", true, [true, false].into_iter());
        s.order_report(false, Some(2), true);
        assert_eq!(end(&mut s, 1), None);
        s.order_report(false, None, false);
        assert_eq!(end(&mut s, 2), None, "positions still out");
        s.position_report(0, Some(2));
        s.position_report(0, None);
        assert_eq!(
            end(&mut s, 3),
            Some(VenueEventKind::SnapshotEnd {
                orders: true,
                positions: true,
                foreign: 1
            })
        );
        assert_eq!(end(&mut s, 4), None, "said once");
    }

    #[test]
    fn a_silent_broker_gets_a_partial_report_at_the_deadline() {
        let mut s = Snapshot::default();
        s.start(0, b"q1", true, [true].into_iter());
        s.no_orders();
        assert_eq!(end(&mut s, ANSWER_WITHIN_NS - 1), None);
        assert_eq!(
            end(&mut s, ANSWER_WITHIN_NS),
            Some(VenueEventKind::SnapshotEnd {
                orders: true,
                positions: false,
                foreign: 0
            })
        );
    }

    #[test]
    fn answers_to_an_older_question_are_not_counted() {
        let mut s = Snapshot::default();
        s.start(0, b"q2", true, [].into_iter());
        assert!(!s.answers(Some(b"q1")));
        assert!(s.answers(Some(b"q2")));
        assert!(s.answers(None));
    }

    #[test]
    fn refusals_and_empty_acks_finish_their_parts() {
        let mut s = Snapshot::default();
        s.start(0, b"q1", true, [true, true].into_iter());
        s.orders_refused();
        s.positions_ack(None, Some(0), true, false);
        s.positions_ack(Some(1), None, false, true);
        assert_eq!(
            end(&mut s, 1),
            Some(VenueEventKind::SnapshotEnd {
                orders: false,
                positions: false,
                foreign: 0
            })
        );
    }
}
