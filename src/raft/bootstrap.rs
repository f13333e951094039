//! Static bootstrap, as etcd does it: every node starts with the full initial member list, and
//! a cluster that was never initialized initializes itself once all listed members are up.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{InitializeError, RaftError};

use super::PeerDial;
use crate::net::Transport;
use crate::raft_types::{NodeId, NodeInfo, Raft};

/// Pause between reachability checks of the other members.
const PROBE_INTERVAL: Duration = Duration::from_millis(300);

/// Initializes the cluster with `members` once every member's peer port accepts connections,
/// dialed through `transport` at the `peer_dial` address where it has one.
///
/// Does nothing on a node that is already initialized (restarted with its data directory).
/// Every node may call this at the same time: openraft accepts the same initial membership
/// from several nodes, and a node that already has a log or a vote rejects it as not allowed.
pub async fn bootstrap_when_reachable(
    raft: Raft,
    node_id: NodeId,
    members: BTreeMap<NodeId, NodeInfo>,
    peer_dial: PeerDial,
    transport: Arc<dyn Transport>,
) {
    loop {
        match raft.is_initialized().await {
            Ok(true) => return,
            Ok(false) => {}
            Err(fatal) => {
                tracing::error!(error = %fatal, "raft stopped before bootstrap");
                return;
            }
        }
        if all_reachable(node_id, &members, &peer_dial, transport.as_ref()).await {
            initialize(&raft, members).await;
            return;
        }
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}

async fn all_reachable(
    node_id: NodeId,
    members: &BTreeMap<NodeId, NodeInfo>,
    peer_dial: &PeerDial,
    transport: &dyn Transport,
) -> bool {
    for (id, node) in members {
        if *id == node_id {
            continue;
        }
        let address = peer_dial.address(*id, &node.peer_addr);
        let probe = transport.connect(address);
        if !matches!(tokio::time::timeout(PROBE_INTERVAL, probe).await, Ok(Ok(_))) {
            tracing::debug!(member.id = id, member.address = %address, "member not reachable yet");
            return false;
        }
    }
    true
}

async fn initialize(raft: &Raft, members: BTreeMap<NodeId, NodeInfo>) {
    match raft.initialize(members).await {
        Ok(()) => tracing::info!("cluster initialized"),
        Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {
            tracing::info!("cluster already initialized by another member");
        }
        Err(error) => tracing::error!(%error, "cluster initialization failed"),
    }
}
