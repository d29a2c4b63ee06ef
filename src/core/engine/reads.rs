//! Reads for operators (R-OPS-1): a [`Command::Read`](crate::model::event::Command::Read)
//! is answered with a bounded page of [`Row`]s, then [`CoreEvent::RowsEnd`]. Nothing
//! changes, nothing allocates, nothing is journaled; a page holds at most
//! [`MAX_ROWS`] rows and looks at no more than [`MAX_SCAN`] candidates, so a read
//! never holds the core for long and its answer always fits the producer's backlog.

use super::{Engine, Outbox};
use crate::gate::BreakerState;
use crate::model::control::KillState;
use crate::model::event::{CoreEvent, OrderFilter, OrderRow, Row, Scope, Snapshot};
use crate::model::event::{MAX_ROWS, MAX_SCAN};
use crate::model::fixed::{Money, Price};
use crate::model::ids::{AccountId, InstrumentId, OrderId, VenueId};
use crate::oms::Order;
use crate::venue::Venue;

impl Engine {
    fn holdings_count(&self) -> usize {
        (0..self.reg.venues.len())
            .map(|v| self.holdings(VenueId(v as u16)).count())
            .sum()
    }

    /// The `k`-th holding across venues, in venue order.
    fn holding_row(&self, mut k: u64) -> Option<Row> {
        for v in 0..self.reg.venues.len() {
            let venue = VenueId(v as u16);
            let n = self.holdings(venue).count() as u64;
            if k < n {
                let holding = *self.holdings(venue).nth(k as usize)?;
                return Some(Row::Balance { venue, holding });
            }
            k -= n;
        }
        None
    }

    /// Answers a read from producer `origin`: rows from `from` on, then the end.
    pub(super) fn read(
        &self,
        origin: u8,
        what: &Snapshot,
        from: u64,
        limit: u16,
        out: &mut impl Outbox,
    ) {
        let limit = limit.clamp(1, MAX_ROWS) as u32;
        let end = match what {
            Snapshot::Orders(_) => self.next_order,
            Snapshot::Positions => {
                let (a, i) = (self.reg.accounts.len(), self.reg.instruments.len());
                (a + a * i + self.holdings_count()) as u64
            }
            Snapshot::KillSwitches => {
                let r = &self.reg;
                (1 + r.venues.len() + r.accounts.len() + r.instruments.len()) as u64
            }
            Snapshot::Modes => self.reg.accounts.len() as u64,
            Snapshot::Venues => self.reg.venues.len() as u64,
            Snapshot::Limits => self.reg.instruments.len() as u64,
            Snapshot::DeadLetters => self.undelivered_len() as u64,
        };
        let stop = from.saturating_add(MAX_SCAN).min(end);
        let (mut k, mut n) = (from, 0);
        while k < stop && n < limit {
            if let Some(row) = self.row(what, k) {
                out.emit(origin, CoreEvent::Row(row));
                n += 1;
            }
            k += 1;
        }
        out.emit(
            origin,
            CoreEvent::RowsEnd {
                next: (k < end).then_some(k),
            },
        );
    }

    /// Row `k` of a read, if there is one there.
    fn row(&self, what: &Snapshot, k: u64) -> Option<Row> {
        let reg = &self.reg;
        match what {
            Snapshot::Orders(f) => {
                let o = self.book.get(OrderId(k))?;
                matches(reg, f, o).then(|| Row::Order(order_row(o)))
            }
            Snapshot::Positions => {
                let na = reg.accounts.len() as u64;
                if k < na {
                    let account = AccountId(k as u16);
                    let a = self.ledger.account(account);
                    return Some(Row::Account {
                        account,
                        cash: a.cash,
                        realised: a.realised,
                        fees: a.fees,
                        order_margin: a.order_margin,
                        position_margin: a.position_margin,
                        margin_available: a.margin_available(),
                        open_orders: a.open_orders,
                    });
                }
                let ni = reg.instruments.len() as u64;
                if k >= na + na * ni {
                    return self.holding_row(k - na - na * ni);
                }
                let (account, instrument) = (
                    AccountId(((k - na) / ni) as u16),
                    InstrumentId(((k - na) % ni) as u16),
                );
                let p = self.ledger.position(account, instrument);
                let active = p.net.0 != 0
                    || p.open_buy.0 != 0
                    || p.open_sell.0 != 0
                    || p.realised != Money(0)
                    || p.fees != Money(0);
                if !active {
                    return None;
                }
                let q = &self.gate.quotes[instrument.0 as usize];
                let inst = &reg.instruments[instrument.0 as usize];
                let unrealised =
                    (q.bid.0 > 0 && q.ask.0 > 0).then(|| p.unrealised(inst, Price(q.mid())));
                Some(Row::Position {
                    account,
                    instrument,
                    net: p.net,
                    avg: p.avg_entry(),
                    realised: p.realised,
                    unrealised,
                    fees: p.fees,
                    open_buy: p.open_buy,
                    open_sell: p.open_sell,
                })
            }
            Snapshot::KillSwitches => {
                let kill = &self.gate.kill;
                let (nv, na) = (reg.venues.len() as u64, reg.accounts.len() as u64);
                let (scope, instrument, state) = if k == 0 {
                    (Scope::Global, None, kill.global)
                } else if k <= nv {
                    let v = (k - 1) as usize;
                    (Scope::Venue(reg.venues[v].name), None, kill.venue[v])
                } else if k <= nv + na {
                    let a = (k - 1 - nv) as usize;
                    (Scope::Account(reg.accounts[a].name), None, kill.account[a])
                } else {
                    let i = (k - 1 - nv - na) as usize;
                    let inst = &reg.instruments[i];
                    (
                        Scope::Symbol(inst.symbol),
                        Some(inst.id),
                        kill.instrument[i],
                    )
                };
                (k == 0 || state != KillState::Off).then_some(Row::Switch {
                    scope,
                    instrument,
                    state,
                })
            }
            Snapshot::Modes => Some(Row::Mode {
                account: AccountId(k as u16),
                mode: self.gate.modes[k as usize],
                halted: self.gate.halted[k as usize],
            }),
            Snapshot::Limits => Some(Row::Limits(self.gate.limits[k as usize])),
            Snapshot::DeadLetters => self.dead_letter_row(k as usize).map(Row::DeadLetter),
            Snapshot::Venues => {
                let v = VenueId(k as u16);
                let (up, breaker) = self.venue_health(k as usize);
                let open_orders = self
                    .book
                    .iter()
                    .filter(|o| o.terms().venue == v && !o.state().is_terminal())
                    .count() as u32;
                let venue = &self.venues[k as usize];
                Some(Row::Venue {
                    venue: v,
                    up,
                    breaker,
                    open_orders,
                    fix_seqs: venue.fix().map(|f| {
                        let q = f.seqs();
                        (q.next_out, q.next_in)
                    }),
                    last_error: venue.fix().and_then(|f| f.last_error()),
                })
            }
        }
    }
}

impl Engine {
    /// Venue `v`'s session logged on, and its breaker: 0 closed, 1 open, 2 half-open.
    pub(crate) fn venue_health(&self, v: usize) -> (bool, u8) {
        let breaker = match self.gate.breakers[v].state(self.now) {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
        };
        (self.venues[v].is_logged_on(), breaker)
    }
}

fn matches(reg: &crate::config::Registry, f: &OrderFilter, o: &Order) -> bool {
    let t = o.terms();
    (f.states == 0 || f.states & (1 << o.state() as u16) != 0)
        && f.account.is_none_or(|a| a == t.account)
        && f.venue.is_none_or(|v| v == t.venue)
        && f.symbol.is_none_or(|s| {
            reg.instruments
                .get(t.instrument.0 as usize)
                .is_some_and(|i| i.symbol == s)
        })
}

fn order_row(o: &Order) -> OrderRow {
    let t = o.terms();
    OrderRow {
        order: o.id(),
        request_id: t.request_id,
        parent: t.parent,
        cl_ord_id: o.cl_ord_id(),
        account: t.account,
        venue: t.venue,
        instrument: t.instrument,
        side: t.side,
        order_type: t.order_type,
        state: o.state(),
        qty: t.qty,
        limit: t.limit,
        cum_qty: o.cum_qty(),
        avg_px: o.avg_px(),
        reason: o.reason(),
        created_ns: t.received_at,
    }
}
