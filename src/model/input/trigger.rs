//! The `triggerType` and `triggerConfig` fields of client input: the HTTP request a job sends.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::keys::{TRIGGER_KEYS, reject_unknown_keys};
use super::{
    MAX_TIMEOUT_MS, ValidationError, integer_field, object_field, positive_millis, string_field,
};
use crate::model::HttpTrigger;

const MAX_BODY_BYTES: usize = 256 * 1024;
const MAX_HEADERS: usize = 64;
const HTTP_METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
const JSON_CONTENT_TYPE: &str = "application/json";

/// Trigger settings as a client sends them; absent fields keep their current or default value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TriggerInput {
    pub url: Option<String>,
    pub method: Option<String>,
    pub headers: Option<BTreeMap<String, String>>,
    /// `Some(None)` is an explicit JSON null or an empty string, which removes the body.
    pub body: Option<Option<String>>,
    /// True when `body` was sent as a JSON object, array, number or boolean rather than a
    /// string. Such a body gets `Content-Type: application/json` unless the headers name a
    /// content type. Protobuf input cannot carry this flag.
    pub body_is_json: bool,
    pub timeout_ms: Option<i64>,
}

impl TriggerInput {
    /// Adds `Content-Type: application/json` to the headers of a body sent as a JSON value,
    /// unless they name a content type. Absent headers count as empty.
    ///
    /// Clients that send this input as protobuf call it first, because the server cannot see
    /// how the body was written. On update, set `headers` to the job's current headers first,
    /// or they are replaced.
    pub fn add_json_content_type(&mut self) {
        if !self.body_is_json || !matches!(self.body, Some(Some(_))) {
            return;
        }
        add_content_type(self.headers.get_or_insert_with(BTreeMap::new));
    }
}

pub(super) fn trigger_from_json(
    value: Option<&Value>,
) -> Result<Option<TriggerInput>, ValidationError> {
    let Some(object) = object_field(value, "triggerConfig")? else {
        return Ok(None);
    };
    reject_unknown_keys(object, "triggerConfig", TRIGGER_KEYS, &[])?;
    let (body, body_is_json) = body_from_json(object);
    Ok(Some(TriggerInput {
        url: string_field(object, "url", "triggerConfig.url")?,
        method: string_field(object, "method", "triggerConfig.method")?,
        headers: headers_from_json(object.get("headers"))?,
        body,
        body_is_json,
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

/// Reads a body and whether it was a JSON value: a string is sent as is, null removes the
/// body, and any other JSON value is sent as its JSON text.
fn body_from_json(object: &Map<String, Value>) -> (Option<Option<String>>, bool) {
    match object.get("body") {
        None => (None, false),
        Some(Value::Null) => (Some(None), false),
        Some(Value::String(text)) => (Some(Some(text.clone())), false),
        Some(other) => (Some(Some(other.to_string())), true),
    }
}

pub(super) fn check_trigger_type(trigger_type: Option<&str>) -> Result<(), ValidationError> {
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
            "expected REST (Kafka triggers are not supported yet)",
        )),
    }
}

pub(super) fn merge_http(
    http: &mut HttpTrigger,
    input: TriggerInput,
) -> Result<(), ValidationError> {
    if let Some(url) = input.url {
        http.url = url.trim().to_string();
    }
    if let Some(method) = input.method {
        http.method = method.trim().to_ascii_uppercase();
    }
    if let Some(headers) = input.headers {
        http.headers = headers;
    }
    if let Some(body) = input.body {
        http.body = body.filter(|text| !text.is_empty());
    }
    if input.body_is_json && http.body.is_some() {
        add_content_type(&mut http.headers);
    }
    if let Some(timeout) = input.timeout_ms {
        http.timeout_ms = positive_millis("triggerConfig.timeout", timeout, MAX_TIMEOUT_MS)?;
    }
    Ok(())
}

/// Adds `Content-Type: application/json` unless a header of that name exists in any case.
fn add_content_type(headers: &mut BTreeMap<String, String>) {
    let has_content_type = headers
        .keys()
        .any(|name| name.eq_ignore_ascii_case("content-type"));
    if !has_content_type {
        headers.insert("Content-Type".to_string(), JSON_CONTENT_TYPE.to_string());
    }
}

pub(super) fn check_http(http: &HttpTrigger) -> Result<(), ValidationError> {
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
    // The URL parser would percent-encode a space or drop a tab or newline, so the stored
    // URL would differ from the one the request is sent to.
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        let expected = "whitespace and control characters are not allowed; percent-encode them \
                        (%20 for a space)";
        return Err(ValidationError::new(FIELD, url, expected));
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

/// Headers that frame the message or manage the connection. The HTTP client sets them from the
/// request it sends, and a stored copy could contradict it (a `Content-Length` that does not
/// match the body makes every run wait for bytes that never come).
const CONNECTION_HEADERS: [&str; 8] = [
    "connection",
    "content-length",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Headers raftcron sets on every request, replacing a job's own: the idempotency key and the
/// `X-Raftcron-` headers. A job that sets one would find its value dropped.
fn is_raftcron_header(lower_case_name: &str) -> bool {
    lower_case_name == "idempotency-key" || lower_case_name.starts_with("x-raftcron-")
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
        let lower_case_name = name.to_ascii_lowercase();
        if is_raftcron_header(&lower_case_name) {
            return Err(ValidationError::new(
                "triggerConfig.headers",
                name,
                "expected no header that raftcron sets on every request: it would be replaced",
            ));
        }
        if CONNECTION_HEADERS.contains(&lower_case_name.as_str()) {
            return Err(ValidationError::new(
                "triggerConfig.headers",
                name,
                "expected no connection or message-length header: the HTTP client sets it",
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
#[path = "trigger_tests.rs"]
mod tests;
