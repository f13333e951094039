//! The link between the scheduler and the schedule module.

use crate::model::{Job, Timestamp};
use crate::schedule::Schedule;

/// Returns `job`'s first schedule instant strictly after `after`, or `None` when its schedule
/// has no further instant or cannot be read.
///
/// The expression is parsed on every call. Stored jobs were validated when they were written,
/// so a parse error here means a job stored by a version with a different grammar. The error
/// is logged and the job is not armed.
pub fn next_instant(job: &Job, after: Timestamp) -> Option<Timestamp> {
    let schedule = match Schedule::parse(&job.spec.schedule, &job.spec.time_zone) {
        Ok(schedule) => schedule,
        Err(error) => {
            tracing::error!(job.id = %job.id, %error, "stored schedule is invalid; job not armed");
            return None;
        }
    };
    let next = schedule.next_after(after.to_datetime(), job.anchor.to_datetime())?;
    Some(Timestamp::from_datetime(next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{HttpTrigger, JobSpec, JobStatus, RetryStrategy, Trigger};

    fn job(schedule: &str, anchor: i64) -> Job {
        let trigger = HttpTrigger {
            url: "http://127.0.0.1:9/hook".to_string(),
            method: "GET".to_string(),
            headers: Default::default(),
            body: None,
            timeout_ms: 1000,
        };
        Job {
            revision: 0,
            pruned_through: None,
            stats: crate::model::JobStats::default(),
            id: "job-1".to_string(),
            spec: JobSpec {
                policies: crate::model::JobPolicies::default(),
                name: "job".to_string(),
                description: String::new(),
                schedule: schedule.to_string(),
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

    #[test]
    fn cron_instant_follows_after() {
        // 2026-01-01T00:00:30Z; the next whole minute is 00:01:00.
        let after = Timestamp(1_767_225_630_000);

        let next = next_instant(&job("* * * * *", 0), after);

        assert_eq!(next, Some(Timestamp(1_767_225_660_000)));
    }

    #[test]
    fn every_counts_from_anchor() {
        let anchor = 1_767_225_600_000;

        let next = next_instant(&job("@every 90s", anchor), Timestamp(anchor + 100_000));

        assert_eq!(next, Some(Timestamp(anchor + 180_000)));
    }

    #[test]
    fn invalid_schedule_has_no_instant() {
        assert_eq!(next_instant(&job("not a schedule", 0), Timestamp(0)), None);
    }
}
