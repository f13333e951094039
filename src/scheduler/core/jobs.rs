//! Job timers: arming each ACTIVE job at its next schedule instant and proposing the instants
//! that are due, with the misfire rules.

use tracing::{debug, warn};

use super::misfire::{FirePlan, PlannedFire, PlannedSkip, Planner};
use super::{Output, SchedulerCore, TimerKey};
use crate::model::{Cause, FireIntent, Intent, Job, JobId, JobStatus, SkipIntent, Timestamp};

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
    /// fired or was resumed or rescheduled since. Instants that are already past are decided at
    /// the next tick, under the misfire rules, which is how instants missed without a leader
    /// are caught up.
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

    /// Proposes the job's instants from `first`, its first undecided instant, up to `now`,
    /// following the misfire rules of [`super::misfire`], and arms the job at the first
    /// instant left undecided.
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
        let planner = Planner {
            schedule: self.schedule.as_ref(),
            job: &job,
            misfire_threshold_ms: self.config.misfire_threshold_ms,
        };
        let plan = planner.plan(first, now);
        log_misfires(&job, &plan, first);

        // The skip goes first: the state machine never moves a job's last instant back, so
        // the fires that follow leave the job at the newest instant of the plan.
        if let Some(skip) = &plan.skip {
            self.skipped_instants += skip.instants;
            output.intents.push(skip_intent(&job, skip, &plan));
        }
        for (position, fire) in plan.fires.iter().enumerate() {
            let following = plan.fires.get(position + 1).map(|next| next.at);
            let intent = schedule_fire(&job, fire, following.or(plan.next), now);
            output.intents.push(intent);
        }
        if let Some(at) = plan.next {
            self.timers.arm(TimerKey::Job(job.id.clone()), at);
        }
    }
}

/// Logs a plan with late instants. The plan is only proposed here: the state machine may still
/// reject it (a newer leader decided those instants), so the messages use the word "proposing".
fn log_misfires(job: &Job, plan: &FirePlan, first: Timestamp) {
    let caught_up = plan.fires.iter().filter(|fire| fire.caught_up).count();
    let Some(skip) = &plan.skip else {
        if caught_up > 0 {
            warn!(job.id = %job.id, caught_up, first_instant = %first, "proposing late fires of missed schedule instants");
        }
        return;
    };
    warn!(
        job.id = %job.id,
        misfire_policy = job.spec.policies.misfire.as_str(),
        caught_up,
        skipped = skip.instants,
        lower_bound = skip.lower_bound,
        first_instant = %first,
        latest_skipped = %skip.latest,
        "proposing to skip missed schedule instants"
    );
}

fn skip_intent(job: &Job, skip: &PlannedSkip, plan: &FirePlan) -> Intent {
    let next_run = plan
        .fires
        .iter()
        .map(|fire| fire.at)
        .find(|at| *at > skip.latest);
    Intent::Skip(SkipIntent {
        job_id: job.id.clone(),
        instants: u32::try_from(skip.instants).unwrap_or(u32::MAX),
        latest: skip.latest,
        next_execution_time: next_run.or(plan.next),
        job_revision: job.revision,
    })
}

fn schedule_fire(
    job: &Job,
    fire: &PlannedFire,
    following: Option<Timestamp>,
    now: Timestamp,
) -> Intent {
    Intent::Fire(FireIntent {
        job_id: job.id.clone(),
        scheduled_time: fire.at,
        cause: Cause::Schedule,
        decided_at: now,
        next_execution_time: following,
        retry_of: None,
        caught_up: fire.caught_up,
        force: false,
        job_revision: Some(job.revision),
        request_key: None,
    })
}
