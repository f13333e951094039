//! Execution calls: manual trigger, retry of a failed execution, and reads.
//!
//! A trigger or retry only commits a fire intent. The leader's scheduler picks the new RUNNING
//! execution up from its state machine and dispatches it, so the call returns before the target
//! is reached.

use crate::model::{
    Cause, Command, Execution, ExecutionStatus, FireDecision, FireIntent, Intent, Response,
    SkipReason,
};

use super::query::{ExecutionQuery, page_of, parse_execution_status};
use super::{ApiService, Listing, not_found, require_id, unexpected};
use crate::api::error::ApiError;

/// The options of a manual run.
#[derive(Clone, Debug, Default)]
pub struct ManualRun {
    /// Run even when the job's concurrency policy would skip the run or end open runs.
    pub force: bool,
    /// The client's key: a second request with the same key starts nothing and returns the
    /// first run, for as long as the job keeps that run's record.
    pub idempotency_key: Option<String>,
}

/// The run a trigger request started, or found when its idempotency key was used before.
#[derive(Clone, Debug)]
pub struct Triggered {
    pub execution: Execution,
    /// The key was used before, and `execution` is the run that request started.
    pub replayed: bool,
}

impl ApiService {
    /// Starts a manual execution of a job now; returns the accepted RUNNING execution.
    ///
    /// `force` bypasses the job's concurrency policy: the run starts next to open runs even
    /// under FORBID, and ends none of them under REPLACE. A request with an idempotency key
    /// used before for this job returns that run, whatever its status.
    ///
    /// # Errors
    /// [`ApiError::FailedPrecondition`] naming the open execution when the job's policy is
    /// FORBID, a run is open and `force` is false. [`ApiError::InvalidArgument`] for an
    /// idempotency key that is empty, too long or not visible ASCII.
    pub async fn trigger_job(&self, id: &str, run: ManualRun) -> Result<Triggered, ApiError> {
        require_id("id", id)?;
        if let Some(key) = &run.idempotency_key {
            check_idempotency_key("idempotencyKey", key)?;
        }
        let mut intent = self.request_intent(id, Cause::Manual, None);
        intent.force = run.force;
        // A request without a key gets a new one, so two requests in the same millisecond are
        // two runs. A copy of this proposal carries the same key and starts nothing.
        let key = run.idempotency_key.clone();
        intent.request_key = Some(key.clone().unwrap_or_else(|| (self.new_id)()));
        match self.fire(intent, "id").await {
            Ok(execution) => Ok(Triggered {
                execution,
                replayed: false,
            }),
            // The key was used before, so the request is a repeat, and the first run is returned.
            Err(ApiError::AlreadyExists { value, .. }) => {
                self.cluster.read_barrier().await?;
                let execution = self.load_execution(id, &value)?;
                Ok(Triggered {
                    execution,
                    replayed: key.is_some(),
                })
            }
            Err(error) => Err(error),
        }
    }

    /// Starts a new execution that retries a FAILED one; returns the accepted execution.
    ///
    /// # Errors
    /// [`ApiError::FailedPrecondition`] when the execution is not FAILED.
    pub async fn retry_execution(
        &self,
        job_id: &str,
        execution_id: &str,
    ) -> Result<Execution, ApiError> {
        require_id("jobId", job_id)?;
        require_id("executionId", execution_id)?;
        self.cluster.read_barrier().await?;
        let execution = self.load_execution(job_id, execution_id)?;

        // The state machine checks this again when it applies the intent; checking here first
        // gives the usual case a precise message.
        if execution.status != ExecutionStatus::Failed {
            return Err(not_retryable(execution_id, Some(execution.status)));
        }

        let retry_of = Some(execution_id.to_string());
        let intent = self.request_intent(job_id, Cause::Retry, retry_of);
        self.fire(intent, "jobId").await
    }

    /// Reads one execution of a job (linearizable).
    pub async fn get_execution(
        &self,
        job_id: &str,
        execution_id: &str,
    ) -> Result<Execution, ApiError> {
        require_id("jobId", job_id)?;
        require_id("executionId", execution_id)?;
        self.cluster.read_barrier().await?;
        self.load_execution(job_id, execution_id)
    }

    /// Lists a job's executions, newest first (linearizable).
    pub async fn list_executions(
        &self,
        query: ExecutionQuery,
    ) -> Result<Listing<Execution>, ApiError> {
        require_id("jobId", &query.job_id)?;
        let page = page_of(query.page, query.limit)?;
        let status = query
            .status
            .as_deref()
            .map(parse_execution_status)
            .transpose()?;

        self.cluster.read_barrier().await?;
        self.load_job("jobId", &query.job_id)?;
        let paged = self.state.list_executions(&query.job_id, status, page)?;
        Ok(Listing::new(paged, page))
    }

    /// Reads an execution and checks that it belongs to `job_id`; call after a read barrier.
    fn load_execution(&self, job_id: &str, execution_id: &str) -> Result<Execution, ApiError> {
        match self.state.get_execution(execution_id)? {
            Some(execution) if execution.job_id == job_id => Ok(execution),
            _ => {
                // Name the job when it is the job that is missing.
                self.load_job("jobId", job_id)?;
                Err(not_found("executionId", execution_id))
            }
        }
    }

    /// Builds a fire intent for a run requested by a client, scheduled at the current instant.
    fn request_intent(&self, job_id: &str, cause: Cause, retry_of: Option<String>) -> FireIntent {
        let now = self.now();
        FireIntent {
            job_revision: None,
            job_id: job_id.to_string(),
            scheduled_time: now,
            cause,
            decided_at: now,
            next_execution_time: None,
            retry_of,
            caught_up: false,
            force: false,
            request_key: None,
        }
    }

    /// Commits one fire intent and returns the execution it started. `job_field` names the job
    /// in a NOT_FOUND error.
    async fn fire(&self, intent: FireIntent, job_field: &str) -> Result<Execution, ApiError> {
        let command = Command::RecordFires {
            intents: vec![Intent::Fire(intent)],
        };
        let response = self.cluster.write(command).await?;
        let decision = single_decision(response)?;
        accepted_execution(decision, job_field)
    }
}

fn single_decision(response: Response) -> Result<FireDecision, ApiError> {
    match response {
        Response::Fires(decisions) if decisions.len() == 1 => {
            Ok(decisions.into_iter().next().expect("length checked"))
        }
        Response::Rejected(rejection) => Err(rejection.into()),
        other => Err(unexpected(&other)),
    }
}

fn accepted_execution(decision: FireDecision, job_field: &str) -> Result<Execution, ApiError> {
    match decision {
        FireDecision::Accepted(execution) => Ok(execution),
        FireDecision::Duplicate(execution_id) => Err(ApiError::AlreadyExists {
            field: "executionId".to_string(),
            value: execution_id,
        }),
        FireDecision::Skipped { reason } => Err(skip_error(reason, job_field)),
    }
}

fn skip_error(reason: SkipReason, job_field: &str) -> ApiError {
    match reason {
        SkipReason::JobNotFound(job_id) => not_found(job_field, &job_id),
        SkipReason::JobNotActive(job_id) => ApiError::FailedPrecondition {
            field: job_field.to_string(),
            message: format!("job {job_id:?} is not ACTIVE; resume it first"),
            value: job_id,
        },
        SkipReason::ConcurrencyForbidden(execution_id) => ApiError::FailedPrecondition {
            field: "executionId".to_string(),
            message: format!(
                "the job's concurrencyPolicy FORBID allows no run while execution \
                 {execution_id:?} is open; wait until it ends, or trigger with force \
                 (REST ?force=true) to run anyway"
            ),
            value: execution_id,
        },
        SkipReason::StaleIntent(job_id) => ApiError::FailedPrecondition {
            field: job_field.to_string(),
            message: format!("job {job_id:?} changed while the run was requested; try again"),
            value: job_id,
        },
        SkipReason::Missed(job_id) => ApiError::Internal(format!(
            "a client run of job {job_id:?} was recorded as a missed instant"
        )),
        SkipReason::StaleAttempt(execution_id) => ApiError::FailedPrecondition {
            field: "executionId".to_string(),
            message: format!(
                "execution {execution_id:?} moved on to another attempt; read it and try again"
            ),
            value: execution_id,
        },
        SkipReason::NotRetryable(execution_id) => not_retryable(&execution_id, None),
    }
}

/// Longest accepted idempotency key, in bytes.
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 255;

/// Checks a client's idempotency key: 1 to 255 visible ASCII characters. `field` names the key
/// in the error, as the client sent it.
pub fn check_idempotency_key(field: &str, key: &str) -> Result<(), ApiError> {
    let visible = key.bytes().all(|byte| byte.is_ascii_graphic());
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_BYTES || !visible {
        let expected = format!(
            "expected 1 to {MAX_IDEMPOTENCY_KEY_BYTES} visible ASCII characters, without spaces"
        );
        return Err(ApiError::invalid(field, format!("{key:?}"), &expected));
    }
    Ok(())
}

/// Builds the error for a retry of an execution that is not FAILED, with its status when known.
fn not_retryable(execution_id: &str, status: Option<ExecutionStatus>) -> ApiError {
    let state = status.map_or("not FAILED", ExecutionStatus::as_str);
    ApiError::FailedPrecondition {
        field: "executionId".to_string(),
        value: execution_id.to_string(),
        message: format!(
            "execution {execution_id:?} is {state}; only a FAILED execution can be retried"
        ),
    }
}
