//! `RecordOutcomes`: the outcome of each attempt, and the retry decision.

use super::{Pending, StoreError};
use crate::model::{
    Execution, ExecutionResult, ExecutionStatus, MAX_RESULT_BODY_BYTES, Outcome, OutcomeResult,
    Response, Timestamp,
};

pub(super) fn record_outcomes(
    state: &mut Pending,
    outcomes: &[Outcome],
) -> Result<Response, StoreError> {
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
            let failure = Failure {
                status_code: *status_code,
                retryable: *retryable,
            };
            let delay = retry_delay(state, &execution.job_id, outcome, failure)?;
            record_failure(&mut execution, outcome.finished_at, delay);
        }
    }
    state.mark_retention_due(&execution.job_id, outcome.finished_at);
    state.put_execution(execution);
    Ok(true)
}

/// The parts of a failed attempt that decide whether it is retried.
#[derive(Clone, Copy)]
struct Failure {
    status_code: Option<u16>,
    retryable: bool,
}

/// Returns the delay before the next attempt, jitter included, or `None` when the failure is not
/// retried: the job is gone, the status code is not in the job's `retry_on` (the outcome's
/// `retryable` decides when there is no status code), or no attempt is allowed after this one.
fn retry_delay(
    state: &Pending,
    job_id: &str,
    outcome: &Outcome,
    failure: Failure,
) -> Result<Option<u64>, StoreError> {
    let Some(job) = state.job(job_id)? else {
        return Ok(None);
    };
    let retry = job.spec.retry;
    let worth_retrying = match failure.status_code {
        Some(code) => retry.retries_status(code),
        None => failure.retryable,
    };
    if !worth_retrying || !retry.allows_after(outcome.attempt) {
        return Ok(None);
    }
    Ok(Some(
        retry.delay_with_jitter(outcome.attempt, outcome.jitter_sample),
    ))
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
