//! Dispatch of job triggers: sends one attempt of an execution to its target and reports the
//! outcome.
//!
//! This module decides nothing about whether or when to fire; the scheduler runtime calls it
//! only for attempts the state machine has accepted.
//!
//! Every request carries the headers a target needs to recognize repeated attempts:
//! - `Idempotency-Key`: the execution id, the same for every attempt of one job at one
//!   scheduled instant.
//! - `X-Raftcron-Job-Id` and `X-Raftcron-Execution-Id`.
//! - `X-Raftcron-Scheduled-Time`: the scheduled instant in RFC 3339, UTC.
//! - `X-Raftcron-Attempt`: the attempt number, from 1.
//! - `X-Raftcron-Fencing-Token`: the Raft log index that started the attempt, which grows
//!   across leaders.
//! - `X-Raftcron-Node-Id`: the Raft node id of the node that sent the request.
//!
//! Every request, whether a schedule instant, a manual run or a retry started it, is bounded by
//! the job's trigger timeout.

mod body;
mod http;

use async_trait::async_trait;

use crate::model::{Execution, Job, OutcomeResult};

pub use self::http::{HttpDispatcher, USER_AGENT, request_headers};

/// Sends one attempt of an execution and returns its outcome. [`HttpDispatcher`] is the real
/// one; the deterministic simulation records requests instead of sending them.
#[async_trait]
pub trait Dispatch: Send + Sync + 'static {
    /// Sends one attempt of `execution` to `job`'s target.
    ///
    /// Cancel safety: dropping the future aborts the attempt, and nothing is recorded.
    async fn dispatch(&self, job: &Job, execution: &Execution) -> OutcomeResult;
}

#[async_trait]
impl Dispatch for HttpDispatcher {
    async fn dispatch(&self, job: &Job, execution: &Execution) -> OutcomeResult {
        HttpDispatcher::dispatch(self, job, execution).await
    }
}

/// Errors of the trigger layer.
#[derive(thiserror::Error, Debug)]
pub enum TriggerError {
    /// The shared HTTP client could not be built (for example, no TLS backend).
    #[error("failed to build the HTTP client: {0}")]
    ClientBuild(#[source] reqwest::Error),
}

#[cfg(test)]
mod http_test;
