//! What the core writes into its journal, and reads back to recover (R-AUD-1, R-RES-4):
//! one record kind per family, each a small, explicit little-endian encoding written
//! without allocating. The journal stores them as opaque payloads under these kinds.

mod bytes;
mod command;
mod event;
mod venue_input;

pub use bytes::CodecError;
pub use command::{decode_command, encode_command};
pub use event::decode_event;
pub use event::encode_event;
pub use venue_input::{decode_venue_input, encode_venue_input};

use bytes::In;

/// Record kind: a command as the core applied it (payload: origin, then the command).
pub const KIND_COMMAND: u16 = 1;
/// Record kind: how this journal's engine was started (epoch, start time, config hash).
pub const KIND_START: u16 = 2;
/// Record kind: engine time reached (written at a clean stop; no payload), so a restart
/// does not deliver again what was delivered before it.
pub const KIND_TIME: u16 = 3;
/// Record kind: the configuration as TOML text, so a journal describes itself. The first
/// follows the start record; a later one is a change a restart made, in force for every
/// record after it (stamped with the engine time it took effect at).
pub const KIND_CONFIG: u16 = 4;
/// Record kind: an event the core emitted (payload: producer, then the event).
pub const KIND_EVENT: u16 = 5;
/// Record kind: an input from an external venue (payload: venue, wire sequence number,
/// time, the venue event).
pub const KIND_VENUE: u16 = 6;
/// Record kind: an operator accepted that the journal had lost records
/// (`--accept-journal-loss`): who, why, what was refused, what was kept, restored and set
/// aside, as JSON. Replay skips it; verify and export show it.
pub const KIND_LOSS: u16 = 7;
/// Record kind: the audit log failed (payload 1) or works again (0): from here on new
/// orders are refused with `AUDIT_FAILED` (or no longer are).
pub const KIND_AUDIT: u16 = 8;

/// Record kind: a process started on an existing journal (payload: its build,
/// [`crate::build_id`], as UTF-8): the records after it were written by that build
/// (R-AUD-1). Changes nothing in the engine; older versions skip it.
pub const KIND_RESTART: u16 = 9;

/// Largest encoded command.
pub const MAX_COMMAND: usize = 512;
/// Largest encoded event or venue input.
pub const MAX_EVENT: usize = 160;
/// Producer number of a broadcast event.
pub(crate) const BROADCAST: u8 = 255;

/// The start record: the client-order-id epoch, the engine's start time and the hash of
/// the configuration it ran with.
pub fn encode_start(epoch: u32, start_ns: u64, config_hash: u64) -> [u8; 20] {
    let mut b = [0u8; 20];
    b[..4].copy_from_slice(&epoch.to_le_bytes());
    b[4..12].copy_from_slice(&start_ns.to_le_bytes());
    b[12..].copy_from_slice(&config_hash.to_le_bytes());
    b
}

/// Reads a start record: (epoch, start time, configuration fingerprint).
pub fn decode_start(b: &[u8]) -> Result<(u32, u64, u64), CodecError> {
    let mut i = In::new(b);
    let epoch = i.u32()?;
    let start = i.u64()?;
    let hash = i.u64()?;
    Ok((epoch, start, hash))
}

/// Layout version of a start record that also names the build that wrote it: the 20
/// bytes of version 1, then [`crate::build_id`] as UTF-8 to the end of the payload.
/// Version 1 records (journals written before) simply end after the 20 bytes.
pub const START_BUILT: u16 = 2;

/// Longest build text a start record carries.
pub const MAX_BUILD: usize = 200;

/// A start record that names `build` (cut to [`MAX_BUILD`] bytes on a character
/// boundary); written once per journal, so it may allocate.
pub fn encode_start_built(epoch: u32, start_ns: u64, config_hash: u64, build: &str) -> Vec<u8> {
    let mut n = build.len().min(MAX_BUILD);
    while !build.is_char_boundary(n) {
        n -= 1;
    }
    let mut b = encode_start(epoch, start_ns, config_hash).to_vec();
    b.extend_from_slice(&build.as_bytes()[..n]);
    b
}

/// The build a start record names; `None` for one written before start records named it
/// (or whose text is not UTF-8).
pub fn start_build(b: &[u8]) -> Option<&str> {
    b.get(20..)
        .filter(|t| !t.is_empty())
        .and_then(|t| std::str::from_utf8(t).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error() {
        assert!(decode_command(&[]).is_err());
        assert!(decode_command(&[0, 99]).is_err());
        assert!(decode_command(&[0, 2, 7, 0]).is_err());
        let mut rng = fastrand::Rng::with_seed(1);
        for _ in 0..10_000 {
            let n = rng.usize(0..200);
            let b: Vec<u8> = (0..n).map(|_| rng.u8(..)).collect();
            let _ = decode_command(&b); // must not panic
            let _ = decode_event(&b);
            let _ = decode_venue_input(&b);
        }
        assert_eq!(decode_start(&encode_start(7, 9, 11)), Ok((7, 9, 11)));
    }

    #[test]
    fn start_records_name_their_build_and_old_ones_still_read() {
        let b = encode_start_built(7, 9, 11, "execd 0.1.0 (commit abc)");
        assert_eq!(decode_start(&b), Ok((7, 9, 11)));
        assert_eq!(start_build(&b), Some("execd 0.1.0 (commit abc)"));
        assert_eq!(
            start_build(&encode_start(7, 9, 11)),
            None,
            "version 1: no build"
        );
        let long = "é".repeat(MAX_BUILD);
        let b = encode_start_built(1, 2, 3, &long);
        let got = start_build(&b).unwrap();
        assert!(got.len() <= MAX_BUILD && long.starts_with(got));
        assert!(crate::build_id().starts_with(concat!("execd ", env!("CARGO_PKG_VERSION"))));
    }
}
