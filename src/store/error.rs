//! Errors of the storage layer and their conversion to openraft's `StorageError`.
//!
//! Every variant means the node can no longer trust its disk state: openraft shuts the Raft node
//! down when a storage call returns an error, and the node must not keep leadership.

use std::path::PathBuf;

use openraft::{AnyError, ErrorSubject, ErrorVerb, StorageIOError};

use crate::raft_types::{NodeId, StorageError};

/// A failure to read, write or sync the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled could not open the database directory.
    #[error(
        "failed to open the sled database in {path}: {error}; check that it is a raftcron data \
         directory and that no other process has it open"
    )]
    Open { path: PathBuf, error: sled::Error },

    /// The data directory path names something other than a directory.
    #[error("data directory {path} exists but is not a directory; give a directory path")]
    NotADirectory { path: PathBuf },

    /// The directory was written with a key layout this build does not read.
    #[error(
        "store in {path} has key layout version {found}, but this build reads only version \
         {supported}; run the raftcron version that wrote it, or remove the data directory if a \
         pre-release build wrote it"
    )]
    UnsupportedLayout {
        path: PathBuf,
        found: u8,
        supported: u8,
    },

    /// The directory contains values in a format version this build does not read.
    #[error(
        "store in {path} has values in format version {found} (tree {tree}), but this build \
         reads only version {supported}; run the raftcron version that wrote it, or remove the \
         data directory if a pre-release build wrote it"
    )]
    UnsupportedDataFormat {
        path: PathBuf,
        tree: &'static str,
        found: u8,
        supported: u8,
    },

    /// The directory belongs to another node.
    #[error(
        "data directory {path} belongs to {found}, but this is node {expected}; give each node \
         its own data directory"
    )]
    WrongOwner {
        path: PathBuf,
        found: String,
        expected: NodeId,
    },

    /// A sled read, write or flush failed.
    #[error("sled operation failed: {0}")]
    Sled(#[from] sled::Error),

    /// Opening or syncing one of sled's files failed.
    #[error("failed to sync {path} to disk: {error}")]
    Sync {
        path: PathBuf,
        error: std::io::Error,
    },

    /// A task that ran blocking storage work panicked or was cancelled.
    #[error("blocking storage task failed: {0}")]
    BlockingTask(#[from] tokio::task::JoinError),

    /// A value could not be encoded with bincode.
    #[error("failed to encode {kind}: {error}")]
    Encode {
        kind: &'static str,
        error: bincode::error::EncodeError,
    },

    /// A stored value could not be decoded with bincode.
    #[error("failed to decode stored {kind}: {error}")]
    Decode {
        kind: &'static str,
        error: bincode::error::DecodeError,
    },

    /// A stored value has no format version byte.
    #[error("stored {kind} is empty, expected at least a format version byte")]
    EmptyValue { kind: &'static str },

    /// A stored value was written in a format version this build does not read.
    #[error(
        "stored {kind} has format version {found}, but this build reads only version \
         {supported}; run the raftcron version that wrote it, or remove the data directory if a \
         pre-release build wrote it"
    )]
    UnsupportedFormatVersion {
        kind: &'static str,
        found: u8,
        supported: u8,
    },

    /// A stored value has bytes left over after decoding.
    #[error("stored {kind} has {extra} unexpected bytes after its value")]
    TrailingBytes { kind: &'static str, extra: usize },

    /// A key does not follow the layout in `store::keys`.
    #[error("invalid key {key} (hex) in tree {tree}: {reason}")]
    InvalidKey {
        tree: &'static str,
        key: String,
        reason: &'static str,
    },

    /// The history index names an execution that has no record.
    #[error("index row of job {job_id} names execution {execution_id}, which has no record")]
    DanglingIndexRow {
        job_id: String,
        execution_id: String,
    },

    /// `build_snapshot` was called a second time on the same builder.
    #[error("snapshot builder was already used; request a new one from the state machine")]
    SnapshotBuilderReused,

    /// Snapshot data and the snapshot metadata it arrived with disagree.
    #[error("snapshot data covers {data}, but its metadata names {meta}")]
    SnapshotMismatch { meta: String, data: String },
}

impl StoreError {
    /// Wraps this error for openraft, naming what was being read or written.
    pub fn into_storage_error(
        self,
        subject: ErrorSubject<NodeId>,
        verb: ErrorVerb,
    ) -> StorageError {
        StorageIOError::new(subject, verb, AnyError::new(&self)).into()
    }
}
