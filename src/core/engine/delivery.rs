//! New orders the venue never saw (R-RES-1, R-RES-3). A transport failure before the
//! venue could have seen the order — its adapter refused the message, or reported
//! (journaled, [`VenueEventKind::NotSent`](crate::venue::VenueEventKind)) that it wrote
//! nothing — is resent under the same ClOrdID after an exponential backoff with
//! deterministic jitter, while the order stays PENDING_NEW. Resends stop at the venue's
//! `retry_attempts`, or when the next one would come after half the hard timeout (the
//! venue keeps the other half to answer) or after the request's expiry; the order then
//! becomes a dead letter, kept until an operator re-drives or discards it, or its owner
//! cancels it. A venue rejection is never resent; an order sent and not answered stays
//! on the status-query path (`status`).
//!
//! Retrying orders and dead letters share one preallocated table: when it is full, new
//! orders for a venue with entries in it are refused (`DEAD_LETTERS_FULL`), and an order
//! that still could not be kept is finished as rejected with that reason, so upstream
//! knows: nothing is dropped silently.

use super::{rejected_cmd, venue_order, Engine, Outbox};
use crate::config::RetryPolicy;
use crate::gate;
use crate::model::event::{CoreEvent, DeadLetterAction, DeadLetterRow};
use crate::model::ids::{OrderId, VenueId};
use crate::model::order_state::{OmsEvent, OrderState};
use crate::model::reason::Reason;
use crate::venue::Venue;

/// Retrying orders and dead letters held at once.
pub(crate) const MAX_UNDELIVERED: usize = 1024;

/// Marks a timer key as a resend (the rest is the order id); unmarked keys are hard
/// timeouts. Order ids never come near this bit.
pub(super) const RESEND: u64 = 1 << 63;

/// An order the venue has not seen: retrying, or a dead letter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Undelivered {
    order: OrderId,
    venue: VenueId,
    /// Tries made: the first send and every resend.
    attempts: u8,
    /// No resend is scheduled after this engine time.
    deadline: u64,
    /// A dead letter: why, and since when.
    dead: Option<(Reason, u64)>,
}

/// Delay before resend number `attempt` (1 = the first resend) of `order`: the base
/// doubled per attempt, capped at the maximum, then jittered into its upper half by a
/// hash of the order id and the attempt — spread out, yet the same on every replay.
pub(crate) fn backoff_ns(p: &RetryPolicy, order: OrderId, attempt: u32) -> u64 {
    let doublings = attempt.saturating_sub(1).min(40);
    let full = p
        .base_ns
        .saturating_mul(1u64 << doublings)
        .min(p.max_ns.max(p.base_ns));
    let mut key = [0u8; 20];
    key[..8].copy_from_slice(b"resend\0\0");
    key[8..16].copy_from_slice(&order.0.to_le_bytes());
    key[16..].copy_from_slice(&attempt.to_le_bytes());
    let h = xxhash_rust::xxh3::xxh3_64(&key);
    let half = full / 2;
    half + h % (full - half + 1)
}

impl Engine {
    /// Open dead letters.
    pub fn dead_letters(&self) -> impl Iterator<Item = DeadLetterRow> + '_ {
        (0..self.undelivered.len()).filter_map(|i| self.dead_letter_row(i))
    }

    /// Dead letter at table index `i`, if that entry is one.
    pub(super) fn dead_letter_row(&self, i: usize) -> Option<DeadLetterRow> {
        let u = self.undelivered.get(i)?;
        let (reason, since_ns) = u.dead?;
        let o = self.book.get(u.order)?;
        Some(DeadLetterRow {
            order: u.order,
            request_id: o.terms().request_id,
            cl_ord_id: o.cl_ord_id(),
            venue: u.venue,
            reason,
            attempts: u.attempts,
            since_ns,
        })
    }

    /// Entries in the retry / dead-letter table (for paging reads).
    pub(super) fn undelivered_len(&self) -> usize {
        self.undelivered.len()
    }

    /// Dead letters held (they wait for an operator, not for the venue).
    pub(super) fn dead_count(&self) -> u64 {
        self.undelivered.iter().filter(|u| u.dead.is_some()).count() as u64
    }

    /// Whether `id` is retrying or a dead letter: the venue never saw it, so no hard
    /// timeout or status query applies to it.
    pub(super) fn is_undelivered(&self, id: OrderId) -> bool {
        self.undelivered.iter().any(|u| u.order == id)
    }

    /// Whether new orders for `v` are refused: the table is full and `v` has entries
    /// in it (its failures could not all be kept).
    pub(super) fn dead_letters_full(&self, v: VenueId) -> bool {
        self.undelivered.len() >= MAX_UNDELIVERED && self.undelivered.iter().any(|u| u.venue == v)
    }

    fn undelivered_index(&self, id: OrderId) -> Option<usize> {
        self.undelivered.iter().position(|u| u.order == id)
    }

    /// The last moment a resend of `id` may go, counted from `from`: half the venue's
    /// hard timeout later, or the request's expiry if sooner.
    fn delivery_deadline(&self, id: OrderId, from: u64) -> u64 {
        let Some(o) = self.book.get(id) else {
            return from;
        };
        let t = o.terms();
        let half = self.reg.venues[t.venue.0 as usize].timeout_ns / 2;
        from.saturating_add(half)
            .min(t.expire_at_ns.unwrap_or(u64::MAX))
    }

    /// Order `id`'s new-order message did not reach its venue: schedule a resend, or
    /// make it a dead letter.
    pub(super) fn undelivered(&mut self, id: OrderId, out: &mut impl Outbox) {
        let Some(o) = self.book.get(id) else { return };
        if o.state() != OrderState::PendingNew {
            return;
        }
        let (venue, origin) = (o.terms().venue, o.terms().origin);
        let i = match self.undelivered_index(id) {
            Some(i) => i,
            None if self.undelivered.len() >= MAX_UNDELIVERED => {
                // Cannot be kept: finished, so upstream knows (never dropped silently).
                self.stats.dead_letters_refused += 1;
                return self.venue_reject(id, Reason::DeadLettersFull, out);
            }
            None => {
                let deadline = self.delivery_deadline(id, o.terms().received_at);
                self.undelivered.push(Undelivered {
                    order: id,
                    venue,
                    attempts: 0,
                    deadline,
                    dead: None,
                });
                self.undelivered.len() - 1
            }
        };
        let policy = self.reg.venues[venue.0 as usize].retry;
        let u = &mut self.undelivered[i];
        u.attempts = u.attempts.saturating_add(1);
        let attempts = u.attempts;
        if u32::from(attempts) > policy.attempts {
            return self.dead_letter(i, Reason::RetriesExhausted, out);
        }
        let due = self
            .now
            .saturating_add(backoff_ns(&policy, id, u32::from(attempts)));
        if due > u.deadline {
            return self.dead_letter(i, Reason::DeliveryExpired, out);
        }
        self.stats.retries += 1;
        self.timers.push_late((due, id.0 | RESEND));
        out.emit(
            origin,
            CoreEvent::RetryScheduled {
                order: id,
                attempt: attempts,
                due_ns: due,
            },
        );
    }

    fn dead_letter(&mut self, i: usize, reason: Reason, out: &mut impl Outbox) {
        let u = &mut self.undelivered[i];
        u.dead = Some((reason, self.now));
        let (order, attempts) = (u.order, u.attempts);
        self.stats.dead_letters += 1;
        let origin = self.book.get(order).map_or(0, |o| o.terms().origin);
        out.emit(
            origin,
            CoreEvent::DeadLettered {
                order,
                reason,
                attempts,
            },
        );
    }

    /// A resend timer went off.
    pub(super) fn resend(&mut self, id: OrderId, out: &mut impl Outbox) {
        let Some(i) = self.undelivered_index(id) else {
            return; // canceled or discarded meanwhile
        };
        if self.undelivered[i].dead.is_some() {
            return;
        }
        match self.book.get(id) {
            Some(o) if o.state() == OrderState::PendingNew => {}
            _ => {
                self.undelivered.remove(i);
                return;
            }
        }
        // The venue said to hold off (Retry-After) or its order budget is spent: sent
        // now, it would refuse the order for good. Put off until it may go, same
        // attempt, within the same deadline.
        let v = self.undelivered[i].venue.0 as usize;
        let free_at = self.gate.budgets[v].free_at(self.now);
        if free_at > self.now {
            return self.defer_resend(i, free_at, out);
        }
        self.try_send(i, out);
    }

    /// Resend of table entry `i` put off to `due`, or a dead letter when that is past
    /// its deadline.
    fn defer_resend(&mut self, i: usize, due: u64, out: &mut impl Outbox) {
        let u = self.undelivered[i];
        if due > u.deadline {
            return self.dead_letter(i, Reason::DeliveryExpired, out);
        }
        self.stats.retries_deferred += 1;
        self.timers.push_late((due, u.order.0 | RESEND));
        let origin = self.book.get(u.order).map_or(0, |o| o.terms().origin);
        out.emit(
            origin,
            CoreEvent::RetryScheduled {
                order: u.order,
                attempt: u.attempts,
                due_ns: due,
            },
        );
    }

    /// Hands table entry `i` to its venue again, same ClOrdID.
    fn try_send(&mut self, i: usize, out: &mut impl Outbox) {
        let u = self.undelivered[i];
        let Some(o) = self.book.get(u.order) else {
            return;
        };
        let vo = venue_order(o);
        let v = u.venue.0 as usize;
        self.gate.on_send(u.venue, self.now);
        match self.venues[v].submit(self.now, &vo) {
            Ok(()) => {
                // Kept in arrival order: the listing shows the oldest first.
                self.undelivered.remove(i);
            }
            Err(_) => {
                self.gate.breakers[v].on_failure(self.now);
                self.gate.budgets[v].on_unsent(self.now);
                self.undelivered(u.order, out);
            }
        }
    }

    /// An order the venue never saw is canceled by its owner: it is done here (there
    /// is nothing at the venue to cancel). Whether it was such an order.
    pub(super) fn cancel_undelivered(&mut self, id: OrderId, out: &mut impl Outbox) -> bool {
        let Some(i) = self.undelivered_index(id) else {
            return false;
        };
        let u = self.undelivered.remove(i);
        if u.dead.is_some() {
            let origin = self.book.get(id).map_or(0, |o| o.terms().origin);
            out.emit(
                origin,
                CoreEvent::DeadLetterResolved {
                    order: id,
                    action: DeadLetterAction::Canceled,
                },
            );
        }
        self.apply(id, OmsEvent::Canceled, out);
        true
    }

    /// An operator re-drives (`redrive`) or discards dead letter `order`.
    pub(super) fn resolve_dead_letter(
        &mut self,
        origin: u8,
        order: OrderId,
        redrive: bool,
        out: &mut impl Outbox,
    ) {
        let Some(i) = self
            .undelivered_index(order)
            .filter(|&i| self.undelivered[i].dead.is_some())
        else {
            return out.emit(origin, rejected_cmd(None, Reason::UnknownOrder));
        };
        let v = self.undelivered[i].venue;
        if redrive {
            // The normal path's venue checks: a venue still down keeps it queued.
            let logged_on = self.venues[v.0 as usize].is_logged_on();
            let health = gate::venue_health(logged_on, &self.gate.breakers[v.0 as usize], self.now)
                .and_then(|()| gate::venue_budget(&self.gate.budgets[v.0 as usize], self.now));
            if let Err(reason) = health {
                return out.emit(origin, rejected_cmd(Some(order), reason));
            }
        }
        out.emit(
            origin,
            CoreEvent::DeadLetterResolved {
                order,
                action: if redrive {
                    DeadLetterAction::Redriven
                } else {
                    DeadLetterAction::Discarded
                },
            },
        );
        if !redrive {
            self.undelivered.remove(i);
            return self.venue_reject(order, Reason::Undeliverable, out);
        }
        let deadline = self.delivery_deadline(order, self.now);
        let u = &mut self.undelivered[i];
        u.dead = None;
        u.attempts = 0;
        u.deadline = deadline;
        // Its first hard timeout passed while it waited: a new one from this send.
        let due = self.now + self.reg.venues[v.0 as usize].timeout_ns;
        self.timers.push(v.0 as usize, (due, order.0));
        self.try_send(i, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn backoff_doubles_within_jitter_bounds_and_is_the_same_every_time() {
        let p = RetryPolicy {
            attempts: 10,
            base_ns: 100 * MS,
            max_ns: 1_000 * MS,
        };
        for order in 1..200u64 {
            for attempt in 1..12u32 {
                let full = ((100 * MS) << (attempt - 1)).min(1_000 * MS);
                let d = backoff_ns(&p, OrderId(order), attempt);
                assert!(d >= full / 2 && d <= full, "{order}/{attempt}: {d}");
                assert_eq!(d, backoff_ns(&p, OrderId(order), attempt));
            }
        }
        // Jitter spreads orders failing together.
        let firsts: std::collections::HashSet<u64> =
            (1..50).map(|o| backoff_ns(&p, OrderId(o), 1)).collect();
        assert!(firsts.len() > 40, "{}", firsts.len());
        // Huge attempt numbers neither overflow nor exceed the cap.
        assert!(backoff_ns(&p, OrderId(1), u32::MAX) <= 1_000 * MS);
    }
}
