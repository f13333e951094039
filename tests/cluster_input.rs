//! Bad input over REST and gRPC on a real three-node cluster: each call gets a clear error that
//! names the field and the value, and nothing is stored.

mod common;

use std::time::Duration;

use common::{ClusterOptions, TestCluster, job_body};
use raftcron::api::pb;
use raftcron::api::pb::job_service_client::JobServiceClient;
use serde_json::{Value, json};
use tonic::Code;

/// Bodies that must be rejected, each with the field the error must name and a value it must
/// quote.
fn bad_bodies() -> Vec<(Value, &'static str, &'static str)> {
    let url = "http://127.0.0.1:9/hook";
    let mut cases = Vec::new();
    let mut body = job_body("bad zone", "@hourly", url);
    body["timeZone"] = json!("Mars/Olympus_Mons");
    cases.push((body, "timeZone", "Mars/Olympus_Mons"));
    cases.push((
        job_body("bad cron", "61 * * * *", url),
        "schedule",
        "61 * * * *",
    ));
    cases.push((
        job_body("never", "0 0 30 2 *", url),
        "schedule",
        "0 0 30 2 *",
    ));
    let mut body = job_body("no url", "@hourly", url);
    body["triggerConfig"].as_object_mut().unwrap().remove("url");
    cases.push((body, "triggerConfig.url", "triggerConfig.url"));
    let mut body = job_body("negative timeout", "@hourly", url);
    body["triggerConfig"]["timeout"] = json!(-5);
    cases.push((body, "triggerConfig.timeout", "-5"));
    cases
}

async fn total_jobs(cluster: &TestCluster, node: u64) -> u64 {
    let list: Value = cluster
        .http
        .get(cluster.url(node, "/api/jobs"))
        .send()
        .await
        .expect("GET jobs")
        .json()
        .await
        .expect("list JSON");
    list["total"].as_u64().expect("total")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_rejects_bad_input() {
    let cluster = TestCluster::start(ClusterOptions::default()).await;
    let leader = cluster.wait_for_leader(Duration::from_secs(20)).await;
    let follower = cluster.other_node(leader);

    for (body, field, value) in bad_bodies() {
        let response = cluster
            .http
            .post(cluster.url(follower, "/api/jobs"))
            .json(&body)
            .send()
            .await
            .expect("POST /api/jobs");
        assert_eq!(response.status(), 400, "body {body}");
        let error: Value = response.json().await.expect("error JSON");
        assert_eq!(error["error"]["code"], "INVALID_ARGUMENT", "{error}");
        assert_eq!(error["error"]["field"], field, "{error}");
        let message = error["error"]["message"].as_str().expect("message");
        assert!(
            message.contains(value),
            "message {message:?} lacks {value:?}"
        );
    }

    let missing = cluster
        .http
        .get(cluster.url(follower, "/api/jobs/no-such-job"))
        .send()
        .await
        .expect("GET unknown job");
    assert_eq!(missing.status(), 404);
    let error: Value = missing.json().await.expect("error JSON");
    assert_eq!(error["error"]["code"], "NOT_FOUND", "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no-such-job")
    );

    let malformed = cluster
        .http
        .post(cluster.url(follower, "/api/jobs"))
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .expect("POST malformed JSON");
    assert_eq!(malformed.status(), 400);

    assert_eq!(
        total_jobs(&cluster, leader).await,
        0,
        "a rejected job was stored"
    );
}

fn grpc_input(body: &Value) -> pb::JobInput {
    let trigger = &body["triggerConfig"];
    pb::JobInput {
        name: body["name"].as_str().map(str::to_string),
        schedule: body["schedule"].as_str().map(str::to_string),
        time_zone: body["timeZone"].as_str().map(str::to_string),
        trigger_config: Some(pb::TriggerConfigInput {
            url: trigger["url"].as_str().map(str::to_string),
            timeout: trigger["timeout"].as_i64(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_rejects_bad_input() {
    let cluster = TestCluster::start(ClusterOptions::default()).await;
    let leader = cluster.wait_for_leader(Duration::from_secs(20)).await;
    let follower = cluster.other_node(leader);
    let endpoint = format!("http://{}", cluster.nodes[&follower].client_addr);
    let mut client = JobServiceClient::connect(endpoint)
        .await
        .expect("connect gRPC client");

    for (body, field, value) in bad_bodies() {
        let request = pb::CreateJobRequest {
            job: Some(grpc_input(&body)),
        };
        let status = client.create_job(request).await.expect_err("rejected");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().contains(value),
            "{status:?} lacks {value:?}"
        );
        let named = status
            .metadata()
            .get("raftcron-field")
            .and_then(|v| v.to_str().ok());
        assert_eq!(named, Some(field), "{status:?}");
    }

    let request = pb::GetJobRequest {
        id: "no-such-job".to_string(),
    };
    let status = client.get_job(request).await.expect_err("unknown id");
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert!(status.message().contains("no-such-job"), "{status:?}");

    assert_eq!(
        total_jobs(&cluster, leader).await,
        0,
        "a rejected job was stored"
    );
}
