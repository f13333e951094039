//! The chaos workload's REST calls over the simulated network: one HTTP/1 connection per
//! call with hyper over a turmoil stream, bounded by simulated time.

use std::time::Duration;

use async_trait::async_trait;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use raftcron::chaos::workload::{Api, CLIENT_TIMEOUT, Outcome, classify};
use raftcron::raft_types::NodeId;
use serde_json::Value;
use turmoil::net::TcpStream;

use super::targets::wall_ms;

/// The nodes' client addresses, reached from a turmoil host.
#[derive(Clone)]
pub struct SimApi {
    /// Client address (`host:port`) by node id, ascending.
    pub nodes: Vec<(NodeId, String)>,
}

/// Why a call got no response.
enum CallError {
    Connect,
    Transport(String),
}

#[async_trait]
impl Api for SimApi {
    fn nodes(&self) -> &[(NodeId, String)] {
        &self.nodes
    }

    async fn call(
        &self,
        node: NodeId,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (Outcome, Option<Value>) {
        let Some(address) = self.address(node) else {
            return (Outcome::Unknown(format!("unknown node {node}")), None);
        };
        let body = body.map(|body| Bytes::from(body.to_string()));
        let sent = tokio::time::timeout(CLIENT_TIMEOUT, send(address, method, path, body)).await;
        match sent {
            Err(_) => (Outcome::Unknown("timeout".into()), None),
            Ok(Err(CallError::Connect)) => (Outcome::Unknown("connection refused".into()), None),
            Ok(Err(CallError::Transport(error))) => {
                (Outcome::Unknown(format!("transport: {error}")), None)
            }
            Ok(Ok((status, bytes))) => classify(status, serde_json::from_slice(&bytes).ok()),
        }
    }

    fn micros(&self) -> u64 {
        let elapsed = turmoil::sim_elapsed().unwrap_or(Duration::ZERO);
        u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
    }

    fn wall_ms(&self) -> i64 {
        wall_ms()
    }
}

/// Sends one request on a new connection and returns the status and the whole body.
async fn send(
    address: &str,
    method: Method,
    path: &str,
    body: Option<Bytes>,
) -> Result<(StatusCode, Bytes), CallError> {
    let stream = TcpStream::connect(address)
        .await
        .map_err(|_| CallError::Connect)?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|error| CallError::Transport(error.to_string()))?;
    let driver = tokio::spawn(connection);
    // The connection task ends with the call, whether it returns or is dropped at the timeout.
    let _abort = AbortOnDrop(driver);

    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, address);
    if body.is_some() {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    let request = request
        .body(Full::new(body.unwrap_or_default()))
        .map_err(|error| CallError::Transport(error.to_string()))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|error| CallError::Transport(error.to_string()))?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|error| CallError::Transport(error.to_string()))?
        .to_bytes();
    Ok((status, bytes))
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
