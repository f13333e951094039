//! The Raft operations the runtime uses: leadership metrics, a linearizable barrier and
//! proposals.
//!
//! [`Consensus`] is implemented for [`Raft`]. Tests implement it by applying proposals to the
//! store's state machine directly.

use std::future::Future;

use openraft::{RaftMetrics, ServerState};
use tokio::sync::watch;

use crate::model::{Command, Response};
use crate::raft_types::{NodeId, NodeInfo, Raft};

/// Metrics published by openraft for this node.
pub type Metrics = RaftMetrics<NodeId, NodeInfo>;

/// Errors of a proposal or of the linearizable barrier.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum ConsensusError {
    /// This node is not the leader, or could not confirm it still is.
    #[error("this node is not the leader (current leader: {leader:?})")]
    NotLeader { leader: Option<NodeId> },
    /// Raft stopped (storage error or shutdown); nothing more can be proposed on this node.
    #[error("raft stopped: {0}")]
    Fatal(String),
}

/// The Raft operations the scheduler runtime uses.
pub trait Consensus: Send + Sync + 'static {
    /// Returns a watch of this node's Raft metrics.
    fn metrics(&self) -> watch::Receiver<Metrics>;

    /// Confirms with a quorum that this node is still leader, waits until the state machine
    /// applied every entry committed before this call, and returns the term this node leads.
    fn ensure_linearizable(&self) -> impl Future<Output = Result<u64, ConsensusError>> + Send;

    /// Proposes `command` and waits until it is committed and applied.
    fn propose(
        &self,
        command: Command,
    ) -> impl Future<Output = Result<Response, ConsensusError>> + Send;

    /// Shuts down Raft on this node and waits until it stopped. The metrics then show the
    /// state `Shutdown`, and every later call fails.
    fn shutdown(&self) -> impl Future<Output = ()> + Send;
}

impl Consensus for Raft {
    fn metrics(&self) -> watch::Receiver<Metrics> {
        Raft::metrics(self)
    }

    async fn ensure_linearizable(&self) -> Result<u64, ConsensusError> {
        match Raft::ensure_linearizable(self).await {
            // openraft returns the later of the commit index and the first entry of this
            // leader's term, so the log id's term is the term this node leads.
            Ok(Some(read_log_id)) => Ok(read_log_id.leader_id.term),
            Ok(None) => Err(ConsensusError::NotLeader { leader: None }),
            Err(openraft::error::RaftError::APIError(error)) => {
                let leader = match error {
                    openraft::error::CheckIsLeaderError::ForwardToLeader(forward) => {
                        forward.leader_id
                    }
                    openraft::error::CheckIsLeaderError::QuorumNotEnough(_) => None,
                };
                Err(ConsensusError::NotLeader { leader })
            }
            Err(openraft::error::RaftError::Fatal(fatal)) => {
                Err(ConsensusError::Fatal(fatal.to_string()))
            }
        }
    }

    async fn propose(&self, command: Command) -> Result<Response, ConsensusError> {
        match self.client_write(command).await {
            Ok(response) => Ok(response.data),
            Err(error) => match error.forward_to_leader::<NodeInfo>() {
                Some(forward) => Err(ConsensusError::NotLeader {
                    leader: forward.leader_id,
                }),
                None => Err(ConsensusError::Fatal(error.to_string())),
            },
        }
    }

    async fn shutdown(&self) {
        if let Err(error) = Raft::shutdown(self).await {
            tracing::warn!(%error, "raft shutdown failed");
        }
    }
}

/// Returns the term `node_id` leads according to `metrics`, or `None` when it is not the leader.
pub fn leader_term(metrics: &Metrics, node_id: NodeId) -> Option<u64> {
    let leads = metrics.running_state.is_ok()
        && metrics.state == ServerState::Leader
        && metrics.current_leader == Some(node_id);
    leads.then_some(metrics.current_term)
}
