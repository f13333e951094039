//! The pure scheduling core: events in, commands out.
//!
//! The core decides what the leader proposes, which committed attempts it dispatches and when
//! it must be woken next. It performs no I/O and never reads a clock: every instant arrives in
//! an event, and the runtime carries out the returned [`Command`]s.
//!
//! **Invariants**
//! - An attempt is dispatched only when it is RUNNING with `attempt_term` equal to the core's
//!   term, and a core dispatches each `(execution id, attempt)` at most once.
//! - A core proposes each schedule instant once, except when a proposal is handed back with
//!   [`Event::ProposalFailed`] or a `LeadershipGained` rebuilds the state. A repeated fire is
//!   harmless because the state machine derives the execution id from the job and the instant
//!   and rejects the duplicate.
//! - Attempts started in an earlier term are never dispatched as they are; on leadership gain
//!   they are retried, marked in doubt, with a higher attempt number under the same execution
//!   id.
//! - The intents proposed for one job at one tick are bounded: at most the job's
//!   `max_catch_up` (capped at 1000) missed instants plus one skip, and at most 1000 instants
//!   younger than the misfire threshold. The `misfire` module states the rules.

mod executions;
mod jobs;
mod misfire;
mod timers;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::model::{Execution, ExecutionId, Intent, Job, JobId, Timestamp};

use self::executions::OpenExecution;
use self::timers::{TimerKey, TimerQueue};

/// Computes schedule instants.
pub trait NextInstant: Send + Sync {
    /// Returns `job`'s first schedule instant strictly after `after`, or `None` when the
    /// schedule has no further instant (or cannot be read).
    fn next_instant(&self, job: &Job, after: Timestamp) -> Option<Timestamp>;
}

impl<F> NextInstant for F
where
    F: Fn(&Job, Timestamp) -> Option<Timestamp> + Send + Sync,
{
    fn next_instant(&self, job: &Job, after: Timestamp) -> Option<Timestamp> {
        self(job, after)
    }
}

/// Settings of the core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreConfig {
    /// Age in milliseconds past which an instant the core could not propose earlier is
    /// missed and follows its job's misfire policy. Younger instants fire normally, so a
    /// leader failover shorter than this loses no instant.
    pub misfire_threshold_ms: u64,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            misfire_threshold_ms: 60_000,
        }
    }
}

/// Something that happened, fed to [`SchedulerCore::handle`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "events live only until the core has handled them"
)]
pub enum Event {
    /// This node became leader of `term` (or rebuilt its view within the same term), and
    /// `jobs` and `open_executions` are the state machine's state at `now`. `jobs` must contain
    /// the ACTIVE jobs and the job of every open execution.
    LeadershipGained {
        term: u64,
        now: Timestamp,
        jobs: Vec<Job>,
        open_executions: Vec<Execution>,
    },
    /// A job was created, changed or deleted (`job` is `None`).
    JobChanged { job_id: JobId, job: Option<Job> },
    /// An execution was stored with a new state.
    ExecutionChanged(Execution),
    /// The armed deadline passed; `now` is the current time.
    Tick { now: Timestamp },
    /// Proposing `intents` failed; they are proposed again at the first tick at or after
    /// `retry_at`.
    ProposalFailed {
        intents: Vec<Intent>,
        retry_at: Timestamp,
    },
    /// This node is no longer leader.
    LeadershipLost,
}

/// Work for the runtime, returned by [`SchedulerCore::handle`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "commands live only until the runtime carries them out"
)]
pub enum Command {
    /// Propose these intents as one `RecordFires` log entry.
    Propose(Vec<Intent>),
    /// Send this committed attempt to its target.
    Dispatch { execution: Execution, job: Job },
    /// Abort the request of this execution if it is still in flight: the execution became
    /// final while this core was dispatching it.
    Abort { execution_id: ExecutionId },
    /// Send a `Tick` at this instant; `None` cancels the previous deadline.
    ArmTimer(Option<Timestamp>),
}

/// The scheduling state of one leader term.
pub struct SchedulerCore {
    config: CoreConfig,
    schedule: Arc<dyn NextInstant>,
    /// The term this node leads, or `None` while it is not leader.
    term: Option<u64>,
    jobs: HashMap<JobId, Job>,
    executions: HashMap<ExecutionId, OpenExecution>,
    timers: TimerQueue,
    /// Attempts dispatched in the current term, as `(execution id, attempt)`.
    dispatched: HashSet<(ExecutionId, u32)>,
    /// Intents handed back by `ProposalFailed`, proposed again at the `Requeue` deadline.
    requeued: Vec<Intent>,
    /// The deadline last sent with `ArmTimer`; `None` until the first one of a term.
    armed: Option<Option<Timestamp>>,
    /// Schedule instants skipped (misfire policy or starting deadline) since the core was
    /// created.
    skipped_instants: u64,
}

impl SchedulerCore {
    /// Creates a core that is not leader; it ignores everything until `LeadershipGained`.
    pub fn new(config: CoreConfig, schedule: Arc<dyn NextInstant>) -> Self {
        SchedulerCore {
            config,
            schedule,
            term: None,
            jobs: HashMap::new(),
            executions: HashMap::new(),
            timers: TimerQueue::default(),
            dispatched: HashSet::new(),
            requeued: Vec::new(),
            armed: None,
            skipped_instants: 0,
        }
    }

    /// Applies `event` and returns the commands to carry out, in order: at most one
    /// `Propose`, then any `Dispatch` and `Abort`, then an `ArmTimer` when the earliest
    /// deadline changed.
    pub fn handle(&mut self, event: Event) -> Vec<Command> {
        let mut output = Output::default();
        match event {
            Event::LeadershipGained {
                term,
                now,
                jobs,
                open_executions,
            } => self.on_leadership_gained(term, now, jobs, open_executions, &mut output),
            Event::LeadershipLost => self.on_leadership_lost(),
            _ if self.term.is_none() => {}
            Event::JobChanged { job_id, job } => self.on_job_changed(job_id, job),
            Event::ExecutionChanged(execution) => self.on_execution_changed(execution, &mut output),
            Event::Tick { now } => self.fire_due(now, &mut output),
            Event::ProposalFailed { intents, retry_at } => self.requeue(intents, retry_at),
        }
        self.finish(output)
    }

    /// Returns the term this core leads, if any.
    pub fn term(&self) -> Option<u64> {
        self.term
    }

    /// Returns whether the core has a copy of job `job_id`, so the runtime can load a job before it feeds
    /// an execution of it.
    pub fn knows_job(&self, job_id: &str) -> bool {
        self.jobs.contains_key(job_id)
    }

    /// Schedule instants skipped (misfire policy or starting deadline) since the core was
    /// created; a lower bound when a late range was longer than the core counts.
    pub fn skipped_instants(&self) -> u64 {
        self.skipped_instants
    }

    fn on_leadership_gained(
        &mut self,
        term: u64,
        now: Timestamp,
        jobs: Vec<Job>,
        open_executions: Vec<Execution>,
        output: &mut Output,
    ) {
        // A rebuild within the same term keeps the record of dispatched attempts, so attempts
        // in flight are not sent twice.
        if self.term != Some(term) {
            self.dispatched.clear();
        }
        self.term = Some(term);
        self.jobs.clear();
        self.executions.clear();
        self.timers.clear();
        self.requeued.clear();
        self.armed = None;

        for job in jobs {
            self.arm_after_last_fire(&job);
            self.jobs.insert(job.id.clone(), job);
        }
        for execution in open_executions {
            self.load_execution(execution, now, output);
        }
        self.fire_due(now, output);
    }

    fn on_leadership_lost(&mut self) {
        self.term = None;
        self.jobs.clear();
        self.executions.clear();
        self.timers.clear();
        self.dispatched.clear();
        self.requeued.clear();
    }

    /// Proposes everything due at `now`: requeued intents first, then due schedule instants
    /// and retries in deadline order. A deadline re-armed at or before `now` while they are
    /// handled waits for the next tick, so one proposal stays bounded.
    fn fire_due(&mut self, now: Timestamp, output: &mut Output) {
        let due: Vec<_> = std::iter::from_fn(|| self.timers.pop_due(now)).collect();
        for (at, key) in due {
            match key {
                TimerKey::Job(job_id) => self.fire_job(&job_id, at, now, output),
                TimerKey::Retry(execution_id) => self.start_retry(&execution_id, now, output),
                TimerKey::Requeue => self.propose_requeued(output),
            }
        }
    }

    fn requeue(&mut self, intents: Vec<Intent>, retry_at: Timestamp) {
        self.requeued.extend(intents);
        let earlier = self
            .timers
            .deadline(&TimerKey::Requeue)
            .is_some_and(|at| at <= retry_at);
        if !earlier {
            self.timers.arm(TimerKey::Requeue, retry_at);
        }
    }

    fn propose_requeued(&mut self, output: &mut Output) {
        let requeued = std::mem::take(&mut self.requeued);
        let still_needed: Vec<Intent> = requeued
            .into_iter()
            .filter(|intent| self.is_still_needed(intent))
            .collect();
        output.intents.splice(0..0, still_needed);
    }

    /// Returns whether a requeued intent still applies: its job is ACTIVE, its execution
    /// still waits for exactly that attempt, or its job has not moved past the skipped
    /// instants.
    ///
    /// A skip carries no id the state machine could deduplicate, so a skip whose first
    /// proposal timed out but was applied after all would be counted twice. The check on the
    /// job's last instant drops it when the core has seen that application.
    fn is_still_needed(&self, intent: &Intent) -> bool {
        match intent {
            Intent::Fire(fire) => self.jobs.get(&fire.job_id).is_some_and(jobs::is_active),
            Intent::Retry(retry) => self
                .executions
                .get(&retry.execution_id)
                .is_some_and(|open| open.execution.attempt_count + 1 == retry.attempt),
            Intent::Skip(skip) => self.jobs.get(&skip.job_id).is_some_and(|job| {
                job.last_execution_time
                    .is_none_or(|last| last < skip.latest)
            }),
        }
    }

    fn finish(&mut self, output: Output) -> Vec<Command> {
        let mut commands = Vec::new();
        if !output.intents.is_empty() {
            commands.push(Command::Propose(output.intents));
        }
        commands.extend(output.dispatches);

        let earliest = self.timers.earliest();
        if self.term.is_some() && self.armed != Some(earliest) {
            self.armed = Some(earliest);
            commands.push(Command::ArmTimer(earliest));
        }
        if self.term.is_none() && self.armed.take().is_some_and(|at| at.is_some()) {
            commands.push(Command::ArmTimer(None));
        }
        commands
    }
}

/// Commands collected while one event is handled.
#[derive(Default)]
struct Output {
    intents: Vec<Intent>,
    /// `Dispatch` and `Abort` commands, in the order they were decided.
    dispatches: Vec<Command>,
}

#[cfg(test)]
mod core_test;
#[cfg(test)]
mod misfire_test;
