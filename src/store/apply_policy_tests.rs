//! Tests of the job policies in the apply rules: concurrency, catch-up and redispatch counters,
//! retried status codes and jitter, and history retention.

use super::*;
use crate::model::{ConcurrencyPolicy, Retention};

fn job_with_concurrency(id: &str, concurrency: ConcurrencyPolicy) -> Job {
    let mut job = job(id);
    job.spec.policies.concurrency = concurrency;
    job
}

fn job_with_retention(id: &str, max_count: u32, max_age_ms: u64) -> Job {
    let mut job = job(id);
    job.spec.policies.retention = Retention {
        max_count,
        max_age_ms,
    };
    job
}

fn forced(fire: FireIntent) -> FireIntent {
    FireIntent {
        force: true,
        ..fire
    }
}

fn caught_up(fire: FireIntent) -> FireIntent {
    FireIntent {
        caught_up: true,
        ..fire
    }
}

fn forbidden(open_id: &str) -> FireDecision {
    FireDecision::Skipped {
        reason: SkipReason::ConcurrencyForbidden(open_id.to_string()),
    }
}

/// Builds a failed attempt with the given status code and `retryable` flag.
fn failure_with(
    execution_id: &str,
    attempt: u32,
    status_code: Option<u16>,
    retryable: bool,
) -> Outcome {
    let outcome = failure(execution_id, attempt, 11_000, retryable);
    let OutcomeResult::Failure { body, error, .. } = outcome.result else {
        unreachable!("failure() builds a Failure");
    };
    Outcome {
        result: OutcomeResult::Failure {
            status_code,
            body,
            error,
            retryable,
        },
        ..outcome
    }
}

fn in_doubt_retry(execution_id: &str, attempt: u32) -> Intent {
    Intent::Retry(RetryIntent {
        in_doubt: true,
        execution_id: execution_id.to_string(),
        attempt,
        decided_at: Timestamp(50_000),
    })
}

fn open_ids(harness: &Harness) -> Vec<String> {
    let open = harness.store.reader.open_executions().unwrap();
    open.into_iter().map(|execution| execution.id).collect()
}

/// Row counts of the execution trees: (executions, executions_by_job, open_executions).
fn stored_rows(harness: &Harness) -> (usize, usize, usize) {
    let trees = harness.store.reader.trees();
    (
        trees.executions.len(),
        trees.executions_by_job.len(),
        trees.open_executions.len(),
    )
}

/// Ids of the job's executions, newest scheduled time first, read through the index.
fn history_ids(harness: &Harness, job_id: &str) -> Vec<String> {
    let page = super::super::Page {
        page: 1,
        limit: 100_000,
    };
    let listed = harness.store.reader.list_executions(job_id, None, page);
    let executions = listed.unwrap().items;
    executions
        .into_iter()
        .map(|execution| execution.id)
        .collect()
}

// --- concurrency: FORBID

#[tokio::test]
async fn forbid_skips_schedule_fire_while_running() {
    let mut harness = Harness::new();
    harness
        .create(job_with_concurrency("job-1", ConcurrencyPolicy::Forbid))
        .await;
    let first = harness
        .accepted(schedule_fire("job-1", 10_000, Some(20_000)))
        .await;

    let decision = harness
        .fire(schedule_fire("job-1", 20_000, Some(30_000)))
        .await;

    assert_eq!(decision, forbidden(&first.id));
    let skipped_id = Execution::derive_id("job-1", Timestamp(20_000), Cause::Schedule);
    assert_eq!(harness.execution(&skipped_id), None);
    let stored = harness.job("job-1");
    assert_eq!(stored.stats.skipped_instants, 1);
    assert_eq!(stored.stats.caught_up_instants, 0);
    assert_eq!(stored.last_execution_time, Some(Timestamp(20_000)));
    assert_eq!(stored.next_execution_time, Some(Timestamp(30_000)));
    assert_eq!(open_ids(&harness), vec![first.id]);
}

#[tokio::test]
async fn forbid_skips_while_retrying() {
    let mut harness = Harness::new();
    harness
        .create(job_with_concurrency("job-1", ConcurrencyPolicy::Forbid))
        .await;
    let first = harness
        .accepted(schedule_fire("job-1", 10_000, Some(20_000)))
        .await;
    harness
        .outcomes(vec![failure(&first.id, 1, 11_000, true)])
        .await;
    assert_eq!(
        harness.execution(&first.id).unwrap().status,
        ExecutionStatus::Retrying
    );

    let decision = harness
        .fire(schedule_fire("job-1", 20_000, Some(30_000)))
        .await;

    assert_eq!(decision, forbidden(&first.id));
}

#[tokio::test]
async fn forbid_skips_manual_fire_without_moving_job() {
    let mut harness = Harness::new();
    harness
        .create(job_with_concurrency("job-1", ConcurrencyPolicy::Forbid))
        .await;
    let first = harness
        .accepted(schedule_fire("job-1", 10_000, Some(20_000)))
        .await;

    let decision = harness.fire(manual_fire("job-1", 12_000)).await;

    assert_eq!(decision, forbidden(&first.id));
    let stored = harness.job("job-1");
    assert_eq!(
        stored.stats.skipped_instants, 0,
        "a refused manual run is no instant"
    );
    assert_eq!(stored.last_execution_time, Some(Timestamp(10_000)));
    assert_eq!(stored.next_execution_time, Some(Timestamp(20_000)));
}

#[tokio::test]
async fn forbid_names_oldest_open_execution() {
    let mut harness = Harness::new();
    harness
        .create(job_with_concurrency("job-1", ConcurrencyPolicy::Forbid))
        .await;
    let newer = harness.accepted(forced(manual_fire("job-1", 15_000))).await;
    let older = harness.accepted(forced(manual_fire("job-1", 12_000))).await;
    assert_ne!(newer.id, older.id);

    let decision = harness.fire(manual_fire("job-1", 16_000)).await;

    assert_eq!(decision, forbidden(&older.id));
}

#[tokio::test]
async fn forbid_sees_fire_of_same_command() {
    let mut harness = Harness::new();
    harness
        .create(job_with_concurrency("job-1", ConcurrencyPolicy::Forbid))
        .await;
    let intents = vec![
        Intent::Fire(schedule_fire("job-1", 10_000, Some(20_000))),
        Intent::Fire(schedule_fire("job-1", 20_000, Some(30_000))),
    ];

    let decisions = harness.fires(intents).await;

    let FireDecision::Accepted(first) = &decisions[0] else {
        panic!("expected the first fire accepted, got {:?}", decisions[0]);
    };
    assert_eq!(decisions[1], forbidden(&first.id));
    assert_eq!(harness.job("job-1").stats.skipped_instants, 1);
}

#[tokio::test]
async fn forbid_accepts_fire_after_completion() {
    let mut harness = Harness::new();
    harness
        .create(job_with_concurrency("job-1", ConcurrencyPolicy::Forbid))
        .await;
    let first = harness
        .accepted(schedule_fire("job-1", 10_000, Some(20_000)))
        .await;
    harness.outcomes(vec![success(&first.id, 1, 11_000)]).await;

    let second = harness
        .accepted(schedule_fire("job-1", 20_000, Some(30_000)))
        .await;

    assert_eq!(second.status, ExecutionStatus::Running);
    assert_eq!(harness.job("job-1").stats.skipped_instants, 0);
}

#[tokio::test]
async fn forbid_ignores_other_jobs() {
    let mut harness = Harness::new();
    harness
        .create(job_with_concurrency("job-1", ConcurrencyPolicy::Forbid))
        .await;
    harness.create(job("job-2")).await;
    harness
        .accepted(schedule_fire("job-2", 10_000, Some(20_000)))
        .await;

    let decision = harness
        .fire(schedule_fire("job-1", 10_000, Some(20_000)))
        .await;

    assert!(
        matches!(decision, FireDecision::Accepted(_)),
        "{decision:?}"
    );
}

#[tokio::test]
async fn force_bypasses_forbid() {
    let mut harness = Harness::new();
    harness
        .create(job_with_concurrency("job-1", ConcurrencyPolicy::Forbid))
        .await;
    let first = harness
        .accepted(schedule_fire("job-1", 10_000, Some(20_000)))
        .await;

    let second = harness.accepted(forced(manual_fire("job-1", 12_000))).await;

    assert_eq!(harness.job("job-1").stats.skipped_instants, 0);
    let mut open = open_ids(&harness);
    open.sort();
    let mut expected = vec![first.id, second.id];
    expected.sort();
    assert_eq!(open, expected);
}

#[tokio::test]
async fn duplicate_fire_under_forbid_is_duplicate() {
    let mut harness = Harness::new();
    harness
        .create(job_with_concurrency("job-1", ConcurrencyPolicy::Forbid))
        .await;
    let first = harness
        .accepted(schedule_fire("job-1", 10_000, Some(20_000)))
        .await;

    let decision = harness
        .fire(schedule_fire("job-1", 10_000, Some(20_000)))
        .await;

    assert_eq!(decision, FireDecision::Duplicate(first.id));
    assert_eq!(harness.job("job-1").stats.skipped_instants, 0);
}

#[tokio::test]
async fn allow_keeps_runs_overlapping() {
    let mut harness = Harness::new();
    harness.create(job("job-1")).await;
    let first = harness
        .accepted(schedule_fire("job-1", 10_000, Some(20_000)))
        .await;

    harness
        .accepted(schedule_fire("job-1", 20_000, Some(30_000)))
        .await;

    assert_eq!(open_ids(&harness).len(), 2);
    let stored = harness.execution(&first.id).unwrap();
    assert_eq!(stored.status, ExecutionStatus::Running);
}

// --- concurrency: REPLACE

#[tokio::test]
async fn replace_fails_every_open_execution() {
    let mut harness = Harness::new();
    harness
        .create(job_with_concurrency("job-1", ConcurrencyPolicy::Replace))
        .await;
    let retrying = harness.accepted(forced(manual_fire("job-1", 9_000))).await;
    harness
        .outcomes(vec![failure(&retrying.id, 1, 9_500, true)])
        .await;
    let running = harness.accepted(forced(manual_fire("job-1", 9_800))).await;
    let mut events = harness.store.reader.subscribe();

    let fire = schedule_fire("job-1", 10_000, Some(20_000));
    let decided_at = fire.decided_at;
    let new = harness.accepted(fire).await;

    for id in [&retrying.id, &running.id] {
        let replaced = harness.execution(id).unwrap();
        assert_eq!(replaced.status, ExecutionStatus::Failed, "{id}");
        assert_eq!(replaced.end_time, Some(decided_at), "{id}");
        assert_eq!(replaced.next_retry_time, None, "{id}");
        let error = format!("replaced by execution {}", new.id);
        assert_eq!(replaced.error, Some(error), "{id}");
    }
    assert_eq!(open_ids(&harness), vec![new.id.clone()]);

    let mut announced = std::collections::BTreeMap::new();
    while let Ok(event) = events.try_recv() {
        if let StateEvent::ExecutionChanged(execution) = event {
            announced.insert(execution.id, execution.status);
        }
    }
    let expected = std::collections::BTreeMap::from([
        (retrying.id, ExecutionStatus::Failed),
        (running.id, ExecutionStatus::Failed),
        (new.id, ExecutionStatus::Running),
    ]);
    assert_eq!(announced, expected);
}

#[tokio::test]
async fn replace_keeps_result_of_replaced_attempt() {
    let mut harness = Harness::new();
    harness
        .create(job_with_concurrency("job-1", ConcurrencyPolicy::Replace))
        .await;
    let first = harness.accepted(manual_fire("job-1", 9_000)).await;
    harness
        .outcomes(vec![failure(&first.id, 1, 9_500, true)])
        .await;

    harness.accepted(manual_fire("job-1", 10_000)).await;

    let replaced = harness.execution(&first.id).unwrap();
    assert_eq!(replaced.attempt_count, 1);
    assert_eq!(replaced.result.map(|result| result.status_code), Some(503));
}

#[tokio::test]
async fn force_bypasses_replace() {
    let mut harness = Harness::new();
    harness
        .create(job_with_concurrency("job-1", ConcurrencyPolicy::Replace))
        .await;
    let first = harness
        .accepted(schedule_fire("job-1", 10_000, Some(20_000)))
        .await;

    harness.accepted(forced(manual_fire("job-1", 12_000))).await;

    let stored = harness.execution(&first.id).unwrap();
    assert_eq!(stored.status, ExecutionStatus::Running);
    assert_eq!(open_ids(&harness).len(), 2);
}

#[tokio::test]
async fn replace_ignores_other_jobs() {
    let mut harness = Harness::new();
    harness
        .create(job_with_concurrency("job-1", ConcurrencyPolicy::Replace))
        .await;
    harness.create(job("job-2")).await;
    let other = harness
        .accepted(schedule_fire("job-2", 10_000, Some(20_000)))
        .await;

    harness
        .accepted(schedule_fire("job-1", 10_000, Some(20_000)))
        .await;

    let stored = harness.execution(&other.id).unwrap();
    assert_eq!(stored.status, ExecutionStatus::Running);
}

#[tokio::test]
async fn stale_outcome_of_replaced_attempt_is_ignored() {
    let mut harness = Harness::new();
    harness
        .create(job_with_concurrency("job-1", ConcurrencyPolicy::Replace))
        .await;
    let first = harness.accepted(manual_fire("job-1", 9_000)).await;
    harness.accepted(manual_fire("job-1", 10_000)).await;

    let applied = harness.outcomes(vec![success(&first.id, 1, 10_500)]).await;

    assert_eq!(applied, 0);
    let stored = harness.execution(&first.id).unwrap();
    assert_eq!(stored.status, ExecutionStatus::Failed);
}

// --- counters

#[tokio::test]
async fn caught_up_fire_is_counted_once() {
    let mut harness = Harness::new();
    harness.create(job("job-1")).await;
    let fire = caught_up(schedule_fire("job-1", 10_000, Some(20_000)));

    harness.accepted(fire.clone()).await;
    let duplicate = harness.fire(fire).await;

    assert!(matches!(duplicate, FireDecision::Duplicate(_)));
    let stored = harness.job("job-1");
    assert_eq!(stored.stats.caught_up_instants, 1);
    assert_eq!(stored.stats.skipped_instants, 0);
    assert_eq!(stored.last_execution_time, Some(Timestamp(10_000)));
}

#[tokio::test]
async fn skipped_caught_up_fire_counts_as_skipped() {
    let mut harness = Harness::new();
    harness
        .create(job_with_concurrency("job-1", ConcurrencyPolicy::Forbid))
        .await;
    harness
        .accepted(schedule_fire("job-1", 10_000, Some(20_000)))
        .await;

    harness
        .fire(caught_up(schedule_fire("job-1", 20_000, Some(30_000))))
        .await;

    let stored = harness.job("job-1");
    assert_eq!(stored.stats.caught_up_instants, 0);
    assert_eq!(stored.stats.skipped_instants, 1);
}

#[tokio::test]
async fn in_doubt_retry_counts_redispatch() {
    let mut harness = Harness::new();
    let execution = running_execution(&mut harness).await;

    let decisions = harness.fires(vec![in_doubt_retry(&execution.id, 2)]).await;

    let FireDecision::Accepted(accepted) = &decisions[0] else {
        panic!("expected the retry accepted, got {:?}", decisions[0]);
    };
    assert_eq!(accepted.redispatches, 1);
    assert_eq!(accepted.attempt_count, 2);
    let stored = harness.execution(&execution.id).unwrap();
    assert_eq!(stored.redispatches, 1);
}

#[tokio::test]
async fn due_retry_is_not_a_redispatch() {
    let mut harness = Harness::new();
    let execution = running_execution(&mut harness).await;
    harness
        .outcomes(vec![failure(&execution.id, 1, 11_000, true)])
        .await;

    harness.retry(&execution.id, 2).await;

    let stored = harness.execution(&execution.id).unwrap();
    assert_eq!(stored.redispatches, 0);
}

#[tokio::test]
async fn rejected_in_doubt_retry_changes_nothing() {
    let mut harness = Harness::new();
    let execution = running_execution(&mut harness).await;
    harness.fires(vec![in_doubt_retry(&execution.id, 2)]).await;

    let decisions = harness
        .fires(vec![
            in_doubt_retry(&execution.id, 2),
            in_doubt_retry(&execution.id, 4),
        ])
        .await;

    assert_eq!(decisions[0], FireDecision::Duplicate(execution.id.clone()));
    let stale = SkipReason::StaleAttempt(execution.id.clone());
    assert_eq!(decisions[1], FireDecision::Skipped { reason: stale });
    let stored = harness.execution(&execution.id).unwrap();
    assert_eq!(stored.redispatches, 1);
}

// --- retried status codes and jitter

/// Creates `job-1` with `retry_on`, starts a run and applies a failure of its first attempt.
async fn status_after_failure(
    retry_on: Option<Vec<u16>>,
    status_code: Option<u16>,
    retryable: bool,
) -> ExecutionStatus {
    let mut harness = Harness::new();
    let mut created = job("job-1");
    created.spec.retry.retry_on = retry_on;
    harness.create(created).await;
    let execution = harness
        .accepted(schedule_fire("job-1", 10_000, Some(20_000)))
        .await;

    let outcome = failure_with(&execution.id, 1, status_code, retryable);
    assert_eq!(harness.outcomes(vec![outcome]).await, 1);
    harness.execution(&execution.id).unwrap().status
}

#[tokio::test]
async fn status_code_retry_follows_retry_on() {
    let retrying = ExecutionStatus::Retrying;
    let failed = ExecutionStatus::Failed;
    let listed = Some(vec![409]);
    // (retry_on, status code, the outcome's retryable flag, expected status)
    let cases = [
        (None, Some(503), false, retrying),
        (None, Some(429), false, retrying),
        (None, Some(404), true, failed),
        (listed.clone(), Some(409), false, retrying),
        (listed.clone(), Some(503), true, failed),
        (listed.clone(), None, true, retrying),
        (listed, None, false, failed),
        (None, None, true, retrying),
        (None, None, false, failed),
    ];
    for (retry_on, status_code, retryable, expected) in cases {
        let case = format!("retry_on {retry_on:?}, status {status_code:?}, retryable {retryable}");
        let status = status_after_failure(retry_on, status_code, retryable).await;
        assert_eq!(status, expected, "{case}");
    }
}

#[tokio::test]
async fn jitter_sample_extends_retry_delay() {
    let mut harness = Harness::new();
    let mut created = job("job-1");
    created.spec.retry.jitter_permille = 500;
    harness.create(created).await;
    let execution = harness
        .accepted(schedule_fire("job-1", 10_000, Some(20_000)))
        .await;

    let outcome = Outcome {
        jitter_sample: 1000,
        ..failure(&execution.id, 1, 11_000, true)
    };
    harness.outcomes(vec![outcome]).await;

    let stored = harness.execution(&execution.id).unwrap();
    assert_eq!(
        stored.next_retry_time,
        Some(Timestamp(12_500)),
        "1 s plus half of it"
    );
}

#[tokio::test]
async fn max_interval_caps_retry_delay() {
    let mut harness = Harness::new();
    let mut created = job("job-1");
    created.spec.retry.max_interval_ms = Some(1_500);
    harness.create(created).await;
    let execution = harness
        .accepted(schedule_fire("job-1", 10_000, Some(20_000)))
        .await;
    harness.retry(&execution.id, 2).await;

    harness
        .outcomes(vec![failure(&execution.id, 2, 20_000, true)])
        .await;

    let stored = harness.execution(&execution.id).unwrap();
    assert_eq!(
        stored.next_retry_time,
        Some(Timestamp(21_500)),
        "2 s capped at 1.5 s"
    );
}

// --- retention

/// Fires and completes the schedule instant `scheduled_ms` of `job_id`; returns the execution id.
async fn fire_and_complete(harness: &mut Harness, job_id: &str, scheduled_ms: i64) -> String {
    let fire = schedule_fire(job_id, scheduled_ms, Some(scheduled_ms + 1_000));
    let execution = harness.accepted(fire).await;
    let applied = harness
        .outcomes(vec![success(&execution.id, 1, scheduled_ms + 100)])
        .await;
    assert_eq!(applied, 1);
    execution.id
}

#[tokio::test]
async fn retention_keeps_newest_finished_executions() {
    let mut harness = Harness::new();
    harness
        .create(job_with_retention("job-1", 3, 86_400_000))
        .await;
    let mut ids = Vec::new();
    for second in 1..=5 {
        ids.push(fire_and_complete(&mut harness, "job-1", second * 1_000).await);
    }

    let newest_first: Vec<_> = ids.iter().rev().take(3).cloned().collect();
    assert_eq!(history_ids(&harness, "job-1"), newest_first);
    for pruned in &ids[..2] {
        assert_eq!(harness.execution(pruned), None);
    }
    assert_eq!(stored_rows(&harness), (3, 3, 0));
}

#[tokio::test]
async fn retention_never_prunes_open_executions() {
    let mut harness = Harness::new();
    harness
        .create(job_with_retention("job-1", 1, 86_400_000))
        .await;
    let mut open = Vec::new();
    for second in 1..=3 {
        let fire = schedule_fire("job-1", second * 1_000, None);
        open.push(harness.accepted(fire).await.id);
    }
    let retrying = &open[0];
    harness
        .outcomes(vec![failure(retrying, 1, 3_500, true)])
        .await;
    let completed = [
        fire_and_complete(&mut harness, "job-1", 4_000).await,
        fire_and_complete(&mut harness, "job-1", 5_000).await,
    ];

    for id in &open {
        assert!(harness.execution(id).is_some(), "open execution {id} kept");
    }
    assert_eq!(harness.execution(&completed[0]), None);
    assert!(harness.execution(&completed[1]).is_some());
    assert_eq!(stored_rows(&harness), (4, 4, 3));
}

#[tokio::test]
async fn retention_prunes_by_age_at_command_instant() {
    let mut harness = Harness::new();
    harness
        .create(job_with_retention("job-1", 100, 60_000))
        .await;
    let old = fire_and_complete(&mut harness, "job-1", 10_000).await;
    let recent = fire_and_complete(&mut harness, "job-1", 50_000).await;
    assert!(harness.execution(&old).is_some());

    // decided_at is 100_005, so instants before 40_005 are older than max_age.
    let newest = harness
        .accepted(schedule_fire("job-1", 100_000, Some(110_000)))
        .await;

    assert_eq!(harness.execution(&old), None);
    assert!(harness.execution(&recent).is_some());
    assert!(harness.execution(&newest.id).is_some());
    assert_eq!(history_ids(&harness, "job-1"), vec![newest.id, recent]);
}

#[tokio::test]
async fn retention_keeps_old_open_execution() {
    let mut harness = Harness::new();
    harness
        .create(job_with_retention("job-1", 100, 60_000))
        .await;
    let open = harness
        .accepted(schedule_fire("job-1", 10_000, Some(20_000)))
        .await;

    fire_and_complete(&mut harness, "job-1", 500_000).await;

    assert!(harness.execution(&open.id).is_some());
}

#[tokio::test]
async fn retention_leaves_other_jobs_alone() {
    let mut harness = Harness::new();
    harness
        .create(job_with_retention("job-1", 1, 86_400_000))
        .await;
    harness.create(job("job-2")).await;
    let other = [
        fire_and_complete(&mut harness, "job-2", 1_000).await,
        fire_and_complete(&mut harness, "job-2", 2_000).await,
    ];

    fire_and_complete(&mut harness, "job-1", 3_000).await;
    fire_and_complete(&mut harness, "job-1", 4_000).await;

    for id in &other {
        assert!(harness.execution(id).is_some(), "{id}");
    }
    assert_eq!(history_ids(&harness, "job-1").len(), 1);
}

#[tokio::test]
async fn smaller_retention_applies_at_next_fire() {
    let mut harness = Harness::new();
    harness.create(job("job-1")).await;
    for second in 1..=4 {
        fire_and_complete(&mut harness, "job-1", second * 1_000).await;
    }
    let mut smaller = spec("0 0 * * *");
    smaller.policies.retention.max_count = 2;
    harness
        .apply(Command::UpdateJob {
            id: "job-1".to_string(),
            spec: smaller,
            status: None,
            next_execution_time: None,
            now: Timestamp(4_500),
        })
        .await;
    assert_eq!(history_ids(&harness, "job-1").len(), 4);

    harness
        .accepted(schedule_fire("job-1", 5_000, Some(6_000)))
        .await;

    assert_eq!(
        history_ids(&harness, "job-1").len(),
        3,
        "2 finished + 1 open"
    );
}

#[tokio::test]
async fn execution_finished_and_pruned_is_announced() {
    let mut harness = Harness::new();
    harness
        .create(job_with_retention("job-1", 1, 86_400_000))
        .await;
    let late = harness.accepted(schedule_fire("job-1", 5_000, None)).await;
    fire_and_complete(&mut harness, "job-1", 10_000).await;
    let mut events = harness.store.reader.subscribe();

    // `late` is older than the one finished execution kept, so it goes as soon as it ends.
    harness.outcomes(vec![success(&late.id, 1, 12_000)]).await;

    assert_eq!(harness.execution(&late.id), None);
    let StateEvent::JobChanged { job: Some(job), .. } = events.try_recv().unwrap() else {
        panic!("expected the job event of the raised pruned_through");
    };
    assert_eq!(job.pruned_through, Some(Timestamp(5_000)));
    let StateEvent::ExecutionChanged(announced) = events.try_recv().unwrap() else {
        panic!("expected an execution event");
    };
    assert_eq!(announced.id, late.id);
    assert_eq!(announced.status, ExecutionStatus::Completed);
    assert!(events.try_recv().is_err(), "no further events");
}

#[tokio::test]
async fn replaced_and_pruned_execution_is_announced() {
    let mut harness = Harness::new();
    let mut created = job_with_retention("job-1", 1, 86_400_000);
    created.spec.policies.concurrency = ConcurrencyPolicy::Replace;
    harness.create(created).await;
    let older = harness.accepted(forced(manual_fire("job-1", 5_000))).await;
    let newer = harness.accepted(forced(manual_fire("job-1", 8_000))).await;
    harness.outcomes(vec![success(&newer.id, 1, 8_500)]).await;
    let mut events = harness.store.reader.subscribe();

    // The replaced `older` is the older of two finished executions, and only one is kept.
    harness.accepted(manual_fire("job-1", 10_000)).await;

    assert_eq!(harness.execution(&older.id), None);
    let mut replaced = None;
    while let Ok(event) = events.try_recv() {
        if let StateEvent::ExecutionChanged(execution) = event
            && execution.id == older.id
        {
            replaced = Some(execution);
        }
    }
    let replaced = replaced.expect("the replaced execution is announced");
    assert_eq!(replaced.status, ExecutionStatus::Failed);
}

#[tokio::test]
async fn steady_firing_keeps_history_flat() {
    let mut harness = Harness::new();
    harness
        .create(job_with_retention("job-1", 10, 7 * 86_400_000))
        .await;

    for instant in 1..=1_000_i64 {
        let scheduled_ms = instant * 60_000;
        let fire = schedule_fire("job-1", scheduled_ms, Some(scheduled_ms + 60_000));
        let execution = harness.accepted(fire).await;

        let finished_kept = usize::try_from(instant - 1).unwrap().min(10);
        assert_eq!(
            stored_rows(&harness),
            (finished_kept + 1, finished_kept + 1, 1),
            "{instant}"
        );

        let outcome = success(&execution.id, 1, scheduled_ms + 100);
        assert_eq!(harness.outcomes(vec![outcome]).await, 1);
        let finished_kept = usize::try_from(instant).unwrap().min(10);
        assert_eq!(
            stored_rows(&harness),
            (finished_kept, finished_kept, 0),
            "{instant}"
        );
    }

    let history = history_ids(&harness, "job-1");
    assert_eq!(history.len(), 10);
    let newest = Execution::derive_id("job-1", Timestamp(1_000 * 60_000), Cause::Schedule);
    assert_eq!(history[0], newest);
    assert_eq!(
        harness.job("job-1").last_execution_time,
        Some(Timestamp(60_000_000))
    );
}

// --- retention: copies of pruned schedule intents

/// Creates `job-1` keeping one finished execution, then fires and completes its instants at
/// 10 s and 20 s, so retention removes the one at 10 s. Returns the removed execution's id.
async fn pruned_first_instant(harness: &mut Harness) -> String {
    harness
        .create(job_with_retention("job-1", 1, 86_400_000))
        .await;
    let pruned = fire_and_complete(harness, "job-1", 10_000).await;
    fire_and_complete(harness, "job-1", 20_000).await;
    assert_eq!(harness.execution(&pruned), None, "retention removed it");
    pruned
}

fn stale_intent(job_id: &str) -> FireDecision {
    FireDecision::Skipped {
        reason: SkipReason::StaleIntent(job_id.to_string()),
    }
}

#[tokio::test]
async fn retention_records_pruned_schedule_instant() {
    let mut harness = Harness::new();
    pruned_first_instant(&mut harness).await;

    assert_eq!(harness.job("job-1").pruned_through, Some(Timestamp(10_000)));
}

#[tokio::test]
async fn copy_of_pruned_intent_is_rejected() {
    let mut harness = Harness::new();
    let pruned = pruned_first_instant(&mut harness).await;
    let job_before = harness.job("job-1");
    let rows_before = stored_rows(&harness);

    // The same intent, proposed again after its first proposal timed out but committed.
    let decision = harness
        .fire(schedule_fire("job-1", 10_000, Some(11_000)))
        .await;

    assert_eq!(decision, stale_intent("job-1"));
    assert_eq!(harness.execution(&pruned), None);
    assert_eq!(stored_rows(&harness), rows_before);
    assert_eq!(open_ids(&harness), Vec::<String>::new());
    assert_eq!(harness.job("job-1"), job_before);
}

#[tokio::test]
async fn older_instant_above_pruned_through_is_accepted() {
    let mut harness = Harness::new();
    pruned_first_instant(&mut harness).await;
    fire_and_complete(&mut harness, "job-1", 30_000).await;
    assert_eq!(harness.job("job-1").pruned_through, Some(Timestamp(20_000)));

    // 25 s was proposed before 30 s, but that proposal never committed.
    let late = harness
        .accepted(schedule_fire("job-1", 25_000, Some(30_000)))
        .await;

    assert_eq!(late.scheduled_time, Timestamp(25_000));
    assert_eq!(late.status, ExecutionStatus::Running);
    let stored = harness.job("job-1");
    assert_eq!(stored.last_execution_time, Some(Timestamp(30_000)));
    assert_eq!(stored.next_execution_time, Some(Timestamp(31_000)));
}

#[tokio::test]
async fn never_committed_instant_below_pruned_through_is_rejected() {
    let mut harness = Harness::new();
    pruned_first_instant(&mut harness).await;

    // 5 s never had an execution, but retention leaves no record to tell it from a pruned one.
    let decision = harness
        .fire(schedule_fire("job-1", 5_000, Some(10_000)))
        .await;

    assert_eq!(decision, stale_intent("job-1"));
    let never_run = Execution::derive_id("job-1", Timestamp(5_000), Cause::Schedule);
    assert_eq!(harness.execution(&never_run), None);
    assert_eq!(harness.job("job-1").stats.skipped_instants, 0);
}

#[tokio::test]
async fn open_execution_below_pruned_through_is_duplicate() {
    let mut harness = Harness::new();
    harness
        .create(job_with_retention("job-1", 1, 86_400_000))
        .await;
    let open = harness
        .accepted(schedule_fire("job-1", 5_000, Some(10_000)))
        .await;
    fire_and_complete(&mut harness, "job-1", 10_000).await;
    fire_and_complete(&mut harness, "job-1", 20_000).await;
    assert_eq!(harness.job("job-1").pruned_through, Some(Timestamp(10_000)));

    let decision = harness
        .fire(schedule_fire("job-1", 5_000, Some(10_000)))
        .await;

    assert_eq!(decision, FireDecision::Duplicate(open.id));
}

#[tokio::test]
async fn pruned_through_never_moves_back() {
    let mut harness = Harness::new();
    harness
        .create(job_with_retention("job-1", 1, 86_400_000))
        .await;
    let late = harness
        .accepted(schedule_fire("job-1", 5_000, Some(10_000)))
        .await;
    fire_and_complete(&mut harness, "job-1", 10_000).await;
    fire_and_complete(&mut harness, "job-1", 20_000).await;

    // `late` ends after a newer instant was removed, and goes at once.
    harness.outcomes(vec![success(&late.id, 1, 21_000)]).await;

    assert_eq!(harness.execution(&late.id), None);
    assert_eq!(harness.job("job-1").pruned_through, Some(Timestamp(10_000)));
}

#[tokio::test]
async fn pruned_manual_execution_keeps_pruned_through() {
    let mut harness = Harness::new();
    harness
        .create(job_with_retention("job-1", 1, 86_400_000))
        .await;
    let manual = harness.accepted(manual_fire("job-1", 5_000)).await;
    harness.outcomes(vec![success(&manual.id, 1, 5_500)]).await;

    fire_and_complete(&mut harness, "job-1", 10_000).await;

    assert_eq!(harness.execution(&manual.id), None);
    assert_eq!(harness.job("job-1").pruned_through, None);
    harness
        .accepted(schedule_fire("job-1", 5_000, Some(10_000)))
        .await;
}

#[tokio::test]
async fn pruned_through_survives_snapshot_install() {
    let mut harness = Harness::new();
    pruned_first_instant(&mut harness).await;
    let snapshot = build_snapshot(&mut harness.store).await;

    let mut follower = open_temp_store();
    install_snapshot(&mut follower, &snapshot.meta, &snapshot)
        .await
        .unwrap();

    let installed = follower.reader.get_job("job-1").unwrap().unwrap();
    assert_eq!(installed.pruned_through, Some(Timestamp(10_000)));
    let copy = Command::RecordFires {
        intents: vec![Intent::Fire(schedule_fire("job-1", 10_000, Some(11_000)))],
    };
    let entry = command_entry(TERM, harness.last_index + 1, copy);
    let responses = follower.state_machine.apply([entry]).await.unwrap();
    assert_eq!(
        responses,
        vec![Response::Fires(vec![stale_intent("job-1")])]
    );
}
