//! REST tests through the full router (gRPC and REST merged) over a real store.

use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, Request};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::*;
use crate::api::fake::{Fixture, START};
use crate::api::router;
use crate::scheduler::runtime::FAILURES_BEFORE_FAILING;

/// A request body as an old NestJS client sends it: read-only fields echoed back, an object
/// body, a numeric header and a lower-case method.
fn nestjs_body() -> Value {
    json!({
        "_id": "65f1c2a9e4b0a1b2c3d4e5f6",
        "__v": 0,
        "id": "65f1c2a9e4b0a1b2c3d4e5f6",
        "name": "nightly-report",
        "description": "Sends the nightly report",
        "schedule": "0 2 * * *",
        "timeZone": "Europe/Berlin",
        "triggerType": "REST",
        "triggerConfig": {
            "url": "http://127.0.0.1:9/reports/run",
            "method": "post",
            "headers": {"Authorization": "Bearer token", "X-Priority": 3},
            "body": {"report": "daily"},
            "timeout": 5000
        },
        "retryStrategy": {"attempts": 3, "backoff": "exponential", "interval": 1000},
        "status": "ACTIVE",
        "tags": ["reports", "nightly"],
        "lastExecutionTime": null,
        "nextExecutionTime": "2025-12-02T01:00:00.000Z",
        "createdAt": "2025-12-01T10:00:00.000Z",
        "updatedAt": "2025-12-01T10:00:00.000Z"
    })
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
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
    let headers = response.headers().clone();
    let bytes = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn assert_error(reply: &Reply, status: StatusCode, code: &str, field: &str, value: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.body["error"]["code"], code, "{}", reply.body);
    assert_eq!(reply.body["error"]["field"], field, "{}", reply.body);
    assert_eq!(reply.body["error"]["value"], value, "{}", reply.body);
}

fn assert_message_names(reply: &Reply, value: &str) {
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(value),
        "message {message:?} lacks {value:?}"
    );
}

async fn create(fixture: &Fixture, body: Value) -> Value {
    let reply = send(fixture, "POST", "/api/jobs", Some(body)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body
}

#[tokio::test]
async fn create_accepts_nestjs_body() {
    let fixture = Fixture::new();
    let reply = send(&fixture, "POST", "/api/jobs", Some(nestjs_body())).await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let job = &reply.body;
    let id = job["id"].as_str().unwrap();
    assert_ne!(id, "65f1c2a9e4b0a1b2c3d4e5f6", "the server chooses the id");
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 4);
    assert_eq!(reply.headers[header::LOCATION], format!("/api/jobs/{id}"));
    assert_eq!(job["triggerConfig"]["method"], "POST");
    assert_eq!(job["triggerConfig"]["body"], "{\"report\":\"daily\"}");
    assert_eq!(job["triggerConfig"]["headers"]["X-Priority"], "3");
    assert_eq!(job["retryStrategy"]["backoff"], "exponential");
    assert_eq!(job["createdAt"], START.to_rfc3339());
    assert_eq!(job["lastExecutionTime"], Value::Null);
    // 02:00 in Berlin (UTC+1 in winter) after 2026-01-01T00:00Z.
    assert_eq!(job["nextExecutionTime"], "2026-01-01T01:00:00.000Z");
}

#[tokio::test]
async fn create_paused_job_has_no_next_time() {
    let fixture = Fixture::new();
    let mut body = nestjs_body();
    body["status"] = json!("PAUSED");
    let job = create(&fixture, body).await;
    assert_eq!(job["status"], "PAUSED");
    assert_eq!(job["nextExecutionTime"], Value::Null);
}

#[tokio::test]
async fn create_rejects_bad_fields() {
    let cases = [
        (
            "/timeZone",
            json!("Mars/Olympus"),
            "timeZone",
            "Mars/Olympus",
        ),
        ("/schedule", json!("61 * * * *"), "schedule", "61 * * * *"),
        ("/schedule", json!("0 0 30 2 *"), "schedule", "0 0 30 2 *"),
        (
            "/schedule",
            json!("0 0 0 1 1 * 2020"),
            "schedule",
            "0 0 0 1 1 * 2020",
        ),
        ("/triggerConfig/url", json!(null), "triggerConfig.url", ""),
        (
            "/triggerConfig/timeout",
            json!(-5),
            "triggerConfig.timeout",
            "-5",
        ),
        (
            "/retryStrategy/backoff",
            json!("linear"),
            "retryStrategy.backoff",
            "linear",
        ),
        ("/status", json!("RUNNING"), "status", "RUNNING"),
    ];
    for (pointer, bad, field, value) in cases {
        let fixture = Fixture::new();
        let mut body = nestjs_body();
        *body.pointer_mut(pointer).unwrap() = bad;
        let reply = send(&fixture, "POST", "/api/jobs", Some(body)).await;
        assert_error(
            &reply,
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            field,
            value,
        );
        assert_message_names(&reply, value);
        assert!(fixture.cluster.written.lock().unwrap().is_empty());
    }
}

#[tokio::test]
async fn malformed_json_is_bad_request() {
    let fixture = Fixture::new();
    let request = Request::post("/api/jobs")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{\"name\": "))
        .unwrap();
    let reply = send_request(&fixture, request).await;
    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
        "body",
        "{\"name\": ",
    );
}

#[tokio::test]
async fn wrong_content_type_is_bad_request() {
    let fixture = Fixture::new();
    let request = Request::post("/api/jobs")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from(nestjs_body().to_string()))
        .unwrap();
    let reply = send_request(&fixture, request).await;
    let (status, code) = (StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");
    assert_error(&reply, status, code, "Content-Type", "text/plain");
}

#[tokio::test]
async fn json_content_type_with_charset_is_accepted() {
    let fixture = Fixture::new();
    let request = Request::post("/api/jobs")
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .body(Body::from(nestjs_body().to_string()))
        .unwrap();
    let reply = send_request(&fixture, request).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
}

#[tokio::test]
async fn empty_create_body_is_bad_request() {
    let fixture = Fixture::new();
    let reply = send(&fixture, "POST", "/api/jobs", None).await;
    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
        "body",
        "",
    );
}

#[tokio::test]
async fn oversized_body_is_rejected() {
    let fixture = Fixture::new();
    let mut body = nestjs_body();
    body["description"] = json!("x".repeat(MAX_REQUEST_BODY_BYTES));
    let reply = send(&fixture, "POST", "/api/jobs", Some(body)).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.body["error"]["code"], "RESOURCE_EXHAUSTED");
}

#[tokio::test]
async fn unknown_job_is_not_found() {
    let fixture = Fixture::new();
    for (method, uri) in [
        ("GET", "/api/jobs/missing"),
        ("PATCH", "/api/jobs/missing/pause"),
        ("PATCH", "/api/jobs/missing/resume"),
        ("DELETE", "/api/jobs/missing"),
        ("POST", "/api/jobs/missing/trigger"),
    ] {
        let reply = send(&fixture, method, uri, None).await;
        assert_error(&reply, StatusCode::NOT_FOUND, "NOT_FOUND", "id", "missing");
    }
    let reply = send(&fixture, "GET", "/api/jobs/missing/executions", None).await;
    assert_error(
        &reply,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "jobId",
        "missing",
    );
}

#[tokio::test]
async fn get_returns_created_job() {
    let fixture = Fixture::new();
    let job = create(&fixture, nestjs_body()).await;
    let id = job["id"].as_str().unwrap();
    let reply = send(&fixture, "GET", &format!("/api/jobs/{id}"), None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, job);
}

#[tokio::test]
async fn get_body_put_back_is_unchanged() {
    let fixture = Fixture::new();
    let mut body = nestjs_body();
    body["misfirePolicy"] = json!("FIRE_ALL");
    body["maxCatchUp"] = json!(3);
    body["startingDeadline"] = json!(90_000);
    body["concurrencyPolicy"] = json!("FORBID");
    body["retention"] = json!({"maxCount": 7, "maxAge": 3_600_000});
    body["retryStrategy"]["maxInterval"] = json!(8_000);
    body["retryStrategy"]["jitter"] = json!(0.25);
    body["retryStrategy"]["retryOn"] = json!([503]);
    let job = create(&fixture, body).await;
    let uri = format!("/api/jobs/{}", job["id"].as_str().unwrap());
    let read = send(&fixture, "GET", &uri, None).await.body;
    fixture.advance(60_000);

    let reply = send(&fixture, "PUT", &uri, Some(read.clone())).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let mut expected = read;
    expected["updatedAt"] = json!("2026-01-01T00:01:00.000Z");
    assert_eq!(reply.body, expected);
}

#[tokio::test]
async fn misspelt_field_is_rejected() {
    let fixture = Fixture::new();
    let mut body = nestjs_body();
    let zone = body.as_object_mut().unwrap().remove("timeZone").unwrap();
    body["timezone"] = zone;
    let reply = send(&fixture, "POST", "/api/jobs", Some(body)).await;
    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
        "timezone",
        "timezone",
    );
    let message = &reply.body["error"]["message"];
    assert_eq!(message, "unknown field timezone: did you mean timeZone?");
}

#[tokio::test]
async fn object_body_gets_json_content_type() {
    let fixture = Fixture::new();
    let job = create(&fixture, nestjs_body()).await;
    let headers = &job["triggerConfig"]["headers"];
    assert_eq!(headers["Content-Type"], "application/json", "{headers}");
    assert_eq!(headers["Authorization"], "Bearer token", "{headers}");
}

#[tokio::test]
async fn null_body_on_update_clears_body() {
    let fixture = Fixture::new();
    let job = create(&fixture, nestjs_body()).await;
    let uri = format!("/api/jobs/{}", job["id"].as_str().unwrap());
    let change = json!({"triggerConfig": {"body": null}});
    let reply = send(&fixture, "PUT", &uri, Some(change)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["triggerConfig"]["body"], Value::Null);
    assert_eq!(
        reply.body["triggerConfig"]["url"],
        job["triggerConfig"]["url"]
    );
}

#[tokio::test]
async fn null_retry_fields_reset_defaults() {
    let fixture = Fixture::new();
    let mut body = nestjs_body();
    body["retryStrategy"]["maxInterval"] = json!(5000);
    body["retryStrategy"]["retryOn"] = json!([409]);
    let job = create(&fixture, body).await;
    let uri = format!("/api/jobs/{}", job["id"].as_str().unwrap());

    let change = json!({"retryStrategy": {"maxInterval": null, "retryOn": null}});
    let reply = send(&fixture, "PUT", &uri, Some(change)).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let retry = &reply.body["retryStrategy"];
    assert_eq!(retry["maxInterval"], Value::Null, "{retry}");
    assert_eq!(retry["retryOn"], Value::Null, "{retry}");
    assert_eq!(retry["attempts"], 3, "{retry}");
}

#[tokio::test]
async fn list_filters_and_pages() {
    let fixture = Fixture::new();
    for name in ["a", "b", "c"] {
        let mut body = nestjs_body();
        body["name"] = json!(name);
        body["tags"] = json!([name, "all"]);
        create(&fixture, body).await;
    }
    let reply = send(&fixture, "GET", "/api/jobs?page=2&limit=2&tags=all", None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["page"], 2);
    assert_eq!(reply.body["limit"], 2);
    assert_eq!(reply.body["total"], 3);
    assert_eq!(reply.body["items"].as_array().unwrap().len(), 1);

    let reply = send(&fixture, "GET", "/api/jobs?tags=b,all&status=active", None).await;
    assert_eq!(reply.body["total"], 1, "{}", reply.body);
    assert_eq!(reply.body["items"][0]["name"], "b");

    let reply = send(&fixture, "GET", "/api/jobs", None).await;
    assert_eq!(reply.body["page"], 1);
    assert_eq!(reply.body["limit"], 20);
}

#[tokio::test]
async fn list_rejects_bad_query() {
    let cases = [
        ("/api/jobs?page=abc", "page", "abc"),
        ("/api/jobs?page=0", "page", "0"),
        ("/api/jobs?limit=501", "limit", "501"),
        ("/api/jobs?limit=-1", "limit", "-1"),
        ("/api/jobs?status=RUNNING", "status", "RUNNING"),
        ("/api/jobs?page=1&page=2", "page", "1, 2"),
        (
            "/api/jobs?page=99999999999999999999",
            "page",
            "99999999999999999999",
        ),
        (
            "/api/jobs?status=ACTIVE&status=PAUSED",
            "status",
            "ACTIVE, PAUSED",
        ),
    ];
    let fixture = Fixture::new();
    for (uri, field, value) in cases {
        let reply = send(&fixture, "GET", uri, None).await;
        assert_error(
            &reply,
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            field,
            value,
        );
        assert_message_names(&reply, value);
    }
}

#[tokio::test]
async fn update_merges_and_recomputes_next_time() {
    let fixture = Fixture::new();
    let job = create(&fixture, nestjs_body()).await;
    let id = job["id"].as_str().unwrap();
    fixture.advance(60_000);

    let change = json!({"schedule": "30 * * * *", "timeZone": "UTC", "status": "ACTIVE"});
    let reply = send(&fixture, "PUT", &format!("/api/jobs/{id}"), Some(change)).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["schedule"], "30 * * * *");
    assert_eq!(
        reply.body["name"], "nightly-report",
        "unsent fields are kept"
    );
    assert_eq!(reply.body["nextExecutionTime"], "2026-01-01T00:30:00.000Z");
    assert_eq!(reply.body["updatedAt"], "2026-01-01T00:01:00.000Z");
}

#[tokio::test]
async fn update_keeps_next_time_when_schedule_unchanged() {
    let fixture = Fixture::new();
    let job = create(&fixture, nestjs_body()).await;
    let id = job["id"].as_str().unwrap();
    let change = json!({"name": "renamed"});
    let reply = send(&fixture, "PUT", &format!("/api/jobs/{id}"), Some(change)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["nextExecutionTime"], job["nextExecutionTime"]);
}

#[tokio::test]
async fn update_with_other_id_is_rejected() {
    let fixture = Fixture::new();
    let job = create(&fixture, nestjs_body()).await;
    let id = job["id"].as_str().unwrap();
    let uri = format!("/api/jobs/{id}");

    let other = json!({"id": "other-job", "name": "renamed"});
    let reply = send(&fixture, "PUT", &uri, Some(other)).await;
    let same = json!({"id": id, "name": "renamed"});
    let accepted = send(&fixture, "PUT", &uri, Some(same)).await;

    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
        "id",
        "\"other-job\"",
    );
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    assert_eq!(accepted.body["name"], "renamed");
}

#[tokio::test]
async fn update_changes_status() {
    let fixture = Fixture::new();
    let job = create(&fixture, nestjs_body()).await;
    let id = job["id"].as_str().unwrap();
    let change = json!({"status": "PAUSED"});
    let reply = send(&fixture, "PUT", &format!("/api/jobs/{id}"), Some(change)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["status"], "PAUSED");
    assert_eq!(reply.body["nextExecutionTime"], Value::Null);
}

#[tokio::test]
async fn update_rejects_unknown_status() {
    let fixture = Fixture::new();
    let job = create(&fixture, nestjs_body()).await;
    let id = job["id"].as_str().unwrap();
    let change = json!({"status": "SLEEPING"});
    let reply = send(&fixture, "PUT", &format!("/api/jobs/{id}"), Some(change)).await;
    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
        "status",
        "SLEEPING",
    );
}

#[tokio::test]
async fn pause_then_resume_from_now() {
    let fixture = Fixture::new();
    let job = create(&fixture, nestjs_body()).await;
    let id = job["id"].as_str().unwrap();

    let paused = send(&fixture, "PATCH", &format!("/api/jobs/{id}/pause"), None).await;
    assert_eq!(paused.status, StatusCode::OK, "{}", paused.body);
    assert_eq!(paused.body["status"], "PAUSED");
    assert_eq!(paused.body["nextExecutionTime"], Value::Null);

    // Resume two days later: the next instant counts from the resume, not from creation.
    fixture.advance(2 * 86_400_000);
    let resumed = send(&fixture, "PATCH", &format!("/api/jobs/{id}/resume"), None).await;
    assert_eq!(resumed.status, StatusCode::OK, "{}", resumed.body);
    assert_eq!(resumed.body["status"], "ACTIVE");
    assert_eq!(
        resumed.body["nextExecutionTime"],
        "2026-01-03T01:00:00.000Z"
    );
}

#[tokio::test]
async fn resume_without_future_instant_conflicts() {
    let fixture = Fixture::new();
    let mut body = nestjs_body();
    // Fires only at the fixture's start instant, so never after it.
    body["schedule"] = json!("0 0 0 1 1 * 2026");
    body["status"] = json!("PAUSED");
    let job = create(&fixture, body).await;

    let uri = format!("/api/jobs/{}/resume", job["id"].as_str().unwrap());
    let reply = send(&fixture, "PATCH", &uri, None).await;

    let (status, code) = (StatusCode::CONFLICT, "FAILED_PRECONDITION");
    assert_error(&reply, status, code, "schedule", "0 0 0 1 1 * 2026");
}

#[tokio::test]
async fn update_of_paused_job_sets_no_next_time() {
    let fixture = Fixture::new();
    let mut body = nestjs_body();
    body["status"] = json!("PAUSED");
    let job = create(&fixture, body).await;

    let uri = format!("/api/jobs/{}", job["id"].as_str().unwrap());
    let reply = send(&fixture, "PUT", &uri, Some(json!({"schedule": "@hourly"}))).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["schedule"], "@hourly");
    assert_eq!(reply.body["nextExecutionTime"], Value::Null);
}

#[tokio::test]
async fn delete_removes_job() {
    let fixture = Fixture::new();
    let job = create(&fixture, nestjs_body()).await;
    let uri = format!("/api/jobs/{}", job["id"].as_str().unwrap());
    let reply = send(&fixture, "DELETE", &uri, None).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    let reply = send(&fixture, "GET", &uri, None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn trigger_accepts_empty_or_json_body() {
    let fixture = Fixture::new();
    let job = create(&fixture, nestjs_body()).await;
    let id = job["id"].as_str().unwrap();
    let uri = format!("/api/jobs/{id}/trigger");

    let reply = send(&fixture, "POST", &uri, None).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    assert_eq!(reply.body["status"], "RUNNING");
    assert_eq!(reply.body["cause"], "MANUAL");
    assert_eq!(reply.body["jobId"], id);
    assert_eq!(reply.body["scheduledTime"], START.to_rfc3339());

    fixture.advance(1);
    let reply = send(&fixture, "POST", &uri, Some(json!({"reason": "test"}))).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
}

#[tokio::test]
async fn triggers_in_same_millisecond_are_two_runs() {
    let fixture = Fixture::new();
    let job = create(&fixture, nestjs_body()).await;
    let uri = format!("/api/jobs/{}/trigger", job["id"].as_str().unwrap());

    let first = send(&fixture, "POST", &uri, None).await;
    let second = send(&fixture, "POST", &uri, None).await;

    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.body);
    assert_eq!(second.status, StatusCode::ACCEPTED, "{}", second.body);
    assert_ne!(first.body["id"], second.body["id"]);
    assert_eq!(first.body["scheduledTime"], second.body["scheduledTime"]);
}

#[tokio::test]
async fn trigger_with_bad_json_is_bad_request() {
    let fixture = Fixture::new();
    let job = create(&fixture, nestjs_body()).await;
    let request = Request::post(format!("/api/jobs/{}/trigger", job["id"].as_str().unwrap()))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("not json"))
        .unwrap();
    let reply = send_request(&fixture, request).await;
    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
        "body",
        "not json",
    );
}

#[tokio::test]
async fn executions_list_and_get() {
    let fixture = Fixture::new();
    let job = create(&fixture, nestjs_body()).await;
    let id = job["id"].as_str().unwrap();
    let failed = fixture.cluster.record_failed_execution(id, START).await;
    fixture.advance(5);
    let trigger_uri = format!("/api/jobs/{id}/trigger");
    let triggered = send(&fixture, "POST", &trigger_uri, None).await;

    let uri = format!("/api/jobs/{id}/executions");
    let reply = send(&fixture, "GET", &uri, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["total"], 2);
    assert_eq!(
        reply.body["items"][0]["id"], triggered.body["id"],
        "newest first"
    );

    let reply = send(&fixture, "GET", &format!("{uri}?status=failed"), None).await;
    assert_eq!(reply.body["total"], 1, "{}", reply.body);

    let reply = send(&fixture, "GET", &format!("{uri}/{}", failed.id), None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["status"], "FAILED");
    assert_eq!(reply.body["fencingToken"], failed.attempt_index);
}

#[tokio::test]
async fn execution_of_other_job_is_not_found() {
    let fixture = Fixture::new();
    let job = create(&fixture, nestjs_body()).await;
    let other = create(&fixture, nestjs_body()).await;
    let job_id = job["id"].as_str().unwrap();
    let failed = fixture.cluster.record_failed_execution(job_id, START).await;

    let other_id = other["id"].as_str().unwrap();
    let uri = format!("/api/jobs/{other_id}/executions/{}", failed.id);
    let reply = send(&fixture, "GET", &uri, None).await;
    let (status, code) = (StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_error(&reply, status, code, "executionId", &failed.id);

    let uri = format!("/api/jobs/missing/executions/{}", failed.id);
    let reply = send(&fixture, "GET", &uri, None).await;
    assert_error(&reply, status, code, "jobId", "missing");
}

#[tokio::test]
async fn retry_of_failed_execution_starts_new_one() {
    let fixture = Fixture::new();
    let job = create(&fixture, nestjs_body()).await;
    let id = job["id"].as_str().unwrap();
    let failed = fixture.cluster.record_failed_execution(id, START).await;
    fixture.advance(1000);

    let uri = format!("/api/jobs/{id}/executions/{}/retry", failed.id);
    let reply = send(&fixture, "POST", &uri, None).await;

    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    assert_eq!(reply.body["cause"], "RETRY");
    assert_eq!(reply.body["retryOf"], failed.id.as_str());
    assert_eq!(reply.body["status"], "RUNNING");
    assert_ne!(reply.body["id"], failed.id.as_str());
}

#[tokio::test]
async fn retry_of_running_execution_conflicts() {
    let fixture = Fixture::new();
    let job = create(&fixture, nestjs_body()).await;
    let id = job["id"].as_str().unwrap();
    let running = send(&fixture, "POST", &format!("/api/jobs/{id}/trigger"), None).await;
    let execution_id = running.body["id"].as_str().unwrap();

    let uri = format!("/api/jobs/{id}/executions/{execution_id}/retry");
    let reply = send(&fixture, "POST", &uri, None).await;

    let (status, code) = (StatusCode::CONFLICT, "FAILED_PRECONDITION");
    assert_error(&reply, status, code, "executionId", execution_id);
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("is RUNNING"), "{message}");
}

#[tokio::test]
async fn preview_returns_next_times() {
    let fixture = Fixture::new();
    let uri =
        "/api/schedule/preview?schedule=0%209%20*%20*%20MON-FRI&timeZone=America/New_York&count=3";
    let reply = send(&fixture, "GET", uri, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let expected = json!({
        "schedule": "0 9 * * MON-FRI",
        "timeZone": "America/New_York",
        "times": [
            "2026-01-01T14:00:00.000Z",
            "2026-01-02T14:00:00.000Z",
            "2026-01-05T14:00:00.000Z",
        ],
    });
    assert_eq!(reply.body, expected);
}

#[tokio::test]
async fn preview_stops_at_year_9999() {
    let fixture = Fixture::new();
    let uri = "/api/schedule/preview?schedule=@yearly&from=9997-06-01T00:00:00Z&count=5";
    let reply = send(&fixture, "GET", uri, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let expected = json!(["9998-01-01T00:00:00.000Z", "9999-01-01T00:00:00.000Z"]);
    assert_eq!(reply.body["times"], expected);
}

#[tokio::test]
async fn preview_rejects_bad_input() {
    let cases = [
        ("/api/schedule/preview", "schedule", ""),
        (
            "/api/schedule/preview?schedule=@daily&count=101",
            "count",
            "101",
        ),
        (
            "/api/schedule/preview?schedule=@daily&count=x",
            "count",
            "x",
        ),
        (
            "/api/schedule/preview?schedule=@daily&from=yesterday",
            "from",
            "yesterday",
        ),
        (
            "/api/schedule/preview?schedule=@daily&timeZone=Nowhere",
            "timeZone",
            "Nowhere",
        ),
        (
            "/api/schedule/preview?schedule=@sometimes",
            "schedule",
            "@sometimes",
        ),
    ];
    let fixture = Fixture::new();
    for (uri, field, value) in cases {
        let reply = send(&fixture, "GET", uri, None).await;
        assert_error(
            &reply,
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            field,
            value,
        );
        assert_message_names(&reply, value);
    }
}

#[tokio::test]
async fn cluster_status_has_rest_shape() {
    let fixture = Fixture::new();
    let reply = send(&fixture, "GET", "/api/cluster", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["nodeId"], 1);
    assert_eq!(reply.body["leaderId"], 1);
    assert_eq!(reply.body["commitIndex"], 42);
    assert_eq!(reply.body["quorumOk"], true);
    assert_eq!(reply.body["members"][1]["role"], "FOLLOWER");
    assert_eq!(reply.body["members"][1]["clientAddr"], "127.0.0.1:7002");
    assert_eq!(reply.body["members"][1]["reachable"], true);
    assert_eq!(reply.body["members"][1]["lastContactMs"], 40);
    assert_eq!(reply.body["members"][1]["lastError"], Value::Null);
    assert_eq!(reply.body["members"][0]["lastContactMs"], Value::Null);
}

#[tokio::test]
async fn readyz_needs_leader_and_applied_log() {
    let fixture = Fixture::new();
    let reply = send(&fixture, "GET", "/readyz", None).await;
    assert_eq!(reply.status, StatusCode::OK);

    fixture.cluster.status.lock().unwrap().applied_index = 40;
    let reply = send(&fixture, "GET", "/readyz", None).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("applied index 40 is behind commit index 42"),
        "{message}"
    );

    fixture.cluster.status.lock().unwrap().leader_id = None;
    let reply = send(&fixture, "GET", "/readyz", None).await;
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("knows no leader"), "{message}");
}

#[tokio::test]
async fn readyz_fails_on_leader_without_quorum() {
    let fixture = Fixture::new();
    fixture.cluster.status.lock().unwrap().quorum_ok = false;
    let reply = send(&fixture, "GET", "/readyz", None).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("cannot reach a majority of voters"),
        "{message}"
    );
}

#[tokio::test]
async fn readyz_fails_on_leader_with_failing_scheduler() {
    let fixture = Fixture::new();
    fixture.scheduler.send_modify(|health| {
        health.loop_running = false;
        health.consecutive_failures = FAILURES_BEFORE_FAILING - 1;
        health.last_error = Some("failed to read the scheduler state".to_string());
    });
    let reply = send(&fixture, "GET", "/readyz", None).await;
    assert_eq!(reply.status, StatusCode::OK);

    fixture
        .scheduler
        .send_modify(|health| health.consecutive_failures = FAILURES_BEFORE_FAILING);
    let reply = send(&fixture, "GET", "/readyz", None).await;

    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.body["error"]["code"], "UNAVAILABLE");
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("its scheduler failed 3 times in a row"),
        "{message}"
    );
    assert!(
        message.contains("last error: failed to read the scheduler state"),
        "{message}"
    );
}

#[tokio::test]
async fn readyz_ignores_scheduler_on_follower() {
    let fixture = Fixture::new();
    fixture
        .scheduler
        .send_modify(|health| health.consecutive_failures = FAILURES_BEFORE_FAILING);
    fixture.cluster.status.lock().unwrap().leader_id = Some(2);

    let reply = send(&fixture, "GET", "/readyz", None).await;

    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn readyz_fails_when_raft_stopped() {
    let fixture = Fixture::new();
    fixture.cluster.status.lock().unwrap().raft_running = false;

    let reply = send(&fixture, "GET", "/readyz", None).await;

    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("its Raft stopped"), "{message}");
}

#[tokio::test]
async fn cluster_status_shows_scheduler_health() {
    let fixture = Fixture::new();
    let reply = send(&fixture, "GET", "/api/cluster", None).await;
    assert_eq!(reply.body["schedulerOk"], true);
    assert_eq!(reply.body["schedulerFailures"], 0);
    assert_eq!(reply.body["schedulerLastError"], Value::Null);

    fixture.scheduler.send_modify(|health| {
        health.consecutive_failures = FAILURES_BEFORE_FAILING;
        health.last_error = Some("stored job has format version 3".to_string());
    });
    let reply = send(&fixture, "GET", "/api/cluster", None).await;
    assert_eq!(reply.body["schedulerOk"], false);
    assert_eq!(reply.body["schedulerFailures"], 3);
    assert_eq!(
        reply.body["schedulerLastError"],
        "stored job has format version 3"
    );

    fixture.cluster.status.lock().unwrap().leader_id = Some(2);
    let reply = send(&fixture, "GET", "/api/cluster", None).await;
    assert_eq!(reply.body["schedulerOk"], Value::Null);
    assert_eq!(reply.body["schedulerFailures"], Value::Null);
    assert_eq!(reply.body["schedulerLastError"], Value::Null);
}

#[tokio::test]
async fn healthz_is_ok_without_leader() {
    let fixture = Fixture::new();
    fixture.cluster.status.lock().unwrap().leader_id = None;
    let reply = send(&fixture, "GET", "/healthz", None).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn no_leader_is_unavailable() {
    let fixture = Fixture::new();
    let leaderless = &fixture.cluster.no_leader;
    leaderless.store(true, std::sync::atomic::Ordering::SeqCst);
    let reply = send(&fixture, "POST", "/api/jobs", Some(nestjs_body())).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.headers[header::RETRY_AFTER], "1");
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("no quorum: "), "{message}");

    let reply = send(&fixture, "GET", "/api/jobs", None).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn unknown_route_and_method_use_error_shape() {
    let fixture = Fixture::new();
    let reply = send(&fixture, "GET", "/api/nothing", None).await;
    assert_error(
        &reply,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "path",
        "/api/nothing",
    );

    let reply = send(&fixture, "PUT", "/api/cluster", None).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.body["error"]["code"], "UNIMPLEMENTED");
}
