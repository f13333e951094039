//! REST and gRPC tests of the job policies, the counters and forced triggers, through the full
//! router over a real store.

use axum::body::{Body, to_bytes};
use axum::http::{HeaderValue, Request, StatusCode, header};
use serde_json::{Value, json};
use tonic::Code;
use tonic::transport::Channel;
use tower::ServiceExt;

use super::error::FIELD_METADATA_KEY;
use super::fake::{Fixture, serve};
use super::grpc::REPLAYED_METADATA_KEY;
use super::pb;
use super::pb::job_service_client::JobServiceClient;
use super::router;

fn job_body(fields: Value) -> Value {
    let mut body = json!({
        "name": "policies",
        "schedule": "@hourly",
        "triggerConfig": {"url": "http://127.0.0.1:9/hook"}
    });
    let object = body.as_object_mut().unwrap();
    for (key, value) in fields.as_object().unwrap() {
        object.insert(key.clone(), value.clone());
    }
    body
}

struct Reply {
    status: StatusCode,
    body: Value,
}

async fn send(fixture: &Fixture, method: &str, uri: &str, body: Option<Value>) -> Reply {
    let request = Request::builder().method(method).uri(uri);
    let request = match body {
        Some(body) => request
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string())),
        None => request.body(Body::empty()),
    };
    send_request(fixture, request.unwrap()).await
}

async fn send_request(fixture: &Fixture, request: Request<Body>) -> Reply {
    let response = router(fixture.api.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    Reply { status, body }
}

async fn create(fixture: &Fixture, fields: Value) -> String {
    let reply = send(fixture, "POST", "/api/jobs", Some(job_body(fields))).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["id"].as_str().unwrap().to_string()
}

/// Triggers job `id` and moves the clock on, so the next trigger is a new decision.
async fn trigger(fixture: &Fixture, id: &str, query: &str, body: Option<Value>) -> Reply {
    let uri = format!("/api/jobs/{id}/trigger{query}");
    let reply = send(fixture, "POST", &uri, body).await;
    fixture.advance(1);
    reply
}

/// Triggers job `id` with one `Idempotency-Key` header per entry of `keys`, then moves the
/// clock on.
async fn trigger_with_keys(fixture: &Fixture, id: &str, keys: &[&[u8]]) -> Reply {
    let mut request = Request::builder()
        .method("POST")
        .uri(format!("/api/jobs/{id}/trigger"));
    for key in keys {
        let value = HeaderValue::from_bytes(key).expect("header value");
        request = request.header("Idempotency-Key", value);
    }
    let reply = send_request(fixture, request.body(Body::empty()).unwrap()).await;
    fixture.advance(1);
    reply
}

fn assert_error(reply: &Reply, status: StatusCode, code: &str, field: &str, value: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.body["error"]["code"], code, "{}", reply.body);
    assert_eq!(reply.body["error"]["field"], field, "{}", reply.body);
    assert_eq!(reply.body["error"]["value"], value, "{}", reply.body);
}

#[tokio::test]
async fn create_returns_policies_and_counters() {
    let fixture = Fixture::new();
    let fields = json!({
        "misfirePolicy": "FIRE_ALL",
        "maxCatchUp": 5,
        "startingDeadline": 90_000,
        "concurrencyPolicy": "FORBID",
        "retention": {"maxCount": 20, "maxAge": 3_600_000},
        "retryStrategy": {
            "attempts": 3,
            "interval": 1000,
            "maxInterval": 8000,
            "jitter": 0.25,
            "retryOn": [503, 409]
        }
    });
    let id = create(&fixture, fields).await;

    let reply = send(&fixture, "GET", &format!("/api/jobs/{id}"), None).await;

    let job = &reply.body;
    assert_eq!(job["misfirePolicy"], "FIRE_ALL");
    assert_eq!(job["maxCatchUp"], 5);
    assert_eq!(job["startingDeadline"], 90_000);
    assert_eq!(job["concurrencyPolicy"], "FORBID");
    assert_eq!(
        job["retention"],
        json!({"maxCount": 20, "maxAge": 3_600_000})
    );
    assert_eq!(job["retryStrategy"]["maxInterval"], 8000);
    assert_eq!(job["retryStrategy"]["jitter"], 0.25);
    assert_eq!(job["retryStrategy"]["retryOn"], json!([409, 503]));
    assert_eq!(job["skippedInstants"], 0);
    assert_eq!(job["caughtUpInstants"], 0);
}

#[tokio::test]
async fn create_without_policies_shows_defaults() {
    let fixture = Fixture::new();
    let id = create(&fixture, json!({})).await;

    let job = send(&fixture, "GET", &format!("/api/jobs/{id}"), None)
        .await
        .body;

    assert_eq!(job["misfirePolicy"], "FIRE_ONCE");
    assert_eq!(job["maxCatchUp"], 10);
    assert_eq!(job["startingDeadline"], Value::Null);
    assert_eq!(job["concurrencyPolicy"], "ALLOW");
    assert_eq!(
        job["retention"],
        json!({"maxCount": 100, "maxAge": 604_800_000})
    );
    assert_eq!(job["retryStrategy"]["maxInterval"], Value::Null);
    assert_eq!(job["retryStrategy"]["jitter"], 0.0);
    assert_eq!(job["retryStrategy"]["retryOn"], Value::Null);
}

#[tokio::test]
async fn create_rejects_bad_policy_fields() {
    let fixture = Fixture::new();
    let cases = [
        (json!({"misfirePolicy": "LATER"}), "misfirePolicy", "LATER"),
        (json!({"maxCatchUp": 0}), "maxCatchUp", "0"),
        (json!({"startingDeadline": -1}), "startingDeadline", "-1"),
        (
            json!({"concurrencyPolicy": "QUEUE"}),
            "concurrencyPolicy",
            "QUEUE",
        ),
        (
            json!({"retention": {"maxCount": 10_001}}),
            "retention.maxCount",
            "10001",
        ),
        (
            json!({"retryStrategy": {"jitter": 2}}),
            "retryStrategy.jitter",
            "2",
        ),
        (
            json!({"retryStrategy": {"retryOn": [700]}}),
            "retryStrategy.retryOn",
            "700",
        ),
    ];
    for (fields, field, value) in cases {
        let reply = send(&fixture, "POST", "/api/jobs", Some(job_body(fields))).await;
        assert_error(
            &reply,
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            field,
            value,
        );
    }
}

#[tokio::test]
async fn update_with_null_deadline_removes_it() {
    let fixture = Fixture::new();
    let id = create(&fixture, json!({"startingDeadline": 5000})).await;
    let uri = format!("/api/jobs/{id}");

    let other_change = send(&fixture, "PUT", &uri, Some(json!({"maxCatchUp": 3}))).await;
    assert_eq!(other_change.status, StatusCode::OK, "{}", other_change.body);
    assert_eq!(other_change.body["startingDeadline"], 5000);
    assert_eq!(other_change.body["maxCatchUp"], 3);

    let body = json!({"startingDeadline": null});
    let cleared = send(&fixture, "PUT", &uri, Some(body)).await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.body);
    assert_eq!(cleared.body["startingDeadline"], Value::Null);
}

#[tokio::test]
async fn forbid_trigger_conflicts_naming_open_execution() {
    let fixture = Fixture::new();
    let id = create(&fixture, json!({"concurrencyPolicy": "FORBID"})).await;
    let first = trigger(&fixture, &id, "", None).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.body);
    let open_id = first.body["id"].as_str().unwrap();

    let second = trigger(&fixture, &id, "", None).await;

    let (status, code) = (StatusCode::CONFLICT, "FAILED_PRECONDITION");
    assert_error(&second, status, code, "executionId", open_id);
    let message = second.body["error"]["message"].as_str().unwrap();
    assert!(message.contains(open_id), "{message}");
    assert!(message.contains("FORBID"), "{message}");
    let job = send(&fixture, "GET", &format!("/api/jobs/{id}"), None)
        .await
        .body;
    assert_eq!(
        job["skippedInstants"], 0,
        "a refused manual run is no skipped instant"
    );
}

#[tokio::test]
async fn force_in_query_or_body_bypasses_forbid() {
    let fixture = Fixture::new();
    let id = create(&fixture, json!({"concurrencyPolicy": "FORBID"})).await;
    let first = trigger(&fixture, &id, "", None).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.body);

    let by_query = trigger(&fixture, &id, "?force=true", None).await;
    assert_eq!(by_query.status, StatusCode::ACCEPTED, "{}", by_query.body);
    let by_body = trigger(&fixture, &id, "", Some(json!({"force": true}))).await;
    assert_eq!(by_body.status, StatusCode::ACCEPTED, "{}", by_body.body);
    let explicit_false = trigger(&fixture, &id, "?force=false", None).await;
    assert_eq!(
        explicit_false.status,
        StatusCode::CONFLICT,
        "{}",
        explicit_false.body
    );

    let uri = format!("/api/jobs/{id}/executions?status=RUNNING");
    let running = send(&fixture, "GET", &uri, None).await;
    assert_eq!(running.body["total"], 3, "{}", running.body);
}

#[tokio::test]
async fn bad_force_value_is_rejected() {
    let fixture = Fixture::new();
    let id = create(&fixture, json!({})).await;

    let reply = trigger(&fixture, &id, "?force=yes", None).await;
    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
        "force",
        "yes",
    );

    let reply = trigger(&fixture, &id, "", Some(json!({"force": "yes"}))).await;
    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
        "force",
        "\"yes\"",
    );
}

#[tokio::test]
async fn repeated_key_returns_first_run() {
    let fixture = Fixture::new();
    let id = create(&fixture, json!({"concurrencyPolicy": "FORBID"})).await;

    let first = trigger_with_keys(&fixture, &id, &[b"order-17"]).await;
    let repeat = trigger_with_keys(&fixture, &id, &[b"order-17"]).await;
    let other = trigger_with_keys(&fixture, &id, &[b"order-18"]).await;

    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.body);
    assert_eq!(repeat.status, StatusCode::OK, "{}", repeat.body);
    assert_eq!(repeat.body["id"], first.body["id"]);
    // A new key is a new run, which FORBID refuses while the first one is open.
    assert_error(
        &other,
        StatusCode::CONFLICT,
        "FAILED_PRECONDITION",
        "executionId",
        first.body["id"].as_str().unwrap(),
    );
}

#[tokio::test]
async fn bad_idempotency_keys_are_rejected() {
    let cases: [(&[&[u8]], &str); 4] = [
        (&[b""], "\"\""),
        (&[b"two words"], "\"two words\""),
        (&["caf\u{e9}".as_bytes()], "\"caf\u{e9}\""),
        (&[b"a", b"b"], "a, b"),
    ];
    let fixture = Fixture::new();
    let id = create(&fixture, json!({})).await;
    let field = "Idempotency-Key";
    for (keys, value) in cases {
        let reply = trigger_with_keys(&fixture, &id, keys).await;
        assert_error(
            &reply,
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            field,
            value,
        );
    }

    let long = trigger_with_keys(&fixture, &id, &[&[b'k'; 256]]).await;
    assert_eq!(long.status, StatusCode::BAD_REQUEST, "{}", long.body);
    assert_eq!(long.body["error"]["field"], field, "{}", long.body);

    let listed = send(&fixture, "GET", &format!("/api/jobs/{id}/executions"), None).await;
    assert_eq!(listed.body["total"], 0, "{}", listed.body);
}

#[tokio::test]
async fn replace_trigger_fails_open_execution() {
    let fixture = Fixture::new();
    let id = create(&fixture, json!({"concurrencyPolicy": "REPLACE"})).await;
    let first = trigger(&fixture, &id, "", None).await;
    let first_id = first.body["id"].as_str().unwrap();

    let second = trigger(&fixture, &id, "", None).await;

    assert_eq!(second.status, StatusCode::ACCEPTED, "{}", second.body);
    let uri = format!("/api/jobs/{id}/executions/{first_id}");
    let replaced = send(&fixture, "GET", &uri, None).await.body;
    assert_eq!(replaced["status"], "FAILED");
    let error = format!(
        "replaced by execution {}",
        second.body["id"].as_str().unwrap()
    );
    assert_eq!(replaced["error"], error.as_str());
    assert_eq!(replaced["redispatches"], 0);
}

fn grpc_input() -> pb::JobInput {
    pb::JobInput {
        name: Some("grpc-policies".to_string()),
        schedule: Some("@hourly".to_string()),
        trigger_config: Some(pb::TriggerConfigInput {
            url: Some("http://127.0.0.1:9/hook".to_string()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Serves the fixture's API and connects a gRPC job client to it.
async fn grpc_client(fixture: &Fixture) -> JobServiceClient<Channel> {
    let address = serve(fixture.api.clone()).await;
    JobServiceClient::connect(format!("http://{address}"))
        .await
        .unwrap()
}

#[tokio::test]
async fn grpc_carries_policies_and_clears_deadline() {
    let fixture = Fixture::new();
    let mut jobs = grpc_client(&fixture).await;

    let input = pb::JobInput {
        misfire_policy: Some("skip".to_string()),
        max_catch_up: Some(4),
        starting_deadline: Some(pb::StartingDeadline {
            value: Some(30_000),
        }),
        concurrency_policy: Some("REPLACE".to_string()),
        retention: Some(pb::RetentionInput {
            max_count: Some(50),
            max_age: None,
        }),
        retry_strategy: Some(pb::RetryStrategyInput {
            interval: Some(1000),
            max_interval: Some(4000),
            jitter: Some(0.5),
            retry_on: Some(pb::StatusCodes { values: vec![502] }),
            ..Default::default()
        }),
        ..grpc_input()
    };
    let request = pb::CreateJobRequest { job: Some(input) };
    let job = jobs.create_job(request).await.unwrap().into_inner();

    assert_eq!(job.misfire_policy, "SKIP");
    assert_eq!(job.max_catch_up, 4);
    assert_eq!(job.starting_deadline, Some(30_000));
    assert_eq!(job.concurrency_policy, "REPLACE");
    let retention = job.retention.unwrap();
    assert_eq!(retention.max_count, 50);
    assert_eq!(retention.max_age, 604_800_000);
    let retry = job.retry_strategy.clone().unwrap();
    assert_eq!(retry.max_interval, Some(4000));
    assert_eq!(retry.jitter, 0.5);
    assert_eq!(retry.retry_on, vec![502]);

    let change = pb::JobInput {
        starting_deadline: Some(pb::StartingDeadline { value: None }),
        ..Default::default()
    };
    let request = pb::UpdateJobRequest {
        id: job.id.clone(),
        job: Some(change),
    };
    let updated = jobs.update_job(request).await.unwrap().into_inner();
    assert_eq!(updated.starting_deadline, None);
    assert_eq!(updated.concurrency_policy, "REPLACE");
}

#[tokio::test]
async fn grpc_rejects_bad_policy_with_field() {
    let fixture = Fixture::new();
    let mut jobs = grpc_client(&fixture).await;

    let input = pb::JobInput {
        retry_strategy: Some(pb::RetryStrategyInput {
            retry_on: Some(pb::StatusCodes { values: Vec::new() }),
            ..Default::default()
        }),
        ..grpc_input()
    };
    let request = pb::CreateJobRequest { job: Some(input) };
    let status = jobs.create_job(request).await.unwrap_err();

    assert_eq!(status.code(), Code::InvalidArgument);
    let field = status.metadata().get(FIELD_METADATA_KEY).unwrap();
    assert_eq!(field.to_str().unwrap(), "retryStrategy.retryOn");
}

#[tokio::test]
async fn grpc_trigger_force_bypasses_forbid() {
    let fixture = Fixture::new();
    let mut jobs = grpc_client(&fixture).await;
    let input = pb::JobInput {
        concurrency_policy: Some("FORBID".to_string()),
        ..grpc_input()
    };
    let request = pb::CreateJobRequest { job: Some(input) };
    let job = jobs.create_job(request).await.unwrap().into_inner();
    let trigger = |force: bool| pb::TriggerJobRequest {
        id: job.id.clone(),
        force,
        ..Default::default()
    };

    let first = jobs.trigger_job(trigger(false)).await.unwrap().into_inner();
    fixture.advance(1);
    let status = jobs.trigger_job(trigger(false)).await.unwrap_err();
    fixture.advance(1);
    let forced = jobs.trigger_job(trigger(true)).await.unwrap().into_inner();

    assert_eq!(status.code(), Code::FailedPrecondition);
    let field = status.metadata().get(FIELD_METADATA_KEY).unwrap();
    assert_eq!(field.to_str().unwrap(), "executionId");
    assert!(status.message().contains(&first.id), "{}", status.message());
    assert_eq!(forced.status, "RUNNING");
    assert_eq!(forced.redispatches, 0);
    let request = pb::GetJobRequest { id: job.id.clone() };
    let stored = jobs.get_job(request).await.unwrap().into_inner();
    assert_eq!(
        stored.skipped_instants, 0,
        "a refused manual run is no skipped instant"
    );
}

#[tokio::test]
async fn grpc_repeated_key_returns_first_run() {
    let fixture = Fixture::new();
    let mut jobs = grpc_client(&fixture).await;
    let request = pb::CreateJobRequest {
        job: Some(grpc_input()),
    };
    let job = jobs.create_job(request).await.unwrap().into_inner();
    let trigger = |key: &str| pb::TriggerJobRequest {
        id: job.id.clone(),
        idempotency_key: Some(key.to_string()),
        ..Default::default()
    };

    let first = jobs.trigger_job(trigger("k1")).await.unwrap();
    fixture.advance(1);
    let repeat = jobs.trigger_job(trigger("k1")).await.unwrap();
    let invalid = jobs.trigger_job(trigger("k 1")).await.unwrap_err();

    let replayed = |response: &tonic::Response<pb::Execution>| {
        response.metadata().get(REPLAYED_METADATA_KEY).cloned()
    };
    assert_eq!(replayed(&first), None);
    assert_eq!(replayed(&repeat).unwrap(), "true");
    assert_eq!(repeat.into_inner().id, first.into_inner().id);
    assert_eq!(invalid.code(), Code::InvalidArgument);
    let field = invalid.metadata().get(FIELD_METADATA_KEY).unwrap();
    assert_eq!(field.to_str().unwrap(), "idempotencyKey");
}
