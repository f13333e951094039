//! One dispatch task: the leadership checks right before the request is sent, the request,
//! and the outcome to record.

use std::sync::Arc;

use rand::Rng;
use tokio::sync::watch;
use tracing::debug;

use super::Shared;
use super::consensus::{Consensus, Metrics, leader_term};
use super::fence::{Fence, FenceError};
use crate::model::{Execution, Job, Outcome};

/// The end of a dispatch task.
#[derive(Debug)]
pub(super) enum AttemptEnd {
    /// The request was sent; the outcome is to be recorded.
    Finished(Outcome),
    /// Not sent: the metrics already show that this node no longer leads the term.
    NotLeader,
    /// Not sent: this node could not confirm that it still leads the term.
    Fenced(FenceError),
}

/// The input of one dispatch task.
pub(super) struct Attempt {
    pub job: Job,
    pub execution: Execution,
    pub term: u64,
}

/// Sends `attempt` if this node still leads its term, as the metrics show and the fence
/// confirms right before the request.
///
/// Cancel safety: dropping the future aborts the request, and nothing is recorded.
pub(super) async fn send_attempt<C: Consensus>(
    shared: Arc<Shared<C>>,
    fence: Arc<Fence>,
    metrics: watch::Receiver<Metrics>,
    attempt: Attempt,
) -> AttemptEnd {
    let Attempt {
        job,
        execution,
        term,
    } = attempt;

    // The metrics may show a lost leadership before the runtime stops this loop.
    if leader_term(&metrics.borrow(), shared.node_id) != Some(term) {
        debug!(execution.id = %execution.id, "not sent: leadership of the term lost");
        return AttemptEnd::NotLeader;
    }
    if let Err(error) = fence.confirm(&shared.consensus).await {
        return AttemptEnd::Fenced(error);
    }

    let result = shared.dispatcher.dispatch(&job, &execution).await;
    AttemptEnd::Finished(Outcome {
        execution_id: execution.id,
        attempt: execution.attempt_count,
        finished_at: shared.clock.now(),
        result,
        jitter_sample: (shared.jitter)(),
    })
}

/// Draws the random share of a retry delay's jitter, from 0 to 1000. The runtime draws it and
/// the outcome carries it, so applying the outcome stays deterministic.
pub fn draw_jitter_sample() -> u16 {
    rand::rng().random_range(0..=1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_samples_cover_range() {
        let samples: Vec<u16> = (0..10_000).map(|_| draw_jitter_sample()).collect();

        assert!(samples.iter().all(|sample| *sample <= 1000));
        assert!(samples.iter().any(|sample| *sample < 100));
        assert!(samples.iter().any(|sample| *sample > 900));
    }
}
