//! Server-time sync and clock skew (R-VEN-3): signed requests carry a `timestamp` the
//! venue compares with its own clock within `recvWindow`. The offset to the venue's
//! clock is measured from its time endpoint (the midpoint of the round trip), and every
//! timestamp sent is our clock plus that offset; a "timestamp outside recvWindow" answer
//! (Binance -1021) asks for a new measurement.

/// Our view of the venue's clock.
#[derive(Debug, Clone, Copy)]
pub struct ServerClock {
    /// Venue time minus our time, ms.
    pub offset_ms: i64,
    /// The round trip of the measurement the offset came from, ms.
    pub rtt_ms: u64,
    /// When it was measured (our clock, ms); 0: never.
    pub measured_at_ms: u64,
    /// How long the venue accepts a request after its timestamp, ms.
    pub recv_window_ms: u64,
}

/// Larger skews are refused: a clock that far off is a broken host, not latency.
const MAX_OFFSET_MS: i64 = 24 * 3600 * 1000;

impl ServerClock {
    /// Unmeasured (offset 0) with the given recvWindow.
    pub fn new(recv_window_ms: u64) -> ServerClock {
        ServerClock {
            offset_ms: 0,
            rtt_ms: 0,
            measured_at_ms: 0,
            recv_window_ms,
        }
    }

    /// A measurement: request sent at `sent_ms`, answered at `recv_ms` (ours), the venue
    /// saying `server_ms`. Returns whether it was taken (a negative round trip or an
    /// absurd offset is not).
    pub fn measured(&mut self, sent_ms: u64, recv_ms: u64, server_ms: u64) -> bool {
        let Some(rtt) = recv_ms.checked_sub(sent_ms) else {
            return false;
        };
        let mid = sent_ms + rtt / 2;
        let (Ok(server), Ok(mid)) = (i64::try_from(server_ms), i64::try_from(mid)) else {
            return false;
        };
        let Some(off) = server.checked_sub(mid) else {
            return false;
        };
        if off.abs() > MAX_OFFSET_MS {
            return false;
        }
        self.offset_ms = off;
        self.rtt_ms = rtt;
        self.measured_at_ms = recv_ms;
        true
    }

    /// The timestamp to send at our time `now_ms`.
    pub fn timestamp(&self, now_ms: u64) -> u64 {
        (now_ms as i64).saturating_add(self.offset_ms).max(0) as u64
    }

    /// Whether the offset is worth measuring again (never measured, or older than
    /// `every_ms`).
    pub fn stale(&self, now_ms: u64, every_ms: u64) -> bool {
        self.measured_at_ms == 0 || now_ms.saturating_sub(self.measured_at_ms) >= every_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_is_taken_from_the_round_trip_midpoint() {
        let mut c = ServerClock::new(5_000);
        assert!(c.stale(1, 60_000));
        // Sent at 1000, answered at 1020, the venue said 1510: it runs 500 ms ahead.
        assert!(c.measured(1_000, 1_020, 1_510));
        assert_eq!((c.offset_ms, c.rtt_ms), (500, 20));
        assert_eq!(c.timestamp(2_000), 2_500);
        assert!(!c.stale(30_000, 60_000));
        assert!(c.stale(61_020, 60_000));
        // A venue behind us.
        assert!(c.measured(10_000, 10_000, 9_000));
        assert_eq!(c.timestamp(10_000), 9_000);
    }

    #[test]
    fn nonsense_measurements_are_ignored() {
        let mut c = ServerClock::new(5_000);
        assert!(!c.measured(2_000, 1_000, 5));
        assert!(!c.measured(0, 0, u64::MAX));
        assert!(!c.measured(1, 1, 10 * 24 * 3600 * 1000));
        assert_eq!(c.offset_ms, 0);
    }
}
