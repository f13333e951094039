//! Tests of the failure counts and of the rule that shuts down Raft, with made-up instants.

use super::*;
use crate::scheduler::FenceError;
use crate::store::StoreError;

const TERM: u64 = 7;

fn secs(seconds: u64) -> Duration {
    Duration::from_secs(seconds)
}

fn storage_error() -> SchedulerError {
    SchedulerError::State(StoreError::UnsupportedFormatVersion {
        kind: "job",
        found: 3,
        supported: 4,
    })
}

fn quorum_error() -> SchedulerError {
    SchedulerError::LeadershipUnconfirmed(FenceError::TimedOut {
        term: TERM,
        after_ms: 10_000,
    })
}

/// Starts a loop at `at` and fails it one second later; returns the decision.
fn fail_once(tracker: &mut HealthTracker, at: Instant, error: &SchedulerError) -> AfterFailure {
    tracker.loop_started(TERM, at);
    tracker.loop_failed(error, at + secs(1))
}

#[test]
fn new_tracker_reports_not_leading() {
    let health = HealthTracker::default().health();

    assert_eq!(health, SchedulerHealth::default());
    assert_eq!(health.term, None);
    assert!(!health.is_failing());
}

#[test]
fn started_loop_reports_running() {
    let mut tracker = HealthTracker::default();

    tracker.loop_started(TERM, Instant::now());

    let health = tracker.health();
    assert_eq!(health.term, Some(TERM));
    assert!(health.loop_running);
    assert_eq!(health.consecutive_failures, 0);
    assert_eq!(health.last_error, None);
}

#[test]
fn failures_in_a_row_make_scheduler_failing() {
    let mut tracker = HealthTracker::default();
    let start = Instant::now();

    for attempt in 0..FAILURES_BEFORE_FAILING {
        assert!(!tracker.health().is_failing(), "after {attempt} failures");
        let at = start + secs(2 * u64::from(attempt));
        assert_eq!(
            fail_once(&mut tracker, at, &quorum_error()),
            AfterFailure::Restart
        );
    }

    let health = tracker.health();
    assert!(health.is_failing());
    assert!(!health.loop_running);
    assert_eq!(health.consecutive_failures, FAILURES_BEFORE_FAILING);
    assert_eq!(
        health.last_error.as_deref(),
        Some("leadership of term 7 not confirmed within 10000 ms")
    );
}

#[test]
fn storage_failures_in_a_row_shut_down_raft() {
    let mut tracker = HealthTracker::default();
    let start = Instant::now();

    let decisions: Vec<AfterFailure> = (0..FAILURES_BEFORE_FAILING)
        .map(|attempt| {
            let at = start + secs(2 * u64::from(attempt));
            fail_once(&mut tracker, at, &storage_error())
        })
        .collect();

    let last = decisions.len() - 1;
    assert!(
        decisions[..last]
            .iter()
            .all(|decision| *decision == AfterFailure::Restart),
        "{decisions:?}"
    );
    assert_eq!(decisions[last], AfterFailure::ShutDownRaft);
    let last_error = tracker.health().last_error.unwrap();
    assert!(
        last_error
            .starts_with("failed to read the scheduler state: stored job has format version 3"),
        "{last_error}"
    );
}

#[test]
fn other_failures_never_shut_down_raft() {
    let mut tracker = HealthTracker::default();
    let start = Instant::now();

    for attempt in 0..10 {
        let at = start + secs(2 * attempt);
        assert_eq!(
            fail_once(&mut tracker, at, &quorum_error()),
            AfterFailure::Restart
        );
    }

    assert_eq!(tracker.health().consecutive_failures, 10);
}

#[test]
fn other_failure_breaks_storage_run() {
    let mut tracker = HealthTracker::default();
    let start = Instant::now();

    fail_once(&mut tracker, start, &storage_error());
    fail_once(&mut tracker, start + secs(2), &storage_error());
    fail_once(&mut tracker, start + secs(4), &quorum_error());
    let after_one = fail_once(&mut tracker, start + secs(6), &storage_error());
    let after_two = fail_once(&mut tracker, start + secs(8), &storage_error());
    let after_three = fail_once(&mut tracker, start + secs(10), &storage_error());

    assert_eq!(after_one, AfterFailure::Restart);
    assert_eq!(after_two, AfterFailure::Restart);
    assert_eq!(after_three, AfterFailure::ShutDownRaft);
}

#[test]
fn healthy_run_clears_counts() {
    let mut tracker = HealthTracker::default();
    let start = Instant::now();
    fail_once(&mut tracker, start, &storage_error());
    fail_once(&mut tracker, start + secs(2), &storage_error());

    let restarted = start + secs(4);
    tracker.loop_started(TERM, restarted);
    tracker.still_running(restarted + HEALTHY_RUN - Duration::from_millis(1));
    assert_eq!(tracker.health().consecutive_failures, 2);

    tracker.still_running(restarted + HEALTHY_RUN);
    let health = tracker.health();
    assert_eq!(health.consecutive_failures, 0);
    assert_eq!(health.last_error, None);
    assert!(health.loop_running);
}

#[test]
fn failure_after_healthy_run_counts_one() {
    let mut tracker = HealthTracker::default();
    let start = Instant::now();
    fail_once(&mut tracker, start, &storage_error());
    fail_once(&mut tracker, start + secs(2), &storage_error());

    let restarted = start + secs(4);
    tracker.loop_started(TERM, restarted);
    let decision = tracker.loop_failed(&storage_error(), restarted + HEALTHY_RUN);

    assert_eq!(decision, AfterFailure::Restart);
    assert_eq!(tracker.health().consecutive_failures, 1);
}

#[test]
fn leadership_loss_clears_health() {
    let mut tracker = HealthTracker::default();
    let start = Instant::now();
    fail_once(&mut tracker, start, &storage_error());
    fail_once(&mut tracker, start + secs(2), &storage_error());

    tracker.not_leading();

    assert_eq!(tracker.health(), SchedulerHealth::default());
    let decision = fail_once(&mut tracker, start + secs(4), &storage_error());
    assert_eq!(decision, AfterFailure::Restart);
    assert_eq!(tracker.health().consecutive_failures, 1);
}

#[test]
fn loop_ended_keeps_counts() {
    let mut tracker = HealthTracker::default();
    let start = Instant::now();
    fail_once(&mut tracker, start, &quorum_error());
    tracker.loop_started(TERM, start + secs(2));

    tracker.loop_ended();

    let health = tracker.health();
    assert!(!health.loop_running);
    assert_eq!(health.consecutive_failures, 1);
}
