//! Tests of the rules that keep stale intents out: job revisions, repeated skips and repeated
//! retries of one failed execution.

use super::*;
use crate::model::SkipIntent;

fn skip_intent(job_id: &str, latest_ms: i64, revision: u64) -> Intent {
    Intent::Skip(SkipIntent {
        job_id: job_id.to_string(),
        instants: 3,
        latest: Timestamp(latest_ms),
        next_execution_time: Some(Timestamp(latest_ms + 1000)),
        job_revision: revision,
    })
}

fn pause(id: &str, now_ms: i64) -> Command {
    Command::PauseJob {
        id: id.to_string(),
        now: Timestamp(now_ms),
    }
}

#[tokio::test]
async fn client_changes_set_revision() {
    let mut harness = Harness::new();
    let created = harness.create(job("job-1")).await;
    assert_eq!(created.revision, harness.last_index);
    assert_eq!(harness.job("job-1").revision, harness.last_index);

    harness.apply(pause("job-1", 2_000)).await;
    assert_eq!(harness.job("job-1").revision, harness.last_index);
}

#[tokio::test]
async fn fire_from_old_revision_is_stale() {
    let mut harness = Harness::new();
    let created = harness.create(job("job-1")).await;
    let mut fire = schedule_fire("job-1", 60_000, Some(120_000));
    fire.job_revision = Some(created.revision);
    harness
        .apply(Command::UpdateJob {
            id: "job-1".to_string(),
            spec: spec("*/5 * * * *"),
            status: None,
            next_execution_time: Some(Timestamp(300_000)),
            now: Timestamp(2_000),
        })
        .await;

    let decision = harness.fire(fire).await;
    let stale = SkipReason::StaleIntent("job-1".to_string());
    assert_eq!(decision, FireDecision::Skipped { reason: stale });
    assert_eq!(
        harness.job("job-1").next_execution_time,
        Some(Timestamp(300_000))
    );
}

#[tokio::test]
async fn fire_from_current_revision_is_accepted() {
    let mut harness = Harness::new();
    let created = harness.create(job("job-1")).await;
    let mut fire = schedule_fire("job-1", 60_000, Some(120_000));
    fire.job_revision = Some(created.revision);
    assert!(matches!(
        harness.fire(fire).await,
        FireDecision::Accepted(_)
    ));
}

#[tokio::test]
async fn skip_counts_once() {
    let mut harness = Harness::new();
    let created = harness.create(job("job-1")).await;
    let intent = skip_intent("job-1", 60_000, created.revision);

    harness.fires(vec![intent.clone()]).await;
    let decisions = harness.fires(vec![intent]).await;

    let stale = SkipReason::StaleIntent("job-1".to_string());
    assert_eq!(decisions, vec![FireDecision::Skipped { reason: stale }]);
    let stored = harness.job("job-1");
    assert_eq!(stored.stats.skipped_instants, 3);
    assert_eq!(stored.last_execution_time, Some(Timestamp(60_000)));
}

#[tokio::test]
async fn skip_after_pause_changes_nothing() {
    let mut harness = Harness::new();
    let created = harness.create(job("job-1")).await;
    harness.apply(pause("job-1", 2_000)).await;

    harness
        .fires(vec![skip_intent("job-1", 60_000, created.revision)])
        .await;

    let stored = harness.job("job-1");
    assert_eq!(stored.stats.skipped_instants, 0);
    assert_eq!(stored.next_execution_time, None);
}

#[tokio::test]
async fn failed_execution_is_retried_once() {
    let mut harness = Harness::new();
    let failed = failed_execution(&mut harness).await;

    let first = harness
        .fire(retry_fire("job-1", 20_000, Some(&failed.id)))
        .await;
    let second = harness
        .fire(retry_fire("job-1", 21_000, Some(&failed.id)))
        .await;

    let FireDecision::Accepted(retry) = first else {
        panic!("first retry not accepted: {first:?}");
    };
    assert_eq!(retry.id, Execution::derive_retry_id(&failed.id));
    assert_eq!(second, FireDecision::Duplicate(retry.id));
}

#[tokio::test]
async fn rename_keeps_revision_and_fire_in_flight() {
    let mut harness = Harness::new();
    let created = harness.create(job("job-1")).await;
    let mut fire = schedule_fire("job-1", 60_000, Some(120_000));
    fire.job_revision = Some(created.revision);
    let mut renamed = spec("0 0 * * *");
    renamed.name = "renamed".to_string();
    harness
        .apply(Command::UpdateJob {
            id: "job-1".to_string(),
            spec: renamed,
            status: None,
            next_execution_time: None,
            now: Timestamp(2_000),
        })
        .await;

    assert_eq!(harness.job("job-1").revision, created.revision);
    assert!(matches!(
        harness.fire(fire).await,
        FireDecision::Accepted(_)
    ));
}
