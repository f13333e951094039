//! The leader loop of one term: feeds the core, proposes its intents, dispatches committed
//! attempts and batches their outcomes.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tokio::task::JoinError;
use tracing::{debug, error, info, warn};

use super::consensus::{Consensus, ConsensusError, Metrics, leader_term};
use super::dispatch::{Attempt, AttemptEnd, send_attempt};
use super::fence::{Fence, FenceError};
use super::in_flight::InFlight;
use super::planted_bug;
use super::{SchedulerError, Shared};
use crate::model::{
    Execution, ExecutionId, FireDecision, Intent, Job, Outcome, OutcomeResult, Response,
    SkipReason, Timestamp,
};
use crate::scheduler::core::{Command, Event, SchedulerCore};
use crate::store::StateEvent;

/// The state of one leader term. Dropping it aborts the attempts still in flight; their
/// outcomes are lost and the next leader retries them as in doubt.
pub(super) struct LeaderLoop<C> {
    shared: Arc<Shared<C>>,
    term: u64,
    metrics: watch::Receiver<Metrics>,
    core: SchedulerCore,
    /// The instant the core asked to be ticked at.
    deadline: Option<Timestamp>,
    /// The latest confirmation of this node's leadership of the term, shared by dispatches.
    fence: Arc<Fence>,
    in_flight: InFlight<AttemptEnd>,
    /// Finished attempts not yet proposed.
    outcomes: Vec<Outcome>,
    /// When the pending outcomes are proposed.
    flush_at: Option<tokio::time::Instant>,
    /// Executions sent before their intent committed (planted bug only).
    sent_before_commit: HashSet<ExecutionId>,
}

impl<C: Consensus> LeaderLoop<C> {
    pub(super) fn new(
        shared: Arc<Shared<C>>,
        term: u64,
        metrics: watch::Receiver<Metrics>,
    ) -> Self {
        let core = SchedulerCore::new(shared.config.core.clone(), shared.schedule.clone());
        let fence = Arc::new(Fence::new(term, shared.config.leadership_lease));
        LeaderLoop {
            shared,
            term,
            metrics,
            core,
            deadline: None,
            fence,
            in_flight: InFlight::new(),
            outcomes: Vec::new(),
            flush_at: None,
            sent_before_commit: HashSet::new(),
        }
    }

    /// Runs until an error ends the term's work; the caller also drops it as soon as this node
    /// stops leading the term.
    ///
    /// # Errors
    /// [`SchedulerError::NotLeader`] when Raft reports another leader or a later term,
    /// [`SchedulerError::LeadershipUnconfirmed`] when a dispatch could not confirm the
    /// leadership, and the other variants when Raft stops or the state cannot be read.
    pub(super) async fn run(mut self) -> Result<(), SchedulerError> {
        // Subscribe before loading, so no change falls between the load and the first event.
        let mut events = self.shared.state.subscribe();
        self.wait_until_linearizable().await?;
        self.load_state().await?;

        loop {
            tokio::select! {
                () = sleep_until(self.deadline, &*self.shared.clock) => {
                    let now = self.shared.clock.now();
                    self.feed(Event::Tick { now }).await?;
                }
                received = events.recv() => self.on_state_event(received).await?,
                Some((execution_id, joined)) = self.in_flight.join_next() => {
                    self.on_attempt_finished(execution_id, joined).await?;
                }
                () = flush_timer(self.flush_at) => self.flush_outcomes().await?,
            }
        }
    }

    /// Waits until this node's state machine contains every entry committed before the term's
    /// work starts, and checks that this node still leads the term.
    async fn wait_until_linearizable(&self) -> Result<(), SchedulerError> {
        let timeout = self.shared.config.proposal_timeout;
        let term = self.term;
        let confirmed = tokio::time::timeout(timeout, self.shared.consensus.ensure_linearizable())
            .await
            .map_err(|_elapsed| {
                let after_ms = millis(timeout);
                SchedulerError::LeadershipUnconfirmed(FenceError::TimedOut { term, after_ms })
            })?;
        match confirmed {
            Ok(confirmed) if confirmed == term => Ok(()),
            Ok(confirmed) => Err(SchedulerError::LeadershipUnconfirmed(
                FenceError::TermChanged { term, confirmed },
            )),
            Err(error) => Err(self.consensus_error(error)),
        }
    }

    /// Loads the jobs and open executions into the core as a leadership gain of this term.
    async fn load_state(&mut self) -> Result<(), SchedulerError> {
        let state = &self.shared.state;
        let mut jobs = state.active_jobs()?;
        let open_executions = state.open_executions()?;

        // Open executions of paused jobs still need their job to be dispatched.
        let mut known: HashSet<String> = jobs.iter().map(|job| job.id.clone()).collect();
        for execution in &open_executions {
            if known.insert(execution.job_id.clone()) {
                let job = state.get_job(&execution.job_id)?;
                jobs.extend(job);
            }
        }

        debug!(
            jobs = jobs.len(),
            open_executions = open_executions.len(),
            "state loaded"
        );
        let gained = Event::LeadershipGained {
            term: self.term,
            now: self.shared.clock.now(),
            jobs,
            open_executions,
        };
        self.feed(gained).await?;
        self.shared.loaded_term.send_replace(Some(self.term));
        Ok(())
    }

    async fn on_state_event(
        &mut self,
        received: Result<StateEvent, RecvError>,
    ) -> Result<(), SchedulerError> {
        let event = match received {
            Ok(event) => event,
            Err(RecvError::Lagged(missed)) => {
                warn!(
                    missed,
                    "state events missed; rebuilding from the state machine"
                );
                return self.load_state().await;
            }
            Err(RecvError::Closed) => return Err(SchedulerError::EventsClosed),
        };
        debug!(?event, "state event");

        match event {
            StateEvent::JobChanged { job_id, job } => {
                let job = job.map(|job| *job);
                self.feed(Event::JobChanged { job_id, job }).await
            }
            StateEvent::ExecutionChanged(execution) => self.on_execution_changed(execution).await,
            StateEvent::Reset => {
                info!("state replaced by a snapshot; rebuilding from the state machine");
                self.load_state().await
            }
        }
    }

    async fn on_execution_changed(&mut self, execution: Execution) -> Result<(), SchedulerError> {
        // A manual run of a paused job is dispatched too, so the core needs that job.
        if execution.is_open() && !self.core.knows_job(&execution.job_id) {
            let job = self.shared.state.get_job(&execution.job_id)?;
            let job_id = execution.job_id.clone();
            self.feed(Event::JobChanged { job_id, job }).await?;
        }
        self.feed(Event::ExecutionChanged(execution)).await
    }

    /// Hands `event` to the core and carries out the commands it returns.
    async fn feed(&mut self, event: Event) -> Result<(), SchedulerError> {
        let mut commands: VecDeque<Command> = self.core.handle(event).into();
        while let Some(command) = commands.pop_front() {
            match command {
                Command::Propose(intents) => commands.extend(self.propose_fires(intents).await?),
                Command::Dispatch { execution, job } => {
                    let sent_already = execution.attempt_count == 1
                        && self.sent_before_commit.remove(&execution.id);
                    if !sent_already {
                        self.dispatch(execution, job);
                    }
                }
                Command::Abort { execution_id } => self.abort(&execution_id),
                Command::ArmTimer(at) => self.deadline = at,
            }
        }
        Ok(())
    }

    /// Proposes one `RecordFires` entry. A proposal that times out is handed back to the core,
    /// and the core's commands for that are returned.
    async fn propose_fires(
        &mut self,
        intents: Vec<Intent>,
    ) -> Result<Vec<Command>, SchedulerError> {
        if self.shared.config.dispatch_before_commit {
            self.dispatch_before_commit(&intents)?;
        }
        // A leader cut off from its quorum would leave the intents waiting in its log, to commit
        // and fire late when the quorum returns, past the misfire policy. The loop ends instead;
        // the next one reloads the state and classifies the late instants.
        self.fence
            .confirm(&self.shared.consensus)
            .await
            .map_err(SchedulerError::LeadershipUnconfirmed)?;
        let command = crate::model::Command::RecordFires {
            intents: intents.clone(),
        };
        match self.propose(command).await {
            Ok(response) => {
                log_fire_decisions(&response);
                Ok(Vec::new())
            }
            Err(SchedulerError::ProposalTimedOut { after_ms }) => {
                warn!(after_ms, intents = ?intent_ids(&intents), "RecordFires proposal timed out; requeued");
                let retry_at = self.retry_instant();
                Ok(self
                    .core
                    .handle(Event::ProposalFailed { intents, retry_at }))
            }
            Err(error) => {
                warn!(%error, intents = ?intent_ids(&intents), "RecordFires proposal failed");
                Err(error)
            }
        }
    }

    fn dispatch(&mut self, execution: Execution, job: Job) {
        info!(
            job.id = %job.id,
            execution.id = %execution.id,
            scheduled_time = %execution.scheduled_time,
            attempt = execution.attempt_count,
            "firing"
        );
        let execution_id = execution.id.clone();
        let attempt = Attempt {
            job,
            execution,
            term: self.term,
        };
        let task = send_attempt(
            self.shared.clone(),
            self.fence.clone(),
            self.metrics.clone(),
            attempt,
        );
        self.in_flight.spawn(execution_id, task);
    }

    /// Sends the schedule fires of `intents` before they are proposed (the planted bug), with
    /// the next log index as a guessed fencing token.
    fn dispatch_before_commit(&mut self, intents: &[Intent]) -> Result<(), SchedulerError> {
        let next_index = self.metrics.borrow().last_log_index.unwrap_or(0) + 1;
        for intent in intents {
            let Intent::Fire(fire) = intent else { continue };
            let Some(job) = self.shared.state.get_job(&fire.job_id)? else {
                continue;
            };
            let execution = planted_bug::uncommitted_execution(fire, self.term, next_index);
            self.sent_before_commit.insert(execution.id.clone());
            self.dispatch(execution, job);
        }
        Ok(())
    }

    /// Aborts the request of an execution that became final while it was in flight.
    fn abort(&mut self, execution_id: &str) {
        if self.in_flight.abort(execution_id) {
            info!(execution.id = %execution_id, "execution ended while its request was in flight; request aborted");
        }
    }

    /// Batches the outcome of a finished dispatch.
    ///
    /// # Errors
    /// [`SchedulerError::LeadershipUnconfirmed`] when the dispatch could not confirm the
    /// leadership: the loop ends, the attempts still in flight are aborted, and the supervisor
    /// starts a new loop only while the metrics still show this node leading.
    async fn on_attempt_finished(
        &mut self,
        execution_id: ExecutionId,
        joined: Result<AttemptEnd, JoinError>,
    ) -> Result<(), SchedulerError> {
        let outcome = match joined {
            Ok(AttemptEnd::Finished(outcome)) => outcome,
            Ok(AttemptEnd::NotLeader) => return Ok(()),
            Ok(AttemptEnd::Fenced(error)) => {
                warn!(execution.id = %execution_id, %error, "not sent: leadership not confirmed");
                return Err(SchedulerError::LeadershipUnconfirmed(error));
            }
            Err(join_error) if join_error.is_cancelled() => {
                debug!(execution.id = %execution_id, "aborted request has no outcome");
                return Ok(());
            }
            Err(join_error) => {
                // The attempt stays RUNNING; the next leader retries it as in doubt.
                error!(execution.id = %execution_id, %join_error, "dispatch task failed; its attempt has no outcome");
                return Ok(());
            }
        };
        log_outcome(&outcome);
        self.outcomes.push(outcome);

        if self.outcomes.len() >= self.shared.config.outcome_batch_max {
            return self.flush_outcomes().await;
        }
        if self.flush_at.is_none() {
            self.flush_at =
                Some(tokio::time::Instant::now() + self.shared.config.outcome_batch_window);
        }
        Ok(())
    }

    /// Proposes the pending outcomes as one `RecordOutcomes` entry. Outcomes whose proposal
    /// timed out are kept and proposed again after `proposal_retry_delay`.
    async fn flush_outcomes(&mut self) -> Result<(), SchedulerError> {
        self.flush_at = None;
        let outcomes = std::mem::take(&mut self.outcomes);
        if outcomes.is_empty() {
            return Ok(());
        }
        if leader_term(&self.metrics.borrow(), self.shared.node_id) != Some(self.term) {
            debug!(
                dropped = outcomes.len(),
                "outcomes dropped: leadership of the term lost"
            );
            return Err(SchedulerError::NotLeader { leader: None });
        }

        let ids = outcome_ids(&outcomes);
        let command = crate::model::Command::RecordOutcomes {
            outcomes: outcomes.clone(),
        };
        match self.propose(command).await {
            Ok(response) => {
                debug!(?response, outcomes = ?ids, "outcomes recorded");
                Ok(())
            }
            Err(SchedulerError::ProposalTimedOut { after_ms }) => {
                warn!(after_ms, outcomes = ?ids, "RecordOutcomes proposal timed out; kept for another try");
                self.outcomes.splice(0..0, outcomes);
                self.flush_at =
                    Some(tokio::time::Instant::now() + self.shared.config.proposal_retry_delay);
                Ok(())
            }
            Err(error) => {
                warn!(%error, outcomes = ?ids, "RecordOutcomes proposal failed");
                Err(error)
            }
        }
    }

    async fn propose(&self, command: crate::model::Command) -> Result<Response, SchedulerError> {
        let timeout = self.shared.config.proposal_timeout;
        match tokio::time::timeout(timeout, self.shared.consensus.propose(command)).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error)) => Err(self.consensus_error(error)),
            Err(_elapsed) => Err(SchedulerError::ProposalTimedOut {
                after_ms: millis(timeout),
            }),
        }
    }

    fn consensus_error(&self, error: ConsensusError) -> SchedulerError {
        match error {
            ConsensusError::NotLeader { leader } => SchedulerError::NotLeader { leader },
            ConsensusError::Fatal(message) => SchedulerError::RaftStopped(message),
        }
    }

    fn retry_instant(&self) -> Timestamp {
        let delay = millis(self.shared.config.proposal_retry_delay);
        self.shared.clock.now().plus_millis(delay)
    }
}

/// Sleeps until `deadline` by `clock`, or forever when there is none.
async fn sleep_until(deadline: Option<Timestamp>, clock: &dyn super::Clock) {
    match deadline {
        Some(at) => {
            let remaining = u64::try_from(at.0.saturating_sub(clock.now().0)).unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(remaining)).await;
        }
        None => std::future::pending().await,
    }
}

async fn flush_timer(flush_at: Option<tokio::time::Instant>) {
    match flush_at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn log_fire_decisions(response: &Response) {
    let Response::Fires(decisions) = response else {
        warn!(?response, "unexpected response to RecordFires");
        return;
    };
    for decision in decisions {
        match decision {
            FireDecision::Accepted(execution) => debug!(
                execution.id = %execution.id,
                attempt = execution.attempt_count,
                "attempt accepted"
            ),
            FireDecision::Duplicate(execution_id) => {
                debug!(execution.id = %execution_id, "intent accepted before; nothing changed")
            }
            // A stale intent shows that this leader's view lagged the state machine, so it is
            // logged at info level.
            FireDecision::Skipped {
                reason: SkipReason::StaleIntent(job_id),
            } => info!(job.id = %job_id, "intent rejected as stale; nothing started"),
            FireDecision::Skipped { reason } => debug!(?reason, "intent skipped"),
        }
    }
}

fn log_outcome(outcome: &Outcome) {
    match &outcome.result {
        OutcomeResult::Success { status_code, .. } => debug!(
            execution.id = %outcome.execution_id,
            attempt = outcome.attempt,
            status_code,
            "attempt succeeded"
        ),
        OutcomeResult::Failure {
            error, retryable, ..
        } => warn!(
            execution.id = %outcome.execution_id,
            attempt = outcome.attempt,
            retryable,
            %error,
            "attempt failed"
        ),
    }
}

fn intent_ids(intents: &[Intent]) -> Vec<String> {
    intents
        .iter()
        .map(|intent| match intent {
            Intent::Fire(fire) => format!("fire {} at {}", fire.job_id, fire.scheduled_time),
            Intent::Retry(retry) => {
                format!("retry {} attempt {}", retry.execution_id, retry.attempt)
            }
            Intent::Skip(skip) => format!("skip {} x{}", skip.job_id, skip.instants),
        })
        .collect()
}

fn outcome_ids(outcomes: &[Outcome]) -> Vec<String> {
    outcomes
        .iter()
        .map(|outcome| format!("{} attempt {}", outcome.execution_id, outcome.attempt))
        .collect()
}
