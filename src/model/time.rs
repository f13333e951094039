//! Wall-clock instants as stored in the log: milliseconds since the Unix epoch, UTC.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// An instant in milliseconds since the Unix epoch (UTC).
///
/// Stored instead of `DateTime<Utc>` so that log entries and sled keys stay compact and compare
/// as integers.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Converts a chrono instant, truncating below one millisecond.
    pub fn from_datetime(at: DateTime<Utc>) -> Self {
        Timestamp(at.timestamp_millis())
    }

    /// Converts to a chrono instant. Out-of-range values clamp to the Unix epoch.
    pub fn to_datetime(self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.0)
            .single()
            .unwrap_or(DateTime::UNIX_EPOCH)
    }

    /// Formats as RFC 3339 in UTC with millisecond precision, e.g. `2026-01-01T00:00:00.000Z`.
    pub fn to_rfc3339(self) -> String {
        self.to_datetime()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }

    /// Adds a number of milliseconds, saturating at the representable range.
    pub fn plus_millis(self, millis: u64) -> Self {
        let millis = i64::try_from(millis).unwrap_or(i64::MAX);
        Timestamp(self.0.saturating_add(millis))
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_round_trips_rfc3339() {
        let at = Timestamp(1_767_225_600_123);
        assert_eq!(at.to_rfc3339(), "2026-01-01T00:00:00.123Z");
        assert_eq!(Timestamp::from_datetime(at.to_datetime()), at);
    }

    #[test]
    fn plus_millis_saturates() {
        assert_eq!(Timestamp(i64::MAX - 1).plus_millis(10), Timestamp(i64::MAX));
    }
}
