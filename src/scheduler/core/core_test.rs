//! Tests of the scheduling core: each feeds events with fixed instants and asserts the exact
//! commands returned.

use std::sync::Arc;

use super::{Command, CoreConfig, Event, SchedulerCore};
use crate::model::{
    Cause, Execution, ExecutionStatus, FireIntent, HttpTrigger, Intent, Job, JobSpec, JobStatus,
    RetryIntent, RetryStrategy, Timestamp, Trigger,
};

/// Computes test schedule instants: the job's `schedule` field is a period in milliseconds, and
/// the instants are `anchor + k * period` for `k >= 1`. A schedule of `never` has no instant.
pub(super) fn every_period(job: &Job, after: Timestamp) -> Option<Timestamp> {
    let period: i64 = job.spec.schedule.parse().ok()?;
    let anchor = job.anchor.0;
    let elapsed = (after.0 - anchor).max(0);
    let steps = elapsed / period + 1;
    Some(Timestamp(anchor + steps * period))
}

pub(super) fn core_with(misfire_threshold_ms: u64) -> SchedulerCore {
    let config = CoreConfig {
        misfire_threshold_ms,
    };
    SchedulerCore::new(config, Arc::new(every_period))
}

fn core() -> SchedulerCore {
    SchedulerCore::new(CoreConfig::default(), Arc::new(every_period))
}

pub(super) fn job(id: &str, period_ms: i64, anchor: i64) -> Job {
    let trigger = HttpTrigger {
        url: "http://127.0.0.1:9/hook".to_string(),
        method: "POST".to_string(),
        headers: Default::default(),
        body: None,
        timeout_ms: 1000,
    };
    Job {
        revision: 0,
        pruned_through: None,
        stats: crate::model::JobStats::default(),
        id: id.to_string(),
        spec: JobSpec {
            policies: crate::model::JobPolicies::default(),
            name: id.to_string(),
            description: String::new(),
            schedule: period_ms.to_string(),
            time_zone: "UTC".to_string(),
            trigger: Trigger::Http(trigger),
            retry: RetryStrategy::none(),
            tags: Vec::new(),
        },
        status: JobStatus::Active,
        anchor: Timestamp(anchor),
        last_execution_time: None,
        next_execution_time: None,
        created_at: Timestamp(anchor),
        updated_at: Timestamp(anchor),
    }
}

pub(super) fn fired(job: &Job, last: i64) -> Job {
    Job {
        last_execution_time: Some(Timestamp(last)),
        ..job.clone()
    }
}

fn with_status(job: &Job, status: JobStatus, changed_at: i64) -> Job {
    Job {
        status,
        updated_at: Timestamp(changed_at),
        ..job.clone()
    }
}

pub(super) fn execution(job_id: &str, scheduled: i64, attempt: u32, term: u64) -> Execution {
    let scheduled_time = Timestamp(scheduled);
    Execution {
        redispatches: 0,
        id: Execution::derive_id(job_id, scheduled_time, Cause::Schedule),
        job_id: job_id.to_string(),
        scheduled_time,
        start_time: scheduled_time,
        end_time: None,
        status: ExecutionStatus::Running,
        attempt_count: attempt,
        next_retry_time: None,
        result: None,
        error: None,
        cause: Cause::Schedule,
        retry_of: None,
        attempt_term: term,
        attempt_index: 10 * u64::from(attempt),
    }
}

fn retrying(execution: &Execution, next_retry: i64) -> Execution {
    Execution {
        status: ExecutionStatus::Retrying,
        next_retry_time: Some(Timestamp(next_retry)),
        ..execution.clone()
    }
}

pub(super) fn finished(execution: &Execution, status: ExecutionStatus) -> Execution {
    Execution {
        status,
        end_time: Some(Timestamp(execution.scheduled_time.0 + 50)),
        ..execution.clone()
    }
}

pub(super) fn fire(job_id: &str, at: i64, next: Option<i64>, decided_at: i64) -> Intent {
    Intent::Fire(FireIntent {
        caught_up: false,
        force: false,
        job_id: job_id.to_string(),
        scheduled_time: Timestamp(at),
        cause: Cause::Schedule,
        decided_at: Timestamp(decided_at),
        next_execution_time: next.map(Timestamp),
        retry_of: None,
        job_revision: Some(0),
        request_key: None,
    })
}

pub(super) fn retry(execution: &Execution, attempt: u32, decided_at: i64) -> Intent {
    retry_marked(execution, attempt, decided_at, false)
}

/// Builds the retry intent of an in-doubt attempt of an earlier term.
fn in_doubt_retry(execution: &Execution, attempt: u32, decided_at: i64) -> Intent {
    retry_marked(execution, attempt, decided_at, true)
}

fn retry_marked(execution: &Execution, attempt: u32, decided_at: i64, in_doubt: bool) -> Intent {
    Intent::Retry(RetryIntent {
        in_doubt,
        execution_id: execution.id.clone(),
        attempt,
        decided_at: Timestamp(decided_at),
    })
}

pub(super) fn gained(
    term: u64,
    now: i64,
    jobs: Vec<Job>,
    open_executions: Vec<Execution>,
) -> Event {
    Event::LeadershipGained {
        term,
        now: Timestamp(now),
        jobs,
        open_executions,
    }
}

pub(super) fn tick(now: i64) -> Event {
    Event::Tick {
        now: Timestamp(now),
    }
}

fn changed(job: &Job) -> Event {
    Event::JobChanged {
        job_id: job.id.clone(),
        job: Some(job.clone()),
    }
}

pub(super) fn arm(at: i64) -> Command {
    Command::ArmTimer(Some(Timestamp(at)))
}

pub(super) fn dispatch(execution: &Execution, job: &Job) -> Command {
    Command::Dispatch {
        execution: execution.clone(),
        job: job.clone(),
    }
}

#[test]
fn gain_arms_next_instant() {
    let mut core = core();

    let commands = core.handle(gained(1, 500, vec![job("a", 1000, 0)], vec![]));

    assert_eq!(commands, vec![arm(1000)]);
    assert_eq!(core.term(), Some(1));
}

#[test]
fn tick_before_deadline_proposes_nothing() {
    let mut core = core();
    core.handle(gained(1, 500, vec![job("a", 1000, 0)], vec![]));

    assert_eq!(core.handle(tick(999)), vec![]);
}

#[test]
fn due_instant_is_proposed_once() {
    let mut core = core();
    core.handle(gained(1, 500, vec![job("a", 1000, 0)], vec![]));

    let commands = core.handle(tick(1000));

    let expected = vec![
        Command::Propose(vec![fire("a", 1000, Some(2000), 1000)]),
        arm(2000),
    ];
    assert_eq!(commands, expected);
    assert_eq!(core.handle(tick(1500)), vec![]);
}

#[test]
fn late_tick_fires_every_passed_instant() {
    let mut core = core();
    core.handle(gained(1, 500, vec![job("a", 1000, 0)], vec![]));

    let commands = core.handle(tick(2100));

    let expected = vec![
        Command::Propose(vec![
            fire("a", 1000, Some(2000), 2100),
            fire("a", 2000, Some(3000), 2100),
        ]),
        arm(3000),
    ];
    assert_eq!(commands, expected);
}

#[test]
fn jobs_due_together_share_one_proposal() {
    let mut core = core();
    let jobs = vec![job("c", 1000, 0), job("a", 1000, 0), job("b", 500, 500)];
    core.handle(gained(1, 100, jobs, vec![]));

    let commands = core.handle(tick(1000));

    let expected = vec![
        Command::Propose(vec![
            fire("a", 1000, Some(2000), 1000),
            fire("b", 1000, Some(1500), 1000),
            fire("c", 1000, Some(2000), 1000),
        ]),
        arm(1500),
    ];
    assert_eq!(commands, expected);
}

#[test]
fn gain_catches_up_missed_instants() {
    let mut core = core();
    let job = fired(&job("a", 1000, 0), 2000);

    let commands = core.handle(gained(2, 5500, vec![job], vec![]));

    let expected = vec![
        Command::Propose(vec![
            fire("a", 3000, Some(4000), 5500),
            fire("a", 4000, Some(5000), 5500),
            fire("a", 5000, Some(6000), 5500),
        ]),
        arm(6000),
    ];
    assert_eq!(commands, expected);
    assert_eq!(core.skipped_instants(), 0);
}

#[test]
fn catch_up_never_fired_starts_at_anchor() {
    let mut core = core();
    let resumed = Job {
        created_at: Timestamp(0),
        ..job("a", 1000, 10_000)
    };

    let commands = core.handle(gained(2, 12_500, vec![resumed], vec![]));

    let expected = vec![
        Command::Propose(vec![
            fire("a", 11_000, Some(12_000), 12_500),
            fire("a", 12_000, Some(13_000), 12_500),
        ]),
        arm(13_000),
    ];
    assert_eq!(commands, expected);
}

#[test]
fn catch_up_ignores_instants_before_anchor() {
    let mut core = core();
    // Fired last at 2000, then paused and resumed at 7000: the paused instants do not fire.
    let resumed = Job {
        anchor: Timestamp(7000),
        ..fired(&job("a", 1000, 0), 2000)
    };

    let commands = core.handle(gained(2, 8500, vec![resumed], vec![]));

    let expected = vec![
        Command::Propose(vec![fire("a", 8000, Some(9000), 8500)]),
        arm(9000),
    ];
    assert_eq!(commands, expected);
}

#[test]
fn in_doubt_attempt_retried_on_gain() {
    let mut core = core();
    let job = fired(&job("a", 1000, 0), 1000);
    let in_doubt = execution("a", 1000, 1, 1);

    let commands = core.handle(gained(2, 1500, vec![job], vec![in_doubt.clone()]));

    let expected = vec![
        Command::Propose(vec![in_doubt_retry(&in_doubt, 2, 1500)]),
        arm(2000),
    ];
    assert_eq!(commands, expected);
}

#[test]
fn in_doubt_retry_dispatched_when_started() {
    let mut core = core();
    let job = fired(&job("a", 1000, 0), 1000);
    let in_doubt = execution("a", 1000, 1, 1);
    core.handle(gained(2, 1500, vec![job.clone()], vec![in_doubt.clone()]));

    let stale = core.handle(Event::ExecutionChanged(in_doubt));
    let second_attempt = execution("a", 1000, 2, 2);
    let started = core.handle(Event::ExecutionChanged(second_attempt.clone()));

    assert_eq!(stale, vec![]);
    assert_eq!(started, vec![dispatch(&second_attempt, &job)]);
}

#[test]
fn current_term_attempt_in_doubt_on_gain() {
    let mut core = core();
    let job = fired(&job("a", 1000, 0), 1000);
    // A run of this term that a previous process or leader loop of this node may have sent.
    let running = execution("a", 1200, 1, 2);

    let commands = core.handle(gained(2, 1500, vec![job.clone()], vec![running.clone()]));

    let expected = vec![
        Command::Propose(vec![in_doubt_retry(&running, 2, 1500)]),
        arm(2000),
    ];
    assert_eq!(commands, expected);
    let repeated = core.handle(Event::ExecutionChanged(running));
    assert_eq!(
        repeated,
        vec![],
        "the loaded attempt is not dispatched again"
    );
}

#[test]
fn running_attempt_of_term_dispatched() {
    let mut core = core();
    let job = job("a", 1000, 0);
    core.handle(gained(2, 500, vec![job.clone()], vec![]));
    let started = execution("a", 1000, 1, 2);

    let commands = core.handle(Event::ExecutionChanged(started.clone()));

    assert_eq!(commands, vec![dispatch(&started, &job)]);
}

#[test]
fn repeated_event_dispatches_once() {
    let mut core = core();
    let job = job("a", 1000, 0);
    core.handle(gained(2, 500, vec![job.clone()], vec![]));
    let started = execution("a", 1000, 1, 2);

    let first = core.handle(Event::ExecutionChanged(started.clone()));
    let second = core.handle(Event::ExecutionChanged(started.clone()));

    assert_eq!(first, vec![dispatch(&started, &job)]);
    assert_eq!(second, vec![]);
}

#[test]
fn older_term_attempt_not_dispatched() {
    let mut core = core();
    core.handle(gained(3, 500, vec![job("a", 1000, 0)], vec![]));

    let commands = core.handle(Event::ExecutionChanged(execution("a", 1000, 1, 2)));

    assert_eq!(commands, vec![]);
}

#[test]
fn older_attempt_state_ignored() {
    let mut core = core();
    let job = job("a", 1000, 0);
    core.handle(gained(2, 500, vec![job.clone()], vec![]));
    let second_attempt = execution("a", 1000, 2, 2);
    core.handle(Event::ExecutionChanged(second_attempt));

    let first_attempt_failed = retrying(&execution("a", 1000, 1, 2), 1800);
    let commands = core.handle(Event::ExecutionChanged(first_attempt_failed));

    assert_eq!(commands, vec![]);
}

#[test]
fn retrying_execution_arms_and_retries() {
    let mut core = core();
    let job = job("a", 10_000, 0);
    core.handle(gained(2, 500, vec![job.clone()], vec![]));
    let first = execution("a", 1000, 1, 2);
    core.handle(Event::ExecutionChanged(first.clone()));
    let failed = retrying(&first, 3000);

    let armed = core.handle(Event::ExecutionChanged(failed.clone()));
    let early = core.handle(tick(2999));
    let due = core.handle(tick(3000));
    let again = core.handle(tick(3100));
    let second = execution("a", 1000, 2, 2);
    let started = core.handle(Event::ExecutionChanged(second.clone()));

    assert_eq!(armed, vec![arm(3000)]);
    assert_eq!(early, vec![]);
    assert_eq!(
        due,
        vec![Command::Propose(vec![retry(&failed, 2, 3000)]), arm(10_000)]
    );
    assert_eq!(again, vec![]);
    assert_eq!(started, vec![dispatch(&second, &job)]);
}

#[test]
fn retrying_execution_armed_on_gain() {
    let mut core = core();
    let failed = retrying(&execution("a", 1000, 1, 1), 4000);

    let armed = core.handle(gained(
        2,
        1500,
        vec![job("a", 10_000, 0)],
        vec![failed.clone()],
    ));
    let due = core.handle(tick(4000));

    assert_eq!(armed, vec![arm(4000)]);
    assert_eq!(
        due,
        vec![Command::Propose(vec![retry(&failed, 2, 4000)]), arm(10_000)]
    );
}

#[test]
fn final_execution_disarms_retry() {
    let mut core = core();
    core.handle(gained(2, 500, vec![job("a", 10_000, 0)], vec![]));
    let failed = retrying(&execution("a", 1000, 1, 2), 3000);
    core.handle(Event::ExecutionChanged(failed.clone()));

    let commands = core.handle(Event::ExecutionChanged(finished(
        &failed,
        ExecutionStatus::Failed,
    )));

    assert_eq!(commands, vec![arm(10_000)]);
    assert_eq!(core.handle(tick(3000)), vec![]);
}

#[test]
fn pause_disarms_job() {
    let mut core = core();
    let job = job("a", 1000, 0);
    core.handle(gained(1, 500, vec![job.clone()], vec![]));

    let commands = core.handle(changed(&with_status(&job, JobStatus::Paused, 600)));

    assert_eq!(commands, vec![Command::ArmTimer(None)]);
    assert_eq!(core.handle(tick(1000)), vec![]);
}

#[test]
fn delete_disarms_job_and_retries() {
    let mut core = core();
    core.handle(gained(1, 500, vec![job("a", 1000, 0)], vec![]));
    core.handle(Event::ExecutionChanged(retrying(
        &execution("a", 400, 1, 1),
        700,
    )));

    let deleted = Event::JobChanged {
        job_id: "a".to_string(),
        job: None,
    };
    let commands = core.handle(deleted);

    assert_eq!(commands, vec![Command::ArmTimer(None)]);
    assert_eq!(core.handle(tick(1000)), vec![]);
    assert!(!core.knows_job("a"));
}

#[test]
fn resume_fires_from_resume_on() {
    let mut core = core();
    let job = fired(&job("a", 1000, 0), 1000);
    core.handle(gained(1, 1500, vec![job.clone()], vec![]));
    core.handle(changed(&with_status(&job, JobStatus::Paused, 1600)));

    let resumed = Job {
        anchor: Timestamp(5200),
        ..with_status(&job, JobStatus::Active, 5200)
    };
    let commands = core.handle(changed(&resumed));

    assert_eq!(commands, vec![arm(6200)]);
}

#[test]
fn schedule_change_rearms_from_change() {
    let mut core = core();
    let job = job("a", 1000, 0);
    core.handle(gained(1, 500, vec![job.clone()], vec![]));

    let mut rescheduled = with_status(&job, JobStatus::Active, 1200);
    rescheduled.spec.schedule = "300".to_string();
    rescheduled.anchor = Timestamp(1200);
    let commands = core.handle(changed(&rescheduled));

    assert_eq!(commands, vec![arm(1500)]);
}

#[test]
fn own_fire_keeps_job_timer() {
    let mut core = core();
    let job = job("a", 1000, 0);
    core.handle(gained(1, 500, vec![job.clone()], vec![]));
    core.handle(tick(1000));

    let after_fire = Job {
        next_execution_time: Some(Timestamp(2000)),
        ..fired(&job, 1000)
    };
    let commands = core.handle(changed(&after_fire));

    assert_eq!(commands, vec![]);
    let next = core.handle(tick(2000));
    assert_eq!(
        next,
        vec![
            Command::Propose(vec![fire("a", 2000, Some(3000), 2000)]),
            arm(3000)
        ]
    );
}

#[test]
fn new_job_armed_from_creation() {
    let mut core = core();
    core.handle(gained(1, 500, vec![], vec![]));

    let commands = core.handle(changed(&job("b", 1000, 700)));

    assert_eq!(commands, vec![arm(1700)]);
    assert!(core.knows_job("b"));
}

#[test]
fn failed_proposal_is_requeued() {
    let mut core = core();
    core.handle(gained(1, 500, vec![job("a", 1000, 0)], vec![]));
    let Command::Propose(intents) = core.handle(tick(1000)).remove(0) else {
        panic!("expected a proposal");
    };

    let failed = Event::ProposalFailed {
        intents: intents.clone(),
        retry_at: Timestamp(1500),
    };
    let requeued = core.handle(failed);
    let early = core.handle(tick(1400));
    let again = core.handle(tick(1500));

    assert_eq!(requeued, vec![arm(1500)]);
    assert_eq!(early, vec![]);
    assert_eq!(again, vec![Command::Propose(intents), arm(2000)]);
}

#[test]
fn requeued_fire_dropped_after_pause() {
    let mut core = core();
    let job = job("a", 1000, 0);
    core.handle(gained(1, 500, vec![job.clone()], vec![]));
    let Command::Propose(intents) = core.handle(tick(1000)).remove(0) else {
        panic!("expected a proposal");
    };
    core.handle(Event::ProposalFailed {
        intents,
        retry_at: Timestamp(1500),
    });
    core.handle(changed(&with_status(&job, JobStatus::Paused, 1200)));

    let commands = core.handle(tick(1500));

    assert_eq!(commands, vec![Command::ArmTimer(None)]);
}

#[test]
fn requeued_retry_proposed_again() {
    let mut core = core();
    core.handle(gained(2, 500, vec![job("a", 10_000, 0)], vec![]));
    let failed = retrying(&execution("a", 400, 1, 2), 3000);
    core.handle(Event::ExecutionChanged(failed.clone()));
    core.handle(tick(3000));

    core.handle(Event::ProposalFailed {
        intents: vec![retry(&failed, 2, 3000)],
        retry_at: Timestamp(4000),
    });
    let commands = core.handle(tick(4000));

    let expected = vec![Command::Propose(vec![retry(&failed, 2, 3000)]), arm(10_000)];
    assert_eq!(commands, expected);
}

#[test]
fn leadership_loss_stops_everything() {
    let mut core = core();
    let job = job("a", 1000, 0);
    core.handle(gained(1, 500, vec![job], vec![]));

    let lost = core.handle(Event::LeadershipLost);

    assert_eq!(lost, vec![Command::ArmTimer(None)]);
    assert_eq!(core.term(), None);
    assert_eq!(core.handle(tick(5000)), vec![]);
    assert_eq!(
        core.handle(Event::ExecutionChanged(execution("a", 1000, 1, 1))),
        vec![]
    );
}

#[test]
fn events_before_gain_ignored() {
    let mut core = core();

    assert_eq!(core.handle(changed(&job("a", 1000, 0))), vec![]);
    assert_eq!(core.handle(tick(5000)), vec![]);
    assert!(!core.knows_job("a"));
}

#[test]
fn rebuild_in_same_term_keeps_dispatched() {
    let mut core = core();
    let job = job("a", 1000, 0);
    core.handle(gained(2, 500, vec![job.clone()], vec![]));
    let started = execution("a", 1000, 1, 2);
    core.handle(Event::ExecutionChanged(started.clone()));

    let rebuilt = core.handle(gained(
        2,
        1100,
        vec![fired(&job, 1000)],
        vec![started.clone()],
    ));
    let next_term = core.handle(gained(
        3,
        1200,
        vec![fired(&job, 1000)],
        vec![started.clone()],
    ));

    assert_eq!(rebuilt, vec![arm(2000)]);
    let expected = vec![
        Command::Propose(vec![in_doubt_retry(&started, 2, 1200)]),
        arm(2000),
    ];
    assert_eq!(next_term, expected);
}

#[test]
fn replaced_execution_aborts_dispatch() {
    let mut core = core();
    let job = job("a", 10_000, 0);
    core.handle(gained(2, 500, vec![job.clone()], vec![]));
    let started = execution("a", 1000, 1, 2);
    core.handle(Event::ExecutionChanged(started.clone()));

    // The state machine ended the run as FAILED ("replaced") while its request was in flight.
    let replaced = finished(&started, ExecutionStatus::Failed);
    let commands = core.handle(Event::ExecutionChanged(replaced));

    let abort = Command::Abort {
        execution_id: started.id.clone(),
    };
    assert_eq!(commands, vec![abort]);
}

#[test]
fn undispatched_final_execution_not_aborted() {
    let mut core = core();
    core.handle(gained(2, 500, vec![job("a", 10_000, 0)], vec![]));
    // Started by an earlier term: this core never dispatched it.
    let earlier = execution("a", 1000, 1, 1);

    let commands = core.handle(Event::ExecutionChanged(finished(
        &earlier,
        ExecutionStatus::Completed,
    )));

    assert_eq!(commands, vec![]);
}
