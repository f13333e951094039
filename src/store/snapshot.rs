//! Snapshots: their format, building one from the state trees, and installing one.
//!
//! Snapshot data is an envelope (see `envelope`) around [`SnapshotPayload`]: the last applied
//! log id, the membership, and every job and execution. Index rows are not part of it, and
//! install rebuilds them. The current snapshot lives in the `snapshot` tree as its metadata and its
//! data, so `get_current_snapshot` and a restarted node serve it without rebuilding.
//!
//! NOTE: `TypeConfig` sets openraft's snapshot data type to `Cursor<Vec<u8>>`, so building or
//! installing a snapshot keeps the whole state in memory, two to three times over while it is
//! encoded or decoded. Execution history is never pruned, so this grows with it.

use std::io::Cursor;
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::{ErrorSubject, ErrorVerb, RaftSnapshotBuilder, Snapshot, SnapshotMeta};
use serde::{Deserialize, Serialize};
use sled::{Batch, IVec};

use super::durability::Durability;
use super::envelope::{decode, encode};
use super::error::StoreError;
use super::keys;
use super::trees::{Membership, StateTrees, StateWrites, TreeWrites};
use crate::model::{Execution, Job};
use crate::raft_types::{LogId, NodeId, NodeInfo, StorageError, TypeConfig};

/// Metadata of a raftcron snapshot.
pub(crate) type Meta = SnapshotMeta<NodeId, NodeInfo>;

/// The content of a snapshot.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) struct SnapshotPayload {
    pub(crate) last_applied: Option<LogId>,
    pub(crate) last_membership: Membership,
    pub(crate) jobs: Vec<Job>,
    pub(crate) executions: Vec<Execution>,
}

/// The state as stored bytes, copied while no entry is being applied.
pub(crate) struct StateCopy {
    last_applied: Option<LogId>,
    last_membership: Membership,
    jobs: Vec<IVec>,
    executions: Vec<IVec>,
}

impl StateCopy {
    /// Copies the state trees. The caller must keep apply from running meanwhile.
    pub(crate) fn read(trees: &StateTrees) -> Result<Self, StoreError> {
        Ok(StateCopy {
            last_applied: trees.last_applied()?,
            last_membership: trees.last_membership()?,
            jobs: values(&trees.jobs)?,
            executions: values(&trees.executions)?,
        })
    }

    fn into_payload(self) -> Result<SnapshotPayload, StoreError> {
        let jobs = self
            .jobs
            .iter()
            .map(|bytes| decode(bytes, "job"))
            .collect::<Result<_, _>>()?;
        let executions = self
            .executions
            .iter()
            .map(|bytes| decode(bytes, "execution"))
            .collect::<Result<_, _>>()?;
        Ok(SnapshotPayload {
            last_applied: self.last_applied,
            last_membership: self.last_membership,
            jobs,
            executions,
        })
    }
}

fn values(tree: &sled::Tree) -> Result<Vec<IVec>, StoreError> {
    let mut values = Vec::new();
    for value in tree.iter().values() {
        values.push(value?);
    }
    Ok(values)
}

/// The `snapshot` tree, shared by snapshot builders and the state machine.
///
/// Writes to the tree hold `write_lock`, so a builder that finishes late never replaces a newer
/// snapshot that was installed or built meanwhile.
#[derive(Clone)]
pub(crate) struct SnapshotStore {
    trees: StateTrees,
    write_lock: Arc<Mutex<()>>,
}

impl SnapshotStore {
    pub(crate) fn new(trees: StateTrees) -> Self {
        SnapshotStore {
            trees,
            write_lock: Arc::new(Mutex::new(())),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ()> {
        self.write_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn current_meta(&self) -> Result<Option<Meta>, StoreError> {
        self.trees
            .snapshot
            .get(keys::SNAPSHOT_META_KEY)?
            .map(|bytes| decode(&bytes, "snapshot metadata"))
            .transpose()
    }

    /// Returns the stored snapshot, if any.
    pub(crate) fn current(&self) -> Result<Option<Snapshot<TypeConfig>>, StoreError> {
        let Some(meta) = self.current_meta()? else {
            return Ok(None);
        };
        let data = self.trees.snapshot.get(keys::SNAPSHOT_DATA_KEY)?;
        let data = data.map(|bytes| bytes.to_vec()).unwrap_or_default();
        Ok(Some(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        }))
    }

    /// Stores a built snapshot unless the stored one covers a later log id.
    fn save_unless_older(&self, meta: &Meta, data: &[u8]) -> Result<bool, StoreError> {
        let _guard = self.lock();
        let current = self.current_meta()?;
        if current.is_some_and(|current| current.last_log_id > meta.last_log_id) {
            return Ok(false);
        }

        let mut batch = Batch::default();
        batch.insert(keys::SNAPSHOT_META_KEY, encode(meta, "snapshot metadata")?);
        batch.insert(keys::SNAPSHOT_DATA_KEY, data);
        self.trees.snapshot.apply_batch(batch)?;
        Ok(true)
    }

    /// Replaces the whole state with the snapshot `data` and stores it as the current snapshot.
    ///
    /// One sled transaction removes every key of the state trees, writes the snapshot's jobs,
    /// executions, index rows, last applied log id and membership, and stores the snapshot.
    /// A crash leaves either the old state or the new one, never a mix. The transaction keeps
    /// the old keys and the new values in memory until it commits.
    pub(crate) fn install(&self, meta: &Meta, data: &[u8]) -> Result<(), StoreError> {
        let payload: SnapshotPayload = decode(data, "snapshot data")?;
        check_matches(meta, &payload)?;

        let mut writes = StateWrites::default();
        remove_all(&self.trees.meta, &mut writes.meta)?;
        remove_all(&self.trees.jobs, &mut writes.jobs)?;
        remove_all(&self.trees.executions, &mut writes.executions)?;
        remove_all(&self.trees.executions_by_job, &mut writes.executions_by_job)?;
        remove_all(&self.trees.open_executions, &mut writes.open_executions)?;
        add_payload(&mut writes, &payload)?;
        writes
            .snapshot
            .put(keys::SNAPSHOT_META_KEY, encode(meta, "snapshot metadata")?);
        writes.snapshot.put(keys::SNAPSHOT_DATA_KEY, data.to_vec());

        let _guard = self.lock();
        self.trees.commit(&writes)
    }
}

fn check_matches(meta: &Meta, payload: &SnapshotPayload) -> Result<(), StoreError> {
    let same =
        meta.last_log_id == payload.last_applied && meta.last_membership == payload.last_membership;
    if same {
        return Ok(());
    }
    Err(StoreError::SnapshotMismatch {
        meta: format!("{:?} {}", meta.last_log_id, meta.last_membership),
        data: format!("{:?} {}", payload.last_applied, payload.last_membership),
    })
}

fn remove_all(tree: &sled::Tree, writes: &mut TreeWrites) -> Result<(), StoreError> {
    for key in tree.iter().keys() {
        writes.remove(key?.to_vec());
    }
    Ok(())
}

fn add_payload(writes: &mut StateWrites, payload: &SnapshotPayload) -> Result<(), StoreError> {
    if let Some(last_applied) = &payload.last_applied {
        writes.put_last_applied(last_applied)?;
    }
    writes.put_membership(&payload.last_membership)?;
    for job in &payload.jobs {
        writes.put_job(job)?;
    }
    for execution in &payload.executions {
        writes.put_execution(execution)?;
    }
    Ok(())
}

/// Builds a snapshot from a copy of the state taken when the builder was created.
pub struct SnapshotBuilder {
    /// Taken by the first `build_snapshot` call.
    copy: Option<Result<StateCopy, StoreError>>,
    snapshots: SnapshotStore,
    durability: Durability,
}

impl SnapshotBuilder {
    pub(crate) fn new(
        copy: Result<StateCopy, StoreError>,
        snapshots: SnapshotStore,
        durability: Durability,
    ) -> Self {
        SnapshotBuilder {
            copy: Some(copy),
            snapshots,
            durability,
        }
    }

    async fn build(&mut self) -> Result<Snapshot<TypeConfig>, StoreError> {
        let copy = self
            .copy
            .take()
            .ok_or(StoreError::SnapshotBuilderReused)??;
        let payload = copy.into_payload()?;
        let data = encode(&payload, "snapshot data")?;
        let meta = Meta {
            snapshot_id: snapshot_id(payload.last_applied.as_ref(), &data),
            last_log_id: payload.last_applied,
            last_membership: payload.last_membership,
        };

        let saved = self.snapshots.save_unless_older(&meta, &data)?;
        // The snapshot and the state it covers must be durable before openraft purges the log.
        self.durability.persist().await?;
        tracing::info!(
            snapshot.id = %meta.snapshot_id,
            snapshot.bytes = data.len(),
            saved,
            "snapshot built"
        );
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

/// Creates a snapshot id from the log id it covers plus a digest of its bytes (UUIDv5), since
/// two snapshots of the same log id can differ in bytes. Equal bytes give equal ids, so a
/// replayed simulation builds the same ids.
fn snapshot_id(last_applied: Option<&LogId>, data: &[u8]) -> String {
    let digest = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, data)
        .simple()
        .to_string();
    match last_applied {
        Some(log_id) => format!(
            "{}-{}-{}",
            log_id.leader_id.term,
            log_id.index,
            &digest[..8]
        ),
        None => format!("empty-{}", &digest[..8]),
    }
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        self.build().await.map_err(|error| {
            error.into_storage_error(ErrorSubject::Snapshot(None), ErrorVerb::Write)
        })
    }
}
