//! gRPC and REST served together on one listener, as a node serves them.

use serde_json::Value;
use tonic::Code;

use super::error::FIELD_METADATA_KEY;
use super::fake::{Fixture, serve};
use super::pb;
use super::pb::cluster_service_client::ClusterServiceClient;
use super::pb::job_service_client::JobServiceClient;

fn job_input() -> pb::JobInput {
    pb::JobInput {
        name: Some("hourly-sync".to_string()),
        schedule: Some("@hourly".to_string()),
        trigger_config: Some(pb::TriggerConfigInput {
            url: Some("http://127.0.0.1:9/sync".to_string()),
            ..Default::default()
        }),
        tags: Some(pb::Tags {
            values: vec!["sync".to_string()],
        }),
        ..Default::default()
    }
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

#[tokio::test]
async fn grpc_and_rest_share_one_listener() {
    let fixture = Fixture::new();
    let address = serve(fixture.api.clone()).await;
    let mut jobs = JobServiceClient::connect(format!("http://{address}"))
        .await
        .unwrap();

    let request = pb::CreateJobRequest {
        job: Some(job_input()),
    };
    let job = jobs.create_job(request).await.unwrap().into_inner();
    assert_eq!(
        job.next_execution_time.as_deref(),
        Some("2026-01-01T01:00:00.000Z")
    );

    let url = format!("http://{address}/api/jobs/{}", job.id);
    let response = http_client().get(url).send().await.unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["id"], job.id.as_str());
    assert_eq!(body["name"], "hourly-sync");
    assert_eq!(body["tags"][0], "sync");

    let request = pb::GetJobRequest { id: job.id.clone() };
    let fetched = jobs.get_job(request).await.unwrap().into_inner();
    assert_eq!(fetched, job);
}

#[tokio::test]
async fn grpc_errors_carry_code_and_field() {
    let fixture = Fixture::new();
    let address = serve(fixture.api.clone()).await;
    let mut jobs = JobServiceClient::connect(format!("http://{address}"))
        .await
        .unwrap();

    let missing = pb::GetJobRequest {
        id: "missing".to_string(),
    };
    let status = jobs.get_job(missing).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(status.message(), "job \"missing\" not found");

    let mut input = job_input();
    input.time_zone = Some("Mars/Olympus".to_string());
    let request = pb::CreateJobRequest { job: Some(input) };
    let status = jobs.create_job(request).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let field = status.metadata().get(FIELD_METADATA_KEY).unwrap();
    assert_eq!(field.to_str().unwrap(), "timeZone");
    assert!(
        status.message().contains("Mars/Olympus"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn grpc_overlong_id_is_invalid() {
    let fixture = Fixture::new();
    let address = serve(fixture.api.clone()).await;
    let mut jobs = JobServiceClient::connect(format!("http://{address}"))
        .await
        .unwrap();

    let request = pb::GetJobRequest {
        id: "j".repeat(20_000),
    };
    let status = jobs.get_job(request).await.unwrap_err();

    assert_eq!(status.code(), Code::InvalidArgument);
    let field = status.metadata().get(FIELD_METADATA_KEY).unwrap();
    assert_eq!(field.to_str().unwrap(), "id");
    assert!(status.message().len() < 1000, "{}", status.message());
}

#[tokio::test]
async fn grpc_update_leaves_unset_fields() {
    let fixture = Fixture::new();
    let address = serve(fixture.api.clone()).await;
    let mut jobs = JobServiceClient::connect(format!("http://{address}"))
        .await
        .unwrap();
    let request = pb::CreateJobRequest {
        job: Some(job_input()),
    };
    let job = jobs.create_job(request).await.unwrap().into_inner();

    let change = pb::JobInput {
        description: Some("now documented".to_string()),
        ..Default::default()
    };
    let request = pb::UpdateJobRequest {
        id: job.id.clone(),
        job: Some(change),
    };
    let updated = jobs.update_job(request).await.unwrap().into_inner();

    assert_eq!(updated.description, "now documented");
    assert_eq!(updated.tags, job.tags);
    assert_eq!(updated.trigger_config, job.trigger_config);
}

#[tokio::test]
async fn grpc_cluster_status_and_preview() {
    let fixture = Fixture::new();
    let address = serve(fixture.api.clone()).await;
    let endpoint = format!("http://{address}");

    let mut cluster = ClusterServiceClient::connect(endpoint.clone())
        .await
        .unwrap();
    let status = cluster.get_status(pb::GetStatusRequest {}).await.unwrap();
    let status = status.into_inner();
    assert_eq!(status.leader_id, Some(1));
    assert!(status.quorum_ok);
    assert_eq!(status.members[1].reachable, Some(true));
    assert_eq!(status.members[1].last_contact_ms, Some(40));
    assert_eq!(status.members[1].last_error, None);

    let mut jobs = JobServiceClient::connect(endpoint).await.unwrap();
    let request = pb::PreviewScheduleRequest {
        schedule: "@every 90s".to_string(),
        count: Some(2),
        ..Default::default()
    };
    let preview = jobs.preview_schedule(request).await.unwrap().into_inner();
    assert_eq!(preview.time_zone, "UTC");
    let expected = ["2026-01-01T00:01:30.000Z", "2026-01-01T00:03:00.000Z"];
    assert_eq!(preview.times, expected);
}

#[tokio::test]
async fn rest_unknown_path_is_json_404() {
    let fixture = Fixture::new();
    let address = serve(fixture.api.clone()).await;
    let url = format!("http://{address}/raftcron.v1.Nothing/Call");
    let response = http_client().get(url).send().await.unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::NOT_FOUND);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "NOT_FOUND");
}
