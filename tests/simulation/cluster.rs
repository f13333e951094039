//! The simulated cluster: node hosts that run `raftcron::node::run_on` on simulated sockets,
//! clock, targets and randomness, and the fault operations on them.
//!
//! Faults are chosen by the chaos runner's code (`raftcron::chaos::faults`) in a turmoil
//! client. That client cuts and holds links itself, but only the harness's loop around
//! `Sim::step` can crash and restart a host, so kills and restarts are queued in [`Control`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use http::Method;
use raftcron::chaos::cluster::{
    ELECTION_TIMEOUT_MAX_MS, ELECTION_TIMEOUT_MIN_MS, HEARTBEAT_MS, MISFIRE_THRESHOLD_MS,
};
use raftcron::chaos::faults::FaultTarget;
use raftcron::chaos::workload::{Api, Outcome};
use raftcron::config::{
    ApiSettings, MemberConfig, NodeConfig, RaftSettings, SchedulerSettings, StorageSettings,
};
use raftcron::model::Timestamp;
use raftcron::node::{Platform, Storage};
use raftcron::raft_types::NodeId;
use raftcron::store::MemoryDisk;
use rand::Rng;
use rand::rngs::StdRng;

use super::client::SimApi;
use super::targets::{RequestLog, SimDispatcher, wall_ms};
use super::transport::{Cuts, SimTransport};

/// Port of every node's client API.
const CLIENT_PORT: u16 = 7000;
/// Port of every node's peer service.
const PEER_PORT: u16 = 7001;
/// Log entries between snapshots. Far below the process runner's 2,000, so that a run of
/// a minute builds snapshots and sends them to nodes that fell behind.
const SNAPSHOT_EVERY_ENTRIES: u64 = 150;
const KEEP_ENTRIES_AFTER_SNAPSHOT: u64 = 30;

/// Returns the turmoil host name of node `id`.
pub fn node_host(id: NodeId) -> String {
    format!("node{id}")
}

/// Builds the configuration of node `id` of `count`, with the chaos runner's timing and a
/// shorter snapshot interval.
pub fn node_config(id: NodeId, count: u64) -> NodeConfig {
    let members = (1..=count)
        .map(|member| MemberConfig {
            id: member,
            peer_addr: format!("{}:{PEER_PORT}", node_host(member)),
            client_addr: format!("{}:{CLIENT_PORT}", node_host(member)),
        })
        .collect();
    NodeConfig {
        node_id: id,
        // Unused: the store is a MemoryDisk.
        data_dir: format!("/nonexistent/raftcron-sim/node{id}").into(),
        listen_client_addr: None,
        listen_peer_addr: None,
        members,
        raft: RaftSettings {
            heartbeat_ms: HEARTBEAT_MS,
            election_timeout_min_ms: ELECTION_TIMEOUT_MIN_MS,
            election_timeout_max_ms: ELECTION_TIMEOUT_MAX_MS,
            snapshot_every_entries: SNAPSHOT_EVERY_ENTRIES,
            keep_entries_after_snapshot: KEEP_ENTRIES_AFTER_SNAPSHOT,
            ..RaftSettings::default()
        },
        storage: StorageSettings::default(),
        api: ApiSettings {
            request_timeout_ms: 3000,
        },
        scheduler: SchedulerSettings {
            misfire_threshold_ms: MISFIRE_THRESHOLD_MS,
        },
        peer_dial: BTreeMap::new(),
    }
}

/// The wall clock of a simulated node.
struct SimClock;

impl raftcron::scheduler::Clock for SimClock {
    fn now(&self) -> Timestamp {
        Timestamp(wall_ms())
    }
}

/// What a node keeps across a crash and restart: its store and its random sources.
#[derive(Clone)]
pub struct NodeState {
    pub id: NodeId,
    pub config: NodeConfig,
    pub disk: MemoryDisk,
    pub cuts: Cuts,
    pub log: RequestLog,
    /// Job ids and retry jitter. A restarted node continues the sequence, so it never hands
    /// out a job id it gave before the crash.
    pub rng: Arc<Mutex<StdRng>>,
    pub dispatch_before_commit: bool,
}

impl NodeState {
    /// Builds the platform of one incarnation of the node.
    pub fn platform(&self) -> Platform {
        let ids = Arc::clone(&self.rng);
        let jitter = Arc::clone(&self.rng);
        Platform {
            transport: Arc::new(SimTransport {
                cuts: self.cuts.clone(),
            }),
            clock: Arc::new(SimClock),
            dispatcher: Arc::new(SimDispatcher {
                node_id: self.id,
                log: self.log.clone(),
            }),
            storage: Storage::Memory(self.disk.clone()),
            new_job_id: Arc::new(move || {
                let bytes: [u8; 16] = lock(&ids).random();
                uuid::Builder::from_random_bytes(bytes)
                    .into_uuid()
                    .to_string()
            }),
            jitter: Arc::new(move || lock(&jitter).random_range(0..=1000)),
            dispatch_before_commit: self.dispatch_before_commit,
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// A crash or restart the harness's loop carries out between two steps.
#[derive(Clone, Copy, Debug)]
pub enum HostAction {
    Crash(NodeId),
    Restart(NodeId),
}

#[derive(Default)]
struct ControlState {
    actions: VecDeque<HostAction>,
    /// Nodes whose software returned without being crashed, with what it returned.
    exited: Vec<(NodeId, String)>,
}

/// The queue between the fault client and the harness's loop.
#[derive(Clone, Default)]
pub struct Control(Arc<Mutex<ControlState>>);

impl Control {
    pub fn push(&self, action: HostAction) {
        lock(&self.0).actions.push_back(action);
    }

    pub fn take_actions(&self) -> Vec<HostAction> {
        lock(&self.0).actions.drain(..).collect()
    }

    pub fn report_exit(&self, id: NodeId, status: String) {
        lock(&self.0).exited.push((id, status));
    }

    fn take_exited(&self) -> Vec<(NodeId, String)> {
        std::mem::take(&mut lock(&self.0).exited)
    }
}

/// The simulated cluster as a [`FaultTarget`], used from inside a turmoil client.
pub struct SimCluster {
    pub api: SimApi,
    pub control: Control,
    pub cuts: Cuts,
    /// Every other host, whose links to a paused node are held.
    pub hosts: Vec<String>,
    pub down: BTreeSet<NodeId>,
    pub paused: BTreeSet<NodeId>,
    /// Starts each fault log line, naming the seed, since seeds run side by side.
    pub log_prefix: String,
}

impl SimCluster {
    fn ip(id: NodeId) -> IpAddr {
        turmoil::lookup(node_host(id))
    }

    fn is_serving(&self, id: NodeId) -> bool {
        !self.down.contains(&id) && !self.paused.contains(&id)
    }

    fn hold_targets(&self, id: NodeId) -> Vec<String> {
        let own = node_host(id);
        self.hosts
            .iter()
            .filter(|host| **host != own)
            .cloned()
            .collect()
    }
}

#[async_trait(?Send)]
impl FaultTarget for SimCluster {
    fn ids(&self) -> Vec<NodeId> {
        self.api.node_ids()
    }

    fn log(&self, line: &str) {
        println!("{}{line}", self.log_prefix);
    }

    async fn leader(&self) -> Option<NodeId> {
        let mut votes: BTreeMap<NodeId, usize> = BTreeMap::new();
        for id in self.ids().into_iter().filter(|id| self.is_serving(*id)) {
            let (outcome, body) = self.api.call(id, Method::GET, "/api/cluster", None).await;
            let leader = matches!(outcome, Outcome::Ok(_))
                .then_some(body)
                .flatten()
                .and_then(|body| body["leaderId"].as_u64());
            if let Some(leader) = leader {
                *votes.entry(leader).or_default() += 1;
            }
        }
        let quorum = self.ids().len() / 2 + 1;
        votes
            .into_iter()
            .find(|(leader, count)| *count >= quorum && self.is_serving(*leader))
            .map(|(leader, _)| leader)
    }

    fn kill(&mut self, id: NodeId) {
        if self.down.insert(id) {
            self.control.push(HostAction::Crash(id));
        }
    }

    fn restart(&mut self, id: NodeId) -> anyhow::Result<()> {
        if self.down.remove(&id) {
            self.control.push(HostAction::Restart(id));
        }
        Ok(())
    }

    fn pause(&mut self, id: NodeId) -> anyhow::Result<()> {
        if self.paused.insert(id) {
            for host in self.hold_targets(id) {
                turmoil::hold(node_host(id), host);
            }
        }
        Ok(())
    }

    fn resume(&mut self, id: NodeId) -> anyhow::Result<()> {
        if self.paused.remove(&id) {
            for host in self.hold_targets(id) {
                turmoil::release(node_host(id), host);
            }
        }
        Ok(())
    }

    fn partition(&mut self, sides: &[BTreeSet<NodeId>]) {
        let ids = self.ids();
        for (index, a) in ids.iter().enumerate() {
            for b in &ids[index + 1..] {
                let together = sides
                    .iter()
                    .any(|side| side.contains(a) && side.contains(b));
                if !together {
                    self.cuts.cut(Self::ip(*a), Self::ip(*b));
                }
            }
        }
    }

    fn heal_links(&mut self) {
        self.cuts.heal_all();
    }

    fn exited_nodes(&mut self) -> Vec<(NodeId, String)> {
        let exited = self.control.take_exited();
        for (id, _) in &exited {
            self.down.insert(*id);
        }
        exited
    }

    fn elapsed(&self) -> Duration {
        turmoil::sim_elapsed().unwrap_or(Duration::ZERO)
    }

    fn wall_ms(&self) -> i64 {
        wall_ms()
    }
}
