//! The scheduler's health on a real three-node cluster. A node whose stored copy of a job is
//! damaged fails its leader loop on a storage error when it leads. It shuts down its Raft
//! after three failures in a row, and another node takes over the firing.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{ClusterOptions, TestCluster, hook_url, job_body, start_receiver, wait_for};
use raftcron::receiver::Receiver;
use serde_json::Value;

/// The error line a node logs when its scheduler shuts down its Raft.
const SHUTDOWN_LINE: &str = "leader loop failed on storage errors; shutting down raft";

/// Elections the test provokes at most while it waits for the damaged node to lead. With its
/// shorter election timeout the damaged node wins most of them.
const MAX_ELECTIONS: usize = 12;

/// Rewrites the first byte (the format version, 4 in this build) of job `job_id` in the sled
/// directory `data_dir` to 3, which no build reads. The node must be stopped.
fn damage_job(data_dir: &Path, job_id: &str) {
    // Without a flusher thread, dropping the handle releases the directory lock at once, before
    // the node restarts.
    let db = sled::Config::new()
        .path(data_dir)
        .flush_every_ms(None)
        .open()
        .expect("open the stopped node's sled directory");
    let jobs = db.open_tree("jobs").expect("open the jobs tree");
    let stored = jobs.get(job_id.as_bytes()).expect("read job");
    let mut value = stored.expect("job stored on the node").to_vec();
    assert_eq!(value[0], 4, "unexpected format version of the stored job");
    value[0] = 3;
    jobs.insert(job_id.as_bytes(), value).expect("write job");
    db.flush().expect("flush sled");
}

/// Gives node `id` election timeouts of 250 to 400 ms, below the 500 to 1000 ms of the other
/// nodes, so that it starts the election when the leader stops and usually wins it. The node
/// must be stopped.
fn shorten_election_timeout(cluster: &TestCluster, id: u64) {
    let path = &cluster.nodes[&id].config_path;
    let config = std::fs::read_to_string(path).expect("read node config");
    let defaults = "election_timeout_min_ms = 500\nelection_timeout_max_ms = 1000\n";
    assert!(config.contains(defaults), "{config}");
    let shorter = "election_timeout_min_ms = 250\nelection_timeout_max_ms = 400\n";
    std::fs::write(path, config.replace(defaults, shorter)).expect("write node config");
}

async fn create(cluster: &TestCluster, node: u64, body: &Value) -> String {
    let job = cluster.create_job(node, body).await;
    job["id"].as_str().expect("job id").to_string()
}

/// Returns once every running node has applied `index`.
async fn wait_applied(cluster: &TestCluster, index: u64) {
    wait_for(
        "every node to apply the jobs",
        Duration::from_secs(20),
        || async {
            for id in cluster.running_ids() {
                let status = cluster.status(id).await?;
                if status["appliedIndex"].as_u64()? < index {
                    return None;
                }
            }
            Some(())
        },
    )
    .await;
}

fn has_shut_down(cluster: &TestCluster, node: u64) -> bool {
    cluster.log_text(node).contains(SHUTDOWN_LINE)
}

/// Waits after the leader `paused` was paused: returns None once `target` shut down its Raft,
/// and the winner once another node won the election.
async fn election_winner(cluster: &TestCluster, paused: u64, target: u64) -> Option<u64> {
    let other = (1..=3)
        .find(|id| *id != paused && *id != target)
        .expect("third node");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut printed = 0;
    while Instant::now() < deadline {
        if has_shut_down(cluster, target) {
            return None;
        }
        if let Some(status) = cluster.status(target).await {
            let failures = status["schedulerFailures"].as_u64().unwrap_or(0);
            if failures > printed {
                printed = failures;
                eprintln!("status of node {target} while it leads: {status}");
            }
        }
        let other_status = cluster.status(other).await;
        if other_status.is_some_and(|status| status["leaderId"].as_u64() == Some(other)) {
            return Some(other);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "no node won the election after node {paused} was paused; logs:\n{}",
        cluster.logs()
    );
}

/// Moves the leadership until `target` has led and shut down its Raft: pauses the leader so
/// the two other nodes elect one, and repeats when the target lost the election.
async fn lead_until_shutdown(cluster: &TestCluster, target: u64) {
    let mut leader = cluster.wait_for_leader(Duration::from_secs(20)).await;
    for election in 1..=MAX_ELECTIONS {
        if leader == target {
            // The node leads without a provoked election; its leader loop fails the same way.
            wait_for("node to shut down", Duration::from_secs(30), || async {
                has_shut_down(cluster, target).then_some(())
            })
            .await;
            return;
        }
        eprintln!("--- election {election}: leader {leader} paused");
        cluster.signal(leader, "STOP");
        let winner = election_winner(cluster, leader, target).await;
        cluster.signal(leader, "CONT");
        // A resumed leader reports itself leader until it hears of the new term, so the
        // next round pauses the winner rather than asking the cluster.
        match winner {
            Some(winner) => leader = winner,
            None => return,
        }
    }
    panic!(
        "node {target} won none of {MAX_ELECTIONS} elections; logs:\n{}",
        cluster.logs()
    );
}

/// Returns the node that sent a request of `job_id` that the receiver got after the first
/// `seen` requests, once one came from a node other than `excluded`.
async fn next_sender(receiver: &Receiver, job_id: &str, seen: usize, excluded: u64) -> u64 {
    wait_for(
        "a fire from another node",
        Duration::from_secs(30),
        || async {
            let requests = receiver.requests();
            requests.iter().skip(seen).find_map(|request| {
                let sender = request.header("x-raftcron-node-id")?.parse().ok()?;
                let ours = request.header("x-raftcron-job-id") == Some(job_id);
                (ours && sender != excluded).then_some(sender)
            })
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_store_leader_hands_over() {
    let mut cluster = TestCluster::start(ClusterOptions::default()).await;
    let receiver = start_receiver().await;
    let leader = cluster.wait_for_leader(Duration::from_secs(20)).await;
    let target = cluster.other_node(leader);

    // Two yearly jobs that never fire during the test, so no apply on the damaged node reads
    // them. The later id is damaged, so the first job in the tree, which the store's format
    // check at start reads, stays intact.
    let url = hook_url(&receiver);
    let mut yearly = vec![
        create(&cluster, leader, &job_body("yearly a", "@yearly", &url)).await,
        create(&cluster, leader, &job_body("yearly b", "@yearly", &url)).await,
    ];
    yearly.sort();
    let damaged = yearly.pop().expect("two job ids");
    let ticking = job_body("every second", "* * * * * *", &url);
    let ticking = create(&cluster, leader, &ticking).await;
    let leader_status = cluster.status(leader).await.expect("leader status");
    let index = leader_status["commitIndex"].as_u64().expect("commit index");
    wait_applied(&cluster, index).await;

    eprintln!("--- node {target} stopped; job {damaged} damaged in its store");
    cluster.kill(target);
    damage_job(&cluster.dir.path().join(format!("node{target}")), &damaged);
    shorten_election_timeout(&cluster, target);
    cluster.start_node(target);
    wait_for(
        "the restarted node to follow",
        Duration::from_secs(20),
        || {
            let cluster = &cluster;
            async move {
                let status = cluster.status(target).await?;
                status["leaderId"].as_u64().map(|_| ())
            }
        },
    )
    .await;

    eprintln!("--- leadership moved to node {target}");
    lead_until_shutdown(&cluster, target).await;
    let seen = receiver.requests().len();

    eprintln!("--- node {target} shut down its Raft");
    let log = cluster.log_text(target);
    let line = log
        .lines()
        .find(|line| line.contains(SHUTDOWN_LINE))
        .expect("shutdown line");
    eprintln!("log line of node {target}: {line}");
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains(&format!("node.id={target}")), "{line}");
    assert!(line.contains("stored job has format version 3"), "{line}");
    assert_eq!(log.matches(SHUTDOWN_LINE).count(), 1, "{log}");

    let new_leader = next_sender(&receiver, &ticking, seen, target).await;
    assert_ne!(new_leader, target);

    let status = wait_for("the stopped node's status", Duration::from_secs(10), || {
        cluster.status(target)
    })
    .await;
    eprintln!("status of node {target} after its Raft stopped: {status}");
    assert_eq!(status["leaderId"], Value::Null, "{status}");
    assert_eq!(status["quorumOk"], false, "{status}");
    assert_eq!(status["schedulerOk"], Value::Null, "{status}");
    let members = status["members"].as_array().expect("members");
    let own = members
        .iter()
        .find(|member| member["id"].as_u64() == Some(target))
        .expect("own member");
    assert_eq!(own["role"], "SHUTDOWN", "{status}");

    let readyz = cluster
        .http
        .get(cluster.url(target, "/readyz"))
        .send()
        .await
        .expect("GET /readyz");
    assert_eq!(readyz.status(), 503);
    let body: Value = readyz.json().await.expect("readyz JSON");
    eprintln!("/readyz of node {target}: {body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("its Raft stopped"), "{body}");

    let leader_status = cluster.status(new_leader).await.expect("leader status");
    eprintln!("status of the new leader {new_leader}: {leader_status}");
    assert_eq!(leader_status["schedulerOk"], true, "{leader_status}");
}
