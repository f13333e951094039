//! The workload of a chaos run: the schedule jobs created at the start, and concurrent
//! clients that create, update, pause, resume, delete and read jobs of their own, each
//! operation recorded with its invoke and complete times and its outcome.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use http::{Method, StatusCode};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::raft_types::NodeId;

/// Tag of the jobs created at the start.
pub const SCHEDULE_TAG: &str = "chaos-schedule";
/// Tag of the jobs the clients create.
pub const CLIENT_TAG: &str = "chaos-client";
/// Time a client waits for one REST call; past it the outcome is unknown.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(6);
/// Jobs each client keeps at once.
const SLOTS_PER_CLIENT: u32 = 3;

/// The receivers jobs post to.
#[derive(Clone, Debug)]
pub struct Targets {
    /// Responds 200 at once.
    pub fast: String,
    /// Responds 200 after 1.5 s, so runs of a job firing every second overlap.
    pub slow: String,
    /// Responds 503, so every attempt is retried.
    pub failing: String,
}

/// A job created at the start and paused at the end.
#[derive(Clone, Debug)]
pub struct ScheduleJob {
    pub id: String,
    pub schedule: String,
    pub misfire_policy: &'static str,
    pub concurrency_policy: &'static str,
    pub target: &'static str,
}

/// Builds the bodies of the schedule jobs: second-level schedules with mixed misfire and
/// concurrency policies and targets.
pub fn schedule_job_bodies(count: usize, targets: &Targets) -> Vec<(Value, ScheduleJob)> {
    // (schedule, misfire policy, concurrency policy, target)
    const MIX: [(&str, &str, &str, &str); 12] = [
        ("* * * * * *", "FIRE_ONCE", "ALLOW", "fast"),
        ("*/2 * * * * *", "FIRE_ALL", "ALLOW", "fast"),
        ("* * * * * *", "SKIP", "ALLOW", "fast"),
        ("*/2 * * * * *", "FIRE_ONCE", "ALLOW", "fast"),
        ("* * * * * *", "FIRE_ONCE", "FORBID", "slow"),
        ("* * * * * *", "FIRE_ALL", "REPLACE", "slow"),
        ("*/2 * * * * *", "FIRE_ONCE", "ALLOW", "failing"),
        ("* * * * * *", "FIRE_ALL", "ALLOW", "fast"),
        ("*/2 * * * * *", "SKIP", "FORBID", "slow"),
        ("* * * * * *", "FIRE_ALL", "ALLOW", "fast"),
        ("*/2 * * * * *", "FIRE_ONCE", "REPLACE", "fast"),
        ("* * * * * *", "SKIP", "ALLOW", "fast"),
    ];
    (0..count)
        .map(|index| {
            let (schedule, misfire, concurrency, target) = MIX[index % MIX.len()];
            let url = match target {
                "slow" => &targets.slow,
                "failing" => &targets.failing,
                _ => &targets.fast,
            };
            let mut body = json!({
                "name": format!("chaos-schedule-{index}"),
                "description": "version 0",
                "schedule": schedule,
                "timeZone": "UTC",
                "triggerType": "REST",
                "triggerConfig": {
                    "url": format!("{url}/schedule/{index}"),
                    "method": "POST",
                    "timeout": 3000,
                },
                "retryStrategy": {"attempts": 3, "backoff": "fixed", "interval": 400},
                "misfirePolicy": misfire,
                "maxCatchUp": 5,
                "concurrencyPolicy": concurrency,
                "retention": {"maxCount": 10000},
                "tags": [SCHEDULE_TAG],
            });
            // One job drops instants that could not start within 3 s.
            if index == 7 {
                body["startingDeadline"] = json!(3000);
            }
            let job = ScheduleJob {
                id: String::new(),
                schedule: schedule.to_string(),
                misfire_policy: misfire,
                concurrency_policy: concurrency,
                target,
            };
            (body, job)
        })
        .collect()
}

/// A job operation of a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpKind {
    Create,
    /// Writes `description = "version N"`.
    Update(u64),
    Pause,
    Resume,
    Delete,
    Get,
}

impl OpKind {
    pub fn name(&self) -> String {
        match self {
            OpKind::Create => "create".into(),
            OpKind::Update(version) => format!("update v{version}"),
            OpKind::Pause => "pause".into(),
            OpKind::Resume => "resume".into(),
            OpKind::Delete => "delete".into(),
            OpKind::Get => "get".into(),
        }
    }
}

/// A job as a response showed it: what the linearizability model tracks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Observed {
    pub active: bool,
    pub version: u64,
}

impl Observed {
    /// Reads status and version from a job body; `None` when the body has neither.
    pub fn from_job(body: &Value) -> Option<Observed> {
        let active = match body["status"].as_str()? {
            "ACTIVE" => true,
            "PAUSED" => false,
            _ => return None,
        };
        let version = body["description"]
            .as_str()?
            .strip_prefix("version ")?
            .parse()
            .ok()?;
        Some(Observed { active, version })
    }
}

/// The outcome of an operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx; the job as returned, when the call returns one.
    Ok(Option<Observed>),
    /// A definite error (4xx): the call had no effect. 404 means the job did not exist.
    Failed(u16),
    /// Timeout, 5xx or a connection error: the call may or may not have taken effect.
    Unknown(String),
}

/// One recorded operation.
#[derive(Clone, Debug)]
pub struct OpRecord {
    pub client: u32,
    /// The job id; `None` for a create whose outcome is not known.
    pub key: Option<String>,
    /// The unique name a create gave its job, to find it when the outcome was unknown.
    pub create_name: Option<String>,
    pub kind: OpKind,
    pub node: NodeId,
    /// Microseconds since the run started (monotonic).
    pub invoke_us: u64,
    /// Microseconds since the run started; for an unknown outcome, when the client gave up.
    pub complete_us: u64,
    pub outcome: Outcome,
}

/// The shared operation history.
#[derive(Clone, Default)]
pub struct History(Arc<Mutex<Vec<OpRecord>>>);

impl History {
    pub fn push(&self, record: OpRecord) {
        self.0
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .push(record);
    }

    pub fn records(&self) -> Vec<OpRecord> {
        self.0
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone()
    }
}

/// The REST calls of a run and the clocks its records use. [`Endpoints`] sends them with
/// reqwest to node processes; the deterministic simulation (`tests/simulation.rs`) sends
/// them over its simulated network and reads simulated clocks.
#[async_trait]
pub trait Api: Clone + Send + Sync + 'static {
    /// Returns the client address (`host:port`) of each node, by ascending node id.
    fn nodes(&self) -> &[(NodeId, String)];

    /// Returns the node ids, ascending.
    fn node_ids(&self) -> Vec<NodeId> {
        self.nodes().iter().map(|(id, _)| *id).collect()
    }

    /// Returns the client address of node `node`, or `None` for an unknown node.
    fn address(&self, node: NodeId) -> Option<&str> {
        let found = self.nodes().iter().find(|(id, _)| *id == node);
        found.map(|(_, address)| address.as_str())
    }

    /// Sends one REST call to node `node` and classifies the response with [`classify`].
    async fn call(
        &self,
        node: NodeId,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (Outcome, Option<Value>);

    /// Returns the monotonic time since the run started, in microseconds.
    fn micros(&self) -> u64;

    /// Returns the wall clock, in milliseconds since the Unix epoch.
    fn wall_ms(&self) -> i64;
}

/// Classifies a response by its status: 2xx is ok, 4xx a definite failure, anything else
/// unknown. Returns the outcome and the JSON body.
pub fn classify(status: StatusCode, json: Option<Value>) -> (Outcome, Option<Value>) {
    if status.is_success() {
        let observed = json.as_ref().and_then(Observed::from_job);
        (Outcome::Ok(observed), json)
    } else if status.is_client_error() {
        (Outcome::Failed(status.as_u16()), json)
    } else {
        (Outcome::Unknown(format!("HTTP {}", status.as_u16())), json)
    }
}

/// The nodes' client addresses, an HTTP client and the zero of the recorded times.
#[derive(Clone)]
pub struct Endpoints {
    /// Client address by node id.
    pub nodes: Vec<(NodeId, String)>,
    pub http: reqwest::Client,
    /// The run's start, the zero of every recorded time.
    pub started: Instant,
}

impl Endpoints {
    pub fn new(nodes: Vec<(NodeId, String)>, started: Instant) -> anyhow::Result<Endpoints> {
        let http = reqwest::Client::builder()
            .timeout(CLIENT_TIMEOUT)
            .pool_max_idle_per_host(4)
            .build()?;
        Ok(Endpoints {
            nodes,
            http,
            started,
        })
    }
}

#[async_trait]
impl Api for Endpoints {
    fn nodes(&self) -> &[(NodeId, String)] {
        &self.nodes
    }

    async fn call(
        &self,
        node: NodeId,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (Outcome, Option<Value>) {
        let Some(address) = self.address(node) else {
            return (Outcome::Unknown(format!("unknown node {node}")), None);
        };
        let mut request = self.http.request(method, format!("http://{address}{path}"));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) if error.is_timeout() => return (Outcome::Unknown("timeout".into()), None),
            Err(error) if error.is_connect() => {
                return (Outcome::Unknown("connection refused".into()), None);
            }
            Err(error) => return (Outcome::Unknown(format!("transport: {error}")), None),
        };
        let status = response.status();
        let json: Option<Value> = response.json().await.ok();
        classify(status, json)
    }

    fn micros(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn wall_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

/// A job a client holds.
#[derive(Default)]
struct Slot {
    key: Option<String>,
    /// The name of a create whose outcome was unknown. The slot looks the job up by it
    /// before it creates another, so unknown outcomes rarely leave jobs behind.
    unsure_create: Option<String>,
    /// Whether the last delete's outcome was unknown, so the slot deletes again.
    unsure_delete: bool,
}

/// Runs one client: picks a node and an operation on one of its jobs, records it, and
/// repeats until `stop` changes.
pub async fn run_client<A: Api>(
    client: u32,
    seed: u64,
    api: A,
    target: String,
    history: History,
    mut stop: watch::Receiver<bool>,
) {
    let mut rng = StdRng::seed_from_u64(seed ^ (u64::from(client) << 32));
    let mut slots: Vec<Slot> = (0..SLOTS_PER_CLIENT).map(|_| Slot::default()).collect();
    let mut operations = 0u64;
    let mut next_version = 1u64;
    let nodes = api.node_ids();
    while !*stop.borrow() {
        let slot_index = rng.random_range(0..slots.len());
        let node = nodes[rng.random_range(0..nodes.len())];
        operations += 1;
        let slot = &mut slots[slot_index];
        if let Some(name) = slot.unsure_create.clone() {
            if let Some(record) = find_created(&api, client, node, slot, &name).await {
                history.push(record);
            }
            think(&mut rng, &mut stop).await;
            continue;
        }
        let kind = match slot.key {
            None => OpKind::Create,
            Some(_) if slot.unsure_delete => OpKind::Delete,
            Some(_) => match rng.random_range(0..100) {
                0..45 => OpKind::Get,
                45..65 => {
                    next_version += 1;
                    OpKind::Update(next_version)
                }
                65..77 => OpKind::Pause,
                77..92 => OpKind::Resume,
                _ => OpKind::Delete,
            },
        };
        let name = format!("chaos-c{client}-s{slot_index}-op{operations}");
        let record = perform(&api, client, node, slot, kind, &name, &target).await;
        history.push(record);
        think(&mut rng, &mut stop).await;
    }
}

/// Waits a random 0.1 to 1 s, or until `stop` changes.
async fn think(rng: &mut StdRng, stop: &mut watch::Receiver<bool>) {
    let pause = Duration::from_millis(rng.random_range(100..1000));
    tokio::select! {
        () = tokio::time::sleep(pause) => {}
        _ = stop.changed() => {}
    }
}

/// Looks up the job of an unknown create by the tag that carries its unique name (a
/// linearizable list). A job found goes into the slot, and the lookup is returned as a read
/// of that job naming the create. No job found means the create had not taken effect by
/// then, and the slot is free. An unknown lookup changes nothing and is tried again.
async fn find_created(
    api: &impl Api,
    client: u32,
    node: NodeId,
    slot: &mut Slot,
    name: &str,
) -> Option<OpRecord> {
    let invoke_us = api.micros();
    let path = format!("/api/jobs?tags={name}&limit=1");
    let (outcome, body) = api.call(node, Method::GET, &path, None).await;
    let complete_us = api.micros();
    if !matches!(outcome, Outcome::Ok(_)) {
        return None;
    }
    slot.unsure_create = None;
    let job = body.as_ref()?["items"].as_array()?.first()?.clone();
    let id = job["id"].as_str()?.to_string();
    slot.key = Some(id.clone());
    Some(OpRecord {
        client,
        key: Some(id),
        create_name: Some(name.to_string()),
        kind: OpKind::Get,
        node,
        invoke_us,
        complete_us,
        outcome: Outcome::Ok(Observed::from_job(&job)),
    })
}

/// Performs one operation on `slot` and updates the slot from its outcome.
async fn perform(
    api: &impl Api,
    client: u32,
    node: NodeId,
    slot: &mut Slot,
    kind: OpKind,
    name: &str,
    target: &str,
) -> OpRecord {
    let key = slot.key.clone();
    let path = |suffix: &str| format!("/api/jobs/{}{suffix}", key.clone().unwrap_or_default());
    let invoke_us = api.micros();
    let (outcome, body) = match &kind {
        OpKind::Create => {
            let body = client_job_body(name, target);
            api.call(node, Method::POST, "/api/jobs", Some(&body)).await
        }
        OpKind::Update(version) => {
            let body = json!({ "description": format!("version {version}") });
            api.call(node, Method::PUT, &path(""), Some(&body)).await
        }
        OpKind::Pause => api.call(node, Method::PATCH, &path("/pause"), None).await,
        OpKind::Resume => api.call(node, Method::PATCH, &path("/resume"), None).await,
        OpKind::Delete => api.call(node, Method::DELETE, &path(""), None).await,
        OpKind::Get => api.call(node, Method::GET, &path(""), None).await,
    };
    let complete_us = api.micros();

    let mut record_key = key.clone();
    match (&kind, &outcome) {
        (OpKind::Create, Outcome::Ok(_)) => {
            let id = body.as_ref().and_then(|body| body["id"].as_str());
            record_key = id.map(str::to_string);
            slot.key = record_key.clone();
        }
        (OpKind::Create, Outcome::Unknown(_)) => slot.unsure_create = Some(name.to_string()),
        (OpKind::Delete, Outcome::Unknown(_)) => slot.unsure_delete = true,
        (OpKind::Delete, Outcome::Ok(_)) | (_, Outcome::Failed(404)) => {
            slot.key = None;
            slot.unsure_delete = false;
        }
        _ => {}
    }
    OpRecord {
        client,
        key: record_key,
        create_name: (kind == OpKind::Create).then(|| name.to_string()),
        kind,
        node,
        invoke_us,
        complete_us,
        outcome,
    }
}

/// Builds the body of a client job, which fires every 2 s at the fast receiver.
fn client_job_body(name: &str, target: &str) -> Value {
    json!({
        "name": name,
        "description": "version 0",
        "schedule": "*/2 * * * * *",
        "timeZone": "UTC",
        "triggerType": "REST",
        "triggerConfig": {"url": format!("{target}/client/{name}"), "method": "POST", "timeout": 3000},
        "retryStrategy": {"attempts": 2, "backoff": "fixed", "interval": 500},
        "misfirePolicy": "FIRE_ONCE",
        "retention": {"maxCount": 10000},
        "tags": [CLIENT_TAG, name],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observed_reads_status_and_version() {
        let body = json!({"status": "PAUSED", "description": "version 12"});

        let observed = Observed::from_job(&body);

        let expected = Observed {
            active: false,
            version: 12,
        };
        assert_eq!(observed, Some(expected));
    }

    #[test]
    fn observed_needs_version() {
        let body = json!({"status": "ACTIVE", "description": "something else"});

        assert_eq!(Observed::from_job(&body), None);
    }

    #[test]
    fn schedule_jobs_mix_policies() {
        let targets = Targets {
            fast: "http://127.0.0.1:1".into(),
            slow: "http://127.0.0.1:2".into(),
            failing: "http://127.0.0.1:3".into(),
        };

        let jobs = schedule_job_bodies(12, &targets);

        let policies: std::collections::BTreeSet<&str> =
            jobs.iter().map(|(_, job)| job.concurrency_policy).collect();
        assert_eq!(jobs.len(), 12);
        assert_eq!(policies.len(), 3);
    }
}
