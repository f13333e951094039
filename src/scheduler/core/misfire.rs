//! The plan for a job whose timer came due: which past instants fire, which are skipped, and
//! the instant its timer moves to.
//!
//! With `now` the time the core could first propose them, a job's undecided instants up to
//! `now` fall into three ranges:
//! - *dropped*: older than the job's `starting_deadline_ms`, whatever the misfire policy;
//! - *missed*: older than the node's misfire threshold and not dropped; they follow the job's
//!   misfire policy (FIRE_ONCE fires the latest, FIRE_ALL the oldest `max_catch_up`, SKIP none);
//! - *due*: the rest, which fire, all of them, oldest first.
//!
//! Dropped instants and missed instants that do not fire are counted in one skip. Under the
//! REPLACE concurrency policy only the newest instant of a plan fires, and the older ones that
//! would have fired are counted in the skip too.
//!
//! The work is bounded, however long the cluster was down. Each late range is walked for at
//! most [`MAX_COUNTED_INSTANTS`] instants, and past that its count is a lower bound. Its latest
//! instant is then located by probing backwards from the range's end with doubling steps, at
//! most log2 of the range in milliseconds (35 for a year). Range starts are found with one
//! `next_instant` call each, never by walking. At most [`MAX_DUE_FIRES`] due instants fire in
//! one plan. The job's timer then stays in the past, so the next tick plans the rest.

use crate::model::{ConcurrencyPolicy, Job, MisfirePolicy, Timestamp};

use super::NextInstant;

/// Instants of one late range counted one by one. Past it, the count is a lower bound.
pub(super) const MAX_COUNTED_INSTANTS: u64 = 10_000;

/// Upper bound of a job's `max_catch_up` as the core applies it, whatever value was stored.
/// Client input is limited to the same value.
pub(super) const MAX_CATCH_UP: u32 = 1000;

/// Due instants of one job fired in one plan. With the default threshold of 60 s and the
/// shortest schedule period of 1 s, at most 61 instants are due at once, so the limit only
/// matters for a much longer threshold.
pub(super) const MAX_DUE_FIRES: usize = 1000;

/// The decision on a job's instants up to `now`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct FirePlan {
    /// Instants to fire, oldest first.
    pub fires: Vec<PlannedFire>,
    /// Instants not run, if any.
    pub skip: Option<PlannedSkip>,
    /// The first instant this plan leaves undecided: the job's next future instant, or a past
    /// instant when [`MAX_DUE_FIRES`] cut the plan short.
    pub next: Option<Timestamp>,
}

/// One instant to fire.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct PlannedFire {
    pub at: Timestamp,
    /// A missed instant run late under the misfire policy.
    pub caught_up: bool,
}

/// The instants of a plan that will not run.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct PlannedSkip {
    /// Dropped instants plus missed instants the policy does not fire.
    pub instants: u64,
    /// Whether `instants` is a lower bound because a range was longer than
    /// [`MAX_COUNTED_INSTANTS`].
    pub lower_bound: bool,
    /// The latest skipped instant.
    pub latest: Timestamp,
}

/// Settings and inputs of one plan.
pub(super) struct Planner<'a> {
    pub schedule: &'a dyn NextInstant,
    pub job: &'a Job,
    /// Age in milliseconds past which an instant is missed.
    pub misfire_threshold_ms: u64,
}

impl Planner<'_> {
    /// Plans the job's instants from `first` (its first undecided instant) up to `now`.
    pub fn plan(&self, first: Timestamp, now: Timestamp) -> FirePlan {
        let policies = &self.job.spec.policies;
        let drop_before = policies
            .starting_deadline_ms
            .map_or(Timestamp(i64::MIN), |deadline| minus_millis(now, deadline));
        let miss_before = minus_millis(now, self.misfire_threshold_ms);
        let due_from = drop_before.max(miss_before);

        let dropped = self.scan(Some(first), drop_before, 0);
        let keep = match policies.misfire {
            MisfirePolicy::FireAll => policies.max_catch_up.min(MAX_CATCH_UP) as usize,
            MisfirePolicy::FireOnce | MisfirePolicy::Skip => 0,
        };
        let missed_start = self.first_at_or_after(first, drop_before);
        let missed = self.scan(missed_start, miss_before, keep);

        let mut plan = FirePlan::default();
        let skipped_missed = apply_policy(policies.misfire, &missed, &mut plan.fires);
        plan.skip = skip_of(&dropped, skipped_missed);

        let due_start = self.first_at_or_after(first, due_from);
        plan.next = self.push_due(due_start, now, &mut plan.fires);
        if policies.concurrency == ConcurrencyPolicy::Replace {
            keep_newest_fire(&mut plan);
        }
        plan
    }

    /// Returns the first instant at or after `at`, given `first`, the first undecided one.
    fn first_at_or_after(&self, first: Timestamp, at: Timestamp) -> Option<Timestamp> {
        if first >= at {
            return Some(first);
        }
        self.next_after(Timestamp(at.0 - 1))
    }

    fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        self.schedule.next_instant(self.job, after)
    }

    /// Walks the instants from `start` up to, but not including, `end`.
    fn scan(&self, start: Option<Timestamp>, end: Timestamp, keep: usize) -> Scan {
        let mut scan = Scan::default();
        let mut candidate = start;
        while let Some(at) = candidate.filter(|at| *at < end) {
            if scan.count == MAX_COUNTED_INSTANTS {
                self.locate_last_two(&mut scan, at, end);
                return scan;
            }
            scan.count += 1;
            if scan.oldest.len() < keep {
                scan.oldest.push(at);
            }
            scan.previous = scan.latest;
            scan.latest = Some(at);
            candidate = self.next_after(at);
        }
        scan
    }

    /// Finishes a scan cut short at `at`, an instant before `end` not yet counted: counts
    /// `at` and the range's latest instant, and finds the latest two instants.
    fn locate_last_two(&self, scan: &mut Scan, at: Timestamp, end: Timestamp) {
        scan.lower_bound = true;
        let latest = self.latest_before(at, end);
        if latest == at {
            scan.count += 1;
            scan.previous = scan.latest;
        } else {
            scan.count += 2;
            scan.previous = Some(self.latest_before(at, latest));
        }
        scan.latest = Some(latest);
    }

    /// Returns the latest instant before `end`, given `known`, an instant before `end`.
    ///
    /// Probes `[end - span, end)` for span 1, 2, 4, … ms, then walks forward from the first
    /// instant found. The walk covers only the instants of the last probed window that the
    /// previous, half as long, window did not contain.
    fn latest_before(&self, known: Timestamp, end: Timestamp) -> Timestamp {
        let mut span: i64 = 1;
        let mut latest = loop {
            let from = end.0.saturating_sub(span);
            if from <= known.0 {
                break known;
            }
            match self.next_after(Timestamp(from - 1)) {
                Some(at) if at < end => break at,
                _ => span = span.saturating_mul(2),
            }
        };
        while let Some(next) = self.next_after(latest).filter(|next| *next < end) {
            latest = next;
        }
        latest
    }

    /// Adds the due instants from `start` up to `now` to `fires`, at most [`MAX_DUE_FIRES`],
    /// and returns the instant after the last one added.
    fn push_due(
        &self,
        start: Option<Timestamp>,
        now: Timestamp,
        fires: &mut Vec<PlannedFire>,
    ) -> Option<Timestamp> {
        let mut candidate = start;
        let mut added = 0;
        while let Some(at) = candidate.filter(|at| *at <= now) {
            if added == MAX_DUE_FIRES {
                return Some(at);
            }
            fires.push(PlannedFire {
                at,
                caught_up: false,
            });
            added += 1;
            candidate = self.next_after(at);
        }
        candidate
    }
}

/// The instants of one late range.
#[derive(Debug, Default)]
struct Scan {
    /// Instants in the range, a lower bound when `lower_bound` is set.
    count: u64,
    lower_bound: bool,
    /// The oldest instants, as many as the caller asked to keep.
    oldest: Vec<Timestamp>,
    latest: Option<Timestamp>,
    /// The instant before `latest`.
    previous: Option<Timestamp>,
}

/// The missed instants a policy does not fire.
struct SkippedMissed {
    count: u64,
    lower_bound: bool,
    latest: Option<Timestamp>,
}

/// Adds the missed instants that `policy` fires to `fires` and returns the rest.
fn apply_policy(
    policy: MisfirePolicy,
    missed: &Scan,
    fires: &mut Vec<PlannedFire>,
) -> SkippedMissed {
    let caught_up = |at: Timestamp| PlannedFire {
        at,
        caught_up: true,
    };
    let (count, latest) = match policy {
        MisfirePolicy::FireOnce => {
            fires.extend(missed.latest.map(caught_up));
            (missed.count.saturating_sub(1), missed.previous)
        }
        MisfirePolicy::FireAll => {
            fires.extend(missed.oldest.iter().copied().map(caught_up));
            let count = missed.count - missed.oldest.len() as u64;
            (count, missed.latest.filter(|_| count > 0))
        }
        MisfirePolicy::Skip => (missed.count, missed.latest),
    };
    SkippedMissed {
        count,
        lower_bound: missed.lower_bound,
        latest,
    }
}

/// Under REPLACE each run would end the one before it at once, so a plan with several fires
/// keeps only the newest and counts the others as skipped.
fn keep_newest_fire(plan: &mut FirePlan) {
    let Some(newest) = plan.fires.pop() else {
        return;
    };
    let replaced = std::mem::replace(&mut plan.fires, vec![newest]);
    let Some(latest_replaced) = replaced.last().map(|fire| fire.at) else {
        return;
    };
    let skip = plan.skip.get_or_insert(PlannedSkip {
        instants: 0,
        lower_bound: false,
        latest: latest_replaced,
    });
    skip.instants += replaced.len() as u64;
    skip.latest = skip.latest.max(latest_replaced);
}

fn skip_of(dropped: &Scan, missed: SkippedMissed) -> Option<PlannedSkip> {
    let latest = missed.latest.or(dropped.latest)?;
    Some(PlannedSkip {
        instants: dropped.count + missed.count,
        lower_bound: dropped.lower_bound || missed.lower_bound,
        latest,
    })
}

fn minus_millis(at: Timestamp, millis: u64) -> Timestamp {
    let millis = i64::try_from(millis).unwrap_or(i64::MAX);
    Timestamp(at.0.saturating_sub(millis))
}
