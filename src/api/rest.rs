//! The REST front end (axum): camelCase JSON over [`ApiService`].
//!
//! Every failure, including unknown routes, malformed JSON, a wrong content type and bad query
//! numbers, returns the JSON error body built by [`ApiError`]. Request bodies are limited to
//! [`MAX_REQUEST_BODY_BYTES`].

mod extract;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde_json::json;

use crate::model::{Execution, Job, JobInput};

use super::convert::{ClusterJson, ExecutionJson, JobJson, ListJson, PreviewJson};
use super::error::ApiError;
use super::pb;
use super::service::{
    ApiService, ExecutionQuery, JobQuery, ManualRun, PreviewQuery, check_idempotency_key,
};

pub use extract::MAX_REQUEST_BODY_BYTES;
use extract::{ApiPath, JsonBody, OptionalJsonBody, QueryParams};

type RestResult = Result<Response, ApiError>;

/// Builds the REST routes, with JSON errors for unknown paths and methods.
pub fn rest_router(api: ApiService) -> Router {
    Router::new()
        .route("/api/jobs", post(create_job).get(list_jobs))
        .route(
            "/api/jobs/{id}",
            get(get_job).put(update_job).delete(delete_job),
        )
        .route("/api/jobs/{id}/pause", patch(pause_job))
        .route("/api/jobs/{id}/resume", patch(resume_job))
        .route("/api/jobs/{id}/trigger", post(trigger_job))
        .route("/api/jobs/{id}/executions", get(list_executions))
        .route(
            "/api/jobs/{id}/executions/{execution_id}",
            get(get_execution),
        )
        .route(
            "/api/jobs/{id}/executions/{execution_id}/retry",
            post(retry_execution),
        )
        .route("/api/schedule/preview", get(preview_schedule))
        .route("/api/cluster", get(cluster_status))
        .route("/api/debug/state", get(debug_state))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(unknown_path)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BODY_BYTES))
        .with_state(api)
}

fn job_body(job: &Job) -> Json<JobJson> {
    Json(JobJson::from(pb::Job::from(job)))
}

fn execution_body(execution: &Execution) -> Json<ExecutionJson> {
    Json(ExecutionJson::from(pb::Execution::from(execution)))
}

async fn create_job(State(api): State<ApiService>, JsonBody(body): JsonBody) -> RestResult {
    let input = JobInput::from_json(&body)?;
    let job = api.create_job(input).await?;
    let location = format!("/api/jobs/{}", job.id);
    let headers = [(header::LOCATION, location)];
    Ok((StatusCode::CREATED, headers, job_body(&job)).into_response())
}

async fn list_jobs(State(api): State<ApiService>, params: QueryParams) -> RestResult {
    let query = JobQuery {
        page: params.number("page")?,
        limit: params.number("limit")?,
        status: params.text("status")?,
        tags: params.all("tags"),
    };
    let listing = api.list_jobs(query).await?;
    let body = ListJson::from(pb::ListJobsResponse::from(&listing));
    Ok(Json(body).into_response())
}

async fn get_job(State(api): State<ApiService>, ApiPath(id): ApiPath<String>) -> RestResult {
    let job = api.get_job(&id).await?;
    Ok(job_body(&job).into_response())
}

async fn update_job(
    State(api): State<ApiService>,
    ApiPath(id): ApiPath<String>,
    JsonBody(body): JsonBody,
) -> RestResult {
    let input = JobInput::from_update_json(&body, &id)?;
    let job = api.update_job(&id, input).await?;
    Ok(job_body(&job).into_response())
}

async fn pause_job(State(api): State<ApiService>, ApiPath(id): ApiPath<String>) -> RestResult {
    let job = api.pause_job(&id).await?;
    Ok(job_body(&job).into_response())
}

async fn resume_job(State(api): State<ApiService>, ApiPath(id): ApiPath<String>) -> RestResult {
    let job = api.resume_job(&id).await?;
    Ok(job_body(&job).into_response())
}

async fn delete_job(State(api): State<ApiService>, ApiPath(id): ApiPath<String>) -> RestResult {
    api.delete_job(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Starts a manual run. `force` comes from the query (`?force=true`) or a JSON body
/// (`{"force": true}`); either one set to true forces the run. Other body fields are accepted
/// for compatibility and ignored, because a manual run sends the job's own request.
///
/// An `Idempotency-Key` header makes the request safe to send again: a repeat gets 200 and
/// the first run, instead of 202 and a new one.
async fn trigger_job(
    State(api): State<ApiService>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    params: QueryParams,
    OptionalJsonBody(body): OptionalJsonBody,
) -> RestResult {
    let forced_by_query = params.flag("force")?.unwrap_or(false);
    let forced_by_body = force_in_body(body.as_ref())?;
    let run = ManualRun {
        force: forced_by_query || forced_by_body,
        idempotency_key: idempotency_key(&headers)?,
    };
    let triggered = api.trigger_job(&id, run).await?;
    let status = if triggered.replayed {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, execution_body(&triggered.execution)).into_response())
}

/// Reads and checks the `Idempotency-Key` header, rejecting one sent more than once.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    const NAME: &str = "Idempotency-Key";
    let values: Vec<String> = headers
        .get_all(NAME)
        .iter()
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .collect();
    match values.as_slice() {
        [] => Ok(None),
        [key] => {
            check_idempotency_key(NAME, key)?;
            Ok(Some(key.clone()))
        }
        _ => {
            let message = format!("expected one header, got {}", values.len());
            Err(ApiError::invalid(NAME, values.join(", "), &message))
        }
    }
}

/// Reads `force` from a trigger body; absent, null or a body that is not an object is false.
fn force_in_body(body: Option<&serde_json::Value>) -> Result<bool, ApiError> {
    let force = body.and_then(|body| body.get("force"));
    match force {
        None | Some(serde_json::Value::Null) => Ok(false),
        Some(serde_json::Value::Bool(force)) => Ok(*force),
        Some(other) => Err(ApiError::invalid("force", other, "expected true or false")),
    }
}

async fn list_executions(
    State(api): State<ApiService>,
    ApiPath(id): ApiPath<String>,
    params: QueryParams,
) -> RestResult {
    let query = ExecutionQuery {
        job_id: id,
        page: params.number("page")?,
        limit: params.number("limit")?,
        status: params.text("status")?,
    };
    let listing = api.list_executions(query).await?;
    let body = ListJson::from(pb::ListExecutionsResponse::from(&listing));
    Ok(Json(body).into_response())
}

async fn get_execution(
    State(api): State<ApiService>,
    ApiPath((id, execution_id)): ApiPath<(String, String)>,
) -> RestResult {
    let execution = api.get_execution(&id, &execution_id).await?;
    Ok(execution_body(&execution).into_response())
}

async fn retry_execution(
    State(api): State<ApiService>,
    ApiPath((id, execution_id)): ApiPath<(String, String)>,
) -> RestResult {
    let execution = api.retry_execution(&id, &execution_id).await?;
    Ok((StatusCode::ACCEPTED, execution_body(&execution)).into_response())
}

async fn preview_schedule(State(api): State<ApiService>, params: QueryParams) -> RestResult {
    let query = PreviewQuery {
        schedule: params.text("schedule")?,
        time_zone: params.text("timeZone")?,
        from: params.text("from")?,
        count: params.number("count")?,
    };
    let preview = api.preview_schedule(query).await?;
    let body = PreviewJson::from(pb::PreviewScheduleResponse::from(&preview));
    Ok(Json(body).into_response())
}

async fn cluster_status(State(api): State<ApiService>) -> Json<ClusterJson> {
    let status = api.cluster_status();
    Json(ClusterJson::from(pb::ClusterStatus::from(&status)))
}

/// Returns this node's last applied log index and state digest. Nodes that report the same
/// `appliedIndex` must report the same `digest`. The digest is a decimal string because it
/// uses all 64 bits, more than a JSON number holds exactly in most clients.
async fn debug_state(State(api): State<ApiService>) -> RestResult {
    let (applied_index, digest) = api.applied_digest()?;
    let body = json!({ "appliedIndex": applied_index, "digest": digest.to_string() });
    Ok(Json(body).into_response())
}

/// Liveness: the process serves requests.
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: this node has a leader and has applied every entry up to its commit index.
async fn readyz(State(api): State<ApiService>) -> RestResult {
    api.readiness()?;
    Ok(Json(json!({ "status": "ready" })).into_response())
}

async fn unknown_path(uri: Uri) -> ApiError {
    ApiError::NotFound {
        field: "path".to_string(),
        value: uri.path().to_string(),
    }
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
        path: uri.path().to_string(),
    }
}

#[cfg(test)]
#[path = "rest_test.rs"]
mod tests;
