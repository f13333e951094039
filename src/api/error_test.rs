use axum::body::to_bytes;
use serde_json::{Value, json};

use super::*;

fn invalid() -> ApiError {
    ApiError::InvalidArgument {
        field: "triggerConfig.timeout".to_string(),
        value: "-5".to_string(),
        message: "invalid triggerConfig.timeout -5: expected milliseconds".to_string(),
    }
}

/// Returns one error of each variant, with its gRPC code, HTTP status and code name.
fn table() -> Vec<(ApiError, Code, StatusCode, &'static str)> {
    let field = |name: &str| name.to_string();
    vec![
        (
            invalid(),
            Code::InvalidArgument,
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
        ),
        (
            ApiError::NotFound {
                field: field("id"),
                value: field("nope"),
            },
            Code::NotFound,
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        ),
        (
            ApiError::FailedPrecondition {
                field: field("executionId"),
                value: field("e-1"),
                message: field("execution \"e-1\" is RUNNING"),
            },
            Code::FailedPrecondition,
            StatusCode::CONFLICT,
            "FAILED_PRECONDITION",
        ),
        (
            ApiError::AlreadyExists {
                field: field("id"),
                value: field("j-1"),
            },
            Code::AlreadyExists,
            StatusCode::CONFLICT,
            "ALREADY_EXISTS",
        ),
        (
            ApiError::MethodNotAllowed {
                method: field("PUT"),
                path: field("/api/cluster"),
            },
            Code::Unimplemented,
            StatusCode::METHOD_NOT_ALLOWED,
            "UNIMPLEMENTED",
        ),
        (
            ApiError::PayloadTooLarge { limit_bytes: 10 },
            Code::ResourceExhausted,
            StatusCode::PAYLOAD_TOO_LARGE,
            "RESOURCE_EXHAUSTED",
        ),
        (
            ApiError::Unavailable(field("no quorum: retry later")),
            Code::Unavailable,
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
        ),
        (
            ApiError::Internal(field("disk on fire")),
            Code::Internal,
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
        ),
    ]
}

async fn body_json(response: Response) -> Value {
    let bytes = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn each_variant_maps_to_grpc_code() {
    for (error, code, _, _) in table() {
        let status = error.to_status();
        assert_eq!(status.code(), code, "{error:?}");
        assert_eq!(status.message(), error.to_string(), "{error:?}");
    }
}

#[tokio::test]
async fn each_variant_maps_to_rest_status_and_body() {
    for (error, _, http_status, code_name) in table() {
        let response = error.clone().into_response();
        assert_eq!(response.status(), http_status, "{error:?}");
        let body = body_json(response).await;
        assert_eq!(body["error"]["code"], code_name, "{error:?}");
        assert_eq!(body["error"]["message"], error.to_string(), "{error:?}");
    }
}

#[tokio::test]
async fn rest_body_names_field_and_value() {
    let body = body_json(invalid().into_response()).await;
    let expected = json!({
        "error": {
            "code": "INVALID_ARGUMENT",
            "message": "invalid triggerConfig.timeout -5: expected milliseconds",
            "field": "triggerConfig.timeout",
            "value": "-5",
        }
    });
    assert_eq!(body, expected);
}

#[tokio::test]
async fn rest_body_omits_field_when_absent() {
    let body = body_json(ApiError::Internal("bug".to_string()).into_response()).await;
    assert!(body["error"].get("field").is_none(), "{body}");
    assert_eq!(body["error"]["message"], "internal error: bug");
}

#[test]
fn unavailable_sets_retry_after() {
    let response = ApiError::Unavailable("no quorum".to_string()).into_response();
    assert_eq!(response.headers()[header::RETRY_AFTER], "1");
}

#[test]
fn grpc_status_carries_field_metadata() {
    let status = invalid().to_status();
    let field = status.metadata().get(FIELD_METADATA_KEY).unwrap();
    assert_eq!(field.to_str().unwrap(), "triggerConfig.timeout");
}

#[test]
fn not_found_message_names_object_and_value() {
    let job = ApiError::NotFound {
        field: "id".to_string(),
        value: "j-9".to_string(),
    };
    let execution = ApiError::NotFound {
        field: "executionId".to_string(),
        value: "e-9".to_string(),
    };
    assert_eq!(job.to_string(), "job \"j-9\" not found");
    assert_eq!(execution.to_string(), "execution \"e-9\" not found");
}

#[test]
fn validation_error_becomes_invalid_argument() {
    let error = ApiError::from(ValidationError::missing("triggerConfig.url"));
    assert_eq!(error.grpc_code(), Code::InvalidArgument);
    assert_eq!(error.field(), Some("triggerConfig.url"));
    assert_eq!(
        error.to_string(),
        "missing triggerConfig.url: the field is required"
    );
}

#[test]
fn rejections_map_to_matching_variants() {
    let not_found = Rejection::NotFound {
        field: "id".to_string(),
        value: "j-1".to_string(),
    };
    let precondition = Rejection::FailedPrecondition {
        field: "status".to_string(),
        value: "PAUSED".to_string(),
        message: "job is paused".to_string(),
    };
    let exists = Rejection::AlreadyExists {
        field: "id".to_string(),
        value: "j-1".to_string(),
    };
    assert_eq!(ApiError::from(not_found).grpc_code(), Code::NotFound);
    let precondition = ApiError::from(precondition);
    assert_eq!(precondition.grpc_code(), Code::FailedPrecondition);
    assert_eq!(precondition.to_string(), "job is paused");
    assert_eq!(ApiError::from(exists).grpc_code(), Code::AlreadyExists);
}

#[test]
fn cluster_errors_are_unavailable_except_fatal() {
    let retryable = [
        ClusterError::NoLeader { waited_ms: 2000 },
        ClusterError::Timeout { waited_ms: 5000 },
        ClusterError::Unavailable("leader unreachable".to_string()),
    ];
    for error in retryable {
        let api_error = ApiError::from(error);
        assert_eq!(api_error.grpc_code(), Code::Unavailable);
        let message = api_error.to_string();
        assert!(message.starts_with("no quorum: "), "{message}");
        assert!(message.ends_with("retry later"), "{message}");
    }
    let fatal = ApiError::from(ClusterError::Fatal("raft stopped".to_string()));
    assert_eq!(fatal.grpc_code(), Code::Internal);
}

#[test]
fn no_quorum_message_states_advice_once() {
    let reason = "leader 2 has not heard from a quorum for 4973 ms: no quorum; retry later";
    let error = ApiError::from(ClusterError::Unavailable(reason.to_string()));
    assert_eq!(
        error.to_string(),
        "no quorum: leader 2 has not heard from a quorum for 4973 ms; retry later"
    );
}

#[test]
fn wrapped_cluster_message_states_advice_once() {
    let reason = "cluster unavailable: no quorum: leader unreachable; retry later; retry later";
    let error = ApiError::from(ClusterError::Unavailable(reason.to_string()));
    assert_eq!(
        error.to_string(),
        "no quorum: leader unreachable; retry later"
    );
}

#[test]
fn schedule_error_names_time_zone_value() {
    let error = crate::schedule::Schedule::parse("0 * * * *", "Mars/Olympus").unwrap_err();
    let api_error = schedule_error(error, "0 * * * *", "Mars/Olympus");
    assert_eq!(api_error.field(), Some("timeZone"));
    assert_eq!(api_error.value(), Some("Mars/Olympus"));
}

#[test]
fn schedule_error_names_schedule_value() {
    let error = crate::schedule::Schedule::parse("61 * * * *", "UTC").unwrap_err();
    let api_error = schedule_error(error, "61 * * * *", "UTC");
    assert_eq!(api_error.field(), Some("schedule"));
    assert_eq!(api_error.value(), Some("61 * * * *"));
}
