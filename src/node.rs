//! Assembles one raftcron node: store, Raft, the peer and client servers, the scheduler and
//! the bootstrap, and stops them in order on shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::api::{self, ApiService};
use crate::config::NodeConfig;
use crate::raft::{
    ClientSettings, ClusterClient, PeerDial, PeerNetworkFactory, PeerService,
    bootstrap_when_reachable, peer_server,
};
use crate::raft_types::Raft;
use crate::scheduler::{Clock, CoreConfig, SchedulerConfig, SchedulerRuntime, SystemClock};
use crate::store::{self, StoreConfig};
use crate::trigger::HttpDispatcher;

/// Time allowed to open a TCP connection to another node.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Builds openraft's configuration from the node's settings.
pub fn raft_config(config: &NodeConfig) -> anyhow::Result<openraft::Config> {
    let settings = &config.raft;
    let raft = openraft::Config {
        cluster_name: "raftcron".to_string(),
        heartbeat_interval: settings.heartbeat_ms,
        election_timeout_min: settings.election_timeout_min_ms,
        election_timeout_max: settings.election_timeout_max_ms,
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(settings.snapshot_every_entries),
        max_in_snapshot_log_to_keep: settings.keep_entries_after_snapshot,
        ..Default::default()
    };
    raft.validate().context("invalid raft settings")
}

/// Builds the scheduler's settings from the node's settings.
///
/// The leadership lease is half of `raft.election_timeout_min_ms`: a confirmation of this
/// node's leadership allows requests for that long, which keeps them well inside the time
/// before another node can be elected.
pub fn scheduler_config(config: &NodeConfig) -> SchedulerConfig {
    let core = CoreConfig {
        misfire_threshold_ms: config.scheduler.misfire_threshold_ms,
    };
    SchedulerConfig {
        core,
        leadership_lease: Duration::from_millis(config.raft.election_timeout_min_ms / 2),
        ..SchedulerConfig::default()
    }
}

/// Runs a node until `shutdown` completes, then stops it.
pub async fn run(config: NodeConfig, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    config.validate()?;
    let member = config.this_member()?.clone();
    let client_bind = config
        .listen_client_addr
        .clone()
        .unwrap_or(member.client_addr.clone());
    let peer_bind = config
        .listen_peer_addr
        .clone()
        .unwrap_or(member.peer_addr.clone());

    // Bind both ports first, so a port in use fails the start before any state is touched.
    let peer_listener = TcpListener::bind(&peer_bind)
        .await
        .with_context(|| format!("failed to bind peer address {peer_bind}"))?;
    let client_listener = TcpListener::bind(&client_bind)
        .await
        .with_context(|| format!("failed to bind client address {client_bind}"))?;

    let store_config = StoreConfig {
        cache_capacity_bytes: config.storage.cache_mb * 1024 * 1024,
        fsync: config.storage.fsync,
    };
    let (log_store, state_machine, reader) = store::open(&config.data_dir, &store_config)
        .with_context(|| format!("failed to open data dir {}", config.data_dir.display()))?;

    let peer_dial = PeerDial(config.peer_dial_addresses()?);
    let network = PeerNetworkFactory {
        connect_timeout: CONNECT_TIMEOUT,
        peer_dial: peer_dial.clone(),
    };
    let raft_config = Arc::new(raft_config(&config)?);
    let raft = Raft::new(
        config.node_id,
        raft_config,
        network,
        log_store,
        state_machine,
    )
    .await
    .context("failed to start raft")?;

    let peer_task = spawn_peer_server(raft.clone(), config.node_id, peer_listener);
    let settings = ClientSettings {
        request_timeout: Duration::from_millis(config.api.request_timeout_ms),
        connect_timeout: CONNECT_TIMEOUT,
        quorum_ack_timeout: Duration::from_millis(config.raft.election_timeout_max_ms * 2),
        leader_wait: Duration::from_millis(config.raft.election_timeout_max_ms * 2),
        peer_dial: peer_dial.clone(),
    };
    let cluster = ClusterClient::new(raft.clone(), config.node_id, settings);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let api_clock = clock.clone();
    let api = ApiService::new(cluster, reader.clone(), Arc::new(move || api_clock.now()));
    let (stop_client, client_stopped) = tokio::sync::oneshot::channel::<()>();
    let client_task = tokio::spawn(async move {
        let router = api::router(api);
        axum::serve(client_listener, router)
            .with_graceful_shutdown(async {
                let _ = client_stopped.await;
            })
            .await
    });

    let dispatcher =
        HttpDispatcher::new(config.node_id).context("failed to build the HTTP client")?;
    let scheduler = SchedulerRuntime::spawn(
        config.node_id,
        raft.clone(),
        reader,
        dispatcher,
        clock,
        scheduler_config(&config),
    );
    tokio::spawn(bootstrap_when_reachable(
        raft.clone(),
        config.node_id,
        config.membership(),
        peer_dial,
    ));
    tracing::info!(node.id = config.node_id, client = %client_bind, peer = %peer_bind, "node started");

    shutdown.await;
    tracing::info!(node.id = config.node_id, "node stopping");
    scheduler.shutdown().await;
    let _ = stop_client.send(());
    let _ = client_task.await;
    if let Err(error) = raft.shutdown().await {
        tracing::warn!(%error, "raft shutdown failed");
    }
    peer_task.abort();
    tracing::info!(node.id = config.node_id, "node stopped");
    Ok(())
}

fn spawn_peer_server(
    raft: Raft,
    node_id: u64,
    listener: TcpListener,
) -> tokio::task::JoinHandle<()> {
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tokio::spawn(async move {
        let result = tonic::transport::Server::builder()
            .add_service(peer_server(PeerService::new(raft, node_id)))
            .serve_with_incoming(incoming)
            .await;
        if let Err(error) = result {
            tracing::error!(%error, "peer server stopped");
        }
    })
}
