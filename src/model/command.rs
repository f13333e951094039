//! The commands carried in the Raft log and the responses the state machine returns.
//!
//! Every instant and id in a command is chosen by the proposer, so applying a command reads no
//! clock and draws no random number: all nodes reach the same state.

use serde::{Deserialize, Serialize};

use super::{Cause, Execution, ExecutionId, Job, JobId, JobSpec, JobStatus, Timestamp};

/// A change to the replicated state.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Stores a new job. Rejected when the id exists.
    CreateJob { job: Job },
    /// Replaces a job's spec and, when `status` is set, its status.
    UpdateJob {
        id: JobId,
        spec: JobSpec,
        /// The new status; `None` keeps the current one.
        status: Option<JobStatus>,
        /// Next instant under the new spec, computed by the proposer; used when the timing
        /// changed or the job becomes ACTIVE.
        next_execution_time: Option<Timestamp>,
        now: Timestamp,
    },
    /// Stops firing a job until it is resumed.
    PauseJob { id: JobId, now: Timestamp },
    /// Fires a paused or disabled job again, anchoring `@every` schedules at `now`.
    ResumeJob {
        id: JobId,
        next_execution_time: Option<Timestamp>,
        now: Timestamp,
    },
    /// Removes a job and its execution history.
    DeleteJob { id: JobId },
    /// Records fire decisions and attempt starts. Each intent is accepted or rejected on its own.
    RecordFires { intents: Vec<Intent> },
    /// Records the outcomes of attempts.
    RecordOutcomes { outcomes: Vec<Outcome> },
}

/// One decision the leader wants committed before it sends anything.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum Intent {
    /// Starts a new execution.
    Fire(FireIntent),
    /// Starts another attempt of an open execution: a due retry, or an attempt left in doubt by
    /// an earlier leader.
    Retry(RetryIntent),
    /// Records schedule instants that will not run (misfire policy or starting deadline).
    Skip(SkipIntent),
}

/// Schedule instants of one job that the proposer decided not to run.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SkipIntent {
    pub job_id: JobId,
    /// How many instants are skipped.
    pub instants: u32,
    /// The latest skipped instant; the job's `last_execution_time` does not move back.
    pub latest: Timestamp,
    /// The job's next instant after the skipped ones.
    pub next_execution_time: Option<Timestamp>,
    /// The job revision the instants were computed from.
    pub job_revision: u64,
}

/// A request to start a new execution of a job.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct FireIntent {
    pub job_id: JobId,
    /// The schedule instant, or the request instant of a manual or retry run.
    pub scheduled_time: Timestamp,
    pub cause: Cause,
    /// When the proposer decided to fire.
    pub decided_at: Timestamp,
    /// For a schedule fire, the job's next instant after this one.
    pub next_execution_time: Option<Timestamp>,
    /// For a RETRY execution, the failed execution it retries.
    pub retry_of: Option<ExecutionId>,
    /// A missed instant run late under the misfire policy; counted on the job.
    pub caught_up: bool,
    /// A manual run that ignores the job's concurrency policy.
    pub force: bool,
    /// For a schedule fire, the job revision the instant was computed from.
    pub job_revision: Option<u64>,
    /// For a manual run, the client's idempotency key: requests with the same key start one
    /// execution of the job while its record is kept.
    pub request_key: Option<String>,
}

/// A request to start attempt number `attempt` of an open execution.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct RetryIntent {
    pub execution_id: ExecutionId,
    /// The attempt to start: the execution's current `attempt_count` plus one.
    pub attempt: u32,
    pub decided_at: Timestamp,
    /// The previous attempt was sent by an earlier leader and has no outcome.
    pub in_doubt: bool,
}

/// The result of one attempt.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub execution_id: ExecutionId,
    /// The attempt this outcome belongs to; outcomes of older attempts are ignored.
    pub attempt: u32,
    pub finished_at: Timestamp,
    pub result: OutcomeResult,
    /// Random number from 0 to 1000 drawn by the proposer for the retry delay's jitter.
    pub jitter_sample: u16,
}

/// What one attempt returned.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum OutcomeResult {
    /// The target accepted the request (any 2xx).
    Success { status_code: u16, body: String },
    /// The attempt failed.
    Failure {
        /// Status code, when the target sent a response.
        status_code: Option<u16>,
        /// Response body, when the target sent a response.
        body: Option<String>,
        /// What went wrong, for the execution record.
        error: String,
        /// For a failure with no status code (connect error, timeout): whether another
        /// attempt may succeed. A status code is judged by the job's `retry_on` instead.
        retryable: bool,
    },
}

/// The state machine's response to one command.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// A job after the change.
    Job(Box<Job>),
    /// The id of a deleted job.
    Deleted(JobId),
    /// One decision per intent, in order.
    Fires(Vec<FireDecision>),
    /// How many outcomes changed an execution.
    Outcomes { applied: u32 },
    /// The command changed nothing; the reason is for the client.
    Rejected(Rejection),
    /// A log entry with no command (blank or membership).
    Empty,
}

/// Why a command was rejected by the state machine.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// The named object does not exist.
    NotFound { field: String, value: String },
    /// The object exists but is not in a state that allows the change.
    FailedPrecondition {
        field: String,
        value: String,
        message: String,
    },
    /// The object exists already.
    AlreadyExists { field: String, value: String },
}

/// What the state machine decided for one intent.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum FireDecision {
    /// The execution was created or its next attempt started; it is RUNNING.
    Accepted(Execution),
    /// The same execution or attempt was accepted before; nothing changed.
    Duplicate(ExecutionId),
    /// Nothing was started, for the given reason.
    Skipped { reason: SkipReason },
}

/// Why an intent started nothing.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// The job does not exist (deleted after the intent was made).
    JobNotFound(JobId),
    /// The job is not ACTIVE (only schedule fires check this).
    JobNotActive(JobId),
    /// The execution does not exist or its attempt count moved on.
    StaleAttempt(ExecutionId),
    /// The execution retried by a RETRY run is missing or not FAILED.
    NotRetryable(ExecutionId),
    /// The job forbids overlapping runs and this execution is still open.
    ConcurrencyForbidden(ExecutionId),
    /// Recorded as missed by a `Skip` intent: counted on the job, nothing started.
    Missed(JobId),
    /// The job changed after the intent was computed, or the instants were recorded already,
    /// or a schedule instant is at or before the job's `pruned_through`.
    StaleIntent(JobId),
}
