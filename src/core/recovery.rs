//! Crash recovery (R-RES-4): the engine's state is a function of the commands it applied
//! and the times it applied them at (the paper venue included: it is seeded and driven
//! only by the engine). The core journals each command before applying it; recovery
//! builds a fresh engine with the journal's start parameters and applies them again.
//!
//! Events are delivered at least once: what the engine emitted after its last journaled
//! command and before a crash (a fill, say) is emitted again after the restart, with the
//! same exec ids and states, so consumers can recognise it. A clean stop journals the
//! time it reached, and a restart then repeats nothing.

use super::engine::Engine;
use super::records::{
    self, KIND_AUDIT, KIND_COMMAND, KIND_CONFIG, KIND_EVENT, KIND_LOSS, KIND_RESTART, KIND_START,
    KIND_TIME, KIND_VENUE,
};
use super::venues::build_venues;
use crate::config::Registry;
use crate::journal::{scan, JournalError, JournalWriter, RecordHeader, ScanSummary};
use crate::model::event::{Command, CoreEvent, OperatorNote};
use crate::sidecar::history::{self, Refusal};
use crate::venue::Venue;
use std::collections::VecDeque;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a journal could not be recovered.
#[derive(Debug)]
pub enum RecoveryError {
    /// The history is refused: the journal or its audit log lost, changed or damaged
    /// records (the same refusal, in the same words, as `execd-replay verify`'s). A start
    /// goes ahead on it only with an operator's `--accept-journal-loss`.
    Refused(Refusal),
    /// The journal itself is damaged or unreadable.
    Journal(JournalError),
    /// A record's payload does not decode.
    Record {
        /// Its sequence number.
        seq: u64,
        /// What is wrong.
        what: &'static str,
    },
    /// The configuration given cannot replace the journal's: it does not keep what the
    /// journal's state refers to (the sentence names what and why).
    ConfigRefused(String),
    /// What was asked of recovery cannot be done as asked.
    Usage(&'static str),
    /// Replaying the commands does not give the events the journal recorded.
    Diverged {
        /// The first recorded event that differs.
        seq: u64,
    },
}

impl fmt::Display for RecoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecoveryError::Refused(r) => write!(f, "{r}"),
            RecoveryError::Journal(e) => write!(f, "{e}"),
            RecoveryError::Record { seq, what } => write!(f, "journal record {seq}: {what}"),
            RecoveryError::Diverged { seq } => write!(
                f,
                "journal record {seq}: replaying the commands gives a different event than the one recorded (a different version of execd wrote it, or it was altered)"
            ),
            RecoveryError::Usage(what) => write!(f, "{what}"),
            RecoveryError::ConfigRefused(why) => write!(
                f,
                "the configuration cannot replace the one this journal runs under: {why}; nothing was written to the journal"
            ),
        }
    }
}

impl std::error::Error for RecoveryError {}

impl From<JournalError> for RecoveryError {
    fn from(e: JournalError) -> Self {
        RecoveryError::Journal(e)
    }
}

/// What recovery did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Commands applied again.
    pub commands: u64,
    /// The journal as found (segments, records, a torn tail).
    pub journal: ScanSummary,
    /// The client-order-id epoch in force.
    pub epoch: u32,
    /// The engine's original start time.
    pub start_ns: u64,
    /// Orders waiting for a venue answer at the crash, queued for reconciliation.
    pub in_flight: u64,
    /// Engine time of the last record: where the rebuilt engine stands.
    pub last_ts: u64,
    /// Configurations the journal records (the one it started under is 1).
    pub configs: u32,
    /// The record this start journaled its new configuration in, when it changed.
    pub config_changed: Option<u64>,
}

/// Whether the core journals an event of this kind (Synced, OrderInstrument and rows are
/// for the core's consumers only).
fn is_recorded(e: &CoreEvent) -> bool {
    !matches!(
        e,
        CoreEvent::Synced(_)
            | CoreEvent::OrderInstrument { .. }
            | CoreEvent::Row(_)
            | CoreEvent::RowsEnd { .. }
    )
}

/// Matches replayed events against recorded ones, oldest first; the sequence number of
/// the first recorded event that differs. Synced and OrderInstrument events are never
/// recorded.
fn diverged(
    replayed: &mut VecDeque<CoreEvent>,
    recorded: &mut VecDeque<(u64, CoreEvent)>,
) -> Option<u64> {
    replayed.retain(is_recorded);
    while let (Some(a), Some((seq, b))) = (replayed.front(), recorded.front()) {
        if a != b {
            return Some(*seq);
        }
        replayed.pop_front();
        recorded.pop_front();
    }
    None
}

/// Opens (or creates) the journal in `dir` and returns its writer and the engine rebuilt
/// from it. A new journal starts an engine at `start_ns` with `epoch`; an existing one
/// restores its own epoch and start and replays every command. A history that
/// `execd-replay verify` would refuse is refused here too, before anything is written
/// (see [`accept_loss`] for the operator's way past that).
pub fn open(
    dir: &Path,
    reg: Arc<Registry>,
    epoch: u32,
    start_ns: u64,
    segment_size: usize,
) -> Result<(JournalWriter, Engine, Recovered, Vec<CoreEvent>), RecoveryError> {
    let found = if std::fs::symlink_metadata(dir).is_ok() {
        history::check(dir).map_err(RecoveryError::Refused)?.journal
    } else {
        ScanSummary::default()
    };
    let fingerprint = reg.fingerprint();
    if found.records == 0 || only_losses(dir, &found)? {
        let (mut writer, journal) = JournalWriter::open(dir, segment_size)?;
        writer.append(
            KIND_START,
            records::START_BUILT,
            start_ns,
            &records::encode_start_built(epoch, start_ns, fingerprint, &crate::build_id()),
        )?;
        writer.append(KIND_CONFIG, 1, start_ns, reg.to_toml().as_bytes())?;
        let engine = Engine::new(reg.clone(), build_venues(&reg, start_ns), epoch, start_ns);
        let rec = Recovered {
            journal,
            epoch,
            start_ns,
            configs: 1,
            ..Recovered::default()
        };
        return Ok((writer, engine, rec, Vec::new()));
    }
    // Replayed before the writer opens: a configuration that cannot apply is refused
    // with the journal exactly as it was.
    let (mut engine, mut rec, unrecorded) = replay_with(dir, reg.clone(), None::<fn(Step<'_>)>)?;
    let changed = engine.registry().fingerprint() != fingerprint;
    if changed {
        engine
            .reconfigure(reg.clone())
            .map_err(RecoveryError::ConfigRefused)?;
    }
    let (mut writer, journal) = JournalWriter::open(dir, segment_size)?;
    // Which code writes from here on: the start record names only the first.
    let build = crate::build_id();
    let cut = (0..=build.len().min(records::MAX_BUILD))
        .rev()
        .find(|&n| build.is_char_boundary(n))
        .unwrap_or(0);
    writer.append(KIND_RESTART, 1, engine.now(), &build.as_bytes()[..cut])?;
    if changed {
        // Stamped with the engine time it took effect at: replay catches up to it under
        // the old configuration, as this start did, before applying the new one.
        let seq = writer.append(KIND_CONFIG, 1, engine.now(), reg.to_toml().as_bytes())?;
        rec.config_changed = Some(seq);
        rec.configs += 1;
    }
    rec.journal = journal;
    // Orders that were waiting for a venue answer when the process died: the venue may
    // have acted meanwhile. Queue them for reconciliation before anyone relies on them.
    rec.in_flight = engine.queue_in_flight_for_reconciliation();
    Ok((writer, engine, rec, unrecorded))
}

/// Whether a journal holds nothing but records of accepted losses (an operator accepted
/// losing everything): it starts afresh after them.
fn only_losses(dir: &Path, journal: &ScanSummary) -> Result<bool, RecoveryError> {
    if journal.records > 16 || journal.first_seq > 1 {
        return Ok(false);
    }
    let mut only = true;
    scan(dir, |r| only &= r.header.kind == KIND_LOSS)?;
    Ok(only)
}

/// An operator's word that a refused history may be used anyway, and why.
#[derive(Clone, Debug)]
pub struct AcceptLoss {
    /// Why: the operator's own sentence, journaled with the loss.
    pub reason: String,
}

/// What an accepted loss did.
#[derive(Clone, Debug)]
pub struct AcceptedLoss {
    /// The journal record that tells it (kind [`KIND_LOSS`]).
    pub record: u64,
    /// Why the history was refused, as `execd-replay verify` says it.
    pub refused: String,
    /// The journal was kept through this record.
    pub kept_through: u64,
    /// Records copied back into the journal from the audit log.
    pub restored: Option<(u64, u64)>,
    /// Files renamed aside (never deleted).
    pub set_aside: Vec<PathBuf>,
}

/// Longest reason accepted: it is journaled, and a journal record is bounded.
pub const MAX_REASON: usize = 1_000;

/// Whether `reason` can stand as an operator's reason for accepting a loss.
pub fn check_reason(reason: &str) -> Result<(), &'static str> {
    let r = reason.trim();
    if r.is_empty() || r.len() > MAX_REASON || r.chars().any(char::is_control) {
        return Err(
            "--accept-journal-loss needs the operator's reason: one line of text, 1 to 1000 bytes",
        );
    }
    Ok(())
}

/// Who is running this process, for the record of an accepted loss.
fn operator() -> serde_json::Value {
    // SAFETY: getuid cannot fail; gethostname writes at most the buffer's length.
    let uid = unsafe { libc::getuid() };
    let mut host = [0u8; 256];
    let host = if unsafe { libc::gethostname(host.as_mut_ptr().cast(), host.len()) } == 0 {
        let n = host.iter().position(|&b| b == 0).unwrap_or(host.len());
        String::from_utf8_lossy(&host[..n]).into_owned()
    } else {
        String::new()
    };
    let user = ["SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .or_else(|| user_name(uid))
        .unwrap_or_default();
    serde_json::json!({
        "user": user,
        "uid": uid,
        "host": host,
        "pid": std::process::id(),
    })
}

/// The account name of `uid`, from the system's user database.
fn user_name(uid: libc::uid_t) -> Option<String> {
    // SAFETY: passwd is plain data (integers and pointers); all zeros is a valid value,
    // and getpwuid_r fills it before anything reads it.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 4096];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is to live storage of the stated size; the result points
    // into `buf`, read before `buf` is dropped.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut found) };
    if rc != 0 || found.is_null() || pw.pw_name.is_null() {
        return None;
    }
    // SAFETY: getpwuid_r succeeded, so pw_name is a NUL-terminated string inside `buf`.
    let name = unsafe { std::ffi::CStr::from_ptr(pw.pw_name) };
    Some(name.to_string_lossy().into_owned())
}

/// Before a start: if the history in `dir` would be refused, make it usable by keeping
/// what can be trusted and setting the rest aside ([`history::salvage`]), and journal
/// who accepted that, why, and what it did. `Ok(None)`: nothing was refused, nothing
/// done. Special files, and histories with a hole that nothing can fill, stay refused.
pub fn accept_loss(
    dir: &Path,
    segment_size: usize,
    accept: &AcceptLoss,
) -> Result<Option<AcceptedLoss>, RecoveryError> {
    let reason = accept.reason.trim();
    if let Err(what) = check_reason(reason) {
        return Err(RecoveryError::Usage(what));
    }
    if std::fs::symlink_metadata(dir).is_err() {
        return Ok(None);
    }
    let refused = match history::check(dir) {
        Ok(_) => return Ok(None),
        Err(r) => r,
    };
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let suffix = format!("set-aside-{stamp}");
    let s = history::salvage(dir, segment_size, &suffix).map_err(RecoveryError::Refused)?;
    let text = serde_json::json!({
        "accepted_by": operator(),
        "reason": reason,
        "refused": refused.to_string(),
        "kept_through": s.kept_through,
        "restored_from_audit": s.restored.map(|(a, b)| [a, b]),
        "history_end": s.end,
        "set_aside": s.set_aside.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "rewritten_headers": s.rewritten.iter().map(|(seg, was)| serde_json::json!({
            "segment": seg,
            "was": was.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        })).collect::<Vec<_>>(),
    })
    .to_string();
    let (mut w, _) = JournalWriter::open(dir, segment_size)?;
    let record = w.append(KIND_LOSS, 1, s.last_ts, text.as_bytes())?;
    w.sync()
        .map_err(|e| RecoveryError::Journal(JournalError::Io(e)))?;
    drop(w);
    // What was kept must now be a history a start accepts.
    history::check(dir).map_err(RecoveryError::Refused)?;
    Ok(Some(AcceptedLoss {
        record,
        refused: refused.to_string(),
        kept_through: s.kept_through,
        restored: s.restored,
        set_aside: s.set_aside,
    }))
}

/// The configuration a journal was started under, as recorded in it (later changes:
/// [`journal_configs`]).
pub fn journal_config(dir: &Path) -> Result<Registry, RecoveryError> {
    let mut all = journal_configs_up_to(dir, 1)?;
    Ok(all.remove(0).registry)
}

/// What a journal's start record says (R-AUD-1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Started {
    /// The client-order-id epoch.
    pub epoch: u32,
    /// The engine's start time.
    pub start_ns: u64,
    /// [`Registry::fingerprint`] of the configuration it started under.
    pub config_hash: u64,
    /// The build that wrote it ([`crate::build_id`]); `None` for a journal written
    /// before start records named it.
    pub build: Option<String>,
}

impl Started {
    fn decode(payload: &[u8]) -> Result<Started, records::CodecError> {
        let (epoch, start_ns, config_hash) = records::decode_start(payload)?;
        Ok(Started {
            epoch,
            start_ns,
            config_hash,
            build: records::start_build(payload).map(str::to_string),
        })
    }

    /// The build in words, saying so when the journal does not record it.
    pub fn build_text(&self) -> &str {
        self.build
            .as_deref()
            .unwrap_or("an execd that did not record its version (before start records named it)")
    }
}

/// A journal's start record (from the audit log once its first segment is retired).
pub fn journal_start(dir: &Path) -> Result<Started, RecoveryError> {
    let mut found: Option<(u64, Vec<u8>)> = None;
    let mut take = |kind: u16, seq: u64, payload: &[u8]| {
        if kind == KIND_START && found.as_ref().is_none_or(|(s, _)| seq < *s) {
            found = Some((seq, payload.to_vec()));
        }
    };
    let audit = dir.join("audit");
    if audit.is_dir() {
        crate::sidecar::audit::scan(&audit, |h, p| take(h.kind, h.seq, p))
            .map_err(|e| RecoveryError::Journal(JournalError::Io(e)))?;
    }
    scan(dir, |r| take(r.header.kind, r.header.seq, r.payload))?;
    let (seq, payload) = found.ok_or(RecoveryError::Record {
        seq: 1,
        what: "the journal has no start record",
    })?;
    Started::decode(&payload).map_err(|e| RecoveryError::Record { seq, what: e.0 })
}

/// A configuration a journal records, and from where it applied.
#[derive(Debug)]
pub struct RecordedConfig {
    /// 1 for the one the journal started under, then one more per change.
    pub number: u32,
    /// The record that holds it; it applies to every record after it.
    pub seq: u64,
    /// Engine time it took effect at.
    pub ts_ns: u64,
    /// [`Registry::fingerprint`] of it.
    pub fingerprint: u64,
    /// The configuration itself.
    pub registry: Registry,
}

/// Every configuration a journal records, oldest first: the one it started under, then
/// each one a restart put in force.
pub fn journal_configs(dir: &Path) -> Result<Vec<RecordedConfig>, RecoveryError> {
    journal_configs_up_to(dir, usize::MAX)
}

fn journal_configs_up_to(dir: &Path, most: usize) -> Result<Vec<RecordedConfig>, RecoveryError> {
    // By sequence number: a record may be both in the audit log and in the journal.
    let mut found: std::collections::BTreeMap<u64, (u64, Vec<u8>)> = Default::default();
    let mut take = |kind: u16, seq: u64, ts: u64, payload: &[u8]| {
        if kind == KIND_CONFIG && (found.len() < most || found.contains_key(&seq)) {
            found.insert(seq, (ts, payload.to_vec()));
        }
    };
    // Once the first segments are retired, the configuration record is in the audit log.
    let audit = dir.join("audit");
    if audit.is_dir() {
        crate::sidecar::audit::scan(&audit, |h, p| take(h.kind, h.seq, h.ts_ns, p))
            .map_err(|e| RecoveryError::Journal(JournalError::Io(e)))?;
    }
    scan(dir, |r| {
        take(r.header.kind, r.header.seq, r.header.ts_ns, r.payload)
    })?;
    if found.is_empty() {
        return Err(RecoveryError::Record {
            seq: 2,
            what: "the journal records no configuration",
        });
    }
    let mut out = Vec::new();
    for (seq, (ts_ns, payload)) in found {
        let registry = std::str::from_utf8(&payload)
            .ok()
            .and_then(|t| Registry::from_toml(t).ok())
            .ok_or(RecoveryError::Record {
                seq,
                what: "the recorded configuration does not load",
            })?;
        out.push(RecordedConfig {
            number: out.len() as u32 + 1,
            seq,
            ts_ns,
            fingerprint: registry.fingerprint(),
            registry,
        });
    }
    Ok(out)
}

/// One journal record applied during a replay, with what the engine emitted for it.
pub struct Step<'a> {
    /// The engine after the record.
    pub engine: &'a Engine,
    /// Journal sequence number.
    pub seq: u64,
    /// Engine time of the record.
    pub ts_ns: u64,
    /// The command and its producer, for command records.
    pub command: Option<(u8, &'a Command)>,
    /// Events the engine emitted while catching up to `ts_ns` and applying the command.
    pub events: &'a [CoreEvent],
    /// For the start record: what it says.
    pub started: Option<&'a Started>,
    /// For a command that an operator's note introduced (the same producer's command
    /// just before it): who gave it and why.
    pub note: Option<&'a OperatorNote>,
    /// For a record of a restart: the build that wrote the records after it.
    pub restart: Option<&'a str>,
    /// For a record of an accepted journal loss: what it says (JSON).
    pub loss: Option<&'a str>,
    /// For a record of the audit log's state: whether it failed (or works again).
    pub audit_failed: Option<bool>,
    /// For a network venue's journaled input: the venue's index and what it said.
    pub venue_input: Option<(u16, crate::venue::VenueEvent)>,
    /// The configuration in force after this record: its number (1 for the one the
    /// journal started under) and fingerprint.
    pub config: (u32, u64),
    /// This record put a new configuration in force.
    pub config_changed: bool,
}

/// Rebuilds the engine a journal describes, without opening it for writing.
pub fn replay(dir: &Path, reg: Arc<Registry>) -> Result<(Engine, Recovered), RecoveryError> {
    replay_with(dir, reg, None::<fn(Step<'_>)>).map(|(e, r, _)| (e, r))
}

/// Like [`replay`], handing every record and the events it caused to `on_step`
/// (the replay tool's exports and order histories are built this way). Also returns
/// the events the replay produced past the last one recorded: a crash cut them off
/// before they were journaled (and so before anyone was told).
pub fn replay_with(
    dir: &Path,
    reg: Arc<Registry>,
    mut on_step: Option<impl FnMut(Step<'_>)>,
) -> Result<(Engine, Recovered, Vec<CoreEvent>), RecoveryError> {
    let mut r = Replayer::new(reg);
    let mut step = on_step.as_mut().map(|f| f as &mut dyn FnMut(Step<'_>));
    let journal = r.read(dir, &mut step)?;
    r.catch_up(journal.last_seq, &mut step);
    r.finish(journal)
}

/// A replay fed one record at a time: [`replay_with`] feeds it a whole journal; a
/// follower of a live journal (the control API's event stream) feeds it records as the
/// core commits them. Whatever feeds it, each record is applied exactly as recovery
/// applies it, and what the engine emits is checked against what the journal recorded.
pub struct Replayer {
    reg: Arc<Registry>,
    fingerprint: u64,
    engine: Option<Engine>,
    rec: Recovered,
    failure: Option<RecoveryError>,
    events: Vec<CoreEvent>,
    // What replay emits and what the journal recorded, matched in order as both arrive.
    replayed: VecDeque<CoreEvent>,
    recorded: VecDeque<(u64, CoreEvent)>,
    last_event_ts: u64,
    last_seq: u64,
    /// Records fed, for checking `cancel` now and then.
    fed: u64,
    cancel: Option<Box<dyn Fn() -> bool + Send>>,
    /// The start record's configuration fingerprint, once read.
    started: Option<u64>,
    /// The start record, once read.
    start: Option<Started>,
    /// Per producer, the operator's note awaiting that producer's next command.
    notes: Vec<Option<OperatorNote>>,
    /// The configuration in force: its number (1: the journal's first) and fingerprint.
    config: (u32, u64),
}

/// Where a step goes, if anywhere.
pub type OnStep<'f> = Option<&'f mut dyn FnMut(Step<'_>)>;

impl Replayer {
    /// A replay under `reg` (the configuration the journal records).
    pub fn new(reg: Arc<Registry>) -> Replayer {
        Replayer {
            fingerprint: reg.fingerprint(),
            reg,
            engine: None,
            rec: Recovered::default(),
            failure: None,
            events: Vec::new(),
            replayed: VecDeque::new(),
            recorded: VecDeque::new(),
            last_event_ts: 0,
            last_seq: 0,
            fed: 0,
            cancel: None,
            started: None,
            start: None,
            notes: vec![None; 256],
            config: (0, 0),
        }
    }

    /// Stops the replay (a failure, every later record ignored) once `f` says so; a
    /// reader whose client went away need not replay a journal to its end.
    pub fn cancel_when(&mut self, f: impl Fn() -> bool + Send + 'static) {
        self.cancel = Some(Box::new(f));
    }

    /// The first failure, after which every record is ignored.
    pub fn failure(&self) -> Option<&RecoveryError> {
        self.failure.as_ref()
    }

    /// Sequence number of the last record fed.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The engine as rebuilt so far (none before the start record).
    pub fn engine(&self) -> Option<&Engine> {
        self.engine.as_ref()
    }

    /// Feeds every record of the journal in `dir`: those of retired segments from the
    /// audit log, then the journal's own. Returns what the scan of the journal found.
    pub fn read(
        &mut self,
        dir: &Path,
        on_step: &mut OnStep<'_>,
    ) -> Result<ScanSummary, RecoveryError> {
        let first_in_journal = crate::journal::first_seq(dir)
            .map_err(|e| RecoveryError::Journal(JournalError::Io(e)))?
            .unwrap_or(1);
        if first_in_journal > 1 {
            let mut expected = 1u64;
            crate::sidecar::audit::scan(&dir.join("audit"), |h, p| {
                if h.seq == expected && h.seq < first_in_journal {
                    self.feed(h, p, on_step);
                    expected += 1;
                }
            })
            .map_err(|e| RecoveryError::Journal(JournalError::Io(e)))?;
            if expected != first_in_journal {
                return Err(RecoveryError::Record {
                    seq: expected,
                    what:
                        "history before the journal's first segment is missing from the audit log",
                });
            }
        }
        let audit = dir.join("audit");
        let journal = scan(dir, |r| {
            let seq = r.header.seq;
            // On a live journal the sidecar may retire segments while this reads: what
            // went is in the audit log.
            if self.last_seq != 0 && seq > self.last_seq + 1 && self.failure.is_none() {
                let want = self.last_seq + 1;
                let got = crate::sidecar::audit::scan(&audit, |h, p| {
                    if h.seq == self.last_seq + 1 && h.seq < seq {
                        self.feed(h, p, on_step);
                    }
                });
                if got.is_err() || self.last_seq + 1 != seq {
                    self.failure.get_or_insert(RecoveryError::Record {
                        seq: want,
                        what: "records retired from the journal while it was read are not in the audit log",
                    });
                }
            }
            if seq > self.last_seq {
                self.feed(&r.header, r.payload, on_step);
            }
        })?;
        match self.failure.take() {
            Some(f) => Err(f),
            None => Ok(journal),
        }
    }

    /// Applies one record.
    pub fn feed(&mut self, header: &RecordHeader, payload: &[u8], on_step: &mut OnStep<'_>) {
        if self.failure.is_some() {
            return;
        }
        let seq = header.seq;
        self.fed += 1;
        if self.fed % 256 == 0 && self.cancel.as_ref().is_some_and(|c| c()) {
            self.failure = Some(RecoveryError::Usage("the replay was stopped"));
            return;
        }
        if self.last_seq != 0 && seq != self.last_seq + 1 {
            self.failure = Some(RecoveryError::Record {
                seq,
                what: "the record before this one is missing (sequence numbers jump)",
            });
            return;
        }
        let ts = header.ts_ns;
        self.last_seq = seq;
        let rec = &mut self.rec;
        let events = &mut self.events;
        rec.last_ts = rec.last_ts.max(ts);
        let mut command: Option<(u8, Command)> = None;
        let mut loss: Option<&str> = None;
        let mut restart: Option<&str> = None;
        let mut audit_failed: Option<bool> = None;
        let mut venue_input = None;
        let mut note: Option<OperatorNote> = None;
        let fail = |what| Some(RecoveryError::Record { seq, what });
        let mut config_changed = false;
        match header.kind {
            KIND_START => match Started::decode(payload) {
                Ok(st) if self.engine.is_none() && self.started.is_none() => {
                    let (epoch, start, hash) = (st.epoch, st.start_ns, st.config_hash);
                    self.start = Some(st);
                    rec.epoch = epoch;
                    rec.start_ns = start;
                    self.started = Some(hash);
                    // Under the caller's configuration at once when it is the journal's
                    // first; otherwise the configuration record that follows says which.
                    if hash == self.fingerprint {
                        self.engine = Some(Engine::new(
                            self.reg.clone(),
                            build_venues(&self.reg, start),
                            epoch,
                            start,
                        ));
                    }
                }
                Ok(_) => {
                    self.failure = fail("a second start record");
                    return;
                }
                Err(e) => {
                    self.failure = fail(e.0);
                    return;
                }
            },
            // The first one describes the start; each later one is a change that applies
            // from here on, after catching up to the time it took effect at.
            // The first one describes the start; each later one is a change that applies
            // from here on, after catching up to the time it took effect at.
            KIND_CONFIG => {
                let Some(hash) = self.started else {
                    self.failure = fail("a configuration before the start record");
                    return;
                };
                if self.engine.is_some() && self.config.0 == 0 {
                    self.config = (1, hash);
                } else {
                    let Some(new) = std::str::from_utf8(payload)
                        .ok()
                        .and_then(|t| Registry::from_toml(t).ok())
                    else {
                        self.failure = fail("the recorded configuration does not load");
                        return;
                    };
                    let fp = new.fingerprint();
                    let new = if fp == self.fingerprint {
                        self.reg.clone()
                    } else {
                        Arc::new(new)
                    };
                    match self.engine.as_mut() {
                        None if fp != hash => {
                            self.failure = fail("the recorded configuration is not the one the start record names (another version of execd wrote it?)");
                            return;
                        }
                        None => {
                            self.engine = Some(Engine::new(
                                new.clone(),
                                build_venues(&new, rec.start_ns),
                                rec.epoch,
                                rec.start_ns,
                            ));
                        }
                        Some(e) => {
                            e.advance_to(ts, events);
                            if e.reconfigure(new).is_err() {
                                self.failure = fail(
                                    "a configuration change that cannot apply to the state before it",
                                );
                                return;
                            }
                            config_changed = true;
                        }
                    }
                    self.config = (self.config.0 + 1, fp);
                }
            }
            KIND_COMMAND => {
                let Some(e) = self.engine.as_mut() else {
                    self.failure = fail("a command before the start record");
                    return;
                };
                match records::decode_command(payload) {
                    Ok((origin, cmd)) => {
                        e.advance_to(ts, events);
                        e.command(origin, &cmd, events, &mut ());
                        rec.commands += 1;
                        let slot = &mut self.notes[origin as usize];
                        note = match &cmd {
                            Command::Operator(n) => {
                                *slot = Some(*n);
                                None
                            }
                            _ => slot.take(),
                        };
                        command = Some((origin, cmd));
                    }
                    Err(err) => {
                        self.failure = fail(err.0);
                        return;
                    }
                }
            }
            KIND_TIME => {
                if let Some(e) = self.engine.as_mut() {
                    e.advance_to(ts, events);
                }
            }
            // A network venue's input: handed back to its recorded stand-in and applied
            // where the live core applied it.
            KIND_VENUE => match (self.engine.as_mut(), records::decode_venue_input(payload)) {
                (Some(e), Ok((v, ev))) if (v as usize) < e.registry().venues.len() => {
                    let t = ev.at_ns.max(e.now());
                    venue_input = Some((v, ev));
                    match e.venue_mut(v as usize).recorded_mut() {
                        Some(r) => {
                            r.push(ev);
                            // As far as this input and no further: a timer due at the
                            // same instant may have fired after it live, and the input
                            // that came next (its own record) before that timer.
                            while e.venue_mut(v as usize).next_event_at().is_some()
                                && e.step_to(t, events)
                            {}
                        }
                        None => e.advance_to(t, events),
                    }
                }
                (_, Err(err)) => {
                    self.failure = fail(err.0);
                    return;
                }
                _ => {
                    self.failure =
                        fail("a venue input before the start record or for an unknown venue");
                    return;
                }
            },
            KIND_EVENT => match records::decode_event(payload) {
                Ok((_, ev)) => {
                    // Events the live core emitted as time passed (a fill after the
                    // venue's latency, a timeout) have no command before them: the
                    // engine goes on towards this record's time until it has emitted
                    // them, so replay emits them here, under this record's number and
                    // time, not under whichever command came next. Only that far: what
                    // else was due at the same instant may have come after a venue
                    // input the journal records next (a timeout's reconciliation
                    // answered at once, then the next timeout).
                    self.recorded.push_back((seq, ev));
                    self.last_event_ts = self.last_event_ts.max(ts);
                    if let Some(e) = self.engine.as_mut() {
                        let owed = self.recorded.len();
                        while self.replayed.len() + events.iter().filter(|x| is_recorded(x)).count()
                            < owed
                            && e.step_to(ts, events)
                        {}
                    }
                }
                Err(err) => {
                    self.failure = fail(err.0);
                    return;
                }
            },
            KIND_AUDIT => match (self.engine.as_mut(), payload) {
                (Some(e), [flag @ (0 | 1)]) => {
                    e.advance_to(ts, events);
                    e.set_audit_failed(*flag == 1);
                    audit_failed = Some(*flag == 1);
                }
                _ => {
                    self.failure = fail("an audit-state record before the start record or not 0/1");
                    return;
                }
            },
            // Told, not replayed: it changes nothing in the engine.
            KIND_LOSS => loss = Some(std::str::from_utf8(payload).unwrap_or("")),
            KIND_RESTART => restart = Some(std::str::from_utf8(payload).unwrap_or("?")),
            // Kinds this version does not know are skipped, never misread.
            _ => {}
        }
        if let (Some(f), Some(e)) = (on_step.as_mut(), self.engine.as_ref()) {
            f(Step {
                engine: e,
                seq,
                ts_ns: ts,
                command: command.as_ref().map(|(o, c)| (*o, c)),
                events,
                started: (header.kind == KIND_START)
                    .then_some(self.start.as_ref())
                    .flatten(),
                note: note.as_ref(),
                restart,
                loss,
                audit_failed,
                venue_input,
                config: self.config,
                config_changed,
            });
        }
        self.replayed.extend(events.drain(..));
        if let Some(seq) = diverged(&mut self.replayed, &mut self.recorded) {
            self.failure = Some(RecoveryError::Diverged { seq });
        }
    }

    /// Events the live core emitted after its last command (fills arriving, timeouts)
    /// are journaled with no command before them: moves the engine to the last one
    /// recorded, so they are produced (and checked) now, as step `seq`.
    pub fn catch_up(&mut self, seq: u64, on_step: &mut OnStep<'_>) {
        if self.failure.is_some() {
            return;
        }
        let Some(e) = self.engine.as_mut() else {
            return;
        };
        // Where the records left it: replay goes only as far as each record needs.
        let to = self.last_event_ts.max(self.rec.last_ts);
        if to <= e.now() && e.next_due().is_none_or(|d| d > to) {
            return;
        }
        e.advance_to(to, &mut self.events);
        if let Some(f) = on_step.as_mut() {
            f(Step {
                engine: e,
                seq,
                ts_ns: self.last_event_ts,
                command: None,
                events: &self.events,
                started: None,
                note: None,
                restart: None,
                loss: None,
                audit_failed: None,
                venue_input: None,
                config: self.config,
                config_changed: false,
            });
        }
        self.replayed.extend(self.events.drain(..));
        if let Some(seq) = diverged(&mut self.replayed, &mut self.recorded) {
            self.failure = Some(RecoveryError::Diverged { seq });
        }
    }

    /// The engine rebuilt, what recovery did, and the events replay produced past the
    /// last one recorded; an error if any record failed or the journal recorded events
    /// that replay never produced.
    pub fn finish(
        mut self,
        journal: ScanSummary,
    ) -> Result<(Engine, Recovered, Vec<CoreEvent>), RecoveryError> {
        if let Some(f) = self.failure {
            return Err(f);
        }
        if let Some(seq) = diverged(&mut self.replayed, &mut self.recorded) {
            return Err(RecoveryError::Diverged { seq });
        }
        if let Some(&(seq, _)) = self.recorded.front() {
            // Recorded events that replay never produces.
            return Err(RecoveryError::Diverged { seq });
        }
        self.rec.journal = journal;
        self.rec.configs = self.config.0;
        let engine = self.engine.ok_or(RecoveryError::Record {
            seq: 1,
            what: "the journal has no start record",
        })?;
        Ok((engine, self.rec, self.replayed.into_iter().collect()))
    }
}
