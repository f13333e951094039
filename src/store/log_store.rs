//! The Raft log and vote in sled: openraft's `RaftLogStorage` and `RaftLogReader`.
//!
//! Durability: `append`, `save_vote` and `truncate` return (and `append` reports through its
//! callback) only after [`Durability::persist`], that is sled's flush and, when enabled,
//! `fdatasync`. `save_committed` and `purge` do not wait: a lost committed log id only makes
//! openraft re-apply fewer entries at startup, and a lost purge leaves entries that are purged
//! again later. Because sled writes one log for all trees, their writes become durable with
//! the next persisted write.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, LogState, OptionalSend, RaftLogReader, Vote};
use sled::{Batch, Transactional, Tree};

use super::durability::Durability;
use super::envelope::{decode, encode};
use super::error::StoreError;
use super::keys;
use crate::raft_types::{LogId, NodeId, StorageError, TypeConfig};

/// A Raft log entry of raftcron.
type Entry = openraft::Entry<TypeConfig>;

/// The Raft log and vote. Cloning is cheap, and a clone is also the log reader.
#[derive(Clone)]
pub struct LogStore {
    log: Tree,
    meta: Tree,
    durability: Durability,
}

impl LogStore {
    pub(crate) fn new(db: &sled::Db, durability: Durability) -> Result<Self, StoreError> {
        Ok(LogStore {
            log: db.open_tree(keys::LOG_TREE)?,
            meta: db.open_tree(keys::RAFT_META_TREE)?,
            durability,
        })
    }

    fn read_entries(&self, range: (Bound<u64>, Bound<u64>)) -> Result<Vec<Entry>, StoreError> {
        let range = (range.0.map(keys::log_key), range.1.map(keys::log_key));
        let mut entries = Vec::new();
        for item in self.log.range(range) {
            let (_, value) = item?;
            entries.push(decode(&value, "log entry")?);
        }
        Ok(entries)
    }

    fn last_log_id(&self) -> Result<Option<LogId>, StoreError> {
        let Some((_, value)) = self.log.last()? else {
            return Ok(None);
        };
        let entry: Entry = decode(&value, "log entry")?;
        Ok(Some(entry.log_id))
    }

    fn read_meta<T: serde::de::DeserializeOwned>(
        &self,
        key: &[u8],
        kind: &'static str,
    ) -> Result<Option<T>, StoreError> {
        self.meta
            .get(key)?
            .map(|bytes| decode(&bytes, kind))
            .transpose()
    }

    fn log_state(&self) -> Result<LogState<TypeConfig>, StoreError> {
        let last_purged_log_id = self.read_meta(keys::LAST_PURGED_KEY, "last purged log id")?;
        let last_log_id = self.last_log_id()?.or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    fn write_entries(&self, entries: impl IntoIterator<Item = Entry>) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        for entry in entries {
            let value = encode(&entry, "log entry")?;
            batch.insert(&keys::log_key(entry.log_id.index), value);
        }
        self.log.apply_batch(batch)?;
        Ok(())
    }

    /// Removes the entries at `first_index` and after, in one atomic batch.
    fn remove_from(&self, first_index: u64) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        for key in self.log.range(keys::log_key(first_index)..).keys() {
            batch.remove(key?);
        }
        self.log.apply_batch(batch)?;
        Ok(())
    }

    /// Records `log_id` as purged and removes the entries up to it, in one transaction.
    fn purge_through(&self, log_id: &LogId) -> Result<(), StoreError> {
        let stored: Option<LogId> = self.read_meta(keys::LAST_PURGED_KEY, "last purged log id")?;
        let marker = stored.filter(|stored| stored > log_id).unwrap_or(*log_id);
        let marker = encode(&marker, "last purged log id")?;
        let mut purged = Vec::new();
        for key in self.log.range(..=keys::log_key(log_id.index)).keys() {
            purged.push(key?);
        }

        (&self.log, &self.meta)
            .transaction(|(log, meta)| {
                meta.insert(keys::LAST_PURGED_KEY, marker.as_slice())?;
                for key in &purged {
                    log.remove(key)?;
                }
                Ok(())
            })
            .map_err(|error| match error {
                sled::transaction::TransactionError::Abort(error)
                | sled::transaction::TransactionError::Storage(error) => StoreError::Sled(error),
            })
    }
}

fn log_error(error: StoreError, verb: ErrorVerb) -> StorageError {
    error.into_storage_error(ErrorSubject::Logs, verb)
}

fn vote_error(error: StoreError, verb: ErrorVerb) -> StorageError {
    error.into_storage_error(ErrorSubject::Vote, verb)
}

fn owned_bounds<RB: RangeBounds<u64>>(range: &RB) -> (Bound<u64>, Bound<u64>) {
    (range.start_bound().cloned(), range.end_bound().cloned())
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        self.read_entries(owned_bounds(&range))
            .map_err(|error| log_error(error, ErrorVerb::Read))
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        self.log_state()
            .map_err(|error| log_error(error, ErrorVerb::Read))
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    /// Stores the vote and returns after it is durable.
    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        let write = async {
            self.meta.insert(keys::VOTE_KEY, encode(vote, "vote")?)?;
            self.durability.persist().await
        };
        write
            .await
            .map_err(|error| vote_error(error, ErrorVerb::Write))
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        self.read_meta(keys::VOTE_KEY, "vote")
            .map_err(|error| vote_error(error, ErrorVerb::Read))
    }

    /// Stores the committed log id without waiting for it to be durable.
    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        let write = || -> Result<(), StoreError> {
            let value = encode(&committed, "committed log id")?;
            self.meta.insert(keys::COMMITTED_KEY, value)?;
            Ok(())
        };
        write().map_err(|error| log_error(error, ErrorVerb::Write))
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        let stored: Option<Option<LogId>> = self
            .read_meta(keys::COMMITTED_KEY, "committed log id")
            .map_err(|error| log_error(error, ErrorVerb::Read))?;
        Ok(stored.flatten())
    }

    /// Writes `entries` in one batch, makes them durable, then reports through `callback`.
    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let result = match self.write_entries(entries) {
            Ok(()) => self.durability.persist().await,
            Err(error) => Err(error),
        };
        match result {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(error) => {
                callback.log_io_completed(Err(io::Error::other(error.to_string())));
                Err(log_error(error, ErrorVerb::Write))
            }
        }
    }

    /// Removes the entries from `log_id` on and returns after that is durable.
    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let write = async {
            self.remove_from(log_id.index)?;
            self.durability.persist().await
        };
        write
            .await
            .map_err(|error| log_error(error, ErrorVerb::Delete))
    }

    /// Removes the entries up to `log_id` and records it as the last purged log id.
    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.purge_through(&log_id)
            .map_err(|error| log_error(error, ErrorVerb::Delete))
    }
}
