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
//!   A smaller retention takes effect at the job's next `RecordFires` or `RecordOutcomes`.
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
//!     decision is `Duplicate(id)` and nothing changes. When it does not, a `Schedule` fire at
//!     or before the job's `pruned_through` gives `Skipped(StaleIntent)` and changes nothing,
//!     because retention may have removed the execution of that decision. A `Retry` fire needs
//!     `retry_of` to name a FAILED execution of the same job, else
//!     `Skipped(NotRetryable(retry_of))`, with an empty id when `retry_of` is absent.
//!
//!     Then the job's concurrency policy applies, to every cause, unless the intent has
//!     `force: true`. An execution is open while it is RUNNING or RETRYING.
//!     - ALLOW: no check.
//!     - FORBID: when the job has an open execution, the decision is
//!       `Skipped(ConcurrencyForbidden(open_id))`, naming its open execution with the oldest
//!       scheduled time, and `job.stats.skipped_instants += 1`. A `Schedule` fire also moves the
//!       job's last and next instants as an accepted one would (below), so the job goes on to
//!       its next instant. No execution is created.
//!     - REPLACE: every open execution of the job becomes FAILED with
//!       `error = "replaced by execution <new id>"`, `end_time = decided_at` and no
//!       `next_retry_time`, so it leaves the open set. Then the new execution starts.
//!
//!     Otherwise a RUNNING execution is created with `attempt_count = 1`,
//!     `start_time = decided_at`, `attempt_term` and `attempt_index` from the applying entry's
//!     log id, `redispatches = 0`, and `retry_of` kept only for the `Retry` cause. An intent
//!     with `caught_up: true` adds one to `job.stats.caught_up_instants`. For a `Schedule` fire
//!     whose instant is not older than the job's `last_execution_time`, the job gets
//!     `last_execution_time = scheduled_time` and the intent's `next_execution_time`, so a late
//!     intent for an older instant never moves the job back. Returns `Accepted(execution)`.
//!   - `Retry`: a missing execution gives `Skipped(StaleAttempt)`. `attempt == attempt_count` on
//!     a RUNNING execution gives `Duplicate(id)`: that attempt was accepted before. A final
//!     status (COMPLETED, FAILED) or `attempt != attempt_count + 1` gives `Skipped(StaleAttempt)`.
//!     Otherwise the execution becomes RUNNING with `attempt_count = attempt`,
//!     `next_retry_time = None` and the applying entry's log id as attempt term and index, and
//!     `redispatches += 1` when the intent has `in_doubt: true`. Returns `Accepted(execution)`.
//!   - `Skip { job_id, instants, latest, next_execution_time }`: a missing job gives
//!     `Skipped(JobNotFound)`. Otherwise `job.stats.skipped_instants += instants`, and unless
//!     `latest` is older than the job's `last_execution_time`, the job gets
//!     `last_execution_time = latest` and the intent's `next_execution_time`. Returns
//!     `Skipped(Missed(job_id))`.
//! - `RecordOutcomes { outcomes }`: an outcome is applied only when its execution exists, is
//!   RUNNING, and `attempt == attempt_count`. Any other outcome is stale and ignored.
//!   - `Success`: COMPLETED, `end_time = finished_at`, `result = { status_code, body }`,
//!     `error = None`.
//!   - `Failure`: `result` is replaced only when the target returned a status code, so it keeps
//!     the latest response, and `error` is set. A failure with a status code is retryable when
//!     `job.spec.retry.retries_status(status_code)`, and one without a status code when the
//!     outcome's `retryable` is true. When the failure is retryable, the job still exists and
//!     `job.spec.retry.allows_after(attempt)`, the execution becomes RETRYING with
//!     `next_retry_time = finished_at + delay_with_jitter(attempt, jitter_sample)`, otherwise
//!     FAILED with `end_time = finished_at`.
//!
//!   Bodies longer than [`crate::model::MAX_RESULT_BODY_BYTES`] are cut at a character boundary. Returns
//!   `Response::Outcomes { applied }`, the number of outcomes that changed an execution.
//!
//! Retention, after `RecordFires` and `RecordOutcomes`: every job with an accepted `Fire` or
//! `Retry` intent or an applied outcome in the command loses its finished (COMPLETED or FAILED)
//! executions beyond `retention.max_count`, oldest scheduled first, and those whose
//! `scheduled_time` is before `instant - retention.max_age_ms`. `instant` is the latest
//! `decided_at` or `finished_at` of that job's intents and outcomes in the command, never the
//! clock. Open executions are never removed. Removed executions lose their index rows too, and
//! get no event of their own, except one the same command finished: its final state is sent.
//! When retention removes `Schedule` executions, the job's `pruned_through` becomes the latest
//! `scheduled_time` among them, unless it is later already, and a `JobChanged` event follows.
//! Pruning reads the job's index rows and their `open_executions` rows, so its cost grows with
//! `retention.max_count` plus the job's open executions.
//!
//! NOTE: `pruned_through` cannot tell a pruned decision from an instant whose first proposal
//! never committed. Such an instant at or before it is rejected as well, so it neither runs nor
//! is counted. Only `Schedule` executions raise it, because a manual instant is a request time
//! read on the proposing node's clock, and a watermark would reject new triggers from a node
//! whose clock is behind. So a copy of a manual intent whose execution was pruned is accepted
//! again. A copy of a `Retry` fire is rejected as `NotRetryable` once the FAILED execution it
//! retries is pruned, which happens first because that execution has the earlier instant,
//! unless node clocks disagree. A FORBID skip leaves no record, so a copy of its intent is
//! counted again, or accepted when the job has no open execution by then.

mod fires;
mod outcomes;
mod retention;

use std::collections::{BTreeMap, BTreeSet};

use super::error::StoreError;
use super::events::StateEvent;
use super::trees::{StateTrees, StateWrites};
use crate::model::{
    Command, Execution, ExecutionId, Job, JobId, JobSpec, JobStatus, Rejection, Response, Timestamp,
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
    /// Removed by retention after the same command finished it. The record is the final state,
    /// announced by an event so that followers of open executions let it go.
    FinishedAndRemoved(Execution),
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
                ExecutionChange::Removed(execution)
                | ExecutionChange::FinishedAndRemoved(execution) => {
                    writes.remove_execution(execution)
                }
            }
        }
        Ok(())
    }

    /// Returns the events that announce these changes: jobs first, then executions.
    ///
    /// Removed executions get no event of their own: those removed with their job are
    /// announced by `JobChanged { job: None }`, and those removed by retention were already
    /// final. The exception is an execution finished and removed by the same command, whose
    /// final state is sent.
    pub(crate) fn into_events(self) -> Vec<StateEvent> {
        let jobs = self
            .jobs
            .into_iter()
            .map(|(job_id, job)| StateEvent::JobChanged {
                job_id,
                job: job.map(Box::new),
            });
        let executions = self
            .executions
            .into_values()
            .filter_map(|change| match change {
                ExecutionChange::Put(execution)
                | ExecutionChange::FinishedAndRemoved(execution) => {
                    Some(StateEvent::ExecutionChanged(execution))
                }
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
    let before = changed_job_id(command)
        .map(|id| state.job(id))
        .transpose()?
        .flatten();
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
        Command::RecordFires { intents } => fires::record_fires(&mut state, log_id, intents)?,
        Command::RecordOutcomes { outcomes } => outcomes::record_outcomes(&mut state, outcomes)?,
    };
    let response = stamp_revision(&mut state, log_id, before.as_ref(), response);
    retention::prune_due_histories(&mut state)?;
    Ok((response, state.changes))
}

/// The job a client command changes, if it is not a create.
fn changed_job_id(command: &Command) -> Option<&str> {
    match command {
        Command::UpdateJob { id, .. }
        | Command::PauseJob { id, .. }
        | Command::ResumeJob { id, .. } => Some(id),
        _ => None,
    }
}

/// Sets the revision of a job that a client command created, or whose schedule, time zone,
/// status or anchor it changed; only client commands answer with `Response::Job`. Other
/// changes (a new name, say) keep the revision, so intents in flight stay valid.
fn stamp_revision(
    state: &mut Pending,
    log_id: &LogId,
    before: Option<&Job>,
    response: Response,
) -> Response {
    let Response::Job(mut job) = response else {
        return response;
    };
    let timing_changed = before.is_none_or(|old| {
        old.spec.schedule != job.spec.schedule
            || old.spec.time_zone != job.spec.time_zone
            || old.status != job.status
            || old.anchor != job.anchor
    });
    if timing_changed {
        job.revision = log_id.index;
        state.put_job((*job).clone());
    }
    Response::Job(job)
}

/// The stored state with the changes made so far by the command being applied.
struct Pending<'a> {
    trees: &'a StateTrees,
    changes: Changes,
    /// Ids of the executions in `changes`, by job, so a job's history can be read without
    /// going through every change of the command.
    changed_by_job: BTreeMap<JobId, BTreeSet<ExecutionId>>,
    /// Jobs whose history retention prunes after the command, with the command's instant.
    retention_due: BTreeMap<JobId, Timestamp>,
}

/// One execution of a job as the index rows and the `open_executions` tree show it.
struct ExecutionRow {
    scheduled_time: Timestamp,
    id: ExecutionId,
    /// RUNNING or RETRYING.
    open: bool,
}

impl<'a> Pending<'a> {
    fn new(trees: &'a StateTrees) -> Self {
        Pending {
            trees,
            changes: Changes::default(),
            changed_by_job: BTreeMap::new(),
            retention_due: BTreeMap::new(),
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
            Some(ExecutionChange::Removed(_) | ExecutionChange::FinishedAndRemoved(_)) => Ok(None),
            None => self.trees.execution(id),
        }
    }

    /// Loads an execution that an index row of `job_id` names; a missing one is an error.
    fn indexed_execution(&self, job_id: &str, id: &str) -> Result<Execution, StoreError> {
        self.execution(id)?
            .ok_or_else(|| StoreError::DanglingIndexRow {
                job_id: job_id.to_string(),
                execution_id: id.to_string(),
            })
    }

    /// Returns the job's executions, oldest scheduled time first, with this command's changes.
    ///
    /// Stored rows are read from the index and the `open_executions` tree without decoding any
    /// execution.
    fn execution_rows_of_job(&self, job_id: &str) -> Result<Vec<ExecutionRow>, StoreError> {
        let changed = self.changed_by_job.get(job_id);
        let mut rows = BTreeMap::new();
        for (scheduled_time, id) in self.trees.index_rows_of_job(job_id)? {
            if changed.is_some_and(|ids| ids.contains(&id)) {
                continue;
            }
            let open = self.trees.is_open(&id)?;
            rows.insert((scheduled_time, id), open);
        }
        for id in changed.into_iter().flatten() {
            if let Some(ExecutionChange::Put(execution)) = self.changes.executions.get(id) {
                rows.insert((execution.scheduled_time, id.clone()), execution.is_open());
            }
        }
        let rows = rows
            .into_iter()
            .map(|((scheduled_time, id), open)| ExecutionRow {
                scheduled_time,
                id,
                open,
            });
        Ok(rows.collect())
    }

    /// Returns the id of the job's open execution with the oldest scheduled time.
    fn first_open_execution_of_job(&self, job_id: &str) -> Result<Option<ExecutionId>, StoreError> {
        let rows = self.execution_rows_of_job(job_id)?;
        Ok(rows.into_iter().find(|row| row.open).map(|row| row.id))
    }

    /// Returns the job's open executions, oldest scheduled time first.
    fn open_executions_of_job(&self, job_id: &str) -> Result<Vec<Execution>, StoreError> {
        let mut open = Vec::new();
        for row in self.execution_rows_of_job(job_id)? {
            if row.open {
                open.push(self.indexed_execution(job_id, &row.id)?);
            }
        }
        Ok(open)
    }

    /// Marks the job's history for pruning after the command, at the latest `instant` given.
    fn mark_retention_due(&mut self, job_id: &str, instant: Timestamp) {
        let due = self
            .retention_due
            .entry(job_id.to_string())
            .or_insert(instant);
        *due = (*due).max(instant);
    }

    fn put_job(&mut self, job: Job) {
        self.changes.jobs.insert(job.id.clone(), Some(job));
    }

    fn remove_job(&mut self, id: &str) {
        self.changes.jobs.insert(id.to_string(), None);
    }

    fn put_execution(&mut self, execution: Execution) {
        self.note_changed(&execution);
        let id = execution.id.clone();
        self.changes
            .executions
            .insert(id, ExecutionChange::Put(execution));
    }

    fn remove_execution(&mut self, execution: Execution) {
        self.note_changed(&execution);
        let id = execution.id.clone();
        self.changes
            .executions
            .insert(id, ExecutionChange::Removed(execution));
    }

    /// Removes a finished execution for retention. One that this command changed keeps its
    /// final state for the event.
    fn prune_execution(&mut self, execution: Execution) {
        self.note_changed(&execution);
        let id = execution.id.clone();
        let change = match self.changes.executions.get(&id) {
            Some(ExecutionChange::Put(_)) => ExecutionChange::FinishedAndRemoved(execution),
            _ => ExecutionChange::Removed(execution),
        };
        self.changes.executions.insert(id, change);
    }

    fn note_changed(&mut self, execution: &Execution) {
        self.changed_by_job
            .entry(execution.job_id.clone())
            .or_default()
            .insert(execution.id.clone());
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
