//! The state machine's sled trees: typed reads, and writes that commit in one transaction.

use openraft::StoredMembership;
use sled::transaction::{ConflictableTransactionResult, TransactionalTree};
use sled::{Transactional, Tree};

use super::envelope::{decode, encode};
use super::error::StoreError;
use super::keys;
use crate::model::{Execution, ExecutionId, Job, Timestamp};
use crate::raft_types::{LogId, NodeId, NodeInfo};

/// The membership as the state machine stores it.
pub(crate) type Membership = StoredMembership<NodeId, NodeInfo>;

/// Handles to the trees of the state machine. Cloning is cheap.
#[derive(Clone)]
pub(crate) struct StateTrees {
    pub(crate) meta: Tree,
    pub(crate) jobs: Tree,
    pub(crate) executions: Tree,
    pub(crate) executions_by_job: Tree,
    pub(crate) open_executions: Tree,
    pub(crate) snapshot: Tree,
}

impl StateTrees {
    /// Opens (or creates) the state machine trees of `db`.
    pub(crate) fn open(db: &sled::Db) -> Result<Self, StoreError> {
        Ok(StateTrees {
            meta: db.open_tree(keys::SM_META_TREE)?,
            jobs: db.open_tree(keys::JOBS_TREE)?,
            executions: db.open_tree(keys::EXECUTIONS_TREE)?,
            executions_by_job: db.open_tree(keys::EXECUTIONS_BY_JOB_TREE)?,
            open_executions: db.open_tree(keys::OPEN_EXECUTIONS_TREE)?,
            snapshot: db.open_tree(keys::SNAPSHOT_TREE)?,
        })
    }

    pub(crate) fn job(&self, id: &str) -> Result<Option<Job>, StoreError> {
        self.jobs
            .get(id.as_bytes())?
            .map(|bytes| decode(&bytes, "job"))
            .transpose()
    }

    pub(crate) fn execution(&self, id: &str) -> Result<Option<Execution>, StoreError> {
        self.executions
            .get(id.as_bytes())?
            .map(|bytes| decode(&bytes, "execution"))
            .transpose()
    }

    /// Ids of all executions of `job_id`, oldest scheduled time first.
    pub(crate) fn execution_ids_of_job(
        &self,
        job_id: &str,
    ) -> Result<Vec<ExecutionId>, StoreError> {
        let prefix = keys::executions_by_job_prefix(job_id);
        let mut ids = Vec::new();
        for key in self.executions_by_job.scan_prefix(&prefix).keys() {
            ids.push(keys::execution_id_from_index_key(&key?, prefix.len())?);
        }
        Ok(ids)
    }

    /// Scheduled times and ids of all executions of `job_id`, read from the index rows alone,
    /// oldest scheduled time first.
    pub(crate) fn index_rows_of_job(
        &self,
        job_id: &str,
    ) -> Result<Vec<(Timestamp, ExecutionId)>, StoreError> {
        let prefix = keys::executions_by_job_prefix(job_id);
        let mut rows = Vec::new();
        for key in self.executions_by_job.scan_prefix(&prefix).keys() {
            let key = key?;
            let scheduled_time = keys::scheduled_time_from_index_key(&key, prefix.len())?;
            let id = keys::execution_id_from_index_key(&key, prefix.len())?;
            rows.push((scheduled_time, id));
        }
        Ok(rows)
    }

    /// Returns whether execution `id` has a row in `open_executions` (RUNNING or RETRYING).
    pub(crate) fn is_open(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.open_executions.contains_key(id.as_bytes())?)
    }

    pub(crate) fn last_applied(&self) -> Result<Option<LogId>, StoreError> {
        self.meta
            .get(keys::LAST_APPLIED_KEY)?
            .map(|bytes| decode(&bytes, "last applied log id"))
            .transpose()
    }

    pub(crate) fn last_membership(&self) -> Result<Membership, StoreError> {
        let stored = self.meta.get(keys::LAST_MEMBERSHIP_KEY)?;
        match stored {
            Some(bytes) => decode(&bytes, "last membership"),
            None => Ok(Membership::default()),
        }
    }

    /// Writes `writes` in one sled transaction across all state trees.
    pub(crate) fn commit(&self, writes: &StateWrites) -> Result<(), StoreError> {
        let trees = (
            &self.meta,
            &self.jobs,
            &self.executions,
            &self.executions_by_job,
            &self.open_executions,
            &self.snapshot,
        );
        trees
            .transaction(|(meta, jobs, executions, by_job, open, snapshot)| {
                writes.meta.apply_to(meta)?;
                writes.jobs.apply_to(jobs)?;
                writes.executions.apply_to(executions)?;
                writes.executions_by_job.apply_to(by_job)?;
                writes.open_executions.apply_to(open)?;
                writes.snapshot.apply_to(snapshot)?;
                Ok(())
            })
            .map_err(|error| match error {
                sled::transaction::TransactionError::Abort(error)
                | sled::transaction::TransactionError::Storage(error) => StoreError::Sled(error),
            })
    }
}

/// Encoded writes to one tree, applied in order.
#[derive(Default, Debug)]
pub(crate) struct TreeWrites(Vec<(Vec<u8>, Option<Vec<u8>>)>);

impl TreeWrites {
    pub(crate) fn put(&mut self, key: impl Into<Vec<u8>>, value: Vec<u8>) {
        self.0.push((key.into(), Some(value)));
    }

    pub(crate) fn remove(&mut self, key: impl Into<Vec<u8>>) {
        self.0.push((key.into(), None));
    }

    fn apply_to(&self, tree: &TransactionalTree) -> ConflictableTransactionResult<(), sled::Error> {
        for (key, value) in &self.0 {
            match value {
                Some(value) => tree.insert(key.as_slice(), value.as_slice())?,
                None => tree.remove(key.as_slice())?,
            };
        }
        Ok(())
    }
}

/// Encoded writes to every state tree, committed together by [`StateTrees::commit`].
///
/// Values are encoded before the transaction starts, because sled may run the transaction body
/// more than once.
#[derive(Default, Debug)]
pub(crate) struct StateWrites {
    pub(crate) meta: TreeWrites,
    pub(crate) jobs: TreeWrites,
    pub(crate) executions: TreeWrites,
    pub(crate) executions_by_job: TreeWrites,
    pub(crate) open_executions: TreeWrites,
    pub(crate) snapshot: TreeWrites,
}

impl StateWrites {
    pub(crate) fn put_last_applied(&mut self, log_id: &LogId) -> Result<(), StoreError> {
        let value = encode(log_id, "last applied log id")?;
        self.meta.put(keys::LAST_APPLIED_KEY, value);
        Ok(())
    }

    pub(crate) fn put_membership(&mut self, membership: &Membership) -> Result<(), StoreError> {
        let value = encode(membership, "last membership")?;
        self.meta.put(keys::LAST_MEMBERSHIP_KEY, value);
        Ok(())
    }

    pub(crate) fn put_job(&mut self, job: &Job) -> Result<(), StoreError> {
        self.jobs.put(job.id.as_bytes(), encode(job, "job")?);
        Ok(())
    }

    pub(crate) fn remove_job(&mut self, id: &str) {
        self.jobs.remove(id.as_bytes());
    }

    /// Stores an execution with its history row, and its open row while it is open.
    pub(crate) fn put_execution(&mut self, execution: &Execution) -> Result<(), StoreError> {
        let id = execution.id.as_bytes();
        self.executions.put(id, encode(execution, "execution")?);
        self.executions_by_job.put(index_key(execution), Vec::new());
        if execution.is_open() {
            self.open_executions.put(id, Vec::new());
        } else {
            self.open_executions.remove(id);
        }
        Ok(())
    }

    /// Removes an execution and its history and open rows.
    pub(crate) fn remove_execution(&mut self, execution: &Execution) {
        let id = execution.id.as_bytes();
        self.executions.remove(id);
        self.executions_by_job.remove(index_key(execution));
        self.open_executions.remove(id);
    }
}

fn index_key(execution: &Execution) -> Vec<u8> {
    keys::executions_by_job_key(&execution.job_id, execution.scheduled_time, &execution.id)
}
