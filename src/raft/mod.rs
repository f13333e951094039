//! Raft plumbing around openraft: the peer network and service over gRPC, the cluster client
//! used by the API layer, and the static bootstrap of a new cluster.

mod bootstrap;
mod client;
mod codec;
mod contacts;
mod network;
mod server;
mod status;

/// Generated code of the peer service (proto/raftcron/peer/v1/peer.proto).
pub mod pb {
    tonic::include_proto!("raftcron.peer.v1");
}

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use http::Uri;
use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint};

use crate::net::Transport;
use crate::raft_types::NodeId;

pub use bootstrap::bootstrap_when_reachable;
pub use client::{ClientSettings, ClusterClient, ClusterError};
pub use contacts::{PeerContact, PeerContacts};
pub use network::PeerNetworkFactory;
pub use server::{ForwardError, PeerService};
pub use status::{ClusterStatus, MemberStatus, status_from_metrics};

/// Largest peer message, in bytes: log batches and snapshot chunks stay well below it.
pub const MAX_PEER_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Addresses this node dials to reach some peers (the `peer_dial` setting), by node id. Peers
/// without an entry are dialed at the `peer_addr` of the membership.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerDial(pub BTreeMap<NodeId, String>);

impl PeerDial {
    /// Returns the address to dial for peer `id`, whose membership address is `peer_addr`.
    pub fn address<'a>(&'a self, id: NodeId, peer_addr: &'a str) -> &'a str {
        self.0.get(&id).map_or(peer_addr, String::as_str)
    }
}

/// Builds a channel to a peer's `host:port` that connects through `transport` when first
/// used.
pub(crate) fn peer_channel(
    address: &str,
    connect_timeout: Duration,
    transport: &Arc<dyn Transport>,
) -> Result<Channel, tonic::transport::Error> {
    let endpoint = Endpoint::from_shared(format!("http://{address}"))?
        .connect_timeout(connect_timeout)
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(5));
    let transport = Arc::clone(transport);
    let connector = tower::service_fn(move |uri: Uri| {
        let transport = Arc::clone(&transport);
        async move {
            let authority = uri.authority().ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, format!("no host in {uri}"))
            })?;
            transport
                .connect(authority.as_str())
                .await
                .map(TokioIo::new)
        }
    });
    Ok(endpoint.connect_with_connector_lazy(connector))
}

/// Wraps a channel in a peer client that accepts messages up to [`MAX_PEER_MESSAGE_BYTES`].
pub(crate) fn peer_client(channel: Channel) -> pb::raft_peer_client::RaftPeerClient<Channel> {
    pb::raft_peer_client::RaftPeerClient::new(channel)
        .max_decoding_message_size(MAX_PEER_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_PEER_MESSAGE_BYTES)
}

/// Wraps the peer service in a gRPC server that accepts messages up to
/// [`MAX_PEER_MESSAGE_BYTES`].
pub fn peer_server(service: PeerService) -> pb::raft_peer_server::RaftPeerServer<PeerService> {
    pb::raft_peer_server::RaftPeerServer::new(service)
        .max_decoding_message_size(MAX_PEER_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_PEER_MESSAGE_BYTES)
}
