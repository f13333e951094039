//! Conversions between domain types, protobuf messages and REST JSON bodies.
//!
//! Results go domain -> protobuf -> JSON: the REST layer converts a domain result to its
//! protobuf message, then to the JSON body, so REST and gRPC return the same data by
//! construction, and the CLI prints REST-shaped JSON from the gRPC messages it receives.
//! Client input goes protobuf -> [`JobInput`] on the server and [`JobInput`] -> protobuf in
//! the CLI; JSON input is read by [`JobInput::from_json`]. The REST bodies and their
//! conversions from protobuf are in `json.rs`.

mod json;

use crate::model::{
    Execution, ExecutionResult, Job, JobInput, PoliciesInput, Retention, RetentionInput,
    RetryInput, RetryStrategy, Timestamp, Trigger, TriggerInput, ValidationError,
};
use crate::raft::MemberStatus;

use super::pb;
use super::service::{Listing, NodeStatus, Preview};

pub use json::{
    ClusterJson, ExecutionJson, ExecutionResultJson, JobJson, ListJson, MemberJson, PreviewJson,
    RetentionJson, RetryStrategyJson, TriggerConfigJson,
};

impl From<&Job> for pb::Job {
    fn from(job: &Job) -> Self {
        let Trigger::Http(http) = &job.spec.trigger;
        let policies = &job.spec.policies;
        pb::Job {
            id: job.id.clone(),
            name: job.spec.name.clone(),
            description: job.spec.description.clone(),
            schedule: job.spec.schedule.clone(),
            time_zone: job.spec.time_zone.clone(),
            trigger_type: job.spec.trigger.trigger_type().as_str().to_string(),
            trigger_config: Some(pb::TriggerConfig {
                url: http.url.clone(),
                method: http.method.clone(),
                headers: http.headers.clone().into_iter().collect(),
                body: http.body.clone(),
                timeout: http.timeout_ms,
            }),
            retry_strategy: Some(pb::RetryStrategy::from(job.spec.retry.clone())),
            status: job.status.as_str().to_string(),
            last_execution_time: job.last_execution_time.map(Timestamp::to_rfc3339),
            next_execution_time: job.next_execution_time.map(Timestamp::to_rfc3339),
            tags: job.spec.tags.clone(),
            created_at: job.created_at.to_rfc3339(),
            updated_at: job.updated_at.to_rfc3339(),
            misfire_policy: policies.misfire.as_str().to_string(),
            max_catch_up: policies.max_catch_up,
            starting_deadline: policies.starting_deadline_ms,
            concurrency_policy: policies.concurrency.as_str().to_string(),
            retention: Some(pb::Retention::from(policies.retention)),
            skipped_instants: job.stats.skipped_instants,
            caught_up_instants: job.stats.caught_up_instants,
        }
    }
}

impl From<Retention> for pb::Retention {
    fn from(retention: Retention) -> Self {
        pb::Retention {
            max_count: retention.max_count,
            max_age: retention.max_age_ms,
        }
    }
}

impl From<RetryStrategy> for pb::RetryStrategy {
    fn from(retry: RetryStrategy) -> Self {
        pb::RetryStrategy {
            attempts: retry.attempts,
            backoff: retry.backoff.as_str().to_string(),
            interval: retry.interval_ms,
            max_interval: retry.max_interval_ms,
            jitter: f64::from(retry.jitter_permille) / 1000.0,
            retry_on: retry
                .retry_on
                .unwrap_or_default()
                .into_iter()
                .map(u32::from)
                .collect(),
        }
    }
}

impl From<&Execution> for pb::Execution {
    fn from(execution: &Execution) -> Self {
        pb::Execution {
            id: execution.id.clone(),
            job_id: execution.job_id.clone(),
            scheduled_time: execution.scheduled_time.to_rfc3339(),
            start_time: execution.start_time.to_rfc3339(),
            end_time: execution.end_time.map(Timestamp::to_rfc3339),
            status: execution.status.as_str().to_string(),
            attempt_count: execution.attempt_count,
            next_retry_time: execution.next_retry_time.map(Timestamp::to_rfc3339),
            result: execution.result.as_ref().map(pb::ExecutionResult::from),
            error: execution.error.clone(),
            cause: execution.cause.as_str().to_string(),
            retry_of: execution.retry_of.clone(),
            fencing_token: execution.attempt_index,
            redispatches: execution.redispatches,
        }
    }
}

impl From<&ExecutionResult> for pb::ExecutionResult {
    fn from(result: &ExecutionResult) -> Self {
        pb::ExecutionResult {
            status_code: u32::from(result.status_code),
            body: result.body.clone(),
        }
    }
}

impl From<&Listing<Job>> for pb::ListJobsResponse {
    fn from(listing: &Listing<Job>) -> Self {
        pb::ListJobsResponse {
            items: listing.items.iter().map(pb::Job::from).collect(),
            page: listing.page,
            limit: listing.limit,
            total: listing.total,
        }
    }
}

impl From<&Listing<Execution>> for pb::ListExecutionsResponse {
    fn from(listing: &Listing<Execution>) -> Self {
        pb::ListExecutionsResponse {
            items: listing.items.iter().map(pb::Execution::from).collect(),
            page: listing.page,
            limit: listing.limit,
            total: listing.total,
        }
    }
}

impl From<&Preview> for pb::PreviewScheduleResponse {
    fn from(preview: &Preview) -> Self {
        pb::PreviewScheduleResponse {
            schedule: preview.schedule.clone(),
            time_zone: preview.time_zone.clone(),
            times: preview.times.iter().map(|at| at.to_rfc3339()).collect(),
        }
    }
}

impl From<&NodeStatus> for pb::ClusterStatus {
    fn from(node: &NodeStatus) -> Self {
        let status = &node.cluster;
        let scheduler = node.scheduler.as_ref();
        pb::ClusterStatus {
            node_id: status.node_id,
            leader_id: status.leader_id,
            term: status.term,
            commit_index: status.commit_index,
            applied_index: status.applied_index,
            members: status.members.iter().map(pb::Member::from).collect(),
            last_log_index: status.last_log_index,
            snapshot_index: status.snapshot_index,
            quorum_ok: status.quorum_ok,
            scheduler_ok: scheduler.map(|health| !health.is_failing()),
            scheduler_failures: scheduler.map(|health| health.consecutive_failures),
            scheduler_last_error: scheduler.and_then(|health| health.last_error.clone()),
        }
    }
}

impl From<&MemberStatus> for pb::Member {
    fn from(member: &MemberStatus) -> Self {
        pb::Member {
            id: member.id,
            role: member.role.clone(),
            client_addr: member.client_addr.clone(),
            peer_addr: member.peer_addr.clone(),
            reachable: member.reachable,
            last_contact_ms: member.last_contact_ms,
            last_error: member.last_error.clone(),
        }
    }
}

impl TryFrom<pb::JobInput> for JobInput {
    type Error = ValidationError;

    fn try_from(input: pb::JobInput) -> Result<Self, ValidationError> {
        let retry = input.retry_strategy.map(RetryInput::try_from).transpose()?;
        Ok(JobInput {
            name: input.name,
            description: input.description,
            schedule: input.schedule,
            time_zone: input.time_zone,
            trigger_type: input.trigger_type,
            trigger: input.trigger_config.map(TriggerInput::from),
            retry,
            status: input.status,
            tags: input.tags.map(|tags| tags.values),
            policies: PoliciesInput {
                misfire: input.misfire_policy,
                max_catch_up: input.max_catch_up,
                starting_deadline_ms: input.starting_deadline.map(|deadline| deadline.value),
                concurrency: input.concurrency_policy,
                retention: input.retention.map(RetentionInput::from),
            },
        })
    }
}

impl From<pb::RetentionInput> for RetentionInput {
    fn from(input: pb::RetentionInput) -> Self {
        RetentionInput {
            max_count: input.max_count,
            max_age_ms: input.max_age,
        }
    }
}

impl From<pb::TriggerConfigInput> for TriggerInput {
    fn from(input: pb::TriggerConfigInput) -> Self {
        TriggerInput {
            url: input.url,
            method: input.method,
            headers: input
                .headers
                .map(|headers| headers.values.into_iter().collect()),
            // Protobuf cannot send a null, so an empty body removes the body.
            body: input.body.map(|body| (!body.is_empty()).then_some(body)),
            body_is_json: false,
            timeout_ms: input.timeout,
        }
    }
}

impl TryFrom<pb::RetryStrategyInput> for RetryInput {
    type Error = ValidationError;

    fn try_from(input: pb::RetryStrategyInput) -> Result<Self, ValidationError> {
        let retry_on = input.retry_on.map(|codes| codes.values);
        Ok(RetryInput {
            attempts: input.attempts,
            backoff: input.backoff,
            interval_ms: input.interval,
            max_interval_ms: set_or_reset(
                "maxInterval",
                input.max_interval,
                input.reset_max_interval,
            )?,
            jitter: input.jitter,
            retry_on: set_or_reset("retryOn", retry_on, input.reset_retry_on)?,
        })
    }
}

/// Combines a value and its reset flag into "unchanged", "reset" or "set".
fn set_or_reset<T: std::fmt::Debug>(
    field: &str,
    value: Option<T>,
    reset: bool,
) -> Result<Option<Option<T>>, ValidationError> {
    match (value, reset) {
        (None, false) => Ok(None),
        (None, true) => Ok(Some(None)),
        (Some(value), false) => Ok(Some(Some(value))),
        (Some(value), true) => {
            let path = format!("retryStrategy.{field}");
            let expected = "expected either a value or a reset, not both";
            Err(ValidationError::new(&path, format!("{value:?}"), expected))
        }
    }
}

impl From<JobInput> for pb::JobInput {
    fn from(input: JobInput) -> Self {
        pb::JobInput {
            name: input.name,
            description: input.description,
            schedule: input.schedule,
            time_zone: input.time_zone,
            trigger_type: input.trigger_type,
            trigger_config: input.trigger.map(pb::TriggerConfigInput::from),
            retry_strategy: input.retry.map(pb::RetryStrategyInput::from),
            status: input.status,
            tags: input.tags.map(|values| pb::Tags { values }),
            misfire_policy: input.policies.misfire,
            max_catch_up: input.policies.max_catch_up,
            starting_deadline: input
                .policies
                .starting_deadline_ms
                .map(|value| pb::StartingDeadline { value }),
            concurrency_policy: input.policies.concurrency,
            retention: input.policies.retention.map(pb::RetentionInput::from),
        }
    }
}

impl From<RetentionInput> for pb::RetentionInput {
    fn from(input: RetentionInput) -> Self {
        pb::RetentionInput {
            max_count: input.max_count,
            max_age: input.max_age_ms,
        }
    }
}

impl From<TriggerInput> for pb::TriggerConfigInput {
    fn from(input: TriggerInput) -> Self {
        pb::TriggerConfigInput {
            url: input.url,
            method: input.method,
            headers: input.headers.map(|headers| pb::Headers {
                values: headers.into_iter().collect(),
            }),
            body: input.body.map(Option::unwrap_or_default),
            timeout: input.timeout_ms,
        }
    }
}

impl From<RetryInput> for pb::RetryStrategyInput {
    fn from(input: RetryInput) -> Self {
        pb::RetryStrategyInput {
            attempts: input.attempts,
            backoff: input.backoff,
            interval: input.interval_ms,
            max_interval: input.max_interval_ms.flatten(),
            jitter: input.jitter,
            retry_on: input
                .retry_on
                .clone()
                .flatten()
                .map(|values| pb::StatusCodes { values }),
            reset_max_interval: input.max_interval_ms == Some(None),
            reset_retry_on: input.retry_on == Some(None),
        }
    }
}

#[cfg(test)]
#[path = "convert_test.rs"]
mod tests;
