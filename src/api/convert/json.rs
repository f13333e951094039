//! REST bodies: camelCase JSON built from the protobuf messages, so REST and gRPC return the
//! same data.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::api::pb;

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
    pub misfire_policy: String,
    pub max_catch_up: u32,
    /// Milliseconds.
    pub starting_deadline: Option<u64>,
    pub concurrency_policy: String,
    pub retention: RetentionJson,
    pub status: String,
    pub last_execution_time: Option<String>,
    pub next_execution_time: Option<String>,
    pub skipped_instants: u64,
    pub caught_up_instants: u64,
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
#[serde(rename_all = "camelCase")]
pub struct RetryStrategyJson {
    pub attempts: u32,
    pub backoff: String,
    /// Milliseconds.
    pub interval: u64,
    /// Milliseconds; `null` means one day.
    pub max_interval: Option<u64>,
    /// Share of the delay, from 0.0 to 1.0.
    pub jitter: f64,
    /// `null` means every 5xx and 429.
    pub retry_on: Option<Vec<u32>>,
}

/// The history retention of a job, as a REST body.
#[derive(Serialize, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct RetentionJson {
    pub max_count: u32,
    /// Milliseconds.
    pub max_age: u64,
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
            misfire_policy: job.misfire_policy,
            max_catch_up: job.max_catch_up,
            starting_deadline: job.starting_deadline,
            concurrency_policy: job.concurrency_policy,
            retention: job.retention.map(Into::into).unwrap_or_default(),
            status: job.status,
            last_execution_time: job.last_execution_time,
            next_execution_time: job.next_execution_time,
            skipped_instants: job.skipped_instants,
            caught_up_instants: job.caught_up_instants,
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
            max_interval: retry.max_interval,
            jitter: retry.jitter,
            retry_on: (!retry.retry_on.is_empty()).then_some(retry.retry_on),
        }
    }
}

impl From<pb::Retention> for RetentionJson {
    fn from(retention: pb::Retention) -> Self {
        RetentionJson {
            max_count: retention.max_count,
            max_age: retention.max_age,
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
    /// Attempts sent again because an earlier leader left them without an outcome.
    pub redispatches: u32,
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
            redispatches: execution.redispatches,
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
    pub quorum_ok: bool,
    /// Null on a node that does not lead, because only the leader runs the scheduler.
    pub scheduler_ok: Option<bool>,
    pub scheduler_failures: Option<u32>,
    pub scheduler_last_error: Option<String>,
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
    /// Null when the serving node is not the leader.
    pub reachable: Option<bool>,
    pub last_contact_ms: Option<u64>,
    pub last_error: Option<String>,
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
            quorum_ok: status.quorum_ok,
            scheduler_ok: status.scheduler_ok,
            scheduler_failures: status.scheduler_failures,
            scheduler_last_error: status.scheduler_last_error,
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
            reachable: member.reachable,
            last_contact_ms: member.last_contact_ms,
            last_error: member.last_error,
        }
    }
}
