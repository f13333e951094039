//! History retention: pruning a job's finished executions after a command that started or
//! finished some of them.

use super::{Pending, StoreError};
use crate::model::{Cause, Job, Timestamp};

/// Prunes the history of every job marked by [`Pending::mark_retention_due`] in this command.
pub(super) fn prune_due_histories(state: &mut Pending) -> Result<(), StoreError> {
    let due = std::mem::take(&mut state.retention_due);
    for (job_id, instant) in due {
        // A job deleted by this command has no history left to prune.
        if let Some(job) = state.job(&job_id)? {
            prune_history(state, &job, instant)?;
        }
    }
    Ok(())
}

/// Removes the job's finished (COMPLETED or FAILED) executions beyond `retention.max_count`,
/// oldest scheduled first, and those scheduled before `instant - retention.max_age_ms`.
///
/// `instant` comes from the command, so every node prunes the same executions. Open executions
/// are never removed. Removing a SCHEDULE execution raises the job's `pruned_through`.
fn prune_history(state: &mut Pending, job: &Job, instant: Timestamp) -> Result<(), StoreError> {
    let retention = job.spec.policies.retention;
    let max_age = i64::try_from(retention.max_age_ms).unwrap_or(i64::MAX);
    let oldest_kept = Timestamp(instant.0.saturating_sub(max_age));

    let finished: Vec<_> = state
        .execution_rows_of_job(&job.id)?
        .into_iter()
        .filter(|row| !row.open)
        .collect();
    let max_count = usize::try_from(retention.max_count).unwrap_or(usize::MAX);
    let excess = finished.len().saturating_sub(max_count);

    // Rows are oldest first, so the first row kept by both rules ends the pruning.
    let mut latest_schedule_pruned = None;
    for (position, row) in finished.into_iter().enumerate() {
        if position >= excess && row.scheduled_time >= oldest_kept {
            break;
        }
        let execution = state.indexed_execution(&job.id, &row.id)?;
        if execution.cause == Cause::Schedule {
            latest_schedule_pruned = Some(execution.scheduled_time);
        }
        state.prune_execution(execution);
    }

    if let Some(pruned) = latest_schedule_pruned {
        raise_pruned_through(state, job, pruned);
    }
    Ok(())
}

/// Moves the job's `pruned_through` up to `pruned`, the latest schedule instant just removed,
/// so a copy of that instant's intent cannot start it again. It never moves back.
fn raise_pruned_through(state: &mut Pending, job: &Job, pruned: Timestamp) {
    if job.pruned_through.is_some_and(|through| through >= pruned) {
        return;
    }
    let mut changed = job.clone();
    changed.pruned_through = Some(pruned);
    state.put_job(changed);
}
