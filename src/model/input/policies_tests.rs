//! Tests of the policy fields of job input.

use serde_json::{Value, json};

use super::*;
use crate::model::{JobInput, JobSpec};

fn minimal_body() -> Value {
    json!({
        "name": "policies",
        "schedule": "@hourly",
        "triggerConfig": {"url": "http://127.0.0.1:9/hook"}
    })
}

/// Returns `minimal_body` with the top-level fields of `fields` added.
fn body_with(fields: Value) -> Value {
    let mut body = minimal_body();
    let object = body.as_object_mut().unwrap();
    for (key, value) in fields.as_object().unwrap() {
        object.insert(key.clone(), value.clone());
    }
    body
}

fn created(fields: Value) -> JobPolicies {
    let input = JobInput::from_json(&body_with(fields)).unwrap();
    let (spec, _) = input.into_new_spec().unwrap();
    spec.policies
}

fn create_error(fields: Value) -> ValidationError {
    JobInput::from_json(&body_with(fields))
        .and_then(JobInput::into_new_spec)
        .expect_err("input should be rejected")
}

fn updated(current: &JobSpec, fields: Value) -> Result<JobSpec, ValidationError> {
    JobInput::from_json(&fields)?.into_updated_spec(current)
}

#[test]
fn absent_policies_take_defaults() {
    let policies = created(json!({}));
    assert_eq!(policies.misfire, MisfirePolicy::FireOnce);
    assert_eq!(policies.max_catch_up, 10);
    assert_eq!(policies.starting_deadline_ms, None);
    assert_eq!(policies.concurrency, ConcurrencyPolicy::Allow);
    assert_eq!(policies.retention.max_count, 100);
    assert_eq!(policies.retention.max_age_ms, 7 * DAY_MS);
}

#[test]
fn misfire_policy_names_are_parsed() {
    let cases = [
        ("FIRE_ONCE", MisfirePolicy::FireOnce),
        ("FIRE_ALL", MisfirePolicy::FireAll),
        ("SKIP", MisfirePolicy::Skip),
        ("fire_all", MisfirePolicy::FireAll),
    ];
    for (name, expected) in cases {
        let policies = created(json!({"misfirePolicy": name}));
        assert_eq!(policies.misfire, expected, "{name}");
    }
}

#[test]
fn concurrency_policy_names_are_parsed() {
    let cases = [
        ("ALLOW", ConcurrencyPolicy::Allow),
        ("FORBID", ConcurrencyPolicy::Forbid),
        ("REPLACE", ConcurrencyPolicy::Replace),
        ("replace", ConcurrencyPolicy::Replace),
    ];
    for (name, expected) in cases {
        let policies = created(json!({"concurrencyPolicy": name}));
        assert_eq!(policies.concurrency, expected, "{name}");
    }
}

#[test]
fn limits_are_accepted() {
    let low = created(json!({
        "maxCatchUp": 1,
        "startingDeadline": 1,
        "retention": {"maxCount": 1, "maxAge": MIN_RETENTION_AGE_MS}
    }));
    assert_eq!(low.max_catch_up, 1);
    assert_eq!(low.starting_deadline_ms, Some(1));
    assert_eq!(low.retention.max_count, 1);
    assert_eq!(low.retention.max_age_ms, 60_000);

    let high = created(json!({
        "maxCatchUp": MAX_CATCH_UP,
        "startingDeadline": MAX_STARTING_DEADLINE_MS,
        "retention": {"maxCount": MAX_RETENTION_COUNT, "maxAge": MAX_RETENTION_AGE_MS}
    }));
    assert_eq!(high.max_catch_up, 1000);
    assert_eq!(high.starting_deadline_ms, Some(30 * DAY_MS));
    assert_eq!(high.retention.max_count, 10_000);
    assert_eq!(high.retention.max_age_ms, 365 * DAY_MS);
}

#[test]
fn invalid_values_name_field_and_value() {
    let cases = [
        (json!({"misfirePolicy": "LATER"}), "misfirePolicy", "LATER"),
        (json!({"misfirePolicy": 1}), "misfirePolicy", "1"),
        (json!({"maxCatchUp": 0}), "maxCatchUp", "0"),
        (json!({"maxCatchUp": 1001}), "maxCatchUp", "1001"),
        (json!({"maxCatchUp": -1}), "maxCatchUp", "-1"),
        (json!({"maxCatchUp": 2.5}), "maxCatchUp", "2.5"),
        (json!({"maxCatchUp": "ten"}), "maxCatchUp", "\"ten\""),
        (json!({"startingDeadline": 0}), "startingDeadline", "0"),
        (
            json!({"startingDeadline": 2_592_000_001_i64}),
            "startingDeadline",
            "2592000001",
        ),
        (
            json!({"startingDeadline": "1m"}),
            "startingDeadline",
            "\"1m\"",
        ),
        (
            json!({"concurrencyPolicy": "QUEUE"}),
            "concurrencyPolicy",
            "QUEUE",
        ),
        (json!({"retention": 5}), "retention", "5"),
        (
            json!({"retention": {"maxCount": 0}}),
            "retention.maxCount",
            "0",
        ),
        (
            json!({"retention": {"maxCount": 10_001}}),
            "retention.maxCount",
            "10001",
        ),
        (
            json!({"retention": {"maxAge": 59_999}}),
            "retention.maxAge",
            "59999",
        ),
        (
            json!({"retention": {"maxAge": 31_536_000_001_i64}}),
            "retention.maxAge",
            "31536000001",
        ),
        (
            json!({"retention": {"maxAge": "7d"}}),
            "retention.maxAge",
            "\"7d\"",
        ),
    ];
    for (fields, field, value) in cases {
        let error = create_error(fields.clone());
        assert_eq!(error.field, field, "{fields}");
        assert_eq!(error.value, value, "{fields}");
        assert!(error.message.contains(field), "{}", error.message);
    }
}

#[test]
fn update_keeps_absent_policies() {
    let (current, _) = JobInput::from_json(&body_with(json!({
        "misfirePolicy": "SKIP",
        "startingDeadline": 5000,
        "concurrencyPolicy": "FORBID",
        "retention": {"maxCount": 3, "maxAge": 120_000}
    })))
    .unwrap()
    .into_new_spec()
    .unwrap();

    let spec = updated(&current, json!({"description": "changed"})).unwrap();

    assert_eq!(spec.policies, current.policies);
}

#[test]
fn update_of_one_retention_field_keeps_other() {
    let (current, _) = JobInput::from_json(&minimal_body())
        .unwrap()
        .into_new_spec()
        .unwrap();

    let spec = updated(&current, json!({"retention": {"maxCount": 5}})).unwrap();

    assert_eq!(spec.policies.retention.max_count, 5);
    assert_eq!(spec.policies.retention.max_age_ms, 7 * DAY_MS);
}

#[test]
fn null_starting_deadline_clears_it() {
    let (current, _) = JobInput::from_json(&body_with(json!({"startingDeadline": 5000})))
        .unwrap()
        .into_new_spec()
        .unwrap();
    assert_eq!(current.policies.starting_deadline_ms, Some(5000));

    let renamed = updated(&current, json!({"name": "renamed"})).unwrap();
    assert_eq!(renamed.policies.starting_deadline_ms, Some(5000));

    let cleared = updated(&current, json!({"startingDeadline": null})).unwrap();
    assert_eq!(cleared.policies.starting_deadline_ms, None);
}

#[test]
fn update_rejects_invalid_policy() {
    let (current, _) = JobInput::from_json(&minimal_body())
        .unwrap()
        .into_new_spec()
        .unwrap();
    let error = updated(&current, json!({"concurrencyPolicy": "SOMETIMES"})).unwrap_err();
    assert_eq!(error.field, "concurrencyPolicy");
    assert_eq!(error.value, "SOMETIMES");
}
