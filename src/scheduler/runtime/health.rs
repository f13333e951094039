//! The health of the scheduler on this node: whether its leader loop runs, how many loops in a
//! row failed and with which error, and the rule that decides when failures on storage errors
//! end this node's leadership.
//!
//! The tracker is plain state: the supervisor passes the current instant to each call, so
//! tests drive it with made-up instants.

use std::time::Duration;

use tokio::time::Instant;

use super::SchedulerError;

/// Number of leader loops in a row that must fail before the scheduler counts as failing: a
/// failing leader reports itself not ready, and on storage errors it shuts down its Raft node.
/// One or two failures are normal around a leadership change or a slow quorum.
pub const FAILURES_BEFORE_FAILING: u32 = 3;

/// A leader loop that ran at least this long before it failed starts a new count, so failures
/// hours apart are not consecutive. A loop that fails while it starts takes up to the proposal
/// timeout (10 s by default) plus the restart delay (1 s), well below this.
pub const HEALTHY_RUN: Duration = Duration::from_secs(30);

/// The scheduler's health on this node at one instant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SchedulerHealth {
    /// The term this node leads according to the scheduler, `None` while it does not lead.
    pub term: Option<u64>,
    /// Whether a leader loop runs now; false while a failed loop waits to restart.
    pub loop_running: bool,
    /// Leader loops of this leadership that failed in a row.
    pub consecutive_failures: u32,
    /// Error of the latest failed loop, kept until a loop runs for [`HEALTHY_RUN`] or the
    /// node stops leading.
    pub last_error: Option<String>,
}

impl SchedulerHealth {
    /// Returns whether the leader loop failed [`FAILURES_BEFORE_FAILING`] times in a row.
    pub fn is_failing(&self) -> bool {
        self.consecutive_failures >= FAILURES_BEFORE_FAILING
    }
}

/// The supervisor's next step after a leader loop failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AfterFailure {
    /// Start a new loop after the restart delay while this node still leads.
    Restart,
    /// Shut down this node's Raft, as openraft does after a storage error of its own, so a
    /// node whose disk state can be trusted takes over.
    ShutDownRaft,
}

/// Counts the failures of this node's leader loops.
#[derive(Debug, Default)]
pub(super) struct HealthTracker {
    health: SchedulerHealth,
    /// When the current loop started, `None` while no loop runs.
    loop_started_at: Option<Instant>,
    /// The latest failures in a row that were storage errors.
    consecutive_storage_failures: u32,
}

impl HealthTracker {
    /// Returns the health to publish.
    pub(super) fn health(&self) -> SchedulerHealth {
        self.health.clone()
    }

    /// Records that a leader loop of `term` started at `now`.
    pub(super) fn loop_started(&mut self, term: u64, now: Instant) {
        self.health.term = Some(term);
        self.health.loop_running = true;
        self.loop_started_at = Some(now);
    }

    /// Records that the running loop failed with `error` at `now`, and decides what follows.
    ///
    /// The rule: after [`FAILURES_BEFORE_FAILING`] failures in a row that are all storage
    /// errors ([`SchedulerError::is_storage_error`]), Raft shuts down. Any other error only
    /// counts toward [`SchedulerHealth::is_failing`].
    pub(super) fn loop_failed(&mut self, error: &SchedulerError, now: Instant) -> AfterFailure {
        self.still_running(now);
        self.loop_started_at = None;
        self.health.loop_running = false;
        self.health.consecutive_failures += 1;
        self.health.last_error = Some(error.to_string());
        if error.is_storage_error() {
            self.consecutive_storage_failures += 1;
        } else {
            self.consecutive_storage_failures = 0;
        }

        if self.consecutive_storage_failures >= FAILURES_BEFORE_FAILING {
            AfterFailure::ShutDownRaft
        } else {
            AfterFailure::Restart
        }
    }

    /// Records that the running loop still runs at `now`. Once it has run for [`HEALTHY_RUN`],
    /// the failure counts and the last error are cleared.
    pub(super) fn still_running(&mut self, now: Instant) {
        let healthy = self
            .loop_started_at
            .is_some_and(|started| now.saturating_duration_since(started) >= HEALTHY_RUN);
        if healthy {
            self.health.consecutive_failures = 0;
            self.health.last_error = None;
            self.consecutive_storage_failures = 0;
        }
    }

    /// Records that the running loop ended without an error, because this node stopped
    /// leading its term.
    pub(super) fn loop_ended(&mut self) {
        self.loop_started_at = None;
        self.health.loop_running = false;
    }

    /// Records that this node does not lead: the counts start again at its next leadership.
    pub(super) fn not_leading(&mut self) {
        *self = HealthTracker::default();
    }
}

#[cfg(test)]
#[path = "health_test.rs"]
mod tests;
