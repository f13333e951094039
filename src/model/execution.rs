//! Executions: one record per fire decision, updated by each attempt's outcome.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{JobId, Timestamp};

/// An execution id: a UUID string derived from the job id, the scheduled instant and the cause,
/// so every node derives the same id for the same decision.
pub type ExecutionId = String;

/// Namespace of the version 5 UUIDs used as execution ids.
const EXECUTION_NAMESPACE: Uuid = Uuid::from_u128(0x6f1e_5a2c_93d4_4b1e_8c7f_2a9d_0e4b_7c31);

/// Why an execution exists.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cause {
    /// The job's schedule reached an instant.
    Schedule,
    /// A client called TriggerJob.
    Manual,
    /// A client called RetryExecution on a failed execution.
    Retry,
}

impl Cause {
    /// The upper-case name used by the APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Schedule => "SCHEDULE",
            Cause::Manual => "MANUAL",
            Cause::Retry => "RETRY",
        }
    }
}

/// The state of an execution.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExecutionStatus {
    /// An attempt was committed and has no committed outcome yet.
    Running,
    /// An attempt succeeded.
    Completed,
    /// The last allowed attempt failed, or the failure was not retryable.
    Failed,
    /// An attempt failed and another is due at `next_retry_time`.
    Retrying,
}

impl ExecutionStatus {
    /// The upper-case name used by the APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Running => "RUNNING",
            ExecutionStatus::Completed => "COMPLETED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::Retrying => "RETRYING",
        }
    }

    /// Parses the upper-case API name, case-insensitively.
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_uppercase().as_str() {
            "RUNNING" => Some(ExecutionStatus::Running),
            "COMPLETED" => Some(ExecutionStatus::Completed),
            "FAILED" => Some(ExecutionStatus::Failed),
            "RETRYING" => Some(ExecutionStatus::Retrying),
            _ => None,
        }
    }

    /// Returns whether no further attempt will be made.
    pub fn is_final(self) -> bool {
        matches!(self, ExecutionStatus::Completed | ExecutionStatus::Failed)
    }
}

/// What the target returned for the latest attempt.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ExecutionResult {
    /// HTTP status code.
    pub status_code: u16,
    /// Response body, cut at [`super::MAX_RESULT_BODY_BYTES`].
    pub body: String,
}

/// One fire decision and the outcome of its attempts.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Execution {
    /// Derived id, see [`Execution::derive_id`].
    pub id: ExecutionId,
    /// The job that fired.
    pub job_id: JobId,
    /// The schedule instant (or the request instant of a manual or retry run).
    pub scheduled_time: Timestamp,
    /// When the first attempt was committed.
    pub start_time: Timestamp,
    /// When the final outcome was committed.
    pub end_time: Option<Timestamp>,
    /// The state of the execution.
    pub status: ExecutionStatus,
    /// Attempts started so far (1 after the first dispatch).
    pub attempt_count: u32,
    /// When the next attempt is due, while `status` is RETRYING.
    pub next_retry_time: Option<Timestamp>,
    /// Response of the latest attempt that got one.
    pub result: Option<ExecutionResult>,
    /// Error of the latest failed attempt.
    pub error: Option<String>,
    /// Why the execution exists.
    pub cause: Cause,
    /// For a RETRY execution, the failed execution it retries.
    pub retry_of: Option<ExecutionId>,
    /// Attempts re-sent because an earlier leader left them in doubt (sent, no outcome).
    pub redispatches: u32,
    /// Raft term of the log entry that started the current attempt.
    pub attempt_term: u64,
    /// Raft log index of the entry that started the current attempt; it grows with every
    /// attempt, across leaders, so it serves as the fencing token sent with the request.
    pub attempt_index: u64,
}

impl Execution {
    /// Derives the execution id for one decision of `job_id` at `scheduled_time`.
    pub fn derive_id(job_id: &str, scheduled_time: Timestamp, cause: Cause) -> ExecutionId {
        let name = format!("{job_id}/{}/{}", scheduled_time.0, cause.as_str());
        Uuid::new_v5(&EXECUTION_NAMESPACE, name.as_bytes()).to_string()
    }

    /// Derives the id of the manual execution that a client requested with idempotency key
    /// `key`, so a request sent again with the same key finds the first run.
    pub fn derive_request_id(job_id: &str, key: &str) -> ExecutionId {
        let name = format!("{job_id}/request/{key}");
        Uuid::new_v5(&EXECUTION_NAMESPACE, name.as_bytes()).to_string()
    }

    /// Derives the id of the RETRY execution that re-runs the failed execution `retry_of`, so
    /// a failed execution is retried at most once (its retry can be retried in turn).
    pub fn derive_retry_id(retry_of: &str) -> ExecutionId {
        let name = format!("retry-of/{retry_of}");
        Uuid::new_v5(&EXECUTION_NAMESPACE, name.as_bytes()).to_string()
    }

    /// Returns whether an attempt is in flight or due later.
    pub fn is_open(&self) -> bool {
        !self.status.is_final()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_id_is_stable() {
        let first = Execution::derive_id("job-1", Timestamp(1000), Cause::Schedule);
        let again = Execution::derive_id("job-1", Timestamp(1000), Cause::Schedule);
        assert_eq!(first, again);
    }

    #[test]
    fn derived_id_differs_by_instant_and_cause() {
        let base = Execution::derive_id("job-1", Timestamp(1000), Cause::Schedule);
        let later = Execution::derive_id("job-1", Timestamp(1001), Cause::Schedule);
        let manual = Execution::derive_id("job-1", Timestamp(1000), Cause::Manual);
        assert_ne!(base, later);
        assert_ne!(base, manual);
    }
}
