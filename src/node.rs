//! Assembles one raftcron node: store, Raft, the peer and client servers, the scheduler and
//! the bootstrap, and stops them in order on shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::api::{self, ApiService, IdSource};
use crate::config::NodeConfig;
use crate::net::{self, Accept, Tcp, Transport};
use crate::raft::{
    ClientSettings, ClusterClient, PeerContacts, PeerDial, PeerNetworkFactory, PeerService,
    bootstrap_when_reachable, peer_server,
};
use crate::raft_types::Raft;
use crate::scheduler::runtime::planted_bug_from_env;
use crate::scheduler::{
    Clock, CoreConfig, JitterSource, SchedulerConfig, SchedulerRuntime, SystemClock,
};
use crate::store::{self, LogStore, MemoryDisk, StateMachineStore, StateReader, StoreConfig};
use crate::trigger::{Dispatch, HttpDispatcher};

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
        max_payload_entries: settings.max_append_entries,
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

/// The location of a node's log and state machine.
pub enum Storage {
    /// sled files in the configured `data_dir`.
    Disk,
    /// A store in memory that outlives the node, for the deterministic simulation.
    Memory(MemoryDisk),
}

/// The services a node takes from the machine it runs on. [`Platform::system`] is the real
/// machine. The deterministic simulation passes simulated sockets, clock, targets and
/// randomness, so [`run_on`] runs the same code in both.
pub struct Platform {
    /// Every listener and outgoing connection.
    pub transport: Arc<dyn Transport>,
    /// The wall clock of the API and the scheduler.
    pub clock: Arc<dyn Clock>,
    /// Sends the attempts the scheduler dispatches.
    pub dispatcher: Arc<dyn Dispatch>,
    pub storage: Storage,
    /// New ids: job ids, and the request keys of manual runs sent without one.
    pub new_job_id: IdSource,
    /// The random share of each outcome's retry jitter.
    pub jitter: JitterSource,
    /// Enables the planted dispatch-before-commit bug; chaos tests only.
    pub dispatch_before_commit: bool,
}

impl Platform {
    /// Returns the real machine: TCP, the system clock, HTTP targets, sled files and the
    /// planted bug only when `RAFTCRON_PLANTED_BUG` selects it.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn system(node_id: u64) -> anyhow::Result<Platform> {
        let dispatcher = HttpDispatcher::new(node_id).context("failed to build the HTTP client")?;
        let jitter: JitterSource = Arc::new(crate::scheduler::runtime::draw_jitter_sample);
        Ok(Platform {
            transport: Tcp::shared(),
            clock: Arc::new(SystemClock),
            dispatcher: Arc::new(dispatcher),
            storage: Storage::Disk,
            new_job_id: api::random_ids(),
            jitter,
            dispatch_before_commit: planted_bug_from_env(),
        })
    }
}

/// Runs a node on the real machine until `shutdown` completes, then stops it.
pub async fn run(config: NodeConfig, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    config.validate()?;
    run_on(Platform::system(config.node_id)?, config, shutdown).await
}

/// Runs a node on `platform` until `shutdown` completes, then stops it.
pub async fn run_on(
    platform: Platform,
    config: NodeConfig,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
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
    let transport = platform.transport;
    let peer_listener = transport
        .bind(&peer_bind)
        .await
        .with_context(|| format!("failed to bind peer address {peer_bind}"))?;
    let client_listener = transport
        .bind(&client_bind)
        .await
        .with_context(|| format!("failed to bind client address {client_bind}"))?;

    let (log_store, state_machine, reader) = open_store(&platform.storage, &config)?;

    let peer_dial = PeerDial(config.peer_dial_addresses()?);
    let contacts = PeerContacts::default();
    let network = PeerNetworkFactory {
        connect_timeout: CONNECT_TIMEOUT,
        peer_dial: peer_dial.clone(),
        transport: Arc::clone(&transport),
        contacts: contacts.clone(),
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
        reachable_within: Duration::from_millis(config.raft.election_timeout_max_ms),
        peer_dial: peer_dial.clone(),
        transport: Arc::clone(&transport),
    };
    let cluster = ClusterClient::new(raft.clone(), config.node_id, settings, contacts);
    let clock = platform.clock;
    let scheduler_config = SchedulerConfig {
        dispatch_before_commit: platform.dispatch_before_commit,
        ..scheduler_config(&config)
    };
    let scheduler = SchedulerRuntime::new(
        config.node_id,
        raft.clone(),
        reader.clone(),
        platform.dispatcher,
        clock.clone(),
        scheduler_config,
    )
    .with_jitter(platform.jitter);
    let api_clock = clock.clone();
    let api = ApiService::new(cluster, reader, Arc::new(move || api_clock.now()))
        .with_ids(platform.new_job_id)
        .with_scheduler_health(scheduler.health());
    let (stop_client, client_stopped) = tokio::sync::oneshot::channel::<()>();
    let client_task = tokio::spawn(async move {
        let router = api::router(api);
        axum::serve(net::AxumListener(client_listener), router)
            .with_graceful_shutdown(async {
                let _ = client_stopped.await;
            })
            .await
    });

    let scheduler = scheduler.start();
    tokio::spawn(bootstrap_when_reachable(
        raft.clone(),
        config.node_id,
        config.membership(),
        peer_dial,
        transport,
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

/// Opens the node's store: sled files in `data_dir`, or the memory store of a simulation.
fn open_store(
    storage: &Storage,
    config: &NodeConfig,
) -> anyhow::Result<(LogStore, StateMachineStore, StateReader)> {
    match storage {
        Storage::Disk => {
            let store_config = StoreConfig {
                cache_capacity_bytes: config.storage.cache_mb * 1024 * 1024,
                fsync: config.storage.fsync,
                node_id: Some(config.node_id),
            };
            store::open(&config.data_dir, &store_config)
                .with_context(|| format!("failed to open data dir {}", config.data_dir.display()))
        }
        Storage::Memory(disk) => disk.open().context("failed to open the memory store"),
    }
}

fn spawn_peer_server(
    raft: Raft,
    node_id: u64,
    listener: Box<dyn Accept>,
) -> tokio::task::JoinHandle<()> {
    let incoming = net::incoming(listener);
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
