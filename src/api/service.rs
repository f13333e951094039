//! The service layer: one method per API call, shared by the gRPC and REST front ends.
//!
//! Methods take domain inputs and return domain outputs or [`ApiError`]. Writes go through
//! [`Cluster::write`], so any node accepts them. Reads wait on [`Cluster::read_barrier`] first,
//! so they see every write acknowledged before the call started. Business rules stay in
//! `model` and the state machine: this layer validates input, chooses ids and instants, and
//! turns responses into results.

mod executions;
mod jobs;
mod query;

use std::sync::Arc;

use chrono::Utc;
use tokio::sync::watch;

use crate::model::{Job, Response, Timestamp};
use crate::raft::{ClusterClient, ClusterStatus};
use crate::scheduler::SchedulerHealth;
use crate::store::{Page, Paged, StateReader};

use super::backend::{Cluster, StateView};
use super::error::ApiError;

pub use executions::{MAX_IDEMPOTENCY_KEY_BYTES, ManualRun, Triggered, check_idempotency_key};
pub use query::{
    DEFAULT_PAGE_LIMIT, DEFAULT_PREVIEW_COUNT, ExecutionQuery, JobQuery, MAX_PAGE_LIMIT,
    MAX_PREVIEW_COUNT, Preview, PreviewQuery,
};

/// The current time as the API stamps it on commands.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// Returns a [`Clock`] that reads the system time.
pub fn system_clock() -> Clock {
    Arc::new(|| Timestamp::from_datetime(Utc::now()))
}

/// A source of new ids: job ids, and the request keys of manual runs sent without one.
pub type IdSource = Arc<dyn Fn() -> String + Send + Sync>;

/// Returns an [`IdSource`] of random UUID v4 strings.
pub fn random_ids() -> IdSource {
    Arc::new(|| uuid::Uuid::new_v4().to_string())
}

/// One page of a list, with the paging it was read with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing<T> {
    pub items: Vec<T>,
    /// 1-based page number.
    pub page: u32,
    /// Maximum number of items per page.
    pub limit: u32,
    /// Number of matching items over all pages.
    pub total: u64,
}

impl<T> Listing<T> {
    fn new(paged: Paged<T>, page: Page) -> Self {
        Listing {
            items: paged.items,
            page: page.page,
            limit: page.limit,
            total: paged.total,
        }
    }
}

/// This node's view of the cluster, with the health of its scheduler when it leads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeStatus {
    pub cluster: ClusterStatus,
    /// The scheduler's health while Raft shows this node as the leader, else None: only the
    /// leader runs the scheduler.
    pub scheduler: Option<SchedulerHealth>,
}

/// The API's operations, backed by the cluster and the local state of one node.
#[derive(Clone)]
pub struct ApiService {
    cluster: Arc<dyn Cluster>,
    state: Arc<dyn StateView>,
    clock: Clock,
    new_id: IdSource,
    scheduler: watch::Receiver<SchedulerHealth>,
}

impl ApiService {
    /// Builds the service of a node.
    pub fn new(cluster: ClusterClient, state: StateReader, clock: Clock) -> Self {
        Self::with_backends(Arc::new(cluster), Arc::new(state), clock)
    }

    /// Builds the service on any implementation of the cluster and the state, e.g. a fake.
    pub fn with_backends(
        cluster: Arc<dyn Cluster>,
        state: Arc<dyn StateView>,
        clock: Clock,
    ) -> Self {
        ApiService {
            cluster,
            state,
            clock,
            new_id: random_ids(),
            scheduler: watch::channel(SchedulerHealth::default()).1,
        }
    }

    /// Replaces the source of new ids, for example with a seeded one in a simulation.
    pub fn with_ids(mut self, new_id: IdSource) -> Self {
        self.new_id = new_id;
        self
    }

    /// Replaces the source of the scheduler's health, which is otherwise a scheduler that
    /// never led.
    pub fn with_scheduler_health(mut self, health: watch::Receiver<SchedulerHealth>) -> Self {
        self.scheduler = health;
        self
    }

    /// Returns this node's view of the cluster and, when it leads, its scheduler's health.
    pub fn cluster_status(&self) -> NodeStatus {
        let cluster = self.cluster.status();
        let leads = cluster.leader_id == Some(cluster.node_id);
        let scheduler = leads.then(|| self.scheduler.borrow().clone());
        NodeStatus { cluster, scheduler }
    }

    /// Returns this node's last applied log index and the digest of its state at that index,
    /// without a read barrier: each node reports its own state.
    pub fn applied_digest(&self) -> Result<(u64, u64), ApiError> {
        Ok(self.state.applied_digest()?)
    }

    /// Checks that this node can serve reads and, when it leads, fire jobs: its Raft runs, it
    /// has a leader, and it has applied every entry up to its commit index. A leader must also
    /// reach a majority of voters and have a scheduler that is not failing
    /// ([`SchedulerHealth::is_failing`]).
    ///
    /// # Errors
    /// [`ApiError::Unavailable`] with the reason.
    pub fn readiness(&self) -> Result<(), ApiError> {
        let NodeStatus {
            cluster: status,
            scheduler,
        } = self.cluster_status();
        if !status.raft_running {
            let reason = format!(
                "node {} is not ready: its Raft stopped after a storage error or a shutdown; \
                 see its log, then restart it",
                status.node_id
            );
            return Err(ApiError::Unavailable(reason));
        }
        if status.leader_id.is_none() {
            let reason = format!("node {} is not ready: it knows no leader", status.node_id);
            return Err(ApiError::Unavailable(reason));
        }
        if !status.quorum_ok {
            let reason = format!(
                "node {} is not ready: it leads but cannot reach a majority of voters",
                status.node_id
            );
            return Err(ApiError::Unavailable(reason));
        }
        if let Some(health) = scheduler.filter(SchedulerHealth::is_failing) {
            return Err(ApiError::Unavailable(scheduler_failing(
                status.node_id,
                &health,
            )));
        }
        if status.applied_index < status.commit_index {
            return Err(ApiError::Unavailable(format!(
                "node {} is not ready: applied index {} is behind commit index {}",
                status.node_id, status.applied_index, status.commit_index
            )));
        }
        Ok(())
    }

    fn now(&self) -> Timestamp {
        (self.clock)()
    }

    /// Reads a job from the local state; call after a read barrier.
    fn load_job(&self, field: &str, id: &str) -> Result<Job, ApiError> {
        self.state.get_job(id)?.ok_or_else(|| not_found(field, id))
    }
}

/// Describes a failing scheduler for the readiness check.
fn scheduler_failing(node_id: u64, health: &SchedulerHealth) -> String {
    let last_error = health.last_error.as_deref().unwrap_or("unknown");
    format!(
        "node {node_id} is not ready: it leads, but its scheduler failed {} times in a row and \
         fires no job; last error: {last_error}",
        health.consecutive_failures
    )
}

fn not_found(field: &str, value: &str) -> ApiError {
    ApiError::NotFound {
        field: field.to_string(),
        value: value.to_string(),
    }
}

/// Maximum length of an id the API looks up, in bytes. Ids the cluster makes are UUIDs of 36
/// characters.
const MAX_ID_BYTES: usize = 128;

/// Rejects an empty id, which no path or request can name an object with, and one too long to
/// be an id, whose echo in a gRPC error could exceed the client's header limit.
fn require_id(field: &str, value: &str) -> Result<(), ApiError> {
    if value.is_empty() {
        return Err(crate::model::ValidationError::missing(field).into());
    }
    if value.len() > MAX_ID_BYTES {
        let expected = format!("expected an id of at most {MAX_ID_BYTES} bytes");
        return Err(ApiError::invalid(field, value, &expected));
    }
    Ok(())
}

/// Returns the job of a response to a job command.
fn expect_job(response: Response) -> Result<Job, ApiError> {
    match response {
        Response::Job(job) => Ok(*job),
        Response::Rejected(rejection) => Err(rejection.into()),
        other => Err(unexpected(&other)),
    }
}

fn unexpected(response: &Response) -> ApiError {
    let kind = match response {
        Response::Job(_) => "Job",
        Response::Deleted(_) => "Deleted",
        Response::Fires(_) => "Fires",
        Response::Outcomes { .. } => "Outcomes",
        Response::Rejected(_) => "Rejected",
        Response::Empty => "Empty",
    };
    ApiError::Internal(format!(
        "the state machine returned an unexpected {kind} response"
    ))
}
