//! A one-node stand-in for the cluster over a real store, for tests of the API layers.
//!
//! Only consensus is replaced. Each write becomes the next log entry of term 1 and is applied at
//! once by the real state machine (`store::apply`) to a sled store in a temporary directory, and
//! reads go to that store's real [`StateReader`]. Leadership and the reported cluster status are
//! settings the tests change.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use openraft::storage::RaftStateMachine;
use openraft::{CommittedLeaderId, EntryPayload};
use tempfile::TempDir;
use tokio::sync::watch;

use crate::model::{
    Cause, Command, Execution, ExecutionStatus, FireDecision, FireIntent, Intent, Outcome,
    OutcomeResult, Response, Timestamp,
};
use crate::raft::{ClusterError, ClusterStatus, MemberStatus};
use crate::raft_types::{LogId, NodeId, TypeConfig};
use crate::scheduler::SchedulerHealth;
use crate::store::{StateMachineStore, StateReader, StoreConfig};

use super::backend::Cluster;
use super::service::{ApiService, Clock};

/// 2026-01-01T00:00:00Z, the fixture clock's start.
pub const START: Timestamp = Timestamp(1_767_225_600_000);

/// The node the fixture serves as, the leader in [`TestCluster`]'s initial status.
const NODE_ID: NodeId = 1;

/// The term of every entry the stand-in applies.
const TERM: u64 = 1;

/// A service over a fresh store, with a clock that tests move by storing milliseconds.
pub struct Fixture {
    pub api: ApiService,
    pub cluster: Arc<TestCluster>,
    pub clock: Arc<AtomicI64>,
    /// The scheduler health the service reports; it starts as a scheduler of term 1 that has
    /// not failed.
    pub scheduler: watch::Sender<SchedulerHealth>,
}

impl Fixture {
    pub fn new() -> Self {
        let cluster = Arc::new(TestCluster::open());
        let clock = Arc::new(AtomicI64::new(START.0));
        let reader = Arc::clone(&clock);
        let clock_fn: Clock = Arc::new(move || Timestamp(reader.load(Ordering::SeqCst)));
        let state = Arc::new(cluster.reader.clone());
        let running = SchedulerHealth {
            term: Some(TERM),
            loop_running: true,
            ..SchedulerHealth::default()
        };
        let (scheduler, health) = watch::channel(running);
        let api = ApiService::with_backends(cluster.clone(), state, clock_fn)
            .with_scheduler_health(health);
        Fixture {
            api,
            cluster,
            clock,
            scheduler,
        }
    }

    /// Moves the clock forward by `millis`.
    pub fn advance(&self, millis: i64) {
        self.clock.fetch_add(millis, Ordering::SeqCst);
    }
}

/// The stand-in's Raft log: the state machine and the index of the last applied entry.
struct AppliedLog {
    state_machine: StateMachineStore,
    last_index: u64,
}

impl AppliedLog {
    /// Applies `command` as the next entry of [`TERM`] and returns the state machine's response.
    ///
    /// A storage error becomes [`ClusterError::Fatal`], because Raft stops on one.
    async fn apply(&mut self, command: Command) -> Result<Response, ClusterError> {
        self.last_index += 1;
        let entry = openraft::Entry::<TypeConfig> {
            log_id: LogId::new(CommittedLeaderId::new(TERM, NODE_ID), self.last_index),
            payload: EntryPayload::Normal(command),
        };
        let mut responses = self
            .state_machine
            .apply([entry])
            .await
            .map_err(|error| ClusterError::Fatal(error.to_string()))?;
        Ok(responses.remove(0))
    }
}

/// The cluster as node 1 alone, leading term 1 and applying each write at once to a real store.
pub struct TestCluster {
    log: tokio::sync::Mutex<AppliedLog>,
    reader: StateReader,
    /// When set, writes and read barriers fail with no leader.
    pub no_leader: AtomicBool,
    /// The status that [`Cluster::status`] returns. It does not follow the applied entries.
    pub status: Mutex<ClusterStatus>,
    /// Every command written through [`Cluster::write`] while a leader was set, in order.
    pub written: Mutex<Vec<Command>>,
    /// Declared last so the state machine closes before the directory is removed.
    _dir: TempDir,
}

impl TestCluster {
    fn open() -> Self {
        let dir = tempfile::tempdir().expect("create temporary directory");
        let config = StoreConfig {
            cache_capacity_bytes: 8 * 1024 * 1024,
            fsync: false,
            node_id: None,
        };
        let (_log_store, state_machine, reader) =
            crate::store::open(dir.path(), &config).expect("open store in temporary directory");
        let log = AppliedLog {
            state_machine,
            last_index: 0,
        };
        TestCluster {
            log: tokio::sync::Mutex::new(log),
            reader,
            no_leader: AtomicBool::new(false),
            status: Mutex::new(initial_status()),
            written: Mutex::new(Vec::new()),
            _dir: dir,
        }
    }

    /// Records a FAILED execution of `job_id` scheduled at `at`, as the scheduler would: a
    /// schedule fire, then a first attempt that could not connect and is not retryable.
    ///
    /// The commands bypass `written` and `no_leader`. Panics unless the job exists and is
    /// ACTIVE.
    pub async fn record_failed_execution(&self, job_id: &str, at: Timestamp) -> Execution {
        let job = self.reader.get_job(job_id).unwrap().expect("job exists");
        let fire = FireIntent {
            job_revision: None,
            job_id: job_id.to_string(),
            scheduled_time: at,
            cause: Cause::Schedule,
            decided_at: at,
            next_execution_time: job.next_execution_time,
            retry_of: None,
            caught_up: false,
            force: false,
            request_key: None,
        };
        let execution_id = self.apply_fire(fire).await.id;

        let outcome = Outcome {
            execution_id: execution_id.clone(),
            attempt: 1,
            finished_at: at.plus_millis(1500),
            // Without a status code, `retryable` alone decides whether the attempt is retried.
            result: OutcomeResult::Failure {
                status_code: None,
                body: None,
                error: "connection refused".to_string(),
                retryable: false,
            },
            jitter_sample: 0,
        };
        let command = Command::RecordOutcomes {
            outcomes: vec![outcome],
        };
        let response = self.log.lock().await.apply(command).await.unwrap();
        assert_eq!(response, Response::Outcomes { applied: 1 });

        let execution = self.reader.get_execution(&execution_id).unwrap();
        let execution = execution.expect("recorded execution is stored");
        assert_eq!(execution.status, ExecutionStatus::Failed);
        execution
    }

    /// Applies one fire intent directly and returns the execution it started.
    async fn apply_fire(&self, fire: FireIntent) -> Execution {
        let command = Command::RecordFires {
            intents: vec![Intent::Fire(fire)],
        };
        let response = self.log.lock().await.apply(command).await.unwrap();
        let Response::Fires(decisions) = response else {
            panic!("expected a Fires response, got {response:?}");
        };
        match <[FireDecision; 1]>::try_from(decisions) {
            Ok([FireDecision::Accepted(execution)]) => execution,
            other => panic!("expected one accepted fire, got {other:?}"),
        }
    }

    fn check_leader(&self) -> Result<(), ClusterError> {
        if self.no_leader.load(Ordering::SeqCst) {
            return Err(ClusterError::NoLeader { waited_ms: 2000 });
        }
        Ok(())
    }
}

/// Returns the status of a two-node cluster in which node 1 leads, has applied its log and
/// got a reply from node 2 40 ms ago.
fn initial_status() -> ClusterStatus {
    let member = |id: u64, role: &str, last_contact_ms: Option<u64>| MemberStatus {
        id,
        role: role.to_string(),
        client_addr: format!("127.0.0.1:700{id}"),
        peer_addr: format!("127.0.0.1:710{id}"),
        reachable: Some(true),
        last_contact_ms,
        last_error: None,
    };
    ClusterStatus {
        node_id: NODE_ID,
        leader_id: Some(NODE_ID),
        term: TERM,
        commit_index: 42,
        applied_index: 42,
        last_log_index: 42,
        snapshot_index: 0,
        quorum_ok: true,
        raft_running: true,
        members: vec![member(1, "LEADER", None), member(2, "FOLLOWER", Some(40))],
    }
}

#[async_trait]
impl Cluster for TestCluster {
    async fn write(&self, command: Command) -> Result<Response, ClusterError> {
        self.check_leader()?;
        // The log lock is held while recording, so `written` has the order of the log.
        let mut log = self.log.lock().await;
        self.written.lock().unwrap().push(command.clone());
        log.apply(command).await
    }

    /// Returns at once when a leader is set, because `write` applies each command before it
    /// returns.
    async fn read_barrier(&self) -> Result<(), ClusterError> {
        self.check_leader()
    }

    fn status(&self) -> ClusterStatus {
        self.status.lock().unwrap().clone()
    }
}

/// Serves `router(api)` on a fresh 127.0.0.1 port; the task ends when the runtime does.
pub async fn serve(api: ApiService) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = axum::serve(listener, super::router(api));
    tokio::spawn(async move { server.await.unwrap() });
    address
}
