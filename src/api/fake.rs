//! An in-memory stand-in for the cluster and its state, for tests of the API layers.
//!
//! It applies commands with only the rules the API depends on: ids must exist, a retry needs a
//! FAILED execution, and execution ids are derived. The full rules are in `store::apply`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::model::{
    Cause, Command, Execution, ExecutionStatus, FireDecision, FireIntent, Intent, Job, JobStatus,
    Rejection, Response, SkipReason, Timestamp,
};
use crate::raft::{ClusterError, ClusterStatus, MemberStatus};
use crate::store::{JobFilter, Page, Paged, StoreError};

use super::backend::{Cluster, StateView};
use super::service::{ApiService, Clock};

/// 2026-01-01T00:00:00Z, the fake clock's start.
pub const START: Timestamp = Timestamp(1_767_225_600_000);

#[derive(Default)]
struct FakeState {
    jobs: BTreeMap<String, Job>,
    executions: BTreeMap<String, Execution>,
    log_index: u64,
}

/// The fake cluster; it is also the state reader.
pub struct FakeCluster {
    state: Mutex<FakeState>,
    /// When set, writes and read barriers fail with no leader.
    pub no_leader: std::sync::atomic::AtomicBool,
    pub status: Mutex<ClusterStatus>,
    /// Every command written, in order.
    pub written: Mutex<Vec<Command>>,
}

/// A service over a fresh fake, with a clock that tests move by storing milliseconds.
pub struct Fixture {
    pub api: ApiService,
    pub cluster: Arc<FakeCluster>,
    pub clock: Arc<AtomicI64>,
}

impl Fixture {
    pub fn new() -> Self {
        let cluster = Arc::new(FakeCluster::new());
        let clock = Arc::new(AtomicI64::new(START.0));
        let reader = Arc::clone(&clock);
        let clock_fn: Clock = Arc::new(move || Timestamp(reader.load(Ordering::SeqCst)));
        let api = ApiService::with_backends(cluster.clone(), cluster.clone(), clock_fn);
        Fixture {
            api,
            cluster,
            clock,
        }
    }

    /// Moves the clock forward by `millis`.
    pub fn advance(&self, millis: i64) {
        self.clock.fetch_add(millis, Ordering::SeqCst);
    }
}

impl FakeCluster {
    fn new() -> Self {
        let member = |id: u64, role: &str| MemberStatus {
            id,
            role: role.to_string(),
            client_addr: format!("127.0.0.1:700{id}"),
            peer_addr: format!("127.0.0.1:710{id}"),
        };
        FakeCluster {
            state: Mutex::new(FakeState::default()),
            no_leader: Default::default(),
            status: Mutex::new(ClusterStatus {
                node_id: 1,
                leader_id: Some(1),
                term: 3,
                commit_index: 42,
                applied_index: 42,
                last_log_index: 42,
                snapshot_index: 0,
                members: vec![member(1, "LEADER"), member(2, "FOLLOWER")],
            }),
            written: Mutex::new(Vec::new()),
        }
    }

    /// Stores an execution directly, as if the scheduler had recorded it.
    pub fn insert_execution(&self, execution: Execution) {
        let mut state = self.state.lock().unwrap();
        state.executions.insert(execution.id.clone(), execution);
    }

    fn check_leader(&self) -> Result<(), ClusterError> {
        if self.no_leader.load(Ordering::SeqCst) {
            return Err(ClusterError::NoLeader { waited_ms: 2000 });
        }
        Ok(())
    }
}

#[async_trait]
impl Cluster for FakeCluster {
    async fn write(&self, command: Command) -> Result<Response, ClusterError> {
        self.check_leader()?;
        self.written.lock().unwrap().push(command.clone());
        let mut state = self.state.lock().unwrap();
        state.log_index += 1;
        Ok(state.apply(command))
    }

    async fn read_barrier(&self) -> Result<(), ClusterError> {
        self.check_leader()
    }

    fn status(&self) -> ClusterStatus {
        self.status.lock().unwrap().clone()
    }
}

impl StateView for FakeCluster {
    fn get_job(&self, id: &str) -> Result<Option<Job>, StoreError> {
        Ok(self.state.lock().unwrap().jobs.get(id).cloned())
    }

    fn list_jobs(&self, filter: &JobFilter, page: Page) -> Result<Paged<Job>, StoreError> {
        let state = self.state.lock().unwrap();
        let matching = state.jobs.values().filter(|job| {
            filter.status.is_none_or(|status| job.status == status)
                && filter.tags.iter().all(|tag| job.spec.tags.contains(tag))
        });
        Ok(paginate(matching.cloned().collect(), page))
    }

    fn get_execution(&self, id: &str) -> Result<Option<Execution>, StoreError> {
        Ok(self.state.lock().unwrap().executions.get(id).cloned())
    }

    fn list_executions(
        &self,
        job_id: &str,
        status: Option<ExecutionStatus>,
        page: Page,
    ) -> Result<Paged<Execution>, StoreError> {
        let state = self.state.lock().unwrap();
        let mut matching: Vec<Execution> = state
            .executions
            .values()
            .filter(|execution| execution.job_id == job_id)
            .filter(|execution| status.is_none_or(|status| execution.status == status))
            .cloned()
            .collect();
        matching.sort_by_key(|execution| std::cmp::Reverse(execution.scheduled_time));
        Ok(paginate(matching, page))
    }
}

fn paginate<T>(items: Vec<T>, page: Page) -> Paged<T> {
    let total = items.len() as u64;
    let skip = (page.page as usize - 1) * page.limit as usize;
    let items = items
        .into_iter()
        .skip(skip)
        .take(page.limit as usize)
        .collect();
    Paged { items, total }
}

fn job_not_found(id: &str) -> Response {
    Response::Rejected(Rejection::NotFound {
        field: "id".to_string(),
        value: id.to_string(),
    })
}

impl FakeState {
    fn apply(&mut self, command: Command) -> Response {
        match command {
            Command::CreateJob { job } => self.create(job),
            Command::UpdateJob {
                id,
                spec,
                status,
                next_execution_time,
                now,
            } => self.change(&id, |job| {
                job.status = status.unwrap_or(job.status);
                job.spec = spec;
                job.next_execution_time = next_execution_time;
                job.updated_at = now;
            }),
            Command::PauseJob { id, now } => self.change(&id, |job| {
                job.status = JobStatus::Paused;
                job.next_execution_time = None;
                job.updated_at = now;
            }),
            Command::ResumeJob {
                id,
                next_execution_time,
                now,
            } => self.change(&id, |job| {
                job.status = JobStatus::Active;
                job.next_execution_time = next_execution_time;
                job.anchor = now;
                job.updated_at = now;
            }),
            Command::DeleteJob { id } => self.delete(id),
            Command::RecordFires { intents } => {
                let decisions = intents.into_iter().map(|intent| self.fire(intent));
                Response::Fires(decisions.collect())
            }
            Command::RecordOutcomes { .. } => Response::Outcomes { applied: 0 },
        }
    }

    fn create(&mut self, job: Job) -> Response {
        if self.jobs.contains_key(&job.id) {
            return Response::Rejected(Rejection::AlreadyExists {
                field: "id".to_string(),
                value: job.id,
            });
        }
        self.jobs.insert(job.id.clone(), job.clone());
        Response::Job(Box::new(job))
    }

    fn change(&mut self, id: &str, edit: impl FnOnce(&mut Job)) -> Response {
        match self.jobs.get_mut(id) {
            Some(job) => {
                edit(job);
                Response::Job(Box::new(job.clone()))
            }
            None => job_not_found(id),
        }
    }

    fn delete(&mut self, id: String) -> Response {
        if self.jobs.remove(&id).is_none() {
            return job_not_found(&id);
        }
        self.executions
            .retain(|_, execution| execution.job_id != id);
        Response::Deleted(id)
    }

    fn fire(&mut self, intent: Intent) -> FireDecision {
        let Intent::Fire(intent) = intent else {
            panic!("the API proposes only Fire intents");
        };
        if !self.jobs.contains_key(&intent.job_id) {
            let reason = SkipReason::JobNotFound(intent.job_id);
            return FireDecision::Skipped { reason };
        }
        if let Some(retried) = &intent.retry_of {
            let failed = self
                .executions
                .get(retried)
                .map(|execution| execution.status);
            if failed != Some(ExecutionStatus::Failed) {
                let reason = SkipReason::NotRetryable(retried.clone());
                return FireDecision::Skipped { reason };
            }
        }
        let id = Execution::derive_id(&intent.job_id, intent.scheduled_time, intent.cause);
        if self.executions.contains_key(&id) {
            return FireDecision::Duplicate(id);
        }
        let execution = running_execution(id, intent, self.log_index);
        self.executions
            .insert(execution.id.clone(), execution.clone());
        FireDecision::Accepted(execution)
    }
}

fn running_execution(id: String, intent: FireIntent, log_index: u64) -> Execution {
    Execution {
        redispatches: 0,
        id,
        job_id: intent.job_id,
        scheduled_time: intent.scheduled_time,
        start_time: intent.decided_at,
        end_time: None,
        status: ExecutionStatus::Running,
        attempt_count: 1,
        next_retry_time: None,
        result: None,
        error: None,
        cause: intent.cause,
        retry_of: intent.retry_of,
        attempt_term: 3,
        attempt_index: log_index,
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

/// Builds a FAILED execution of `job_id`, scheduled at `at`.
pub fn failed_execution(job_id: &str, at: Timestamp) -> Execution {
    let intent = FireIntent {
        caught_up: false,
        force: false,
        job_id: job_id.to_string(),
        scheduled_time: at,
        cause: Cause::Schedule,
        decided_at: at,
        next_execution_time: None,
        retry_of: None,
    };
    let id = Execution::derive_id(job_id, at, Cause::Schedule);
    let mut execution = running_execution(id, intent, 7);
    execution.status = ExecutionStatus::Failed;
    execution.end_time = Some(at.plus_millis(1500));
    execution.error = Some("target returned 503".to_string());
    execution
}
