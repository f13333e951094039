//! Client input for jobs, as sent over REST (camelCase JSON) or gRPC, and its validation.
//!
//! Input is read field by field from a JSON value, so every error names the field and the value
//! that broke it. Read-only fields a client may echo back (`id`, `createdAt`, `lastExecutionTime`
//! and the like) are accepted and ignored, so bodies of the service raftcron replaces pass as
//! they are.

mod policies;
mod retry;

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{HttpTrigger, JobPolicies, JobSpec, JobStatus, RetryStrategy, Trigger};
use crate::schedule::Schedule;

pub use policies::{PoliciesInput, RetentionInput};
pub use retry::RetryInput;

/// Time allowed for an HTTP request when `triggerConfig.timeout` is absent, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// Largest accepted `triggerConfig.timeout`: one hour, in milliseconds.
pub const MAX_TIMEOUT_MS: u64 = 3_600_000;
/// Largest accepted `retryStrategy.attempts`.
pub const MAX_ATTEMPTS: u32 = 100;
/// Largest accepted `retryStrategy.interval`: one day, in milliseconds.
pub const MAX_INTERVAL_MS: u64 = 86_400_000;
const MAX_NAME_CHARS: usize = 200;
const MAX_DESCRIPTION_CHARS: usize = 2000;
const MAX_BODY_BYTES: usize = 256 * 1024;
const MAX_TAGS: usize = 32;
const MAX_TAG_CHARS: usize = 64;
const MAX_HEADERS: usize = 64;
const HTTP_METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// Invalid client input: which field, which value, and what is wrong with it.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[error("{message}")]
pub struct ValidationError {
    /// JSON path of the field, e.g. `triggerConfig.timeout`.
    pub field: String,
    /// The rejected value as the client sent it, shortened to 200 characters.
    pub value: String,
    /// A sentence naming the field and the value, and what is accepted.
    pub message: String,
}

impl ValidationError {
    /// Builds an error for `field` holding `value`; `expected` says what is accepted.
    pub fn new(field: &str, value: impl std::fmt::Display, expected: &str) -> Self {
        let value = shorten(&value.to_string());
        ValidationError {
            message: format!("invalid {field} {value}: {expected}"),
            field: field.to_string(),
            value,
        }
    }

    /// Builds an error for a required field that is absent or empty.
    pub fn missing(field: &str) -> Self {
        ValidationError {
            field: field.to_string(),
            value: String::new(),
            message: format!("missing {field}: the field is required"),
        }
    }
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(200) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}

/// Trigger settings as a client sends them; absent fields keep their current or default value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TriggerInput {
    pub url: Option<String>,
    pub method: Option<String>,
    pub headers: Option<BTreeMap<String, String>>,
    pub body: Option<String>,
    pub timeout_ms: Option<i64>,
}

/// A job as a client sends it for create (all required fields) or update (any subset).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JobInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub schedule: Option<String>,
    pub time_zone: Option<String>,
    pub trigger_type: Option<String>,
    pub trigger: Option<TriggerInput>,
    pub retry: Option<RetryInput>,
    pub status: Option<String>,
    pub tags: Option<Vec<String>>,
    /// Top-level policy fields: `misfirePolicy`, `maxCatchUp`, `startingDeadline`,
    /// `concurrencyPolicy` and `retention`.
    pub policies: PoliciesInput,
}

impl JobInput {
    /// Reads a camelCase JSON job body, checking the type of every known field.
    pub fn from_json(body: &Value) -> Result<JobInput, ValidationError> {
        let object = body
            .as_object()
            .ok_or_else(|| ValidationError::new("body", kind_of(body), "expected a JSON object"))?;
        Ok(JobInput {
            name: string_field(object, "name", "name")?,
            description: string_field(object, "description", "description")?,
            schedule: string_field(object, "schedule", "schedule")?,
            time_zone: string_field(object, "timeZone", "timeZone")?,
            trigger_type: string_field(object, "triggerType", "triggerType")?,
            trigger: trigger_from_json(object.get("triggerConfig"))?,
            retry: retry::retry_from_json(object.get("retryStrategy"))?,
            status: string_field(object, "status", "status")?,
            tags: tags_from_json(object.get("tags"))?,
            policies: PoliciesInput::from_json(object)?,
        })
    }

    /// Validates input for a new job, filling defaults for optional fields.
    pub fn into_new_spec(self) -> Result<(JobSpec, JobStatus), ValidationError> {
        let base = JobSpec {
            name: String::new(),
            description: String::new(),
            schedule: String::new(),
            time_zone: "UTC".to_string(),
            trigger: Trigger::Http(HttpTrigger {
                url: String::new(),
                method: "POST".to_string(),
                headers: BTreeMap::new(),
                body: None,
                timeout_ms: DEFAULT_TIMEOUT_MS,
            }),
            retry: RetryStrategy::none(),
            tags: Vec::new(),
            policies: JobPolicies::default(),
        };
        let status = self.status_or(JobStatus::Active)?;
        Ok((self.merge_into(base)?, status))
    }

    /// Validates input for an existing job: fields present replace those of `current`.
    pub fn into_updated_spec(self, current: &JobSpec) -> Result<JobSpec, ValidationError> {
        self.merge_into(current.clone())
    }

    /// The requested status, or `default` when absent.
    pub fn status_or(&self, default: JobStatus) -> Result<JobStatus, ValidationError> {
        match &self.status {
            None => Ok(default),
            Some(name) => JobStatus::parse(name).ok_or_else(|| {
                ValidationError::new("status", name, "expected ACTIVE, PAUSED or DISABLED")
            }),
        }
    }

    fn merge_into(self, mut spec: JobSpec) -> Result<JobSpec, ValidationError> {
        if let Some(name) = self.name {
            spec.name = name;
        }
        if let Some(description) = self.description {
            spec.description = description;
        }
        if let Some(schedule) = self.schedule {
            spec.schedule = schedule.trim().to_string();
        }
        if let Some(time_zone) = self.time_zone {
            spec.time_zone = time_zone.trim().to_string();
        }
        if let Some(tags) = self.tags {
            spec.tags = tags;
        }
        check_trigger_type(self.trigger_type.as_deref())?;
        let Trigger::Http(http) = &mut spec.trigger;
        if let Some(trigger) = self.trigger {
            merge_http(http, trigger)?;
        }
        if let Some(retry) = self.retry {
            spec.retry = retry::merge_retry(spec.retry, retry)?;
        }
        self.policies.merge_into(&mut spec.policies)?;
        validate_spec(&spec)?;
        Ok(spec)
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn string_field(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<String>, ValidationError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(ValidationError::new(path, other, "expected a string")),
    }
}

fn integer_field(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<i64>, ValidationError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) => number
            .as_i64()
            .map(Some)
            .ok_or_else(|| ValidationError::new(path, number, "expected a whole number")),
        Some(other) => Err(ValidationError::new(path, other, "expected a number")),
    }
}

fn object_field<'a>(
    value: Option<&'a Value>,
    path: &str,
) -> Result<Option<&'a Map<String, Value>>, ValidationError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(object)) => Ok(Some(object)),
        Some(other) => Err(ValidationError::new(path, other, "expected an object")),
    }
}

fn trigger_from_json(value: Option<&Value>) -> Result<Option<TriggerInput>, ValidationError> {
    let Some(object) = object_field(value, "triggerConfig")? else {
        return Ok(None);
    };
    Ok(Some(TriggerInput {
        url: string_field(object, "url", "triggerConfig.url")?,
        method: string_field(object, "method", "triggerConfig.method")?,
        headers: headers_from_json(object.get("headers"))?,
        body: body_from_json(object.get("body")),
        timeout_ms: integer_field(object, "timeout", "triggerConfig.timeout")?,
    }))
}

fn headers_from_json(
    value: Option<&Value>,
) -> Result<Option<BTreeMap<String, String>>, ValidationError> {
    let Some(object) = object_field(value, "triggerConfig.headers")? else {
        return Ok(None);
    };
    let mut headers = BTreeMap::new();
    for (name, value) in object {
        let text = match value {
            Value::String(text) => text.clone(),
            Value::Number(number) => number.to_string(),
            Value::Bool(flag) => flag.to_string(),
            other => {
                let path = format!("triggerConfig.headers.{name}");
                return Err(ValidationError::new(&path, other, "expected a string"));
            }
        };
        headers.insert(name.clone(), text);
    }
    Ok(Some(headers))
}

/// Reads a body: a string is sent as is, any other JSON value is sent as its JSON text.
fn body_from_json(value: Option<&Value>) -> Option<String> {
    match value {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(other) => Some(other.to_string()),
    }
}

fn tags_from_json(value: Option<&Value>) -> Result<Option<Vec<String>>, ValidationError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(tag) => Ok(tag.clone()),
                other => Err(ValidationError::new("tags", other, "expected strings")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(ValidationError::new("tags", other, "expected an array")),
    }
}

fn check_trigger_type(trigger_type: Option<&str>) -> Result<(), ValidationError> {
    match trigger_type.map(str::to_ascii_uppercase).as_deref() {
        None | Some("REST") | Some("HTTP") => Ok(()),
        Some("KAFKA") => Err(ValidationError::new(
            "triggerType",
            "KAFKA",
            "Kafka triggers are not supported by this server version; use REST",
        )),
        Some(_) => Err(ValidationError::new(
            "triggerType",
            trigger_type.unwrap_or_default(),
            "expected REST or KAFKA",
        )),
    }
}

fn merge_http(http: &mut HttpTrigger, input: TriggerInput) -> Result<(), ValidationError> {
    if let Some(url) = input.url {
        http.url = url.trim().to_string();
    }
    if let Some(method) = input.method {
        http.method = method.trim().to_ascii_uppercase();
    }
    if let Some(headers) = input.headers {
        http.headers = headers;
    }
    if input.body.is_some() {
        http.body = input.body;
    }
    if let Some(timeout) = input.timeout_ms {
        http.timeout_ms = positive_millis("triggerConfig.timeout", timeout, MAX_TIMEOUT_MS)?;
    }
    Ok(())
}

fn positive_millis(field: &str, value: i64, max: u64) -> Result<u64, ValidationError> {
    u64::try_from(value)
        .ok()
        .filter(|millis| (1..=max).contains(millis))
        .ok_or_else(|| {
            let expected = format!("expected milliseconds from 1 to {max}");
            ValidationError::new(field, value, &expected)
        })
}

/// Checks a complete spec: required fields, limits, the URL, headers, the schedule, and the
/// retry strategy's fields against each other.
pub fn validate_spec(spec: &JobSpec) -> Result<(), ValidationError> {
    check_text("name", &spec.name, MAX_NAME_CHARS, true)?;
    check_text(
        "description",
        &spec.description,
        MAX_DESCRIPTION_CHARS,
        false,
    )?;
    check_tags(&spec.tags)?;
    check_schedule(&spec.schedule, &spec.time_zone)?;
    retry::check_retry(&spec.retry)?;
    let Trigger::Http(http) = &spec.trigger;
    check_http(http)
}

fn check_text(
    field: &str,
    text: &str,
    max_chars: usize,
    required: bool,
) -> Result<(), ValidationError> {
    if required && text.trim().is_empty() {
        return Err(ValidationError::missing(field));
    }
    if text.chars().count() > max_chars {
        let expected = format!("at most {max_chars} characters are allowed");
        return Err(ValidationError::new(field, text, &expected));
    }
    Ok(())
}

fn check_tags(tags: &[String]) -> Result<(), ValidationError> {
    if tags.len() > MAX_TAGS {
        let expected = format!("at most {MAX_TAGS} tags are allowed");
        return Err(ValidationError::new("tags", tags.len(), &expected));
    }
    for tag in tags {
        let valid = !tag.is_empty()
            && tag.chars().count() <= MAX_TAG_CHARS
            && !tag.contains(',')
            && !tag.chars().any(char::is_control);
        if !valid {
            let expected = format!("tags are 1 to {MAX_TAG_CHARS} characters with no comma");
            return Err(ValidationError::new("tags", tag, &expected));
        }
    }
    Ok(())
}

fn check_schedule(schedule: &str, time_zone: &str) -> Result<(), ValidationError> {
    if schedule.is_empty() {
        return Err(ValidationError::missing("schedule"));
    }
    Schedule::parse(schedule, time_zone)
        .map(|_| ())
        .map_err(|error| {
            let field = error.field();
            let value = if field == "timeZone" {
                time_zone
            } else {
                schedule
            };
            ValidationError {
                field: field.to_string(),
                value: shorten(value),
                message: error.to_string(),
            }
        })
}

fn check_http(http: &HttpTrigger) -> Result<(), ValidationError> {
    check_url(&http.url)?;
    if !HTTP_METHODS.contains(&http.method.as_str()) {
        let expected = format!("expected one of {}", HTTP_METHODS.join(", "));
        return Err(ValidationError::new(
            "triggerConfig.method",
            &http.method,
            &expected,
        ));
    }
    check_headers(&http.headers)?;
    if http
        .body
        .as_ref()
        .is_some_and(|body| body.len() > MAX_BODY_BYTES)
    {
        let expected = format!("at most {MAX_BODY_BYTES} bytes are allowed");
        let size = format!("of {} bytes", http.body.as_ref().map_or(0, String::len));
        return Err(ValidationError::new("triggerConfig.body", size, &expected));
    }
    Ok(())
}

fn check_url(url: &str) -> Result<(), ValidationError> {
    const FIELD: &str = "triggerConfig.url";
    if url.is_empty() {
        return Err(ValidationError::missing(FIELD));
    }
    let parsed = url::Url::parse(url)
        .map_err(|error| ValidationError::new(FIELD, url, &format!("not a URL ({error})")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(ValidationError::new(
            FIELD,
            url,
            "expected an http or https URL with a host",
        ));
    }
    Ok(())
}

fn check_headers(headers: &BTreeMap<String, String>) -> Result<(), ValidationError> {
    if headers.len() > MAX_HEADERS {
        let expected = format!("at most {MAX_HEADERS} headers are allowed");
        return Err(ValidationError::new(
            "triggerConfig.headers",
            headers.len(),
            &expected,
        ));
    }
    for (name, value) in headers {
        let path = format!("triggerConfig.headers.{name}");
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(ValidationError::new(
                "triggerConfig.headers",
                name,
                "not a valid header name",
            ));
        }
        if http::HeaderValue::from_str(value).is_err() {
            return Err(ValidationError::new(
                &path,
                value,
                "not a valid header value",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::Backoff;

    fn valid_body() -> Value {
        json!({
            "id": "ignored-on-create",
            "name": "nightly report",
            "description": "sends the report",
            "schedule": "0 3 * * *",
            "timeZone": "Europe/Berlin",
            "triggerType": "REST",
            "triggerConfig": {
                "url": "http://127.0.0.1:9000/hook",
                "method": "post",
                "headers": {"Content-Type": "application/json"},
                "body": {"report": "daily"},
                "timeout": 5000
            },
            "retryStrategy": {"attempts": 3, "backoff": "exponential", "interval": 1000},
            "status": "ACTIVE",
            "lastExecutionTime": null,
            "nextExecutionTime": "2026-01-01T02:00:00.000Z",
            "tags": ["reports"],
            "createdAt": "2025-12-01T00:00:00.000Z",
            "updatedAt": "2025-12-01T00:00:00.000Z"
        })
    }

    fn create_error(body: Value) -> ValidationError {
        JobInput::from_json(&body)
            .and_then(JobInput::into_new_spec)
            .expect_err("input should be rejected")
    }

    fn with(mut body: Value, pointer: &str, value: Value) -> Value {
        *body.pointer_mut(pointer).expect("field exists") = value;
        body
    }

    #[test]
    fn nestjs_body_is_accepted() {
        let input = JobInput::from_json(&valid_body()).unwrap();
        let (spec, status) = input.into_new_spec().unwrap();
        assert_eq!(status, JobStatus::Active);
        assert_eq!(spec.time_zone, "Europe/Berlin");
        assert_eq!(spec.retry.attempts, 3);
        assert_eq!(spec.retry.backoff, Backoff::Exponential);
        let Trigger::Http(http) = spec.trigger;
        assert_eq!(http.method, "POST");
        assert_eq!(http.timeout_ms, 5000);
        assert_eq!(http.body.as_deref(), Some(r#"{"report":"daily"}"#));
    }

    #[test]
    fn defaults_fill_optional_fields() {
        let body = json!({
            "name": "minimal",
            "schedule": "@hourly",
            "triggerConfig": {"url": "https://example.invalid/hook"}
        });
        let (spec, status) = JobInput::from_json(&body).unwrap().into_new_spec().unwrap();
        assert_eq!(status, JobStatus::Active);
        assert_eq!(spec.time_zone, "UTC");
        assert_eq!(spec.retry, RetryStrategy::none());
        let Trigger::Http(http) = spec.trigger;
        assert_eq!(http.timeout_ms, DEFAULT_TIMEOUT_MS);
    }

    #[test]
    fn unknown_time_zone_names_field() {
        let error = create_error(with(valid_body(), "/timeZone", json!("Mars/Olympus")));
        assert_eq!(error.field, "timeZone");
        assert_eq!(error.value, "Mars/Olympus");
    }

    #[test]
    fn invalid_cron_names_field() {
        let error = create_error(with(valid_body(), "/schedule", json!("61 * * * *")));
        assert_eq!(error.field, "schedule");
        assert_eq!(error.value, "61 * * * *");
    }

    #[test]
    fn never_firing_schedule_is_rejected() {
        let error = create_error(with(valid_body(), "/schedule", json!("0 0 30 2 *")));
        assert_eq!(error.field, "schedule");
    }

    #[test]
    fn missing_url_is_rejected() {
        let mut body = valid_body();
        body["triggerConfig"].as_object_mut().unwrap().remove("url");
        let error = create_error(body);
        assert_eq!(error.field, "triggerConfig.url");
        assert!(error.message.contains("missing"), "{}", error.message);
    }

    #[test]
    fn negative_timeout_names_value() {
        let error = create_error(with(valid_body(), "/triggerConfig/timeout", json!(-5)));
        assert_eq!(error.field, "triggerConfig.timeout");
        assert_eq!(error.value, "-5");
        assert!(error.message.contains("-5"), "{}", error.message);
    }

    #[test]
    fn wrong_type_names_field() {
        let error = create_error(with(
            valid_body(),
            "/retryStrategy/attempts",
            json!("three"),
        ));
        assert_eq!(error.field, "retryStrategy.attempts");
    }

    #[test]
    fn non_http_url_is_rejected() {
        let body = with(valid_body(), "/triggerConfig/url", json!("ftp://host/file"));
        assert_eq!(create_error(body).field, "triggerConfig.url");
    }

    #[test]
    fn bad_header_name_is_rejected() {
        let body = with(
            valid_body(),
            "/triggerConfig/headers",
            json!({"bad header": "x"}),
        );
        assert_eq!(create_error(body).field, "triggerConfig.headers");
    }

    #[test]
    fn kafka_trigger_is_rejected_clearly() {
        let error = create_error(with(valid_body(), "/triggerType", json!("KAFKA")));
        assert_eq!(error.field, "triggerType");
        assert!(error.message.contains("not supported"), "{}", error.message);
    }

    #[test]
    fn missing_name_is_rejected() {
        let error = create_error(with(valid_body(), "/name", json!("  ")));
        assert_eq!(error.field, "name");
    }

    #[test]
    fn unknown_status_is_rejected() {
        let error = create_error(with(valid_body(), "/status", json!("RUNNING")));
        assert_eq!(error.field, "status");
    }

    #[test]
    fn update_keeps_absent_fields() {
        let (current, _) = JobInput::from_json(&valid_body())
            .unwrap()
            .into_new_spec()
            .unwrap();
        let patch = JobInput::from_json(&json!({"schedule": "*/5 * * * *"})).unwrap();
        let updated = patch.into_updated_spec(&current).unwrap();
        assert_eq!(updated.schedule, "*/5 * * * *");
        assert_eq!(updated.name, current.name);
        assert_eq!(updated.trigger, current.trigger);
    }

    #[test]
    fn non_object_body_is_rejected() {
        let error = JobInput::from_json(&json!([1, 2])).unwrap_err();
        assert_eq!(error.field, "body");
    }
}
