//! The seeded fault schedule and its injection.
//!
//! [`FaultPlan`] draws every fault from a `StdRng` seeded with the run's seed: its kind, how
//! long it holds, the pause before it and a number that picks its targets. The same seed
//! gives the same schedule. Which node is "the leader" is looked up when a fault starts, so
//! the nodes hit can differ between two process runs with the same seed. In the
//! deterministic simulation they do not: a seed replays exactly.
//!
//! [`run_faults`] injects the plan through [`FaultTarget`], which the process runner
//! implements with signals and link proxies ([`Processes`]) and the simulation with turmoil.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::cluster::{Cluster, ELECTION_TIMEOUT_MAX_MS};
use crate::raft_types::NodeId;

/// The kind of a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// SIGKILL of the leader, restarted after the hold.
    KillLeader,
    /// SIGKILL of a follower, restarted after the hold.
    KillFollower,
    /// SIGSTOP of the leader for longer than the election timeout, then SIGCONT.
    PauseLeader,
    /// SIGSTOP of a follower, then SIGCONT.
    PauseFollower,
    /// One node cut from all others.
    IsolateNode,
    /// The leader on the minority side of a partition.
    LeaderMinority,
    /// Two halves that cannot reach each other, and one node that reaches both.
    Bridge,
    /// A majority of the nodes killed at once (no quorum), then restarted.
    NoQuorum,
}

impl FaultKind {
    const ALL: [(FaultKind, u32); 8] = [
        (FaultKind::KillLeader, 16),
        (FaultKind::KillFollower, 10),
        (FaultKind::PauseLeader, 14),
        (FaultKind::PauseFollower, 8),
        (FaultKind::IsolateNode, 14),
        (FaultKind::LeaderMinority, 14),
        (FaultKind::Bridge, 12),
        (FaultKind::NoQuorum, 8),
    ];

    /// Returns a short name for tables and logs.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::KillLeader => "kill-leader",
            FaultKind::KillFollower => "kill-follower",
            FaultKind::PauseLeader => "pause-leader",
            FaultKind::PauseFollower => "pause-follower",
            FaultKind::IsolateNode => "isolate-node",
            FaultKind::LeaderMinority => "leader-minority",
            FaultKind::Bridge => "bridge",
            FaultKind::NoQuorum => "no-quorum",
        }
    }

    /// Returns whether the fault picks its nodes by role, so that without a known leader it
    /// hits a node picked at random instead.
    pub fn targets_roles(self) -> bool {
        matches!(
            self,
            FaultKind::KillLeader
                | FaultKind::KillFollower
                | FaultKind::PauseLeader
                | FaultKind::PauseFollower
                | FaultKind::LeaderMinority
        )
    }

    /// Returns the range the hold time is drawn from, in milliseconds.
    fn hold_range_ms(self) -> (u64, u64) {
        match self {
            FaultKind::KillLeader | FaultKind::KillFollower => (500, 4000),
            // Past the election timeout, so the other nodes elect a new leader.
            FaultKind::PauseLeader | FaultKind::PauseFollower => {
                (ELECTION_TIMEOUT_MAX_MS + 500, 4000)
            }
            FaultKind::IsolateNode | FaultKind::LeaderMinority | FaultKind::Bridge => (2000, 6000),
            // Up to about twice the misfire threshold, so some outages miss instants.
            FaultKind::NoQuorum => (2000, 10_000),
        }
    }
}

/// One fault as drawn from the seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedFault {
    /// Pause before the fault starts.
    pub gap: Duration,
    pub kind: FaultKind,
    /// Time the fault lasts before it is healed.
    pub hold: Duration,
    /// Picks the targets among the candidates.
    pub pick: u64,
}

/// An endless, seeded sequence of faults.
pub struct FaultPlan {
    rng: StdRng,
}

impl FaultPlan {
    pub fn new(seed: u64) -> Self {
        FaultPlan {
            rng: StdRng::seed_from_u64(seed),
        }
    }
}

impl Iterator for FaultPlan {
    type Item = PlannedFault;

    fn next(&mut self) -> Option<PlannedFault> {
        let total: u32 = FaultKind::ALL.iter().map(|(_, weight)| weight).sum();
        let mut roll = self.rng.random_range(0..total);
        let mut kind = FaultKind::KillLeader;
        for (candidate, weight) in FaultKind::ALL {
            if roll < weight {
                kind = candidate;
                break;
            }
            roll -= weight;
        }
        let (low, high) = kind.hold_range_ms();
        Some(PlannedFault {
            gap: Duration::from_millis(self.rng.random_range(1000..=4000)),
            kind,
            hold: Duration::from_millis(self.rng.random_range(low..=high)),
            pick: self.rng.random(),
        })
    }
}

/// One injected fault, for the log and the failover figures.
#[derive(Clone, Debug)]
pub struct FaultRecord {
    pub number: usize,
    pub kind: FaultKind,
    /// The nodes killed, paused or cut off, or the partition sides.
    pub description: String,
    /// The leader when the fault started, as the nodes reported it.
    pub leader_before: Option<NodeId>,
    /// Wall-clock start, in milliseconds since the Unix epoch.
    pub started_ms: i64,
    /// Seconds since the run started, for the log.
    pub started_s: f64,
    pub healed_s: f64,
    /// Wall-clock end, in milliseconds since the Unix epoch.
    pub healed_ms: i64,
}

/// The operations faults need on a cluster: [`Processes`] for the process runner, and the
/// simulated cluster of the deterministic simulation (`tests/simulation.rs`).
#[async_trait(?Send)]
pub trait FaultTarget {
    /// Returns the node ids, ascending.
    fn ids(&self) -> Vec<NodeId>;

    /// Returns the leader that a majority of the serving nodes report, if any.
    async fn leader(&self) -> Option<NodeId>;

    /// Stops node `id` at once, as SIGKILL does.
    fn kill(&mut self, id: NodeId);

    /// Starts node `id` again with its data; does nothing when it runs.
    fn restart(&mut self, id: NodeId) -> anyhow::Result<()>;

    /// Cuts node `id` off so that no other node or client hears from it: SIGSTOP in the
    /// process runner. The simulation holds the node's links instead, and the node keeps
    /// running.
    fn pause(&mut self, id: NodeId) -> anyhow::Result<()>;

    /// Undoes [`FaultTarget::pause`]; does nothing when `id` is not paused.
    fn resume(&mut self, id: NodeId) -> anyhow::Result<()>;

    /// Cuts every peer link between nodes on different sides.
    fn partition(&mut self, sides: &[BTreeSet<NodeId>]);

    /// Opens every peer link.
    fn heal_links(&mut self);

    /// Returns the nodes that exited without a fault since the last call, with their exit
    /// status.
    fn exited_nodes(&mut self) -> Vec<(NodeId, String)>;

    /// Prints one line of the fault log.
    fn log(&self, line: &str) {
        println!("{line}");
    }

    /// Returns the time since the run started.
    fn elapsed(&self) -> Duration;

    /// Returns the wall clock, in milliseconds since the Unix epoch.
    fn wall_ms(&self) -> i64;
}

/// The process runner's cluster as a [`FaultTarget`]: SIGKILL, SIGSTOP and the link proxies.
pub struct Processes<'a> {
    pub cluster: &'a mut Cluster,
    /// The run's start, the zero of [`FaultTarget::elapsed`].
    pub started: Instant,
}

#[async_trait(?Send)]
impl FaultTarget for Processes<'_> {
    fn ids(&self) -> Vec<NodeId> {
        self.cluster.ids()
    }

    async fn leader(&self) -> Option<NodeId> {
        self.cluster.leader().await
    }

    fn kill(&mut self, id: NodeId) {
        self.cluster.kill(id);
    }

    fn restart(&mut self, id: NodeId) -> anyhow::Result<()> {
        self.cluster.start_node(id)
    }

    fn pause(&mut self, id: NodeId) -> anyhow::Result<()> {
        self.cluster.pause(id)
    }

    fn resume(&mut self, id: NodeId) -> anyhow::Result<()> {
        self.cluster.resume(id)
    }

    fn partition(&mut self, sides: &[BTreeSet<NodeId>]) {
        self.cluster.links().partition(sides);
    }

    fn heal_links(&mut self) {
        self.cluster.links().heal();
    }

    fn exited_nodes(&mut self) -> Vec<(NodeId, String)> {
        self.cluster.exited_nodes()
    }

    fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    fn wall_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

/// The changes to undo when a fault ends.
enum Applied {
    Killed(Vec<NodeId>),
    Paused(NodeId),
    Partitioned,
}

/// Starts `fault` on `target` and returns its description, the leader before it and the
/// changes that [`heal`] undoes after the hold.
pub async fn inject(
    target: &mut impl FaultTarget,
    fault: &PlannedFault,
) -> anyhow::Result<(String, Option<NodeId>, AppliedFault)> {
    let ids = target.ids();
    let leader = target.leader().await;
    // Without a known leader, a node picked at random takes its place.
    let leader_or_any = leader.unwrap_or(ids[(fault.pick % ids.len() as u64) as usize]);
    let mut rng = StdRng::seed_from_u64(fault.pick);
    let mut others: Vec<NodeId> = ids
        .iter()
        .copied()
        .filter(|id| *id != leader_or_any)
        .collect();
    others.shuffle(&mut rng);
    let mut everyone = ids.clone();
    everyone.shuffle(&mut rng);

    let (description, applied) = match fault.kind {
        FaultKind::KillLeader => kill(target, vec![leader_or_any]),
        FaultKind::KillFollower => kill(target, vec![others[0]]),
        FaultKind::PauseLeader => pause(target, leader_or_any)?,
        FaultKind::PauseFollower => pause(target, others[0])?,
        FaultKind::NoQuorum => {
            let quorum = ids.len() / 2 + 1;
            kill(target, everyone[..quorum].to_vec())
        }
        FaultKind::IsolateNode => {
            let alone = everyone[0];
            let rest: BTreeSet<NodeId> = everyone[1..].iter().copied().collect();
            partition(target, vec![BTreeSet::from([alone]), rest])
        }
        FaultKind::LeaderMinority => {
            // The leader and, with five nodes, one more node: a minority either way.
            let minority_size = (ids.len() - 1) / 2;
            let mut minority = BTreeSet::from([leader_or_any]);
            minority.extend(others[..minority_size - 1].iter().copied());
            let majority: BTreeSet<NodeId> = ids
                .iter()
                .copied()
                .filter(|id| !minority.contains(id))
                .collect();
            partition(target, vec![minority, majority])
        }
        FaultKind::Bridge => {
            let bridge = everyone[0];
            let half = (everyone.len() - 1) / 2;
            let mut left: BTreeSet<NodeId> = everyone[1..=half].iter().copied().collect();
            let mut right: BTreeSet<NodeId> = everyone[half + 1..].iter().copied().collect();
            left.insert(bridge);
            right.insert(bridge);
            partition(target, vec![left, right])
        }
    };
    Ok((description, leader, AppliedFault(applied)))
}

/// A started fault, to be healed.
pub struct AppliedFault(Applied);

fn kill(target: &mut impl FaultTarget, nodes: Vec<NodeId>) -> (String, Applied) {
    for id in &nodes {
        target.kill(*id);
    }
    (format!("kill nodes {nodes:?}"), Applied::Killed(nodes))
}

fn pause(target: &mut impl FaultTarget, node: NodeId) -> anyhow::Result<(String, Applied)> {
    target.pause(node)?;
    Ok((format!("pause node {node}"), Applied::Paused(node)))
}

fn partition(target: &mut impl FaultTarget, sides: Vec<BTreeSet<NodeId>>) -> (String, Applied) {
    target.partition(&sides);
    let description = format!("partition {}", Cluster::describe_sides(&sides));
    (description, Applied::Partitioned)
}

/// Undoes `applied`: restarts killed nodes, resumes a paused one or heals the links.
pub fn heal(target: &mut impl FaultTarget, applied: AppliedFault) -> anyhow::Result<()> {
    match applied.0 {
        Applied::Killed(nodes) => {
            for id in nodes {
                target.restart(id)?;
            }
        }
        Applied::Paused(node) => target.resume(node)?,
        Applied::Partitioned => target.heal_links(),
    }
    Ok(())
}

/// Runs faults from `plan` until `until` (time since the run started) or until `max_faults`
/// have run, logging each one and collecting nodes that exited on their own into `crashes`.
pub async fn run_faults(
    target: &mut impl FaultTarget,
    plan: FaultPlan,
    until: Duration,
    max_faults: Option<usize>,
    crashes: &mut Vec<(NodeId, String)>,
) -> anyhow::Result<Vec<FaultRecord>> {
    let mut records = Vec::new();
    for (index, fault) in plan.enumerate() {
        if max_faults.is_some_and(|max| index >= max) {
            break;
        }
        if target.elapsed() + fault.gap + fault.hold > until {
            break;
        }
        tokio::time::sleep(fault.gap).await;
        crashes.extend(report_crashes(target));
        let started_ms = target.wall_ms();
        let started_s = target.elapsed().as_secs_f64();
        let (description, leader_before, applied) = inject(target, &fault).await?;
        target.log(&format!(
            "[{started_s:8.3}s] fault {:>4} {:<15} {description} (leader before: {}, hold {} ms)",
            index + 1,
            fault.kind.name(),
            leader_before.map_or("none".to_string(), |id| id.to_string()),
            fault.hold.as_millis(),
        ));
        tokio::time::sleep(fault.hold).await;
        heal(target, applied)?;
        let healed_s = target.elapsed().as_secs_f64();
        let healed_ms = target.wall_ms();
        target.log(&format!("[{healed_s:8.3}s] fault {:>4} healed", index + 1));
        records.push(FaultRecord {
            number: index + 1,
            kind: fault.kind,
            description,
            leader_before,
            started_ms,
            started_s,
            healed_s,
            healed_ms,
        });
    }
    Ok(records)
}

/// Restarts nodes that exited without a fault, after logging them: a crash is a finding.
pub fn report_crashes(target: &mut impl FaultTarget) -> Vec<(NodeId, String)> {
    let exited = target.exited_nodes();
    for (id, status) in &exited {
        let at = target.elapsed().as_secs_f64();
        target.log(&format!(
            "[{at:8.3}s] node {id} exited on its own ({status}); restarting it"
        ));
        if let Err(error) = target.restart(*id) {
            target.log(&format!(
                "[{at:8.3}s] failed to restart node {id}: {error:#}"
            ));
        }
    }
    exited
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_gives_same_plan() {
        let first: Vec<PlannedFault> = FaultPlan::new(7).take(50).collect();
        let second: Vec<PlannedFault> = FaultPlan::new(7).take(50).collect();

        assert_eq!(first, second);
    }

    #[test]
    fn other_seed_gives_other_plan() {
        let first: Vec<PlannedFault> = FaultPlan::new(7).take(50).collect();
        let second: Vec<PlannedFault> = FaultPlan::new(8).take(50).collect();

        assert_ne!(first, second);
    }

    #[test]
    fn plan_draws_every_kind() {
        let kinds: BTreeSet<FaultKind> = FaultPlan::new(1).take(500).map(|f| f.kind).collect();

        assert_eq!(kinds.len(), FaultKind::ALL.len());
    }

    #[test]
    fn pauses_outlast_election_timeout() {
        let pauses = FaultPlan::new(3).take(500).filter(|fault| {
            matches!(
                fault.kind,
                FaultKind::PauseLeader | FaultKind::PauseFollower
            )
        });

        for fault in pauses {
            assert!(fault.hold > Duration::from_millis(ELECTION_TIMEOUT_MAX_MS));
        }
    }
}
