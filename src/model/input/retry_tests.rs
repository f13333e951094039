//! Tests of the `retryStrategy` fields of job input.

use serde_json::{Value, json};

use super::*;
use crate::model::{JobInput, JobSpec};

/// Returns a valid job body whose `retryStrategy` is `retry`.
fn body_with_retry(retry: Value) -> Value {
    json!({
        "name": "retries",
        "schedule": "@hourly",
        "triggerConfig": {"url": "http://127.0.0.1:9/hook"},
        "retryStrategy": retry
    })
}

fn created(retry: Value) -> RetryStrategy {
    let input = JobInput::from_json(&body_with_retry(retry)).unwrap();
    let (spec, _) = input.into_new_spec().unwrap();
    spec.retry
}

fn create_error(retry: Value) -> ValidationError {
    JobInput::from_json(&body_with_retry(retry))
        .and_then(JobInput::into_new_spec)
        .expect_err("input should be rejected")
}

fn spec_with_retry(retry: Value) -> JobSpec {
    let input = JobInput::from_json(&body_with_retry(retry)).unwrap();
    input.into_new_spec().unwrap().0
}

#[test]
fn absent_fields_take_defaults() {
    let retry = created(json!({"attempts": 3, "interval": 1000}));
    assert_eq!(retry.max_interval_ms, None);
    assert_eq!(retry.jitter_permille, 0);
    assert_eq!(retry.retry_on, None);
}

#[test]
fn max_interval_limits_accepted() {
    let equal = created(json!({"interval": 1000, "maxInterval": 1000}));
    assert_eq!(equal.max_interval_ms, Some(1000));
    let day = created(json!({"interval": 1000, "maxInterval": MAX_INTERVAL_MS}));
    assert_eq!(day.max_interval_ms, Some(86_400_000));
}

#[test]
fn jitter_is_stored_in_permille() {
    let cases = [
        (json!(0), 0),
        (json!(0.0), 0),
        (json!(0.25), 250),
        (json!(0.2504), 250),
        (json!(1), 1000),
        (json!(1.0), 1000),
    ];
    for (jitter, permille) in cases {
        let retry = created(json!({"jitter": jitter}));
        assert_eq!(retry.jitter_permille, permille, "{jitter}");
    }
}

#[test]
fn retry_on_is_sorted_without_repeats() {
    let retry = created(json!({"retryOn": [503, 409, 503, 100, 599]}));
    assert_eq!(retry.retry_on, Some(vec![100, 409, 503, 599]));
}

#[test]
fn invalid_values_name_field_and_value() {
    let cases = [
        (
            json!({"interval": 1000, "maxInterval": 999}),
            "retryStrategy.maxInterval",
            "999",
        ),
        (json!({"maxInterval": 0}), "retryStrategy.maxInterval", "0"),
        (
            json!({"maxInterval": 86_400_001}),
            "retryStrategy.maxInterval",
            "86400001",
        ),
        (
            json!({"maxInterval": "1s"}),
            "retryStrategy.maxInterval",
            "\"1s\"",
        ),
        (json!({"jitter": 1.5}), "retryStrategy.jitter", "1.5"),
        (json!({"jitter": -0.1}), "retryStrategy.jitter", "-0.1"),
        (json!({"jitter": "0.5"}), "retryStrategy.jitter", "\"0.5\""),
        (json!({"retryOn": []}), "retryStrategy.retryOn", "[]"),
        (
            json!({"retryOn": [503, 600]}),
            "retryStrategy.retryOn",
            "600",
        ),
        (json!({"retryOn": [99]}), "retryStrategy.retryOn", "99"),
        (
            json!({"retryOn": [503, 204]}),
            "retryStrategy.retryOn",
            "204",
        ),
        (json!({"retryOn": [-503]}), "retryStrategy.retryOn", "-503"),
        (
            json!({"retryOn": ["503"]}),
            "retryStrategy.retryOn",
            "\"503\"",
        ),
        (
            json!({"retryOn": [503.5]}),
            "retryStrategy.retryOn",
            "503.5",
        ),
        (json!({"retryOn": 503}), "retryStrategy.retryOn", "503"),
    ];
    for (retry, field, value) in cases {
        let error = create_error(retry.clone());
        assert_eq!(error.field, field, "{retry}");
        assert_eq!(error.value, value, "{retry}");
        assert!(error.message.contains(field), "{}", error.message);
    }
}

#[test]
fn update_keeps_absent_retry_fields() {
    let current = spec_with_retry(json!({
        "interval": 1000,
        "maxInterval": 5000,
        "jitter": 0.5,
        "retryOn": [503]
    }));
    let patch = JobInput::from_json(&json!({"retryStrategy": {"attempts": 5}})).unwrap();

    let spec = patch.into_updated_spec(&current).unwrap();

    assert_eq!(spec.retry.attempts, 5);
    assert_eq!(spec.retry.max_interval_ms, Some(5000));
    assert_eq!(spec.retry.jitter_permille, 500);
    assert_eq!(spec.retry.retry_on, Some(vec![503]));
}

#[test]
fn update_checks_max_interval_against_new_interval() {
    let current = spec_with_retry(json!({"interval": 1000, "maxInterval": 5000}));
    let patch = JobInput::from_json(&json!({"retryStrategy": {"interval": 6000}})).unwrap();

    let error = patch.into_updated_spec(&current).unwrap_err();

    assert_eq!(error.field, "retryStrategy.maxInterval");
    assert_eq!(error.value, "5000");
    assert!(error.message.contains("6000"), "{}", error.message);
}

#[test]
fn update_null_resets_retry_fields() {
    let current = spec_with_retry(json!({
        "interval": 1000,
        "maxInterval": 5000,
        "retryOn": [503]
    }));
    let body = json!({"retryStrategy": {"maxInterval": null, "retryOn": null}});
    let patch = JobInput::from_json(&body).unwrap();

    let spec = patch.into_updated_spec(&current).unwrap();

    assert_eq!(spec.retry.max_interval_ms, None);
    assert_eq!(spec.retry.retry_on, None);
    assert_eq!(spec.retry.interval_ms, 1000);
}

#[test]
fn create_null_takes_retry_defaults() {
    let retry = created(json!({"maxInterval": null, "retryOn": null}));
    assert_eq!(retry.max_interval_ms, None);
    assert_eq!(retry.retry_on, None);
}

#[test]
fn zero_attempts_is_stored_as_one() {
    let retry = created(json!({"attempts": 0}));
    assert_eq!(retry.attempts, 1);
}
