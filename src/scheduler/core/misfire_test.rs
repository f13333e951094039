//! Tests of missed instants: the misfire threshold, the three misfire policies, the starting
//! deadline and the bounds on work and on proposal size. Instants are plain milliseconds, and
//! every test asserts the exact commands returned.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::core_test::{arm, core_with, every_period, fire, fired, gained, job, tick};
use super::misfire::{MAX_CATCH_UP, MAX_COUNTED_INSTANTS};
use super::{Command, CoreConfig, Event, SchedulerCore};
use crate::model::{
    Cause, ConcurrencyPolicy, FireIntent, Intent, Job, MisfirePolicy, SkipIntent, Timestamp,
};

/// Misfire threshold of most tests, in milliseconds.
const THRESHOLD: u64 = 5000;

/// Job "a", firing every second from instant 0 and never fired, with the given policies.
fn policy_job(misfire: MisfirePolicy, max_catch_up: u32, deadline_ms: Option<u64>) -> Job {
    let mut job = job("a", 1000, 0);
    job.spec.policies.misfire = misfire;
    job.spec.policies.max_catch_up = max_catch_up;
    job.spec.policies.starting_deadline_ms = deadline_ms;
    job
}

/// Builds the fire intent of a missed instant of job "a", run late under its misfire policy.
fn late(at: i64, next: i64, decided_at: i64) -> Intent {
    Intent::Fire(FireIntent {
        caught_up: true,
        force: false,
        job_id: "a".to_string(),
        scheduled_time: Timestamp(at),
        cause: Cause::Schedule,
        decided_at: Timestamp(decided_at),
        next_execution_time: Some(Timestamp(next)),
        retry_of: None,
        job_revision: Some(0),
        request_key: None,
    })
}

fn skip(instants: u32, latest: i64, next: i64) -> Intent {
    Intent::Skip(SkipIntent {
        job_id: "a".to_string(),
        instants,
        latest: Timestamp(latest),
        next_execution_time: Some(Timestamp(next)),
        job_revision: 0,
    })
}

/// Normal fires of job "a" at every second from `from` to `to`, both included.
fn on_time(from: i64, to: i64, decided_at: i64) -> Vec<Intent> {
    (from..=to)
        .step_by(1000)
        .map(|at| fire("a", at, Some(at + 1000), decided_at))
        .collect()
}

fn proposal(parts: Vec<Vec<Intent>>) -> Command {
    Command::Propose(parts.into_iter().flatten().collect())
}

#[test]
fn failover_within_threshold_fires_all() {
    let mut core = core_with(10_000);
    let job = fired(&policy_job(MisfirePolicy::Skip, 10, None), 2000);

    let commands = core.handle(gained(2, 9500, vec![job], vec![]));

    let expected = vec![proposal(vec![on_time(3000, 9000, 9500)]), arm(10_000)];
    assert_eq!(commands, expected);
    assert_eq!(core.skipped_instants(), 0);
}

#[test]
fn instant_at_threshold_is_not_missed() {
    let job = fired(&policy_job(MisfirePolicy::Skip, 10, None), 14_000);

    let at_threshold = core_with(THRESHOLD).handle(gained(2, 20_000, vec![job.clone()], vec![]));
    let past_threshold = core_with(THRESHOLD).handle(gained(2, 20_001, vec![job], vec![]));

    let expected = vec![proposal(vec![on_time(15_000, 20_000, 20_000)]), arm(21_000)];
    assert_eq!(at_threshold, expected);
    let expected = vec![
        proposal(vec![
            vec![skip(1, 15_000, 16_000)],
            on_time(16_000, 20_000, 20_001),
        ]),
        arm(21_000),
    ];
    assert_eq!(past_threshold, expected);
}

#[test]
fn fire_once_fires_latest_missed() {
    let mut core = core_with(THRESHOLD);
    let job = policy_job(MisfirePolicy::FireOnce, 10, None);

    let commands = core.handle(gained(2, 20_500, vec![job], vec![]));
    let next = core.handle(tick(21_000));

    // At 20500, instants 1000 to 15000 are older than 5 s, and 16000 to 20000 are not.
    let expected = vec![
        proposal(vec![
            vec![skip(14, 14_000, 15_000), late(15_000, 16_000, 20_500)],
            on_time(16_000, 20_000, 20_500),
        ]),
        arm(21_000),
    ];
    assert_eq!(commands, expected);
    assert_eq!(core.skipped_instants(), 14);
    let expected = vec![proposal(vec![on_time(21_000, 21_000, 21_000)]), arm(22_000)];
    assert_eq!(next, expected);
}

#[test]
fn fire_all_fires_oldest_missed() {
    let mut core = core_with(THRESHOLD);
    let job = policy_job(MisfirePolicy::FireAll, 3, None);

    let commands = core.handle(gained(2, 20_500, vec![job], vec![]));

    let expected = vec![
        proposal(vec![
            vec![
                skip(12, 15_000, 16_000),
                late(1000, 2000, 20_500),
                late(2000, 3000, 20_500),
                late(3000, 16_000, 20_500),
            ],
            on_time(16_000, 20_000, 20_500),
        ]),
        arm(21_000),
    ];
    assert_eq!(commands, expected);
    assert_eq!(core.skipped_instants(), 12);
}

#[test]
fn fire_all_within_cap_skips_nothing() {
    let mut core = core_with(THRESHOLD);
    let job = policy_job(MisfirePolicy::FireAll, 20, None);

    let commands = core.handle(gained(2, 20_500, vec![job], vec![]));

    let missed: Vec<Intent> = (1..=15)
        .map(|second| late(second * 1000, (second + 1) * 1000, 20_500))
        .collect();
    let expected = vec![
        proposal(vec![missed, on_time(16_000, 20_000, 20_500)]),
        arm(21_000),
    ];
    assert_eq!(commands, expected);
    assert_eq!(core.skipped_instants(), 0);
}

#[test]
fn skip_policy_skips_all_missed() {
    let mut core = core_with(THRESHOLD);
    let job = policy_job(MisfirePolicy::Skip, 10, None);

    let commands = core.handle(gained(2, 20_500, vec![job], vec![]));

    let expected = vec![
        proposal(vec![
            vec![skip(15, 15_000, 16_000)],
            on_time(16_000, 20_000, 20_500),
        ]),
        arm(21_000),
    ];
    assert_eq!(commands, expected);
    assert_eq!(core.skipped_instants(), 15);
}

#[test]
fn late_tick_applies_misfire_policy() {
    let mut core = core_with(THRESHOLD);
    let job = policy_job(MisfirePolicy::FireOnce, 10, None);
    core.handle(gained(2, 500, vec![job], vec![]));

    // The tick armed for 1000 comes 19.5 s late, as after a long stall of the leader.
    let commands = core.handle(tick(20_500));

    let expected = vec![
        proposal(vec![
            vec![skip(14, 14_000, 15_000), late(15_000, 16_000, 20_500)],
            on_time(16_000, 20_000, 20_500),
        ]),
        arm(21_000),
    ];
    assert_eq!(commands, expected);
}

#[test]
fn starting_deadline_drops_before_policy() {
    let mut core = core_with(THRESHOLD);
    // Without the deadline, FIRE_ALL would fire 1000 to 10000.
    let job = policy_job(MisfirePolicy::FireAll, 10, Some(8000));

    let commands = core.handle(gained(2, 20_500, vec![job], vec![]));

    // 1000 to 12000 are older than 8 s and dropped. 13000 to 15000 are missed and fire.
    let expected = vec![
        proposal(vec![
            vec![
                skip(12, 12_000, 13_000),
                late(13_000, 14_000, 20_500),
                late(14_000, 15_000, 20_500),
                late(15_000, 16_000, 20_500),
            ],
            on_time(16_000, 20_000, 20_500),
        ]),
        arm(21_000),
    ];
    assert_eq!(commands, expected);
    assert_eq!(core.skipped_instants(), 12);
}

#[test]
fn deadline_under_threshold_drops_recent() {
    let mut core = core_with(THRESHOLD);
    let job = policy_job(MisfirePolicy::FireOnce, 10, Some(2000));

    let commands = core.handle(gained(2, 20_500, vec![job], vec![]));

    let expected = vec![
        proposal(vec![
            vec![skip(18, 18_000, 19_000)],
            on_time(19_000, 20_000, 20_500),
        ]),
        arm(21_000),
    ];
    assert_eq!(commands, expected);
}

#[test]
fn never_fired_job_starts_at_anchor() {
    let mut core = core_with(THRESHOLD);
    let mut job = policy_job(MisfirePolicy::FireAll, 2, None);
    job.anchor = Timestamp(10_000);

    let commands = core.handle(gained(2, 40_500, vec![job], vec![]));

    // The first instant is the first one after the anchor, 11000, not 1000.
    let expected = vec![
        proposal(vec![
            vec![
                skip(23, 35_000, 36_000),
                late(11_000, 12_000, 40_500),
                late(12_000, 36_000, 40_500),
            ],
            on_time(36_000, 40_000, 40_500),
        ]),
        arm(41_000),
    ];
    assert_eq!(commands, expected);
}

/// Job "a" of [`policy_job`] under the REPLACE concurrency policy.
fn replace_job(misfire: MisfirePolicy, max_catch_up: u32) -> Job {
    let mut job = policy_job(misfire, max_catch_up, None);
    job.spec.policies.concurrency = ConcurrencyPolicy::Replace;
    job
}

#[test]
fn replace_fires_newest_due_instant() {
    let mut core = core_with(10_000);
    let job = fired(&replace_job(MisfirePolicy::Skip, 10), 2000);

    let commands = core.handle(gained(2, 9500, vec![job], vec![]));

    // 3000 to 9000 are due. 9000 would replace the six before it, so they are skipped.
    let expected = vec![
        proposal(vec![vec![
            skip(6, 8000, 9000),
            fire("a", 9000, Some(10_000), 9500),
        ]]),
        arm(10_000),
    ];
    assert_eq!(commands, expected);
    assert_eq!(core.skipped_instants(), 6);
}

#[test]
fn replace_counts_caught_up_as_skipped() {
    let mut core = core_with(THRESHOLD);
    let job = replace_job(MisfirePolicy::FireAll, 3);

    let commands = core.handle(gained(2, 20_500, vec![job], vec![]));

    // FIRE_ALL would run 1000 to 3000 and skip 4000 to 15000. With 16000 to 19000 due as well,
    // 20000 replaces them all: 12 missed plus 3 caught up plus 4 due are skipped.
    let expected = vec![
        proposal(vec![vec![
            skip(19, 19_000, 20_000),
            fire("a", 20_000, Some(21_000), 20_500),
        ]]),
        arm(21_000),
    ];
    assert_eq!(commands, expected);
    assert_eq!(core.skipped_instants(), 19);
}

#[test]
fn replace_on_time_fire_is_unchanged() {
    let mut core = core_with(THRESHOLD);
    let job = fired(&replace_job(MisfirePolicy::FireOnce, 10), 2000);

    let commands = core.handle(gained(2, 3100, vec![job], vec![]));

    let expected = vec![proposal(vec![on_time(3000, 3000, 3100)]), arm(4000)];
    assert_eq!(commands, expected);
    assert_eq!(core.skipped_instants(), 0);
}

/// Builds a core whose schedule counts its calls.
fn counting_core(threshold: u64) -> (SchedulerCore, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let schedule = move |job: &Job, after: Timestamp| {
        counter.fetch_add(1, Ordering::Relaxed);
        every_period(job, after)
    };
    let config = CoreConfig {
        misfire_threshold_ms: threshold,
    };
    (SchedulerCore::new(config, Arc::new(schedule)), calls)
}

const YEAR_MS: i64 = 365 * 86_400_000;

#[test]
fn year_outage_fire_once_is_bounded() {
    let (mut core, calls) = counting_core(THRESHOLD);
    let job = policy_job(MisfirePolicy::FireOnce, 10, None);
    let now = YEAR_MS + 500;

    let commands = core.handle(gained(2, now, vec![job], vec![]));

    // The latest missed instant is exact, but the skipped count stops at the counting bound.
    let latest_missed = YEAR_MS - 5000;
    let counted = u32::try_from(MAX_COUNTED_INSTANTS).unwrap() + 1;
    let expected = vec![
        proposal(vec![
            vec![
                skip(counted, latest_missed - 1000, latest_missed),
                late(latest_missed, latest_missed + 1000, now),
            ],
            on_time(YEAR_MS - 4000, YEAR_MS, now),
        ]),
        arm(YEAR_MS + 1000),
    ];
    assert_eq!(commands, expected);
    let calls = calls.load(Ordering::Relaxed);
    assert!(calls < 10_200, "{calls} schedule calls");
}

#[test]
fn year_outage_fire_all_is_capped() {
    let (mut core, calls) = counting_core(THRESHOLD);
    // A stored value above the ceiling is applied as the ceiling.
    let job = policy_job(MisfirePolicy::FireAll, MAX_CATCH_UP * 5, None);
    let now = YEAR_MS + 500;

    let mut commands = core.handle(gained(2, now, vec![job], vec![]));

    let Command::Propose(intents) = commands.remove(0) else {
        panic!("expected a proposal, got {commands:?}");
    };
    assert_eq!(commands, vec![arm(YEAR_MS + 1000)]);
    let ceiling = i64::from(MAX_CATCH_UP);
    let mut expected = vec![skip(
        u32::try_from(MAX_COUNTED_INSTANTS).unwrap() + 2 - MAX_CATCH_UP,
        YEAR_MS - 5000,
        YEAR_MS - 4000,
    )];
    expected.extend((1..=ceiling).map(|second| {
        let next = if second == ceiling {
            YEAR_MS - 4000
        } else {
            (second + 1) * 1000
        };
        late(second * 1000, next, now)
    }));
    expected.extend(on_time(YEAR_MS - 4000, YEAR_MS, now));
    assert_eq!(intents.len(), 1 + MAX_CATCH_UP as usize + 5);
    assert_eq!(intents, expected);
    let calls = calls.load(Ordering::Relaxed);
    assert!(calls < 10_200, "{calls} schedule calls");
}

#[test]
fn due_instants_split_across_ticks() {
    // A threshold so long that 1500 instants are due at once.
    let mut core = core_with(10_000_000);
    let job = policy_job(MisfirePolicy::FireOnce, 10, None);

    let first = core.handle(gained(2, 1_500_500, vec![job], vec![]));
    let second = core.handle(tick(1_500_600));

    let expected = vec![
        proposal(vec![on_time(1000, 1_000_000, 1_500_500)]),
        arm(1_001_000),
    ];
    assert_eq!(first, expected);
    let expected = vec![
        proposal(vec![on_time(1_001_000, 1_500_000, 1_500_600)]),
        arm(1_501_000),
    ];
    assert_eq!(second, expected);
}

/// Gains leadership at 20500 with job "a" under SKIP, then hands the proposal back as failed,
/// to be proposed again at 21000. Returns the core and the failed intents.
fn core_with_failed_skip() -> (SchedulerCore, Vec<Intent>, Job) {
    let mut core = core_with(THRESHOLD);
    let job = policy_job(MisfirePolicy::Skip, 10, None);
    let Command::Propose(intents) = core
        .handle(gained(2, 20_500, vec![job.clone()], vec![]))
        .remove(0)
    else {
        panic!("expected a proposal");
    };
    core.handle(Event::ProposalFailed {
        intents: intents.clone(),
        retry_at: Timestamp(21_000),
    });
    (core, intents, job)
}

#[test]
fn requeued_skip_proposed_again() {
    let (mut core, intents, _) = core_with_failed_skip();

    let commands = core.handle(tick(21_000));

    let expected = vec![
        proposal(vec![intents, on_time(21_000, 21_000, 21_000)]),
        arm(22_000),
    ];
    assert_eq!(commands, expected);
}

#[test]
fn requeued_skip_dropped_once_applied() {
    let (mut core, intents, job) = core_with_failed_skip();

    // The timed-out proposal was applied after all: the job moved past the skipped instants.
    let applied = Job {
        next_execution_time: Some(Timestamp(21_000)),
        ..fired(&job, 20_000)
    };
    core.handle(Event::JobChanged {
        job_id: "a".to_string(),
        job: Some(applied),
    });
    let commands = core.handle(tick(21_000));

    // The fires stay: the state machine recognizes a repeated fire by its execution id.
    let fires: Vec<Intent> = intents
        .into_iter()
        .filter(|intent| matches!(intent, Intent::Fire(_)))
        .collect();
    let expected = vec![
        proposal(vec![fires, on_time(21_000, 21_000, 21_000)]),
        arm(22_000),
    ];
    assert_eq!(commands, expected);
}
