use std::collections::BTreeMap;

use serde_json::json;

use super::*;
use crate::model::{
    Backoff, Cause, ConcurrencyPolicy, ExecutionStatus, HttpTrigger, JobPolicies, JobSpec,
    JobStats, JobStatus, MisfirePolicy, RetryStrategy,
};
use crate::raft::ClusterStatus;
use crate::scheduler::SchedulerHealth;

fn sample_job() -> Job {
    Job {
        revision: 0,
        pruned_through: None,
        stats: crate::model::JobStats::default(),
        id: "6f0c1f2e-0000-4000-8000-000000000001".to_string(),
        spec: JobSpec {
            policies: crate::model::JobPolicies::default(),
            name: "nightly-report".to_string(),
            description: "Sends the nightly report".to_string(),
            schedule: "0 2 * * *".to_string(),
            time_zone: "Europe/Berlin".to_string(),
            trigger: Trigger::Http(HttpTrigger {
                url: "http://127.0.0.1:9/run".to_string(),
                method: "POST".to_string(),
                headers: BTreeMap::from([("X-Team".to_string(), "reports".to_string())]),
                body: Some("{\"report\":\"daily\"}".to_string()),
                timeout_ms: 5000,
            }),
            retry: RetryStrategy {
                jitter_permille: 0,
                max_interval_ms: None,
                retry_on: None,
                attempts: 3,
                backoff: Backoff::Exponential,
                interval_ms: 1000,
            },
            tags: vec!["reports".to_string()],
        },
        status: JobStatus::Active,
        anchor: Timestamp(1_767_225_600_000),
        last_execution_time: None,
        next_execution_time: Some(Timestamp(1_767_229_200_000)),
        created_at: Timestamp(1_767_225_600_000),
        updated_at: Timestamp(1_767_225_600_123),
    }
}

fn sample_execution() -> Execution {
    Execution {
        redispatches: 0,
        id: "e-1".to_string(),
        job_id: "j-1".to_string(),
        scheduled_time: Timestamp(1_767_229_200_000),
        start_time: Timestamp(1_767_229_200_010),
        end_time: Some(Timestamp(1_767_229_201_000)),
        status: ExecutionStatus::Failed,
        attempt_count: 3,
        next_retry_time: None,
        result: Some(ExecutionResult {
            status_code: 503,
            body: "busy".to_string(),
        }),
        error: Some("target returned 503".to_string()),
        cause: Cause::Retry,
        retry_of: Some("e-0".to_string()),
        attempt_term: 4,
        attempt_index: 812,
    }
}

#[test]
fn job_json_has_rest_shape() {
    let body = serde_json::to_value(JobJson::from(pb::Job::from(&sample_job()))).unwrap();
    let expected = json!({
        "id": "6f0c1f2e-0000-4000-8000-000000000001",
        "name": "nightly-report",
        "description": "Sends the nightly report",
        "schedule": "0 2 * * *",
        "timeZone": "Europe/Berlin",
        "triggerType": "REST",
        "triggerConfig": {
            "url": "http://127.0.0.1:9/run",
            "method": "POST",
            "headers": {"X-Team": "reports"},
            "body": "{\"report\":\"daily\"}",
            "timeout": 5000,
        },
        "retryStrategy": {
            "attempts": 3,
            "backoff": "exponential",
            "interval": 1000,
            "maxInterval": null,
            "jitter": 0.0,
            "retryOn": null,
        },
        "misfirePolicy": "FIRE_ONCE",
        "maxCatchUp": 10,
        "startingDeadline": null,
        "concurrencyPolicy": "ALLOW",
        "retention": {"maxCount": 100, "maxAge": 604_800_000},
        "status": "ACTIVE",
        "lastExecutionTime": null,
        "nextExecutionTime": "2026-01-01T01:00:00.000Z",
        "skippedInstants": 0,
        "caughtUpInstants": 0,
        "tags": ["reports"],
        "createdAt": "2026-01-01T00:00:00.000Z",
        "updatedAt": "2026-01-01T00:00:00.123Z",
    });
    assert_eq!(body, expected);
}

#[test]
fn execution_json_has_rest_shape() {
    let execution = pb::Execution::from(&sample_execution());
    let body = serde_json::to_value(ExecutionJson::from(execution)).unwrap();
    let expected = json!({
        "id": "e-1",
        "jobId": "j-1",
        "scheduledTime": "2026-01-01T01:00:00.000Z",
        "startTime": "2026-01-01T01:00:00.010Z",
        "endTime": "2026-01-01T01:00:01.000Z",
        "status": "FAILED",
        "attemptCount": 3,
        "nextRetryTime": null,
        "result": {"statusCode": 503, "body": "busy"},
        "error": "target returned 503",
        "cause": "RETRY",
        "retryOf": "e-0",
        "fencingToken": 812,
        "redispatches": 0,
    });
    assert_eq!(body, expected);
}

#[test]
fn running_execution_has_null_outcome() {
    let mut execution = sample_execution();
    execution.status = ExecutionStatus::Running;
    execution.end_time = None;
    execution.result = None;
    execution.error = None;
    execution.retry_of = None;
    let body = serde_json::to_value(ExecutionJson::from(pb::Execution::from(&execution)));
    let body = body.unwrap();
    assert_eq!(body["endTime"], serde_json::Value::Null);
    assert_eq!(body["result"], serde_json::Value::Null);
    assert_eq!(body["retryOf"], serde_json::Value::Null);
}

#[test]
fn cluster_json_has_rest_shape() {
    let cluster = ClusterStatus {
        node_id: 2,
        leader_id: Some(2),
        term: 7,
        commit_index: 40,
        applied_index: 39,
        last_log_index: 41,
        snapshot_index: 30,
        quorum_ok: false,
        raft_running: true,
        members: vec![
            MemberStatus {
                id: 1,
                role: "FOLLOWER".to_string(),
                client_addr: "127.0.0.1:7001".to_string(),
                peer_addr: "127.0.0.1:7101".to_string(),
                reachable: None,
                last_contact_ms: None,
                last_error: None,
            },
            MemberStatus {
                id: 2,
                role: "LEADER".to_string(),
                client_addr: "127.0.0.1:7002".to_string(),
                peer_addr: "127.0.0.1:7102".to_string(),
                reachable: Some(true),
                last_contact_ms: Some(2300),
                last_error: Some("timed out".to_string()),
            },
        ],
    };
    let scheduler = SchedulerHealth {
        term: Some(7),
        loop_running: false,
        consecutive_failures: 3,
        last_error: Some("failed to read the scheduler state".to_string()),
    };
    let status = NodeStatus {
        cluster,
        scheduler: Some(scheduler),
    };
    let body = serde_json::to_value(ClusterJson::from(pb::ClusterStatus::from(&status)));
    let expected = json!({
        "nodeId": 2,
        "leaderId": 2,
        "term": 7,
        "commitIndex": 40,
        "appliedIndex": 39,
        "lastLogIndex": 41,
        "snapshotIndex": 30,
        "quorumOk": false,
        "schedulerOk": false,
        "schedulerFailures": 3,
        "schedulerLastError": "failed to read the scheduler state",
        "members": [
            {
                "id": 1,
                "role": "FOLLOWER",
                "clientAddr": "127.0.0.1:7001",
                "peerAddr": "127.0.0.1:7101",
                "reachable": null,
                "lastContactMs": null,
                "lastError": null,
            },
            {
                "id": 2,
                "role": "LEADER",
                "clientAddr": "127.0.0.1:7002",
                "peerAddr": "127.0.0.1:7102",
                "reachable": true,
                "lastContactMs": 2300,
                "lastError": "timed out",
            },
        ],
    });
    assert_eq!(body.unwrap(), expected);
}

#[test]
fn cluster_json_of_follower_has_no_scheduler() {
    let cluster = ClusterStatus {
        node_id: 2,
        leader_id: Some(1),
        term: 7,
        commit_index: 40,
        applied_index: 40,
        last_log_index: 40,
        snapshot_index: 0,
        quorum_ok: true,
        raft_running: true,
        members: Vec::new(),
    };
    let status = NodeStatus {
        cluster,
        scheduler: None,
    };

    let body = serde_json::to_value(ClusterJson::from(pb::ClusterStatus::from(&status))).unwrap();

    assert_eq!(body["schedulerOk"], serde_json::Value::Null);
    assert_eq!(body["schedulerFailures"], serde_json::Value::Null);
    assert_eq!(body["schedulerLastError"], serde_json::Value::Null);
}

#[test]
fn list_json_keeps_paging() {
    let listing = Listing {
        items: vec![sample_job()],
        page: 2,
        limit: 1,
        total: 5,
    };
    let body = ListJson::from(pb::ListJobsResponse::from(&listing));
    assert_eq!(body.page, 2);
    assert_eq!(body.limit, 1);
    assert_eq!(body.total, 5);
    assert_eq!(body.items[0].name, "nightly-report");
}

#[test]
fn preview_times_are_rfc3339() {
    let preview = Preview {
        schedule: "@hourly".to_string(),
        time_zone: "UTC".to_string(),
        times: vec![Timestamp(1_767_225_600_000)],
    };
    let body = PreviewJson::from(pb::PreviewScheduleResponse::from(&preview));
    assert_eq!(body.times, vec!["2026-01-01T00:00:00.000Z"]);
}

fn full_input() -> JobInput {
    JobInput {
        name: Some("n".to_string()),
        description: Some("d".to_string()),
        schedule: Some("@daily".to_string()),
        time_zone: Some("UTC".to_string()),
        trigger_type: Some("REST".to_string()),
        trigger: Some(TriggerInput {
            url: Some("http://127.0.0.1:9/".to_string()),
            method: Some("PUT".to_string()),
            headers: Some(BTreeMap::from([("A".to_string(), "1".to_string())])),
            body: Some(Some("x".to_string())),
            body_is_json: false,
            timeout_ms: Some(-1),
        }),
        retry: Some(RetryInput {
            attempts: Some(2),
            backoff: Some("fixed".to_string()),
            interval_ms: Some(10),
            max_interval_ms: Some(Some(20)),
            jitter: Some(0.25),
            retry_on: Some(Some(vec![503, -1])),
        }),
        status: Some("PAUSED".to_string()),
        tags: Some(vec!["a".to_string()]),
        policies: PoliciesInput {
            misfire: Some("FIRE_ALL".to_string()),
            max_catch_up: Some(0),
            starting_deadline_ms: Some(Some(60_000)),
            concurrency: Some("FORBID".to_string()),
            retention: Some(RetentionInput {
                max_count: Some(5),
                max_age_ms: Some(-3),
            }),
        },
    }
}

#[test]
fn job_input_round_trips_through_protobuf() {
    let input = full_input();
    assert_eq!(from_message(pb::JobInput::from(input.clone())), input);
}

#[test]
fn empty_job_input_round_trips_as_absent() {
    let input = JobInput::default();
    let message = pb::JobInput::from(input.clone());
    assert_eq!(message, pb::JobInput::default());
    assert_eq!(from_message(message), input);
}

#[test]
fn empty_tags_and_headers_stay_present() {
    let input = JobInput {
        trigger: Some(TriggerInput {
            headers: Some(BTreeMap::new()),
            ..Default::default()
        }),
        tags: Some(Vec::new()),
        ..Default::default()
    };
    let back = from_message(pb::JobInput::from(input));
    assert_eq!(back.tags, Some(Vec::new()));
    assert_eq!(back.trigger.unwrap().headers, Some(BTreeMap::new()));
}

#[test]
fn cleared_deadline_round_trips_through_protobuf() {
    let input = JobInput {
        policies: PoliciesInput {
            starting_deadline_ms: Some(None),
            ..Default::default()
        },
        ..Default::default()
    };
    let message = pb::JobInput::from(input.clone());
    assert_eq!(
        message.starting_deadline,
        Some(pb::StartingDeadline { value: None })
    );
    assert_eq!(from_message(message), input);
}

#[test]
fn empty_retry_on_stays_present() {
    let input = JobInput {
        retry: Some(RetryInput {
            retry_on: Some(Some(Vec::new())),
            ..Default::default()
        }),
        ..Default::default()
    };
    let back = from_message(pb::JobInput::from(input));
    assert_eq!(back.retry.unwrap().retry_on, Some(Some(Vec::new())));
}

#[test]
fn retry_resets_round_trip_through_protobuf() {
    let input = JobInput {
        retry: Some(RetryInput {
            max_interval_ms: Some(None),
            retry_on: Some(None),
            ..Default::default()
        }),
        ..Default::default()
    };
    let message = pb::JobInput::from(input.clone());
    let retry = message.retry_strategy.clone().expect("retry strategy");
    assert!(retry.reset_max_interval);
    assert!(retry.reset_retry_on);
    assert_eq!(retry.max_interval, None);
    assert_eq!(retry.retry_on, None);
    assert_eq!(from_message(message), input);
}

#[test]
fn retry_value_and_reset_are_rejected() {
    let message = pb::JobInput {
        retry_strategy: Some(pb::RetryStrategyInput {
            max_interval: Some(5000),
            reset_max_interval: true,
            ..Default::default()
        }),
        ..Default::default()
    };

    let error = JobInput::try_from(message).expect_err("value and reset together");

    assert_eq!(error.field, "retryStrategy.maxInterval");
    assert!(error.to_string().contains("5000"), "{error}");
}

fn from_message(message: pb::JobInput) -> JobInput {
    JobInput::try_from(message).expect("valid job message")
}

fn job_with_policies() -> Job {
    let mut job = sample_job();
    job.spec.policies = JobPolicies {
        misfire: MisfirePolicy::Skip,
        max_catch_up: 3,
        starting_deadline_ms: Some(90_000),
        concurrency: ConcurrencyPolicy::Replace,
        retention: crate::model::Retention {
            max_count: 7,
            max_age_ms: 3_600_000,
        },
    };
    job.spec.retry.max_interval_ms = Some(8_000);
    job.spec.retry.jitter_permille = 250;
    job.spec.retry.retry_on = Some(vec![409, 503]);
    job.stats = JobStats {
        skipped_instants: 4,
        caught_up_instants: 2,
    };
    job
}

#[test]
fn job_policies_reach_protobuf() {
    let message = pb::Job::from(&job_with_policies());
    assert_eq!(message.misfire_policy, "SKIP");
    assert_eq!(message.max_catch_up, 3);
    assert_eq!(message.starting_deadline, Some(90_000));
    assert_eq!(message.concurrency_policy, "REPLACE");
    let retention = pb::Retention {
        max_count: 7,
        max_age: 3_600_000,
    };
    assert_eq!(message.retention, Some(retention));
    assert_eq!(message.skipped_instants, 4);
    assert_eq!(message.caught_up_instants, 2);
    let retry = message.retry_strategy.unwrap();
    assert_eq!(retry.max_interval, Some(8_000));
    assert_eq!(retry.jitter, 0.25);
    assert_eq!(retry.retry_on, vec![409, 503]);
}

#[test]
fn job_policies_reach_rest_json() {
    let message = pb::Job::from(&job_with_policies());
    let body = serde_json::to_value(JobJson::from(message)).unwrap();
    assert_eq!(body["misfirePolicy"], "SKIP");
    assert_eq!(body["maxCatchUp"], 3);
    assert_eq!(body["startingDeadline"], 90_000);
    assert_eq!(body["concurrencyPolicy"], "REPLACE");
    assert_eq!(
        body["retention"],
        json!({"maxCount": 7, "maxAge": 3_600_000})
    );
    assert_eq!(body["skippedInstants"], 4);
    assert_eq!(body["caughtUpInstants"], 2);
    let retry = &body["retryStrategy"];
    assert_eq!(retry["maxInterval"], 8_000);
    assert_eq!(retry["jitter"], 0.25);
    assert_eq!(retry["retryOn"], json!([409, 503]));
}

#[test]
fn job_json_is_accepted_as_input() {
    let mut job = job_with_policies();
    job.last_execution_time = Some(Timestamp(1_767_225_600_000));
    job.next_execution_time = Some(Timestamp(1_767_225_660_000));
    let body = serde_json::to_value(JobJson::from(pb::Job::from(&job))).unwrap();
    let input = JobInput::from_json(&body).expect("every key of the job JSON is accepted");
    assert_eq!(input.into_updated_spec(&job.spec).unwrap(), job.spec);
}

#[test]
fn cleared_body_round_trips_through_protobuf() {
    let input = JobInput {
        trigger: Some(TriggerInput {
            body: Some(None),
            ..Default::default()
        }),
        ..Default::default()
    };
    let message = pb::JobInput::from(input.clone());
    assert_eq!(
        message.trigger_config.as_ref().unwrap().body.as_deref(),
        Some("")
    );
    assert_eq!(from_message(message), input);
}

#[test]
fn redispatches_reach_rest_json() {
    let mut execution = sample_execution();
    execution.redispatches = 2;
    let message = pb::Execution::from(&execution);
    assert_eq!(message.redispatches, 2);
    let body = serde_json::to_value(ExecutionJson::from(message)).unwrap();
    assert_eq!(body["redispatches"], 2);
}
