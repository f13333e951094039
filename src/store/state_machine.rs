//! The replicated state in sled: openraft's `RaftStateMachine`.
//!
//! Each entry is applied in its own sled transaction that writes the entry's changes and the new
//! last applied log id together, so a crash never leaves an entry half applied. apply does not
//! wait for sled's flush: after a crash the state may fall back to an earlier entry, and
//! openraft re-applies the committed entries after it from the log. Snapshot build and install
//! flush before they return, so the log is never purged past durable state.

use std::io::Cursor;

use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, ErrorSubject, ErrorVerb, OptionalSend, Snapshot, StoredMembership};
use tokio::sync::broadcast;

use super::apply::apply_command;
use super::durability::Durability;
use super::error::StoreError;
use super::events::StateEvent;
use super::snapshot::{Meta, SnapshotBuilder, SnapshotStore, StateCopy};
use super::trees::{Membership, StateTrees, StateWrites};
use crate::model::Response;
use crate::raft_types::{LogId, StorageError, TypeConfig};

/// A Raft log entry of raftcron.
type Entry = openraft::Entry<TypeConfig>;

/// The state machine: jobs, executions, the last applied log id, membership and the current
/// snapshot.
pub struct StateMachineStore {
    trees: StateTrees,
    snapshots: SnapshotStore,
    durability: Durability,
    events: broadcast::Sender<StateEvent>,
}

impl StateMachineStore {
    pub(crate) fn new(
        trees: StateTrees,
        durability: Durability,
        events: broadcast::Sender<StateEvent>,
    ) -> Self {
        StateMachineStore {
            snapshots: SnapshotStore::new(trees.clone()),
            trees,
            durability,
            events,
        }
    }

    /// Applies one entry in one transaction and returns its response and change events.
    fn apply_entry(&self, entry: &Entry) -> Result<(Response, Vec<StateEvent>), StoreError> {
        let log_id = entry.log_id;
        let mut writes = StateWrites::default();
        writes.put_last_applied(&log_id)?;

        let (response, events) = match &entry.payload {
            EntryPayload::Blank => (Response::Empty, Vec::new()),
            EntryPayload::Normal(command) => {
                let (response, changes) = apply_command(&self.trees, &log_id, command)?;
                changes.add_to(&mut writes)?;
                (response, changes.into_events())
            }
            EntryPayload::Membership(membership) => {
                let stored = StoredMembership::new(Some(log_id), membership.clone());
                writes.put_membership(&stored)?;
                (Response::Empty, Vec::new())
            }
        };

        self.trees.commit(&writes)?;
        Ok((response, events))
    }

    /// Sends events without waiting. An error only means there is no receiver, which is allowed.
    fn send_events(&self, events: Vec<StateEvent>) {
        for event in events {
            let _ = self.events.send(event);
        }
    }

    async fn install(&self, meta: &Meta, data: &[u8]) -> Result<(), StoreError> {
        self.snapshots.install(meta, data)?;
        self.durability.persist().await?;
        tracing::info!(
            snapshot.id = %meta.snapshot_id,
            snapshot.bytes = data.len(),
            "snapshot installed"
        );
        Ok(())
    }
}

fn state_error(error: StoreError, verb: ErrorVerb) -> StorageError {
    error.into_storage_error(ErrorSubject::StateMachine, verb)
}

fn snapshot_error(error: StoreError, meta: Option<&Meta>, verb: ErrorVerb) -> StorageError {
    let signature = meta.map(Meta::signature);
    error.into_storage_error(ErrorSubject::Snapshot(signature), verb)
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, Membership), StorageError> {
        let read = || Ok((self.trees.last_applied()?, self.trees.last_membership()?));
        read().map_err(|error| state_error(error, ErrorVerb::Read))
    }

    /// Applies the entries in order, each in its own transaction, and sends their events once
    /// each has committed.
    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut responses = Vec::new();
        for entry in entries {
            let (response, events) = self.apply_entry(&entry).map_err(|error| {
                error.into_storage_error(ErrorSubject::Apply(entry.log_id), ErrorVerb::Write)
            })?;
            self.send_events(events);
            responses.push(response);
        }
        Ok(responses)
    }

    /// Copies the state now, while no entry is being applied, so the snapshot is consistent
    /// even though openraft builds it concurrently with later applies.
    ///
    /// NOTE: the copy runs on the calling task and delays the next apply by a full scan of the
    /// `jobs` and `executions` trees.
    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        let copy = StateCopy::read(&self.trees);
        SnapshotBuilder::new(copy, self.snapshots.clone(), self.durability.clone())
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    /// Replaces the state with the snapshot, makes it durable, then sends `StateEvent::Reset`.
    async fn install_snapshot(
        &mut self,
        meta: &Meta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        self.install(meta, &data)
            .await
            .map_err(|error| snapshot_error(error, Some(meta), ErrorVerb::Write))?;
        self.send_events(vec![StateEvent::Reset]);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        self.snapshots
            .current()
            .map_err(|error| snapshot_error(error, None, ErrorVerb::Read))
    }
}
