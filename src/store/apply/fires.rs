//! `RecordFires`: fire, retry and skip intents, and the job's concurrency policy.

use super::{Pending, StoreError};
use crate::model::{
    Cause, ConcurrencyPolicy, Execution, ExecutionId, ExecutionStatus, FireDecision, FireIntent,
    Intent, Job, JobStatus, Response, RetryIntent, SkipIntent, SkipReason, Timestamp,
};
use crate::raft_types::LogId;

pub(super) fn record_fires(
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
    // A skip computed before a pause or an update, or one applied twice after a re-proposal,
    // changes nothing: the instants it counts are gone or counted already.
    let counted = job
        .last_execution_time
        .is_some_and(|last| skip.latest <= last);
    if skip.job_revision != job.revision || job.status != JobStatus::Active || counted {
        return Ok(skipped(SkipReason::StaleIntent(skip.job_id.clone())));
    }
    job.stats.skipped_instants += u64::from(skip.instants);
    job.last_execution_time = Some(skip.latest);
    job.next_execution_time = skip.next_execution_time;
    state.put_job(job);
    Ok(skipped(SkipReason::Missed(skip.job_id.clone())))
}

/// Returns the id of the execution `fire` starts: derived from what it retries, from the
/// client's idempotency key, or from the job, instant and cause.
fn execution_id_of(fire: &FireIntent) -> ExecutionId {
    match (&fire.cause, &fire.retry_of, &fire.request_key) {
        (Cause::Retry, Some(retry_of), _) => Execution::derive_retry_id(retry_of),
        (Cause::Manual, _, Some(key)) => Execution::derive_request_id(&fire.job_id, key),
        _ => Execution::derive_id(&fire.job_id, fire.scheduled_time, fire.cause),
    }
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
    if fire
        .job_revision
        .is_some_and(|revision| revision != job.revision)
    {
        return Ok(skipped(SkipReason::StaleIntent(fire.job_id.clone())));
    }

    let id = execution_id_of(fire);
    if state.execution(&id)?.is_some() {
        return Ok(FireDecision::Duplicate(id));
    }
    if is_pruned_instant(&job, fire) {
        return Ok(skipped(SkipReason::StaleIntent(fire.job_id.clone())));
    }
    if fire.cause == Cause::Retry && !retry_target_failed(state, fire)? {
        let retried = fire.retry_of.clone().unwrap_or_default();
        return Ok(skipped(SkipReason::NotRetryable(retried)));
    }

    // The state machine applies the policy, not the leader, so it survives leader changes.
    if !fire.force {
        match job.spec.policies.concurrency {
            ConcurrencyPolicy::Allow => {}
            ConcurrencyPolicy::Forbid => {
                if let Some(open_id) = state.first_open_execution_of_job(&job.id)? {
                    return Ok(skip_forbidden(state, job, fire, open_id));
                }
            }
            ConcurrencyPolicy::Replace => {
                replace_open_executions(state, &job.id, &id, fire.decided_at)?;
            }
        }
    }

    let execution = new_execution(id, log_id, fire);
    let mut changed = job.clone();
    if fire.caught_up {
        changed.stats.caught_up_instants += 1;
    }
    if fire.cause == Cause::Schedule {
        advance_schedule(&mut changed, fire);
    }
    if changed != job {
        state.put_job(changed);
    }
    state.put_execution(execution.clone());
    state.mark_retention_due(&fire.job_id, fire.decided_at);
    Ok(FireDecision::Accepted(execution))
}

/// Returns whether `fire` is a schedule instant at or before the job's `pruned_through`. When its
/// execution is missing, such a fire may be a copy of an intent whose execution was pruned.
fn is_pruned_instant(job: &Job, fire: &FireIntent) -> bool {
    fire.cause == Cause::Schedule
        && job
            .pruned_through
            .is_some_and(|through| fire.scheduled_time <= through)
}

/// Counts a fire that FORBID skips because `open_id` is still open. A schedule fire still moves
/// the job past its instant, so the job goes on to its next one.
fn skip_forbidden(
    state: &mut Pending,
    mut job: Job,
    fire: &FireIntent,
    open_id: ExecutionId,
) -> FireDecision {
    // Only schedule instants count: a rejected manual run or retry gets an error response.
    if fire.cause == Cause::Schedule {
        job.stats.skipped_instants += 1;
        advance_schedule(&mut job, fire);
        state.put_job(job);
    }
    skipped(SkipReason::ConcurrencyForbidden(open_id))
}

/// Ends every open execution of the job as FAILED, replaced by execution `new_id`.
fn replace_open_executions(
    state: &mut Pending,
    job_id: &str,
    new_id: &str,
    decided_at: Timestamp,
) -> Result<(), StoreError> {
    for mut execution in state.open_executions_of_job(job_id)? {
        execution.status = ExecutionStatus::Failed;
        execution.end_time = Some(decided_at);
        execution.next_retry_time = None;
        execution.error = Some(format!("replaced by execution {new_id}"));
        state.put_execution(execution);
    }
    Ok(())
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
fn advance_schedule(job: &mut Job, fire: &FireIntent) {
    let older = job
        .last_execution_time
        .is_some_and(|last| fire.scheduled_time < last);
    if older {
        return;
    }
    job.last_execution_time = Some(fire.scheduled_time);
    job.next_execution_time = fire.next_execution_time;
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
    if retry.in_doubt {
        execution.redispatches = execution.redispatches.saturating_add(1);
    }
    state.put_execution(execution.clone());
    state.mark_retention_due(&execution.job_id, retry.decided_at);
    Ok(FireDecision::Accepted(execution))
}
