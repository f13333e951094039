//! The cluster client used by the API layer: proposes writes on the leader (forwarding from a
//! follower) and makes reads linearizable, each within a bounded time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::RaftMetrics;
use openraft::error::{CheckIsLeaderError, ClientWriteError, RaftError};
use tokio::time::Instant;
use tonic::transport::Channel;

use super::codec;
use super::contacts::PeerContacts;
use super::pb::raft_peer_client::RaftPeerClient;
use super::pb::{Payload, ReadIndexRequest};
use super::server::ForwardError;
use super::status::{ClusterStatus, ContactView, status_from_metrics};
use super::{PeerDial, peer_channel};
use crate::model::{Command, Response};
use crate::net::Transport;
use crate::raft_types::{NodeId, NodeInfo, Raft};

/// Pause between attempts while the leader changes.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// Time limits of cluster calls.
#[derive(Clone, Debug)]
pub struct ClientSettings {
    /// Time allowed for a whole write or read barrier, forwarding and retries included.
    pub request_timeout: Duration,
    /// Time allowed to open a TCP connection to the leader.
    pub connect_timeout: Duration,
    /// A leader that has not heard from a quorum for this long rejects writes at once.
    pub quorum_ack_timeout: Duration,
    /// Time a node without a known leader waits for an election before it fails the call.
    pub leader_wait: Duration,
    /// A member that replied to this node's Raft RPCs within this long counts as reachable in
    /// the status.
    pub reachable_within: Duration,
    /// Addresses that replace the membership's `peer_addr` when forwarding to the leader.
    pub peer_dial: PeerDial,
    /// Opens the connections.
    pub transport: Arc<dyn Transport>,
}

/// A failed cluster call. All but `Fatal` are worth retrying later.
#[derive(thiserror::Error, Debug)]
pub enum ClusterError {
    #[error("no leader elected after {waited_ms} ms: the cluster has no quorum; retry later")]
    NoLeader { waited_ms: u64 },
    #[error(
        "timed out after {waited_ms} ms waiting for a quorum; a write may still be applied later"
    )]
    Timeout { waited_ms: u64 },
    #[error("cluster unavailable: {0}")]
    Unavailable(String),
    #[error("raft stopped on this node: {0}")]
    Fatal(String),
}

/// Sends writes and read barriers to the leader. Cheap to clone.
#[derive(Clone)]
pub struct ClusterClient {
    raft: Raft,
    node_id: NodeId,
    settings: ClientSettings,
    peers: Arc<Mutex<PeerClients>>,
    contacts: PeerContacts,
}

/// Cached peer clients by node id, each with the address it was built for.
type PeerClients = HashMap<NodeId, (String, RaftPeerClient<Channel>)>;

/// The result of one attempt at a write or read.
enum Attempt<T> {
    Done(T),
    /// The leader changed or was unreachable before the call was applied: try again.
    Retry,
}

impl ClusterClient {
    /// Creates a client for the node that owns `raft`, whose network records into `contacts`.
    pub fn new(
        raft: Raft,
        node_id: NodeId,
        settings: ClientSettings,
        contacts: PeerContacts,
    ) -> Self {
        ClusterClient {
            raft,
            node_id,
            settings,
            peers: Arc::default(),
            contacts,
        }
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// Proposes `command` on the leader and returns the state machine's response after apply.
    ///
    /// Fails with [`ClusterError::NoLeader`] or [`ClusterError::Timeout`] within
    /// `request_timeout` when there is no quorum. After a timeout the write may still be applied.
    pub async fn write(&self, command: Command) -> Result<Response, ClusterError> {
        let deadline = Instant::now() + self.settings.request_timeout;
        loop {
            let leader = self.wait_for_leader(deadline).await?;
            let attempt = if leader == self.node_id {
                self.write_locally(command.clone(), deadline).await?
            } else {
                self.forward_write(leader, &command, deadline).await?
            };
            if let Attempt::Done(response) = attempt {
                return Ok(response);
            }
            self.pause_before_retry(deadline).await?;
        }
    }

    /// Waits until this node has applied every write acknowledged before the call, so a read
    /// of the local state machine that follows is linearizable.
    pub async fn read_barrier(&self) -> Result<(), ClusterError> {
        let deadline = Instant::now() + self.settings.request_timeout;
        loop {
            let leader = self.wait_for_leader(deadline).await?;
            let attempt = if leader == self.node_id {
                self.read_index_locally(deadline).await?
            } else {
                self.read_index_remotely(leader, deadline).await?
            };
            if let Attempt::Done(index) = attempt {
                return self.wait_applied(index, deadline).await;
            }
            self.pause_before_retry(deadline).await?;
        }
    }

    /// This node's view of the cluster, from the latest Raft metrics and peer contacts.
    pub fn status(&self) -> ClusterStatus {
        let contacts = ContactView {
            peers: self.contacts.snapshot(),
            now: Instant::now(),
            reachable_within: self.settings.reachable_within,
        };
        status_from_metrics(&self.raft.metrics().borrow(), &contacts)
    }

    async fn wait_for_leader(&self, deadline: Instant) -> Result<NodeId, ClusterError> {
        let started = Instant::now();
        // An election normally ends within the configured wait (two maximum election
        // timeouts), so waiting longer only delays the error when there is no quorum.
        let deadline = deadline.min(started + self.settings.leader_wait);
        let mut metrics = self.raft.metrics();
        loop {
            if let Some(leader) = metrics.borrow_and_update().current_leader {
                return Ok(leader);
            }
            let changed = tokio::time::timeout_at(deadline, metrics.changed()).await;
            match changed {
                Ok(Ok(())) => continue,
                Ok(Err(_)) => return Err(ClusterError::Fatal("raft metrics closed".into())),
                Err(_) => return Err(no_leader(started)),
            }
        }
    }

    async fn write_locally(
        &self,
        command: Command,
        deadline: Instant,
    ) -> Result<Attempt<Response>, ClusterError> {
        self.check_quorum_contact()?;
        let result = tokio::time::timeout_at(deadline, self.raft.client_write(command))
            .await
            .map_err(|_| self.timeout())?;
        match result {
            Ok(reply) => Ok(Attempt::Done(reply.data)),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => Ok(Attempt::Retry),
            Err(RaftError::APIError(error)) => Err(ClusterError::Unavailable(error.to_string())),
            Err(RaftError::Fatal(fatal)) => Err(ClusterError::Fatal(fatal.to_string())),
        }
    }

    async fn forward_write(
        &self,
        leader: NodeId,
        command: &Command,
        deadline: Instant,
    ) -> Result<Attempt<Response>, ClusterError> {
        let Some(mut client) = self.peer_client(leader) else {
            return Ok(Attempt::Retry);
        };
        let data = codec::encode(command).map_err(|e| ClusterError::Fatal(e.to_string()))?;
        let mut request = tonic::Request::new(Payload { data });
        request.set_timeout(remaining(deadline));
        let reply = match client.forward_write(request).await {
            Ok(reply) => reply.into_inner(),
            Err(status) => return self.retry_if_not_sent(leader, status),
        };
        let result: Result<Response, ForwardError> = codec::decode(&reply.data)
            .map_err(|error| ClusterError::Unavailable(error.to_string()))?;
        match result {
            Ok(response) => Ok(Attempt::Done(response)),
            Err(ForwardError::NotLeader { .. }) => Ok(Attempt::Retry),
            Err(ForwardError::Failed(message)) => Err(ClusterError::Unavailable(message)),
        }
    }

    /// Retries when the leader could not be reached, since the write cannot have been applied
    /// when no connection was made.
    // NOTE: gRPC reports a connection that broke mid-call as UNAVAILABLE too, so a write that
    // the old leader applied just before it died can be proposed twice. Commands carry
    // proposer-chosen ids, so the second copy is rejected (AlreadyExists, Duplicate).
    fn retry_if_not_sent<T>(
        &self,
        leader: NodeId,
        status: tonic::Status,
    ) -> Result<Attempt<T>, ClusterError> {
        match status.code() {
            tonic::Code::Unavailable => {
                tracing::debug!(leader.id = leader, error = %status, "leader unreachable");
                Ok(Attempt::Retry)
            }
            tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => Err(self.timeout()),
            _ => Err(ClusterError::Unavailable(format!(
                "forward to leader {leader} failed: {status}"
            ))),
        }
    }

    async fn read_index_locally(&self, deadline: Instant) -> Result<Attempt<u64>, ClusterError> {
        self.check_quorum_contact()?;
        let result = tokio::time::timeout_at(deadline, self.raft.get_read_log_id())
            .await
            .map_err(|_| self.timeout())?;
        match result {
            Ok((read_log_id, _)) => Ok(Attempt::Done(read_log_id.map_or(0, |id| id.index))),
            Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(_))) => Ok(Attempt::Retry),
            Err(RaftError::APIError(error)) => Err(ClusterError::Unavailable(error.to_string())),
            Err(RaftError::Fatal(fatal)) => Err(ClusterError::Fatal(fatal.to_string())),
        }
    }

    async fn read_index_remotely(
        &self,
        leader: NodeId,
        deadline: Instant,
    ) -> Result<Attempt<u64>, ClusterError> {
        let Some(mut client) = self.peer_client(leader) else {
            return Ok(Attempt::Retry);
        };
        let mut request = tonic::Request::new(ReadIndexRequest {});
        request.set_timeout(remaining(deadline));
        match client.read_index(request).await {
            Ok(reply) => Ok(Attempt::Done(reply.into_inner().index)),
            Err(status) if status.code() == tonic::Code::Unavailable => Ok(Attempt::Retry),
            Err(status) => self.retry_if_not_sent(leader, status),
        }
    }

    async fn wait_applied(&self, index: u64, deadline: Instant) -> Result<(), ClusterError> {
        self.raft
            .wait(Some(remaining(deadline)))
            .applied_index_at_least(Some(index), "read barrier")
            .await
            .map(|_| ())
            .map_err(|_| self.timeout())
    }

    /// Rejects a call on a leader that has lost contact with its quorum, instead of letting it
    /// wait for the whole timeout.
    fn check_quorum_contact(&self) -> Result<(), ClusterError> {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow();
        let limit = self.settings.quorum_ack_timeout.as_millis() as u64;
        match metrics.millis_since_quorum_ack {
            Some(millis) if millis > limit => Err(ClusterError::Unavailable(format!(
                "leader {} has not heard from a quorum for {millis} ms: no quorum; retry later",
                self.node_id
            ))),
            _ => Ok(()),
        }
    }

    async fn pause_before_retry(&self, deadline: Instant) -> Result<(), ClusterError> {
        if Instant::now() + RETRY_PAUSE >= deadline {
            return Err(self.timeout());
        }
        tokio::time::sleep(RETRY_PAUSE).await;
        Ok(())
    }

    fn timeout(&self) -> ClusterError {
        ClusterError::Timeout {
            waited_ms: self.settings.request_timeout.as_millis() as u64,
        }
    }

    /// Returns a cached client for `leader`, or None when its address is unknown or invalid.
    fn peer_client(&self, leader: NodeId) -> Option<RaftPeerClient<Channel>> {
        let member_addr = member_address(&self.raft.metrics().borrow(), leader)?.peer_addr;
        let address = self
            .settings
            .peer_dial
            .address(leader, &member_addr)
            .to_string();
        let mut peers = self
            .peers
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if let Some((cached, client)) = peers.get(&leader)
            && *cached == address
        {
            return Some(client.clone());
        }
        let channel = peer_channel(
            &address,
            self.settings.connect_timeout,
            &self.settings.transport,
        )
        .ok()?;
        let client = super::peer_client(channel);
        peers.insert(leader, (address, client.clone()));
        Some(client)
    }
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

fn no_leader(started: Instant) -> ClusterError {
    ClusterError::NoLeader {
        waited_ms: started.elapsed().as_millis() as u64,
    }
}

fn member_address(metrics: &RaftMetrics<NodeId, NodeInfo>, id: NodeId) -> Option<NodeInfo> {
    metrics
        .membership_config
        .membership()
        .get_node(&id)
        .cloned()
}
