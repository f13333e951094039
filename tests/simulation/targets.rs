//! The simulated HTTP targets: a dispatcher that records each request a node sends, with the
//! headers the real dispatcher would send, and responds like the chaos runner's receivers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use raftcron::chaos::workload::Targets;
use raftcron::model::{Execution, HttpTrigger, Job, OutcomeResult, Trigger};
use raftcron::receiver::{RecordedRequest, header_strings};
use raftcron::trigger::{Dispatch, request_headers};

/// Host of the target that responds 200 at once.
const FAST_HOST: &str = "fast.sim";
/// Host of the target that responds 200 after [`SLOW_DELAY`].
const SLOW_HOST: &str = "slow.sim";
/// Host of the target that responds 503.
const FAILING_HOST: &str = "failing.sim";
/// The slow target's delay, as in the process runner.
const SLOW_DELAY: Duration = Duration::from_millis(1500);

/// Returns the target URLs the jobs of a simulated run post to.
pub fn targets() -> Targets {
    Targets {
        fast: format!("http://{FAST_HOST}"),
        slow: format!("http://{SLOW_HOST}"),
        failing: format!("http://{FAILING_HOST}"),
    }
}

/// Every request any node sent, in the order they arrived.
#[derive(Clone, Default)]
pub struct RequestLog(Arc<Mutex<Vec<RecordedRequest>>>);

impl RequestLog {
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.0
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone()
    }

    fn push(&self, request: RecordedRequest) {
        self.0
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .push(request);
    }
}

/// The dispatcher of one simulated node.
pub struct SimDispatcher {
    pub node_id: u64,
    pub log: RequestLog,
}

/// Returns the simulated wall clock, in milliseconds since the Unix epoch.
pub fn wall_ms() -> i64 {
    let since_epoch = turmoil::since_epoch().expect("the wall clock is read inside a simulation");
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

#[async_trait]
impl Dispatch for SimDispatcher {
    async fn dispatch(&self, job: &Job, execution: &Execution) -> OutcomeResult {
        let Trigger::Http(http) = &job.spec.trigger;
        let Ok(url) = url::Url::parse(&http.url) else {
            return failure(http, None, format!("invalid URL {}", http.url), false);
        };
        let headers = match request_headers(http, execution, self.node_id) {
            Ok(headers) => headers,
            Err(message) => return failure(http, None, message, false),
        };
        let (delay, status) = match url.host_str() {
            Some(FAST_HOST) => (Duration::ZERO, 200),
            Some(SLOW_HOST) => (SLOW_DELAY, 200),
            Some(FAILING_HOST) => (Duration::ZERO, 503),
            _ => {
                let error = "connection refused".to_string();
                return failure(http, None, error, true);
            }
        };

        self.log.push(RecordedRequest {
            method: http.method.clone(),
            path: url.path().to_string(),
            headers: header_strings(&headers),
            body: http.body.clone().unwrap_or_default(),
            received_at_ms: wall_ms(),
        });

        let timeout = Duration::from_millis(http.timeout_ms);
        if delay >= timeout {
            tokio::time::sleep(timeout).await;
            let error = format!("timed out after {} ms", http.timeout_ms);
            return failure(http, None, error, true);
        }
        tokio::time::sleep(delay).await;
        if status == 200 {
            OutcomeResult::Success {
                status_code: status,
                body: String::new(),
            }
        } else {
            let error = format!("responded {status} Service Unavailable");
            failure(http, Some(status), error, true)
        }
    }
}

/// Builds a failed outcome whose error names the method and URL, as the real dispatcher's do.
fn failure(
    http: &HttpTrigger,
    status_code: Option<u16>,
    reason: String,
    retryable: bool,
) -> OutcomeResult {
    OutcomeResult::Failure {
        status_code,
        body: status_code.map(|_| String::new()),
        error: format!("{} {}: {reason}", http.method, http.url),
        retryable,
    }
}
