//! The cluster status: this node's view of the leader, the Raft indexes and each member, built
//! from openraft's metrics.

use openraft::{RaftMetrics, ServerState};

use crate::raft_types::{NodeId, NodeInfo};

/// Role and addresses of one member, for status calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberStatus {
    pub id: NodeId,
    /// LEADER, FOLLOWER or LEARNER.
    pub role: String,
    pub client_addr: String,
    pub peer_addr: String,
}

/// This node's view of the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterStatus {
    pub node_id: NodeId,
    pub leader_id: Option<NodeId>,
    pub term: u64,
    /// Highest log index known to be committed: computed from replication on the leader, the
    /// applied index on other nodes (a follower applies an entry once it learns it is committed).
    pub commit_index: u64,
    pub applied_index: u64,
    /// Index of the last entry in this node's log.
    pub last_log_index: u64,
    /// Last log index covered by this node's latest snapshot; 0 when it has none.
    pub snapshot_index: u64,
    /// Whether this node can serve calls: it has a known leader and, when it is the leader, has
    /// heard from a quorum within the quorum acknowledgement timeout.
    pub quorum_ok: bool,
    pub members: Vec<MemberStatus>,
}

/// Builds a [`ClusterStatus`] from one metrics snapshot.
pub fn status_from_metrics(metrics: &RaftMetrics<NodeId, NodeInfo>) -> ClusterStatus {
    let membership = metrics.membership_config.membership();
    let members = membership
        .nodes()
        .map(|(id, node)| MemberStatus {
            id: *id,
            role: role_of(metrics, *id, membership.voter_ids().any(|v| v == *id)),
            client_addr: node.client_addr.clone(),
            peer_addr: node.peer_addr.clone(),
        })
        .collect();
    let applied_index = metrics.last_applied.map_or(0, |id| id.index);
    ClusterStatus {
        node_id: metrics.id,
        leader_id: metrics.current_leader,
        term: metrics.current_term,
        commit_index: commit_index(metrics).unwrap_or(applied_index),
        applied_index,
        last_log_index: metrics.last_log_index.unwrap_or(0),
        snapshot_index: metrics.snapshot.map_or(0, |id| id.index),
        quorum_ok: metrics.current_leader.is_some(),
        members,
    }
}

fn role_of(metrics: &RaftMetrics<NodeId, NodeInfo>, id: NodeId, voter: bool) -> String {
    let role = if metrics.current_leader == Some(id) {
        "LEADER"
    } else if voter {
        "FOLLOWER"
    } else {
        "LEARNER"
    };
    role.to_string()
}

/// On the leader, the highest index stored on a majority of voters.
fn commit_index(metrics: &RaftMetrics<NodeId, NodeInfo>) -> Option<u64> {
    if metrics.state != ServerState::Leader {
        return None;
    }
    let replication = metrics.replication.as_ref()?;
    let membership = metrics.membership_config.membership();
    let mut matched: Vec<u64> = membership
        .voter_ids()
        .map(|id| match replication.get(&id) {
            Some(Some(log_id)) => log_id.index,
            _ if id == metrics.id => metrics.last_log_index.unwrap_or(0),
            _ => 0,
        })
        .collect();
    matched.sort_unstable_by(|a, b| b.cmp(a));
    matched.get(matched.len() / 2).copied()
}
