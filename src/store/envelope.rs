//! The versioned envelope around every value the store writes: log entries, votes, log ids,
//! memberships, jobs, executions and snapshots.
//!
//! An envelope is one format-version byte followed by the value in bincode 2 (`serde` mode,
//! `config::standard()`: little-endian, variable-length integers). bincode is not
//! self-describing, so a new field in a stored type changes the bytes: such a change needs a new
//! [`FORMAT_VERSION`] and a decoder for the old one. Decoding a version this build does not know
//! returns [`StoreError::UnsupportedFormatVersion`].

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::StoreError;

/// Format version written in front of every value.
///
/// Version 2 added the job policies, counters and revision, version 3 the job's
/// `pruned_through`, and version 4 the fire intent's `request_key`. Versions 1 to 3 were
/// written only by development builds before any release, so they have no decoder.
/// `store::open` rejects such a data directory with `UnsupportedDataFormat`, and it must be
/// removed.
pub(crate) const FORMAT_VERSION: u8 = 4;

/// Encodes `value` inside an envelope. `kind` names the value in errors.
pub(crate) fn encode<T: Serialize>(value: &T, kind: &'static str) -> Result<Vec<u8>, StoreError> {
    let mut bytes = vec![FORMAT_VERSION];
    let body = bincode::serde::encode_to_vec(value, bincode::config::standard())
        .map_err(|error| StoreError::Encode { kind, error })?;
    bytes.extend_from_slice(&body);
    Ok(bytes)
}

/// Decodes an envelope written by [`encode`]. `kind` names the value in errors.
pub(crate) fn decode<T: DeserializeOwned>(
    bytes: &[u8],
    kind: &'static str,
) -> Result<T, StoreError> {
    let (&version, body) = bytes.split_first().ok_or(StoreError::EmptyValue { kind })?;
    if version != FORMAT_VERSION {
        return Err(StoreError::UnsupportedFormatVersion {
            kind,
            found: version,
            supported: FORMAT_VERSION,
        });
    }

    let (value, read) = bincode::serde::decode_from_slice(body, bincode::config::standard())
        .map_err(|error| StoreError::Decode { kind, error })?;
    if read != body.len() {
        let extra = body.len() - read;
        return Err(StoreError::TrailingBytes { kind, extra });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::fmt::Debug;

    use openraft::{CommittedLeaderId, Entry, EntryPayload, Membership, StoredMembership, Vote};

    use super::*;
    use crate::model::{Command, FireIntent, Intent};
    use crate::raft_types::{LogId, NodeInfo, TypeConfig};
    use crate::store::test_support::{execution, job};

    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: &T) {
        let bytes = encode(value, "test value").unwrap();
        assert_eq!(bytes[0], FORMAT_VERSION);
        let back: T = decode(&bytes, "test value").unwrap();
        assert_eq!(&back, value);
    }

    fn log_id(term: u64, node: u64, index: u64) -> LogId {
        LogId::new(CommittedLeaderId::new(term, node), index)
    }

    fn membership() -> Membership<u64, NodeInfo> {
        let voters = BTreeSet::from([1, 2, 3]);
        let node = |n: u64| NodeInfo {
            peer_addr: format!("127.0.0.1:{}", 7000 + n),
            client_addr: format!("127.0.0.1:{}", 8000 + n),
        };
        let nodes: BTreeMap<u64, NodeInfo> = (1..=4).map(|n| (n, node(n))).collect();
        Membership::new(vec![voters], nodes)
    }

    #[test]
    fn raft_types_round_trip() {
        round_trip(&Vote::<u64>::new(7, 3));
        round_trip(&Vote::<u64>::new_committed(8, 2));
        round_trip(&log_id(3, 1, 99));
        round_trip(&Some(log_id(3, 1, 99)));
        round_trip(&None::<LogId>);
        round_trip(&StoredMembership::new(Some(log_id(2, 1, 5)), membership()));
        round_trip(&StoredMembership::<u64, NodeInfo>::default());
    }

    #[test]
    fn entries_round_trip() {
        let blank = Entry::<TypeConfig> {
            log_id: log_id(1, 1, 1),
            payload: EntryPayload::Blank,
        };
        let change = Entry::<TypeConfig> {
            log_id: log_id(1, 1, 2),
            payload: EntryPayload::Membership(membership()),
        };
        let fire = Intent::Fire(FireIntent {
            job_revision: None,
            caught_up: false,
            force: false,
            job_id: "job-1".to_string(),
            scheduled_time: crate::model::Timestamp(-1_000),
            cause: crate::model::Cause::Schedule,
            decided_at: crate::model::Timestamp(5),
            next_execution_time: None,
            retry_of: None,
            request_key: None,
        });
        let command = Entry::<TypeConfig> {
            log_id: log_id(2, 3, 3),
            payload: EntryPayload::Normal(Command::RecordFires {
                intents: vec![fire],
            }),
        };
        let create = Entry::<TypeConfig> {
            log_id: log_id(2, 3, 4),
            payload: EntryPayload::Normal(Command::CreateJob { job: job("job-1") }),
        };
        for entry in [blank, change, command, create] {
            let bytes = encode(&entry, "log entry").unwrap();
            let back: Entry<TypeConfig> = decode(&bytes, "log entry").unwrap();
            assert_eq!(back.log_id, entry.log_id);
            assert_eq!(
                format!("{:?}", back.payload),
                format!("{:?}", entry.payload)
            );
        }
    }

    #[test]
    fn model_types_round_trip() {
        round_trip(&job("job-1"));
        round_trip(&execution("job-1", 1_000));
    }

    #[test]
    fn unknown_version_is_an_error() {
        let mut bytes = encode(&42u64, "number").unwrap();
        bytes[0] = 9;
        let error = decode::<u64>(&bytes, "number").unwrap_err();
        assert!(matches!(
            error,
            StoreError::UnsupportedFormatVersion {
                found: 9,
                supported: FORMAT_VERSION,
                ..
            }
        ));
    }

    #[test]
    fn job_of_previous_version_is_an_error() {
        let mut bytes = encode(&job("job-1"), "job").unwrap();
        bytes[0] = FORMAT_VERSION - 1;
        let error = decode::<crate::model::Job>(&bytes, "job").unwrap_err();
        assert!(matches!(
            error,
            StoreError::UnsupportedFormatVersion {
                kind: "job",
                found: 3,
                supported: 4,
            }
        ));
    }

    #[test]
    fn empty_value_is_an_error() {
        let error = decode::<u64>(&[], "number").unwrap_err();
        assert!(matches!(error, StoreError::EmptyValue { kind: "number" }));
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        let mut bytes = encode(&42u64, "number").unwrap();
        bytes.push(0);
        let error = decode::<u64>(&bytes, "number").unwrap_err();
        assert!(matches!(error, StoreError::TrailingBytes { extra: 1, .. }));
    }

    #[test]
    fn truncated_value_is_an_error() {
        let bytes = encode(&job("job-1"), "job").unwrap();
        let error = decode::<crate::model::Job>(&bytes[..bytes.len() / 2], "job").unwrap_err();
        assert!(matches!(error, StoreError::Decode { kind: "job", .. }));
    }
}
