//! Builders shared by the store's unit tests.

use std::collections::BTreeMap;

use openraft::{CommittedLeaderId, EntryPayload};
use tempfile::TempDir;

use super::{LogStore, StateMachineStore, StateReader, StoreConfig};
use crate::model::{
    Backoff, Cause, Command, Execution, ExecutionStatus, HttpTrigger, Job, JobSpec, JobStatus,
    RetryStrategy, Timestamp, Trigger,
};
use crate::raft_types::{LogId, TypeConfig};

/// A store opened in its own temporary directory, removed on drop.
pub(crate) struct TestStore {
    pub(crate) log: LogStore,
    pub(crate) state_machine: StateMachineStore,
    pub(crate) reader: StateReader,
    /// Declared last so the handles close before the directory is removed.
    pub(crate) dir: TempDir,
}

pub(crate) fn open_temp_store() -> TestStore {
    let dir = tempfile::tempdir().expect("create temporary directory");
    let (log, state_machine, reader) =
        super::open(dir.path(), &test_config()).expect("open store in temporary directory");
    TestStore {
        log,
        state_machine,
        reader,
        dir,
    }
}

/// Builds a snapshot of the state `store` has applied.
pub(crate) async fn build_snapshot(
    store: &mut TestStore,
) -> openraft::storage::Snapshot<TypeConfig> {
    use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
    let mut builder = store.state_machine.get_snapshot_builder().await;
    builder.build_snapshot().await.expect("build snapshot")
}

/// Installs the bytes of `snapshot` on `store` under `meta`, as a follower receives them.
pub(crate) async fn install_snapshot(
    store: &mut TestStore,
    meta: &openraft::SnapshotMeta<crate::raft_types::NodeId, crate::raft_types::NodeInfo>,
    snapshot: &openraft::storage::Snapshot<TypeConfig>,
) -> Result<(), crate::raft_types::StorageError> {
    use openraft::storage::RaftStateMachine;
    let mut received = store.state_machine.begin_receiving_snapshot().await?;
    *received = *snapshot.snapshot.clone();
    store.state_machine.install_snapshot(meta, received).await
}

/// Returns a config with a small cache and `fsync` on, as in production.
pub(crate) fn test_config() -> StoreConfig {
    StoreConfig {
        cache_capacity_bytes: 8 * 1024 * 1024,
        fsync: true,
        node_id: None,
    }
}

pub(crate) fn log_id(term: u64, index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

pub(crate) fn command_entry(
    term: u64,
    index: u64,
    command: Command,
) -> openraft::Entry<TypeConfig> {
    openraft::Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(command),
    }
}

pub(crate) fn spec(schedule: &str) -> JobSpec {
    JobSpec {
        policies: crate::model::JobPolicies::default(),
        name: "nightly report".to_string(),
        description: String::new(),
        schedule: schedule.to_string(),
        time_zone: "UTC".to_string(),
        trigger: Trigger::Http(HttpTrigger {
            url: "http://127.0.0.1:9/report".to_string(),
            method: "POST".to_string(),
            headers: BTreeMap::new(),
            body: None,
            timeout_ms: 1_000,
        }),
        retry: RetryStrategy {
            jitter_permille: 0,
            max_interval_ms: None,
            retry_on: None,
            attempts: 3,
            backoff: Backoff::Exponential,
            interval_ms: 1_000,
        },
        tags: vec!["reports".to_string()],
    }
}

pub(crate) fn job(id: &str) -> Job {
    Job {
        revision: 0,
        pruned_through: None,
        stats: crate::model::JobStats::default(),
        id: id.to_string(),
        spec: spec("0 0 * * *"),
        status: JobStatus::Active,
        anchor: Timestamp(1_000),
        last_execution_time: None,
        next_execution_time: Some(Timestamp(86_400_000)),
        created_at: Timestamp(1_000),
        updated_at: Timestamp(1_000),
    }
}

pub(crate) fn execution(job_id: &str, scheduled_ms: i64) -> Execution {
    let scheduled_time = Timestamp(scheduled_ms);
    Execution {
        redispatches: 0,
        id: Execution::derive_id(job_id, scheduled_time, Cause::Schedule),
        job_id: job_id.to_string(),
        scheduled_time,
        start_time: scheduled_time,
        end_time: None,
        status: ExecutionStatus::Running,
        attempt_count: 1,
        next_retry_time: None,
        result: None,
        error: None,
        cause: Cause::Schedule,
        retry_of: None,
        attempt_term: 1,
        attempt_index: 1,
    }
}
