//! Tests of the fence on tokio's paused clock, with a stand-in for Raft whose leadership
//! confirmations succeed, fail or hang on demand.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::fence::{Fence, FenceError};
use super::{Consensus, ConsensusError, Metrics};
use crate::model::{Command, Response};

const TERM: u64 = 4;
const LEASE: Duration = Duration::from_millis(375);

/// The stand-in's reply to a confirmation.
#[derive(Clone)]
enum Answer {
    /// A quorum confirms this term after the delay.
    Leads { term: u64, after: Duration },
    /// Raft rejects the confirmation.
    Rejects(ConsensusError),
    /// No quorum replies.
    Hangs,
}

struct FakeRaft {
    answer: Mutex<Answer>,
    calls: AtomicUsize,
}

impl FakeRaft {
    fn new(answer: Answer) -> Self {
        FakeRaft {
            answer: Mutex::new(answer),
            calls: AtomicUsize::new(0),
        }
    }

    fn leads() -> Self {
        FakeRaft::new(Answer::Leads {
            term: TERM,
            after: Duration::from_millis(10),
        })
    }

    fn answer_with(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Consensus for FakeRaft {
    fn metrics(&self) -> watch::Receiver<Metrics> {
        watch::channel(Metrics::new_initial(1)).1
    }

    async fn ensure_linearizable(&self) -> Result<u64, ConsensusError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let answer = self.answer.lock().unwrap().clone();
        match answer {
            Answer::Leads { term, after } => {
                tokio::time::sleep(after).await;
                Ok(term)
            }
            Answer::Rejects(error) => Err(error),
            Answer::Hangs => std::future::pending().await,
        }
    }

    async fn propose(&self, _command: Command) -> Result<Response, ConsensusError> {
        Err(ConsensusError::Fatal("not used by the fence".to_string()))
    }

    async fn shutdown(&self) {}
}

#[tokio::test(start_paused = true)]
async fn confirmation_reused_within_lease() {
    let raft = FakeRaft::leads();
    let fence = Fence::new(TERM, LEASE);
    let started = Instant::now();

    let first = fence.confirm(&raft).await.unwrap();
    tokio::time::advance(LEASE - Duration::from_millis(50)).await;
    let second = fence.confirm(&raft).await.unwrap();

    assert_eq!(first, started);
    assert_eq!(second, first);
    assert_eq!(raft.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn stale_confirmation_confirmed_again() {
    let raft = FakeRaft::leads();
    let fence = Fence::new(TERM, LEASE);

    let first = fence.confirm(&raft).await.unwrap();
    tokio::time::advance(LEASE).await;
    let second = fence.confirm(&raft).await.unwrap();

    assert!(second >= first + LEASE, "{first:?} then {second:?}");
    assert_eq!(raft.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn resumed_leader_sends_nothing() {
    let raft = FakeRaft::leads();
    let fence = Fence::new(TERM, LEASE);
    fence.confirm(&raft).await.unwrap();

    // SIGSTOP past the election timeout: the monotonic clock runs on, and meanwhile the
    // others elected a leader of a later term, which now rejects this node's heartbeat.
    tokio::time::advance(Duration::from_secs(3)).await;
    raft.answer_with(Answer::Rejects(ConsensusError::NotLeader {
        leader: Some(2),
    }));
    let resumed = fence.confirm(&raft).await;
    let again = fence.confirm(&raft).await;

    let expected = FenceError::Rejected {
        term: TERM,
        source: ConsensusError::NotLeader { leader: Some(2) },
    };
    assert_eq!(resumed, Err(expected.clone()));
    assert_eq!(again, Err(expected));
    assert_eq!(raft.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn cut_off_confirmation_times_out() {
    let raft = FakeRaft::new(Answer::Hangs);
    let fence = Fence::new(TERM, LEASE);
    let started = Instant::now();

    let result = fence.confirm(&raft).await;

    let expected = FenceError::TimedOut {
        term: TERM,
        after_ms: 375,
    };
    assert_eq!(result, Err(expected));
    assert_eq!(started.elapsed(), LEASE);
}

#[tokio::test(start_paused = true)]
async fn failed_confirmation_forgets_previous() {
    let raft = FakeRaft::leads();
    let fence = Fence::new(TERM, LEASE);
    fence.confirm(&raft).await.unwrap();
    tokio::time::advance(LEASE).await;
    raft.answer_with(Answer::Hangs);
    fence.confirm(&raft).await.unwrap_err();

    // The network heals: the next request confirms again instead of reusing anything.
    raft.answer_with(Answer::Leads {
        term: TERM,
        after: Duration::ZERO,
    });
    let healed = Instant::now();
    let confirmed = fence.confirm(&raft).await.unwrap();

    assert_eq!(confirmed, healed);
    assert_eq!(raft.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn later_term_is_rejected() {
    let raft = FakeRaft::new(Answer::Leads {
        term: TERM + 1,
        after: Duration::ZERO,
    });
    let fence = Fence::new(TERM, LEASE);

    let result = fence.confirm(&raft).await;

    let expected = FenceError::TermChanged {
        term: TERM,
        confirmed: TERM + 1,
    };
    assert_eq!(result, Err(expected));
}

#[tokio::test(start_paused = true)]
async fn dispatches_started_together_share_confirmation() {
    let raft = std::sync::Arc::new(FakeRaft::leads());
    let fence = std::sync::Arc::new(Fence::new(TERM, LEASE));

    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let (raft, fence) = (raft.clone(), fence.clone());
        tasks.spawn(async move { fence.confirm(raft.as_ref()).await });
    }
    let mut confirmations = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        confirmations.push(joined.unwrap().unwrap());
    }

    assert_eq!(raft.calls(), 1);
    assert!(confirmations.iter().all(|at| *at == confirmations[0]));
}
