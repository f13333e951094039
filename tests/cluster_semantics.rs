//! The firing guarantees of docs/SEMANTICS.md, each on a real three-node cluster with a real
//! HTTP receiver: in-doubt attempts, fencing, misfire policies, concurrency, retries, timeouts
//! and bounded history.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{
    ClusterOptions, TestCluster, hook_url, instants_of, job_body, pause, start_receiver, wait_for,
};
use raftcron::receiver::{Behaviour, Receiver, RecordedRequest};
use serde_json::{Value, json};

async fn get_json(cluster: &TestCluster, node: u64, path: &str) -> Value {
    cluster
        .http
        .get(cluster.url(node, path))
        .send()
        .await
        .unwrap_or_else(|error| panic!("GET {path}: {error}"))
        .json()
        .await
        .unwrap_or_else(|error| panic!("GET {path} JSON: {error}"))
}

async fn post_json(cluster: &TestCluster, node: u64, path: &str) -> Value {
    let response = cluster
        .http
        .post(cluster.url(node, path))
        .send()
        .await
        .unwrap_or_else(|error| panic!("POST {path}: {error}"));
    let status = response.status();
    let body: Value = response.json().await.expect("JSON reply");
    assert!(
        status.is_success(),
        "POST {path} failed with {status}: {body}"
    );
    body
}

fn holding(delay: Duration) -> Behaviour {
    Behaviour {
        delay,
        ..Behaviour::default()
    }
}

fn answering(status: u16) -> Behaviour {
    Behaviour {
        status,
        ..Behaviour::default()
    }
}

fn header_u64(request: &RecordedRequest, name: &str) -> u64 {
    request
        .header(name)
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("header {name} missing or not a number"))
}

async fn execution(cluster: &TestCluster, node: u64, job_id: &str, id: &str) -> Value {
    get_json(
        cluster,
        node,
        &format!("/api/jobs/{job_id}/executions/{id}"),
    )
    .await
}

async fn create(cluster: &TestCluster, node: u64, body: Value) -> String {
    let job = cluster.create_job(node, &body).await;
    job["id"].as_str().expect("job id").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_request_resent_after_leader_kill() {
    let mut cluster = TestCluster::start(ClusterOptions::default()).await;
    let receiver = Receiver::start("127.0.0.1:0", holding(Duration::from_secs(30)))
        .await
        .expect("start receiver");
    let leader = cluster.wait_for_leader(Duration::from_secs(20)).await;
    let mut body = job_body("held", "@yearly", &hook_url(&receiver));
    body["triggerConfig"]["timeout"] = json!(20_000);
    let job_id = create(&cluster, leader, body).await;

    let started = post_json(&cluster, leader, &format!("/api/jobs/{job_id}/trigger")).await;
    let execution_id = started["id"].as_str().expect("execution id").to_string();
    let first = wait_for("the first attempt", Duration::from_secs(10), || async {
        receiver.requests().first().cloned()
    })
    .await;

    // On a loaded machine an election can happen before the kill, so the first request may come
    // from a later leader with a later attempt. The test kills whichever node sent it.
    let sender = header_u64(&first, "x-raftcron-node-id");
    cluster.kill(sender);
    receiver.set_behaviour(Behaviour::default());
    let new_leader = cluster
        .wait_for_new_leader(sender, Duration::from_secs(20))
        .await;
    let second = wait_for("the re-sent attempt", Duration::from_secs(20), || async {
        receiver.requests().get(1).cloned()
    })
    .await;

    assert_eq!(first.header("idempotency-key"), Some(execution_id.as_str()));
    assert_eq!(
        second.header("idempotency-key"),
        Some(execution_id.as_str())
    );
    let first_attempt = header_u64(&first, "x-raftcron-attempt");
    assert_eq!(header_u64(&second, "x-raftcron-attempt"), first_attempt + 1);
    let first_token = header_u64(&first, "x-raftcron-fencing-token");
    let second_token = header_u64(&second, "x-raftcron-fencing-token");
    assert!(
        second_token > first_token,
        "{second_token} <= {first_token}"
    );

    let record = wait_for("the completed record", Duration::from_secs(10), || async {
        let record = execution(&cluster, new_leader, &job_id, &execution_id).await;
        (record["status"] == "COMPLETED").then_some(record)
    })
    .await;
    assert_eq!(record["attemptCount"], first_attempt + 1, "{record}");
    assert_eq!(record["redispatches"], first_attempt, "{record}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_leader_sends_nothing_after_resume() {
    let cluster = TestCluster::start(ClusterOptions::default()).await;
    let receiver = start_receiver().await;
    let leader = cluster.wait_for_leader(Duration::from_secs(20)).await;
    let body = job_body("fenced", "* * * * * *", &hook_url(&receiver));
    let job_id = create(&cluster, leader, body).await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    cluster.signal(leader, "STOP");
    let new_leader = cluster
        .wait_for_new_leader(leader, Duration::from_secs(20))
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    cluster.signal(leader, "CONT");
    tokio::time::sleep(Duration::from_secs(4)).await;
    pause(&cluster, new_leader, &job_id).await;

    let requests = receiver.requests();
    let old = leader.to_string();
    let new = new_leader.to_string();
    let first_new = requests
        .iter()
        .position(|request| request.header("x-raftcron-node-id") == Some(new.as_str()))
        .expect("the new leader fired");
    let stale: Vec<&RecordedRequest> = requests[first_new..]
        .iter()
        .filter(|request| request.header("x-raftcron-node-id") == Some(old.as_str()))
        .collect();
    assert!(
        stale.is_empty(),
        "old leader sent after the new one: {stale:?}"
    );
    let instants = instants_of(&requests, &job_id);
    assert!(instants.len() >= 8, "too few fires: {}", instants.len());
}

/// A job firing every second under `policy`, with `extra` fields merged in.
fn policy_job(receiver: &Receiver, policy: &str, extra: Value) -> Value {
    let mut body = job_body(policy, "* * * * * *", &hook_url(receiver));
    body["misfirePolicy"] = json!(policy);
    for (key, value) in extra.as_object().expect("object") {
        body[key] = value.clone();
    }
    body
}

/// Scheduled instants (ms) of `job_id` in arrival order.
fn scheduled_instants(receiver: &Receiver, job_id: &str) -> BTreeSet<i64> {
    instants_of(&receiver.requests(), job_id)
        .into_keys()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_down_follows_misfire_policy() {
    let options = ClusterOptions {
        misfire_threshold_ms: 1500,
        ..ClusterOptions::default()
    };
    let mut cluster = TestCluster::start(options).await;
    let receiver = start_receiver().await;
    let leader = cluster.wait_for_leader(Duration::from_secs(20)).await;
    let once = create(
        &cluster,
        leader,
        policy_job(&receiver, "FIRE_ONCE", json!({})),
    )
    .await;
    let all_body = policy_job(&receiver, "FIRE_ALL", json!({"maxCatchUp": 3}));
    let all = create(&cluster, leader, all_body).await;
    let skip = create(&cluster, leader, policy_job(&receiver, "SKIP", json!({}))).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    cluster.kill_all();
    let before: Vec<i64> = [&once, &all, &skip]
        .iter()
        .map(|id| {
            *scheduled_instants(&receiver, id)
                .last()
                .expect("fired before")
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(8)).await;
    cluster.start_all();
    let leader = cluster.wait_for_leader(Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    for id in [&once, &all, &skip] {
        pause(&cluster, leader, id).await;
    }

    let stats = |job: Value| {
        let caught_up = job["caughtUpInstants"].as_u64().expect("caughtUpInstants");
        let skipped = job["skippedInstants"].as_u64().expect("skippedInstants");
        (caught_up, skipped)
    };
    let (caught_up, skipped) =
        stats(get_json(&cluster, leader, &format!("/api/jobs/{once}")).await);
    assert_eq!(caught_up, 1, "FIRE_ONCE caught up");
    assert!(skipped >= 3, "FIRE_ONCE skipped {skipped}");
    let (caught_up, skipped) = stats(get_json(&cluster, leader, &format!("/api/jobs/{all}")).await);
    assert_eq!(caught_up, 3, "FIRE_ALL caught up");
    assert!(skipped >= 1, "FIRE_ALL skipped {skipped}");
    let (caught_up, skipped) =
        stats(get_json(&cluster, leader, &format!("/api/jobs/{skip}")).await);
    assert_eq!(caught_up, 0, "SKIP caught up");
    assert!(skipped >= 4, "SKIP skipped {skipped}");

    // FIRE_ALL runs the oldest missed instants: the three seconds after the last one before
    // the outage.
    let fired = scheduled_instants(&receiver, &all);
    for step in 1..=3 {
        let at = before[1] + step * 1000;
        assert!(
            fired.contains(&at),
            "FIRE_ALL did not run missed instant {at}"
        );
    }
    // SKIP leaves a gap of at least four seconds.
    let fired: Vec<i64> = scheduled_instants(&receiver, &skip).into_iter().collect();
    let gap = fired
        .windows(2)
        .map(|pair| pair[1] - pair[0])
        .max()
        .unwrap_or(0);
    assert!(gap >= 4000, "SKIP gap only {gap} ms after {}", before[2]);
    for id in [&once, &all, &skip] {
        for (at, keys) in instants_of(&receiver.requests(), id) {
            assert_eq!(keys.len(), 1, "instant {at} of {id} has several keys");
        }
    }
}

/// Returns whether any two executions' [start, end] intervals overlap.
fn overlapping(executions: &[Value]) -> Option<(String, String)> {
    let interval = |e: &Value| {
        let start = e["startTime"].as_str().expect("startTime").to_string();
        let end = e["endTime"].as_str().unwrap_or("9999").to_string();
        (start, end, e["id"].as_str().unwrap_or_default().to_string())
    };
    let mut spans: Vec<(String, String, String)> = executions.iter().map(interval).collect();
    spans.sort();
    spans
        .windows(2)
        .find(|pair| pair[1].0 < pair[0].1)
        .map(|pair| (pair[0].2.clone(), pair[1].2.clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbid_skips_overlap_across_leader_change() {
    let mut cluster = TestCluster::start(ClusterOptions::default()).await;
    let receiver = Receiver::start("127.0.0.1:0", holding(Duration::from_millis(2500)))
        .await
        .expect("start receiver");
    let leader = cluster.wait_for_leader(Duration::from_secs(20)).await;
    let mut body = job_body("forbid", "* * * * * *", &hook_url(&receiver));
    body["concurrencyPolicy"] = json!("FORBID");
    let job_id = create(&cluster, leader, body).await;
    tokio::time::sleep(Duration::from_secs(4)).await;

    cluster.kill(leader);
    let new_leader = cluster
        .wait_for_new_leader(leader, Duration::from_secs(20))
        .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    pause(&cluster, new_leader, &job_id).await;
    tokio::time::sleep(Duration::from_secs(4)).await;

    let executions = cluster.executions(new_leader, &job_id).await;
    assert!(executions.len() >= 2, "{executions:?}");
    assert_eq!(overlapping(&executions), None, "two runs overlapped");
    let job = get_json(&cluster, new_leader, &format!("/api/jobs/{job_id}")).await;
    let skipped = job["skippedInstants"].as_u64().expect("skippedInstants");
    assert!(skipped >= 3, "FORBID skipped only {skipped}: {job}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exponential_backoff_follows_committed_times() {
    let cluster = TestCluster::start(ClusterOptions::default()).await;
    let receiver = Receiver::start("127.0.0.1:0", answering(503))
        .await
        .expect("start receiver");
    let leader = cluster.wait_for_leader(Duration::from_secs(20)).await;
    let mut body = job_body("backoff", "@yearly", &hook_url(&receiver));
    body["retryStrategy"] = json!({"attempts": 4, "backoff": "exponential", "interval": 400});
    let job_id = create(&cluster, leader, body).await;
    let started = post_json(&cluster, leader, &format!("/api/jobs/{job_id}/trigger")).await;
    let execution_id = started["id"].as_str().expect("execution id").to_string();

    // Record the committed nextRetryTime of each attempt while the retries run.
    let mut committed: Vec<(u64, i64)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let record = loop {
        assert!(
            Instant::now() < deadline,
            "retries did not finish: {committed:?}"
        );
        let record = execution(&cluster, leader, &job_id, &execution_id).await;
        if let (Some(attempt), Some(next)) = (
            record["attemptCount"].as_u64(),
            record["nextRetryTime"].as_str(),
        ) {
            let next = chrono::DateTime::parse_from_rfc3339(next)
                .unwrap()
                .timestamp_millis();
            if committed.last().map(|(a, _)| *a) != Some(attempt) {
                committed.push((attempt, next));
            }
        }
        if record["status"] == "FAILED" {
            break record;
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    };
    assert_eq!(record["attemptCount"], 4, "{record}");
    assert_eq!(
        committed.len(),
        3,
        "nextRetryTime values seen: {committed:?}"
    );

    let requests = receiver.requests();
    assert_eq!(requests.len(), 4);
    for (index, (attempt, next_retry)) in committed.iter().enumerate() {
        let failed_at = requests[index].received_at_ms;
        let expected_delay = 400 * (1i64 << (attempt - 1));
        let committed_delay = next_retry - failed_at;
        assert!(
            (expected_delay..expected_delay + 500).contains(&committed_delay),
            "attempt {attempt}: committed delay {committed_delay} ms, expected {expected_delay}"
        );
        let sent_at = requests[index + 1].received_at_ms;
        assert!(
            (*next_retry..next_retry + 1000).contains(&sent_at),
            "attempt {} sent at {sent_at}, committed for {next_retry}",
            attempt + 1
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_target_times_out() {
    let cluster = TestCluster::start(ClusterOptions::default()).await;
    let receiver = Receiver::start("127.0.0.1:0", holding(Duration::from_secs(30)))
        .await
        .expect("start receiver");
    let leader = cluster.wait_for_leader(Duration::from_secs(20)).await;
    let mut body = job_body("silent", "@yearly", &hook_url(&receiver));
    body["triggerConfig"]["timeout"] = json!(500);
    let job_id = create(&cluster, leader, body).await;
    let started = post_json(&cluster, leader, &format!("/api/jobs/{job_id}/trigger")).await;
    let execution_id = started["id"].as_str().expect("execution id").to_string();

    let record = wait_for("the timed-out attempt", Duration::from_secs(10), || async {
        let record = execution(&cluster, leader, &job_id, &execution_id).await;
        (record["status"] == "FAILED").then_some(record)
    })
    .await;
    let error = record["error"].as_str().unwrap_or_default();
    assert!(error.contains("timed out"), "{record}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_stays_bounded() {
    let cluster = TestCluster::start(ClusterOptions::default()).await;
    let receiver = start_receiver().await;
    let leader = cluster.wait_for_leader(Duration::from_secs(20)).await;
    let mut body = job_body("bounded", "* * * * * *", &hook_url(&receiver));
    body["retention"] = json!({"maxCount": 3, "maxAge": 86_400_000});
    let job_id = create(&cluster, leader, body).await;
    tokio::time::sleep(Duration::from_secs(7)).await;
    pause(&cluster, leader, &job_id).await;

    assert!(receiver.requests().len() >= 5, "too few fires");
    let list = get_json(&cluster, leader, &format!("/api/jobs/{job_id}/executions")).await;
    let total = list["total"].as_u64().expect("total");
    assert!(total <= 4, "history grew to {total}: {list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_of_failed_execution_links_original() {
    let cluster = TestCluster::start(ClusterOptions::default()).await;
    let receiver = Receiver::start("127.0.0.1:0", answering(500))
        .await
        .expect("start receiver");
    let leader = cluster.wait_for_leader(Duration::from_secs(20)).await;
    let job_id = create(
        &cluster,
        leader,
        job_body("retried", "@yearly", &hook_url(&receiver)),
    )
    .await;
    let started = post_json(&cluster, leader, &format!("/api/jobs/{job_id}/trigger")).await;
    let original = started["id"].as_str().expect("execution id").to_string();
    wait_for("the failed run", Duration::from_secs(10), || async {
        let record = execution(&cluster, leader, &job_id, &original).await;
        (record["status"] == "FAILED").then_some(())
    })
    .await;

    receiver.set_behaviour(Behaviour::default());
    let follower = cluster.other_node(leader);
    let path = format!("/api/jobs/{job_id}/executions/{original}/retry");
    let retried = post_json(&cluster, follower, &path).await;
    let retry_id = retried["id"].as_str().expect("execution id").to_string();
    assert_ne!(retry_id, original);
    assert_eq!(retried["cause"], "RETRY");
    assert_eq!(retried["retryOf"], original.as_str());
    wait_for("the retry to complete", Duration::from_secs(10), || async {
        let record = execution(&cluster, leader, &job_id, &retry_id).await;
        (record["status"] == "COMPLETED").then_some(())
    })
    .await;
    let record = execution(&cluster, leader, &job_id, &original).await;
    assert_eq!(record["status"], "FAILED", "the original changed: {record}");
    assert_eq!(record["attemptCount"], 1, "{record}");
}
