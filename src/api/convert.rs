//! Conversions between domain types, protobuf messages and REST JSON bodies.
//!
//! Results go domain -> protobuf -> JSON: the REST layer converts a domain result to its
//! protobuf message, then to the JSON body, so REST and gRPC return the same data by
//! construction, and the CLI prints REST-shaped JSON from the gRPC messages it receives.
//! Client input goes protobuf -> [`JobInput`] on the server and [`JobInput`] -> protobuf in
//! the CLI; JSON input is read by [`JobInput::from_json`].

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::{
    Execution, ExecutionResult, Job, JobInput, RetryInput, RetryStrategy, Timestamp, Trigger,
    TriggerInput,
};
use crate::raft::{ClusterStatus, MemberStatus};

use super::pb;
use super::service::{Listing, Preview};

impl From<&Job> for pb::Job {
    fn from(job: &Job) -> Self {
        let Trigger::Http(http) = &job.spec.trigger;
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
        }
    }
}

impl From<RetryStrategy> for pb::RetryStrategy {
    fn from(retry: RetryStrategy) -> Self {
        pb::RetryStrategy {
            attempts: retry.attempts,
            backoff: retry.backoff.as_str().to_string(),
            interval: retry.interval_ms,
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

impl From<&ClusterStatus> for pb::ClusterStatus {
    fn from(status: &ClusterStatus) -> Self {
        pb::ClusterStatus {
            node_id: status.node_id,
            leader_id: status.leader_id,
            term: status.term,
            commit_index: status.commit_index,
            applied_index: status.applied_index,
            members: status.members.iter().map(pb::Member::from).collect(),
            last_log_index: status.last_log_index,
            snapshot_index: status.snapshot_index,
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
        }
    }
}

impl From<pb::JobInput> for JobInput {
    fn from(input: pb::JobInput) -> Self {
        JobInput {
            name: input.name,
            description: input.description,
            schedule: input.schedule,
            time_zone: input.time_zone,
            trigger_type: input.trigger_type,
            trigger: input.trigger_config.map(TriggerInput::from),
            retry: input.retry_strategy.map(RetryInput::from),
            status: input.status,
            tags: input.tags.map(|tags| tags.values),
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
            body: input.body,
            timeout_ms: input.timeout,
        }
    }
}

impl From<pb::RetryStrategyInput> for RetryInput {
    fn from(input: pb::RetryStrategyInput) -> Self {
        RetryInput {
            attempts: input.attempts,
            backoff: input.backoff,
            interval_ms: input.interval,
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
            body: input.body,
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
        }
    }
}

/// A job as a REST body.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JobJson {
    pub id: String,
    pub name: String,
    pub description: String,
    pub schedule: String,
    pub time_zone: String,
    pub trigger_type: String,
    pub trigger_config: TriggerConfigJson,
    pub retry_strategy: RetryStrategyJson,
    pub status: String,
    pub last_execution_time: Option<String>,
    pub next_execution_time: Option<String>,
    pub tags: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// The HTTP request of a job, as a REST body.
#[derive(Serialize, Debug, Clone, PartialEq, Default)]
pub struct TriggerConfigJson {
    pub url: String,
    pub method: String,
    /// Sorted by name, so output is stable.
    pub headers: BTreeMap<String, String>,
    pub body: Option<String>,
    /// Milliseconds.
    pub timeout: u64,
}

/// The retry settings of a job, as a REST body.
#[derive(Serialize, Debug, Clone, PartialEq, Default)]
pub struct RetryStrategyJson {
    pub attempts: u32,
    pub backoff: String,
    /// Milliseconds.
    pub interval: u64,
}

impl From<pb::Job> for JobJson {
    fn from(job: pb::Job) -> Self {
        JobJson {
            id: job.id,
            name: job.name,
            description: job.description,
            schedule: job.schedule,
            time_zone: job.time_zone,
            trigger_type: job.trigger_type,
            trigger_config: job.trigger_config.map(Into::into).unwrap_or_default(),
            retry_strategy: job.retry_strategy.map(Into::into).unwrap_or_default(),
            status: job.status,
            last_execution_time: job.last_execution_time,
            next_execution_time: job.next_execution_time,
            tags: job.tags,
            created_at: job.created_at,
            updated_at: job.updated_at,
        }
    }
}

impl From<pb::TriggerConfig> for TriggerConfigJson {
    fn from(config: pb::TriggerConfig) -> Self {
        TriggerConfigJson {
            url: config.url,
            method: config.method,
            headers: config.headers.into_iter().collect(),
            body: config.body,
            timeout: config.timeout,
        }
    }
}

impl From<pb::RetryStrategy> for RetryStrategyJson {
    fn from(retry: pb::RetryStrategy) -> Self {
        RetryStrategyJson {
            attempts: retry.attempts,
            backoff: retry.backoff,
            interval: retry.interval,
        }
    }
}

/// An execution as a REST body.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionJson {
    pub id: String,
    pub job_id: String,
    pub scheduled_time: String,
    pub start_time: String,
    pub end_time: Option<String>,
    pub status: String,
    pub attempt_count: u32,
    pub next_retry_time: Option<String>,
    pub result: Option<ExecutionResultJson>,
    pub error: Option<String>,
    pub cause: String,
    pub retry_of: Option<String>,
    /// Raft log index of the entry that started the current attempt.
    pub fencing_token: u64,
}

/// The target's response to the latest attempt, as a REST body.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionResultJson {
    pub status_code: u32,
    pub body: String,
}

impl From<pb::Execution> for ExecutionJson {
    fn from(execution: pb::Execution) -> Self {
        ExecutionJson {
            id: execution.id,
            job_id: execution.job_id,
            scheduled_time: execution.scheduled_time,
            start_time: execution.start_time,
            end_time: execution.end_time,
            status: execution.status,
            attempt_count: execution.attempt_count,
            next_retry_time: execution.next_retry_time,
            result: execution.result.map(ExecutionResultJson::from),
            error: execution.error,
            cause: execution.cause,
            retry_of: execution.retry_of,
            fencing_token: execution.fencing_token,
        }
    }
}

impl From<pb::ExecutionResult> for ExecutionResultJson {
    fn from(result: pb::ExecutionResult) -> Self {
        ExecutionResultJson {
            status_code: result.status_code,
            body: result.body,
        }
    }
}

/// One page of a list as a REST body.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct ListJson<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub limit: u32,
    pub total: u64,
}

impl From<pb::ListJobsResponse> for ListJson<JobJson> {
    fn from(list: pb::ListJobsResponse) -> Self {
        ListJson {
            items: list.items.into_iter().map(JobJson::from).collect(),
            page: list.page,
            limit: list.limit,
            total: list.total,
        }
    }
}

impl From<pb::ListExecutionsResponse> for ListJson<ExecutionJson> {
    fn from(list: pb::ListExecutionsResponse) -> Self {
        ListJson {
            items: list.items.into_iter().map(ExecutionJson::from).collect(),
            page: list.page,
            limit: list.limit,
            total: list.total,
        }
    }
}

/// A schedule preview as a REST body.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PreviewJson {
    pub schedule: String,
    pub time_zone: String,
    pub times: Vec<String>,
}

impl From<pb::PreviewScheduleResponse> for PreviewJson {
    fn from(preview: pb::PreviewScheduleResponse) -> Self {
        PreviewJson {
            schedule: preview.schedule,
            time_zone: preview.time_zone,
            times: preview.times,
        }
    }
}

/// The cluster status as a REST body.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClusterJson {
    pub node_id: u64,
    pub leader_id: Option<u64>,
    pub term: u64,
    pub commit_index: u64,
    pub applied_index: u64,
    pub last_log_index: u64,
    pub snapshot_index: u64,
    pub members: Vec<MemberJson>,
}

/// One cluster member as a REST body.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MemberJson {
    pub id: u64,
    pub role: String,
    pub client_addr: String,
    pub peer_addr: String,
}

impl From<pb::ClusterStatus> for ClusterJson {
    fn from(status: pb::ClusterStatus) -> Self {
        ClusterJson {
            node_id: status.node_id,
            leader_id: status.leader_id,
            term: status.term,
            commit_index: status.commit_index,
            applied_index: status.applied_index,
            last_log_index: status.last_log_index,
            snapshot_index: status.snapshot_index,
            members: status.members.into_iter().map(MemberJson::from).collect(),
        }
    }
}

impl From<pb::Member> for MemberJson {
    fn from(member: pb::Member) -> Self {
        MemberJson {
            id: member.id,
            role: member.role,
            client_addr: member.client_addr,
            peer_addr: member.peer_addr,
        }
    }
}

#[cfg(test)]
#[path = "convert_test.rs"]
mod tests;
