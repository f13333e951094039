//! Tests of the HTTP trigger against a real receiver on 127.0.0.1.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;

use super::{HttpDispatcher, USER_AGENT};
use crate::model::{
    Cause, Execution, ExecutionStatus, HttpTrigger, Job, JobSpec, JobStatus, MAX_RESULT_BODY_BYTES,
    OutcomeResult, RetryStrategy, Timestamp, Trigger,
};

/// The node id the dispatchers under test send.
const NODE_ID: u64 = 7;

/// One request as the receiver saw it.
#[derive(Clone, Debug)]
struct Recorded {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

type Log = Arc<Mutex<Vec<Recorded>>>;

/// An HTTP server on 127.0.0.1 with one route per behavior under test.
struct Receiver {
    addr: SocketAddr,
    log: Log,
}

impl Receiver {
    async fn start() -> Receiver {
        let log = Log::default();
        let app = Router::new().fallback(any(respond)).with_state(log.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { addr, log }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }
}

async fn respond(
    State(log): State<Log>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    log.lock().unwrap().push(Recorded {
        method,
        path: path.clone(),
        headers,
        body,
    });
    match path.as_str() {
        "/ok" => (StatusCode::OK, "done").into_response(),
        "/created" => (StatusCode::CREATED, "").into_response(),
        "/error" => (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
        "/busy" => StatusCode::TOO_MANY_REQUESTS.into_response(),
        "/missing" => (StatusCode::NOT_FOUND, "no such page").into_response(),
        "/redirect" => (StatusCode::FOUND, [(header::LOCATION, "/ok")]).into_response(),
        "/hang" => std::future::pending().await,
        "/endless" => endless_body(),
        _ => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// Builds a 200 response whose body never ends.
fn endless_body() -> Response {
    let chunks = futures::stream::repeat_with(|| Ok::<_, Infallible>(vec![b'x'; 64 * 1024]));
    Response::new(Body::from_stream(chunks))
}

fn job(url: &str, timeout_ms: u64) -> Job {
    let headers = BTreeMap::from([
        ("X-Team".to_string(), "billing".to_string()),
        ("Idempotency-Key".to_string(), "set-by-user".to_string()),
    ]);
    let trigger = HttpTrigger {
        url: url.to_string(),
        method: "POST".to_string(),
        headers,
        body: Some("{\"run\":true}".to_string()),
        timeout_ms,
    };
    Job {
        revision: 0,
        pruned_through: None,
        stats: crate::model::JobStats::default(),
        id: "job-1".to_string(),
        spec: JobSpec {
            policies: crate::model::JobPolicies::default(),
            name: "nightly".to_string(),
            description: String::new(),
            schedule: "@every 1m".to_string(),
            time_zone: "UTC".to_string(),
            trigger: Trigger::Http(trigger),
            retry: RetryStrategy::none(),
            tags: Vec::new(),
        },
        status: JobStatus::Active,
        anchor: Timestamp(0),
        last_execution_time: None,
        next_execution_time: None,
        created_at: Timestamp(0),
        updated_at: Timestamp(0),
    }
}

fn execution(attempt: u32, attempt_index: u64) -> Execution {
    let scheduled_time = Timestamp(1_767_225_600_000);
    Execution {
        redispatches: 0,
        id: Execution::derive_id("job-1", scheduled_time, Cause::Schedule),
        job_id: "job-1".to_string(),
        scheduled_time,
        start_time: scheduled_time,
        end_time: None,
        status: ExecutionStatus::Running,
        attempt_count: attempt,
        next_retry_time: None,
        result: None,
        error: None,
        cause: Cause::Schedule,
        retry_of: None,
        attempt_term: 3,
        attempt_index,
    }
}

fn header_text<'a>(request: &'a Recorded, name: &str) -> &'a str {
    request.headers.get(name).unwrap().to_str().unwrap()
}

fn failure(outcome: OutcomeResult) -> (Option<u16>, String, bool) {
    match outcome {
        OutcomeResult::Failure {
            status_code,
            error,
            retryable,
            ..
        } => (status_code, error, retryable),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test]
async fn dispatch_sends_request_and_headers() {
    let receiver = Receiver::start().await;
    let dispatcher = HttpDispatcher::new(NODE_ID).unwrap();
    let execution = execution(1, 42);

    dispatcher
        .dispatch(&job(&receiver.url("/ok"), 5000), &execution)
        .await;

    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.body, Bytes::from_static(b"{\"run\":true}"));
    assert_eq!(header_text(request, "x-team"), "billing");
    assert_eq!(header_text(request, "idempotency-key"), execution.id);
    assert_eq!(request.headers.get_all("idempotency-key").iter().count(), 1);
    assert_eq!(header_text(request, "x-raftcron-job-id"), "job-1");
    assert_eq!(
        header_text(request, "x-raftcron-execution-id"),
        execution.id
    );
    assert_eq!(
        header_text(request, "x-raftcron-scheduled-time"),
        "2026-01-01T00:00:00.000Z"
    );
    assert_eq!(header_text(request, "x-raftcron-attempt"), "1");
    assert_eq!(header_text(request, "x-raftcron-fencing-token"), "42");
    assert_eq!(header_text(request, "x-raftcron-node-id"), "7");
    assert_eq!(header_text(request, "user-agent"), USER_AGENT);
}

#[tokio::test]
async fn idempotency_key_stable_across_attempts() {
    let receiver = Receiver::start().await;
    let dispatcher = HttpDispatcher::new(NODE_ID).unwrap();
    let job = job(&receiver.url("/error"), 5000);

    dispatcher.dispatch(&job, &execution(1, 10)).await;
    dispatcher.dispatch(&job, &execution(2, 17)).await;

    let requests = receiver.requests();
    assert_eq!(requests.len(), 2);
    let (first, second) = (&requests[0], &requests[1]);
    assert_eq!(
        header_text(first, "idempotency-key"),
        header_text(second, "idempotency-key")
    );
    assert_eq!(
        header_text(first, "x-raftcron-execution-id"),
        header_text(second, "x-raftcron-execution-id")
    );
    assert_eq!(header_text(first, "x-raftcron-attempt"), "1");
    assert_eq!(header_text(second, "x-raftcron-attempt"), "2");
    assert_eq!(header_text(first, "x-raftcron-fencing-token"), "10");
    assert_eq!(header_text(second, "x-raftcron-fencing-token"), "17");
}

#[tokio::test]
async fn any_2xx_is_success() {
    let receiver = Receiver::start().await;
    let dispatcher = HttpDispatcher::new(NODE_ID).unwrap();

    let ok = dispatcher
        .dispatch(&job(&receiver.url("/ok"), 5000), &execution(1, 1))
        .await;
    let created = dispatcher
        .dispatch(&job(&receiver.url("/created"), 5000), &execution(1, 1))
        .await;

    let expected_ok = OutcomeResult::Success {
        status_code: 200,
        body: "done".to_string(),
    };
    assert_eq!(ok, expected_ok);
    let expected_created = OutcomeResult::Success {
        status_code: 201,
        body: String::new(),
    };
    assert_eq!(created, expected_created);
}

#[tokio::test]
async fn server_error_is_retryable() {
    let receiver = Receiver::start().await;
    let dispatcher = HttpDispatcher::new(NODE_ID).unwrap();
    let url = receiver.url("/error");

    let outcome = dispatcher
        .dispatch(&job(&url, 5000), &execution(1, 1))
        .await;

    let expected = OutcomeResult::Failure {
        status_code: Some(500),
        body: Some("boom".to_string()),
        error: format!("POST {url}: responded 500 Internal Server Error"),
        retryable: true,
    };
    assert_eq!(outcome, expected);
}

#[tokio::test]
async fn too_many_requests_is_retryable() {
    let receiver = Receiver::start().await;
    let dispatcher = HttpDispatcher::new(NODE_ID).unwrap();

    let outcome = dispatcher
        .dispatch(&job(&receiver.url("/busy"), 5000), &execution(1, 1))
        .await;

    let (status_code, _, retryable) = failure(outcome);
    assert_eq!(status_code, Some(429));
    assert!(retryable);
}

#[tokio::test]
async fn not_found_is_final() {
    let receiver = Receiver::start().await;
    let dispatcher = HttpDispatcher::new(NODE_ID).unwrap();
    let url = receiver.url("/missing");

    let outcome = dispatcher
        .dispatch(&job(&url, 5000), &execution(1, 1))
        .await;

    let expected = OutcomeResult::Failure {
        status_code: Some(404),
        body: Some("no such page".to_string()),
        error: format!("POST {url}: responded 404 Not Found"),
        retryable: false,
    };
    assert_eq!(outcome, expected);
}

#[tokio::test]
async fn silent_receiver_times_out() {
    let receiver = Receiver::start().await;
    let dispatcher = HttpDispatcher::new(NODE_ID).unwrap();
    let url = receiver.url("/hang");
    let started = Instant::now();

    let outcome = dispatcher.dispatch(&job(&url, 200), &execution(1, 1)).await;

    let elapsed = started.elapsed();
    let (status_code, error, retryable) = failure(outcome);
    assert_eq!(status_code, None);
    assert_eq!(error, format!("POST {url}: timed out after 200 ms"));
    assert!(retryable);
    assert!(
        elapsed >= Duration::from_millis(200),
        "returned after {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "returned after {elapsed:?}"
    );
}

#[tokio::test]
async fn timeout_bounds_every_cause() {
    let receiver = Receiver::start().await;
    let dispatcher = HttpDispatcher::new(NODE_ID).unwrap();
    let url = receiver.url("/hang");
    let job = job(&url, 200);
    // A schedule fire, a manual run, a RETRY run, and a retried attempt of a schedule fire.
    let cases = [
        (Cause::Schedule, 1),
        (Cause::Manual, 1),
        (Cause::Retry, 1),
        (Cause::Schedule, 3),
    ];

    for (cause, attempt) in cases {
        let execution = Execution {
            cause,
            id: Execution::derive_id("job-1", Timestamp(1_767_225_600_000), cause),
            ..execution(attempt, 5)
        };
        let started = Instant::now();

        let outcome = dispatcher.dispatch(&job, &execution).await;

        let elapsed = started.elapsed();
        let (_, error, retryable) = failure(outcome);
        let case = format!("{} attempt {attempt}", cause.as_str());
        assert_eq!(
            error,
            format!("POST {url}: timed out after 200 ms"),
            "{case}"
        );
        assert!(retryable, "{case}");
        assert!(elapsed >= Duration::from_millis(200), "{case}: {elapsed:?}");
        assert!(elapsed < Duration::from_secs(5), "{case}: {elapsed:?}");
    }
}

#[tokio::test]
async fn refused_connection_is_retryable() {
    // Bind and release a port so that nothing listens on it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/ok", listener.local_addr().unwrap());
    drop(listener);
    let dispatcher = HttpDispatcher::new(NODE_ID).unwrap();

    let outcome = dispatcher
        .dispatch(&job(&url, 5000), &execution(1, 1))
        .await;

    let (status_code, error, retryable) = failure(outcome);
    assert_eq!(status_code, None);
    assert_eq!(error, format!("POST {url}: connection refused"));
    assert!(retryable);
}

#[tokio::test]
async fn endless_body_is_capped() {
    let receiver = Receiver::start().await;
    let dispatcher = HttpDispatcher::new(NODE_ID).unwrap();

    let outcome = dispatcher
        .dispatch(&job(&receiver.url("/endless"), 5000), &execution(1, 1))
        .await;

    let OutcomeResult::Success { status_code, body } = outcome else {
        panic!("expected a success, got {outcome:?}");
    };
    assert_eq!(status_code, 200);
    assert_eq!(body.len(), MAX_RESULT_BODY_BYTES);
    assert!(body.bytes().all(|byte| byte == b'x'));
}

#[tokio::test]
async fn redirect_is_not_followed() {
    let receiver = Receiver::start().await;
    let dispatcher = HttpDispatcher::new(NODE_ID).unwrap();

    let outcome = dispatcher
        .dispatch(&job(&receiver.url("/redirect"), 5000), &execution(1, 1))
        .await;

    let (status_code, _, retryable) = failure(outcome);
    assert_eq!(status_code, Some(302));
    assert!(!retryable);
    let paths: Vec<String> = receiver
        .requests()
        .into_iter()
        .map(|request| request.path)
        .collect();
    assert_eq!(paths, vec!["/redirect".to_string()]);
}

#[tokio::test]
async fn credentials_left_out_of_error() {
    let receiver = Receiver::start().await;
    let dispatcher = HttpDispatcher::new(NODE_ID).unwrap();
    let url = format!("http://admin:secret@{}/missing", receiver.addr);

    let outcome = dispatcher
        .dispatch(&job(&url, 5000), &execution(1, 1))
        .await;

    let (_, error, _) = failure(outcome);
    assert!(
        !error.contains("secret"),
        "error shows the password: {error}"
    );
    assert_eq!(
        error,
        format!("POST {}: responded 404 Not Found", receiver.url("/missing"))
    );
}
