//! Fencing: a leader sends a request only while a quorum has recently confirmed that it leads
//! the attempt's term.
//!
//! Right before a request is sent, [`Fence::confirm`] checks that this node confirmed its
//! leadership of the term through Raft (openraft's `ensure_linearizable`, which exchanges a
//! heartbeat with a quorum) less than a lease ago, and confirms again otherwise. The lease is
//! counted on the monotonic clock from the moment the confirmation started. Dispatches started
//! together share one confirmation: the first one confirms, the others wait for it and reuse
//! it.
//!
//! Why a lease is safe: the followers that acknowledged the heartbeat heard from this leader
//! after the confirmation started. In openraft 0.9 such a follower rejects vote requests for
//! `election_timeout_max` after that (its leader lease) and starts no election of its own for
//! at least `election_timeout_min`, so no other leader is elected within
//! `election_timeout_min` of the start. The runtime's lease is half of that, which leaves
//! room for clocks that run at somewhat different rates.
//!
//! A leader paused with SIGSTOP, or cut off from its peers, past the election timeout finds
//! its confirmation stale when it resumes, because the monotonic clock kept running while the
//! process was stopped. Confirming again fails, because a quorum replies with a higher term or
//! no quorum replies within the lease, so it sends nothing.
//!
//! NOTE: the check does not cover the time between the last check and the request's bytes
//! leaving the socket. That window holds the reuse of a confirmation up to one lease old, plus
//! DNS resolution, the TCP connect and the TLS handshake when no pooled connection is free,
//! which the trigger's timeout bounds. A process paused inside that window sends its request
//! when it resumes. Every request carries `X-Raftcron-Fencing-Token`, the Raft log index that
//! started the attempt, which grows with every attempt across leaders, so a target that
//! remembers the highest token it has seen for a job can reject a stale sender.
//!
//! NOTE: on Linux, `CLOCK_MONOTONIC` (behind [`std::time::Instant`]) does not count time
//! while the system is suspended (clock_gettime(2)), so a whole host or VM suspended past
//! the election timeout may still reuse its confirmation once it resumes.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use super::consensus::{Consensus, ConsensusError};

/// The reason a request was not sent.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum FenceError {
    /// No quorum confirmed the leadership within the lease.
    #[error("leadership of term {term} not confirmed within {after_ms} ms")]
    TimedOut { term: u64, after_ms: u64 },
    /// Raft reported that this node does not lead, or stopped.
    #[error("leadership of term {term} not confirmed: {source}")]
    Rejected {
        term: u64,
        #[source]
        source: ConsensusError,
    },
    /// This node leads, but in a later term than the one that started the attempt.
    #[error("leadership confirmed for term {confirmed}, not for the attempt's term {term}")]
    TermChanged { term: u64, confirmed: u64 },
}

/// The latest confirmation of this node's leadership of one term.
pub(super) struct Fence {
    term: u64,
    lease: Duration,
    /// When the latest successful confirmation started. The lock also makes concurrent
    /// dispatches wait for one confirmation instead of starting their own.
    confirmed_at: Mutex<Option<Instant>>,
}

impl Fence {
    /// Creates a fence for `term` with no confirmation yet.
    pub fn new(term: u64, lease: Duration) -> Self {
        Fence {
            term,
            lease,
            confirmed_at: Mutex::new(None),
        }
    }

    /// Returns when the confirmation that allows a send started: the latest one if it is
    /// younger than the lease, or a new one.
    ///
    /// A confirmation that takes longer than the lease would be stale when it returns, so the
    /// lease is also its timeout.
    ///
    /// # Errors
    /// [`FenceError`] when the confirmation fails or times out, or confirms a later term; the
    /// request must then not be sent.
    pub async fn confirm<C: Consensus>(&self, consensus: &C) -> Result<Instant, FenceError> {
        let mut confirmed_at = self.confirmed_at.lock().await;
        if let Some(at) = *confirmed_at
            && at.elapsed() < self.lease
        {
            return Ok(at);
        }

        *confirmed_at = None;
        let started = Instant::now();
        let confirmed = tokio::time::timeout(self.lease, consensus.ensure_linearizable()).await;
        let term = match confirmed {
            Ok(Ok(term)) => term,
            Ok(Err(source)) => {
                let term = self.term;
                return Err(FenceError::Rejected { term, source });
            }
            Err(_elapsed) => {
                let after_ms = u64::try_from(self.lease.as_millis()).unwrap_or(u64::MAX);
                let term = self.term;
                return Err(FenceError::TimedOut { term, after_ms });
            }
        };
        if term != self.term {
            let expected = self.term;
            return Err(FenceError::TermChanged {
                term: expected,
                confirmed: term,
            });
        }
        *confirmed_at = Some(started);
        Ok(started)
    }
}
