//! Measures single-entry Raft log appends per second on a real sled store in a temp dir, with
//! `storage.fsync` on and off: the cost of the fdatasync that follows each sled flush.
//!
//! Run with `cargo bench --bench store_append`. It prints one line per run; nothing is
//! asserted, since the numbers depend on the machine and its disk.

use std::time::Instant;

use openraft::storage::RaftLogStorageExt;
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId};
use raftcron::model::{Cause, Command, FireIntent, Intent, Timestamp};
use raftcron::raft_types::TypeConfig;
use raftcron::store::{self, StoreConfig};

const APPENDS: u64 = 2_000;

fn fire_entry(index: u64) -> Entry<TypeConfig> {
    let at = Timestamp(index as i64 * 1000);
    let intent = Intent::Fire(FireIntent {
        request_key: None,
        job_id: "0f6f4f5e-8c4e-4d55-9a61-4c0c2a7bb3a1".to_string(),
        scheduled_time: at,
        cause: Cause::Schedule,
        decided_at: at,
        next_execution_time: Some(at.plus_millis(1000)),
        retry_of: None,
        caught_up: false,
        force: false,
        job_revision: None,
    });
    let command = Command::RecordFires {
        intents: vec![intent],
    };
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
        payload: EntryPayload::Normal(command),
    }
}

async fn appends_per_second(fsync: bool) -> f64 {
    let dir = tempfile::tempdir().expect("create temp dir");
    let config = StoreConfig {
        cache_capacity_bytes: 64 * 1024 * 1024,
        fsync,
        node_id: None,
    };
    let (mut log, _state_machine, _reader) = store::open(dir.path(), &config).expect("open store");
    let started = Instant::now();
    for index in 1..=APPENDS {
        log.blocking_append([fire_entry(index)])
            .await
            .expect("append");
    }
    APPENDS as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    for fsync in [true, false, true, false] {
        let rate = appends_per_second(fsync).await;
        println!("fsync={fsync}: {rate:.0} appends/s over {APPENDS} single-entry appends");
    }
}
