//! Request extractors whose failures are [`ApiError`]s, so that a malformed body, a wrong
//! content type or a bad path segment gets the same JSON error shape as every other error
//! (axum's own rejections are plain text).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::api::error::ApiError;

/// Largest accepted REST request body, in bytes (1 MiB).
pub const MAX_REQUEST_BODY_BYTES: usize = 1024 * 1024;

/// A required JSON request body, sent with a JSON content type.
pub struct JsonBody(pub Value);

/// An optional JSON request body: an empty body is `None`.
pub struct OptionalJsonBody(pub Option<Value>);

/// Path parameters.
pub struct ApiPath<T>(pub T);

/// Query parameters, in the order sent. Parsing never fails: invalid percent-encoding is
/// decoded lossily, and values are checked by the accessor that reads them.
pub struct QueryParams(Vec<(String, String)>);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match OptionalJsonBody::from_request(request, state).await? {
            OptionalJsonBody(Some(value)) => Ok(JsonBody(value)),
            OptionalJsonBody(None) => Err(ApiError::InvalidArgument {
                field: "body".to_string(),
                value: String::new(),
                message: "missing request body: expected a JSON object".to_string(),
            }),
        }
    }
}

impl<S: Send + Sync> FromRequest<S> for OptionalJsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let headers = request.headers().clone();
        let bytes =
            Bytes::from_request(request, state)
                .await
                .map_err(|rejection| match rejection.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge {
                        limit_bytes: MAX_REQUEST_BODY_BYTES,
                    },
                    _ => ApiError::invalid("body", "", &rejection.body_text()),
                })?;
        if bytes.is_empty() {
            return Ok(OptionalJsonBody(None));
        }
        check_json_content_type(&headers)?;
        parse_json(&bytes).map(|value| OptionalJsonBody(Some(value)))
    }
}

/// Accepts `application/json` and `application/<subtype>+json`, with any parameters.
fn check_json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        let expected = "expected Content-Type application/json";
        return Err(ApiError::invalid("Content-Type", "(none)", expected));
    };
    let text = String::from_utf8_lossy(value.as_bytes());
    let essence = text.split(';').next().unwrap_or_default().trim();
    let essence = essence.to_ascii_lowercase();
    let is_json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if !is_json {
        let expected = "expected Content-Type application/json";
        return Err(ApiError::invalid("Content-Type", text, expected));
    }
    Ok(())
}

fn parse_json(bytes: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes).map_err(|error| {
        let body = String::from_utf8_lossy(bytes);
        let value: String = body.chars().take(200).collect();
        ApiError::InvalidArgument {
            field: "body".to_string(),
            value,
            message: format!("invalid JSON in request body: {error}"),
        }
    })
}

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => {
                let path = parts.uri.path();
                Err(ApiError::invalid("path", path, &rejection.body_text()))
            }
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Ok(QueryParams::parse(parts.uri.query().unwrap_or_default()))
    }
}

impl QueryParams {
    /// Parses an `application/x-www-form-urlencoded` query string.
    pub fn parse(query: &str) -> Self {
        let pairs = url::form_urlencoded::parse(query.as_bytes());
        QueryParams(pairs.into_owned().collect())
    }

    /// Returns the non-empty value of `name`, a parameter that takes one value.
    ///
    /// # Errors
    /// [`ApiError::InvalidArgument`] naming the parameter when it has two or more non-empty
    /// values, because picking one of them would hide the request's mistake.
    pub fn text(&self, name: &str) -> Result<Option<String>, ApiError> {
        let values: Vec<&String> = self
            .0
            .iter()
            .filter(|(key, value)| key == name && !value.trim().is_empty())
            .map(|(_, value)| value)
            .collect();
        match values.as_slice() {
            [] => Ok(None),
            [value] => Ok(Some((*value).clone())),
            _ => {
                let joined: Vec<&str> = values.iter().map(|value| value.as_str()).collect();
                let message = format!("expected one value, got {}", values.len());
                Err(ApiError::invalid(name, joined.join(", "), &message))
            }
        }
    }

    /// Returns every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .collect()
    }

    /// Parses the non-empty value of `name` as `true` or `false`, case-insensitively.
    ///
    /// # Errors
    /// [`ApiError::InvalidArgument`] naming the parameter for any other value.
    pub fn flag(&self, name: &str) -> Result<Option<bool>, ApiError> {
        let Some(text) = self.text(name)? else {
            return Ok(None);
        };
        match text.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            _ => Err(ApiError::invalid(name, &text, "expected true or false")),
        }
    }

    /// Parses the non-empty value of `name` as a whole number.
    ///
    /// # Errors
    /// [`ApiError::InvalidArgument`] naming the parameter when the value is not a number.
    pub fn number(&self, name: &str) -> Result<Option<i64>, ApiError> {
        let Some(text) = self.text(name)? else {
            return Ok(None);
        };
        let digits = text.trim().trim_start_matches('-');
        let expected = if !digits.is_empty() && digits.bytes().all(|byte| byte.is_ascii_digit()) {
            "expected a whole number from -9223372036854775808 to 9223372036854775807"
        } else {
            "expected a whole number"
        };
        text.trim()
            .parse()
            .map(Some)
            .map_err(|_| ApiError::invalid(name, &text, expected))
    }
}
