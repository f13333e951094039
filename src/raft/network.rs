//! The Raft network: openraft's outgoing RPCs sent to other nodes' peer service over gRPC.

use std::sync::Arc;
use std::time::Duration;

use openraft::AnyError;
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
use tokio::time::Instant;
use tonic::transport::Channel;

use super::codec;
use super::contacts::PeerContacts;
use super::pb::Payload;
use super::pb::raft_peer_client::RaftPeerClient;
use super::{PeerDial, peer_channel};
use crate::net::Transport;
use crate::raft_types::{NodeId, NodeInfo, TypeConfig};

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<NodeId, NodeInfo, RaftError<NodeId, E>>>;

/// Creates one `PeerConnection` per target node.
#[derive(Clone, Debug)]
pub struct PeerNetworkFactory {
    /// Time allowed to open a TCP connection to a peer.
    pub connect_timeout: Duration,
    /// Addresses that replace the membership's `peer_addr` when dialing.
    pub peer_dial: PeerDial,
    /// Opens the connections.
    pub transport: Arc<dyn Transport>,
    /// The record of each peer's RPC outcomes, which every connection updates and the cluster
    /// status reads.
    pub contacts: PeerContacts,
}

impl RaftNetworkFactory<TypeConfig> for PeerNetworkFactory {
    type Network = PeerConnection;

    async fn new_client(&mut self, target: NodeId, node: &NodeInfo) -> PeerConnection {
        let address = self.peer_dial.address(target, &node.peer_addr);
        let client = peer_channel(address, self.connect_timeout, &self.transport)
            .map(super::peer_client)
            .map_err(|error| error.to_string());
        PeerConnection {
            target,
            client,
            contacts: self.contacts.clone(),
        }
    }
}

/// A lazily connected gRPC client for one peer.
pub struct PeerConnection {
    target: NodeId,
    /// The client, or why the peer address could not be used.
    client: Result<RaftPeerClient<Channel>, String>,
    contacts: PeerContacts,
}

impl PeerConnection {
    /// Sends one request of Raft term `term`, returns the remote `Result` and records the
    /// outcome in the contacts.
    async fn call<Req, Resp, E>(
        &mut self,
        method: PeerMethod,
        term: u64,
        request: &Req,
        option: &RPCOption,
    ) -> RpcResult<Resp, E>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let pending = PendingRpc::start(&self.contacts, self.target, term);
        let result = self.exchange(method, request, option).await;
        pending.finish(&result);
        result
    }

    /// Sends one encoded request and decodes the remote `Result`.
    async fn exchange<Req, Resp, E>(
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
        let client = self
            .client
            .as_mut()
            .map_err(|reason| RPCError::Unreachable(Unreachable::new(&transport_error(reason))))?;
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

/// One RPC in flight, recorded in the peer contacts when it starts and when it ends.
///
/// openraft 0.9 drops an RPC future that outlives its timeout (the heartbeat interval for
/// AppendEntries), so an RPC dropped before [`PendingRpc::finish`] is recorded as timed out.
struct PendingRpc {
    contacts: PeerContacts,
    target: NodeId,
    /// Raft term of the request.
    term: u64,
    finished: bool,
}

impl PendingRpc {
    fn start(contacts: &PeerContacts, target: NodeId, term: u64) -> Self {
        contacts.record_sent(target, Instant::now());
        PendingRpc {
            contacts: contacts.clone(),
            target,
            term,
            finished: false,
        }
    }

    /// Records the result. A remote error counts as a reply, because the peer received the
    /// request and its Raft returned the error.
    fn finish<T, E: std::error::Error>(
        mut self,
        result: &Result<T, RPCError<NodeId, NodeInfo, E>>,
    ) {
        self.finished = true;
        match result {
            Ok(_) | Err(RPCError::RemoteError(_)) => {
                self.contacts
                    .record_reply(self.target, Instant::now(), self.term);
            }
            Err(error) => self.contacts.record_failure(self.target, error.to_string()),
        }
    }
}

impl Drop for PendingRpc {
    fn drop(&mut self) {
        if !self.finished {
            let error = "timed out: openraft cancelled the request before a reply".to_string();
            self.contacts.record_failure(self.target, error);
        }
    }
}

#[derive(Clone, Copy)]
enum PeerMethod {
    AppendEntries,
    Vote,
    InstallSnapshot,
}

/// Wraps a transport failure's message for openraft's error types. The message stays as it is,
/// without the Rust type name that `AnyError::new` adds, because it is shown in the status.
fn transport_error(message: impl ToString) -> AnyError {
    AnyError::error(message)
}

/// Maps a gRPC failure: a peer that cannot be reached gets openraft's back-off, others a retry.
fn status_to_rpc_error<E: std::error::Error>(
    status: tonic::Status,
) -> RPCError<NodeId, NodeInfo, RaftError<NodeId, E>> {
    let error = transport_error(format!("{}: {}", status.code(), status.message()));
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
        let term = rpc.vote.leader_id().term;
        self.call(PeerMethod::AppendEntries, term, &rpc, &option)
            .await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        let term = rpc.vote.leader_id().term;
        self.call(PeerMethod::InstallSnapshot, term, &rpc, &option)
            .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        let term = rpc.vote.leader_id().term;
        self.call(PeerMethod::Vote, term, &rpc, &option).await
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

    #[test]
    fn pending_rpc_records_reply() {
        let contacts = PeerContacts::default();
        let result: RpcResult<()> = Ok(());
        PendingRpc::start(&contacts, 2, 1).finish(&result);

        let contact = &contacts.snapshot()[&2];
        assert!(contact.last_sent.is_some());
        assert!(contact.last_reply.is_some());
        assert_eq!(contact.last_error, None);
    }

    #[test]
    fn pending_rpc_counts_remote_error_as_reply() {
        let contacts = PeerContacts::default();
        let fatal = openraft::error::Fatal::Stopped;
        let result: RpcResult<()> = Err(RPCError::RemoteError(RemoteError::new(
            2,
            RaftError::Fatal(fatal),
        )));
        PendingRpc::start(&contacts, 2, 1).finish(&result);

        let contact = &contacts.snapshot()[&2];
        assert!(contact.last_reply.is_some());
        assert_eq!(contact.last_error, None);
    }

    #[test]
    fn pending_rpc_records_transport_error() {
        let contacts = PeerContacts::default();
        PendingRpc::start(&contacts, 3, 1).finish(&Err::<(), _>(classify(tonic::Code::Unknown)));

        let contact = &contacts.snapshot()[&3];
        assert!(contact.last_sent.is_some());
        assert_eq!(contact.last_reply, None);
        let error = contact.last_error.as_deref().unwrap_or_default();
        assert!(error.contains("transport error"), "{error}");
        assert!(!error.contains("::"), "Rust type name in {error}");
    }

    #[test]
    fn dropped_rpc_records_timeout() {
        let contacts = PeerContacts::default();
        drop(PendingRpc::start(&contacts, 3, 1));

        let contact = &contacts.snapshot()[&3];
        assert_eq!(contact.last_reply, None);
        let error = contact.last_error.as_deref().unwrap_or_default();
        assert!(error.starts_with("timed out"), "{error}");
    }
}
