//! The two things the service layer needs from a node: the replicated log and its local
//! state.
//!
//! A node uses [`ClusterClient`] and [`StateReader`]. [`Cluster`] is a trait so that tests of
//! the service, REST and gRPC layers can replace Raft with a one-node stand-in that applies each
//! write at once to a real store. Those tests read through [`StateReader`] too, which is the only
//! implementation of [`StateView`].

use async_trait::async_trait;

use crate::model::{Command, Execution, ExecutionStatus, Job, Response};
use crate::raft::{ClusterClient, ClusterError, ClusterStatus};
use crate::store::{JobFilter, Page, Paged, StateReader, StoreError};

/// The replicated log: writes through the leader and linearizable read barriers.
#[async_trait]
pub trait Cluster: Send + Sync + 'static {
    /// Proposes `command` and returns the state machine's response once it is applied here.
    async fn write(&self, command: Command) -> Result<Response, ClusterError>;

    /// Waits until the local state reflects every write acknowledged before the call.
    async fn read_barrier(&self) -> Result<(), ClusterError>;

    /// Returns this node's view of the cluster: leader, term, Raft indexes and members.
    fn status(&self) -> ClusterStatus;
}

/// Reads of this node's applied state. Call [`Cluster::read_barrier`] first for a
/// linearizable read.
pub trait StateView: Send + Sync + 'static {
    fn get_job(&self, id: &str) -> Result<Option<Job>, StoreError>;

    fn list_jobs(&self, filter: &JobFilter, page: Page) -> Result<Paged<Job>, StoreError>;

    fn get_execution(&self, id: &str) -> Result<Option<Execution>, StoreError>;

    /// Lists one job's executions, newest first.
    fn list_executions(
        &self,
        job_id: &str,
        status: Option<ExecutionStatus>,
        page: Page,
    ) -> Result<Paged<Execution>, StoreError>;

    /// Returns the last applied log index (0 before the first entry) and a digest of the
    /// state taken at that index, for comparing nodes.
    fn applied_digest(&self) -> Result<(u64, u64), StoreError>;
}

#[async_trait]
impl Cluster for ClusterClient {
    async fn write(&self, command: Command) -> Result<Response, ClusterError> {
        ClusterClient::write(self, command).await
    }

    async fn read_barrier(&self) -> Result<(), ClusterError> {
        ClusterClient::read_barrier(self).await
    }

    fn status(&self) -> ClusterStatus {
        ClusterClient::status(self)
    }
}

impl StateView for StateReader {
    fn get_job(&self, id: &str) -> Result<Option<Job>, StoreError> {
        StateReader::get_job(self, id)
    }

    fn list_jobs(&self, filter: &JobFilter, page: Page) -> Result<Paged<Job>, StoreError> {
        StateReader::list_jobs(self, filter, page)
    }

    fn get_execution(&self, id: &str) -> Result<Option<Execution>, StoreError> {
        StateReader::get_execution(self, id)
    }

    fn list_executions(
        &self,
        job_id: &str,
        status: Option<ExecutionStatus>,
        page: Page,
    ) -> Result<Paged<Execution>, StoreError> {
        StateReader::list_executions(self, job_id, status, page)
    }

    fn applied_digest(&self) -> Result<(u64, u64), StoreError> {
        // An entry applied between the two reads of the index would make the digest belong to
        // neither, so both reads must match.
        loop {
            let before = StateReader::last_applied(self)?.map_or(0, |id| id.index);
            let digest = StateReader::state_digest(self)?;
            let after = StateReader::last_applied(self)?.map_or(0, |id| id.index);
            if before == after {
                return Ok((after, digest));
            }
        }
    }
}
