//! Seeded random job bodies sent through the REST router over a real store: every one gets a
//! success or a client error naming a field, none panics or gets a 500, and a rejected request
//! changes nothing.

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};
use tower::ServiceExt;

use super::fake::Fixture;
use super::router;

/// Bodies sent per seed, for creates and for updates each.
const BODIES_PER_SEED: usize = 150;

const SEEDS: [u64; 4] = [1, 2, 3, 4];

/// Paths of the fields a job body may carry, nested ones joined by dots.
const FIELDS: [&str; 25] = [
    "name",
    "description",
    "schedule",
    "timeZone",
    "triggerType",
    "status",
    "tags",
    "misfirePolicy",
    "maxCatchUp",
    "startingDeadline",
    "concurrencyPolicy",
    "triggerConfig",
    "triggerConfig.url",
    "triggerConfig.method",
    "triggerConfig.headers",
    "triggerConfig.body",
    "triggerConfig.timeout",
    "retryStrategy",
    "retryStrategy.attempts",
    "retryStrategy.backoff",
    "retryStrategy.interval",
    "retryStrategy.maxInterval",
    "retryStrategy.jitter",
    "retryStrategy.retryOn",
    "retention.maxCount",
];

fn valid_body() -> Value {
    json!({
        "name": "fuzzed",
        "schedule": "*/5 * * * * *",
        "timeZone": "UTC",
        "triggerType": "REST",
        "triggerConfig": {"url": "http://127.0.0.1:9/hook", "method": "POST", "timeout": 5000},
        "retryStrategy": {"attempts": 3, "backoff": "exponential", "interval": 1000},
        "retention": {"maxCount": 10, "maxAge": 3_600_000},
        "tags": ["fuzz"]
    })
}

/// Returns one of a set of awkward JSON values.
fn odd_value(rng: &mut StdRng) -> Value {
    let deep = (0..64).fold(json!(1), |inner, _| json!([inner]));
    let choices = [
        Value::Null,
        json!(true),
        json!(-1),
        json!(0),
        json!(i64::MAX),
        json!(u64::MAX),
        json!(1e308),
        json!(-0.5),
        json!(""),
        json!(" "),
        json!("x".repeat(5000)),
        json!("\u{0}\u{1b}[31m"),
        json!("💥 ☃"),
        json!("0 0 31 2 *"),
        json!("Mars/Olympus"),
        json!("http://[::1"),
        json!([]),
        json!({}),
        json!([1, "a", null]),
        json!({"a": {"b": 1}}),
        deep,
    ];
    choices[rng.random_range(0..choices.len())].clone()
}

/// Sets `path` in `body` to `value`, creating objects on the way and replacing non-objects.
fn set_path(body: &mut Value, path: &str, value: Value) {
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts.pop().expect("path has a part");
    let mut node = body;
    for part in parts {
        let object = as_object(node);
        node = object.entry(part).or_insert_with(|| json!({}));
    }
    as_object(node).insert(last.to_string(), value);
}

fn as_object(node: &mut Value) -> &mut Map<String, Value> {
    if !node.is_object() {
        *node = json!({});
    }
    node.as_object_mut().expect("made an object")
}

/// Applies one to three random changes to `body`.
fn mutate(rng: &mut StdRng, body: &mut Value) {
    for _ in 0..rng.random_range(1..=3) {
        let path = FIELDS[rng.random_range(0..FIELDS.len())];
        match rng.random_range(0..10) {
            0 => remove_path(body, path),
            1 => set_path(body, &format!("{path}Typo"), json!(1)),
            _ => set_path(body, path, odd_value(rng)),
        }
    }
}

fn remove_path(body: &mut Value, path: &str) {
    let (parent, key) = match path.rsplit_once('.') {
        Some((parent, key)) => (body.pointer_mut(&format!("/{parent}")), key),
        None => (Some(body), path),
    };
    if let Some(Value::Object(object)) = parent {
        object.remove(key);
    }
}

struct Reply {
    status: StatusCode,
    body: Value,
}

async fn send(fixture: &Fixture, method: &str, uri: &str, body: &Value) -> Reply {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = router(fixture.api.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = to_bytes(response.into_body(), 1 << 22).await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply { status, body }
}

/// Asserts that `reply` is a client error that names a field.
fn assert_named_client_error(reply: &Reply, sent: &Value) {
    assert!(
        reply.status.is_client_error(),
        "status {} for {sent}: {}",
        reply.status,
        reply.body
    );
    let field = reply.body["error"]["field"].as_str().unwrap_or_default();
    assert!(
        !field.is_empty(),
        "no field named for {sent}: {}",
        reply.body
    );
}

async fn job_count(fixture: &Fixture) -> u64 {
    let list = send(fixture, "GET", "/api/jobs?limit=1", &Value::Null).await;
    list.body["total"].as_u64().expect("total")
}

#[tokio::test]
async fn random_creates_are_accepted_or_named() {
    for seed in SEEDS {
        let fixture = Fixture::new();
        let mut rng = StdRng::seed_from_u64(seed);
        let mut created = 0;
        for _ in 0..BODIES_PER_SEED {
            let mut body = valid_body();
            mutate(&mut rng, &mut body);
            let reply = send(&fixture, "POST", "/api/jobs", &body).await;
            if reply.status == StatusCode::CREATED {
                created += 1;
            } else {
                assert_named_client_error(&reply, &body);
            }
            assert_eq!(job_count(&fixture).await, created, "seed {seed}: {body}");
        }
    }
}

#[tokio::test]
async fn random_updates_are_accepted_or_named() {
    for seed in SEEDS {
        let fixture = Fixture::new();
        let mut rng = StdRng::seed_from_u64(seed);
        let created = send(&fixture, "POST", "/api/jobs", &valid_body()).await;
        let uri = format!("/api/jobs/{}", created.body["id"].as_str().expect("id"));
        for _ in 0..BODIES_PER_SEED {
            let before = send(&fixture, "GET", &uri, &Value::Null).await;
            let mut change = json!({});
            mutate(&mut rng, &mut change);
            let reply = send(&fixture, "PUT", &uri, &change).await;
            if reply.status != StatusCode::OK {
                assert_named_client_error(&reply, &change);
                let after = send(&fixture, "GET", &uri, &Value::Null).await;
                assert_eq!(after.body, before.body, "seed {seed}: {change}");
            }
        }
    }
}
