//! What each configured venue becomes in the engine: the paper venue as itself; a
//! network venue first as the recorded stand-in replay feeds, then as its live session.

use super::bell::Bell;
use super::engine::{venue_order, Engine};
use super::thread::StartError;
use crate::config::Registry;
use crate::venue::bridge::BridgeVenue;
use crate::venue::fix::venue::FixVenue;
use crate::venue::paper::PaperVenue;
use crate::venue::recorded::RecordedVenue;
use crate::venue::AnyVenue;
use std::path::Path;
use std::sync::Arc;

/// Builds the venues the registry configures: network venues as their journaled inputs
/// (what replay needs); once the engine is rebuilt, the core puts the live sessions in
/// their place.
pub fn build_venues(reg: &Registry, start_ns: u64) -> Vec<AnyVenue> {
    reg.venues
        .iter()
        .map(|v| {
            if v.is_network() {
                AnyVenue::Recorded(RecordedVenue::new())
            } else {
                AnyVenue::Paper(Box::new(PaperVenue::new(
                    reg,
                    v.id,
                    reg.core.max_orders,
                    start_ns,
                )))
            }
        })
        .collect()
}

/// Replaces each network venue's recorded stand-in with its live session, restored from
/// its store under `journal` (`<journal>/fix/<venue>`) and from what the engine applied;
/// each bridge with its I/O thread (raw messages in `<journal>/bridge/<venue>`), which
/// rings `bell` when it has news for a core that may be asleep.
pub(crate) fn go_live(
    engine: &mut Engine,
    reg: &Arc<Registry>,
    journal: Option<&Path>,
    now: u64,
    bell: &Bell,
) -> Result<(), StartError> {
    for v in reg.venues.iter().filter(|v| v.fix.is_some()) {
        let i = v.id.0 as usize;
        let (applied, was_up) = match engine.venue(i).recorded() {
            Some(r) => (r.last_seq(), r.logged_on()),
            None => (0, false),
        };
        let dir = journal.map(|j| j.join("fix").join(v.name.as_str()));
        let mut live = FixVenue::new(reg.clone(), v.id, dir.as_deref(), applied, was_up, now)
            .map_err(StartError::Venue)?;
        // Orders an earlier process sent: a cancel or amend names their symbol, side and
        // quantity again, which only the rebuilt book still knows.
        for o in engine.book().iter() {
            if o.terms().venue == v.id && !o.state().is_terminal() {
                live.remember(&venue_order(o));
            }
        }
        engine.replace_venue(i, AnyVenue::Fix(Box::new(live)));
    }
    for v in reg.venues.iter().filter(|v| v.binance.is_some()) {
        let i = v.id.0 as usize;
        let was_up = engine.venue(i).recorded().is_some_and(|r| r.logged_on());
        let mut live = BridgeVenue::start(reg.clone(), v.id, journal, was_up, now, bell.clone())
            .map_err(StartError::Venue)?;
        for o in engine.book().iter() {
            if o.terms().venue == v.id && !o.state().is_terminal() {
                live.remember(&venue_order(o));
            }
        }
        engine.replace_venue(i, AnyVenue::Bridge(Box::new(live)));
    }
    Ok(())
}
