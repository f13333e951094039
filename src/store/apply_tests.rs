//! Tests of the apply rules in `apply.rs`, run through the state machine on a real sled
//! database in a temporary directory.

use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, Membership};

use super::StateEvent;
use super::test_support::{
    TestStore, build_snapshot, command_entry, install_snapshot, job, log_id, open_temp_store, spec,
};
use crate::model::{
    Cause, Command, Execution, ExecutionResult, ExecutionStatus, FireDecision, FireIntent, Intent,
    Job, JobStatus, MAX_RESULT_BODY_BYTES, Outcome, OutcomeResult, Rejection, Response,
    RetryIntent, SkipReason, Timestamp,
};

#[path = "apply_policy_tests.rs"]
mod policies;
#[path = "apply_revision_tests.rs"]
mod revisions;

/// A state machine that applies each command as the next log entry of term 3.
struct Harness {
    store: TestStore,
    last_index: u64,
}

const TERM: u64 = 3;

impl Harness {
    fn new() -> Self {
        Harness {
            store: open_temp_store(),
            last_index: 0,
        }
    }

    async fn apply(&mut self, command: Command) -> Response {
        self.last_index += 1;
        let entry = command_entry(TERM, self.last_index, command);
        let mut responses = self.store.state_machine.apply([entry]).await.unwrap();
        assert_eq!(responses.len(), 1);
        responses.remove(0)
    }

    async fn create(&mut self, job: Job) -> Job {
        match self.apply(Command::CreateJob { job }).await {
            Response::Job(job) => *job,
            other => panic!("expected Response::Job, got {other:?}"),
        }
    }

    async fn fires(&mut self, intents: Vec<Intent>) -> Vec<FireDecision> {
        match self.apply(Command::RecordFires { intents }).await {
            Response::Fires(decisions) => decisions,
            other => panic!("expected Response::Fires, got {other:?}"),
        }
    }

    async fn fire(&mut self, intent: FireIntent) -> FireDecision {
        self.fires(vec![Intent::Fire(intent)]).await.remove(0)
    }

    /// Fires `fire` and returns the accepted execution.
    async fn accepted(&mut self, fire: FireIntent) -> Execution {
        match self.fire(fire).await {
            FireDecision::Accepted(execution) => execution,
            other => panic!("expected an accepted fire, got {other:?}"),
        }
    }

    async fn retry(&mut self, execution_id: &str, attempt: u32) -> FireDecision {
        let intent = Intent::Retry(RetryIntent {
            in_doubt: false,
            execution_id: execution_id.to_string(),
            attempt,
            decided_at: Timestamp(50_000),
        });
        self.fires(vec![intent]).await.remove(0)
    }

    async fn outcomes(&mut self, outcomes: Vec<Outcome>) -> u32 {
        match self.apply(Command::RecordOutcomes { outcomes }).await {
            Response::Outcomes { applied } => applied,
            other => panic!("expected Response::Outcomes, got {other:?}"),
        }
    }

    fn job(&self, id: &str) -> Job {
        self.store
            .reader
            .get_job(id)
            .unwrap()
            .expect("job is stored")
    }

    fn execution(&self, id: &str) -> Option<Execution> {
        self.store.reader.get_execution(id).unwrap()
    }
}

fn schedule_fire(job_id: &str, scheduled_ms: i64, next_ms: Option<i64>) -> FireIntent {
    FireIntent {
        job_revision: None,
        caught_up: false,
        force: false,
        job_id: job_id.to_string(),
        scheduled_time: Timestamp(scheduled_ms),
        cause: Cause::Schedule,
        decided_at: Timestamp(scheduled_ms + 5),
        next_execution_time: next_ms.map(Timestamp),
        retry_of: None,
        request_key: None,
    }
}

fn manual_fire(job_id: &str, requested_ms: i64) -> FireIntent {
    FireIntent {
        cause: Cause::Manual,
        next_execution_time: None,
        ..schedule_fire(job_id, requested_ms, None)
    }
}

fn retry_fire(job_id: &str, requested_ms: i64, retry_of: Option<&str>) -> FireIntent {
    FireIntent {
        cause: Cause::Retry,
        retry_of: retry_of.map(str::to_string),
        ..manual_fire(job_id, requested_ms)
    }
}

fn success(execution_id: &str, attempt: u32, finished_ms: i64) -> Outcome {
    Outcome {
        jitter_sample: 0,
        execution_id: execution_id.to_string(),
        attempt,
        finished_at: Timestamp(finished_ms),
        result: OutcomeResult::Success {
            status_code: 200,
            body: "ok".to_string(),
        },
    }
}

fn failure(execution_id: &str, attempt: u32, finished_ms: i64, retryable: bool) -> Outcome {
    Outcome {
        jitter_sample: 0,
        execution_id: execution_id.to_string(),
        attempt,
        finished_at: Timestamp(finished_ms),
        result: OutcomeResult::Failure {
            status_code: Some(503),
            body: Some("busy".to_string()),
            error: "target returned 503".to_string(),
            retryable,
        },
    }
}

/// Builds a failed attempt whose status code (404) no retry strategy of these tests retries.
fn final_failure(execution_id: &str, attempt: u32, finished_ms: i64) -> Outcome {
    Outcome {
        jitter_sample: 0,
        execution_id: execution_id.to_string(),
        attempt,
        finished_at: Timestamp(finished_ms),
        result: OutcomeResult::Failure {
            status_code: Some(404),
            body: Some("no such report".to_string()),
            error: "target returned 404".to_string(),
            retryable: false,
        },
    }
}

fn not_found(id: &str) -> Response {
    Response::Rejected(Rejection::NotFound {
        field: "id".to_string(),
        value: id.to_string(),
    })
}

/// Runs a schedule fire of `job-1` at 10 s and returns its execution, RUNNING at attempt 1.
async fn running_execution(harness: &mut Harness) -> Execution {
    harness.create(job("job-1")).await;
    harness
        .accepted(schedule_fire("job-1", 10_000, Some(20_000)))
        .await
}

/// Runs `running_execution` and fails its first attempt with a non-retryable error.
async fn failed_execution(harness: &mut Harness) -> Execution {
    let execution = running_execution(harness).await;
    let outcome = final_failure(&execution.id, 1, 11_000);
    assert_eq!(harness.outcomes(vec![outcome]).await, 1);
    harness.execution(&execution.id).unwrap()
}

// --- CreateJob

#[tokio::test]
async fn create_job_stores_job() {
    let mut harness = Harness::new();
    let created = harness.create(job("job-1")).await;
    let expected = Job {
        revision: harness.last_index,
        ..job("job-1")
    };
    assert_eq!(created, expected);
    assert_eq!(harness.job("job-1"), expected);
}

#[tokio::test]
async fn create_job_rejects_existing_id() {
    let mut harness = Harness::new();
    harness.create(job("job-1")).await;

    let mut other = job("job-1");
    other.spec.name = "other".to_string();
    let response = harness.apply(Command::CreateJob { job: other }).await;

    let expected = Rejection::AlreadyExists {
        field: "id".to_string(),
        value: "job-1".to_string(),
    };
    assert_eq!(response, Response::Rejected(expected));
    assert_eq!(harness.job("job-1").spec.name, "nightly report");
}

// --- UpdateJob

#[tokio::test]
async fn update_job_unknown_id_is_not_found() {
    let mut harness = Harness::new();
    let response = harness
        .apply(Command::UpdateJob {
            id: "missing".to_string(),
            spec: spec("* * * * *"),
            status: None,
            next_execution_time: None,
            now: Timestamp(5_000),
        })
        .await;
    assert_eq!(response, not_found("missing"));
}

#[tokio::test]
async fn update_job_keeps_anchor_for_same_schedule() {
    let mut harness = Harness::new();
    harness.create(job("job-1")).await;

    let mut new_spec = spec("0 0 * * *");
    new_spec.name = "renamed".to_string();
    let response = harness
        .apply(Command::UpdateJob {
            id: "job-1".to_string(),
            spec: new_spec.clone(),
            status: None,
            next_execution_time: Some(Timestamp(99_000)),
            now: Timestamp(5_000),
        })
        .await;

    let stored = harness.job("job-1");
    assert_eq!(response, Response::Job(Box::new(stored.clone())));
    assert_eq!(stored.spec, new_spec);
    assert_eq!(stored.updated_at, Timestamp(5_000));
    let created = job("job-1");
    assert_eq!(stored.next_execution_time, created.next_execution_time);
    assert_eq!(stored.anchor, Timestamp(1_000));
    assert_eq!(stored.created_at, Timestamp(1_000));
    assert_eq!(stored.status, JobStatus::Active);
}

#[tokio::test]
async fn update_job_new_schedule_moves_anchor() {
    let mut harness = Harness::new();
    harness.create(job("job-1")).await;
    harness
        .apply(Command::UpdateJob {
            id: "job-1".to_string(),
            spec: spec("@every 5m"),
            status: None,
            next_execution_time: Some(Timestamp(305_000)),
            now: Timestamp(5_000),
        })
        .await;
    let stored = harness.job("job-1");
    assert_eq!(stored.anchor, Timestamp(5_000));
    assert_eq!(stored.next_execution_time, Some(Timestamp(305_000)));
}

#[tokio::test]
async fn update_job_new_time_zone_moves_anchor() {
    let mut harness = Harness::new();
    harness.create(job("job-1")).await;

    let mut new_spec = spec("0 0 * * *");
    new_spec.time_zone = "Europe/Paris".to_string();
    harness
        .apply(Command::UpdateJob {
            id: "job-1".to_string(),
            spec: new_spec,
            status: None,
            next_execution_time: None,
            now: Timestamp(7_000),
        })
        .await;

    let stored = harness.job("job-1");
    assert_eq!(stored.anchor, Timestamp(7_000));
    assert_eq!(stored.next_execution_time, None);
}

// --- PauseJob and ResumeJob

#[tokio::test]
async fn pause_job_clears_next_time() {
    let mut harness = Harness::new();
    harness.create(job("job-1")).await;
    let response = harness
        .apply(Command::PauseJob {
            id: "job-1".to_string(),
            now: Timestamp(6_000),
        })
        .await;

    let stored = harness.job("job-1");
    assert_eq!(response, Response::Job(Box::new(stored.clone())));
    assert_eq!(stored.status, JobStatus::Paused);
    assert_eq!(stored.next_execution_time, None);
    assert_eq!(stored.updated_at, Timestamp(6_000));
    assert_eq!(stored.anchor, Timestamp(1_000));
}

#[tokio::test]
async fn pause_job_unknown_id_is_not_found() {
    let mut harness = Harness::new();
    let response = harness
        .apply(Command::PauseJob {
            id: "missing".to_string(),
            now: Timestamp(6_000),
        })
        .await;
    assert_eq!(response, not_found("missing"));
}

#[tokio::test]
async fn resume_job_activates_and_anchors() {
    let mut harness = Harness::new();
    let mut paused = job("job-1");
    paused.status = JobStatus::Paused;
    paused.next_execution_time = None;
    harness.create(paused).await;

    let response = harness
        .apply(Command::ResumeJob {
            id: "job-1".to_string(),
            next_execution_time: Some(Timestamp(90_000)),
            now: Timestamp(8_000),
        })
        .await;

    let stored = harness.job("job-1");
    assert_eq!(response, Response::Job(Box::new(stored.clone())));
    assert_eq!(stored.status, JobStatus::Active);
    assert_eq!(stored.anchor, Timestamp(8_000));
    assert_eq!(stored.next_execution_time, Some(Timestamp(90_000)));
    assert_eq!(stored.updated_at, Timestamp(8_000));
}

#[tokio::test]
async fn resume_job_unknown_id_is_not_found() {
    let mut harness = Harness::new();
    let response = harness
        .apply(Command::ResumeJob {
            id: "missing".to_string(),
            next_execution_time: None,
            now: Timestamp(8_000),
        })
        .await;
    assert_eq!(response, not_found("missing"));
}

// --- DeleteJob

#[tokio::test]
async fn delete_job_removes_job_and_history() {
    let mut harness = Harness::new();
    harness.create(job("job-1")).await;
    harness.create(job("job-2")).await;
    let first = harness.accepted(schedule_fire("job-1", 10_000, None)).await;
    let second = harness.accepted(manual_fire("job-1", 12_000)).await;
    let other_job_execution = harness.accepted(schedule_fire("job-2", 10_000, None)).await;

    let response = harness
        .apply(Command::DeleteJob {
            id: "job-1".to_string(),
        })
        .await;

    assert_eq!(response, Response::Deleted("job-1".to_string()));
    let reader = &harness.store.reader;
    assert_eq!(reader.get_job("job-1").unwrap(), None);
    assert_eq!(reader.get_execution(&first.id).unwrap(), None);
    assert_eq!(reader.get_execution(&second.id).unwrap(), None);
    let page = super::Page { page: 1, limit: 10 };
    assert_eq!(
        reader.list_executions("job-1", None, page).unwrap().total,
        0
    );
    let open: Vec<_> = reader.open_executions().unwrap();
    assert_eq!(open, vec![other_job_execution.clone()]);
    assert_eq!(
        reader.get_execution(&other_job_execution.id).unwrap(),
        Some(other_job_execution)
    );
}

#[tokio::test]
async fn delete_job_unknown_id_is_not_found() {
    let mut harness = Harness::new();
    let response = harness
        .apply(Command::DeleteJob {
            id: "missing".to_string(),
        })
        .await;
    assert_eq!(response, not_found("missing"));
}

// --- RecordFires: Fire

#[tokio::test]
async fn fire_for_missing_job_is_skipped() {
    let mut harness = Harness::new();
    let decision = harness.fire(schedule_fire("missing", 10_000, None)).await;
    let expected = SkipReason::JobNotFound("missing".to_string());
    assert_eq!(decision, FireDecision::Skipped { reason: expected });
}

#[tokio::test]
async fn schedule_fire_of_paused_job_is_skipped() {
    let mut harness = Harness::new();
    let mut paused = job("job-1");
    paused.status = JobStatus::Paused;
    let paused = harness.create(paused.clone()).await;

    let decision = harness
        .fire(schedule_fire("job-1", 10_000, Some(20_000)))
        .await;

    let expected = SkipReason::JobNotActive("job-1".to_string());
    assert_eq!(decision, FireDecision::Skipped { reason: expected });
    assert_eq!(harness.job("job-1"), paused);
}

#[tokio::test]
async fn manual_fire_of_paused_job_is_accepted() {
    let mut harness = Harness::new();
    let mut paused = job("job-1");
    paused.status = JobStatus::Paused;
    let paused = harness.create(paused.clone()).await;

    let execution = harness.accepted(manual_fire("job-1", 10_000)).await;

    assert_eq!(execution.cause, Cause::Manual);
    assert_eq!(
        harness.job("job-1"),
        paused,
        "a manual fire leaves the job as it is"
    );
}

#[tokio::test]
async fn manual_fire_key_starts_one_run() {
    let mut harness = Harness::new();
    harness.create(job("job-1")).await;
    harness.create(job("job-2")).await;
    let keyed = |job_id: &str, requested_ms: i64| FireIntent {
        request_key: Some("order-17".to_string()),
        ..manual_fire(job_id, requested_ms)
    };

    let first = harness.accepted(keyed("job-1", 10_000)).await;
    let repeat = harness.fire(keyed("job-1", 11_000)).await;
    let other_job = harness.accepted(keyed("job-2", 11_000)).await;
    let unkeyed = harness.accepted(manual_fire("job-1", 11_000)).await;

    assert_eq!(first.id, Execution::derive_request_id("job-1", "order-17"));
    assert_eq!(repeat, FireDecision::Duplicate(first.id.clone()));
    assert_ne!(other_job.id, first.id);
    assert_ne!(unkeyed.id, first.id);
}

#[tokio::test]
async fn schedule_fire_creates_running_execution() {
    let mut harness = Harness::new();
    let execution = running_execution(&mut harness).await;

    let id = Execution::derive_id("job-1", Timestamp(10_000), Cause::Schedule);
    let expected = Execution {
        redispatches: 0,
        id: id.clone(),
        job_id: "job-1".to_string(),
        scheduled_time: Timestamp(10_000),
        start_time: Timestamp(10_005),
        end_time: None,
        status: ExecutionStatus::Running,
        attempt_count: 1,
        next_retry_time: None,
        result: None,
        error: None,
        cause: Cause::Schedule,
        retry_of: None,
        attempt_term: TERM,
        attempt_index: harness.last_index,
    };
    assert_eq!(execution, expected);
    assert_eq!(harness.execution(&id), Some(expected));
}

#[tokio::test]
async fn schedule_fire_advances_job() {
    let mut harness = Harness::new();
    running_execution(&mut harness).await;

    let stored = harness.job("job-1");
    assert_eq!(stored.last_execution_time, Some(Timestamp(10_000)));
    assert_eq!(stored.next_execution_time, Some(Timestamp(20_000)));
}

#[tokio::test]
async fn older_schedule_fire_keeps_job_times() {
    let mut harness = Harness::new();
    running_execution(&mut harness).await;

    let late = harness
        .accepted(schedule_fire("job-1", 5_000, Some(10_000)))
        .await;

    assert_eq!(late.scheduled_time, Timestamp(5_000));
    let stored = harness.job("job-1");
    assert_eq!(stored.last_execution_time, Some(Timestamp(10_000)));
    assert_eq!(stored.next_execution_time, Some(Timestamp(20_000)));
}

#[tokio::test]
async fn duplicate_fire_changes_nothing() {
    let mut harness = Harness::new();
    let first = running_execution(&mut harness).await;
    let job_before = harness.job("job-1");

    let decision = harness
        .fire(schedule_fire("job-1", 10_000, Some(99_000)))
        .await;

    assert_eq!(decision, FireDecision::Duplicate(first.id.clone()));
    assert_eq!(harness.job("job-1"), job_before);
    assert_eq!(harness.execution(&first.id), Some(first));
}

#[tokio::test]
async fn duplicate_intents_in_one_command() {
    let mut harness = Harness::new();
    harness.create(job("job-1")).await;
    let intent = Intent::Fire(schedule_fire("job-1", 10_000, Some(20_000)));

    let decisions = harness.fires(vec![intent.clone(), intent]).await;

    assert_eq!(decisions.len(), 2);
    let FireDecision::Accepted(execution) = &decisions[0] else {
        panic!("expected the first intent accepted, got {:?}", decisions[0]);
    };
    assert_eq!(decisions[1], FireDecision::Duplicate(execution.id.clone()));
}

#[tokio::test]
async fn fires_decided_in_order() {
    let mut harness = Harness::new();
    harness.create(job("job-1")).await;
    let intents = vec![
        Intent::Fire(schedule_fire("missing", 1_000, None)),
        Intent::Fire(schedule_fire("job-1", 10_000, Some(20_000))),
        Intent::Fire(manual_fire("job-1", 10_000)),
    ];

    let decisions = harness.fires(intents).await;

    assert_eq!(decisions.len(), 3);
    assert!(matches!(decisions[0], FireDecision::Skipped { .. }));
    assert!(matches!(&decisions[1], FireDecision::Accepted(e) if e.cause == Cause::Schedule));
    assert!(matches!(&decisions[2], FireDecision::Accepted(e) if e.cause == Cause::Manual));
}

#[tokio::test]
async fn manual_fire_drops_retry_of() {
    let mut harness = Harness::new();
    harness.create(job("job-1")).await;
    let mut intent = manual_fire("job-1", 10_000);
    intent.retry_of = Some("something".to_string());

    let execution = harness.accepted(intent).await;

    assert_eq!(execution.retry_of, None);
}

#[tokio::test]
async fn retry_fire_without_retry_of_is_skipped() {
    let mut harness = Harness::new();
    harness.create(job("job-1")).await;
    let decision = harness.fire(retry_fire("job-1", 30_000, None)).await;
    let expected = SkipReason::NotRetryable(String::new());
    assert_eq!(decision, FireDecision::Skipped { reason: expected });
}

#[tokio::test]
async fn retry_fire_of_missing_execution_is_skipped() {
    let mut harness = Harness::new();
    harness.create(job("job-1")).await;
    let decision = harness
        .fire(retry_fire("job-1", 30_000, Some("gone")))
        .await;
    let expected = SkipReason::NotRetryable("gone".to_string());
    assert_eq!(decision, FireDecision::Skipped { reason: expected });
}

#[tokio::test]
async fn retry_fire_of_running_execution_is_skipped() {
    let mut harness = Harness::new();
    let running = running_execution(&mut harness).await;
    let decision = harness
        .fire(retry_fire("job-1", 30_000, Some(&running.id)))
        .await;
    let expected = SkipReason::NotRetryable(running.id.clone());
    assert_eq!(decision, FireDecision::Skipped { reason: expected });
}

#[tokio::test]
async fn retry_fire_of_other_jobs_execution_is_skipped() {
    let mut harness = Harness::new();
    let failed = failed_execution(&mut harness).await;
    harness.create(job("job-2")).await;

    let decision = harness
        .fire(retry_fire("job-2", 30_000, Some(&failed.id)))
        .await;

    let expected = SkipReason::NotRetryable(failed.id.clone());
    assert_eq!(decision, FireDecision::Skipped { reason: expected });
}

#[tokio::test]
async fn retry_fire_of_failed_execution_is_accepted() {
    let mut harness = Harness::new();
    let failed = failed_execution(&mut harness).await;
    assert_eq!(failed.status, ExecutionStatus::Failed);

    let execution = harness
        .accepted(retry_fire("job-1", 30_000, Some(&failed.id)))
        .await;

    assert_eq!(execution.cause, Cause::Retry);
    assert_eq!(execution.retry_of, Some(failed.id.clone()));
    assert_eq!(execution.status, ExecutionStatus::Running);
    assert_eq!(execution.id, Execution::derive_retry_id(&failed.id));
    assert_eq!(
        harness.job("job-1").last_execution_time,
        Some(Timestamp(10_000))
    );
}

// --- RecordFires: Retry

#[tokio::test]
async fn retry_of_missing_execution_is_stale() {
    let mut harness = Harness::new();
    let decision = harness.retry("gone", 2).await;
    let expected = SkipReason::StaleAttempt("gone".to_string());
    assert_eq!(decision, FireDecision::Skipped { reason: expected });
}

#[tokio::test]
async fn retry_of_retrying_execution_is_accepted() {
    let mut harness = Harness::new();
    let execution = running_execution(&mut harness).await;
    harness
        .outcomes(vec![failure(&execution.id, 1, 11_000, true)])
        .await;
    assert_eq!(
        harness.execution(&execution.id).unwrap().status,
        ExecutionStatus::Retrying
    );

    let decision = harness.retry(&execution.id, 2).await;

    let FireDecision::Accepted(accepted) = decision else {
        panic!("expected the retry accepted, got {decision:?}");
    };
    assert_eq!(accepted.status, ExecutionStatus::Running);
    assert_eq!(accepted.attempt_count, 2);
    assert_eq!(accepted.next_retry_time, None);
    assert_eq!(accepted.attempt_term, TERM);
    assert_eq!(accepted.attempt_index, harness.last_index);
    assert_eq!(accepted.start_time, execution.start_time);
    assert_eq!(harness.execution(&execution.id), Some(accepted));
}

#[tokio::test]
async fn retry_of_in_doubt_attempt_is_accepted() {
    let mut harness = Harness::new();
    let execution = running_execution(&mut harness).await;

    let decision = harness.retry(&execution.id, 2).await;

    assert!(matches!(decision, FireDecision::Accepted(e) if e.attempt_count == 2));
}

#[tokio::test]
async fn retry_of_current_attempt_is_duplicate() {
    let mut harness = Harness::new();
    let execution = running_execution(&mut harness).await;

    let decision = harness.retry(&execution.id, 1).await;

    assert_eq!(decision, FireDecision::Duplicate(execution.id.clone()));
    assert_eq!(harness.execution(&execution.id), Some(execution));
}

#[tokio::test]
async fn retry_skipping_an_attempt_is_stale() {
    let mut harness = Harness::new();
    let execution = running_execution(&mut harness).await;

    let decision = harness.retry(&execution.id, 3).await;

    let expected = SkipReason::StaleAttempt(execution.id.clone());
    assert_eq!(decision, FireDecision::Skipped { reason: expected });
    assert_eq!(harness.execution(&execution.id), Some(execution));
}

#[tokio::test]
async fn retry_of_older_attempt_is_stale() {
    let mut harness = Harness::new();
    let execution = running_execution(&mut harness).await;
    harness.retry(&execution.id, 2).await;

    let decision = harness.retry(&execution.id, 1).await;

    let expected = SkipReason::StaleAttempt(execution.id.clone());
    assert_eq!(decision, FireDecision::Skipped { reason: expected });
}

#[tokio::test]
async fn retry_of_final_execution_is_stale() {
    let mut harness = Harness::new();
    let execution = running_execution(&mut harness).await;
    harness
        .outcomes(vec![success(&execution.id, 1, 11_000)])
        .await;

    let decision = harness.retry(&execution.id, 2).await;

    let expected = SkipReason::StaleAttempt(execution.id.clone());
    assert_eq!(decision, FireDecision::Skipped { reason: expected });
}

// --- RecordOutcomes

#[tokio::test]
async fn success_completes_execution() {
    let mut harness = Harness::new();
    let execution = running_execution(&mut harness).await;

    let applied = harness
        .outcomes(vec![success(&execution.id, 1, 11_000)])
        .await;

    assert_eq!(applied, 1);
    let stored = harness.execution(&execution.id).unwrap();
    assert_eq!(stored.status, ExecutionStatus::Completed);
    assert_eq!(stored.end_time, Some(Timestamp(11_000)));
    let result = ExecutionResult {
        status_code: 200,
        body: "ok".to_string(),
    };
    assert_eq!(stored.result, Some(result));
    assert_eq!(stored.error, None);
    assert!(harness.store.reader.open_executions().unwrap().is_empty());
}

#[tokio::test]
async fn retryable_failure_schedules_retry() {
    let mut harness = Harness::new();
    let execution = running_execution(&mut harness).await;

    let applied = harness
        .outcomes(vec![failure(&execution.id, 1, 11_000, true)])
        .await;

    assert_eq!(applied, 1);
    let stored = harness.execution(&execution.id).unwrap();
    assert_eq!(stored.status, ExecutionStatus::Retrying);
    assert_eq!(stored.next_retry_time, Some(Timestamp(12_000)));
    assert_eq!(stored.end_time, None);
    assert_eq!(stored.error.as_deref(), Some("target returned 503"));
    assert_eq!(stored.result.as_ref().map(|r| r.status_code), Some(503));
    assert_eq!(
        harness.store.reader.open_executions().unwrap(),
        vec![stored]
    );
}

#[tokio::test]
async fn retry_delay_follows_backoff() {
    let mut harness = Harness::new();
    let execution = running_execution(&mut harness).await;
    harness.retry(&execution.id, 2).await;

    harness
        .outcomes(vec![failure(&execution.id, 2, 20_000, true)])
        .await;

    let stored = harness.execution(&execution.id).unwrap();
    assert_eq!(stored.status, ExecutionStatus::Retrying);
    assert_eq!(
        stored.next_retry_time,
        Some(Timestamp(22_000)),
        "1 s doubled once"
    );
}

#[tokio::test]
async fn failure_of_last_attempt_fails() {
    let mut harness = Harness::new();
    let execution = running_execution(&mut harness).await;
    harness.retry(&execution.id, 2).await;
    harness.retry(&execution.id, 3).await;

    harness
        .outcomes(vec![failure(&execution.id, 3, 30_000, true)])
        .await;

    let stored = harness.execution(&execution.id).unwrap();
    assert_eq!(stored.status, ExecutionStatus::Failed);
    assert_eq!(stored.end_time, Some(Timestamp(30_000)));
    assert_eq!(stored.next_retry_time, None);
}

#[tokio::test]
async fn non_retryable_failure_fails() {
    let mut harness = Harness::new();
    let failed = failed_execution(&mut harness).await;
    assert_eq!(failed.status, ExecutionStatus::Failed);
    assert_eq!(failed.end_time, Some(Timestamp(11_000)));
    assert_eq!(failed.error.as_deref(), Some("target returned 404"));
}

#[tokio::test]
async fn retry_follows_current_job_spec() {
    let mut harness = Harness::new();
    let execution = running_execution(&mut harness).await;
    let mut no_retry = spec("0 0 * * *");
    no_retry.retry = crate::model::RetryStrategy::none();
    harness
        .apply(Command::UpdateJob {
            id: "job-1".to_string(),
            spec: no_retry,
            status: None,
            next_execution_time: None,
            now: Timestamp(10_500),
        })
        .await;

    harness
        .outcomes(vec![failure(&execution.id, 1, 11_000, true)])
        .await;

    let stored = harness.execution(&execution.id).unwrap();
    assert_eq!(stored.status, ExecutionStatus::Failed);
}

#[tokio::test]
async fn failure_without_response_keeps_result() {
    let mut harness = Harness::new();
    let execution = running_execution(&mut harness).await;
    harness
        .outcomes(vec![failure(&execution.id, 1, 11_000, true)])
        .await;
    harness.retry(&execution.id, 2).await;

    let timeout = Outcome {
        jitter_sample: 0,
        execution_id: execution.id.clone(),
        attempt: 2,
        finished_at: Timestamp(13_000),
        result: OutcomeResult::Failure {
            status_code: None,
            body: None,
            error: "timed out after 1000 ms".to_string(),
            retryable: true,
        },
    };
    harness.outcomes(vec![timeout]).await;

    let stored = harness.execution(&execution.id).unwrap();
    assert_eq!(stored.error.as_deref(), Some("timed out after 1000 ms"));
    let other_job_execution = ExecutionResult {
        status_code: 503,
        body: "busy".to_string(),
    };
    assert_eq!(stored.result, Some(other_job_execution));
}

#[tokio::test]
async fn stale_outcomes_are_ignored() {
    let mut harness = Harness::new();
    let execution = running_execution(&mut harness).await;
    harness.retry(&execution.id, 2).await;
    let before = harness.execution(&execution.id).unwrap();

    let outcomes = vec![
        success("missing", 1, 11_000),
        success(&execution.id, 1, 11_000),
        success(&execution.id, 3, 11_000),
    ];
    let applied = harness.outcomes(outcomes).await;

    assert_eq!(applied, 0);
    assert_eq!(harness.execution(&execution.id), Some(before));
}

#[tokio::test]
async fn outcome_of_retrying_execution_is_ignored() {
    let mut harness = Harness::new();
    let execution = running_execution(&mut harness).await;
    harness
        .outcomes(vec![failure(&execution.id, 1, 11_000, true)])
        .await;

    let applied = harness
        .outcomes(vec![success(&execution.id, 1, 11_500)])
        .await;

    assert_eq!(applied, 0);
    let stored = harness.execution(&execution.id).unwrap();
    assert_eq!(stored.status, ExecutionStatus::Retrying);
}

#[tokio::test]
async fn second_outcome_in_one_command_is_stale() {
    let mut harness = Harness::new();
    let execution = running_execution(&mut harness).await;

    let outcomes = vec![
        success(&execution.id, 1, 11_000),
        failure(&execution.id, 1, 11_001, false),
    ];
    let applied = harness.outcomes(outcomes).await;

    assert_eq!(applied, 1);
    let stored = harness.execution(&execution.id).unwrap();
    assert_eq!(stored.status, ExecutionStatus::Completed);
}

#[tokio::test]
async fn long_body_is_cut_at_char_boundary() {
    let mut harness = Harness::new();
    let execution = running_execution(&mut harness).await;
    // 'é' is two bytes, so the limit falls inside a character.
    let body = format!("a{}", "é".repeat(MAX_RESULT_BODY_BYTES));
    let outcome = Outcome {
        result: OutcomeResult::Success {
            status_code: 200,
            body,
        },
        ..success(&execution.id, 1, 11_000)
    };

    harness.outcomes(vec![outcome]).await;

    let stored = harness.execution(&execution.id).unwrap();
    let stored_body = stored.result.unwrap().body;
    assert_eq!(stored_body.len(), MAX_RESULT_BODY_BYTES - 1);
    assert!(stored_body.starts_with("aé"));
}

// --- Entries without commands, last applied and events

#[tokio::test]
async fn rejected_command_advances_last_applied() {
    let mut harness = Harness::new();
    harness
        .apply(Command::DeleteJob {
            id: "missing".to_string(),
        })
        .await;
    let last_applied = harness.store.reader.last_applied().unwrap();
    assert_eq!(last_applied, Some(log_id(TERM, 1)));
}

#[tokio::test]
async fn blank_and_membership_entries_return_empty() {
    let mut store = open_temp_store();
    let membership = Membership::new(vec![[1, 2, 3].into()], ());
    let entries = [
        openraft::Entry {
            log_id: log_id(1, 1),
            payload: EntryPayload::Blank,
        },
        openraft::Entry {
            log_id: log_id(1, 2),
            payload: EntryPayload::Membership(membership.clone()),
        },
    ];

    let responses = store.state_machine.apply(entries).await.unwrap();

    assert_eq!(responses, vec![Response::Empty, Response::Empty]);
    let (last_applied, stored) = store.state_machine.applied_state().await.unwrap();
    assert_eq!(last_applied, Some(log_id(1, 2)));
    assert_eq!(stored.log_id(), &Some(log_id(1, 2)));
    assert_eq!(stored.membership(), &membership);
}

#[tokio::test]
async fn events_follow_applied_changes() {
    let mut harness = Harness::new();
    let mut events = harness.store.reader.subscribe();

    harness.create(job("job-1")).await;
    let execution = harness
        .accepted(schedule_fire("job-1", 10_000, Some(20_000)))
        .await;
    harness
        .apply(Command::DeleteJob {
            id: "job-1".to_string(),
        })
        .await;

    let created = events.try_recv().unwrap();
    assert_eq!(
        created,
        StateEvent::JobChanged {
            job_id: "job-1".to_string(),
            job: Some(Box::new(Job {
                revision: 1,
                ..job("job-1")
            })),
        }
    );
    let advanced = events.try_recv().unwrap();
    let StateEvent::JobChanged {
        job: Some(advanced),
        ..
    } = advanced
    else {
        panic!("expected the job change of the fire, got {advanced:?}");
    };
    assert_eq!(advanced.last_execution_time, Some(Timestamp(10_000)));
    assert_eq!(
        events.try_recv().unwrap(),
        StateEvent::ExecutionChanged(execution)
    );
    let deleted = StateEvent::JobChanged {
        job_id: "job-1".to_string(),
        job: None,
    };
    assert_eq!(events.try_recv().unwrap(), deleted);
    assert!(events.try_recv().is_err(), "no further events");
}

#[tokio::test]
async fn rejected_command_sends_no_event() {
    let mut harness = Harness::new();
    let mut events = harness.store.reader.subscribe();
    harness
        .apply(Command::PauseJob {
            id: "missing".to_string(),
            now: Timestamp(1),
        })
        .await;
    assert!(events.try_recv().is_err());
}

#[tokio::test]
async fn update_job_with_status_pauses() {
    let mut harness = Harness::new();
    harness.create(job("job-1")).await;
    harness
        .apply(Command::UpdateJob {
            id: "job-1".to_string(),
            spec: spec("0 0 * * *"),
            status: Some(JobStatus::Paused),
            next_execution_time: Some(Timestamp(99_000)),
            now: Timestamp(5_000),
        })
        .await;
    let stored = harness.job("job-1");
    assert_eq!(stored.status, JobStatus::Paused);
    assert_eq!(stored.next_execution_time, None);
}

#[tokio::test]
async fn update_job_activating_sets_anchor_and_next() {
    let mut harness = Harness::new();
    harness.create(job("job-1")).await;
    harness
        .apply(Command::PauseJob {
            id: "job-1".to_string(),
            now: Timestamp(2_000),
        })
        .await;
    harness
        .apply(Command::UpdateJob {
            id: "job-1".to_string(),
            spec: spec("0 0 * * *"),
            status: Some(JobStatus::Active),
            next_execution_time: Some(Timestamp(99_000)),
            now: Timestamp(5_000),
        })
        .await;
    let stored = harness.job("job-1");
    assert_eq!(stored.status, JobStatus::Active);
    assert_eq!(stored.anchor, Timestamp(5_000));
    assert_eq!(stored.next_execution_time, Some(Timestamp(99_000)));
}
