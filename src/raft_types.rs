//! The openraft type configuration, shared by `store` (which persists these types) and `raft`
//! (which sends them between nodes).

use std::io::Cursor;

use serde::{Deserialize, Serialize};

use crate::model::{Command, Response};

/// A node id, as given in each node's configuration.
pub type NodeId = u64;

/// What the cluster membership records about a node: where to reach it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeInfo {
    /// `host:port` of the Raft peer service.
    pub peer_addr: String,
    /// `host:port` of the public gRPC and REST service.
    pub client_addr: String,
}

impl std::fmt::Display for NodeInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "peer {} client {}", self.peer_addr, self.client_addr)
    }
}

openraft::declare_raft_types!(
    /// Types raftcron plugs into openraft.
    pub TypeConfig:
        D = Command,
        R = Response,
        NodeId = NodeId,
        Node = NodeInfo,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = crate::raft_runtime::RaftRuntime,
);

/// The Raft handle used throughout the node.
pub type Raft = openraft::Raft<TypeConfig>;
/// A log id of this configuration.
pub type LogId = openraft::LogId<NodeId>;
/// A storage error of this configuration.
pub type StorageError = openraft::StorageError<NodeId>;
