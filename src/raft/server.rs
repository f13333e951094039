//! The peer service: receives Raft RPCs from other nodes, and writes and read-index requests
//! that followers forward to the leader.

use openraft::error::{ClientWriteError, RaftError};
use serde::{Deserialize, Serialize};
use tonic::{Request, Status};

use super::codec;
use super::pb::raft_peer_server::RaftPeer;
use super::pb::{Payload, ReadIndexRequest, ReadIndexResponse};
use crate::model::{Command, Response};
use crate::raft_types::{NodeId, NodeInfo, Raft};

/// Why a forwarded write was not applied by the node it was sent to.
#[derive(Serialize, Deserialize, thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum ForwardError {
    /// The receiving node is not the leader; `leader_id` is the leader it last saw.
    #[error("node {node_id} is not the leader")]
    NotLeader {
        node_id: NodeId,
        leader_id: Option<NodeId>,
    },
    /// The leader could not apply the write.
    #[error("the leader failed to apply the write: {0}")]
    Failed(String),
}

/// Serves [`RaftPeer`] for one node.
pub struct PeerService {
    raft: Raft,
    node_id: NodeId,
}

impl PeerService {
    /// Creates the service for the node that owns `raft`.
    pub fn new(raft: Raft, node_id: NodeId) -> Self {
        PeerService { raft, node_id }
    }

    fn forward_result(
        &self,
        result: Result<Response, RaftError<NodeId, ClientWriteError<NodeId, NodeInfo>>>,
    ) -> Result<Response, ForwardError> {
        match result {
            Ok(response) => Ok(response),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward))) => {
                Err(ForwardError::NotLeader {
                    node_id: self.node_id,
                    leader_id: forward.leader_id,
                })
            }
            Err(other) => Err(ForwardError::Failed(other.to_string())),
        }
    }
}

fn decode_request<T: serde::de::DeserializeOwned>(request: Request<Payload>) -> Result<T, Status> {
    codec::decode(&request.into_inner().data)
        .map_err(|error| Status::invalid_argument(error.to_string()))
}

fn encode_reply<T: Serialize>(value: &T) -> Result<tonic::Response<Payload>, Status> {
    let data = codec::encode(value).map_err(|error| Status::internal(error.to_string()))?;
    Ok(tonic::Response::new(Payload { data }))
}

#[tonic::async_trait]
impl RaftPeer for PeerService {
    async fn append_entries(
        &self,
        request: Request<Payload>,
    ) -> Result<tonic::Response<Payload>, Status> {
        let rpc = decode_request(request)?;
        encode_reply(&self.raft.append_entries(rpc).await)
    }

    async fn vote(&self, request: Request<Payload>) -> Result<tonic::Response<Payload>, Status> {
        let rpc = decode_request(request)?;
        encode_reply(&self.raft.vote(rpc).await)
    }

    async fn install_snapshot(
        &self,
        request: Request<Payload>,
    ) -> Result<tonic::Response<Payload>, Status> {
        let rpc = decode_request(request)?;
        encode_reply(&self.raft.install_snapshot(rpc).await)
    }

    async fn forward_write(
        &self,
        request: Request<Payload>,
    ) -> Result<tonic::Response<Payload>, Status> {
        let command: Command = decode_request(request)?;
        let result = self
            .raft
            .client_write(command)
            .await
            .map(|reply| reply.data);
        encode_reply(&self.forward_result(result))
    }

    async fn read_index(
        &self,
        _request: Request<ReadIndexRequest>,
    ) -> Result<tonic::Response<ReadIndexResponse>, Status> {
        let (read_log_id, _) = self
            .raft
            .get_read_log_id()
            .await
            .map_err(|error| Status::unavailable(format!("read index failed: {error}")))?;
        let index = read_log_id.map_or(0, |log_id| log_id.index);
        Ok(tonic::Response::new(ReadIndexResponse { index }))
    }
}
