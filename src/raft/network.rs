//! The Raft network: openraft's outgoing RPCs sent to other nodes' peer service over gRPC.

use std::sync::Arc;
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::transport::Channel;

use super::codec;
use super::pb::Payload;
use super::pb::raft_peer_client::RaftPeerClient;
use super::{PeerDial, peer_channel};
use crate::net::Transport;
use crate::raft_types::{NodeId, NodeInfo, TypeConfig};

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<NodeId, NodeInfo, RaftError<NodeId, E>>>;

/// Creates one [`PeerConnection`] per target node.
#[derive(Clone, Debug)]
pub struct PeerNetworkFactory {
    /// Time allowed to open a TCP connection to a peer.
    pub connect_timeout: Duration,
    /// Addresses that replace the membership's `peer_addr` when dialing.
    pub peer_dial: PeerDial,
    /// Opens the connections.
    pub transport: Arc<dyn Transport>,
}

impl RaftNetworkFactory<TypeConfig> for PeerNetworkFactory {
    type Network = PeerConnection;

    async fn new_client(&mut self, target: NodeId, node: &NodeInfo) -> PeerConnection {
        let address = self.peer_dial.address(target, &node.peer_addr);
        let client = peer_channel(address, self.connect_timeout, &self.transport)
            .map(super::peer_client)
            .map_err(|error| error.to_string());
        PeerConnection { target, client }
    }
}

/// A lazily connected gRPC client for one peer.
pub struct PeerConnection {
    target: NodeId,
    /// The client, or why the peer address could not be used.
    client: Result<RaftPeerClient<Channel>, String>,
}

/// A transport failure, kept as an error value for openraft's error types.
#[derive(thiserror::Error, Debug)]
#[error("{0}")]
struct TransportError(String);

impl PeerConnection {
    /// Sends one encoded request and decodes the remote `Result`.
    async fn call<Req, Resp, E>(
        &mut self,
        method: PeerMethod,
        request: &Req,
        option: &RPCOption,
    ) -> RpcResult<Resp, E>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let client = self.client.as_mut().map_err(|reason| {
            RPCError::Unreachable(Unreachable::new(&TransportError(reason.clone())))
        })?;
        let data =
            codec::encode(request).map_err(|error| RPCError::Network(NetworkError::new(&error)))?;
        let mut grpc_request = tonic::Request::new(Payload { data });
        grpc_request.set_timeout(option.hard_ttl());

        let reply = match method {
            PeerMethod::AppendEntries => client.append_entries(grpc_request).await,
            PeerMethod::Vote => client.vote(grpc_request).await,
            PeerMethod::InstallSnapshot => client.install_snapshot(grpc_request).await,
        }
        .map_err(status_to_rpc_error)?;

        let result: Result<Resp, RaftError<NodeId, E>> = codec::decode(&reply.into_inner().data)
            .map_err(|error| RPCError::Network(NetworkError::new(&error)))?;
        result.map_err(|error| RPCError::RemoteError(RemoteError::new(self.target, error)))
    }
}

#[derive(Clone, Copy)]
enum PeerMethod {
    AppendEntries,
    Vote,
    InstallSnapshot,
}

/// Maps a gRPC failure: a peer that cannot be reached gets openraft's back-off, others a retry.
fn status_to_rpc_error<E: std::error::Error>(
    status: tonic::Status,
) -> RPCError<NodeId, NodeInfo, RaftError<NodeId, E>> {
    let error = TransportError(format!("{}: {}", status.code(), status.message()));
    match status.code() {
        // The peer service itself never returns UNKNOWN: tonic reports a refused or broken
        // connection that way ("transport error"). Treating it as unreachable gives openraft's
        // back-off, instead of a retry and a warning per attempt while a peer is down.
        tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Unknown => {
            RPCError::Unreachable(Unreachable::new(&error))
        }
        _ => RPCError::Network(NetworkError::new(&error)),
    }
}

impl RaftNetwork<TypeConfig> for PeerConnection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        self.call(PeerMethod::AppendEntries, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        self.call(PeerMethod::InstallSnapshot, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        self.call(PeerMethod::Vote, &rpc, &option).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(code: tonic::Code) -> RPCError<NodeId, NodeInfo, RaftError<NodeId>> {
        status_to_rpc_error(tonic::Status::new(code, "transport error"))
    }

    #[test]
    fn transport_errors_back_off() {
        for code in [
            tonic::Code::Unavailable,
            tonic::Code::DeadlineExceeded,
            tonic::Code::Unknown,
        ] {
            let error = classify(code);
            assert!(
                matches!(error, RPCError::Unreachable(_)),
                "{code:?}: {error:?}"
            );
        }
    }

    #[test]
    fn other_statuses_retry_at_once() {
        let error = classify(tonic::Code::InvalidArgument);
        assert!(matches!(error, RPCError::Network(_)), "{error:?}");
    }
}
