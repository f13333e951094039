//! The link between the scheduler and the schedule module.

use crate::model::{Job, Timestamp};

/// Returns `job`'s first schedule instant strictly after `after`, or `None` when its schedule
/// has no further instant or cannot be read.
// TODO: parse with `crate::schedule::Schedule::parse(&job.spec.schedule, &job.spec.time_zone)`
// and call `next_after(after, job.anchor)` once `pub mod schedule;` is in lib.rs. Until then
// this returns `None`, so no job fires on schedule.
pub fn next_instant(job: &Job, after: Timestamp) -> Option<Timestamp> {
    let _ = (job, after);
    None
}
