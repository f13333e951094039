//! Job timers: arming each ACTIVE job at its next schedule instant and proposing the instants
//! that are due, with the catch-up limit.

use tracing::{debug, warn};

use super::{Output, SchedulerCore, TimerKey};
use crate::model::{Cause, FireIntent, Intent, Job, JobId, JobStatus, Timestamp};

/// Maximum number of skipped instants counted one by one. Past it the count is reported as a
/// lower bound, which bounds the work of a catch-up after a very long outage.
const SKIP_COUNT_LIMIT: u64 = 100_000;

/// Returns whether the scheduler fires `job` on schedule.
pub(super) fn is_active(job: &Job) -> bool {
    job.status == JobStatus::Active
}

/// Returns whether two versions of a job have the same instants.
fn same_timing(old: &Job, new: &Job) -> bool {
    old.status == new.status
        && old.anchor == new.anchor
        && old.spec.schedule == new.spec.schedule
        && old.spec.time_zone == new.spec.time_zone
}

impl SchedulerCore {
    /// Arms `job` at its first instant after its last fire, or after its anchor if it never
    /// fired or was resumed or rescheduled since. Instants that are already past fire at the
    /// next tick, which is how instants missed without a leader are caught up.
    pub(super) fn arm_after_last_fire(&mut self, job: &Job) {
        let after = job
            .last_execution_time
            .map_or(job.anchor, |last| last.max(job.anchor));
        self.arm_job_after(job, after);
    }

    fn arm_job_after(&mut self, job: &Job, after: Timestamp) {
        let key = TimerKey::Job(job.id.clone());
        match self.schedule.next_instant(job, after) {
            Some(at) if is_active(job) => self.timers.arm(key, at),
            _ => self.timers.disarm(&key),
        }
    }

    pub(super) fn on_job_changed(&mut self, job_id: JobId, job: Option<Job>) {
        let Some(job) = job else {
            debug!(job.id = %job_id, "job deleted; timer disarmed");
            self.forget_job(&job_id);
            return;
        };
        let previous = self.jobs.insert(job_id.clone(), job.clone());
        if !is_active(&job) {
            self.timers.disarm(&TimerKey::Job(job_id));
            return;
        }
        // Our own fire decisions change the job too (last and next execution time); those
        // leave its timer where the core already moved it.
        if previous.is_some_and(|old| same_timing(&old, &job)) {
            return;
        }

        // A new, resumed or rescheduled job fires from the change on, not from older instants.
        let after = self.last_fire_or_change(&job);
        self.arm_job_after(&job, after);
    }

    fn last_fire_or_change(&self, job: &Job) -> Timestamp {
        let changed = job.anchor.max(job.updated_at);
        job.last_execution_time
            .map_or(changed, |last| last.max(changed))
    }

    fn forget_job(&mut self, job_id: &str) {
        self.jobs.remove(job_id);
        self.timers.disarm(&TimerKey::Job(job_id.to_string()));
        let execution_ids: Vec<String> = self
            .executions
            .values()
            .filter(|open| open.execution.job_id == job_id)
            .map(|open| open.execution.id.clone())
            .collect();
        for execution_id in execution_ids {
            self.forget_execution(&execution_id);
        }
    }

    /// Proposes the job's instants from `first` up to `now`, at most `max_catch_up` of them,
    /// oldest first, and arms the job at its next instant after them.
    pub(super) fn fire_job(
        &mut self,
        job_id: &str,
        first: Timestamp,
        now: Timestamp,
        output: &mut Output,
    ) {
        let Some(job) = self.jobs.get(job_id).cloned() else {
            return;
        };
        let (due, mut next) = self.due_instants(&job, first, now);
        if let Some(skipped_from) = next.filter(|at| *at <= now) {
            self.skip_instants(&job, skipped_from, now);
            next = self.schedule.next_instant(&job, now);
        }

        for (position, at) in due.iter().enumerate() {
            let following = due.get(position + 1).copied().or(next);
            output
                .intents
                .push(schedule_fire(&job, *at, following, now));
        }
        if let Some(at) = next {
            self.timers.arm(TimerKey::Job(job.id.clone()), at);
        }
    }

    /// Lists the instants from `first` up to `now`, at most `max_catch_up`, and returns them
    /// with the instant that follows the last one.
    fn due_instants(
        &self,
        job: &Job,
        first: Timestamp,
        now: Timestamp,
    ) -> (Vec<Timestamp>, Option<Timestamp>) {
        let limit = self.config.max_catch_up as usize;
        let mut due = Vec::new();
        let mut candidate = Some(first);
        while let Some(at) = candidate.filter(|at| *at <= now) {
            if due.len() >= limit {
                break;
            }
            due.push(at);
            candidate = self.schedule.next_instant(job, at);
        }
        (due, candidate)
    }

    fn skip_instants(&mut self, job: &Job, skipped_from: Timestamp, now: Timestamp) {
        let mut skipped = 0u64;
        let mut candidate = Some(skipped_from);
        while let Some(at) = candidate.filter(|at| *at <= now) {
            if skipped >= SKIP_COUNT_LIMIT {
                break;
            }
            skipped += 1;
            candidate = self.schedule.next_instant(job, at);
        }
        self.skipped_instants += skipped;
        let lower_bound = skipped >= SKIP_COUNT_LIMIT;
        warn!(
            job.id = %job.id,
            skipped,
            lower_bound,
            first_skipped = %skipped_from,
            max_catch_up = self.config.max_catch_up,
            "missed schedule instants beyond max_catch_up skipped"
        );
    }
}

fn schedule_fire(job: &Job, at: Timestamp, following: Option<Timestamp>, now: Timestamp) -> Intent {
    Intent::Fire(FireIntent {
        job_id: job.id.clone(),
        scheduled_time: at,
        cause: Cause::Schedule,
        decided_at: now,
        next_execution_time: following,
        retry_of: None,
        caught_up: false,
        force: false,
    })
}
