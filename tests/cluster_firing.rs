//! End-to-end tests on a real three-node cluster: node processes on 127.0.0.1 with their own
//! sled directories, and a real HTTP receiver.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{
    ClusterOptions, TestCluster, assert_contiguous_seconds, hook_url, instants_of, job_body, pause,
    start_receiver, wait_for,
};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_created_on_follower_fires() {
    let cluster = TestCluster::start(ClusterOptions::default()).await;
    let receiver = start_receiver().await;
    let leader = cluster.wait_for_leader(Duration::from_secs(20)).await;
    let follower = cluster.other_node(leader);

    let body = job_body("every second", "* * * * * *", &hook_url(&receiver));
    let job = cluster.create_job(follower, &body).await;
    let job_id = job["id"].as_str().expect("job id").to_string();
    tokio::time::sleep(Duration::from_secs(4)).await;

    let requests = receiver.requests();
    let instants = instants_of(&requests, &job_id);
    assert!(instants.len() >= 3, "expected 3+ fires, got {instants:?}");
    assert_contiguous_seconds(&instants);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/hook");
    assert_eq!(request.header("x-raftcron-attempt"), Some("1"));
    assert!(request.header("x-raftcron-fencing-token").is_some());
    assert_eq!(
        request.header("x-raftcron-execution-id"),
        request.header("idempotency-key")
    );

    let executions = cluster.executions(follower, &job_id).await;
    assert!(executions.len() >= 3, "executions: {executions:?}");
    assert!(
        executions.iter().any(|e| e["status"] == "COMPLETED"),
        "no COMPLETED execution: {executions:?}"
    );
    let job: Value = cluster
        .http
        .get(cluster.url(leader, &format!("/api/jobs/{job_id}")))
        .send()
        .await
        .expect("GET job")
        .json()
        .await
        .expect("job JSON");
    assert!(job["lastExecutionTime"].is_string(), "{job}");
    assert!(job["nextExecutionTime"].is_string(), "{job}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_kill_keeps_every_instant_once() {
    let mut cluster = TestCluster::start(ClusterOptions::default()).await;
    let receiver = start_receiver().await;
    let leader = cluster.wait_for_leader(Duration::from_secs(20)).await;

    let body = job_body("failover", "* * * * * *", &hook_url(&receiver));
    let job = cluster.create_job(leader, &body).await;
    let job_id = job["id"].as_str().expect("job id").to_string();
    tokio::time::sleep(Duration::from_secs(3)).await;

    cluster.kill(leader);
    let new_leader = cluster
        .wait_for_new_leader(leader, Duration::from_secs(20))
        .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    pause(&cluster, new_leader, &job_id).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let instants = instants_of(&receiver.requests(), &job_id);
    assert!(instants.len() >= 6, "too few fires: {instants:?}");
    assert_contiguous_seconds(&instants);

    let executions = cluster.executions(new_leader, &job_id).await;
    let scheduled: BTreeSet<&str> = executions
        .iter()
        .filter_map(|e| e["scheduledTime"].as_str())
        .collect();
    assert_eq!(
        scheduled.len(),
        executions.len(),
        "two executions for one instant"
    );
    assert_eq!(
        executions.len(),
        instants.len(),
        "records and receiver disagree"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_follower_catches_up() {
    let mut cluster = TestCluster::start(ClusterOptions::default()).await;
    let receiver = start_receiver().await;
    let leader = cluster.wait_for_leader(Duration::from_secs(20)).await;
    let follower = cluster.other_node(leader);

    cluster.kill(follower);
    let mut ids = Vec::new();
    for index in 0..5 {
        let body = job_body(&format!("job {index}"), "@hourly", &hook_url(&receiver));
        let job = cluster.create_job(leader, &body).await;
        ids.push(job["id"].as_str().expect("job id").to_string());
    }
    cluster.start_node(follower);
    wait_until_caught_up(&cluster, follower, leader).await;

    for id in &ids {
        let response = cluster
            .http
            .get(cluster.url(follower, &format!("/api/jobs/{id}")))
            .send()
            .await
            .expect("GET job from restarted follower");
        assert_eq!(
            response.status(),
            200,
            "job {id} missing on node {follower}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lagging_follower_installs_snapshot() {
    let options = ClusterOptions {
        snapshot_every_entries: 10,
        keep_entries_after_snapshot: 2,
        ..ClusterOptions::default()
    };
    let mut cluster = TestCluster::start(options).await;
    let receiver = start_receiver().await;
    let leader = cluster.wait_for_leader(Duration::from_secs(20)).await;
    let follower = cluster.other_node(leader);

    cluster.kill(follower);
    let mut last_id = String::new();
    for index in 0..40 {
        let body = job_body(&format!("job {index}"), "@daily", &hook_url(&receiver));
        let job = cluster.create_job(leader, &body).await;
        last_id = job["id"].as_str().expect("job id").to_string();
    }
    cluster.start_node(follower);
    wait_until_caught_up(&cluster, follower, leader).await;

    let list: Value = cluster
        .http
        .get(cluster.url(follower, "/api/jobs?limit=100"))
        .send()
        .await
        .expect("GET jobs")
        .json()
        .await
        .expect("list JSON");
    assert_eq!(list["total"], 40, "{list}");
    let status = cluster.status(follower).await.expect("follower status");
    assert!(
        status["snapshotIndex"].as_u64().unwrap_or(0) > 0,
        "follower has no snapshot: {status}"
    );
    let response = cluster
        .http
        .get(cluster.url(follower, &format!("/api/jobs/{last_id}")))
        .send()
        .await
        .expect("GET last job");
    assert_eq!(response.status(), 200);
}

/// Waits until `node` has applied everything `leader` has committed.
async fn wait_until_caught_up(cluster: &TestCluster, node: u64, leader: u64) {
    let leader_status = cluster.status(leader).await.expect("leader status");
    let target = leader_status["commitIndex"].as_u64().expect("commit index");
    for _ in 0..300 {
        if let Some(status) = cluster.status(node).await
            && status["appliedIndex"].as_u64().unwrap_or(0) >= target
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "node {node} did not reach index {target}; log:\n{}",
        cluster.log_text(node)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_without_quorum_fail_fast() {
    let mut cluster = TestCluster::start(ClusterOptions::default()).await;
    let receiver = start_receiver().await;
    let leader = cluster.wait_for_leader(Duration::from_secs(20)).await;
    let survivor = cluster.other_node(leader);
    let others: Vec<u64> = cluster
        .running_ids()
        .into_iter()
        .filter(|id| *id != survivor)
        .collect();
    for id in others {
        cluster.kill(id);
    }

    let body = job_body("no quorum", "@hourly", &hook_url(&receiver));
    let response = cluster
        .http
        .post(cluster.url(survivor, "/api/jobs"))
        .json(&body)
        .send()
        .await
        .expect("the node answers instead of hanging");
    assert_eq!(response.status(), 503);
    let error: Value = response.json().await.expect("error JSON");
    assert_eq!(error["error"]["code"], "UNAVAILABLE", "{error}");
}

/// Returns member `id` of a REST cluster status.
fn member(status: &Value, id: u64) -> &Value {
    let members = status["members"].as_array().expect("members array");
    let found = members
        .iter()
        .find(|member| member["id"].as_u64() == Some(id));
    found.unwrap_or_else(|| panic!("member {id} missing from {status}"))
}

/// Returns the current leader and its status once it reports member `down` as unreachable and
/// every other member as reachable.
async fn leader_reporting_down(cluster: &TestCluster, down: u64) -> Option<(u64, Value)> {
    let leader = cluster.current_leader().await?;
    let status = cluster.status(leader).await?;
    let members = status["members"].as_array()?;
    let as_expected = members.iter().all(|member| {
        let id = member["id"].as_u64().unwrap_or_default();
        member["reachable"].as_bool() == Some(id != down)
    });
    as_expected.then_some((leader, status))
}

/// Returns the status of `node` once it reports its own role as FOLLOWER; a spurious election
/// on a loaded machine can make it a candidate or the leader for a moment.
async fn following(cluster: &TestCluster, node: u64) -> Option<Value> {
    let status = cluster.status(node).await?;
    (member(&status, node)["role"] == "FOLLOWER").then_some(status)
}

/// Returns `Some(Some(status))` once `node` leads and reports no quorum, `Some(None)` once it no
/// longer leads, and None while neither holds, so that the caller polls again.
async fn leader_without_quorum(cluster: &TestCluster, node: u64) -> Option<Option<Value>> {
    let status = cluster.status(node).await?;
    if status["leaderId"].as_u64() != Some(node) {
        return Some(None);
    }
    (status["quorumOk"] == false).then_some(Some(status))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_unreachable_members() {
    let options = ClusterOptions::default();
    let election_timeout_max_ms = options.election_timeout_max_ms;
    let mut cluster = TestCluster::start(options).await;
    let leader = cluster.wait_for_leader(Duration::from_secs(20)).await;
    let killed = cluster.other_node(leader);

    eprintln!("--- follower {killed} killed");
    cluster.kill(killed);
    // A spurious election on a loaded machine can move the leadership, so each poll reads the
    // status of whichever node leads now.
    let (leader, status) = wait_for(
        "the leader to report only the killed follower unreachable",
        Duration::from_secs(20),
        || leader_reporting_down(&cluster, killed),
    )
    .await;
    assert_eq!(status["quorumOk"], true, "{status}");
    let down = member(&status, killed);
    assert_eq!(down["role"], "FOLLOWER", "{status}");
    if let Some(last_contact_ms) = down["lastContactMs"].as_u64() {
        assert!(last_contact_ms >= election_timeout_max_ms, "{status}");
    }
    assert!(down["lastError"].is_string(), "{status}");
    assert_eq!(member(&status, leader)["reachable"], true, "{status}");
    assert!(
        member(&status, leader)["lastContactMs"].is_null(),
        "{status}"
    );
    let follower = cluster.other_node(leader);
    let follower_status = wait_for("the follower's status", Duration::from_secs(10), || {
        following(&cluster, follower)
    })
    .await;
    // Only the leader judges reachability, so a follower reports none, not even its own.
    for id in [leader, follower, killed] {
        let reported = member(&follower_status, id);
        assert_eq!(reported["reachable"], Value::Null, "{follower_status}");
        assert_eq!(reported["lastContactMs"], Value::Null, "{follower_status}");
    }

    let survivor = cluster.current_leader().await.unwrap_or(leader);
    let second = cluster.other_node(survivor);
    eprintln!("--- node {second} killed, node {survivor} left alone");
    cluster.kill(second);
    let Some(status) = wait_for(
        "the surviving leader to report no quorum",
        Duration::from_secs(20),
        || leader_without_quorum(&cluster, survivor),
    )
    .await
    else {
        eprintln!("node {survivor} stopped leading, so there is no leader quorum to check");
        return;
    };
    assert_eq!(member(&status, killed)["reachable"], false, "{status}");
    assert_eq!(member(&status, second)["reachable"], false, "{status}");
    assert_eq!(member(&status, survivor)["reachable"], true, "{status}");
    let readyz = cluster
        .http
        .get(cluster.url(survivor, "/readyz"))
        .send()
        .await
        .expect("GET /readyz");
    assert_eq!(readyz.status(), 503);
}
