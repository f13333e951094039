//! Errors of the public API and their one mapping to gRPC statuses and REST responses.
//!
//! Every error the API returns is an [`ApiError`]. Lower-layer errors (validation, state machine
//! rejections, cluster and store failures) convert into it here. [`ApiError::to_status`] and the
//! [`IntoResponse`] impl are the only places that choose a gRPC code or an HTTP status.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tonic::Code;

use crate::model::{Rejection, ValidationError};
use crate::raft::ClusterError;
use crate::schedule::ScheduleError;
use crate::store::StoreError;

/// gRPC response metadata key naming the request field an error is about.
pub const FIELD_METADATA_KEY: &str = "raftcron-field";

/// Value of the `Retry-After` header of UNAVAILABLE responses, in seconds.
const RETRY_AFTER_SECONDS: &str = "1";

/// An error returned by an API call.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// The request is invalid whatever the state: a field has a bad value.
    #[error("{message}")]
    InvalidArgument {
        field: String,
        value: String,
        message: String,
    },

    /// The object named by `field` does not exist.
    #[error("{} {value:?} not found", describe_field(field))]
    NotFound { field: String, value: String },

    /// The object exists but its state does not allow the call.
    #[error("{message}")]
    FailedPrecondition {
        field: String,
        value: String,
        message: String,
    },

    /// The object the call would create exists already.
    #[error("{} {value:?} already exists", describe_field(field))]
    AlreadyExists { field: String, value: String },

    /// No REST route has this path and method.
    #[error("method {method} is not allowed on {path}")]
    MethodNotAllowed { method: String, path: String },

    /// The request body is larger than the server accepts.
    #[error("request body too large: at most {limit_bytes} bytes are accepted")]
    PayloadTooLarge { limit_bytes: usize },

    /// The cluster cannot serve the call now (no quorum, no leader, a timeout, or this node is
    /// not ready). The client should retry later.
    #[error("{0}")]
    Unavailable(String),

    /// A bug or a storage failure on the server.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Returns the noun that messages use for the object a field names.
fn describe_field(field: &str) -> &str {
    match field {
        "id" | "jobId" => "job",
        "executionId" => "execution",
        other => other,
    }
}

impl ApiError {
    /// Builds an [`ApiError::InvalidArgument`] in the message format of [`ValidationError`].
    pub fn invalid(field: &str, value: impl std::fmt::Display, expected: &str) -> Self {
        ValidationError::new(field, value, expected).into()
    }

    /// Returns the upper-case code name shared by gRPC and the REST error body.
    pub fn code_name(&self) -> &'static str {
        match self {
            ApiError::InvalidArgument { .. } => "INVALID_ARGUMENT",
            ApiError::NotFound { .. } => "NOT_FOUND",
            ApiError::FailedPrecondition { .. } => "FAILED_PRECONDITION",
            ApiError::AlreadyExists { .. } => "ALREADY_EXISTS",
            ApiError::MethodNotAllowed { .. } => "UNIMPLEMENTED",
            ApiError::PayloadTooLarge { .. } => "RESOURCE_EXHAUSTED",
            ApiError::Unavailable(_) => "UNAVAILABLE",
            ApiError::Internal(_) => "INTERNAL",
        }
    }

    /// Returns the request field the error is about, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            ApiError::InvalidArgument { field, .. }
            | ApiError::NotFound { field, .. }
            | ApiError::FailedPrecondition { field, .. }
            | ApiError::AlreadyExists { field, .. } => Some(field),
            _ => None,
        }
    }

    /// Returns the rejected value of [`ApiError::field`], if any.
    pub fn value(&self) -> Option<&str> {
        match self {
            ApiError::InvalidArgument { value, .. }
            | ApiError::NotFound { value, .. }
            | ApiError::FailedPrecondition { value, .. }
            | ApiError::AlreadyExists { value, .. } => Some(value),
            _ => None,
        }
    }

    /// Returns the gRPC status code.
    pub fn grpc_code(&self) -> Code {
        match self {
            ApiError::InvalidArgument { .. } => Code::InvalidArgument,
            ApiError::NotFound { .. } => Code::NotFound,
            ApiError::FailedPrecondition { .. } => Code::FailedPrecondition,
            ApiError::AlreadyExists { .. } => Code::AlreadyExists,
            ApiError::MethodNotAllowed { .. } => Code::Unimplemented,
            ApiError::PayloadTooLarge { .. } => Code::ResourceExhausted,
            ApiError::Unavailable(_) => Code::Unavailable,
            ApiError::Internal(_) => Code::Internal,
        }
    }

    /// Returns the HTTP status of the REST response.
    pub fn http_status(&self) -> StatusCode {
        match self {
            ApiError::InvalidArgument { .. } => StatusCode::BAD_REQUEST,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::FailedPrecondition { .. } | ApiError::AlreadyExists { .. } => {
                StatusCode::CONFLICT
            }
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Converts to a gRPC status, with the field in the [`FIELD_METADATA_KEY`] metadata.
    pub fn to_status(&self) -> tonic::Status {
        self.log();
        let mut status = tonic::Status::new(self.grpc_code(), self.to_string());
        let field_value = self.field().and_then(|field| field.parse().ok());
        if let Some(value) = field_value {
            status.metadata_mut().insert(FIELD_METADATA_KEY, value);
        }
        status
    }

    /// Logs server-side failures; client errors are logged at debug level only.
    fn log(&self) {
        match self {
            ApiError::Internal(_) => tracing::error!(error = %self, "request failed"),
            ApiError::Unavailable(_) => tracing::warn!(error = %self, "request failed"),
            _ => tracing::debug!(error = %self, code = self.code_name(), "request rejected"),
        }
    }
}

impl From<ApiError> for tonic::Status {
    fn from(error: ApiError) -> Self {
        error.to_status()
    }
}

/// The REST error body: `{"error": {"code", "message", "field", "value"}}`.
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<&'a str>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.log();
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code_name(),
                message: self.to_string(),
                field: self.field(),
                value: self.value(),
            },
        };
        let mut response = (self.http_status(), Json(body)).into_response();
        if matches!(self, ApiError::Unavailable(_)) {
            let retry_after = HeaderValue::from_static(RETRY_AFTER_SECONDS);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after);
        }
        response
    }
}

impl From<ValidationError> for ApiError {
    fn from(error: ValidationError) -> Self {
        ApiError::InvalidArgument {
            field: error.field,
            value: error.value,
            message: error.message,
        }
    }
}

impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> Self {
        match rejection {
            Rejection::NotFound { field, value } => ApiError::NotFound { field, value },
            Rejection::FailedPrecondition {
                field,
                value,
                message,
            } => ApiError::FailedPrecondition {
                field,
                value,
                message,
            },
            Rejection::AlreadyExists { field, value } => ApiError::AlreadyExists { field, value },
        }
    }
}

impl From<ClusterError> for ApiError {
    fn from(error: ClusterError) -> Self {
        match error {
            ClusterError::NoLeader { waited_ms } => ApiError::Unavailable(format!(
                "no quorum: no leader was known after waiting {waited_ms} ms; retry later"
            )),
            ClusterError::Timeout { waited_ms } => ApiError::Unavailable(format!(
                "no quorum: the cluster did not answer within {waited_ms} ms, so a write may or \
                 may not have been applied; read the object, then retry later"
            )),
            ClusterError::Unavailable(reason) => {
                let reason = strip_cluster_advice(&reason);
                ApiError::Unavailable(format!("no quorum: {reason}; retry later"))
            }
            ClusterError::Fatal(reason) => ApiError::Internal(reason),
        }
    }
}

/// Strips the "no quorum" and "retry later" parts that cluster messages may carry already
/// (also when a follower wraps a leader's message), so the API message states each once.
fn strip_cluster_advice(reason: &str) -> &str {
    const PREFIXES: [&str; 2] = ["no quorum:", "cluster unavailable:"];
    const SUFFIXES: [&str; 4] = [
        "; retry later",
        ", retry later",
        ": no quorum",
        "; no quorum",
    ];
    let mut text = reason.trim();
    loop {
        let before = text;
        for prefix in PREFIXES {
            text = text.strip_prefix(prefix).unwrap_or(text).trim_start();
        }
        for suffix in SUFFIXES {
            text = text.strip_suffix(suffix).unwrap_or(text).trim_end();
        }
        if text == before {
            return text;
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        ApiError::Internal(format!("reading the local state failed: {error}"))
    }
}

/// Converts a schedule error, naming the value of the field it is about.
pub fn schedule_error(error: ScheduleError, schedule: &str, time_zone: &str) -> ApiError {
    let field = error.field();
    let value = if field == "timeZone" {
        time_zone
    } else {
        schedule
    };
    ApiError::InvalidArgument {
        field: field.to_string(),
        value: value.to_string(),
        message: error.to_string(),
    }
}

#[cfg(test)]
#[path = "error_test.rs"]
mod tests;
