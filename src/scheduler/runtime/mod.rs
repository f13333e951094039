//! The scheduler runtime: runs the core on the Raft leader with a real clock.
//!
//! A supervisor task watches this node's Raft metrics. When the node becomes leader of a term
//! (state `Leader` and `current_leader` is this node), it starts a leader loop for that term.
//! As soon as the metrics show anything else, it drops the loop, which aborts the attempts
//! still in flight and drops their outcomes. The next leader retries such attempts as in
//! doubt, under the same execution id.
//!
//! A loop that fails is restarted after [`SchedulerConfig::restart_delay`] while this node still
//! leads. The supervisor counts failed loops in a row ([`SchedulerHandle::health`]). After
//! [`FAILURES_BEFORE_FAILING`] of them the node reports itself not ready. When all of them
//! failed on storage errors, it also shuts down its Raft node, as openraft does after a storage
//! error of its own, so that a node whose disk state can be trusted takes over.
//!
//! **Invariants**
//! - No attempt is sent unless, right before the request starts, the metrics show this node
//!   leading the attempt's term and a quorum confirmed that leadership less than
//!   [`SchedulerConfig::leadership_lease`] ago (see `fence.rs` for the reasoning and the
//!   window that remains).
//! - Only attempts the state machine stored as RUNNING in this term are sent.
//! - A request whose execution the state machine ended while it was in flight (the REPLACE
//!   concurrency policy) is aborted.
//! - The random jitter share of each outcome is drawn here, never in the core or the state
//!   machine.

mod clock;
mod consensus;
mod dispatch;
mod fence;
mod health;
mod in_flight;
mod leader;
mod planted_bug;
mod supervisor;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{Instrument, info_span, warn};

pub use self::clock::{Clock, SystemClock};
pub use self::consensus::{Consensus, ConsensusError, Metrics, leader_term};
pub use self::dispatch::draw_jitter_sample;
pub use self::fence::FenceError;
pub use self::health::{FAILURES_BEFORE_FAILING, HEALTHY_RUN, SchedulerHealth};
pub use self::planted_bug::{
    DISPATCH_BEFORE_COMMIT, ENV_VAR as PLANTED_BUG_ENV_VAR, from_env as planted_bug_from_env,
};

use crate::raft_types::NodeId;
use crate::scheduler::core::{CoreConfig, NextInstant};
use crate::store::{StateReader, StoreError};
use crate::trigger::Dispatch;

/// A source of jitter samples, each from 0 to 1000.
pub type JitterSource = Arc<dyn Fn() -> u16 + Send + Sync>;

/// Settings of the runtime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// Settings of the core (the misfire threshold).
    pub core: CoreConfig,
    /// How long a confirmation of this node's leadership allows requests to be sent, counted
    /// from the moment it started; also the timeout of one confirmation. It must stay below
    /// Raft's minimum election timeout: `node` sets half of it.
    pub leadership_lease: Duration,
    /// How long finished attempts are collected before one `RecordOutcomes` is proposed.
    pub outcome_batch_window: Duration,
    /// Maximum number of outcomes in one `RecordOutcomes`; a full batch is proposed at once.
    pub outcome_batch_max: usize,
    /// How long a proposal may take to commit before it is handed back and retried.
    pub proposal_timeout: Duration,
    /// Delay before a timed-out proposal is retried.
    pub proposal_retry_delay: Duration,
    /// Delay before the leader loop is restarted after an error while this node still leads.
    pub restart_delay: Duration,
    /// Enables the planted dispatch-before-commit bug (`planted_bug.rs`); chaos tests only.
    pub dispatch_before_commit: bool,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            core: CoreConfig::default(),
            // Half of the default `raft.election_timeout_min_ms` of 750.
            leadership_lease: Duration::from_millis(375),
            outcome_batch_window: Duration::from_millis(5),
            outcome_batch_max: 64,
            proposal_timeout: Duration::from_secs(10),
            proposal_retry_delay: Duration::from_secs(1),
            restart_delay: Duration::from_secs(1),
            dispatch_before_commit: false,
        }
    }
}

/// Errors that end a leader loop.
#[derive(thiserror::Error, Debug)]
pub enum SchedulerError {
    /// Raft reports that this node no longer leads.
    #[error("this node is not the leader (current leader: {leader:?})")]
    NotLeader { leader: Option<NodeId> },
    /// Raft stopped on this node.
    #[error("raft stopped: {0}")]
    RaftStopped(String),
    /// A proposal was not applied in time; it may still be applied later.
    #[error("proposal not applied within {after_ms} ms")]
    ProposalTimedOut { after_ms: u64 },
    /// This node could not confirm that it still leads the term, so it sends nothing more in
    /// this loop.
    #[error("{0}")]
    LeadershipUnconfirmed(#[from] FenceError),
    /// Reading jobs or executions from the state machine failed.
    #[error("failed to read the scheduler state: {0}")]
    State(#[from] StoreError),
    /// The state machine's event channel closed (the store shut down).
    #[error("the state event channel closed")]
    EventsClosed,
}

impl SchedulerError {
    /// Returns whether this node's store failed, so its disk state can no longer be trusted.
    /// Only [`SchedulerError::State`] is: the other variants come from Raft or from the loop
    /// losing its leadership, and another loop may succeed.
    pub fn is_storage_error(&self) -> bool {
        matches!(self, SchedulerError::State(_))
    }
}

/// Everything the leader loops of one node share.
struct Shared<C> {
    node_id: NodeId,
    consensus: C,
    state: StateReader,
    dispatcher: Arc<dyn Dispatch>,
    clock: Arc<dyn Clock>,
    schedule: Arc<dyn NextInstant>,
    /// Draws the random share of each outcome's retry jitter, from 0 to 1000.
    jitter: JitterSource,
    config: SchedulerConfig,
    /// The term whose state the current leader loop has loaded, `None` while not leading.
    loaded_term: watch::Sender<Option<u64>>,
    /// The health the supervisor records.
    health: watch::Sender<SchedulerHealth>,
}

/// A scheduler runtime, ready to be started with [`SchedulerRuntime::start`].
pub struct SchedulerRuntime<C> {
    shared: Shared<C>,
}

impl<C: Consensus> SchedulerRuntime<C> {
    /// Builds a runtime for node `node_id` that computes instants with
    /// [`crate::scheduler::next_instant`].
    pub fn new(
        node_id: NodeId,
        consensus: C,
        state: StateReader,
        dispatcher: Arc<dyn Dispatch>,
        clock: Arc<dyn Clock>,
        config: SchedulerConfig,
    ) -> Self {
        let shared = Shared {
            node_id,
            consensus,
            state,
            dispatcher,
            clock,
            schedule: Arc::new(crate::scheduler::next_instant),
            jitter: Arc::new(dispatch::draw_jitter_sample),
            config,
            loaded_term: watch::Sender::new(None),
            health: watch::Sender::new(SchedulerHealth::default()),
        };
        SchedulerRuntime { shared }
    }

    /// Watches the scheduler's health; see [`SchedulerHandle::health`].
    pub fn health(&self) -> watch::Receiver<SchedulerHealth> {
        self.shared.health.subscribe()
    }

    /// Replaces the source of schedule instants.
    pub fn with_schedule(mut self, schedule: Arc<dyn NextInstant>) -> Self {
        self.shared.schedule = schedule;
        self
    }

    /// Replaces the source of jitter samples, for example with a seeded one in a simulation.
    pub fn with_jitter(mut self, jitter: JitterSource) -> Self {
        self.shared.jitter = jitter;
        self
    }

    /// Builds and starts a runtime in one step; see [`SchedulerRuntime::new`].
    pub fn spawn(
        node_id: NodeId,
        consensus: C,
        state: StateReader,
        dispatcher: Arc<dyn Dispatch>,
        clock: Arc<dyn Clock>,
        config: SchedulerConfig,
    ) -> SchedulerHandle {
        SchedulerRuntime::new(node_id, consensus, state, dispatcher, clock, config).start()
    }

    /// Starts the supervisor task on the current tokio runtime.
    pub fn start(self) -> SchedulerHandle {
        let (stop, stopped) = watch::channel(());
        if self.shared.config.dispatch_before_commit {
            planted_bug::warn_enabled();
        }
        let node_id = self.shared.node_id;
        let span = info_span!("scheduler", node.id = node_id);
        let loaded_term = self.shared.loaded_term.subscribe();
        let health = self.shared.health.subscribe();
        let supervise = supervisor::supervise(Arc::new(self.shared), stopped);
        let task = tokio::spawn(supervise.instrument(span));
        SchedulerHandle {
            stop,
            task,
            loaded_term,
            health,
        }
    }
}

/// A running scheduler runtime. Dropping the handle stops the runtime too, without waiting.
pub struct SchedulerHandle {
    stop: watch::Sender<()>,
    task: JoinHandle<()>,
    loaded_term: watch::Receiver<Option<u64>>,
    health: watch::Receiver<SchedulerHealth>,
}

impl SchedulerHandle {
    /// Watches the term whose state the leader loop has loaded: from then on, every attempt
    /// committed in that term is dispatched by this node. `None` while the node does not lead.
    pub fn loaded_term(&self) -> watch::Receiver<Option<u64>> {
        self.loaded_term.clone()
    }

    /// Watches the scheduler's health: whether this node leads, whether its leader loop runs,
    /// and how many loops in a row failed with which error.
    pub fn health(&self) -> watch::Receiver<SchedulerHealth> {
        self.health.clone()
    }

    /// Stops the runtime and waits for it: the leader loop is dropped, attempts in flight are
    /// aborted and their outcomes are not recorded.
    pub async fn shutdown(self) {
        drop(self.stop);
        if let Err(error) = self.task.await {
            warn!(%error, "scheduler task failed");
        }
    }
}

#[cfg(test)]
mod fence_test;
#[cfg(test)]
mod runtime_test;
