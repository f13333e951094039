//! The phases of a chaos run: start, workload and faults, settle, collect, check.
//!
//! The steps that take an [`Api`] (creating the schedule jobs, the final pauses, the settle
//! waits and the final reads) also run in the deterministic simulation (`tests/simulation.rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use http::Method;
use serde_json::Value;
use tokio::sync::watch;

use super::ChaosArgs;
use super::check::{self, Observations, Report};
use super::cluster::Cluster;
use super::faults::{self, FaultPlan, Processes};
use super::workload::{
    self, Api, Endpoints, History, OpKind, OpRecord, Outcome, ScheduleJob, Targets,
};
use crate::raft_types::NodeId;
use crate::receiver::{Behaviour, Receiver, RecordedRequest};
use crate::scheduler::runtime::PLANTED_BUG_ENV_VAR;

/// Time the cluster gets after the last fault before the jobs are paused, so the last
/// failover completes and late instants fire.
pub const RECOVERY: Duration = Duration::from_secs(8);
/// Bound of each wait while the cluster settles.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Client id of the runner's own creates and final pauses in the history.
pub const RUNNER_CLIENT: u32 = u32::MAX;
/// Page size of the final reads (the API's maximum).
const PAGE_LIMIT: u32 = 500;

/// The three receivers the jobs post to.
struct Receivers {
    fast: Receiver,
    slow: Receiver,
    failing: Receiver,
}

impl Receivers {
    async fn start() -> anyhow::Result<Receivers> {
        let slow = Behaviour {
            delay: Duration::from_millis(1500),
            ..Behaviour::default()
        };
        let failing = Behaviour {
            status: 503,
            ..Behaviour::default()
        };
        Ok(Receivers {
            fast: Receiver::start("127.0.0.1:0", Behaviour::default()).await?,
            slow: Receiver::start("127.0.0.1:0", slow).await?,
            failing: Receiver::start("127.0.0.1:0", failing).await?,
        })
    }

    fn targets(&self) -> Targets {
        Targets {
            fast: format!("http://{}", self.fast.address()),
            slow: format!("http://{}", self.slow.address()),
            failing: format!("http://{}", self.failing.address()),
        }
    }

    /// Returns every recorded request, ordered by arrival.
    fn requests(&self) -> Vec<RecordedRequest> {
        let mut requests = self.fast.requests();
        requests.extend(self.slow.requests());
        requests.extend(self.failing.requests());
        requests.sort_by_key(|request| request.received_at_ms);
        requests
    }

    fn stop(self) {
        self.fast.stop();
        self.slow.stop();
        self.failing.stop();
    }
}

fn run_dir(seed: u64) -> anyhow::Result<PathBuf> {
    let name = format!(
        "raftcron-chaos-seed{seed}-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    );
    let dir = std::env::temp_dir().join(name);
    std::fs::create_dir_all(&dir).with_context(|| format!("failed to create {}", dir.display()))?;
    Ok(dir)
}

fn log(started: Instant, message: &str) {
    println!("[{:8.3}s] {message}", started.elapsed().as_secs_f64());
}

/// Runs one chaos run and returns the checker's report.
pub async fn run(args: &ChaosArgs, binary: &Path) -> anyhow::Result<Report> {
    let started = Instant::now();
    let started_wall_ms = chrono::Utc::now().timestamp_millis();
    let dir = run_dir(args.seed)?;
    println!(
        "chaos run: seed={} nodes={} duration={}s faults={} planted_bug={} dir={}",
        args.seed,
        args.nodes,
        args.duration.as_secs(),
        args.faults
            .map_or("unbounded".to_string(), |count| count.to_string()),
        args.planted_bug.as_deref().unwrap_or("none"),
        dir.display()
    );

    let receivers = Receivers::start()
        .await
        .context("failed to start the receivers")?;
    let env = match &args.planted_bug {
        Some(bug) => vec![(PLANTED_BUG_ENV_VAR.to_string(), bug.clone())],
        None => Vec::new(),
    };
    let mut cluster = Cluster::start(binary, &dir, args.nodes, env).await?;
    let leader = cluster.wait_for_leader(SETTLE_TIMEOUT).await?;
    log(
        started,
        &format!("cluster of {} nodes up, leader {leader}", args.nodes),
    );

    let nodes = cluster
        .ids()
        .into_iter()
        .map(|id| (id, cluster.client_addr(id).to_string()))
        .collect();
    let endpoints = Endpoints::new(nodes, started)?;
    let job_count = if args.nodes == 5 { 15 } else { 12 };
    let history = History::default();
    let schedule_jobs =
        create_schedule_jobs(&endpoints, &history, job_count, &receivers.targets()).await?;
    log(
        started,
        &format!("{} schedule jobs created", schedule_jobs.len()),
    );

    let (stop_clients, clients_stopped) = watch::channel(false);
    let clients: Vec<_> = (0..args.clients)
        .map(|client| {
            tokio::spawn(workload::run_client(
                client,
                args.seed,
                endpoints.clone(),
                receivers.targets().fast,
                history.clone(),
                clients_stopped.clone(),
            ))
        })
        .collect();
    log(
        started,
        &format!("{} clients started; injecting faults", args.clients),
    );

    let until = started.elapsed() + args.duration;
    if args.faults == Some(0) {
        // A run without faults still gives the workload the whole duration.
        tokio::time::sleep(args.duration).await;
    }
    let mut crashes = Vec::new();
    let mut processes = Processes {
        cluster: &mut cluster,
        started,
    };
    let fault_result = faults::run_faults(
        &mut processes,
        FaultPlan::new(args.seed),
        until,
        args.faults,
        &mut crashes,
    )
    .await;
    cluster.heal_all()?;
    let faults = fault_result?;
    // A run meant to inject faults that injected none would pass without testing failover.
    if faults.is_empty() && args.faults != Some(0) {
        bail!(
            "no fault was injected within --duration {}s: the first fault of seed {} needs a \
             longer duration (--faults 0 runs without faults on purpose)",
            args.duration.as_secs(),
            args.seed
        );
    }
    let _ = stop_clients.send(true);
    for client in clients {
        let _ = client.await;
    }
    log(
        started,
        &format!(
            "{} faults injected; clients stopped; settling",
            faults.len()
        ),
    );

    cluster.wait_for_leader(SETTLE_TIMEOUT).await?;
    tokio::time::sleep(RECOVERY).await;
    crashes.extend(faults::report_crashes(&mut Processes {
        cluster: &mut cluster,
        started,
    }));

    let final_pause_ms = pause_all_jobs(&endpoints, &history).await?;
    log(started, &format!("{} jobs paused", final_pause_ms.len()));
    wait_for_open_executions(&endpoints, &final_pause_ms).await;
    let node_states = wait_for_agreement(&endpoints).await;
    log(started, "cluster settled; reading the final state");

    let (final_read_us, jobs, executions) = read_final_state(&endpoints).await?;
    crashes.extend(faults::report_crashes(&mut Processes {
        cluster: &mut cluster,
        started,
    }));
    let observations = Observations {
        schedule_jobs,
        final_pause_ms,
        jobs,
        executions,
        requests: receivers.requests(),
        history: history.records(),
        faults,
        crashes,
        node_states,
        started_wall_ms,
        final_read_us,
    };
    let report = check::check(&observations);
    drop(cluster);
    receivers.stop();

    if report.violations() == 0 && !args.keep_data {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        println!("data and node logs kept in {}", dir.display());
    }
    Ok(report)
}

/// Creates the schedule jobs through the nodes in turn and records the creates in `history`.
/// A create with an unknown outcome (an election at start) is looked up by the job's unique
/// name and sent again only when the job is not there.
pub async fn create_schedule_jobs(
    endpoints: &impl Api,
    history: &History,
    count: usize,
    targets: &Targets,
) -> anyhow::Result<Vec<ScheduleJob>> {
    let nodes = endpoints.node_ids();
    let mut jobs = Vec::new();
    for (index, (body, mut job)) in workload::schedule_job_bodies(count, targets)
        .into_iter()
        .enumerate()
    {
        let name = body["name"].as_str().unwrap_or_default().to_string();
        for attempt in 0..20 {
            let node = nodes[(index + attempt) % nodes.len()];
            let invoke_us = endpoints.micros();
            let (outcome, response) = endpoints
                .call(node, Method::POST, "/api/jobs", Some(&body))
                .await;
            let id = response.as_ref().and_then(|body| body["id"].as_str());
            let key = match (&outcome, id) {
                (Outcome::Ok(_), Some(id)) => Some(id.to_string()),
                (Outcome::Unknown(_), _) => None,
                (outcome, _) => {
                    bail!("failed to create schedule job {index}: {outcome:?} {response:?}")
                }
            };
            history.push(OpRecord {
                client: RUNNER_CLIENT,
                key: key.clone(),
                create_name: key.is_none().then(|| name.clone()),
                kind: OpKind::Create,
                node,
                invoke_us,
                complete_us: endpoints.micros(),
                outcome,
            });
            let found = match key {
                Some(key) => Some(key),
                None => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    let existing = list_jobs(endpoints).await?;
                    existing
                        .iter()
                        .find(|(_, job)| job["name"].as_str() == Some(name.as_str()))
                        .map(|(id, _)| id.clone())
                }
            };
            if let Some(id) = found {
                job.id = id;
                break;
            }
        }
        if job.id.is_empty() {
            bail!("failed to create schedule job {index} in 20 attempts");
        }
        jobs.push(job);
    }
    Ok(jobs)
}

/// GETs `path` from the first node that responds with 2xx.
async fn get_any(endpoints: &impl Api, path: &str) -> anyhow::Result<Value> {
    for _ in 0..10 {
        for node in endpoints.node_ids() {
            let (outcome, body) = endpoints.call(node, Method::GET, path, None).await;
            if let (Outcome::Ok(_), Some(body)) = (outcome, body) {
                return Ok(body);
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    bail!("no node returned 2xx for GET {path} in 10 rounds")
}

/// Reads every page of a list.
async fn list_all(endpoints: &impl Api, path: &str) -> anyhow::Result<Vec<Value>> {
    let mut items = Vec::new();
    for page in 1.. {
        let separator = if path.contains('?') { '&' } else { '?' };
        let url = format!("{path}{separator}page={page}&limit={PAGE_LIMIT}");
        let body = get_any(endpoints, &url).await?;
        let batch = body["items"].as_array().cloned().unwrap_or_default();
        let total = body["total"].as_u64().unwrap_or(0);
        let done = batch.is_empty();
        items.extend(batch);
        if done || items.len() as u64 >= total {
            break;
        }
    }
    Ok(items)
}

async fn list_jobs(endpoints: &impl Api) -> anyhow::Result<BTreeMap<String, Value>> {
    let jobs = list_all(endpoints, "/api/jobs").await?;
    Ok(jobs
        .into_iter()
        .filter_map(|job| Some((job["id"].as_str()?.to_string(), job)))
        .collect())
}

async fn list_executions(endpoints: &impl Api, job_id: &str) -> anyhow::Result<Vec<Value>> {
    list_all(endpoints, &format!("/api/jobs/{job_id}/executions")).await
}

/// Pauses every job, recording each attempt in the history, and returns when each pause
/// that succeeded was invoked (wall clock, ms).
pub async fn pause_all_jobs(
    endpoints: &impl Api,
    history: &History,
) -> anyhow::Result<BTreeMap<String, i64>> {
    let nodes = endpoints.node_ids();
    let jobs = list_jobs(endpoints).await?;
    let mut paused = BTreeMap::new();
    for (index, id) in jobs.keys().enumerate() {
        for attempt in 0..20 {
            let node = nodes[(index + attempt) % nodes.len()];
            let invoked_ms = endpoints.wall_ms();
            let invoke_us = endpoints.micros();
            let path = format!("/api/jobs/{id}/pause");
            let (outcome, _) = endpoints.call(node, Method::PATCH, &path, None).await;
            history.push(OpRecord {
                client: RUNNER_CLIENT,
                key: Some(id.clone()),
                create_name: None,
                kind: OpKind::Pause,
                node,
                invoke_us,
                complete_us: endpoints.micros(),
                outcome: outcome.clone(),
            });
            match outcome {
                Outcome::Ok(_) => {
                    paused.insert(id.clone(), invoked_ms);
                    break;
                }
                Outcome::Failed(_) => break,
                Outcome::Unknown(_) => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }
    Ok(paused)
}

/// Waits until no execution of any job is RUNNING or RETRYING, or the settle timeout.
pub async fn wait_for_open_executions(endpoints: &impl Api, jobs: &BTreeMap<String, i64>) {
    let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
    while tokio::time::Instant::now() < deadline {
        let mut open = 0;
        for id in jobs.keys() {
            for status in ["RUNNING", "RETRYING"] {
                let path = format!("/api/jobs/{id}/executions?status={status}&limit=1");
                if let Ok(body) = get_any(endpoints, &path).await {
                    open += body["total"].as_u64().unwrap_or(0);
                }
            }
        }
        if open == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "open executions remain after {} s",
        SETTLE_TIMEOUT.as_secs()
    );
}

/// Waits until every node reports the same applied index twice in a row, one second apart,
/// and returns each node's applied index and digest.
pub async fn wait_for_agreement(endpoints: &impl Api) -> BTreeMap<NodeId, Option<(u64, String)>> {
    let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
    let mut previous = BTreeMap::new();
    loop {
        let mut states = BTreeMap::new();
        for id in endpoints.node_ids() {
            let (outcome, body) = endpoints
                .call(id, Method::GET, "/api/debug/state", None)
                .await;
            let body = matches!(outcome, Outcome::Ok(_)).then_some(body).flatten();
            let state = body.and_then(|body| {
                let index = body["appliedIndex"].as_u64()?;
                Some((index, body["digest"].as_str()?.to_string()))
            });
            states.insert(id, state);
        }
        let indexes: std::collections::BTreeSet<Option<u64>> = states
            .values()
            .map(|state| state.as_ref().map(|(index, _)| *index))
            .collect();
        let settled = indexes.len() == 1 && !indexes.contains(&None) && states == previous;
        if settled || tokio::time::Instant::now() >= deadline {
            return states;
        }
        previous = states;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Reads every job and every execution of each, and returns when the read started (µs since
/// the run started) with the jobs by id and the executions by job id.
pub async fn read_final_state(
    endpoints: &impl Api,
) -> anyhow::Result<(u64, BTreeMap<String, Value>, BTreeMap<String, Vec<Value>>)> {
    let final_read_us = endpoints.micros();
    let jobs = list_jobs(endpoints).await?;
    let mut executions = BTreeMap::new();
    for id in jobs.keys() {
        executions.insert(id.clone(), list_executions(endpoints, id).await?);
    }
    Ok((final_read_us, jobs, executions))
}
