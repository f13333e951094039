use std::sync::Arc;

use openraft::{Membership, StoredMembership};

use super::*;

const WINDOW: Duration = Duration::from_millis(1000);

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

fn node(id: NodeId) -> NodeInfo {
    NodeInfo {
        peer_addr: format!("127.0.0.1:710{id}"),
        client_addr: format!("127.0.0.1:700{id}"),
    }
}

/// The Raft term of every metrics snapshot in these tests.
const TERM: u64 = 3;

/// Metrics of node `id` in `state`, with the voter configurations `configs` and `learners`.
fn metrics(
    id: NodeId,
    state: ServerState,
    configs: Vec<BTreeSet<NodeId>>,
    learners: &[NodeId],
) -> RaftMetrics<NodeId, NodeInfo> {
    let voters = configs.iter().flatten().copied();
    let nodes: BTreeMap<NodeId, NodeInfo> = voters
        .chain(learners.iter().copied())
        .map(|id| (id, node(id)))
        .collect();
    let mut metrics = RaftMetrics::new_initial(id);
    metrics.membership_config =
        Arc::new(StoredMembership::new(None, Membership::new(configs, nodes)));
    metrics.state = state;
    metrics.current_term = TERM;
    metrics.current_leader = (state == ServerState::Leader).then_some(id);
    metrics
}

fn leader_of_three() -> RaftMetrics<NodeId, NodeInfo> {
    metrics(1, ServerState::Leader, vec![BTreeSet::from([1, 2, 3])], &[])
}

/// Builds a view at `now` in which each listed peer was sent an RPC and replied at the given
/// instant.
fn replies(now: Instant, replied: &[(NodeId, Instant)]) -> ContactView {
    let peers = replied
        .iter()
        .map(|(id, at)| {
            let contact = PeerContact {
                last_sent: Some(now),
                last_reply: Some(*at),
                last_reply_term: Some(TERM),
                last_error: None,
            };
            (*id, contact)
        })
        .collect();
    ContactView {
        peers,
        now,
        reachable_within: WINDOW,
    }
}

fn member(status: &ClusterStatus, id: NodeId) -> &MemberStatus {
    status
        .members
        .iter()
        .find(|member| member.id == id)
        .expect("member in status")
}

#[test]
fn leader_reports_silent_follower_unreachable() {
    let start = Instant::now();
    let now = start + ms(5000);
    let contacts = replies(now, &[(2, now - ms(100)), (3, now - ms(2500))]);

    let status = status_from_metrics(&leader_of_three(), &contacts);

    assert_eq!(member(&status, 1).reachable, Some(true));
    assert_eq!(member(&status, 1).last_contact_ms, None);
    assert_eq!(member(&status, 2).reachable, Some(true));
    assert_eq!(member(&status, 2).last_contact_ms, Some(100));
    assert_eq!(member(&status, 3).reachable, Some(false));
    assert_eq!(member(&status, 3).last_contact_ms, Some(2500));
    assert!(status.quorum_ok);
}

#[test]
fn reply_at_window_end_is_reachable() {
    let start = Instant::now();
    let now = start + ms(5000);
    let contacts = replies(now, &[(2, now - WINDOW), (3, now - WINDOW - ms(1))]);

    let status = status_from_metrics(&leader_of_three(), &contacts);

    assert_eq!(member(&status, 2).reachable, Some(true));
    assert_eq!(member(&status, 3).reachable, Some(false));
}

#[test]
fn leader_without_majority_has_no_quorum() {
    let start = Instant::now();
    let now = start + ms(5000);
    let contacts = replies(now, &[(2, now - ms(1500)), (3, now - ms(3000))]);

    let status = status_from_metrics(&leader_of_three(), &contacts);

    assert_eq!(member(&status, 2).reachable, Some(false));
    assert_eq!(member(&status, 3).reachable, Some(false));
    assert!(!status.quorum_ok);
}

#[test]
fn leader_counts_never_contacted_unreachable() {
    let now = Instant::now();
    let contacts = replies(now, &[(2, now)]);

    let status = status_from_metrics(&leader_of_three(), &contacts);

    assert_eq!(member(&status, 3).reachable, Some(false));
    assert_eq!(member(&status, 3).last_contact_ms, None);
    assert!(status.quorum_ok);
}

#[test]
fn reply_of_earlier_term_is_left_out() {
    let now = Instant::now();
    let mut contacts = replies(now, &[(2, now)]);
    let earlier = PeerContact {
        last_sent: Some(now),
        last_reply: Some(now - ms(100)),
        last_reply_term: Some(TERM - 1),
        last_error: None,
    };
    contacts.peers.insert(3, earlier);

    let status = status_from_metrics(&leader_of_three(), &contacts);

    assert_eq!(member(&status, 3).reachable, Some(false));
    assert_eq!(member(&status, 3).last_contact_ms, None);
    assert_eq!(member(&status, 2).reachable, Some(true));
}

#[test]
fn leader_reports_last_error() {
    let now = Instant::now();
    let mut contacts = replies(now, &[(2, now)]);
    let failing = PeerContact {
        last_sent: Some(now),
        last_reply: None,
        last_reply_term: None,
        last_error: Some("Unreachable node: Unknown: transport error".to_string()),
    };
    contacts.peers.insert(3, failing);

    let status = status_from_metrics(&leader_of_three(), &contacts);

    assert_eq!(
        member(&status, 3).last_error.as_deref(),
        Some("Unreachable node: Unknown: transport error")
    );
    assert_eq!(member(&status, 2).last_error, None);
}

#[test]
fn single_voter_leader_has_quorum() {
    let alone = metrics(1, ServerState::Leader, vec![BTreeSet::from([1])], &[]);
    let status = status_from_metrics(&alone, &replies(Instant::now(), &[]));
    assert!(status.quorum_ok);
}

#[test]
fn learner_does_not_count_for_quorum() {
    let leader = metrics(
        1,
        ServerState::Leader,
        vec![BTreeSet::from([1, 2, 3])],
        &[4],
    );
    let now = Instant::now() + ms(5000);
    let contacts = replies(now, &[(4, now)]);

    let status = status_from_metrics(&leader, &contacts);

    assert_eq!(member(&status, 4).role, "LEARNER");
    assert_eq!(member(&status, 4).reachable, Some(true));
    assert!(!status.quorum_ok);
}

#[test]
fn joint_membership_needs_both_majorities() {
    let configs = vec![BTreeSet::from([1, 2, 3]), BTreeSet::from([1, 4, 5])];
    let leader = metrics(1, ServerState::Leader, configs, &[]);
    let now = Instant::now() + ms(5000);

    let old_only = status_from_metrics(&leader, &replies(now, &[(2, now), (3, now)]));
    assert!(!old_only.quorum_ok);

    let both = status_from_metrics(&leader, &replies(now, &[(2, now), (4, now)]));
    assert!(both.quorum_ok);
}

#[test]
fn follower_reports_no_reachability() {
    let mut follower = metrics(
        2,
        ServerState::Follower,
        vec![BTreeSet::from([1, 2, 3])],
        &[],
    );
    follower.current_leader = Some(1);

    let status = status_from_metrics(&follower, &replies(Instant::now(), &[]));

    for id in [1, 2, 3] {
        assert_eq!(member(&status, id).reachable, None, "member {id}");
    }
    assert!(status.quorum_ok);
}

#[test]
fn follower_without_leader_has_no_quorum() {
    let follower = metrics(
        2,
        ServerState::Follower,
        vec![BTreeSet::from([1, 2, 3])],
        &[],
    );
    let status = status_from_metrics(&follower, &replies(Instant::now(), &[]));
    assert!(!status.quorum_ok);
}

#[test]
fn former_leader_ignores_recent_contacts() {
    let follower = metrics(
        2,
        ServerState::Follower,
        vec![BTreeSet::from([1, 2, 3])],
        &[],
    );
    let now = Instant::now();
    let mut contacts = replies(now, &[(1, now), (3, now)]);
    contacts.peers.get_mut(&1).unwrap().last_error = Some("timed out".to_string());

    let status = status_from_metrics(&follower, &contacts);

    for id in [1, 3] {
        assert_eq!(member(&status, id).reachable, None, "member {id}");
        assert_eq!(member(&status, id).last_contact_ms, None, "member {id}");
        assert_eq!(member(&status, id).last_error, None, "member {id}");
    }
}

#[test]
fn candidate_ignores_old_vote_replies() {
    let candidate = metrics(
        2,
        ServerState::Candidate,
        vec![BTreeSet::from([1, 2, 3])],
        &[],
    );
    let now = Instant::now() + ms(300_000);
    let mut contacts = replies(now, &[(3, now - ms(20))]);
    let silent = PeerContact {
        last_sent: Some(now - ms(50)),
        last_reply: Some(now - ms(270_000)),
        last_reply_term: Some(TERM - 1),
        last_error: Some("timed out".to_string()),
    };
    contacts.peers.insert(1, silent);

    let status = status_from_metrics(&candidate, &contacts);

    for id in [1, 2, 3] {
        assert_eq!(member(&status, id).reachable, None, "member {id}");
        assert_eq!(member(&status, id).last_contact_ms, None, "member {id}");
        assert_eq!(member(&status, id).last_error, None, "member {id}");
    }
    assert!(!status.quorum_ok);
}

#[test]
fn own_role_follows_raft_state() {
    let cases = [
        (ServerState::Leader, "LEADER"),
        (ServerState::Follower, "FOLLOWER"),
        (ServerState::Candidate, "CANDIDATE"),
        (ServerState::Learner, "LEARNER"),
        (ServerState::Shutdown, "SHUTDOWN"),
    ];
    for (state, expected) in cases {
        let node = metrics(2, state, vec![BTreeSet::from([1, 2, 3])], &[]);

        let status = status_from_metrics(&node, &replies(Instant::now(), &[]));

        assert_eq!(member(&status, 2).role, expected, "{state:?}");
        assert_eq!(member(&status, 1).role, "FOLLOWER", "{state:?}");
    }
}

#[test]
fn candidate_keeps_others_roles() {
    let mut candidate = metrics(
        2,
        ServerState::Candidate,
        vec![BTreeSet::from([1, 2, 3])],
        &[4],
    );
    candidate.current_leader = Some(1);

    let status = status_from_metrics(&candidate, &replies(Instant::now(), &[]));

    assert_eq!(member(&status, 1).role, "LEADER");
    assert_eq!(member(&status, 2).role, "CANDIDATE");
    assert_eq!(member(&status, 3).role, "FOLLOWER");
    assert_eq!(member(&status, 4).role, "LEARNER");
}

#[test]
fn stopped_raft_reports_no_leader() {
    let mut stopped = leader_of_three();
    stopped.state = ServerState::Shutdown;
    stopped.running_state = Err(openraft::error::Fatal::Stopped);
    let now = Instant::now();
    let contacts = replies(now, &[(2, now), (3, now)]);

    let status = status_from_metrics(&stopped, &contacts);

    assert!(!status.raft_running);
    assert_eq!(status.leader_id, None);
    assert!(!status.quorum_ok);
    assert_eq!(member(&status, 1).role, "SHUTDOWN");
    assert_eq!(member(&status, 1).reachable, None);
    assert_eq!(member(&status, 2).reachable, None);
}

#[test]
fn running_leader_reports_raft_running() {
    let now = Instant::now();
    let status = status_from_metrics(&leader_of_three(), &replies(now, &[(2, now)]));
    assert!(status.raft_running);
    assert_eq!(status.leader_id, Some(1));
}
