use serde_json::{Value, json};

use super::*;
use crate::model::input::JobInput;
use crate::model::{JobSpec, Trigger};

fn job_body(trigger_config: Value) -> Value {
    json!({
        "name": "hook",
        "schedule": "@hourly",
        "triggerConfig": trigger_config,
    })
}

fn created_http(trigger_config: Value) -> HttpTrigger {
    let input = JobInput::from_json(&job_body(trigger_config)).unwrap();
    let (spec, _) = input.into_new_spec().unwrap();
    let Trigger::Http(http) = spec.trigger;
    http
}

fn updated(current: &JobSpec, patch: Value) -> HttpTrigger {
    let input = JobInput::from_json(&patch).unwrap();
    let spec = input.into_updated_spec(current).unwrap();
    let Trigger::Http(http) = spec.trigger;
    http
}

fn created_spec(trigger_config: Value) -> JobSpec {
    let input = JobInput::from_json(&job_body(trigger_config)).unwrap();
    input.into_new_spec().unwrap().0
}

fn create_error(trigger_config: Value) -> ValidationError {
    JobInput::from_json(&job_body(trigger_config))
        .and_then(JobInput::into_new_spec)
        .expect_err("input should be rejected")
}

const URL: &str = "http://127.0.0.1:9/hook";

#[test]
fn object_body_gets_json_content_type() {
    let http = created_http(json!({"url": URL, "body": {"run": true}}));
    assert_eq!(http.body.as_deref(), Some(r#"{"run":true}"#));
    let content_type = http.headers.get("Content-Type").map(String::as_str);
    assert_eq!(content_type, Some("application/json"));
}

#[test]
fn array_body_keeps_other_headers() {
    let http = created_http(json!({"url": URL, "headers": {"X-A": "1"}, "body": [1, 2]}));
    assert_eq!(http.headers.len(), 2, "{:?}", http.headers);
    assert_eq!(http.headers.get("X-A").map(String::as_str), Some("1"));
    let content_type = http.headers.get("Content-Type").map(String::as_str);
    assert_eq!(content_type, Some("application/json"));
}

#[test]
fn content_type_in_any_case_is_kept() {
    let headers = json!({"content-TYPE": "application/vnd.api+json"});
    let http = created_http(json!({"url": URL, "headers": headers, "body": {"a": 1}}));
    assert_eq!(http.headers.len(), 1, "{:?}", http.headers);
    let content_type = http.headers.get("content-TYPE").map(String::as_str);
    assert_eq!(content_type, Some("application/vnd.api+json"));
}

#[test]
fn string_body_gets_no_content_type() {
    let http = created_http(json!({"url": URL, "body": "{\"a\": 1}"}));
    assert!(http.headers.is_empty(), "{:?}", http.headers);
}

#[test]
fn object_body_on_update_checks_current_headers() {
    let current = created_spec(json!({"url": URL, "headers": {"X-A": "1"}}));
    let http = updated(&current, json!({"triggerConfig": {"body": {"b": 2}}}));
    assert_eq!(http.headers.get("X-A").map(String::as_str), Some("1"));
    let content_type = http.headers.get("Content-Type").map(String::as_str);
    assert_eq!(content_type, Some("application/json"));
}

#[test]
fn null_body_clears_body_on_update() {
    let current = created_spec(json!({"url": URL, "body": "payload"}));
    let http = updated(&current, json!({"triggerConfig": {"body": null}}));
    assert_eq!(http.body, None);
}

#[test]
fn empty_body_clears_body_on_update() {
    let current = created_spec(json!({"url": URL, "body": "payload"}));
    let http = updated(&current, json!({"triggerConfig": {"body": ""}}));
    assert_eq!(http.body, None);
}

#[test]
fn absent_body_is_kept_on_update() {
    let current = created_spec(json!({"url": URL, "body": "payload"}));
    let http = updated(&current, json!({"triggerConfig": {"timeout": 1000}}));
    assert_eq!(http.body.as_deref(), Some("payload"));
}

#[test]
fn add_json_content_type_fills_absent_headers() {
    let mut input = TriggerInput {
        body: Some(Some("{}".to_string())),
        body_is_json: true,
        ..Default::default()
    };
    input.add_json_content_type();
    let expected = BTreeMap::from([("Content-Type".to_string(), JSON_CONTENT_TYPE.to_string())]);
    assert_eq!(input.headers, Some(expected));
}

#[test]
fn add_json_content_type_ignores_string_body() {
    let mut input = TriggerInput {
        body: Some(Some("{}".to_string())),
        ..Default::default()
    };
    input.add_json_content_type();
    assert_eq!(input.headers, None);
}

#[test]
fn url_with_whitespace_is_rejected() {
    for url in [
        "http://127.0.0.1:9/a b",
        "http://127.0.0.1:9/a\tb",
        "http://host/\u{1b}",
    ] {
        let error = create_error(json!({"url": url}));
        assert_eq!(error.field, "triggerConfig.url", "{url:?}");
        assert_eq!(error.value, url);
        assert!(error.message.contains("whitespace"), "{}", error.message);
    }
}

#[test]
fn url_with_percent_encoded_space_is_accepted() {
    let http = created_http(json!({"url": "http://127.0.0.1:9/a%20b"}));
    assert_eq!(http.url, "http://127.0.0.1:9/a%20b");
}

#[test]
fn connection_headers_are_rejected() {
    for name in [
        "Content-Length",
        "transfer-encoding",
        "Connection",
        "Upgrade",
        "TE",
    ] {
        let error = create_error(json!({"url": URL, "headers": {name: "5"}}));
        assert_eq!(error.field, "triggerConfig.headers", "{name}");
        assert_eq!(error.value, name);
        assert!(error.message.contains("HTTP client"), "{}", error.message);
    }
}

#[test]
fn raftcron_headers_are_rejected() {
    for name in ["Idempotency-Key", "X-Raftcron-Attempt", "x-raftcron-custom"] {
        let error = create_error(json!({"url": URL, "headers": {name: "mine"}}));
        assert_eq!(error.field, "triggerConfig.headers", "{name}");
        assert_eq!(error.value, name);
        assert!(error.message.contains("raftcron sets"), "{}", error.message);
    }
}

#[test]
fn host_header_is_accepted() {
    let http = created_http(json!({"url": URL, "headers": {"Host": "reports.internal"}}));
    assert_eq!(
        http.headers.get("Host").map(String::as_str),
        Some("reports.internal")
    );
}

#[test]
fn soap_trigger_type_names_rest() {
    let error = check_trigger_type(Some("SOAP")).unwrap_err();
    assert_eq!(error.field, "triggerType");
    assert!(
        error
            .message
            .ends_with("expected REST (Kafka triggers are not supported yet)")
    );
}
