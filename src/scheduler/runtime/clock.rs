//! The wall clock the runtime reads; the core never reads one.

use crate::model::Timestamp;

/// A source of the current wall-clock time.
pub trait Clock: Send + Sync {
    /// Returns the current time, in milliseconds since the Unix epoch.
    fn now(&self) -> Timestamp;
}

/// The system's real-time clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_datetime(chrono::Utc::now())
    }
}
