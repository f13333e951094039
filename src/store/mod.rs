//! Storage of the Raft log, the vote and the replicated state in one sled database.
//!
//! [`open`] returns the three handles the rest of the node uses:
//! - [`LogStore`]: openraft's `RaftLogStorage` (log entries, vote, committed log id).
//! - [`StateMachineStore`]: openraft's `RaftStateMachine` (jobs, executions, snapshots). The
//!   rules that apply each command are documented in `apply.rs`.
//! - [`StateReader`]: reads and change events for the API and the scheduler.
//!
//! Invariants:
//! - Only this module opens sled. The key layout is documented in `keys.rs`, and `envelope.rs`
//!   versions every stored value.
//! - Applying an entry is deterministic and writes its changes and the last applied log id in
//!   one sled transaction.
//! - Any error returned to openraft shuts the Raft node down: the node must then give up
//!   leadership rather than guess its state.

mod apply;
mod durability;
mod envelope;
mod error;
mod events;
mod keys;
mod log_store;
mod reader;
mod snapshot;
mod state_machine;
mod trees;

#[cfg(test)]
mod apply_tests;
#[cfg(test)]
mod reader_tests;
#[cfg(test)]
mod store_tests;
#[cfg(test)]
mod test_support;

use std::path::Path;

use tokio::sync::broadcast;

pub use error::StoreError;
pub use events::StateEvent;
pub use log_store::LogStore;
pub use reader::{JobFilter, Page, Paged, StateReader};
pub use snapshot::SnapshotBuilder;
pub use state_machine::StateMachineStore;

use durability::Durability;
use trees::StateTrees;

use crate::raft_types::NodeId;

/// Settings of the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// Size of sled's page cache, in bytes. sled's own default is 1 GiB.
    pub cache_capacity_bytes: u64,
    /// Whether to `fdatasync` sled's files after each flush. Without it, a power loss can drop
    /// acknowledged writes still held in a drive's write cache. Turn it off only for benchmarks
    /// and tests.
    pub fsync: bool,
    /// The node that owns the directory. The first open records it, and a later open by
    /// another node is rejected, because two nodes sharing one vote would break Raft's safety.
    /// `None` skips the check.
    pub node_id: Option<NodeId>,
}

impl Default for StoreConfig {
    /// 64 MiB of cache, with `fsync` on and no owner check.
    fn default() -> Self {
        StoreConfig {
            cache_capacity_bytes: 64 * 1024 * 1024,
            fsync: true,
            node_id: None,
        }
    }
}

/// Opens (or creates) the store in `dir`.
///
/// Errors when sled cannot open the directory (for example while another process has it open)
/// or when the directory was written with a key layout or value format this build does not read.
pub fn open(
    dir: &Path,
    config: &StoreConfig,
) -> Result<(LogStore, StateMachineStore, StateReader), StoreError> {
    if dir.exists() && !dir.is_dir() {
        return Err(StoreError::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    let db = sled::Config::new()
        .path(dir)
        .cache_capacity(config.cache_capacity_bytes)
        .open()
        .map_err(|error| StoreError::Open {
            path: dir.to_path_buf(),
            error,
        })?;
    check_layout(&db, dir)?;
    check_format(&db, dir)?;
    if let Some(node_id) = config.node_id {
        check_owner(&db, dir, node_id)?;
    }
    let durability = Durability::open(db.clone(), dir, config.fsync)?;
    assemble(&db, durability)
}

/// A store kept in memory for the deterministic simulation, with the same sled trees and code
/// as [`open`]. sled runs in its temporary mode, without a flusher thread, and the store is
/// never flushed or synced.
///
/// Clones share the data. A simulated node that crashes and restarts reopens the clone its
/// harness kept, as a process reopens its data directory, and finds every write it made: the
/// simulation does not model writes lost before a flush.
#[derive(Clone)]
pub struct MemoryDisk {
    db: sled::Db,
}

impl MemoryDisk {
    /// Creates an empty store.
    ///
    /// # Errors
    /// [`StoreError::Open`] when sled cannot create its temporary file.
    pub fn new() -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .temporary(true)
            .flush_every_ms(None)
            .open()
            .map_err(|error| StoreError::Open {
                path: "(temporary)".into(),
                error,
            })?;
        check_layout(&db, Path::new("(temporary)"))?;
        Ok(MemoryDisk { db })
    }

    /// Opens the store's handles, as [`open`] does for a directory.
    pub fn open(&self) -> Result<(LogStore, StateMachineStore, StateReader), StoreError> {
        assemble(&self.db, Durability::in_memory())
    }
}

fn assemble(
    db: &sled::Db,
    durability: Durability,
) -> Result<(LogStore, StateMachineStore, StateReader), StoreError> {
    let trees = StateTrees::open(db)?;
    let (events, _) = broadcast::channel(events::EVENT_CHANNEL_CAPACITY);

    let log_store = LogStore::new(db, durability.clone())?;
    let state_machine = StateMachineStore::new(trees.clone(), durability, events.clone());
    let reader = StateReader::new(trees, events);
    Ok((log_store, state_machine, reader))
}

/// Checks the layout version of an existing store, or records it in a new one.
fn check_layout(db: &sled::Db, dir: &Path) -> Result<(), StoreError> {
    let meta = db.open_tree(keys::RAFT_META_TREE)?;
    let stored = meta.compare_and_swap(
        keys::LAYOUT_VERSION_KEY,
        None as Option<&[u8]>,
        Some(&[keys::LAYOUT_VERSION][..]),
    )?;
    match stored {
        Ok(()) => Ok(()),
        Err(existing) if existing.current.as_deref() == Some(&[keys::LAYOUT_VERSION][..]) => Ok(()),
        Err(existing) => Err(StoreError::UnsupportedLayout {
            path: dir.to_path_buf(),
            found: existing
                .current
                .as_deref()
                .and_then(|bytes| bytes.first().copied())
                .unwrap_or(0),
            supported: keys::LAYOUT_VERSION,
        }),
    }
}

/// Checks the format version of one value in each tree that has values, so that a data
/// directory from another format is rejected when it opens, with its path in the error.
fn check_format(db: &sled::Db, dir: &Path) -> Result<(), StoreError> {
    let single = |tree: &'static str, key: &'static [u8]| -> Result<_, StoreError> {
        Ok(db.open_tree(tree)?.get(key)?.map(|value| (tree, value)))
    };
    let first = |tree: &'static str| -> Result<_, StoreError> {
        Ok(db.open_tree(tree)?.first()?.map(|(_, value)| (tree, value)))
    };
    let samples = [
        single(keys::RAFT_META_TREE, keys::VOTE_KEY)?,
        single(keys::SM_META_TREE, keys::LAST_APPLIED_KEY)?,
        single(keys::SNAPSHOT_TREE, keys::SNAPSHOT_META_KEY)?,
        first(keys::LOG_TREE)?,
        first(keys::JOBS_TREE)?,
        first(keys::EXECUTIONS_TREE)?,
    ];
    for (tree, value) in samples.into_iter().flatten() {
        let found = value.first().copied().unwrap_or(0);
        if found != envelope::FORMAT_VERSION {
            return Err(StoreError::UnsupportedDataFormat {
                path: dir.to_path_buf(),
                tree,
                found,
                supported: envelope::FORMAT_VERSION,
            });
        }
    }
    Ok(())
}

/// Records `node_id` as the directory's owner on first use, and rejects a directory that
/// another node owns.
fn check_owner(db: &sled::Db, dir: &Path, node_id: NodeId) -> Result<(), StoreError> {
    let meta = db.open_tree(keys::RAFT_META_TREE)?;
    let owner = node_id.to_be_bytes();
    let stored = meta.compare_and_swap(keys::OWNER_KEY, None as Option<&[u8]>, Some(&owner[..]))?;
    let Err(existing) = stored else {
        return Ok(());
    };
    let found = existing
        .current
        .as_deref()
        .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
        .map(u64::from_be_bytes);
    if found == Some(node_id) {
        return Ok(());
    }
    Err(StoreError::WrongOwner {
        path: dir.to_path_buf(),
        found: found.map_or_else(|| "an unreadable id".to_string(), |id| format!("node {id}")),
        expected: node_id,
    })
}
