//! A deliberate ordering bug that the chaos checker (`raftcron chaos --planted-bug`) must catch.
//!
//! With `RAFTCRON_PLANTED_BUG=dispatch-before-commit` in a node's environment (or
//! [`super::SchedulerConfig::dispatch_before_commit`] set by a simulation), its leader loop
//! sends each new schedule fire as soon as it proposes the fire intent, before the intent is
//! committed, and skips the dispatch that would follow the commit. The request carries a
//! guessed fencing token (the next log index), and it is sent even when the state machine
//! later rejects the intent (FORBID overlap, a stale revision) or the entry is never committed
//! (the leader lost a partition). Never set it outside chaos runs.

use tracing::warn;

use crate::model::{Execution, ExecutionStatus, FireIntent};

/// The environment variable that selects a planted bug.
pub const ENV_VAR: &str = "RAFTCRON_PLANTED_BUG";
/// The value of [`ENV_VAR`] that enables dispatch before commit.
pub const DISPATCH_BEFORE_COMMIT: &str = "dispatch-before-commit";

/// Reads [`ENV_VAR`] and returns whether it enables dispatch before commit. An unknown value
/// is logged at warn and ignored.
pub fn from_env() -> bool {
    match std::env::var(ENV_VAR) {
        Ok(value) if value == DISPATCH_BEFORE_COMMIT => true,
        Ok(value) => {
            warn!(
                planted_bug = %value,
                "unknown {ENV_VAR} value ignored; expected {DISPATCH_BEFORE_COMMIT}"
            );
            false
        }
        Err(_) => false,
    }
}

/// Logs at warn that the bug is enabled.
pub(super) fn warn_enabled() {
    warn!(
        planted_bug = DISPATCH_BEFORE_COMMIT,
        "PLANTED BUG ENABLED: the leader sends fires before their intents commit; \
         for chaos testing only"
    );
}

/// Builds the execution the state machine would store for `fire` if it accepted it as the
/// entry at `index` of `term`.
pub(super) fn uncommitted_execution(fire: &FireIntent, term: u64, index: u64) -> Execution {
    Execution {
        id: Execution::derive_id(&fire.job_id, fire.scheduled_time, fire.cause),
        job_id: fire.job_id.clone(),
        scheduled_time: fire.scheduled_time,
        start_time: fire.decided_at,
        end_time: None,
        status: ExecutionStatus::Running,
        attempt_count: 1,
        next_retry_time: None,
        result: None,
        error: None,
        cause: fire.cause,
        retry_of: None,
        redispatches: 0,
        attempt_term: term,
        attempt_index: index,
    }
}
