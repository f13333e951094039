//! Tests of `StateReader` queries against state built by applying commands.

use openraft::storage::RaftStateMachine;

use super::test_support::{TestStore, command_entry, execution, job, open_temp_store};
use super::{JobFilter, Page};
use crate::model::{
    Cause, Command, ExecutionStatus, FireIntent, Intent, Job, JobStatus, Outcome, OutcomeResult,
    Timestamp,
};

/// Applies `commands` as consecutive log entries starting at index 1.
async fn apply_all(store: &mut TestStore, commands: Vec<Command>) {
    let entries: Vec<_> = commands
        .into_iter()
        .enumerate()
        .map(|(i, command)| command_entry(1, i as u64 + 1, command))
        .collect();
    store.state_machine.apply(entries).await.unwrap();
}

fn job_created_at(id: &str, created_ms: i64, status: JobStatus, tags: &[&str]) -> Job {
    let mut job = job(id);
    job.created_at = Timestamp(created_ms);
    job.status = status;
    job.spec.tags = tags.iter().map(|tag| tag.to_string()).collect();
    job
}

fn create(job: Job) -> Command {
    Command::CreateJob { job }
}

fn fire_at(job_id: &str, scheduled_ms: i64, cause: Cause) -> Intent {
    Intent::Fire(FireIntent {
        job_revision: None,
        caught_up: false,
        force: false,
        job_id: job_id.to_string(),
        scheduled_time: Timestamp(scheduled_ms),
        cause,
        decided_at: Timestamp(scheduled_ms),
        next_execution_time: None,
        retry_of: None,
        request_key: None,
    })
}

fn complete(job_id: &str, scheduled_ms: i64) -> Outcome {
    Outcome {
        jitter_sample: 0,
        execution_id: execution(job_id, scheduled_ms).id,
        attempt: 1,
        finished_at: Timestamp(scheduled_ms + 1),
        result: OutcomeResult::Success {
            status_code: 204,
            body: String::new(),
        },
    }
}

fn ids(jobs: &[Job]) -> Vec<&str> {
    jobs.iter().map(|job| job.id.as_str()).collect()
}

/// Jobs `b` (created 1 s), `a` and `c` (both created 2 s), `d` (paused), with tags.
async fn store_with_jobs() -> TestStore {
    let mut store = open_temp_store();
    let commands = vec![
        create(job_created_at("c", 2_000, JobStatus::Active, &["x"])),
        create(job_created_at("a", 2_000, JobStatus::Active, &["x", "y"])),
        create(job_created_at("b", 1_000, JobStatus::Active, &["y"])),
        create(job_created_at("d", 3_000, JobStatus::Paused, &["x", "y"])),
    ];
    apply_all(&mut store, commands).await;
    store
}

#[tokio::test]
async fn list_jobs_orders_by_creation_then_id() {
    let store = store_with_jobs().await;
    let page = Page { page: 1, limit: 10 };

    let listed = store.reader.list_jobs(&JobFilter::default(), page).unwrap();

    assert_eq!(listed.total, 4);
    assert_eq!(ids(&listed.items), vec!["b", "a", "c", "d"]);
}

#[tokio::test]
async fn list_jobs_filters_status_and_tags() {
    let store = store_with_jobs().await;
    let page = Page { page: 1, limit: 10 };

    let paused = JobFilter {
        status: Some(JobStatus::Paused),
        tags: Vec::new(),
    };
    assert_eq!(
        ids(&store.reader.list_jobs(&paused, page).unwrap().items),
        vec!["d"]
    );

    let both_tags = JobFilter {
        status: None,
        tags: vec!["x".to_string(), "y".to_string()],
    };
    let listed = store.reader.list_jobs(&both_tags, page).unwrap();
    assert_eq!(ids(&listed.items), vec!["a", "d"]);
    assert_eq!(listed.total, 2);

    let active_y = JobFilter {
        status: Some(JobStatus::Active),
        tags: vec!["y".to_string()],
    };
    assert_eq!(
        ids(&store.reader.list_jobs(&active_y, page).unwrap().items),
        vec!["b", "a"]
    );
}

#[tokio::test]
async fn list_jobs_pages() {
    let store = store_with_jobs().await;
    let all = JobFilter::default();

    let second = store
        .reader
        .list_jobs(&all, Page { page: 2, limit: 3 })
        .unwrap();
    assert_eq!(ids(&second.items), vec!["d"]);
    assert_eq!(second.total, 4);

    let beyond = store
        .reader
        .list_jobs(&all, Page { page: 3, limit: 3 })
        .unwrap();
    assert!(beyond.items.is_empty());
    assert_eq!(beyond.total, 4);

    let page_zero = store
        .reader
        .list_jobs(&all, Page { page: 0, limit: 2 })
        .unwrap();
    assert_eq!(
        ids(&page_zero.items),
        vec!["b", "a"],
        "page 0 reads as page 1"
    );

    let no_items = store
        .reader
        .list_jobs(&all, Page { page: 1, limit: 0 })
        .unwrap();
    assert!(no_items.items.is_empty());
    assert_eq!(no_items.total, 4);
}

#[tokio::test]
async fn active_jobs_skips_paused() {
    let store = store_with_jobs().await;
    let active = store.reader.active_jobs().unwrap();
    assert_eq!(ids(&active), vec!["a", "b", "c"]);
}

/// Job `j` with executions at -2 s, 1 s, 3 s, 2 s (the 1 s one completed), job `jj` with one.
async fn store_with_history() -> TestStore {
    let mut store = open_temp_store();
    let intents = vec![
        fire_at("j", -2_000, Cause::Schedule),
        fire_at("j", 1_000, Cause::Schedule),
        fire_at("j", 3_000, Cause::Manual),
        fire_at("j", 2_000, Cause::Schedule),
        fire_at("jj", 5_000, Cause::Schedule),
    ];
    let commands = vec![
        create(job("j")),
        create(job("jj")),
        Command::RecordFires { intents },
        Command::RecordOutcomes {
            outcomes: vec![complete("j", 1_000)],
        },
    ];
    apply_all(&mut store, commands).await;
    store
}

fn scheduled_times(executions: &[crate::model::Execution]) -> Vec<i64> {
    executions.iter().map(|e| e.scheduled_time.0).collect()
}

#[tokio::test]
async fn list_executions_newest_first() {
    let store = store_with_history().await;
    let page = Page { page: 1, limit: 10 };

    let listed = store.reader.list_executions("j", None, page).unwrap();

    assert_eq!(listed.total, 4);
    assert_eq!(
        scheduled_times(&listed.items),
        vec![3_000, 2_000, 1_000, -2_000]
    );
    assert!(listed.items.iter().all(|e| e.job_id == "j"));
}

#[tokio::test]
async fn list_executions_filters_status() {
    let store = store_with_history().await;
    let page = Page { page: 1, limit: 10 };

    let completed = store
        .reader
        .list_executions("j", Some(ExecutionStatus::Completed), page)
        .unwrap();
    assert_eq!(completed.total, 1);
    assert_eq!(scheduled_times(&completed.items), vec![1_000]);

    let running = store
        .reader
        .list_executions(
            "j",
            Some(ExecutionStatus::Running),
            Page { page: 2, limit: 2 },
        )
        .unwrap();
    assert_eq!(running.total, 3);
    assert_eq!(scheduled_times(&running.items), vec![-2_000]);
}

#[tokio::test]
async fn list_executions_pages() {
    let store = store_with_history().await;
    let second = store
        .reader
        .list_executions("j", None, Page { page: 2, limit: 3 })
        .unwrap();
    assert_eq!(second.total, 4);
    assert_eq!(scheduled_times(&second.items), vec![-2_000]);
}

#[tokio::test]
async fn list_executions_of_unknown_job_is_empty() {
    let store = store_with_history().await;
    let listed = store
        .reader
        .list_executions("unknown", None, Page { page: 1, limit: 10 })
        .unwrap();
    assert_eq!(listed.total, 0);
    assert!(listed.items.is_empty());
}

#[tokio::test]
async fn open_executions_lists_running() {
    let store = store_with_history().await;
    let open = store.reader.open_executions().unwrap();
    let mut times = scheduled_times(&open);
    times.sort();
    assert_eq!(times, vec![-2_000, 2_000, 3_000, 5_000]);
    assert!(open.iter().all(|e| e.status == ExecutionStatus::Running));
}

#[tokio::test]
async fn digest_matches_for_same_entries() {
    let first = store_with_history().await;
    let second = store_with_history().await;
    let first_digest = first.reader.state_digest().unwrap();
    assert_eq!(first_digest, second.reader.state_digest().unwrap());

    let other = store_with_jobs().await;
    assert_ne!(first_digest, other.reader.state_digest().unwrap());
}

#[tokio::test]
async fn digest_changes_with_state() {
    let mut store = store_with_history().await;
    let before = store.reader.state_digest().unwrap();

    let entry = command_entry(
        1,
        10,
        Command::PauseJob {
            id: "jj".to_string(),
            now: Timestamp(9_000),
        },
    );
    store.state_machine.apply([entry]).await.unwrap();

    assert_ne!(store.reader.state_digest().unwrap(), before);
}
