//! Tests of the runtime: a real store (sled in a temporary directory) applies the proposals,
//! a stand-in for Raft controls leadership, and a real HTTP receiver on 127.0.0.1 receives the
//! attempts.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::any;
use openraft::storage::RaftStateMachine;
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, ServerState};
use tempfile::TempDir;
use tokio::sync::watch;

use super::{
    Consensus, ConsensusError, Metrics, SchedulerConfig, SchedulerHandle, SchedulerRuntime,
    SystemClock,
};
use crate::model::{
    Backoff, Cause, Command, Execution, ExecutionStatus, FireIntent, HttpTrigger, Intent, Job,
    JobSpec, JobStatus, Response, RetryStrategy, Timestamp, Trigger,
};
use crate::raft_types::NodeId;
use crate::scheduler::Clock;
use crate::store::{Page, StateMachineStore, StateReader, StoreConfig};
use crate::trigger::HttpDispatcher;

const NODE: NodeId = 1;

/// A stand-in for Raft: proposals are applied at once to a real state machine, with log ids of
/// the term set by [`TestRaft::set_leader`].
#[derive(Clone)]
struct TestRaft {
    inner: Arc<TestRaftInner>,
}

struct TestRaftInner {
    state_machine: tokio::sync::Mutex<(StateMachineStore, u64)>,
    metrics: watch::Sender<Metrics>,
}

impl TestRaft {
    fn new(state_machine: StateMachineStore) -> Self {
        let (metrics, _) = watch::channel(Metrics::new_initial(NODE));
        let inner = TestRaftInner {
            state_machine: tokio::sync::Mutex::new((state_machine, 0)),
            metrics,
        };
        TestRaft {
            inner: Arc::new(inner),
        }
    }

    /// Publishes metrics in which `leader` leads `term`.
    fn set_leader(&self, term: u64, leader: NodeId) {
        self.inner.metrics.send_modify(|metrics| {
            metrics.current_term = term;
            metrics.current_leader = Some(leader);
            metrics.state = if leader == NODE {
                ServerState::Leader
            } else {
                ServerState::Follower
            };
        });
    }

    fn leader_term(&self) -> Option<u64> {
        super::leader_term(&self.inner.metrics.borrow(), NODE)
    }

    /// Applies `command` as an entry of `term`, without checking leadership, and returns the
    /// response and the entry's index.
    async fn apply(&self, term: u64, command: Command) -> (Response, u64) {
        let mut guard = self.inner.state_machine.lock().await;
        let (state_machine, last_index) = &mut *guard;
        *last_index += 1;
        let entry = Entry {
            log_id: LogId::new(CommittedLeaderId::new(term, NODE), *last_index),
            payload: EntryPayload::Normal(command),
        };
        let mut responses = state_machine.apply([entry]).await.unwrap();
        (responses.remove(0), *last_index)
    }
}

impl Consensus for TestRaft {
    fn metrics(&self) -> watch::Receiver<Metrics> {
        self.inner.metrics.subscribe()
    }

    async fn ensure_linearizable(&self) -> Result<(), ConsensusError> {
        self.leader_term()
            .map(|_| ())
            .ok_or(ConsensusError::NotLeader { leader: None })
    }

    async fn propose(&self, command: Command) -> Result<Response, ConsensusError> {
        let term = self
            .leader_term()
            .ok_or(ConsensusError::NotLeader { leader: None })?;
        Ok(self.apply(term, command).await.0)
    }
}

/// One request as the receiver saw it.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    headers: HeaderMap,
}

impl Received {
    fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string()
    }
}

/// An HTTP receiver on 127.0.0.1: `/ok` returns 200 and any other path returns 500.
struct Receiver {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let app = Router::new().fallback(any(move |uri: Uri, headers: HeaderMap| {
            let log = log.clone();
            async move {
                let path = uri.path().to_string();
                let status = if path == "/ok" {
                    StatusCode::OK
                } else {
                    StatusCode::INTERNAL_SERVER_ERROR
                };
                log.lock().unwrap().push(Received { path, headers });
                status
            }
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { addr, received }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// A store, the Raft stand-in and a runtime for node 1.
struct Cluster {
    raft: TestRaft,
    reader: StateReader,
    runtime: Option<SchedulerHandle>,
    /// Declared last so the store closes before the directory is removed.
    _dir: TempDir,
}

impl Cluster {
    fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let config = StoreConfig {
            cache_capacity_bytes: 8 * 1024 * 1024,
            fsync: false,
        };
        let (_log, state_machine, reader) = crate::store::open(dir.path(), &config).unwrap();
        let raft = TestRaft::new(state_machine);
        let runtime = SchedulerRuntime::new(
            NODE,
            raft.clone(),
            reader.clone(),
            HttpDispatcher::new().unwrap(),
            Arc::new(SystemClock),
            SchedulerConfig::default(),
        )
        .with_schedule(Arc::new(every_period))
        .start();
        Cluster {
            raft,
            reader,
            runtime: Some(runtime),
            _dir: dir,
        }
    }

    async fn create(&self, job: Job) {
        let (response, _) = self.raft.apply(1, Command::CreateJob { job }).await;
        assert!(
            matches!(response, Response::Job(_)),
            "job not created: {response:?}"
        );
    }

    fn executions(&self, job_id: &str) -> Vec<Execution> {
        let page = Page {
            page: 1,
            limit: 1000,
        };
        self.reader
            .list_executions(job_id, None, page)
            .unwrap()
            .items
    }

    async fn shutdown(mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown().await;
        }
    }
}

/// Schedule instants for tests: the job's `schedule` field is a period in milliseconds, and
/// the instants are `anchor + k * period` for `k >= 1`.
fn every_period(job: &Job, after: Timestamp) -> Option<Timestamp> {
    let period: i64 = job.spec.schedule.parse().ok()?;
    let elapsed = (after.0 - job.anchor.0).max(0);
    Some(Timestamp(job.anchor.0 + (elapsed / period + 1) * period))
}

fn now() -> Timestamp {
    SystemClock.now()
}

/// Builds a job firing every `period_ms` from `anchor`, sending to `url` with up to `attempts`
/// attempts 100 ms apart.
fn job(id: &str, url: &str, period_ms: i64, anchor: Timestamp, attempts: u32) -> Job {
    let trigger = HttpTrigger {
        url: url.to_string(),
        method: "POST".to_string(),
        headers: BTreeMap::new(),
        body: None,
        timeout_ms: 2000,
    };
    let retry = RetryStrategy {
        jitter_permille: 0,
        max_interval_ms: None,
        retry_on: None,
        attempts,
        backoff: Backoff::Fixed,
        interval_ms: 100,
    };
    Job {
        stats: crate::model::JobStats::default(),
        id: id.to_string(),
        spec: JobSpec {
            policies: crate::model::JobPolicies::default(),
            name: id.to_string(),
            description: String::new(),
            schedule: period_ms.to_string(),
            time_zone: "UTC".to_string(),
            trigger: Trigger::Http(trigger),
            retry,
            tags: Vec::new(),
        },
        status: JobStatus::Active,
        anchor,
        last_execution_time: None,
        next_execution_time: None,
        created_at: anchor,
        updated_at: anchor,
    }
}

fn manual_fire(job_id: &str, at: Timestamp) -> Command {
    let fire = FireIntent {
        caught_up: false,
        force: false,
        job_id: job_id.to_string(),
        scheduled_time: at,
        cause: Cause::Manual,
        decided_at: at,
        next_execution_time: None,
        retry_of: None,
    };
    Command::RecordFires {
        intents: vec![Intent::Fire(fire)],
    }
}

/// Polls `check` every 20 ms for up to 10 s.
async fn wait_for(what: &str, check: impl Fn() -> bool) {
    for _ in 0..500 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

fn count_status(executions: &[Execution], status: ExecutionStatus) -> usize {
    executions
        .iter()
        .filter(|execution| execution.status == status)
        .count()
}

#[tokio::test]
async fn leader_fires_and_records_outcomes() {
    let receiver = Receiver::start().await;
    let cluster = Cluster::start();
    cluster
        .create(job("a", &receiver.url("/ok"), 300, now(), 1))
        .await;

    cluster.raft.set_leader(1, NODE);
    let completed = || count_status(&cluster.executions("a"), ExecutionStatus::Completed) >= 2;
    wait_for("two completed executions", completed).await;
    cluster.shutdown().await;

    let received = receiver.received();
    assert!(received.len() >= 2, "received {} requests", received.len());
    let (first, second) = (&received[0], &received[1]);
    assert_eq!(first.path, "/ok");
    assert_eq!(first.header("x-raftcron-attempt"), "1");
    assert_eq!(second.header("x-raftcron-attempt"), "1");
    assert_ne!(
        first.header("idempotency-key"),
        second.header("idempotency-key")
    );
    let first_token: u64 = first.header("x-raftcron-fencing-token").parse().unwrap();
    let second_token: u64 = second.header("x-raftcron-fencing-token").parse().unwrap();
    assert!(
        first_token < second_token,
        "tokens {first_token} then {second_token}"
    );
}

#[tokio::test]
async fn failed_attempts_retried_with_same_key() {
    let receiver = Receiver::start().await;
    let cluster = Cluster::start();
    // The first instant is 300 ms away and the next one a minute later.
    let anchor = Timestamp(now().0 - 59_700);
    cluster
        .create(job("a", &receiver.url("/fail"), 60_000, anchor, 3))
        .await;

    cluster.raft.set_leader(1, NODE);
    let failed = || count_status(&cluster.executions("a"), ExecutionStatus::Failed) == 1;
    wait_for("a failed execution", failed).await;
    cluster.shutdown().await;

    let received = receiver.received();
    let attempts: Vec<String> = received
        .iter()
        .map(|r| r.header("x-raftcron-attempt"))
        .collect();
    assert_eq!(attempts, vec!["1", "2", "3"]);
    let keys: Vec<String> = received
        .iter()
        .map(|r| r.header("idempotency-key"))
        .collect();
    assert_eq!(keys[0], keys[1]);
    assert_eq!(keys[1], keys[2]);
    let tokens: Vec<u64> = received
        .iter()
        .map(|r| r.header("x-raftcron-fencing-token").parse().unwrap())
        .collect();
    assert!(
        tokens[0] < tokens[1] && tokens[1] < tokens[2],
        "tokens {tokens:?}"
    );
}

#[tokio::test]
async fn in_doubt_attempt_retried_by_new_leader() {
    let receiver = Receiver::start().await;
    let cluster = Cluster::start();
    let anchor = Timestamp(now().0 - 30_000);
    cluster
        .create(job("a", &receiver.url("/ok"), 60_000, anchor, 1))
        .await;
    // An attempt started in term 1 whose leader failed before recording an outcome.
    let (_, started_at) = cluster.raft.apply(1, manual_fire("a", now())).await;

    cluster.raft.set_leader(2, NODE);
    let completed = || count_status(&cluster.executions("a"), ExecutionStatus::Completed) == 1;
    wait_for("the in-doubt execution to complete", completed).await;
    cluster.shutdown().await;

    let received = receiver.received();
    assert_eq!(received.len(), 1);
    let request = &received[0];
    assert_eq!(request.header("x-raftcron-attempt"), "2");
    let token: u64 = request.header("x-raftcron-fencing-token").parse().unwrap();
    assert!(token > started_at, "token {token} not above {started_at}");
}

#[tokio::test]
async fn no_dispatch_after_leadership_lost() {
    let receiver = Receiver::start().await;
    let cluster = Cluster::start();
    cluster
        .create(job("a", &receiver.url("/ok"), 100, now(), 1))
        .await;
    cluster.raft.set_leader(1, NODE);
    wait_for("a first request", || !receiver.received().is_empty()).await;

    cluster.raft.set_leader(2, 2);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let requests_at_loss = receiver.received().len();
    let executions_at_loss = cluster.executions("a").len();
    tokio::time::sleep(Duration::from_millis(600)).await;

    assert_eq!(receiver.received().len(), requests_at_loss);
    assert_eq!(cluster.executions("a").len(), executions_at_loss);
    cluster.shutdown().await;
}

#[tokio::test]
async fn manual_run_of_paused_job_dispatched() {
    let receiver = Receiver::start().await;
    let cluster = Cluster::start();
    let paused = Job {
        status: JobStatus::Paused,
        ..job("a", &receiver.url("/ok"), 60_000, now(), 1)
    };
    cluster.create(paused).await;
    cluster.raft.set_leader(1, NODE);
    tokio::time::sleep(Duration::from_millis(100)).await;

    let (response, _) = cluster.raft.apply(1, manual_fire("a", now())).await;
    assert!(
        matches!(response, Response::Fires(_)),
        "fire rejected: {response:?}"
    );
    let completed = || count_status(&cluster.executions("a"), ExecutionStatus::Completed) == 1;
    wait_for("the manual run to complete", completed).await;
    cluster.shutdown().await;

    assert_eq!(receiver.received().len(), 1);
}
