//! Contact with each peer as seen by this node's outgoing Raft RPCs: when each was last sent a
//! request, when it last replied and why its last request failed. The cluster status reads it
//! to report which members this node can reach.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::raft_types::NodeId;

/// The outcome of the Raft RPCs this node sent to one peer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerContact {
    /// Start of the latest RPC sent to the peer.
    pub last_sent: Option<Instant>,
    /// Arrival of the latest reply from the peer.
    pub last_reply: Option<Instant>,
    /// Raft term of the request that got the latest reply.
    pub last_reply_term: Option<u64>,
    /// Error of the latest RPC when it failed, until a later reply clears it.
    pub last_error: Option<String>,
}

impl PeerContact {
    /// Returns whether the peer replied within `window` before `now`.
    pub fn replied_within(&self, now: Instant, window: Duration) -> bool {
        within(self.last_reply, now, window)
    }

    /// Returns whether this node sent the peer an RPC within `window` before `now`.
    pub fn sent_within(&self, now: Instant, window: Duration) -> bool {
        within(self.last_sent, now, window)
    }

    /// Returns the milliseconds from the latest reply to `now`, or None when the peer never
    /// replied.
    pub fn millis_since_reply(&self, now: Instant) -> Option<u64> {
        let elapsed = now.saturating_duration_since(self.last_reply?);
        Some(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
    }
}

fn within(at: Option<Instant>, now: Instant, window: Duration) -> bool {
    at.is_some_and(|at| now.saturating_duration_since(at) <= window)
}

/// The [`PeerContact`] of every peer this node sent an RPC to, shared by all connections of
/// one node and the cluster client. Clones share the same records.
#[derive(Clone, Debug, Default)]
pub struct PeerContacts {
    peers: Arc<Mutex<BTreeMap<NodeId, PeerContact>>>,
}

impl PeerContacts {
    /// Records that an RPC to `target` started at `at`.
    pub fn record_sent(&self, target: NodeId, at: Instant) {
        self.lock().entry(target).or_default().last_sent = Some(at);
    }

    /// Records a reply from `target` that arrived at `at` to a request of Raft term `term`, and
    /// clears its last error.
    pub fn record_reply(&self, target: NodeId, at: Instant, term: u64) {
        let mut peers = self.lock();
        let contact = peers.entry(target).or_default();
        contact.last_reply = Some(at);
        contact.last_reply_term = Some(term);
        contact.last_error = None;
    }

    /// Records that an RPC to `target` failed with `error`.
    pub fn record_failure(&self, target: NodeId, error: String) {
        self.lock().entry(target).or_default().last_error = Some(error);
    }

    /// Returns a copy of every peer's record.
    pub fn snapshot(&self) -> BTreeMap<NodeId, PeerContact> {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<NodeId, PeerContact>> {
        // The records stay valid after a panic elsewhere, because each update is one assignment.
        self.peers
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_millis(1000);

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    #[test]
    fn reply_is_recorded_per_target() {
        let contacts = PeerContacts::default();
        let start = Instant::now();
        contacts.record_sent(2, start);
        contacts.record_reply(2, start + ms(5), 1);
        contacts.record_sent(3, start);

        let peers = contacts.snapshot();
        assert_eq!(peers[&2].last_sent, Some(start));
        assert_eq!(peers[&2].last_reply, Some(start + ms(5)));
        assert_eq!(peers[&3].last_sent, Some(start));
        assert_eq!(peers[&3].last_reply, None);
        assert!(!peers.contains_key(&1));
    }

    #[test]
    fn clones_share_records() {
        let contacts = PeerContacts::default();
        let network_side = contacts.clone();
        network_side.record_reply(2, Instant::now(), 1);
        assert!(contacts.snapshot()[&2].last_reply.is_some());
    }

    #[test]
    fn failure_keeps_last_reply() {
        let contacts = PeerContacts::default();
        let start = Instant::now();
        contacts.record_reply(2, start, 1);
        contacts.record_failure(2, "Unavailable: connection refused".to_string());

        let contact = &contacts.snapshot()[&2];
        assert_eq!(contact.last_reply, Some(start));
        assert_eq!(
            contact.last_error.as_deref(),
            Some("Unavailable: connection refused")
        );
    }

    #[test]
    fn reply_clears_error() {
        let contacts = PeerContacts::default();
        let start = Instant::now();
        contacts.record_failure(2, "timed out".to_string());
        contacts.record_reply(2, start + ms(10), 1);
        assert_eq!(contacts.snapshot()[&2].last_error, None);
    }

    #[test]
    fn replied_within_includes_window_end() {
        let start = Instant::now();
        let contact = PeerContact {
            last_reply: Some(start),
            ..PeerContact::default()
        };
        assert!(contact.replied_within(start, WINDOW));
        assert!(contact.replied_within(start + WINDOW, WINDOW));
        assert!(!contact.replied_within(start + WINDOW + ms(1), WINDOW));
    }

    #[test]
    fn never_replied_is_not_within() {
        let start = Instant::now();
        let contact = PeerContact {
            last_sent: Some(start),
            ..PeerContact::default()
        };
        assert!(!contact.replied_within(start, WINDOW));
        assert!(contact.sent_within(start + ms(10), WINDOW));
        assert_eq!(contact.millis_since_reply(start), None);
    }

    #[test]
    fn reply_newer_than_now_counts_as_zero() {
        let start = Instant::now();
        let contact = PeerContact {
            last_reply: Some(start + ms(50)),
            ..PeerContact::default()
        };
        assert_eq!(contact.millis_since_reply(start), Some(0));
        assert!(contact.replied_within(start, WINDOW));
    }

    #[test]
    fn millis_since_reply_counts_from_reply() {
        let start = Instant::now();
        let contact = PeerContact {
            last_reply: Some(start),
            ..PeerContact::default()
        };
        assert_eq!(contact.millis_since_reply(start + ms(1234)), Some(1234));
    }
}
