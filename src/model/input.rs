//! Client input for jobs, as sent over REST (camelCase JSON) or gRPC, and its validation.
//!
//! Input is read field by field from a JSON value, so every error names the field and the value
//! that broke it. An unknown key is rejected, but the read-only fields of the job JSON (`id`,
//! `createdAt`, `lastExecutionTime` and the like) are accepted and ignored, so a body read with
//! GET can be sent back with PUT unchanged.

mod keys;
mod policies;
mod retry;
mod trigger;

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{HttpTrigger, JobPolicies, JobSpec, JobStatus, RetryStrategy, Trigger};
use crate::schedule::Schedule;

pub use policies::{PoliciesInput, RetentionInput};
pub use retry::RetryInput;
pub use trigger::TriggerInput;

/// Time allowed for an HTTP request when `triggerConfig.timeout` is absent, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// Largest accepted `triggerConfig.timeout`: one hour, in milliseconds.
pub const MAX_TIMEOUT_MS: u64 = 3_600_000;
/// Largest accepted `retryStrategy.attempts`.
pub const MAX_ATTEMPTS: u32 = 100;
/// Largest accepted `retryStrategy.interval`: one day, in milliseconds.
pub const MAX_INTERVAL_MS: u64 = 86_400_000;
/// Largest accepted `schedule`, in characters.
pub const MAX_SCHEDULE_CHARS: usize = 1024;
const MAX_NAME_CHARS: usize = 200;
const MAX_DESCRIPTION_CHARS: usize = 2000;
const MAX_TAGS: usize = 32;
const MAX_TAG_CHARS: usize = 64;
/// Control characters a description may contain: line feed and tab.
const DESCRIPTION_CONTROLS: &[char] = &['\n', '\t'];

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
    /// Builds an error for `field` holding `value`; `expected` describes what is accepted.
    pub fn new(field: &str, value: impl std::fmt::Display, expected: &str) -> Self {
        let value = shorten(&value.to_string());
        ValidationError {
            message: format!("invalid {field} {}: {expected}", quote_if_unclear(&value)),
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

/// Quotes a value that would be invisible or misleading in a message: an empty one, one with
/// leading or trailing whitespace, or one with control characters (escaped by the quoting).
fn quote_if_unclear(value: &str) -> Cow<'_, str> {
    let unclear = value.is_empty()
        || value.starts_with(char::is_whitespace)
        || value.ends_with(char::is_whitespace)
        || value.chars().any(char::is_control);
    if unclear {
        Cow::Owned(format!("{value:?}"))
    } else {
        Cow::Borrowed(value)
    }
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
    ///
    /// # Errors
    /// A [`ValidationError`] naming the first unknown key (read-only keys of the job JSON are
    /// ignored) or the first field of the wrong type.
    pub fn from_json(body: &Value) -> Result<JobInput, ValidationError> {
        let object = body
            .as_object()
            .ok_or_else(|| ValidationError::new("body", kind_of(body), "expected a JSON object"))?;
        keys::reject_unknown_keys(object, "", keys::JOB_KEYS, keys::READ_ONLY_JOB_KEYS)?;
        Ok(JobInput {
            name: string_field(object, "name", "name")?,
            description: string_field(object, "description", "description")?,
            schedule: string_field(object, "schedule", "schedule")?,
            time_zone: string_field(object, "timeZone", "timeZone")?,
            trigger_type: string_field(object, "triggerType", "triggerType")?,
            trigger: trigger::trigger_from_json(object.get("triggerConfig"))?,
            retry: retry::retry_from_json(object.get("retryStrategy"))?,
            status: string_field(object, "status", "status")?,
            tags: tags_from_json(object.get("tags"))?,
            policies: PoliciesInput::from_json(object)?,
        })
    }

    /// Reads an update body of job `job_id` as [`JobInput::from_json`] does. It also rejects
    /// an `id` other than `job_id`, since a body read with GET carries its job's id and another
    /// one most likely means one job's settings sent to another. And it rejects a `null` that
    /// would change nothing: only `startingDeadline`, `triggerConfig.body`,
    /// `retryStrategy.maxInterval` and `retryStrategy.retryOn` reset to their defaults on null.
    ///
    /// # Errors
    /// A [`ValidationError`] naming the field, as for [`JobInput::from_json`].
    pub fn from_update_json(body: &Value, job_id: &str) -> Result<JobInput, ValidationError> {
        let input = JobInput::from_json(body)?;
        check_body_id(body, job_id)?;
        keys::reject_ignored_nulls(body)?;
        Ok(input)
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
            spec.time_zone = parse_time_zone(&time_zone)?;
        }
        if let Some(tags) = self.tags {
            spec.tags = without_repeats(tags);
        }
        trigger::check_trigger_type(self.trigger_type.as_deref())?;
        let Trigger::Http(http) = &mut spec.trigger;
        if let Some(trigger) = self.trigger {
            trigger::merge_http(http, trigger)?;
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

fn check_body_id(body: &Value, job_id: &str) -> Result<(), ValidationError> {
    match body.get("id") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(id)) if id == job_id => Ok(()),
        Some(other) => {
            let expected = format!("expected the id of the job updated, {job_id:?}, or no id");
            Err(ValidationError::new("id", other, &expected))
        }
    }
}

/// Drops repeated tags, keeping the first of each in order, as retryOn drops repeated codes.
fn without_repeats(tags: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    tags.into_iter()
        .filter(|tag| seen.insert(tag.clone()))
        .collect()
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
    check_control_chars("name", &spec.name, &[])?;
    check_text(
        "description",
        &spec.description,
        MAX_DESCRIPTION_CHARS,
        false,
    )?;
    check_control_chars("description", &spec.description, DESCRIPTION_CONTROLS)?;
    check_tags(&spec.tags)?;
    check_schedule(&spec.schedule, &spec.time_zone)?;
    retry::check_retry(&spec.retry)?;
    let Trigger::Http(http) = &spec.trigger;
    trigger::check_http(http)
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

/// Rejects control characters other than `allowed`, because clients print these fields on
/// terminals, where an escape sequence could clear the screen or fake output.
fn check_control_chars(field: &str, text: &str, allowed: &[char]) -> Result<(), ValidationError> {
    let found = text
        .chars()
        .find(|c| c.is_control() && !allowed.contains(c));
    let Some(control) = found else {
        return Ok(());
    };
    let expected = match allowed {
        [] => format!(
            "control characters such as U+{:04X} are not allowed",
            u32::from(control)
        ),
        _ => format!(
            "control characters other than line feed and tab, such as U+{:04X}, are not allowed",
            u32::from(control)
        ),
    };
    Err(ValidationError::new(field, text, &expected))
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
            let expected = format!(
                "tags are 1 to {MAX_TAG_CHARS} characters with no comma and no control characters"
            );
            return Err(ValidationError::new("tags", tag, &expected));
        }
    }
    Ok(())
}

/// Reads a time zone: surrounding whitespace is dropped, and an empty name is rejected because
/// an absent field, not an empty one, means UTC.
fn parse_time_zone(time_zone: &str) -> Result<String, ValidationError> {
    let trimmed = time_zone.trim();
    if trimmed.is_empty() {
        let expected = "expected an IANA name such as UTC or Europe/Berlin; omit the field for UTC";
        return Err(ValidationError::new("timeZone", time_zone, expected));
    }
    Ok(trimmed.to_string())
}

fn check_schedule(schedule: &str, time_zone: &str) -> Result<(), ValidationError> {
    if schedule.is_empty() {
        return Err(ValidationError::missing("schedule"));
    }
    let length = schedule.chars().count();
    if length > MAX_SCHEDULE_CHARS {
        return Err(ValidationError {
            field: "schedule".to_string(),
            value: shorten(schedule),
            message: format!(
                "invalid schedule of {length} characters: at most {MAX_SCHEDULE_CHARS} \
                 characters are allowed"
            ),
        });
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

    fn read_error(body: Value) -> ValidationError {
        JobInput::from_json(&body).expect_err("body should be rejected")
    }

    fn without(mut body: Value, key: &str) -> Value {
        body.as_object_mut().unwrap().remove(key);
        body
    }

    #[test]
    fn misspelt_key_suggests_known_key() {
        let mut body = without(valid_body(), "timeZone");
        body["timezone"] = json!("Europe/Berlin");
        let error = read_error(body);
        assert_eq!(error.field, "timezone");
        assert_eq!(error.value, "timezone");
        assert_eq!(
            error.message,
            "unknown field timezone: did you mean timeZone?"
        );
    }

    #[test]
    fn unknown_key_lists_known_keys() {
        let mut body = valid_body();
        body["colour"] = json!("red");
        let error = read_error(body);
        assert_eq!(error.field, "colour");
        assert!(
            error
                .message
                .starts_with("unknown field colour: expected one of name, "),
            "{}",
            error.message
        );
        assert!(
            !error.message.contains("createdAt"),
            "read-only keys are not suggested: {}",
            error.message
        );
    }

    #[test]
    fn unknown_nested_keys_name_path() {
        let cases = [
            (
                "/triggerConfig",
                "Url",
                "triggerConfig.Url",
                "did you mean triggerConfig.url?",
            ),
            (
                "/retryStrategy",
                "retries",
                "retryStrategy.retries",
                "expected one of attempts",
            ),
            (
                "/retention",
                "maxcount",
                "retention.maxcount",
                "did you mean retention.maxCount?",
            ),
        ];
        for (pointer, key, field, hint) in cases {
            let mut body = valid_body();
            body["retention"] = json!({"maxCount": 5});
            body.pointer_mut(pointer).unwrap()[key] = json!(1);
            let error = read_error(body);
            assert_eq!(error.field, field);
            assert!(error.message.contains(hint), "{}", error.message);
        }
    }

    #[test]
    fn read_only_keys_are_ignored() {
        let mut body = valid_body();
        for key in keys::READ_ONLY_JOB_KEYS {
            body[*key] = json!("echoed");
        }
        let input = JobInput::from_json(&body).unwrap();
        assert_eq!(input.name.as_deref(), Some("nightly report"));
    }

    #[test]
    fn empty_time_zone_is_rejected() {
        let error = create_error(with(valid_body(), "/timeZone", json!("")));
        assert_eq!(error.field, "timeZone");
        assert_eq!(error.value, "");
        assert!(
            error
                .message
                .starts_with("invalid timeZone \"\": expected an IANA name"),
            "{}",
            error.message
        );
    }

    #[test]
    fn blank_time_zone_is_rejected_on_update() {
        let (current, _) = JobInput::from_json(&valid_body())
            .unwrap()
            .into_new_spec()
            .unwrap();
        let patch = JobInput::from_json(&json!({"timeZone": "  "})).unwrap();
        let error = patch.into_updated_spec(&current).unwrap_err();
        assert_eq!(error.field, "timeZone");
    }

    #[test]
    fn control_characters_in_name_are_rejected() {
        for name in ["\u{1b}[2Jhacked", "two\nlines", "tab\there"] {
            let error = create_error(with(valid_body(), "/name", json!(name)));
            assert_eq!(error.field, "name", "{name:?}");
            assert!(
                error.message.contains("control characters"),
                "{}",
                error.message
            );
            assert!(
                !error.message.chars().any(char::is_control),
                "the message must escape the value: {:?}",
                error.message
            );
        }
    }

    #[test]
    fn repeated_tags_are_stored_once() {
        let body = with(valid_body(), "/tags", json!(["b", "a", "b", "a"]));
        let (spec, _) = JobInput::from_json(&body).unwrap().into_new_spec().unwrap();
        assert_eq!(spec.tags, vec!["b".to_string(), "a".to_string()]);
    }

    #[test]
    fn control_characters_in_tags_are_rejected() {
        let error = create_error(with(valid_body(), "/tags", json!(["ok", "bad\u{1b}"])));
        assert_eq!(error.field, "tags");
        assert_eq!(error.value, "bad\u{1b}");
        assert!(
            error.message.contains("control characters"),
            "{}",
            error.message
        );
    }

    #[test]
    fn description_allows_newline_and_tab_only() {
        let body = with(valid_body(), "/description", json!("line 1\n\tline 2"));
        let (spec, _) = JobInput::from_json(&body).unwrap().into_new_spec().unwrap();
        assert_eq!(spec.description, "line 1\n\tline 2");

        let error = create_error(with(valid_body(), "/description", json!("a\u{1b}b")));
        assert_eq!(error.field, "description");
        assert!(error.message.contains("U+001B"), "{}", error.message);
    }

    #[test]
    fn long_schedule_is_rejected() {
        // Spaces between fields count, but surrounding ones are trimmed.
        let schedule = format!("0{}0 * * *", " ".repeat(MAX_SCHEDULE_CHARS));
        let error = create_error(with(valid_body(), "/schedule", json!(schedule)));
        assert_eq!(error.field, "schedule");
        assert_eq!(
            error.message,
            format!(
                "invalid schedule of {} characters: at most 1024 characters are allowed",
                MAX_SCHEDULE_CHARS + 8
            )
        );
    }

    #[test]
    fn schedule_at_limit_is_accepted() {
        let schedule = format!("0{}0 * * *", " ".repeat(MAX_SCHEDULE_CHARS - 8));
        let body = with(valid_body(), "/schedule", json!(schedule));
        assert!(JobInput::from_json(&body).unwrap().into_new_spec().is_ok());
    }

    #[test]
    fn unsupported_trigger_type_names_rest_only() {
        let error = create_error(with(valid_body(), "/triggerType", json!("SOAP")));
        assert_eq!(
            error.message,
            "invalid triggerType SOAP: expected REST (Kafka triggers are not supported yet)"
        );
    }

    #[test]
    fn empty_tag_is_quoted_in_message() {
        let error = create_error(with(valid_body(), "/tags", json!([""])));
        assert_eq!(error.field, "tags");
        assert!(
            error.message.starts_with("invalid tags \"\": "),
            "{}",
            error.message
        );
    }

    #[test]
    fn unclear_values_are_quoted() {
        let cases = [
            ("", "invalid f \"\": x"),
            (" padded", "invalid f \" padded\": x"),
            ("esc\u{1b}", "invalid f \"esc\\u{1b}\": x"),
            ("plain", "invalid f plain: x"),
            ("a b", "invalid f a b: x"),
        ];
        for (value, message) in cases {
            assert_eq!(ValidationError::new("f", value, "x").message, message);
        }
    }
}
