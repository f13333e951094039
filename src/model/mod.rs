//! Domain types of raftcron: jobs, executions, the commands carried in the Raft log, and the
//! validation of client input.
//!
//! Everything here is plain data with no I/O. Types that are stored (in the log, in snapshots,
//! in sled trees) derive serde and are encoded by `store` inside a versioned envelope, so a field
//! added here needs a new envelope version there.

mod command;
mod execution;
mod input;
mod job;
mod time;

pub use command::{
    Command, FireDecision, FireIntent, Intent, Outcome, OutcomeResult, Rejection, Response,
    RetryIntent, SkipIntent, SkipReason,
};
pub use execution::{Cause, Execution, ExecutionId, ExecutionResult, ExecutionStatus};
pub use input::{
    JobInput, PoliciesInput, RetentionInput, RetryInput, TriggerInput, ValidationError,
};
pub use job::{
    Backoff, ConcurrencyPolicy, HttpTrigger, Job, JobId, JobPolicies, JobSpec, JobStats, JobStatus,
    MisfirePolicy, Retention, RetryStrategy, Trigger, TriggerType,
};
pub use time::Timestamp;

/// Maximum number of bytes of a response body kept in an execution record.
pub const MAX_RESULT_BODY_BYTES: usize = 4096;
