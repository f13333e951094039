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

/// Interval between log lines naming the member a new cluster still waits for.
const WAITING_LOG_INTERVAL: Duration = Duration::from_secs(10);

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
    let mut last_log: Option<tokio::time::Instant> = None;
    loop {
        match raft.is_initialized().await {
            Ok(true) => return,
            Ok(false) => {}
            Err(fatal) => {
                tracing::error!(error = %fatal, "raft stopped before bootstrap");
                return;
            }
        }
        let Some((id, address)) =
            first_unreachable(node_id, &members, &peer_dial, transport.as_ref()).await
        else {
            initialize(&raft, members).await;
            return;
        };
        let now = tokio::time::Instant::now();
        if last_log.is_none_or(|at| now.duration_since(at) >= WAITING_LOG_INTERVAL) {
            tracing::info!(
                member.id = id,
                member.address = %address,
                "waiting for every member's peer port before initializing a new cluster"
            );
            last_log = Some(now);
        }
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}

/// Returns the first other member whose peer port does not accept a connection, with the
/// address dialed, or `None` when every one does.
async fn first_unreachable(
    node_id: NodeId,
    members: &BTreeMap<NodeId, NodeInfo>,
    peer_dial: &PeerDial,
    transport: &dyn Transport,
) -> Option<(NodeId, String)> {
    for (id, node) in members {
        if *id == node_id {
            continue;
        }
        let address = peer_dial.address(*id, &node.peer_addr);
        let probe = transport.connect(address);
        if !matches!(tokio::time::timeout(PROBE_INTERVAL, probe).await, Ok(Ok(_))) {
            return Some((*id, address.to_string()));
        }
    }
    None
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
