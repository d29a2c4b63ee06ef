//! A configuration change at a restart (R-OPS-3). Venues, accounts and instruments are
//! interned by their place in the configuration, and those ids are everywhere in the
//! engine's state (orders, positions, switches, the paper venue's books), so a new
//! configuration applies only where it keeps them: the same venues and accounts in the
//! same order, instruments in place (new ones at the end; ones at the end may go when
//! nothing of them is held). What the state was built from (tick and lot scales,
//! starting cash, the order store's size) and what a paper venue simulates with must not
//! change under it: that would silently rebuild another history. Limits, fees on FIX
//! venues, trading hours, gate settings, throttles, breakers, timeouts and modes may.

use super::Engine;
use crate::config::Registry;
use crate::model::fixed::Fixed;
use crate::model::ids::InstrumentId;
use crate::venue::AnyVenue;
use std::sync::Arc;

impl Engine {
    /// Puts `new` in force from now on, or says in one sentence per problem (joined by
    /// "; ") why it cannot apply to this state; then nothing changed.
    pub fn reconfigure(&mut self, new: Arc<Registry>) -> Result<(), String> {
        let problems = self.refusals(&new);
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        let old = std::mem::replace(&mut self.reg, new);
        let reg = self.reg.clone();
        if old.core.max_request_ids != reg.core.max_request_ids {
            // Checked by `refusals`: never below what is remembered.
            let _ = self.book.resize_request_ids(reg.core.max_request_ids);
        }
        self.gate.reconfigure(&old, &reg);
        self.recon.resize(reg.venues.len());
        self.ledger.reconfigure(&reg.instruments);
        for (i, v) in self.venues.iter_mut().enumerate() {
            if let AnyVenue::Paper(p) = v {
                p.reconfigure(&reg, reg.venues[i].id);
            }
        }
        Ok(())
    }

    fn refusals(&self, new: &Registry) -> Vec<String> {
        let old = &*self.reg;
        let mut out = Vec::new();
        if old.core.max_orders != new.core.max_orders {
            out.push(format!(
                "core.max_orders changed from {} to {}: the order store and the paper venues are sized by it; keep {} on this journal",
                old.core.max_orders, new.core.max_orders, old.core.max_orders
            ));
        }
        let (remembered, _) = self.book.request_ids();
        if new.core.max_request_ids < remembered {
            out.push(format!(
                "core.max_request_ids {} is below the {remembered} request ids this journal already remembers; keep at least {remembered}",
                new.core.max_request_ids
            ));
        }
        let old_names: Vec<_> = old.venues.iter().map(|v| v.name).collect();
        let new_names: Vec<_> = new.venues.iter().map(|v| v.name).collect();
        if old_names != new_names {
            out.push(format!(
                "the venues changed from [{}] to [{}]: venues keep their names and their order on a journal (orders, positions and kill switches refer to them by place); adding, removing, renaming or reordering one needs a new journal",
                join(&old_names),
                join(&new_names)
            ));
        }
        for (o, n) in old.venues.iter().zip(&new.venues) {
            if o.name != n.name {
                continue;
            }
            if o.fix.is_some() != n.fix.is_some()
                || o.binance.as_ref().map(|b| b.flavor) != n.binance.as_ref().map(|b| b.flavor)
            {
                out.push(format!(
                    "venue {} changed its kind: a paper venue stays paper, a FIX venue FIX and a bridge the same bridge on a journal",
                    o.name
                ));
            } else if !o.is_network() && o.paper != n.paper {
                out.push(format!(
                    "the paper venue {}'s simulation settings ([venues.paper]) changed: its prices, latencies and fills replay from them; keep them on this journal",
                    o.name
                ));
            }
        }
        let old_accts: Vec<_> = old.accounts.iter().map(|a| a.name).collect();
        let new_accts: Vec<_> = new.accounts.iter().map(|a| a.name).collect();
        if old_accts != new_accts {
            out.push(format!(
                "the accounts changed from [{}] to [{}]: accounts keep their names and their order on a journal (orders and positions refer to them by place); adding, removing, renaming or reordering one needs a new journal",
                join(&old_accts),
                join(&new_accts)
            ));
        }
        for (o, n) in old.accounts.iter().zip(&new.accounts) {
            if o.name == n.name && o.cash != n.cash {
                out.push(format!(
                    "account {}'s cash changed from {} to {}: its positions and margin are booked on the cash it started with; keep it on this journal",
                    o.name,
                    Fixed(o.cash.0, crate::model::fixed::MONEY_SCALE),
                    Fixed(n.cash.0, crate::model::fixed::MONEY_SCALE)
                ));
            }
        }
        if old_names == new_names {
            self.instrument_refusals(new, &mut out);
        }
        out
    }

    /// Instruments are compared by venue name and symbol (venues are known to be the
    /// same here).
    fn instrument_refusals(&self, new: &Registry, out: &mut Vec<String>) {
        let old = &*self.reg;
        let label = |r: &Registry, i: usize| {
            let inst = &r.instruments[i];
            format!("{}/{}", r.venues[inst.venue.0 as usize].name, inst.symbol)
        };
        for (i, o) in old.instruments.iter().enumerate() {
            let place = new
                .instruments
                .iter()
                .position(|n| n.venue == o.venue && n.symbol == o.symbol);
            let name = label(old, i);
            match place {
                None => {
                    if let Some(held) = self.held(InstrumentId(i as u16)) {
                        out.push(format!("instrument {name} was removed but {held}"));
                    } else if i < new.instruments.len() {
                        out.push(format!(
                            "instrument {name} was removed from the middle of the list: an instrument's place is its id, so the ones after it would change; keep it (tradable = false stops new orders on it) or remove only instruments at the end"
                        ));
                    }
                }
                Some(j) if j != i => out.push(format!(
                    "instrument {name} moved from place {} to {}: an instrument's place is its id in orders and positions; keep the order and add new instruments at the end",
                    i + 1,
                    j + 1
                )),
                Some(_) => {
                    let n = &new.instruments[i];
                    if (o.tick, o.lot, o.price_scale, o.qty_scale)
                        != (n.tick, n.lot, n.price_scale, n.qty_scale)
                    {
                        out.push(format!(
                            "instrument {name} changed its tick or lot: its orders and positions are kept at their scale; keep them on this journal"
                        ));
                    }
                    let paper = !old.venues[o.venue.0 as usize].is_network();
                    if paper && old.sims[i] != new.sims[i] {
                        out.push(format!(
                            "instrument {name} changed its simulated market (initial_price, spread_ticks, volatility_ticks, depth_lots): the paper venue's prices replay from them; keep them on this journal"
                        ));
                    }
                }
            }
        }
    }

    /// What the engine still holds of an instrument, as the end of a sentence that
    /// begins "was removed but"; `None` when nothing.
    fn held(&self, i: InstrumentId) -> Option<String> {
        let (mut open, mut finished) = (0u64, 0u64);
        for o in self.book.iter().filter(|o| o.terms().instrument == i) {
            if o.state().is_terminal() {
                finished += 1;
            } else {
                open += 1;
            }
        }
        let inst = &self.reg.instruments[i.0 as usize];
        let mut live = Vec::new();
        if open > 0 {
            live.push(format!("{open} open orders"));
        }
        for a in &self.reg.accounts {
            let p = self.ledger.position(a.id, i);
            if p.net.0 != 0 {
                live.push(format!(
                    "a position of {} in account {}",
                    Fixed(p.net.0, inst.qty_scale),
                    a.name
                ));
            }
        }
        let keep = "keep it in the configuration (tradable = false stops new orders on it)";
        match (live.is_empty(), finished) {
            (true, 0) => None,
            (true, n) => Some(format!(
                "the order store still holds {n} of its finished orders; {keep} until newer orders retire them"
            )),
            (false, n) => Some(format!(
                "has {}{}; close them first or {keep}",
                live.join(" and "),
                if n > 0 {
                    format!(" (and {n} finished orders the order store still holds)")
                } else {
                    String::new()
                }
            )),
        }
    }
}

fn join(names: &[crate::model::ids::Name]) -> String {
    names
        .iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
