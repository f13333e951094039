//! Tests of the store as openraft uses it: openraft's storage suite on disk and in memory,
//! recovery after reopening the directory and snapshots. The `fsync` cost is measured by `benches/store_append.rs`.

use std::collections::BTreeSet;
use std::path::Path;

use openraft::storage::{RaftLogStorage, RaftLogStorageExt, RaftStateMachine};
use openraft::testing::{StoreBuilder, Suite};
use openraft::{
    EntryPayload, ErrorSubject, ErrorVerb, Membership, RaftLogReader, RaftSnapshotBuilder, Vote,
};
use tempfile::TempDir;

use super::test_support::{
    TestStore, build_snapshot, command_entry, install_snapshot, job, log_id, open_temp_store,
    test_config,
};
use super::{
    LogStore, MemoryDisk, StateEvent, StateMachineStore, StateReader, StoreConfig, StoreError,
};
use crate::model::{Cause, Command, FireIntent, Intent, Timestamp};
use crate::raft_types::{StorageError, TypeConfig};

type Entry = openraft::Entry<TypeConfig>;

/// Opens a fresh store in a temporary directory for each of openraft's suite tests.
struct TempDirStoreBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, TempDir> for TempDirStoreBuilder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachineStore), StorageError> {
        let dir = tempfile::tempdir().expect("create temporary directory");
        let (log, state_machine, _reader) = super::open(dir.path(), &test_config())
            .map_err(|error| error.into_storage_error(ErrorSubject::Store, ErrorVerb::Read))?;
        Ok((dir, log, state_machine))
    }
}

/// openraft's own checks of a `RaftLogStorage` and `RaftStateMachine` pair. The suite starts
/// its own tokio runtime for each case, so this is a plain test.
#[test]
fn openraft_storage_suite() {
    Suite::test_all(TempDirStoreBuilder).unwrap();
}

/// Opens a fresh memory store for each of openraft's suite tests.
struct MemoryStoreBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, MemoryDisk> for MemoryStoreBuilder {
    async fn build(&self) -> Result<(MemoryDisk, LogStore, StateMachineStore), StorageError> {
        let to_storage_error =
            |error: StoreError| error.into_storage_error(ErrorSubject::Store, ErrorVerb::Read);
        let disk = MemoryDisk::new().map_err(to_storage_error)?;
        let (log, state_machine, _reader) = disk.open().map_err(to_storage_error)?;
        Ok((disk, log, state_machine))
    }
}

/// The memory store of the simulation passes the same suite as the store on disk.
#[test]
fn openraft_storage_suite_in_memory() {
    Suite::test_all(MemoryStoreBuilder).unwrap();
}

/// Opens `dir` as a plain sled database without a flusher thread, so that dropping it releases
/// the directory's lock at once and the store can open it next.
fn raw_sled(dir: &Path) -> sled::Db {
    sled::Config::new()
        .path(dir)
        .flush_every_ms(None)
        .open()
        .unwrap()
}

/// Writes `entries` into the `raft_meta` tree of a new sled directory, as another build would.
fn write_raft_meta(dir: &Path, entries: &[(&[u8], &[u8])]) {
    let db = raw_sled(dir);
    let meta = db.open_tree(super::keys::RAFT_META_TREE).unwrap();
    for (key, value) in entries {
        meta.insert(key, *value).unwrap();
    }
    db.flush().unwrap();
}

/// Opens the store in `dir` with `config` and returns the error it fails with.
fn open_error(dir: &Path, config: &StoreConfig) -> StoreError {
    match super::open(dir, config) {
        Ok(_) => panic!("store in {} opened", dir.display()),
        Err(error) => error,
    }
}

fn open_in(dir: &Path) -> (LogStore, StateMachineStore, StateReader) {
    super::open(dir, &test_config()).expect("open store")
}

fn membership_entry(index: u64) -> Entry {
    let voters: BTreeSet<u64> = [1, 2, 3].into();
    Entry {
        log_id: log_id(1, index),
        payload: EntryPayload::Membership(Membership::new(vec![voters], ())),
    }
}

fn fire_entry(index: u64, job_id: &str, scheduled_ms: i64) -> Entry {
    let intent = Intent::Fire(FireIntent {
        job_revision: None,
        caught_up: false,
        force: false,
        job_id: job_id.to_string(),
        scheduled_time: Timestamp(scheduled_ms),
        cause: Cause::Schedule,
        decided_at: Timestamp(scheduled_ms),
        next_execution_time: Some(Timestamp(scheduled_ms + 60_000)),
        retry_of: None,
        request_key: None,
    });
    command_entry(
        1,
        index,
        Command::RecordFires {
            intents: vec![intent],
        },
    )
}

/// Entries 1..=4: membership, two jobs, one fire of `job-a`.
fn first_entries() -> Vec<Entry> {
    vec![
        membership_entry(1),
        command_entry(1, 2, Command::CreateJob { job: job("job-a") }),
        command_entry(1, 3, Command::CreateJob { job: job("job-b") }),
        fire_entry(4, "job-a", 60_000),
    ]
}

/// Appends and applies `entries`, as a node that commits them would.
async fn append_and_apply(
    log: &mut LogStore,
    state_machine: &mut StateMachineStore,
    entries: Vec<Entry>,
) {
    log.blocking_append(entries.clone()).await.unwrap();
    state_machine.apply(entries).await.unwrap();
}

#[tokio::test]
async fn reopen_recovers_vote_log_and_state() {
    let dir = tempfile::tempdir().unwrap();
    let vote = Vote::new_committed(4, 2);
    let digest;
    {
        let (mut log, mut state_machine, reader) = open_in(dir.path());
        log.save_vote(&vote).await.unwrap();
        append_and_apply(&mut log, &mut state_machine, first_entries()).await;
        log.save_committed(Some(log_id(1, 4))).await.unwrap();
        digest = reader.state_digest().unwrap();
    }

    let (mut log, mut state_machine, reader) = open_in(dir.path());

    assert_eq!(log.read_vote().await.unwrap(), Some(vote));
    assert_eq!(log.read_committed().await.unwrap(), Some(log_id(1, 4)));
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_log_id, Some(log_id(1, 4)));
    assert_eq!(state.last_purged_log_id, None);
    let entries = log.try_get_log_entries(1..5).await.unwrap();
    let indexes: Vec<u64> = entries.iter().map(|e| e.log_id.index).collect();
    assert_eq!(indexes, vec![1, 2, 3, 4]);

    let (last_applied, membership) = state_machine.applied_state().await.unwrap();
    assert_eq!(last_applied, Some(log_id(1, 4)));
    assert_eq!(membership.log_id(), &Some(log_id(1, 1)));
    assert_eq!(reader.last_applied().unwrap(), Some(log_id(1, 4)));
    assert!(reader.get_job("job-b").unwrap().is_some());
    assert_eq!(reader.open_executions().unwrap().len(), 1);
    assert_eq!(reader.state_digest().unwrap(), digest);
}

#[tokio::test]
async fn memory_store_reopen_keeps_state() {
    let disk = MemoryDisk::new().unwrap();
    let vote = Vote::new_committed(4, 2);
    let digest;
    {
        let (mut log, mut state_machine, reader) = disk.open().unwrap();
        log.save_vote(&vote).await.unwrap();
        append_and_apply(&mut log, &mut state_machine, first_entries()).await;
        digest = reader.state_digest().unwrap();
    }

    let (mut log, _state_machine, reader) = disk.open().unwrap();

    assert_eq!(log.read_vote().await.unwrap(), Some(vote));
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_log_id, Some(log_id(1, 4)));
    assert_eq!(reader.last_applied().unwrap(), Some(log_id(1, 4)));
    assert_eq!(reader.state_digest().unwrap(), digest);
}

#[tokio::test]
async fn reopen_recovers_purge_and_truncate() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut log, mut state_machine, _reader) = open_in(dir.path());
        append_and_apply(&mut log, &mut state_machine, first_entries()).await;
        log.purge(log_id(1, 2)).await.unwrap();
        log.truncate(log_id(1, 4)).await.unwrap();
    }

    let (mut log, _state_machine, _reader) = open_in(dir.path());

    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 2)));
    assert_eq!(state.last_log_id, Some(log_id(1, 3)));
    let entries = log.try_get_log_entries(..).await.unwrap();
    let indexes: Vec<u64> = entries.iter().map(|e| e.log_id.index).collect();
    assert_eq!(indexes, vec![3]);
}

#[tokio::test]
async fn reopen_serves_stored_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let built;
    {
        let (mut log, mut state_machine, _reader) = open_in(dir.path());
        append_and_apply(&mut log, &mut state_machine, first_entries()).await;
        let mut builder = state_machine.get_snapshot_builder().await;
        built = builder.build_snapshot().await.unwrap();
    }

    let (_log, mut state_machine, _reader) = open_in(dir.path());

    let current = state_machine.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(current.meta, built.meta);
    assert_eq!(current.snapshot.into_inner(), built.snapshot.into_inner());
}

#[tokio::test]
async fn second_open_of_directory_fails() {
    let store = open_temp_store();
    let error = open_error(store.dir.path(), &test_config());
    assert!(matches!(error, StoreError::Open { .. }), "got {error}");
}

#[tokio::test]
async fn unknown_layout_version_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    write_raft_meta(dir.path(), &[(super::keys::LAYOUT_VERSION_KEY, &[9])]);

    let error = open_error(dir.path(), &test_config());

    assert!(
        matches!(
            error,
            StoreError::UnsupportedLayout {
                found: 9,
                supported: 1,
                ..
            }
        ),
        "got {error}"
    );
}

#[tokio::test]
async fn old_value_format_is_rejected_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let layout = [super::keys::LAYOUT_VERSION];
    write_raft_meta(
        dir.path(),
        &[
            (super::keys::LAYOUT_VERSION_KEY, &layout),
            (super::keys::VOTE_KEY, &[2, 0]),
        ],
    );

    let error = open_error(dir.path(), &test_config());

    assert!(
        matches!(
            error,
            StoreError::UnsupportedDataFormat {
                tree: "raft_meta",
                found: 2,
                ..
            }
        ),
        "got {error}"
    );
    let message = error.to_string();
    assert!(
        message.contains(&dir.path().display().to_string()),
        "{message}"
    );
}

#[tokio::test]
async fn regular_file_is_not_a_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data");
    std::fs::write(&file, b"not a store").unwrap();

    let error = open_error(&file, &test_config());

    assert!(
        matches!(error, StoreError::NotADirectory { .. }),
        "got {error}"
    );
    assert!(
        error.to_string().contains(&file.display().to_string()),
        "{error}"
    );
}

#[tokio::test]
async fn directory_of_other_node_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let as_node = |node_id| StoreConfig {
        node_id,
        ..test_config()
    };
    drop(super::open(dir.path(), &as_node(Some(1))).expect("first open"));
    drop(super::open(dir.path(), &as_node(Some(1))).expect("same node again"));
    drop(super::open(dir.path(), &as_node(None)).expect("no owner check"));

    let error = open_error(dir.path(), &as_node(Some(2)));

    assert!(
        matches!(error, StoreError::WrongOwner { expected: 2, .. }),
        "got {error}"
    );
    let message = error.to_string();
    assert!(message.contains("belongs to node 1"), "{message}");
    assert!(
        message.contains(&dir.path().display().to_string()),
        "{message}"
    );
}

// --- Snapshots

/// Opens a store with the state of `first_entries` plus one more fire of `job-b`.
async fn leader_store() -> TestStore {
    let mut store = open_temp_store();
    let mut entries = first_entries();
    entries.push(fire_entry(5, "job-b", 120_000));
    append_and_apply(&mut store.log, &mut store.state_machine, entries).await;
    store
}

#[tokio::test]
async fn snapshot_install_replaces_state() {
    let mut leader = leader_store().await;
    let snapshot = build_snapshot(&mut leader).await;

    let mut follower = open_temp_store();
    let follower_entries = vec![
        command_entry(1, 1, Command::CreateJob { job: job("stale") }),
        fire_entry(2, "stale", 1_000),
    ];
    append_and_apply(
        &mut follower.log,
        &mut follower.state_machine,
        follower_entries,
    )
    .await;
    let mut events = follower.reader.subscribe();

    install_snapshot(&mut follower, &snapshot.meta, &snapshot)
        .await
        .unwrap();

    let reader = &follower.reader;
    assert_eq!(reader.get_job("stale").unwrap(), None);
    assert!(reader.get_job("job-a").unwrap().is_some());
    assert_eq!(
        reader.state_digest().unwrap(),
        leader.reader.state_digest().unwrap()
    );
    assert_eq!(reader.last_applied().unwrap(), Some(log_id(1, 5)));
    let history = reader
        .list_executions("job-b", None, super::Page { page: 1, limit: 10 })
        .unwrap();
    assert_eq!(history.total, 1, "index rows are rebuilt");
    assert_eq!(
        reader
            .list_executions("stale", None, super::Page { page: 1, limit: 10 })
            .unwrap()
            .total,
        0
    );
    assert_eq!(reader.open_executions().unwrap().len(), 2);
    let (_, membership) = follower.state_machine.applied_state().await.unwrap();
    assert_eq!(membership, snapshot.meta.last_membership);
    let current = follower
        .state_machine
        .get_current_snapshot()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(current.meta, snapshot.meta);
    assert_eq!(events.try_recv().unwrap(), StateEvent::Reset);
}

#[tokio::test]
async fn snapshot_with_wrong_meta_is_rejected() {
    let mut leader = leader_store().await;
    let snapshot = build_snapshot(&mut leader).await;
    let mut follower = open_temp_store();
    let mut meta = snapshot.meta.clone();
    meta.last_log_id = Some(log_id(1, 99));

    let result = install_snapshot(&mut follower, &meta, &snapshot).await;

    assert!(result.is_err());
    assert_eq!(follower.reader.last_applied().unwrap(), None);
    assert!(
        follower
            .state_machine
            .get_current_snapshot()
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn snapshot_reflects_state_when_builder_created() {
    let mut store = open_temp_store();
    append_and_apply(&mut store.log, &mut store.state_machine, first_entries()).await;
    let mut builder = store.state_machine.get_snapshot_builder().await;

    let later = vec![fire_entry(5, "job-b", 120_000)];
    append_and_apply(&mut store.log, &mut store.state_machine, later).await;
    let snapshot = builder.build_snapshot().await.unwrap();

    assert_eq!(snapshot.meta.last_log_id, Some(log_id(1, 4)));
    let mut follower = open_temp_store();
    install_snapshot(&mut follower, &snapshot.meta, &snapshot)
        .await
        .unwrap();
    assert_eq!(
        follower.reader.open_executions().unwrap().len(),
        1,
        "only job-a had fired"
    );
}

#[tokio::test]
async fn late_builder_keeps_newer_snapshot() {
    let mut store = open_temp_store();
    append_and_apply(&mut store.log, &mut store.state_machine, first_entries()).await;
    let mut early = store.state_machine.get_snapshot_builder().await;
    append_and_apply(
        &mut store.log,
        &mut store.state_machine,
        vec![fire_entry(5, "job-b", 1)],
    )
    .await;

    let newer = build_snapshot(&mut store).await;
    let older = early.build_snapshot().await.unwrap();

    assert_eq!(older.meta.last_log_id, Some(log_id(1, 4)));
    let current = store
        .state_machine
        .get_current_snapshot()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(current.meta, newer.meta);
}

#[tokio::test]
async fn builder_used_twice_fails() {
    let mut store = open_temp_store();
    let mut builder = store.state_machine.get_snapshot_builder().await;
    builder.build_snapshot().await.unwrap();
    assert!(builder.build_snapshot().await.is_err());
}
