//! The HTTP trigger: one shared reqwest client (rustls, no redirects) and the mapping from a
//! response or transport error to an attempt outcome.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode, redirect};

use super::TriggerError;
use super::body::read_capped;
use crate::model::{Execution, HttpTrigger, Job, OutcomeResult, Trigger};

/// The `User-Agent` sent with every request.
pub const USER_AGENT: &str = concat!("raftcron/", env!("CARGO_PKG_VERSION"));

/// Sends HTTP triggers. Cheap to share: one client and its connection pool serve all jobs.
#[derive(Clone, Debug)]
pub struct HttpDispatcher {
    client: reqwest::Client,
    /// The Raft node id of the sending node, sent as `X-Raftcron-Node-Id`.
    node_id: u64,
}

impl HttpDispatcher {
    /// Builds the shared client of node `node_id`. Redirects are not followed: a 3xx response
    /// is the attempt's outcome, so a request is never sent to a host the job does not name.
    ///
    /// # Errors
    /// [`TriggerError::ClientBuild`] when reqwest cannot set up TLS.
    pub fn new(node_id: u64) -> Result<Self, TriggerError> {
        let client = reqwest::Client::builder()
            .redirect(redirect::Policy::none())
            .use_rustls_tls()
            .build()
            .map_err(TriggerError::ClientBuild)?;
        Ok(HttpDispatcher { client, node_id })
    }

    /// Sends one attempt of `execution` to `job`'s target and returns its outcome.
    ///
    /// The whole request, body included, must finish within the trigger's `timeout_ms`,
    /// whatever started the attempt: a schedule instant, a manual run or a retry. Any 2xx is a
    /// success. Connection errors, timeouts, 5xx and 429 are retryable failures; other
    /// 4xx and 3xx are final. At most [`crate::model::MAX_RESULT_BODY_BYTES`] of the response
    /// body are read.
    ///
    /// Cancel safety: dropping the future aborts the request; nothing is recorded.
    pub async fn dispatch(&self, job: &Job, execution: &Execution) -> OutcomeResult {
        match &job.spec.trigger {
            Trigger::Http(http) => self.send(http, execution).await,
        }
    }

    async fn send(&self, http: &HttpTrigger, execution: &Execution) -> OutcomeResult {
        let target = Target::new(http);
        let method = match Method::from_bytes(http.method.as_bytes()) {
            Ok(method) => method,
            Err(_) => return final_failure(&target, format!("invalid method {}", http.method)),
        };
        let headers = match request_headers(http, execution, self.node_id) {
            Ok(headers) => headers,
            Err(message) => return final_failure(&target, message),
        };

        let mut request = self
            .client
            .request(method, &http.url)
            .headers(headers)
            .timeout(Duration::from_millis(http.timeout_ms));
        if let Some(body) = &http.body {
            request = request.body(body.clone());
        }

        match request.send().await {
            Ok(mut response) => {
                let status = response.status();
                let body = read_capped(&mut response).await;
                classify_status(&target, status, body)
            }
            Err(error) => transport_failure(&target, &error, http.timeout_ms),
        }
    }
}

/// The method and URL as shown in error messages, with any user name and password removed.
struct Target(String);

impl Target {
    fn new(http: &HttpTrigger) -> Self {
        let url = match url::Url::parse(&http.url) {
            Ok(mut url) => {
                // Both setters fail only for URLs that cannot have credentials.
                let _ = url.set_username("");
                let _ = url.set_password(None);
                url.to_string()
            }
            Err(_) => http.url.clone(),
        };
        Target(format!("{} {url}", http.method))
    }
}

/// Builds the request headers: the job's own, then raftcron's, which replace any job header of
/// the same name.
///
/// # Errors
/// A message naming the header when a job header's name or value is not a valid HTTP one.
pub fn request_headers(
    http: &HttpTrigger,
    execution: &Execution,
    node_id: u64,
) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    for (name, value) in &http.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("invalid header name {name:?}"))?;
        let value =
            HeaderValue::from_str(value).map_err(|_| format!("invalid value of header {name}"))?;
        headers.append(name, value);
    }
    for (name, value) in raftcron_headers(execution, node_id) {
        let value = HeaderValue::from_str(&value)
            .map_err(|_| format!("invalid value of header {name}: {value:?}"))?;
        headers.insert(name, value);
    }
    Ok(headers)
}

fn raftcron_headers(execution: &Execution, node_id: u64) -> [(HeaderName, String); 8] {
    [
        (name("idempotency-key"), execution.id.clone()),
        (name("x-raftcron-job-id"), execution.job_id.clone()),
        (name("x-raftcron-execution-id"), execution.id.clone()),
        (
            name("x-raftcron-scheduled-time"),
            execution.scheduled_time.to_rfc3339(),
        ),
        (
            name("x-raftcron-attempt"),
            execution.attempt_count.to_string(),
        ),
        (
            name("x-raftcron-fencing-token"),
            execution.attempt_index.to_string(),
        ),
        (name("x-raftcron-node-id"), node_id.to_string()),
        (reqwest::header::USER_AGENT, USER_AGENT.to_string()),
    ]
}

fn name(lower_case: &'static str) -> HeaderName {
    HeaderName::from_static(lower_case)
}

fn classify_status(target: &Target, status: StatusCode, body: String) -> OutcomeResult {
    if status.is_success() {
        return OutcomeResult::Success {
            status_code: status.as_u16(),
            body,
        };
    }
    let retryable = status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS;
    OutcomeResult::Failure {
        status_code: Some(status.as_u16()),
        body: Some(body),
        error: format!("{}: responded {status}", target.0),
        retryable,
    }
}

fn transport_failure(target: &Target, error: &reqwest::Error, timeout_ms: u64) -> OutcomeResult {
    let (what, retryable) = if error.is_timeout() {
        (format!("timed out after {timeout_ms} ms"), true)
    } else if error.is_builder() {
        (format!("invalid request: {}", root_cause(error)), false)
    } else if error.is_connect() {
        (describe_connect_error(error), true)
    } else {
        (format!("request failed: {}", root_cause(error)), true)
    };
    OutcomeResult::Failure {
        status_code: None,
        body: None,
        error: format!("{}: {what}", target.0),
        retryable,
    }
}

fn describe_connect_error(error: &reqwest::Error) -> String {
    let refused = io_error_kind(error) == Some(std::io::ErrorKind::ConnectionRefused);
    if refused {
        "connection refused".to_string()
    } else {
        format!("connection failed: {}", root_cause(error))
    }
}

fn io_error_kind(error: &reqwest::Error) -> Option<std::io::ErrorKind> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        source = current.source();
    }
    None
}

/// Returns the innermost error's message, which names the actual cause (DNS, TLS, reset),
/// where reqwest's own message is only "error sending request".
fn root_cause(error: &reqwest::Error) -> String {
    let mut current: &(dyn std::error::Error + 'static) = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

fn final_failure(target: &Target, message: String) -> OutcomeResult {
    OutcomeResult::Failure {
        status_code: None,
        body: None,
        error: format!("{}: {message}", target.0),
        retryable: false,
    }
}
