//! Read access to the replicated state for the API and the scheduler.
//!
//! The reader reads the sled trees directly, on the calling thread. Reads are served from
//! sled's cache when the data is in it, and block on disk otherwise. A single-key read returns
//! the value before or after an applied entry, never part of one, but a read of several keys
//! (a list, a scan) can mix the states before and after entries applied while it ran.
//! Use [`StateReader::subscribe`] to follow changes.

use tokio::sync::broadcast;

use super::envelope::decode;
use super::error::StoreError;
use super::events::StateEvent;
use super::keys;
use super::trees::StateTrees;
use crate::model::{Execution, ExecutionStatus, Job, JobStatus};
use crate::raft_types::LogId;

/// Position and size of the requested page of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    /// 1-based page number. 0 is read as 1.
    pub page: u32,
    /// Maximum number of items per page. 0 returns no items, only the total.
    pub limit: u32,
}

impl Page {
    /// Number of items before this page.
    fn offset(&self) -> u64 {
        u64::from(self.page.max(1) - 1) * u64::from(self.limit)
    }

    /// Returns the items of this page from an iterator over all matching items.
    fn select<T>(&self, items: impl IntoIterator<Item = T>) -> Vec<T> {
        let offset = usize::try_from(self.offset()).unwrap_or(usize::MAX);
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        items.into_iter().skip(offset).take(limit).collect()
    }
}

/// One page of a list and the number of matching items on all pages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub total: u64,
}

/// Conditions a listed job must meet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Only jobs with this status, when set.
    pub status: Option<JobStatus>,
    /// Only jobs that carry every one of these tags.
    pub tags: Vec<String>,
}

impl JobFilter {
    fn matches(&self, job: &Job) -> bool {
        let status_matches = self.status.is_none_or(|status| job.status == status);
        status_matches && self.tags.iter().all(|tag| job.spec.tags.contains(tag))
    }
}

/// Read access to jobs, executions and the last applied log id. Cloning is cheap.
#[derive(Clone)]
pub struct StateReader {
    trees: StateTrees,
    events: broadcast::Sender<StateEvent>,
}

impl StateReader {
    pub(crate) fn new(trees: StateTrees, events: broadcast::Sender<StateEvent>) -> Self {
        StateReader { trees, events }
    }

    pub fn get_job(&self, id: &str) -> Result<Option<Job>, StoreError> {
        self.trees.job(id)
    }

    /// Lists matching jobs ordered by `created_at`, then id.
    ///
    /// This decodes every stored job, so its cost grows with the number of jobs.
    pub fn list_jobs(&self, filter: &JobFilter, page: Page) -> Result<Paged<Job>, StoreError> {
        let mut jobs = self.all_jobs()?;
        jobs.retain(|job| filter.matches(job));
        jobs.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(Paged {
            total: jobs.len() as u64,
            items: page.select(jobs),
        })
    }

    pub fn get_execution(&self, id: &str) -> Result<Option<Execution>, StoreError> {
        self.trees.execution(id)
    }

    /// Lists the executions of a job, newest scheduled time first, optionally of one status.
    ///
    /// Without a status only the returned page is decoded. With a status every execution of
    /// the job is decoded to count the total.
    pub fn list_executions(
        &self,
        job_id: &str,
        status: Option<ExecutionStatus>,
        page: Page,
    ) -> Result<Paged<Execution>, StoreError> {
        let ids = self.execution_ids_newest_first(job_id)?;
        let Some(status) = status else {
            let total = ids.len() as u64;
            let items = self.load_executions(job_id, page.select(ids))?;
            return Ok(Paged { items, total });
        };

        let mut executions = self.load_executions(job_id, ids)?;
        executions.retain(|execution| execution.status == status);
        Ok(Paged {
            total: executions.len() as u64,
            items: page.select(executions),
        })
    }

    /// Jobs whose status is ACTIVE, in id order.
    pub fn active_jobs(&self) -> Result<Vec<Job>, StoreError> {
        let mut jobs = self.all_jobs()?;
        jobs.retain(|job| job.status == JobStatus::Active);
        Ok(jobs)
    }

    /// Executions whose status is RUNNING or RETRYING, in id order.
    pub fn open_executions(&self) -> Result<Vec<Execution>, StoreError> {
        let mut executions = Vec::new();
        for key in self.trees.open_executions.iter().keys() {
            let id = keys::id_from_key(keys::OPEN_EXECUTIONS_TREE, &key?)?;
            // A row removed by an apply that ran after the scan reached it is skipped.
            if let Some(execution) = self.trees.execution(&id)? {
                executions.push(execution);
            }
        }
        Ok(executions)
    }

    /// Returns the log id of the last entry applied to the state.
    pub fn last_applied(&self) -> Result<Option<LogId>, StoreError> {
        self.trees.last_applied()
    }

    /// Returns the trees this reader reads, for tests that count stored rows.
    #[cfg(test)]
    pub(crate) fn trees(&self) -> &StateTrees {
        &self.trees
    }

    /// Subscribes to change events. [`StateEvent`] documents the delivery contract.
    pub fn subscribe(&self) -> broadcast::Receiver<StateEvent> {
        self.events.subscribe()
    }

    /// Computes a 64-bit FNV-1a hash of the stored jobs and executions, to compare nodes.
    ///
    /// The hash covers the stored bytes (keys and envelopes), so only nodes of the same
    /// raftcron version that applied the same entries are expected to match. Compare digests
    /// taken at the same last applied log id.
    pub fn state_digest(&self) -> Result<u64, StoreError> {
        let mut hasher = Fnv1a::new();
        for tree in [&self.trees.jobs, &self.trees.executions] {
            hasher.write(&tree.name());
            for item in tree.iter() {
                let (key, value) = item?;
                hasher.write(&key);
                hasher.write(&value);
            }
        }
        Ok(hasher.finish())
    }

    fn all_jobs(&self) -> Result<Vec<Job>, StoreError> {
        let mut jobs = Vec::new();
        for value in self.trees.jobs.iter().values() {
            jobs.push(decode(&value?, "job")?);
        }
        Ok(jobs)
    }

    fn execution_ids_newest_first(&self, job_id: &str) -> Result<Vec<String>, StoreError> {
        let mut ids = self.trees.execution_ids_of_job(job_id)?;
        ids.reverse();
        Ok(ids)
    }

    /// Loads executions by id, skipping ids removed by an apply that ran meanwhile.
    fn load_executions(
        &self,
        job_id: &str,
        ids: Vec<String>,
    ) -> Result<Vec<Execution>, StoreError> {
        let mut executions = Vec::with_capacity(ids.len());
        for id in ids {
            match self.trees.execution(&id)? {
                Some(execution) if execution.job_id == job_id => executions.push(execution),
                _ => {}
            }
        }
        Ok(executions)
    }
}

/// 64-bit FNV-1a, written out because std's `DefaultHasher` may change between Rust releases.
/// Each write is prefixed with its length, so `("ab", "c")` and `("a", "bc")` hash apart.
struct Fnv1a(u64);

impl Fnv1a {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    fn new() -> Self {
        Fnv1a(Self::OFFSET_BASIS)
    }

    fn write(&mut self, bytes: &[u8]) {
        let length = bytes.len() as u64;
        for byte in length.to_le_bytes().iter().chain(bytes) {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}
