//! The rules that turn one [`Command`] into a [`Response`] and a set of [`Changes`].
//!
//! Applying is deterministic: the rules read no clock, draw no random number and do no I/O
//! beyond reading the state trees. Every instant comes from the command, and the only other
//! input is the log id of the entry being applied.
//!
//! Rules, per command:
//! - `CreateJob { job }`: an existing id is rejected with `AlreadyExists { field: "id" }`;
//!   otherwise the job is stored as given and returned as `Response::Job`.
//! - `UpdateJob { id, spec, status, next_execution_time, now }`: an unknown id is rejected with
//!   `NotFound { field: "id", value: id }`. Otherwise the spec is replaced, the status too when
//!   given, and `updated_at = now`. When the schedule or the time zone changed, or the job
//!   becomes ACTIVE, `anchor = now` and `next_execution_time` is set as given; otherwise the
//!   stored next instant stays, because a fire committed after the proposer read the job may
//!   have moved it on. A job left PAUSED or DISABLED has no next instant. Returns the job.
//! - `PauseJob { id, now }`: `NotFound`, or `status = Paused`, `next_execution_time = None`,
//!   `updated_at = now`. Returns the job.
//! - `ResumeJob { id, next_execution_time, now }`: `NotFound`, or `status = Active`,
//!   `anchor = now`, `next_execution_time` as given, `updated_at = now`. Returns the job.
//! - `DeleteJob { id }`: `NotFound`, or the job, all its executions and their index rows are
//!   removed. Returns `Response::Deleted(id)`.
//! - `RecordFires { intents }`: one `FireDecision` per intent, in order. Later intents see the
//!   changes of earlier ones in the same command.
//!   - `Fire`: a missing job gives `Skipped(JobNotFound)`. A `Schedule` fire of a job that is
//!     not ACTIVE gives `Skipped(JobNotActive)`. The execution id is
//!     `Execution::derive_id(job_id, scheduled_time, cause)`. When that execution exists the
//!     decision is `Duplicate(id)` and nothing changes. A `Retry` fire needs `retry_of` to name a
//!     FAILED execution of the same job, else `Skipped(NotRetryable(retry_of))`, with an empty
//!     id when `retry_of` is absent. Otherwise a RUNNING execution is created with
//!     `attempt_count = 1`, `start_time = decided_at`, `attempt_term` and `attempt_index` from
//!     the applying entry's log id, and `retry_of` kept only for the `Retry` cause. For a
//!     `Schedule` fire whose instant is not older than the job's `last_execution_time`, the job
//!     gets `last_execution_time = scheduled_time` and the intent's `next_execution_time`, so a
//!     late intent for an older instant never moves the job back. Returns `Accepted(execution)`.
//!   - `Retry`: a missing execution gives `Skipped(StaleAttempt)`. `attempt == attempt_count` on
//!     a RUNNING execution gives `Duplicate(id)`: that attempt was accepted before. A final
//!     status (COMPLETED, FAILED) or `attempt != attempt_count + 1` gives `Skipped(StaleAttempt)`.
//!     Otherwise the execution becomes RUNNING with `attempt_count = attempt`,
//!     `next_retry_time = None` and the applying entry's log id as attempt term and index.
//!     Returns `Accepted(execution)`.
//! - `RecordOutcomes { outcomes }`: an outcome is applied only when its execution exists, is
//!   RUNNING, and `attempt == attempt_count`. Any other outcome is stale and ignored.
//!   - `Success`: COMPLETED, `end_time = finished_at`, `result = { status_code, body }`,
//!     `error = None`.
//!   - `Failure`: `result` is replaced only when the target returned a status code, so it keeps
//!     the latest response, and `error` is set. When the failure is retryable, the
//!     job still exists and `job.spec.retry.allows_after(attempt)`, the execution becomes
//!     RETRYING with `next_retry_time = finished_at + delay_after(attempt)`, otherwise FAILED
//!     with `end_time = finished_at`.
//!
//!   Bodies longer than [`MAX_RESULT_BODY_BYTES`] are cut at a character boundary. Returns
//!   `Response::Outcomes { applied }`, the number of outcomes that changed an execution.

use std::collections::BTreeMap;

use super::error::StoreError;
use super::events::StateEvent;
use super::trees::{StateTrees, StateWrites};
use crate::model::{
    Cause, Command, Execution, ExecutionId, ExecutionResult, ExecutionStatus, FireDecision,
    FireIntent, Intent, Job, JobId, JobSpec, JobStatus, MAX_RESULT_BODY_BYTES, Outcome,
    OutcomeResult, Rejection, Response, RetryIntent, SkipIntent, SkipReason, Timestamp,
};
use crate::raft_types::LogId;

/// The jobs and executions one command changes, keyed by id.
#[derive(Default, Debug)]
pub(crate) struct Changes {
    /// `None` marks a removed job.
    jobs: BTreeMap<JobId, Option<Job>>,
    executions: BTreeMap<ExecutionId, ExecutionChange>,
}

#[derive(Debug)]
enum ExecutionChange {
    Put(Execution),
    /// Keeps the removed record, whose job id and scheduled time locate its index row.
    Removed(Execution),
}

impl Changes {
    /// Adds the encoded writes of these changes to `writes`.
    pub(crate) fn add_to(&self, writes: &mut StateWrites) -> Result<(), StoreError> {
        for (id, job) in &self.jobs {
            match job {
                Some(job) => writes.put_job(job)?,
                None => writes.remove_job(id),
            }
        }
        for change in self.executions.values() {
            match change {
                ExecutionChange::Put(execution) => writes.put_execution(execution)?,
                ExecutionChange::Removed(execution) => writes.remove_execution(execution),
            }
        }
        Ok(())
    }

    /// Returns the events that announce these changes: jobs first, then stored executions.
    ///
    /// Removed executions get no event of their own: they only disappear with their job, and
    /// `JobChanged { job: None }` announces that.
    pub(crate) fn into_events(self) -> Vec<StateEvent> {
        let jobs = self
            .jobs
            .into_iter()
            .map(|(job_id, job)| StateEvent::JobChanged { job_id, job });
        let executions = self
            .executions
            .into_values()
            .filter_map(|change| match change {
                ExecutionChange::Put(execution) => Some(StateEvent::ExecutionChanged(execution)),
                ExecutionChange::Removed(_) => None,
            });
        jobs.chain(executions).collect()
    }
}

/// Applies `command`, carried by the entry at `log_id`, to the state in `trees`.
///
/// Nothing is written: the caller commits the returned changes together with the new last
/// applied log id.
pub(crate) fn apply_command(
    trees: &StateTrees,
    log_id: &LogId,
    command: &Command,
) -> Result<(Response, Changes), StoreError> {
    let mut state = Pending::new(trees);
    let response = match command {
        Command::CreateJob { job } => create_job(&mut state, job)?,
        Command::UpdateJob {
            id,
            spec,
            status,
            next_execution_time,
            now,
        } => {
            let change = JobUpdate {
                spec,
                status: *status,
                next_execution_time: *next_execution_time,
                now: *now,
            };
            update_job(&mut state, id, change)?
        }
        Command::PauseJob { id, now } => pause_job(&mut state, id, *now)?,
        Command::ResumeJob {
            id,
            next_execution_time,
            now,
        } => resume_job(&mut state, id, *next_execution_time, *now)?,
        Command::DeleteJob { id } => delete_job(&mut state, id)?,
        Command::RecordFires { intents } => record_fires(&mut state, log_id, intents)?,
        Command::RecordOutcomes { outcomes } => record_outcomes(&mut state, outcomes)?,
    };
    Ok((response, state.changes))
}

/// The stored state with the changes made so far by the command being applied.
struct Pending<'a> {
    trees: &'a StateTrees,
    changes: Changes,
}

impl<'a> Pending<'a> {
    fn new(trees: &'a StateTrees) -> Self {
        Pending {
            trees,
            changes: Changes::default(),
        }
    }

    fn job(&self, id: &str) -> Result<Option<Job>, StoreError> {
        match self.changes.jobs.get(id) {
            Some(job) => Ok(job.clone()),
            None => self.trees.job(id),
        }
    }

    fn execution(&self, id: &str) -> Result<Option<Execution>, StoreError> {
        match self.changes.executions.get(id) {
            Some(ExecutionChange::Put(execution)) => Ok(Some(execution.clone())),
            Some(ExecutionChange::Removed(_)) => Ok(None),
            None => self.trees.execution(id),
        }
    }

    fn put_job(&mut self, job: Job) {
        self.changes.jobs.insert(job.id.clone(), Some(job));
    }

    fn remove_job(&mut self, id: &str) {
        self.changes.jobs.insert(id.to_string(), None);
    }

    fn put_execution(&mut self, execution: Execution) {
        let id = execution.id.clone();
        self.changes
            .executions
            .insert(id, ExecutionChange::Put(execution));
    }

    fn remove_execution(&mut self, execution: Execution) {
        let id = execution.id.clone();
        self.changes
            .executions
            .insert(id, ExecutionChange::Removed(execution));
    }

    /// Loads the job or returns the `NotFound` rejection for `id`.
    fn existing_job(&self, id: &str) -> Result<Result<Job, Response>, StoreError> {
        Ok(self.job(id)?.ok_or_else(|| not_found(id)))
    }
}

fn not_found(id: &str) -> Response {
    Response::Rejected(Rejection::NotFound {
        field: "id".to_string(),
        value: id.to_string(),
    })
}

fn create_job(state: &mut Pending, job: &Job) -> Result<Response, StoreError> {
    if state.job(&job.id)?.is_some() {
        return Ok(Response::Rejected(Rejection::AlreadyExists {
            field: "id".to_string(),
            value: job.id.clone(),
        }));
    }
    state.put_job(job.clone());
    Ok(Response::Job(Box::new(job.clone())))
}

/// The fields of an `UpdateJob` command after the id.
struct JobUpdate<'a> {
    spec: &'a JobSpec,
    status: Option<JobStatus>,
    next_execution_time: Option<Timestamp>,
    now: Timestamp,
}

fn update_job(state: &mut Pending, id: &str, change: JobUpdate) -> Result<Response, StoreError> {
    let mut job = match state.existing_job(id)? {
        Ok(job) => job,
        Err(rejection) => return Ok(rejection),
    };

    // `@every` schedules count from the anchor, so a new schedule or a resume starts counting
    // now, like ResumeJob.
    let spec = change.spec;
    let timing_changed = job.spec.schedule != spec.schedule || job.spec.time_zone != spec.time_zone;
    let status = change.status.unwrap_or(job.status);
    let activated = status == JobStatus::Active && job.status != JobStatus::Active;
    if timing_changed || activated {
        job.anchor = change.now;
        job.next_execution_time = change.next_execution_time;
    }
    if status != JobStatus::Active {
        job.next_execution_time = None;
    }
    job.status = status;
    job.spec = spec.clone();
    job.updated_at = change.now;

    state.put_job(job.clone());
    Ok(Response::Job(Box::new(job)))
}

fn pause_job(state: &mut Pending, id: &str, now: Timestamp) -> Result<Response, StoreError> {
    let mut job = match state.existing_job(id)? {
        Ok(job) => job,
        Err(rejection) => return Ok(rejection),
    };
    job.status = JobStatus::Paused;
    job.next_execution_time = None;
    job.updated_at = now;
    state.put_job(job.clone());
    Ok(Response::Job(Box::new(job)))
}

fn resume_job(
    state: &mut Pending,
    id: &str,
    next_execution_time: Option<Timestamp>,
    now: Timestamp,
) -> Result<Response, StoreError> {
    let mut job = match state.existing_job(id)? {
        Ok(job) => job,
        Err(rejection) => return Ok(rejection),
    };
    job.status = JobStatus::Active;
    job.anchor = now;
    job.next_execution_time = next_execution_time;
    job.updated_at = now;
    state.put_job(job.clone());
    Ok(Response::Job(Box::new(job)))
}

fn delete_job(state: &mut Pending, id: &str) -> Result<Response, StoreError> {
    if let Err(rejection) = state.existing_job(id)? {
        return Ok(rejection);
    }

    for execution_id in state.trees.execution_ids_of_job(id)? {
        let execution =
            state
                .execution(&execution_id)?
                .ok_or_else(|| StoreError::DanglingIndexRow {
                    job_id: id.to_string(),
                    execution_id: execution_id.clone(),
                })?;
        state.remove_execution(execution);
    }
    state.remove_job(id);
    Ok(Response::Deleted(id.to_string()))
}

fn record_fires(
    state: &mut Pending,
    log_id: &LogId,
    intents: &[Intent],
) -> Result<Response, StoreError> {
    let mut decisions = Vec::with_capacity(intents.len());
    for intent in intents {
        let decision = match intent {
            Intent::Fire(fire) => decide_fire(state, log_id, fire)?,
            Intent::Retry(retry) => decide_retry(state, log_id, retry)?,
            Intent::Skip(skip) => record_skip(state, skip)?,
        };
        decisions.push(decision);
    }
    Ok(Response::Fires(decisions))
}

/// Counts missed instants on the job and moves its last and next instants forward.
fn record_skip(state: &mut Pending, skip: &SkipIntent) -> Result<FireDecision, StoreError> {
    let Some(mut job) = state.job(&skip.job_id)? else {
        return Ok(skipped(SkipReason::JobNotFound(skip.job_id.clone())));
    };
    job.stats.skipped_instants += u64::from(skip.instants);
    if job
        .last_execution_time
        .is_none_or(|last| skip.latest >= last)
    {
        job.last_execution_time = Some(skip.latest);
        job.next_execution_time = skip.next_execution_time;
    }
    state.put_job(job);
    Ok(skipped(SkipReason::Missed(skip.job_id.clone())))
}

fn skipped(reason: SkipReason) -> FireDecision {
    FireDecision::Skipped { reason }
}

fn decide_fire(
    state: &mut Pending,
    log_id: &LogId,
    fire: &FireIntent,
) -> Result<FireDecision, StoreError> {
    let Some(job) = state.job(&fire.job_id)? else {
        return Ok(skipped(SkipReason::JobNotFound(fire.job_id.clone())));
    };
    if fire.cause == Cause::Schedule && job.status != JobStatus::Active {
        return Ok(skipped(SkipReason::JobNotActive(fire.job_id.clone())));
    }

    let id = Execution::derive_id(&fire.job_id, fire.scheduled_time, fire.cause);
    if state.execution(&id)?.is_some() {
        return Ok(FireDecision::Duplicate(id));
    }
    if fire.cause == Cause::Retry && !retry_target_failed(state, fire)? {
        let retried = fire.retry_of.clone().unwrap_or_default();
        return Ok(skipped(SkipReason::NotRetryable(retried)));
    }

    let execution = new_execution(id, log_id, fire);
    if fire.cause == Cause::Schedule {
        advance_schedule(state, job, fire);
    }
    state.put_execution(execution.clone());
    Ok(FireDecision::Accepted(execution))
}

/// Returns whether the execution a RETRY fire retries exists, belongs to the job and FAILED.
fn retry_target_failed(state: &Pending, fire: &FireIntent) -> Result<bool, StoreError> {
    let Some(retried_id) = &fire.retry_of else {
        return Ok(false);
    };
    let retried = state.execution(retried_id)?;
    Ok(retried.is_some_and(|retried| {
        retried.job_id == fire.job_id && retried.status == ExecutionStatus::Failed
    }))
}

fn new_execution(id: ExecutionId, log_id: &LogId, fire: &FireIntent) -> Execution {
    let retry_of = match fire.cause {
        Cause::Retry => fire.retry_of.clone(),
        Cause::Schedule | Cause::Manual => None,
    };
    Execution {
        id,
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
        retry_of,
        redispatches: 0,
        attempt_term: log_id.leader_id.term,
        attempt_index: log_id.index,
    }
}

/// Moves the job's schedule past a schedule fire, unless the fire is older than the latest one.
fn advance_schedule(state: &mut Pending, mut job: Job, fire: &FireIntent) {
    let older = job
        .last_execution_time
        .is_some_and(|last| fire.scheduled_time < last);
    if older {
        return;
    }
    job.last_execution_time = Some(fire.scheduled_time);
    job.next_execution_time = fire.next_execution_time;
    state.put_job(job);
}

fn decide_retry(
    state: &mut Pending,
    log_id: &LogId,
    retry: &RetryIntent,
) -> Result<FireDecision, StoreError> {
    let stale = || skipped(SkipReason::StaleAttempt(retry.execution_id.clone()));
    let Some(mut execution) = state.execution(&retry.execution_id)? else {
        return Ok(stale());
    };

    let running = execution.status == ExecutionStatus::Running;
    if running && retry.attempt == execution.attempt_count {
        return Ok(FireDecision::Duplicate(execution.id));
    }
    let next_attempt = execution.attempt_count.checked_add(1);
    if execution.status.is_final() || next_attempt != Some(retry.attempt) {
        return Ok(stale());
    }

    execution.status = ExecutionStatus::Running;
    execution.attempt_count = retry.attempt;
    execution.next_retry_time = None;
    execution.attempt_term = log_id.leader_id.term;
    execution.attempt_index = log_id.index;
    state.put_execution(execution.clone());
    Ok(FireDecision::Accepted(execution))
}

fn record_outcomes(state: &mut Pending, outcomes: &[Outcome]) -> Result<Response, StoreError> {
    let mut applied: u32 = 0;
    for outcome in outcomes {
        if record_outcome(state, outcome)? {
            applied = applied.saturating_add(1);
        }
    }
    Ok(Response::Outcomes { applied })
}

/// Applies one outcome and returns false when it is stale and was ignored.
fn record_outcome(state: &mut Pending, outcome: &Outcome) -> Result<bool, StoreError> {
    let Some(mut execution) = state.execution(&outcome.execution_id)? else {
        return Ok(false);
    };
    let current =
        execution.status == ExecutionStatus::Running && outcome.attempt == execution.attempt_count;
    if !current {
        return Ok(false);
    }

    match &outcome.result {
        OutcomeResult::Success { status_code, body } => {
            execution.status = ExecutionStatus::Completed;
            execution.end_time = Some(outcome.finished_at);
            execution.next_retry_time = None;
            execution.result = Some(execution_result(*status_code, body));
            execution.error = None;
        }
        OutcomeResult::Failure {
            status_code,
            body,
            error,
            retryable,
        } => {
            if let Some(status_code) = status_code {
                let body = body.as_deref().unwrap_or_default();
                execution.result = Some(execution_result(*status_code, body));
            }
            execution.error = Some(error.clone());
            let delay = if *retryable {
                retry_delay(state, &execution.job_id, outcome.attempt)?
            } else {
                None
            };
            record_failure(&mut execution, outcome.finished_at, delay);
        }
    }
    state.put_execution(execution);
    Ok(true)
}

/// Returns the delay before the next attempt, or `None` when the job is gone or its retry strategy
/// allows no attempt after `attempt`.
fn retry_delay(state: &Pending, job_id: &str, attempt: u32) -> Result<Option<u64>, StoreError> {
    let retry = state.job(job_id)?.map(|job| job.spec.retry);
    Ok(retry
        .filter(|retry| retry.allows_after(attempt))
        .map(|retry| retry.delay_after(attempt)))
}

/// Marks a failed attempt RETRYING after `retry_delay` milliseconds, or FAILED without one.
fn record_failure(execution: &mut Execution, finished_at: Timestamp, retry_delay: Option<u64>) {
    match retry_delay {
        Some(delay) => {
            execution.status = ExecutionStatus::Retrying;
            execution.next_retry_time = Some(finished_at.plus_millis(delay));
        }
        None => {
            execution.status = ExecutionStatus::Failed;
            execution.end_time = Some(finished_at);
            execution.next_retry_time = None;
        }
    }
}

fn execution_result(status_code: u16, body: &str) -> ExecutionResult {
    ExecutionResult {
        status_code,
        body: cut_at_char_boundary(body, MAX_RESULT_BODY_BYTES).to_string(),
    }
}

/// Returns the longest prefix of `text` of at most `max_bytes` bytes that ends on a character
/// boundary.
fn cut_at_char_boundary(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
