//! Open executions: dispatching attempts of the current term, arming retries, and retrying
//! attempts left in doubt by an earlier leader.

use tracing::{debug, warn};

use super::{Command, Output, SchedulerCore, TimerKey};
use crate::model::{Execution, ExecutionStatus, Intent, RetryIntent, Timestamp};

/// An open execution as the core last saw it.
pub(super) struct OpenExecution {
    pub execution: Execution,
    /// Whether the core proposed attempt `attempt_count + 1` and waits for it to start.
    pub retry_proposed: bool,
}

/// Orders states of one execution: a later attempt, or the outcome of the same attempt, is
/// newer.
fn progress(execution: &Execution) -> (u32, bool) {
    (
        execution.attempt_count,
        execution.status != ExecutionStatus::Running,
    )
}

/// Returns when a RETRYING execution's next attempt is due. One with no recorded instant is due
/// at once.
fn retry_deadline(execution: &Execution) -> Timestamp {
    execution.next_retry_time.unwrap_or(Timestamp(i64::MIN))
}

impl SchedulerCore {
    /// Takes in an open execution loaded at leadership gain.
    pub(super) fn load_execution(
        &mut self,
        execution: Execution,
        now: Timestamp,
        output: &mut Output,
    ) {
        let attempt = (execution.id.clone(), execution.attempt_count);
        match execution.status {
            ExecutionStatus::Running if self.dispatched.contains(&attempt) => {
                // A rebuild of this core's own view: the attempt is in flight here.
                self.remember(execution, false);
            }
            ExecutionStatus::Running => {
                // No request of this core carries the attempt. An earlier leader, or this node
                // before a restart or a leader-loop restart in the same term, may or may not
                // have sent it, and its outcome is lost: send another attempt under the same
                // execution id.
                warn!(
                    execution.id = %execution.id,
                    job.id = %execution.job_id,
                    attempt = execution.attempt_count,
                    attempt_term = execution.attempt_term,
                    "attempt in doubt; retrying"
                );
                output.intents.push(retry_intent(&execution, now, true));
                self.remember(execution, true);
            }
            ExecutionStatus::Retrying => self.arm_retry(execution),
            ExecutionStatus::Completed | ExecutionStatus::Failed => {}
        }
    }

    pub(super) fn on_execution_changed(&mut self, execution: Execution, output: &mut Output) {
        if let Some(open) = self.executions.get(&execution.id) {
            let stale = progress(&open.execution) > progress(&execution);
            if stale || open.execution == execution {
                debug!(execution.id = %execution.id, "older or repeated execution state ignored");
                return;
            }
        }

        let term = self.term.unwrap_or_default();
        match execution.status {
            ExecutionStatus::Running if execution.attempt_term == term => {
                self.dispatch_once(execution, output);
            }
            ExecutionStatus::Running => {
                // The state loaded at leadership gain contains every attempt of earlier terms,
                // so this event predates the load, which already handled the attempt.
                // Attempts of this term that the load saw are handled there too: the
                // repeated state is ignored above.
                debug!(
                    execution.id = %execution.id,
                    attempt_term = execution.attempt_term,
                    "attempt of an earlier term not dispatched"
                );
            }
            ExecutionStatus::Retrying => self.arm_retry(execution),
            ExecutionStatus::Completed | ExecutionStatus::Failed => {
                self.abort_if_dispatched(&execution.id, output);
                self.forget_execution(&execution.id);
            }
        }
    }

    /// Asks the runtime to abort the request of an execution that this core dispatched and
    /// that became final without its outcome, as when the REPLACE concurrency policy ends it.
    /// After the core's own outcome the request has already finished, and the abort changes
    /// nothing.
    fn abort_if_dispatched(&mut self, execution_id: &str, output: &mut Output) {
        let dispatched = self.dispatched.iter().any(|(id, _)| id == execution_id);
        if dispatched {
            let execution_id = execution_id.to_string();
            output.dispatches.push(Command::Abort { execution_id });
        }
    }

    /// Dispatches a RUNNING attempt of the current term unless it was dispatched before.
    fn dispatch_once(&mut self, execution: Execution, output: &mut Output) {
        self.timers.disarm(&TimerKey::Retry(execution.id.clone()));
        let attempt = (execution.id.clone(), execution.attempt_count);
        let Some(job) = self.jobs.get(&execution.job_id).cloned() else {
            warn!(
                execution.id = %execution.id,
                job.id = %execution.job_id,
                "execution of an unknown job not dispatched"
            );
            self.remember(execution, false);
            return;
        };
        if self.dispatched.insert(attempt) {
            output.dispatches.push(Command::Dispatch {
                execution: execution.clone(),
                job,
            });
        }
        self.remember(execution, false);
    }

    fn arm_retry(&mut self, execution: Execution) {
        let key = TimerKey::Retry(execution.id.clone());
        self.timers.arm(key, retry_deadline(&execution));
        self.remember(execution, false);
    }

    /// Proposes the next attempt of a RETRYING execution whose retry time came.
    pub(super) fn start_retry(&mut self, execution_id: &str, now: Timestamp, output: &mut Output) {
        let Some(open) = self.executions.get_mut(execution_id) else {
            return;
        };
        if open.execution.status != ExecutionStatus::Retrying || open.retry_proposed {
            return;
        }
        open.retry_proposed = true;
        output
            .intents
            .push(retry_intent(&open.execution, now, false));
    }

    pub(super) fn forget_execution(&mut self, execution_id: &str) {
        self.executions.remove(execution_id);
        self.timers
            .disarm(&TimerKey::Retry(execution_id.to_string()));
        self.dispatched.retain(|(id, _)| id != execution_id);
    }

    fn remember(&mut self, execution: Execution, retry_proposed: bool) {
        let open = OpenExecution {
            execution,
            retry_proposed,
        };
        self.executions.insert(open.execution.id.clone(), open);
    }
}

/// Builds the intent that starts the next attempt of `execution`. Set `in_doubt` when the
/// current attempt belongs to an earlier term, which may have sent it, and has no outcome.
fn retry_intent(execution: &Execution, now: Timestamp, in_doubt: bool) -> Intent {
    Intent::Retry(RetryIntent {
        execution_id: execution.id.clone(),
        attempt: execution.attempt_count + 1,
        decided_at: now,
        in_doubt,
    })
}
