//! A fixture that runs a raftcron cluster as real node processes on 127.0.0.1, each with its own
//! sled directory, and can kill, pause and restart them.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::DateTime;
use raftcron::receiver::{Behaviour, Receiver, RecordedRequest};
use serde_json::Value;

/// Ports and process of one node.
pub struct NodeProcess {
    pub id: u64,
    pub client_addr: String,
    pub peer_addr: String,
    pub config_path: PathBuf,
    pub log_path: PathBuf,
    child: Option<Child>,
}

/// Raft timing and retention for a test cluster.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    pub nodes: u64,
    pub heartbeat_ms: u64,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    pub snapshot_every_entries: u64,
    pub keep_entries_after_snapshot: u64,
    pub misfire_threshold_ms: u64,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            nodes: 3,
            heartbeat_ms: 100,
            election_timeout_min_ms: 500,
            election_timeout_max_ms: 1000,
            snapshot_every_entries: 5000,
            keep_entries_after_snapshot: 1000,
            misfire_threshold_ms: 60_000,
        }
    }
}

/// A running cluster; every node process is killed when it is dropped.
pub struct TestCluster {
    pub dir: tempfile::TempDir,
    pub nodes: BTreeMap<u64, NodeProcess>,
    pub http: reqwest::Client,
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

impl TestCluster {
    /// Starts `options.nodes` node processes and waits until a leader is elected.
    ///
    /// Ports are picked free and then released before the nodes bind them, so another test
    /// can take one in between; a cluster that elects no leader is started again on new ports,
    /// up to three times.
    pub async fn start(options: ClusterOptions) -> TestCluster {
        for attempt in 1..=3 {
            let cluster = TestCluster::launch(&options);
            if cluster.elects_leader(Duration::from_secs(20)).await {
                return cluster;
            }
            eprintln!(
                "cluster attempt {attempt} elected no leader; logs:\n{}",
                cluster.logs()
            );
        }
        panic!("no cluster elected a leader in three attempts");
    }

    fn launch(options: &ClusterOptions) -> TestCluster {
        let dir = tempfile::tempdir().expect("create temp dir");
        let mut nodes = BTreeMap::new();
        for id in 1..=options.nodes {
            let node = NodeProcess {
                id,
                client_addr: format!("127.0.0.1:{}", free_port()),
                peer_addr: format!("127.0.0.1:{}", free_port()),
                config_path: dir.path().join(format!("node{id}.toml")),
                log_path: dir.path().join(format!("node{id}.log")),
                child: None,
            };
            nodes.insert(id, node);
        }
        write_configs(dir.path(), &nodes, options);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .expect("build HTTP client");
        let mut cluster = TestCluster { dir, nodes, http };
        let ids: Vec<u64> = cluster.nodes.keys().copied().collect();
        for id in ids {
            cluster.start_node(id);
        }
        cluster
    }

    async fn elects_leader(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.current_leader().await.is_some() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// The logs of every node, for failure messages.
    pub fn logs(&self) -> String {
        let ids = self.nodes.keys();
        ids.map(|id| format!("--- node {id}\n{}", self.log_text(*id)))
            .collect()
    }

    /// Starts (or restarts) node `id` with its existing data directory.
    pub fn start_node(&mut self, id: u64) {
        let node = self.nodes.get_mut(&id).expect("known node id");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log_path)
            .expect("open node log");
        let child = Command::new(env!("CARGO_BIN_EXE_raftcron"))
            .arg("serve")
            .arg("--config")
            .arg(&node.config_path)
            .env("RUST_LOG", "info,openraft=info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .expect("spawn raftcron serve");
        node.child = Some(child);
    }

    /// Sends SIGKILL to node `id` and reaps it.
    pub fn kill(&mut self, id: u64) {
        let node = self.nodes.get_mut(&id).expect("known node id");
        if let Some(mut child) = node.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGKILL to every running node.
    pub fn kill_all(&mut self) {
        for id in self.running_ids() {
            self.kill(id);
        }
    }

    /// Starts every node that is not running.
    pub fn start_all(&mut self) {
        let stopped: Vec<u64> = self
            .nodes
            .keys()
            .copied()
            .filter(|id| !self.is_running(*id))
            .collect();
        for id in stopped {
            self.start_node(id);
        }
    }

    /// Sends `signal` (for example "STOP" or "CONT") to node `id` by its process id.
    pub fn signal(&self, id: u64, signal: &str) {
        let pid = self.nodes[&id]
            .child
            .as_ref()
            .expect("node is running")
            .id();
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {pid} failed");
    }

    /// The base URL of node `id`'s REST API.
    pub fn url(&self, id: u64, path: &str) -> String {
        format!("http://{}{}", self.nodes[&id].client_addr, path)
    }

    /// GET /api/cluster on node `id`, or None when it does not answer.
    pub async fn status(&self, id: u64) -> Option<Value> {
        let response = self
            .http
            .get(self.url(id, "/api/cluster"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        response.json().await.ok()
    }

    /// Waits until some running node reports a leader that is itself running, and returns it.
    pub async fn wait_for_leader(&self, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(leader) = self.current_leader().await {
                return leader;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no leader within {timeout:?}; logs:\n{}", self.logs());
    }

    /// The leader as reported by the running nodes, when they agree on a running one.
    pub async fn current_leader(&self) -> Option<u64> {
        for id in self.running_ids() {
            // A paused or starting node does not answer; ask the next one.
            let Some(status) = self.status(id).await else {
                continue;
            };
            let Some(leader) = status["leaderId"].as_u64() else {
                continue;
            };
            if !self.is_running(leader) {
                continue;
            }
            let leader_status = self.status(leader).await;
            if leader_status.is_some_and(|s| s["leaderId"].as_u64() == Some(leader)) {
                return Some(leader);
            }
        }
        None
    }

    /// Waits until a leader other than `old` is elected.
    pub async fn wait_for_new_leader(&self, old: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(leader) = self.current_leader().await
                && leader != old
            {
                return leader;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no new leader within {timeout:?}");
    }

    pub fn is_running(&self, id: u64) -> bool {
        self.nodes.get(&id).is_some_and(|node| node.child.is_some())
    }

    pub fn running_ids(&self) -> Vec<u64> {
        self.nodes
            .keys()
            .copied()
            .filter(|id| self.is_running(*id))
            .collect()
    }

    /// A running node other than `excluded`.
    pub fn other_node(&self, excluded: u64) -> u64 {
        self.running_ids()
            .into_iter()
            .find(|id| *id != excluded)
            .expect("another running node")
    }

    /// The text of node `id`'s log, for assertions and failure messages.
    pub fn log_text(&self, id: u64) -> String {
        std::fs::read_to_string(&self.nodes[&id].log_path).unwrap_or_default()
    }

    /// POSTs a job body to node `id` and returns the created job; panics with the body otherwise.
    pub async fn create_job(&self, id: u64, body: &Value) -> Value {
        let response = self
            .http
            .post(self.url(id, "/api/jobs"))
            .json(body)
            .send()
            .await
            .expect("POST /api/jobs");
        let status = response.status();
        let json: Value = response.json().await.expect("JSON reply");
        assert!(status.is_success(), "create failed with {status}: {json}");
        json
    }

    /// All executions of a job, read from node `id` (up to 500).
    pub async fn executions(&self, id: u64, job_id: &str) -> Vec<Value> {
        let path = format!("/api/jobs/{job_id}/executions?limit=500");
        let reply: Value = self
            .http
            .get(self.url(id, &path))
            .send()
            .await
            .expect("GET executions")
            .json()
            .await
            .expect("JSON reply");
        reply["items"].as_array().cloned().unwrap_or_default()
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        let ids: Vec<u64> = self.nodes.keys().copied().collect();
        for id in ids {
            // A paused node must be resumed before it can be reaped.
            if let Some(child) = &self.nodes[&id].child {
                let _ = Command::new("kill")
                    .arg("-CONT")
                    .arg(child.id().to_string())
                    .status();
            }
            self.kill(id);
        }
    }
}

fn write_configs(dir: &Path, nodes: &BTreeMap<u64, NodeProcess>, options: &ClusterOptions) {
    let mut members = String::new();
    for node in nodes.values() {
        members.push_str(&format!(
            "[[members]]\nid = {}\npeer_addr = \"{}\"\nclient_addr = \"{}\"\n\n",
            node.id, node.peer_addr, node.client_addr
        ));
    }
    for node in nodes.values() {
        let text = format!(
            "node_id = {id}\ndata_dir = \"{data}\"\n\n{members}\
             [raft]\nheartbeat_ms = {hb}\nelection_timeout_min_ms = {emin}\n\
             election_timeout_max_ms = {emax}\nsnapshot_every_entries = {snap}\n\
             keep_entries_after_snapshot = {keep}\n\n[storage]\ncache_mb = 16\n\n\
             [scheduler]\nmisfire_threshold_ms = {misfire}\n",
            id = node.id,
            data = dir.join(format!("node{}", node.id)).display(),
            hb = options.heartbeat_ms,
            emin = options.election_timeout_min_ms,
            emax = options.election_timeout_max_ms,
            snap = options.snapshot_every_entries,
            keep = options.keep_entries_after_snapshot,
            misfire = options.misfire_threshold_ms,
        );
        std::fs::write(&node.config_path, text).expect("write node config");
    }
}

/// A job body in the REST shape that fires at `url` on `schedule`.
pub fn job_body(name: &str, schedule: &str, url: &str) -> Value {
    serde_json::json!({
        "name": name,
        "schedule": schedule,
        "timeZone": "UTC",
        "triggerType": "REST",
        "triggerConfig": {"url": url, "method": "POST", "timeout": 5000},
        "retryStrategy": {"attempts": 1, "backoff": "fixed", "interval": 1000}
    })
}

pub async fn start_receiver() -> Receiver {
    Receiver::start("127.0.0.1:0", Behaviour::default())
        .await
        .expect("start receiver")
}

pub fn hook_url(receiver: &Receiver) -> String {
    format!("http://{}/hook", receiver.address())
}

/// Scheduled instants (ms) of the requests for `job_id`, with every execution id seen for each.
pub fn instants_of(requests: &[RecordedRequest], job_id: &str) -> BTreeMap<i64, BTreeSet<String>> {
    let mut instants: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    for request in requests {
        if request.header("x-raftcron-job-id") != Some(job_id) {
            continue;
        }
        let scheduled = request
            .header("x-raftcron-scheduled-time")
            .expect("scheduled time header");
        let at = DateTime::parse_from_rfc3339(scheduled)
            .expect("RFC 3339 scheduled time")
            .timestamp_millis();
        let key = request.header("idempotency-key").expect("idempotency key");
        instants.entry(at).or_default().insert(key.to_string());
    }
    instants
}

/// Asserts every second from the first to the last instant is present, each with one key.
pub fn assert_contiguous_seconds(instants: &BTreeMap<i64, BTreeSet<String>>) {
    let first = *instants.keys().next().expect("at least one instant");
    let last = *instants.keys().last().expect("at least one instant");
    let missing: Vec<i64> = (0..=(last - first) / 1000)
        .map(|step| first + step * 1000)
        .filter(|at| !instants.contains_key(at))
        .collect();
    assert!(missing.is_empty(), "instants never fired: {missing:?}");
    for (at, keys) in instants {
        assert_eq!(
            keys.len(),
            1,
            "instant {at} fired with several keys: {keys:?}"
        );
    }
}

/// Polls `check` every 50 ms until it returns Some, or panics after `timeout`.
pub async fn wait_for<T, F, Fut>(condition: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out after {timeout:?} waiting for {condition}");
}

/// Pauses a job through node `node`'s REST API.
pub async fn pause(cluster: &TestCluster, node: u64, job_id: &str) {
    let response = cluster
        .http
        .patch(cluster.url(node, &format!("/api/jobs/{job_id}/pause")))
        .send()
        .await
        .expect("PATCH pause");
    assert!(
        response.status().is_success(),
        "pause failed: {}",
        response.status()
    );
}
