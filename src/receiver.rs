//! A small HTTP receiver that records every request it gets: the target of the dev cluster's
//! sample job (`raftcron receiver`) and of the integration tests.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use chrono::Utc;
use tokio::net::TcpListener;

/// One request as the receiver saw it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// Header names in lower case; a repeated header keeps its last value.
    pub headers: BTreeMap<String, String>,
    pub body: String,
    /// When the request arrived, in milliseconds since the Unix epoch.
    pub received_at_ms: i64,
}

impl RecordedRequest {
    /// The value of header `name` (any case), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// How the receiver responds.
#[derive(Clone, Debug)]
pub struct Behaviour {
    /// Status code of every response.
    pub status: u16,
    /// Delay before responding.
    pub delay: Duration,
    /// Print one line per request on standard output.
    pub print: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            status: 200,
            delay: Duration::ZERO,
            print: false,
        }
    }
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<RecordedRequest>>,
    behaviour: Mutex<Behaviour>,
}

/// A running receiver. Dropping it does not stop the server; call [`Receiver::stop`].
pub struct Receiver {
    address: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Binds `address` (use port 0 for any free port) and starts serving.
    pub async fn start(address: &str, behaviour: Behaviour) -> std::io::Result<Receiver> {
        let listener = TcpListener::bind(address).await?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        *lock(&shared.behaviour) = behaviour;
        let app = Router::new().fallback(record).with_state(shared.clone());
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "receiver stopped");
            }
        });
        Ok(Receiver {
            address,
            shared,
            task,
        })
    }

    /// The bound address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// A copy of every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// Changes how later requests are answered.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *lock(&self.shared.behaviour) = behaviour;
    }

    /// Stops the server.
    pub fn stop(self) {
        self.task.abort();
    }

    /// Serves until the task ends (for the `raftcron receiver` command).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// Returns `headers` as strings by name, with bytes that are not UTF-8 replaced.
pub fn header_strings(headers: &HeaderMap) -> BTreeMap<String, String> {
    headers
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_string(), value)
        })
        .collect()
}

async fn record(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let request = RecordedRequest {
        method: method.to_string(),
        path: uri.path().to_string(),
        headers: header_strings(&headers),
        body: String::from_utf8_lossy(&body).into_owned(),
        received_at_ms: Utc::now().timestamp_millis(),
    };
    let behaviour = lock(&shared.behaviour).clone();
    if behaviour.print {
        print_request(&request);
    }
    lock(&shared.requests).push(request);
    if !behaviour.delay.is_zero() {
        tokio::time::sleep(behaviour.delay).await;
    }
    StatusCode::from_u16(behaviour.status).unwrap_or(StatusCode::OK)
}

fn print_request(request: &RecordedRequest) {
    use std::io::Write;

    let header = |name: &str| request.header(name).unwrap_or("-").to_string();
    let line = format!(
        "{} {} {} job={} execution={} scheduled={} attempt={} fencing={} node={} body={}",
        Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        request.method,
        request.path,
        header("x-raftcron-job-id"),
        header("x-raftcron-execution-id"),
        header("x-raftcron-scheduled-time"),
        header("x-raftcron-attempt"),
        header("x-raftcron-fencing-token"),
        header("x-raftcron-node-id"),
        request.body.escape_debug(),
    );
    // A closed stdout (the reader exited) must not fail the request being recorded.
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}
