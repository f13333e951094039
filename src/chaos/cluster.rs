//! The node processes of a chaos run: `raftcron serve` children of this process on 127.0.0.1,
//! each with its own data directory, config and log, with peer traffic through `Links`.
//!
//! Dropping a [`Cluster`] sends SIGKILL to every node it started, paused ones included, so a
//! run that returns early, panics or is interrupted leaves no node behind. A runner killed
//! with SIGKILL takes its nodes with it too (the parent-death signal).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

use super::proxy::Links;
use crate::raft_types::NodeId;

/// Raft timing of chaos clusters, in milliseconds.
pub const HEARTBEAT_MS: u64 = 100;
pub const ELECTION_TIMEOUT_MIN_MS: u64 = 500;
pub const ELECTION_TIMEOUT_MAX_MS: u64 = 1000;
/// The nodes' `scheduler.misfire_threshold_ms`: short, so that outages without a quorum
/// longer than this exercise the jobs' misfire policies.
pub const MISFIRE_THRESHOLD_MS: u64 = 5000;

/// Ports, files and process of one node.
struct Node {
    client_addr: String,
    peer_addr: String,
    config_path: PathBuf,
    log_path: PathBuf,
    child: Option<Child>,
    paused: bool,
}

/// A running cluster of node processes.
pub struct Cluster {
    binary: PathBuf,
    env: Vec<(String, String)>,
    nodes: BTreeMap<NodeId, Node>,
    links: Links,
    http: reqwest::Client,
}

/// Makes the kernel send SIGKILL to the node when the thread that started it exits, so a
/// runner killed with SIGKILL, which runs no `Drop`, leaves no node behind. The runner starts
/// nodes from its main thread (the runtime's `block_on`), which lives as long as the run.
fn die_with_runner(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    let runner = libc::pid_t::try_from(std::process::id()).unwrap_or(0);
    // SAFETY: the closure runs in the child between fork and exec, and calls only prctl and
    // getppid, which are async-signal-safe, allocate nothing and take no lock.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            // A runner that died before the signal was set would not deliver it. The error is
            // a bare errno, since allocating between fork and exec is not safe.
            if libc::getppid() != runner {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// Returns a port that was free a moment ago on 127.0.0.1.
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("failed to bind a free port")?;
    Ok(listener.local_addr()?.port())
}

impl Cluster {
    /// Writes the configs of `count` nodes under `dir` and starts them with `env` added to
    /// their environment.
    pub async fn start(
        binary: &Path,
        dir: &Path,
        count: u64,
        env: Vec<(String, String)>,
    ) -> anyhow::Result<Cluster> {
        let mut nodes = BTreeMap::new();
        for id in 1..=count {
            let node = Node {
                client_addr: format!("127.0.0.1:{}", free_port()?),
                peer_addr: format!("127.0.0.1:{}", free_port()?),
                config_path: dir.join(format!("node{id}.toml")),
                log_path: dir.join(format!("node{id}.log")),
                child: None,
                paused: false,
            };
            nodes.insert(id, node);
        }
        let peer_addrs = nodes
            .iter()
            .map(|(id, node)| (*id, node.peer_addr.clone()))
            .collect();
        let links = Links::start(&peer_addrs)
            .await
            .context("failed to start the link proxies")?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .context("failed to build the HTTP client")?;
        let mut cluster = Cluster {
            binary: binary.to_path_buf(),
            env,
            nodes,
            links,
            http,
        };
        for id in cluster.ids() {
            let text = cluster.config_text(id, dir);
            std::fs::write(&cluster.nodes[&id].config_path, text)
                .context("failed to write a node config")?;
        }
        for id in cluster.ids() {
            cluster.start_node(id)?;
        }
        Ok(cluster)
    }

    fn config_text(&self, id: NodeId, dir: &Path) -> String {
        let mut text = format!(
            "node_id = {id}\ndata_dir = \"{}\"\n",
            dir.join(format!("node{id}")).display()
        );
        for (member, node) in &self.nodes {
            let _ = write!(
                text,
                "\n[[members]]\nid = {member}\npeer_addr = \"{}\"\nclient_addr = \"{}\"\n",
                node.peer_addr, node.client_addr
            );
        }
        let _ = write!(
            text,
            "\n[raft]\nheartbeat_ms = {HEARTBEAT_MS}\nelection_timeout_min_ms = \
             {ELECTION_TIMEOUT_MIN_MS}\nelection_timeout_max_ms = {ELECTION_TIMEOUT_MAX_MS}\n\
             snapshot_every_entries = 2000\nkeep_entries_after_snapshot = 500\n\
             \n[api]\nrequest_timeout_ms = 3000\n\
             \n[scheduler]\nmisfire_threshold_ms = {MISFIRE_THRESHOLD_MS}\n\n[peer_dial]\n"
        );
        for peer in self.nodes.keys().filter(|peer| **peer != id) {
            if let Some(address) = self.links.dial_address(id, *peer) {
                let _ = writeln!(text, "{peer} = \"{address}\"");
            }
        }
        text
    }

    /// Returns the node ids, ascending.
    pub fn ids(&self) -> Vec<NodeId> {
        self.nodes.keys().copied().collect()
    }

    /// Returns the client address (`host:port`) of node `id`.
    pub fn client_addr(&self, id: NodeId) -> &str {
        &self.nodes[&id].client_addr
    }

    /// Returns the peer links.
    pub fn links(&self) -> &Links {
        &self.links
    }

    /// Returns whether node `id` runs and is not paused.
    pub fn is_serving(&self, id: NodeId) -> bool {
        let node = &self.nodes[&id];
        node.child.is_some() && !node.paused
    }

    /// Starts node `id` with its data directory; does nothing when it runs.
    pub fn start_node(&mut self, id: NodeId) -> anyhow::Result<()> {
        let node = self.nodes.get_mut(&id).context("unknown node id")?;
        if node.child.is_some() {
            return Ok(());
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log_path)
            .with_context(|| format!("failed to open {}", node.log_path.display()))?;
        let mut command = Command::new(&self.binary);
        command
            .arg("serve")
            .arg("--config")
            .arg(&node.config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        // The node reads only its config file and the variables the run sets. A RAFTCRON_*
        // setting in the runner's environment would otherwise change the cluster under test.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("RAFTCRON_") {
                command.env_remove(key);
            }
        }
        command
            .env("RUST_LOG", "info,openraft=warn")
            .envs(self.env.iter().map(|(key, value)| (key, value)));
        die_with_runner(&mut command);
        let child = command
            .spawn()
            .with_context(|| format!("failed to start {}", self.binary.display()))?;
        node.child = Some(child);
        node.paused = false;
        Ok(())
    }

    /// Sends SIGKILL to node `id` and reaps it.
    pub fn kill(&mut self, id: NodeId) {
        let Some(node) = self.nodes.get_mut(&id) else {
            return;
        };
        if let Some(mut child) = node.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        node.paused = false;
    }

    /// Sends SIGSTOP to node `id`.
    pub fn pause(&mut self, id: NodeId) -> anyhow::Result<()> {
        self.signal(id, "STOP")?;
        if let Some(node) = self.nodes.get_mut(&id) {
            node.paused = true;
        }
        Ok(())
    }

    /// Sends SIGCONT to node `id` if it is paused.
    pub fn resume(&mut self, id: NodeId) -> anyhow::Result<()> {
        if !self.nodes.get(&id).is_some_and(|node| node.paused) {
            return Ok(());
        }
        self.signal(id, "CONT")?;
        if let Some(node) = self.nodes.get_mut(&id) {
            node.paused = false;
        }
        Ok(())
    }

    /// Sends `signal` to the process of node `id` by its process id.
    fn signal(&self, id: NodeId, signal: &str) -> anyhow::Result<()> {
        let Some(child) = self.nodes.get(&id).and_then(|node| node.child.as_ref()) else {
            bail!("node {id} is not running");
        };
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .context("failed to run kill")?;
        if !status.success() {
            bail!("kill -{signal} {} failed with {status}", child.id());
        }
        Ok(())
    }

    /// Restarts stopped nodes, resumes paused ones and opens every link.
    pub fn heal_all(&mut self) -> anyhow::Result<()> {
        self.links.heal();
        for id in self.ids() {
            self.resume(id)?;
            self.start_node(id)?;
        }
        Ok(())
    }

    /// Detects nodes that exited on their own (a crash) and returns their ids and statuses.
    pub fn exited_nodes(&mut self) -> Vec<(NodeId, String)> {
        let mut exited = Vec::new();
        for (id, node) in &mut self.nodes {
            let Some(child) = node.child.as_mut() else {
                continue;
            };
            if let Ok(Some(status)) = child.try_wait() {
                exited.push((*id, status.to_string()));
                node.child = None;
                node.paused = false;
            }
        }
        exited
    }

    /// GETs `path` on node `id` and returns the JSON body of a 2xx response.
    pub async fn get_json(&self, id: NodeId, path: &str) -> Option<Value> {
        let url = format!("http://{}{path}", self.client_addr(id));
        let response = self.http.get(url).send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.json().await.ok()
    }

    /// Returns the leader that a majority of the serving nodes report, if any.
    pub async fn leader(&self) -> Option<NodeId> {
        let mut votes: BTreeMap<NodeId, usize> = BTreeMap::new();
        for id in self.ids().into_iter().filter(|id| self.is_serving(*id)) {
            let status = self.get_json(id, "/api/cluster").await;
            if let Some(leader) = status.and_then(|status| status["leaderId"].as_u64()) {
                *votes.entry(leader).or_default() += 1;
            }
        }
        let quorum = self.nodes.len() / 2 + 1;
        votes
            .into_iter()
            .find(|(leader, count)| *count >= quorum && self.is_serving(*leader))
            .map(|(leader, _)| leader)
    }

    /// Waits up to `timeout` for a leader that a majority reports.
    pub async fn wait_for_leader(&self, timeout: Duration) -> anyhow::Result<NodeId> {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if let Some(leader) = self.leader().await {
                return Ok(leader);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        bail!("no leader elected within {} s", timeout.as_secs())
    }

    /// Formats the sides of a partition for the fault log.
    pub fn describe_sides(sides: &[BTreeSet<NodeId>]) -> String {
        let names: Vec<String> = sides.iter().map(|side| format!("{side:?}")).collect();
        names.join(" | ")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for id in self.ids() {
            self.kill(id);
        }
    }
}
