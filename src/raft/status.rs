//! The cluster status: this node's view of the leader, the Raft indexes and each member, built
//! from openraft's metrics and from the outcome of this node's own Raft RPCs.
//!
//! openraft 0.9 metrics do not say whether a follower still replies, so reachability comes
//! from [`PeerContacts`](super::PeerContacts), which records every outgoing RPC. Only the
//! leader reports it: it sends every member heartbeats, so its records are current. Another
//! node's records come from the occasional vote RPC and can be minutes old.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use openraft::{RaftMetrics, ServerState};
use tokio::time::Instant;

use super::contacts::PeerContact;
use crate::raft_types::{NodeId, NodeInfo};

/// Role, addresses and reachability of one member, for status calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberStatus {
    pub id: NodeId,
    /// For the node serving the status, its own Raft state: LEADER, FOLLOWER, CANDIDATE,
    /// LEARNER or SHUTDOWN (its Raft stopped). For another member: LEADER when this node's
    /// metrics name it as the leader, else FOLLOWER for a voter and LEARNER for a learner.
    pub role: String,
    pub client_addr: String,
    pub peer_addr: String,
    /// Whether the leader reaches the member: true when the member replied to one of the
    /// leader's Raft RPCs within the reachability window (`raft.election_timeout_max_ms`), else
    /// false. A follower that hears nothing from its leader for that long has started an
    /// election by then, so a member silent for longer is not following the leader.
    ///
    /// Set only when this node is the leader, and then always `Some(true)` for itself. None on
    /// every other node, for every member.
    pub reachable: Option<bool>,
    /// Milliseconds since the member last replied to the leader's RPCs of the current term.
    /// None whenever `reachable` is None, for the leader itself and for a member that has not
    /// replied in this term.
    pub last_contact_ms: Option<u64>,
    /// Error of the leader's latest RPC to the member, until a later reply clears it. None
    /// whenever `reachable` is None.
    pub last_error: Option<String>,
}

/// This node's view of the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterStatus {
    pub node_id: NodeId,
    /// The leader in this node's metrics. None while there is none and once its Raft stopped.
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
    /// Whether this node can serve calls. On the leader, a majority of the voters (itself
    /// included) is reachable by the rule of [`MemberStatus::reachable`], in each configuration
    /// of a joint membership. On any other node, a leader is known. Always false once Raft
    /// stopped.
    pub quorum_ok: bool,
    /// Whether Raft runs on this node. It stops after a storage error or a shutdown, and the
    /// node then serves no call that needs Raft until it restarts.
    pub raft_running: bool,
    pub members: Vec<MemberStatus>,
}

/// This node's peer contacts at one instant, and the window within which a reply counts.
#[derive(Clone, Debug)]
pub struct ContactView {
    pub peers: BTreeMap<NodeId, PeerContact>,
    pub now: Instant,
    /// A member that replied within this long before `now` is reachable.
    pub reachable_within: Duration,
}

/// The reachability fields of one [`MemberStatus`].
#[derive(Debug, Default, PartialEq, Eq)]
struct Reachability {
    reachable: Option<bool>,
    last_contact_ms: Option<u64>,
    last_error: Option<String>,
}

impl ContactView {
    /// Applies the rule of [`MemberStatus::reachable`] to member `id`, as seen from the leader
    /// of term `term`. A reply to a request of an earlier term is left out, because this node
    /// then was a follower or a candidate and sent the member nothing for a while, so the age
    /// of that reply is no measure of the member now.
    fn reachability(&self, id: NodeId, term: u64) -> Reachability {
        let mut contact = self.peers.get(&id).cloned().unwrap_or_default();
        if contact.last_reply_term != Some(term) {
            contact.last_reply = None;
        }
        Reachability {
            reachable: Some(contact.replied_within(self.now, self.reachable_within)),
            last_contact_ms: contact.millis_since_reply(self.now),
            last_error: contact.last_error,
        }
    }
}

/// Builds a [`ClusterStatus`] from one metrics snapshot and this node's peer contacts.
pub fn status_from_metrics(
    metrics: &RaftMetrics<NodeId, NodeInfo>,
    contacts: &ContactView,
) -> ClusterStatus {
    let raft_running = is_running(metrics);
    // A stopped Raft keeps the metrics of its last state, so its leader may be stale.
    let leader_id = metrics.current_leader.filter(|_| raft_running);
    let membership = metrics.membership_config.membership();
    let members: Vec<MemberStatus> = membership
        .nodes()
        .map(|(id, node)| member_status(metrics, contacts, leader_id, *id, node))
        .collect();

    let quorum_ok = if metrics.state == ServerState::Leader {
        majority_reachable(membership.get_joint_config(), &members)
    } else {
        leader_id.is_some()
    };
    let applied_index = metrics.last_applied.map_or(0, |id| id.index);
    ClusterStatus {
        node_id: metrics.id,
        leader_id,
        term: metrics.current_term,
        commit_index: commit_index(metrics).unwrap_or(applied_index),
        applied_index,
        last_log_index: metrics.last_log_index.unwrap_or(0),
        snapshot_index: metrics.snapshot.map_or(0, |id| id.index),
        quorum_ok: quorum_ok && raft_running,
        raft_running,
        members,
    }
}

fn is_running(metrics: &RaftMetrics<NodeId, NodeInfo>) -> bool {
    metrics.running_state.is_ok() && metrics.state != ServerState::Shutdown
}

fn member_status(
    metrics: &RaftMetrics<NodeId, NodeInfo>,
    contacts: &ContactView,
    leader_id: Option<NodeId>,
    id: NodeId,
    node: &NodeInfo,
) -> MemberStatus {
    let membership = metrics.membership_config.membership();
    let voter = membership.voter_ids().any(|v| v == id);
    let reachability = if metrics.state != ServerState::Leader {
        Reachability::default()
    } else if id == metrics.id {
        Reachability {
            reachable: Some(true),
            ..Reachability::default()
        }
    } else {
        contacts.reachability(id, metrics.current_term)
    };
    MemberStatus {
        id,
        role: role_of(metrics, leader_id, id, voter),
        client_addr: node.client_addr.clone(),
        peer_addr: node.peer_addr.clone(),
        reachable: reachability.reachable,
        last_contact_ms: reachability.last_contact_ms,
        last_error: reachability.last_error,
    }
}

/// Returns whether more than half of the voters of every configuration is reachable. A joint
/// membership, during a membership change, has two configurations.
fn majority_reachable(configs: &[BTreeSet<NodeId>], members: &[MemberStatus]) -> bool {
    let is_reachable = |id: &NodeId| {
        members
            .iter()
            .any(|member| member.id == *id && member.reachable == Some(true))
    };
    configs.iter().all(|voters| {
        let reachable = voters.iter().filter(|id| is_reachable(id)).count();
        reachable * 2 > voters.len()
    })
}

fn role_of(
    metrics: &RaftMetrics<NodeId, NodeInfo>,
    leader_id: Option<NodeId>,
    id: NodeId,
    voter: bool,
) -> String {
    if id == metrics.id {
        return own_role(metrics.state).to_string();
    }
    let role = if leader_id == Some(id) {
        "LEADER"
    } else if voter {
        "FOLLOWER"
    } else {
        "LEARNER"
    };
    role.to_string()
}

fn own_role(state: ServerState) -> &'static str {
    match state {
        ServerState::Leader => "LEADER",
        ServerState::Follower => "FOLLOWER",
        ServerState::Candidate => "CANDIDATE",
        ServerState::Learner => "LEARNER",
        ServerState::Shutdown => "SHUTDOWN",
    }
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

#[cfg(test)]
#[path = "status_test.rs"]
mod tests;
