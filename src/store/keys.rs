//! The sled key layout: every tree, key and value the store writes.
//!
//! This module is the one place that defines the layout. Values are encoded by
//! [`super::envelope`]: one format-version byte followed by bincode 2 (`config::standard()`).
//!
//! | tree                | key                                    | value                        |
//! |---------------------|----------------------------------------|------------------------------|
//! | `log`               | log index, `u64` big-endian            | envelope(`Entry`)            |
//! | `raft_meta`         | `layout_version`                       | one byte, [`LAYOUT_VERSION`] |
//! | `raft_meta`         | `owner`                                | node id, `u64` big-endian    |
//! | `raft_meta`         | `vote`                                 | envelope(`Vote`)             |
//! | `raft_meta`         | `committed`                            | envelope(`Option<LogId>`)    |
//! | `raft_meta`         | `last_purged_log_id`                   | envelope(`LogId`)            |
//! | `sm_meta`           | `last_applied`                         | envelope(`LogId`)            |
//! | `sm_meta`           | `last_membership`                      | envelope(`StoredMembership`) |
//! | `jobs`              | job id (UTF-8)                         | envelope(`Job`)              |
//! | `executions`        | execution id (UTF-8)                   | envelope(`Execution`)        |
//! | `executions_by_job` | job id length (`u32` BE), job id,      | empty                        |
//! |                     | scheduled time, execution id           |                              |
//! | `open_executions`   | execution id (UTF-8)                   | empty                        |
//! | `snapshot`          | `meta`                                 | envelope(`SnapshotMeta`)     |
//! | `snapshot`          | `data`                                 | snapshot data (an envelope)  |
//!
//! Notes on the layout:
//! - Big-endian integers make sled's byte order equal to numeric order, so the last key of `log`
//!   is the last entry.
//! - In `executions_by_job` the scheduled time is milliseconds since the epoch as an `i64` with
//!   its sign bit flipped, stored big-endian, so instants before 1970 sort before later ones.
//!   Iterating a job's prefix backwards yields its history newest first. The job id is
//!   length-prefixed, not terminated, so no job id can be a prefix of another job's rows.
//! - `open_executions` has a row exactly while an execution's status is RUNNING or RETRYING, so
//!   a new leader loads open work without scanning the whole history.
//! - The snapshot has its own tree: sled rewrites a whole tree node on consolidation, and a
//!   large snapshot next to the `sm_meta` keys that change on every apply would be rewritten
//!   again and again.
//! - `raft_meta` and `log` are written only by the log store, the other trees only by the state
//!   machine, so the two never contend for a key.

use crate::model::Timestamp;

use super::error::StoreError;

/// Version of the layout described above, checked when the store opens.
pub(crate) const LAYOUT_VERSION: u8 = 1;

pub(crate) const LOG_TREE: &str = "log";
pub(crate) const RAFT_META_TREE: &str = "raft_meta";
pub(crate) const SM_META_TREE: &str = "sm_meta";
pub(crate) const JOBS_TREE: &str = "jobs";
pub(crate) const EXECUTIONS_TREE: &str = "executions";
pub(crate) const EXECUTIONS_BY_JOB_TREE: &str = "executions_by_job";
pub(crate) const OPEN_EXECUTIONS_TREE: &str = "open_executions";
pub(crate) const SNAPSHOT_TREE: &str = "snapshot";

pub(crate) const LAYOUT_VERSION_KEY: &[u8] = b"layout_version";
pub(crate) const OWNER_KEY: &[u8] = b"owner";
pub(crate) const VOTE_KEY: &[u8] = b"vote";
pub(crate) const COMMITTED_KEY: &[u8] = b"committed";
pub(crate) const LAST_PURGED_KEY: &[u8] = b"last_purged_log_id";
pub(crate) const LAST_APPLIED_KEY: &[u8] = b"last_applied";
pub(crate) const LAST_MEMBERSHIP_KEY: &[u8] = b"last_membership";
pub(crate) const SNAPSHOT_META_KEY: &[u8] = b"meta";
pub(crate) const SNAPSHOT_DATA_KEY: &[u8] = b"data";

/// Width of a scheduled time inside an `executions_by_job` key.
const TIME_BYTES: usize = 8;

/// Returns the `log` key of the entry at `index`.
pub(crate) fn log_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

/// Returns the prefix shared by all `executions_by_job` rows of `job_id`.
pub(crate) fn executions_by_job_prefix(job_id: &str) -> Vec<u8> {
    // A job id arrives inside one Raft log entry, far below 4 GiB, so the length fits.
    let length = u32::try_from(job_id.len()).unwrap_or(u32::MAX);
    let mut key = Vec::with_capacity(4 + job_id.len() + TIME_BYTES + 36);
    key.extend_from_slice(&length.to_be_bytes());
    key.extend_from_slice(job_id.as_bytes());
    key
}

/// Returns the `executions_by_job` row of one execution.
pub(crate) fn executions_by_job_key(
    job_id: &str,
    scheduled_time: Timestamp,
    execution_id: &str,
) -> Vec<u8> {
    let mut key = executions_by_job_prefix(job_id);
    key.extend_from_slice(&sortable_millis(scheduled_time));
    key.extend_from_slice(execution_id.as_bytes());
    key
}

/// Reads the execution id from an `executions_by_job` row whose job prefix is `prefix_len`
/// bytes long.
pub(crate) fn execution_id_from_index_key(
    key: &[u8],
    prefix_len: usize,
) -> Result<String, StoreError> {
    let start = prefix_len + TIME_BYTES;
    let tail = key
        .get(start..)
        .ok_or_else(|| invalid_key(EXECUTIONS_BY_JOB_TREE, key, "too short"))?;
    String::from_utf8(tail.to_vec())
        .map_err(|_| invalid_key(EXECUTIONS_BY_JOB_TREE, key, "execution id is not UTF-8"))
}

/// Reads the scheduled time from an `executions_by_job` row whose job prefix is `prefix_len`
/// bytes long.
pub(crate) fn scheduled_time_from_index_key(
    key: &[u8],
    prefix_len: usize,
) -> Result<Timestamp, StoreError> {
    let bytes = key
        .get(prefix_len..prefix_len + TIME_BYTES)
        .and_then(|bytes| <[u8; TIME_BYTES]>::try_from(bytes).ok())
        .ok_or_else(|| invalid_key(EXECUTIONS_BY_JOB_TREE, key, "too short"))?;
    Ok(millis_from_sortable(bytes))
}

/// Maps an instant to 8 bytes whose byte order is the instant's numeric order.
fn sortable_millis(at: Timestamp) -> [u8; 8] {
    ((at.0 as u64) ^ (1 << 63)).to_be_bytes()
}

/// Reverses [`sortable_millis`].
fn millis_from_sortable(bytes: [u8; TIME_BYTES]) -> Timestamp {
    Timestamp((u64::from_be_bytes(bytes) ^ (1 << 63)) as i64)
}

/// Reads a UTF-8 id key of the `jobs`, `executions` or `open_executions` tree.
pub(crate) fn id_from_key(tree: &'static str, key: &[u8]) -> Result<String, StoreError> {
    String::from_utf8(key.to_vec()).map_err(|_| invalid_key(tree, key, "id is not UTF-8"))
}

fn invalid_key(tree: &'static str, key: &[u8], reason: &'static str) -> StoreError {
    StoreError::InvalidKey {
        tree,
        key: hex(key),
        reason,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_keys_sort_numerically() {
        assert!(log_key(255) < log_key(256));
        assert!(log_key(1) < log_key(u64::MAX));
    }

    #[test]
    fn index_keys_sort_by_time_with_negatives() {
        let before_epoch = executions_by_job_key("job", Timestamp(-5), "b");
        let epoch = executions_by_job_key("job", Timestamp(0), "a");
        let later = executions_by_job_key("job", Timestamp(1_000), "a");
        assert!(before_epoch < epoch);
        assert!(epoch < later);
        let min = executions_by_job_key("job", Timestamp(i64::MIN), "a");
        let max = executions_by_job_key("job", Timestamp(i64::MAX), "a");
        assert!(min < before_epoch);
        assert!(later < max);
    }

    #[test]
    fn index_prefix_separates_job_ids() {
        let short = executions_by_job_prefix("a");
        let row_of_longer_id = executions_by_job_key("a\0b", Timestamp(1), "x");
        assert!(!row_of_longer_id.starts_with(&short));
    }

    #[test]
    fn scheduled_time_reads_back_from_index_key() {
        let prefix_len = executions_by_job_prefix("job-1").len();
        for millis in [i64::MIN, -5, 0, 77, i64::MAX] {
            let key = executions_by_job_key("job-1", Timestamp(millis), "exec-9");
            let time = scheduled_time_from_index_key(&key, prefix_len).unwrap();
            assert_eq!(time, Timestamp(millis));
        }
    }

    #[test]
    fn short_index_key_is_an_error() {
        let prefix_len = executions_by_job_prefix("job-1").len();
        let key = executions_by_job_prefix("job-1");
        assert!(scheduled_time_from_index_key(&key, prefix_len).is_err());
    }

    #[test]
    fn execution_id_reads_back_from_index_key() {
        let key = executions_by_job_key("job-1", Timestamp(77), "exec-9");
        let prefix_len = executions_by_job_prefix("job-1").len();
        assert_eq!(
            execution_id_from_index_key(&key, prefix_len).unwrap(),
            "exec-9"
        );
    }
}
