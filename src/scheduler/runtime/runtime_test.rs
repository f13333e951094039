//! Tests of the runtime: a real store (sled in a temporary directory) applies the proposals,
//! a stand-in for Raft controls leadership, and a real HTTP receiver on 127.0.0.1 receives the
//! attempts.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
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
    Consensus, ConsensusError, FAILURES_BEFORE_FAILING, Metrics, SchedulerConfig, SchedulerHandle,
    SchedulerHealth, SchedulerRuntime, SystemClock,
};
use crate::model::{
    Backoff, Cause, Command, Execution, ExecutionStatus, FireIntent, HttpTrigger, Intent, Job,
    JobSpec, JobStatus, Outcome, OutcomeResult, Response, RetryStrategy, Timestamp, Trigger,
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
    /// While true, leadership confirmations wait, as when no quorum replies.
    cut_off: watch::Sender<bool>,
    /// Calls of `ensure_linearizable`.
    confirmations: AtomicUsize,
    /// Calls of `shutdown`.
    shutdowns: AtomicUsize,
}

impl TestRaft {
    fn new(state_machine: StateMachineStore) -> Self {
        let (metrics, _) = watch::channel(Metrics::new_initial(NODE));
        let (cut_off, _) = watch::channel(false);
        let inner = TestRaftInner {
            state_machine: tokio::sync::Mutex::new((state_machine, 0)),
            metrics,
            cut_off,
            confirmations: AtomicUsize::new(0),
            shutdowns: AtomicUsize::new(0),
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

    /// Cuts this node off from its peers (`true`) or heals it. The metrics keep showing it as
    /// leader, as on a leader that was paused and has not yet heard of a newer term.
    fn set_cut_off(&self, cut_off: bool) {
        self.inner.cut_off.send_replace(cut_off);
    }

    fn confirmations(&self) -> usize {
        self.inner.confirmations.load(Ordering::SeqCst)
    }

    fn shutdowns(&self) -> usize {
        self.inner.shutdowns.load(Ordering::SeqCst)
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

    async fn ensure_linearizable(&self) -> Result<u64, ConsensusError> {
        self.inner.confirmations.fetch_add(1, Ordering::SeqCst);
        let mut cut_off = self.inner.cut_off.subscribe();
        // The sender lives as long as `self`, so the wait ends only when the node is healed.
        let _ = cut_off.wait_for(|cut_off| !*cut_off).await;
        self.leader_term()
            .ok_or(ConsensusError::NotLeader { leader: None })
    }

    async fn propose(&self, command: Command) -> Result<Response, ConsensusError> {
        let term = self
            .leader_term()
            .ok_or(ConsensusError::NotLeader { leader: None })?;
        Ok(self.apply(term, command).await.0)
    }

    /// Publishes the metrics of a stopped Raft, as openraft does when it shuts down.
    async fn shutdown(&self) {
        self.inner.shutdowns.fetch_add(1, Ordering::SeqCst);
        self.inner.metrics.send_modify(|metrics| {
            metrics.state = ServerState::Shutdown;
            metrics.running_state = Err(openraft::error::Fatal::Stopped);
        });
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

/// An HTTP receiver on 127.0.0.1: `/ok` returns 200, `/hang` never responds, and any other
/// path returns 500.
struct Receiver {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    /// `/hang` requests whose client went away, so the server dropped their handler.
    abandoned: Arc<AtomicUsize>,
}

/// Counts a `/hang` handler dropped before it responded.
struct AbandonGuard(Arc<AtomicUsize>);

impl Drop for AbandonGuard {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl Receiver {
    async fn start() -> Receiver {
        let received = Arc::new(Mutex::new(Vec::new()));
        let abandoned = Arc::new(AtomicUsize::new(0));
        let log = received.clone();
        let dropped = abandoned.clone();
        let app = Router::new().fallback(any(move |uri: Uri, headers: HeaderMap| {
            let log = log.clone();
            let dropped = dropped.clone();
            async move {
                let path = uri.path().to_string();
                log.lock().unwrap().push(Received {
                    path: path.clone(),
                    headers,
                });
                match path.as_str() {
                    "/ok" => StatusCode::OK,
                    "/hang" => {
                        let _guard = AbandonGuard(dropped);
                        std::future::pending().await
                    }
                    _ => StatusCode::INTERNAL_SERVER_ERROR,
                }
            }
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver {
            addr,
            received,
            abandoned,
        }
    }

    fn abandoned(&self) -> usize {
        self.abandoned.load(Ordering::SeqCst)
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
        Cluster::start_with(SchedulerConfig::default())
    }

    fn start_with(scheduler: SchedulerConfig) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let config = StoreConfig {
            cache_capacity_bytes: 8 * 1024 * 1024,
            fsync: false,
            node_id: None,
        };
        let (_log, state_machine, reader) = crate::store::open(dir.path(), &config).unwrap();
        let raft = TestRaft::new(state_machine);
        let runtime = SchedulerRuntime::new(
            NODE,
            raft.clone(),
            reader.clone(),
            Arc::new(HttpDispatcher::new(NODE).unwrap()),
            Arc::new(SystemClock),
            scheduler,
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

    /// Makes this node leader of `term` and waits until its leader loop has loaded the state,
    /// so a run committed afterwards is dispatched as new rather than left in doubt.
    async fn lead(&self, term: u64) {
        self.raft.set_leader(term, NODE);
        let mut loaded = self
            .runtime
            .as_ref()
            .expect("runtime running")
            .loaded_term();
        let wait = loaded.wait_for(|loaded| *loaded == Some(term));
        tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .expect("leader loop loaded within 10 s")
            .expect("runtime running");
    }

    /// Returns the scheduler's latest published health.
    fn health(&self) -> SchedulerHealth {
        let runtime = self.runtime.as_ref().expect("runtime running");
        runtime.health().borrow().clone()
    }

    /// Rewrites the stored value of job `id` with format version 3, which this build does not
    /// read, as a damaged disk or an old build would leave it.
    fn corrupt_job(&self, id: &str) {
        let jobs = &self.reader.trees().jobs;
        let stored = jobs.get(id.as_bytes()).unwrap().expect("stored job");
        let mut value = stored.to_vec();
        value[0] = 3;
        jobs.insert(id.as_bytes(), value).unwrap();
    }

    async fn create(&self, job: Job) {
        let (response, _) = self.raft.apply(1, Command::CreateJob { job }).await;
        assert!(
            matches!(response, Response::Job(_)),
            "job not created: {response:?}"
        );
    }

    fn execution(&self, job_id: &str, execution_id: &str) -> Execution {
        let executions = self.executions(job_id);
        let found = executions.iter().find(|e| e.id == execution_id);
        found
            .cloned()
            .unwrap_or_else(|| panic!("no execution {execution_id}"))
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
    job_with_timeout(id, url, period_ms, anchor, attempts, 2000)
}

fn job_with_timeout(
    id: &str,
    url: &str,
    period_ms: i64,
    anchor: Timestamp,
    attempts: u32,
    timeout_ms: u64,
) -> Job {
    let trigger = HttpTrigger {
        url: url.to_string(),
        method: "POST".to_string(),
        headers: BTreeMap::new(),
        body: None,
        timeout_ms,
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
        revision: 0,
        pruned_through: None,
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

/// Commits a manual run of `job_id` in term 1 and returns the new execution.
async fn start_manual_run(cluster: &Cluster, job_id: &str) -> Execution {
    let (response, _) = cluster.raft.apply(1, manual_fire(job_id, now())).await;
    match response {
        Response::Fires(mut decisions) => match decisions.remove(0) {
            crate::model::FireDecision::Accepted(execution) => execution,
            other => panic!("manual run not accepted: {other:?}"),
        },
        other => panic!("manual run rejected: {other:?}"),
    }
}

fn manual_fire(job_id: &str, at: Timestamp) -> Command {
    let fire = FireIntent {
        job_revision: None,
        caught_up: false,
        force: false,
        job_id: job_id.to_string(),
        scheduled_time: at,
        cause: Cause::Manual,
        decided_at: at,
        next_execution_time: None,
        retry_of: None,
        request_key: None,
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

#[tokio::test]
async fn confirmation_reused_within_lease() {
    let receiver = Receiver::start().await;
    let config = SchedulerConfig {
        leadership_lease: Duration::from_secs(10),
        ..SchedulerConfig::default()
    };
    let cluster = Cluster::start_with(config);
    cluster
        .create(job("a", &receiver.url("/ok"), 60_000, now(), 1))
        .await;
    cluster.raft.set_leader(1, NODE);

    for runs in 1..=3 {
        start_manual_run(&cluster, "a").await;
        let completed = || count_status(&cluster.executions("a"), ExecutionStatus::Completed);
        wait_for("the manual run to complete", || completed() == runs).await;
    }
    let confirmations = cluster.raft.confirmations();
    cluster.shutdown().await;

    assert_eq!(receiver.received().len(), 3);
    // One confirmation when the loop starts, one for the first request; the others reuse it.
    assert_eq!(confirmations, 2);
}

#[tokio::test]
async fn stale_confirmation_confirmed_again() {
    let receiver = Receiver::start().await;
    let config = SchedulerConfig {
        leadership_lease: Duration::from_millis(100),
        ..SchedulerConfig::default()
    };
    let cluster = Cluster::start_with(config);
    cluster
        .create(job("a", &receiver.url("/ok"), 60_000, now(), 1))
        .await;
    cluster.raft.set_leader(1, NODE);

    for runs in 1..=2 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        start_manual_run(&cluster, "a").await;
        let completed = || count_status(&cluster.executions("a"), ExecutionStatus::Completed);
        wait_for("the manual run to complete", || completed() == runs).await;
    }
    let confirmations = cluster.raft.confirmations();
    cluster.shutdown().await;

    assert_eq!(receiver.received().len(), 2);
    assert_eq!(confirmations, 3);
}

#[tokio::test]
async fn cut_off_leader_sends_nothing() {
    let receiver = Receiver::start().await;
    let config = SchedulerConfig {
        leadership_lease: Duration::from_millis(200),
        restart_delay: Duration::from_millis(100),
        ..SchedulerConfig::default()
    };
    let cluster = Cluster::start_with(config);
    cluster
        .create(job("a", &receiver.url("/ok"), 60_000, now(), 1))
        .await;
    cluster.lead(1).await;
    start_manual_run(&cluster, "a").await;
    wait_for("a first request", || receiver.received().len() == 1).await;

    // The metrics still show this node leading, as on a leader resumed after SIGSTOP, but no
    // quorum confirms it any more, and its last confirmation grows stale.
    cluster.raft.set_cut_off(true);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let unsent = start_manual_run(&cluster, "a").await;
    tokio::time::sleep(Duration::from_millis(1000)).await;

    assert_eq!(receiver.received().len(), 1);
    let stored = cluster.execution("a", &unsent.id);
    assert_eq!(stored.status, ExecutionStatus::Running);

    // Once a quorum confirms again, a new loop of the same term sends the attempt. The new loop
    // cannot know that the old one never sent it, so it counts it as in doubt: attempt 2.
    cluster.raft.set_cut_off(false);
    let completed = || cluster.execution("a", &unsent.id).status == ExecutionStatus::Completed;
    wait_for("the held attempt to complete", completed).await;
    cluster.shutdown().await;

    let received = receiver.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[1].header("idempotency-key"), unsent.id);
    assert_eq!(received[1].header("x-raftcron-attempt"), "2");
    assert_eq!(received[1].header("x-raftcron-node-id"), NODE.to_string());
}

#[tokio::test]
async fn ended_execution_request_aborted() {
    let receiver = Receiver::start().await;
    let cluster = Cluster::start();
    let hanging = job_with_timeout("a", &receiver.url("/hang"), 60_000, now(), 1, 30_000);
    cluster.create(hanging).await;
    cluster.lead(1).await;
    let running = start_manual_run(&cluster, "a").await;
    wait_for("the request", || receiver.received().len() == 1).await;

    // The state machine ends the execution while its request is in flight, as REPLACE does.
    let replaced = Outcome {
        execution_id: running.id.clone(),
        attempt: 1,
        finished_at: now(),
        result: OutcomeResult::Failure {
            status_code: None,
            body: None,
            error: "replaced by a newer execution".to_string(),
            retryable: false,
        },
        jitter_sample: 0,
    };
    let outcomes = Command::RecordOutcomes {
        outcomes: vec![replaced],
    };
    cluster.raft.apply(1, outcomes).await;

    // The receiver records the client leaving long before the 30 s request timeout.
    wait_for("the request to be aborted", || receiver.abandoned() == 1).await;
    cluster.shutdown().await;
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn manual_and_retried_attempts_time_out() {
    let receiver = Receiver::start().await;
    let cluster = Cluster::start();
    let hanging = job_with_timeout("a", &receiver.url("/hang"), 60_000, now(), 2, 300);
    cluster.create(hanging).await;
    cluster.lead(1).await;

    let manual = start_manual_run(&cluster, "a").await;
    let failed = || cluster.execution("a", &manual.id).status == ExecutionStatus::Failed;
    wait_for("both attempts to time out", failed).await;
    let stored = cluster.execution("a", &manual.id);
    cluster.shutdown().await;

    assert_eq!(stored.attempt_count, 2);
    let url = receiver.url("/hang");
    let expected = format!("POST {url}: timed out after 300 ms");
    assert_eq!(stored.error.as_deref(), Some(expected.as_str()));
    let attempts: Vec<String> = receiver
        .received()
        .iter()
        .map(|request| request.header("x-raftcron-attempt"))
        .collect();
    assert_eq!(attempts, vec!["1", "2"]);
}

/// Restarts failed leader loops after 10 ms, and gives up on a leadership confirmation after
/// 100 ms.
fn fast_restarts() -> SchedulerConfig {
    SchedulerConfig {
        restart_delay: Duration::from_millis(10),
        proposal_timeout: Duration::from_millis(100),
        ..SchedulerConfig::default()
    }
}

#[tokio::test]
async fn storage_failures_shut_down_raft() {
    let receiver = Receiver::start().await;
    let cluster = Cluster::start_with(fast_restarts());
    let hourly = job("damaged", &receiver.url("/ok"), 3_600_000, now(), 1);
    cluster.create(hourly).await;
    cluster.corrupt_job("damaged");

    cluster.raft.set_leader(1, NODE);
    wait_for("raft shut down", || cluster.raft.shutdowns() > 0).await;

    let health = cluster.health();
    assert_eq!(cluster.raft.shutdowns(), 1);
    assert_eq!(health.consecutive_failures, FAILURES_BEFORE_FAILING);
    assert!(health.is_failing());
    assert!(!health.loop_running);
    let last_error = health.last_error.unwrap_or_default();
    assert!(
        last_error.contains("stored job has format version 3"),
        "{last_error}"
    );
    assert!(receiver.received().is_empty());
    cluster.shutdown().await;
}

#[tokio::test]
async fn unconfirmed_leadership_fails_without_shutdown() {
    let cluster = Cluster::start_with(fast_restarts());
    cluster.raft.set_cut_off(true);

    cluster.raft.set_leader(1, NODE);
    wait_for("the scheduler to report failing", || {
        cluster.health().is_failing()
    })
    .await;
    let failing = cluster.health();
    cluster.raft.set_cut_off(false);
    cluster.lead(1).await;

    assert_eq!(failing.term, Some(1));
    let last_error = failing.last_error.unwrap_or_default();
    assert!(last_error.contains("not confirmed"), "{last_error}");
    assert_eq!(cluster.raft.shutdowns(), 0);
    assert!(cluster.health().loop_running);
    cluster.shutdown().await;
}

#[tokio::test]
async fn health_cleared_when_leadership_lost() {
    let cluster = Cluster::start_with(fast_restarts());
    cluster.raft.set_cut_off(true);
    cluster.raft.set_leader(1, NODE);
    wait_for("a failed leader loop", || {
        cluster.health().consecutive_failures > 0
    })
    .await;

    cluster.raft.set_leader(2, 2);
    wait_for("the health to be cleared", || {
        cluster.health() == SchedulerHealth::default()
    })
    .await;

    assert_eq!(cluster.raft.shutdowns(), 0);
    cluster.shutdown().await;
}
