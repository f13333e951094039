//! The supervisor: starts a leader loop for each term this node leads, restarts a failed one,
//! records the scheduler's health and shuts down Raft when the rule in `health.rs` requires it.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{Instrument, error, info, info_span, warn};

use super::consensus::{Consensus, Metrics, leader_term};
use super::health::{AfterFailure, HEALTHY_RUN, HealthTracker};
use super::leader::LeaderLoop;
use super::{SchedulerError, Shared};
use crate::raft_types::NodeId;

/// Starts and stops leader loops as this node's leadership changes, until `stopped` closes
/// or Raft shuts down.
pub(super) async fn supervise<C: Consensus>(
    shared: Arc<Shared<C>>,
    mut stopped: watch::Receiver<()>,
) {
    let mut metrics = shared.consensus.metrics();
    let mut health = HealthTracker::default();
    loop {
        let term = leader_term(&metrics.borrow_and_update(), shared.node_id);
        let keep_running = match term {
            Some(term) => lead_term(&shared, term, &mut metrics, &mut stopped, &mut health).await,
            None => {
                health.not_leading();
                publish(&shared, &health);
                tokio::select! {
                    changed = metrics.changed() => changed.is_ok(),
                    _ = stopped.changed() => false,
                }
            }
        };
        if !keep_running {
            info!("scheduler stopped");
            return;
        }
    }
}

/// Runs the leader loop of `term` until the node stops leading it, the loop fails or the
/// runtime stops. Returns whether the supervisor should go on.
async fn lead_term<C: Consensus>(
    shared: &Arc<Shared<C>>,
    term: u64,
    metrics: &mut watch::Receiver<Metrics>,
    stopped: &mut watch::Receiver<()>,
    health: &mut HealthTracker,
) -> bool {
    info!(raft.term = term, "leadership gained; scheduling started");
    health.loop_started(term, Instant::now());
    publish(shared, health);
    let leader = LeaderLoop::new(shared.clone(), term, metrics.clone());
    let span = info_span!("leader", raft.term = term);
    let run = leader.run().instrument(span);
    let result = tokio::select! {
        result = run_until_healthy(shared, run, health) => Some(result),
        () = until_not_leader(metrics, shared.node_id, term) => None,
        _ = stopped.changed() => return false,
    };
    info!(raft.term = term, "scheduling stopped for the term");
    shared.loaded_term.send_replace(None);

    let Some(Err(error)) = result else {
        health.loop_ended();
        publish(shared, health);
        return true;
    };
    after_loop_failed(shared, term, &error, stopped, health).await
}

/// Records the failure of the leader loop of `term`, then either shuts down Raft or waits
/// for the restart delay. Returns whether the supervisor should go on.
async fn after_loop_failed<C: Consensus>(
    shared: &Shared<C>,
    term: u64,
    error: &SchedulerError,
    stopped: &mut watch::Receiver<()>,
    health: &mut HealthTracker,
) -> bool {
    let after_failure = health.loop_failed(error, Instant::now());
    publish(shared, health);
    let failures = health.health().consecutive_failures;
    if after_failure == AfterFailure::ShutDownRaft {
        shut_down_raft(shared, term, error, failures).await;
        return false;
    }
    warn!(raft.term = term, %error, failures, "leader loop ended; restarting if still leader");

    // Wait before a restart, so a persistent error does not spin.
    tokio::select! {
        () = tokio::time::sleep(shared.config.restart_delay) => true,
        _ = stopped.changed() => false,
    }
}

/// Runs `run` to its end and records the loop as healthy once it has run for [`HEALTHY_RUN`].
async fn run_until_healthy<C, F>(
    shared: &Arc<Shared<C>>,
    run: F,
    health: &mut HealthTracker,
) -> Result<(), SchedulerError>
where
    C: Consensus,
    F: Future<Output = Result<(), SchedulerError>>,
{
    tokio::pin!(run);
    tokio::select! {
        result = &mut run => return result,
        () = tokio::time::sleep(HEALTHY_RUN) => {}
    }
    health.still_running(Instant::now());
    publish(shared, health);
    run.await
}

/// Shuts down this node's Raft after its leader loop failed on storage errors, so that a node
/// whose disk state can be trusted takes over the leadership.
async fn shut_down_raft<C: Consensus>(
    shared: &Shared<C>,
    term: u64,
    error: &SchedulerError,
    failures: u32,
) {
    error!(
        node.id = shared.node_id,
        raft.term = term,
        %error,
        failures,
        "leader loop failed on storage errors; shutting down raft on this node"
    );
    shared.consensus.shutdown().await;
}

/// Publishes the tracker's health when it changed; the supervisor calls this on every metrics
/// change while the node does not lead.
fn publish<C>(shared: &Shared<C>, health: &HealthTracker) {
    let latest = health.health();
    shared.health.send_if_modified(|published| {
        let changed = *published != latest;
        *published = latest;
        changed
    });
}

/// Returns when the metrics no longer show `node_id` leading `term`, or when Raft shut down.
async fn until_not_leader(metrics: &mut watch::Receiver<Metrics>, node_id: NodeId, term: u64) {
    loop {
        if metrics.changed().await.is_err() {
            return;
        }
        if leader_term(&metrics.borrow_and_update(), node_id) != Some(term) {
            return;
        }
    }
}
