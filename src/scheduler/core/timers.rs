//! The timer queue: deadlines ordered by instant, at most one per key.

use std::collections::{BTreeSet, HashMap};

use crate::model::{ExecutionId, JobId, Timestamp};

/// The purpose of a deadline.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimerKey {
    /// A job's next schedule instant.
    Job(JobId),
    /// A RETRYING execution's next attempt.
    Retry(ExecutionId),
    /// Intents whose proposal failed, to be proposed again.
    Requeue,
}

/// Deadlines ordered by `(instant, key)`, so the earliest is found without a scan and
/// simultaneous deadlines come out in a stable order.
#[derive(Debug, Default)]
pub struct TimerQueue {
    ordered: BTreeSet<(Timestamp, TimerKey)>,
    by_key: HashMap<TimerKey, Timestamp>,
}

impl TimerQueue {
    /// Sets `key`'s deadline to `at`, replacing any earlier setting of the same key.
    pub fn arm(&mut self, key: TimerKey, at: Timestamp) {
        self.disarm(&key);
        self.ordered.insert((at, key.clone()));
        self.by_key.insert(key, at);
    }

    /// Removes `key`'s deadline, if any.
    pub fn disarm(&mut self, key: &TimerKey) {
        if let Some(at) = self.by_key.remove(key) {
            self.ordered.remove(&(at, key.clone()));
        }
    }

    /// Returns the deadline set for `key`.
    pub fn deadline(&self, key: &TimerKey) -> Option<Timestamp> {
        self.by_key.get(key).copied()
    }

    /// Returns the earliest deadline.
    pub fn earliest(&self) -> Option<Timestamp> {
        self.ordered.first().map(|(at, _)| *at)
    }

    /// Removes and returns the earliest entry if it is due at `now`.
    pub fn pop_due(&mut self, now: Timestamp) -> Option<(Timestamp, TimerKey)> {
        let (at, _) = self.ordered.first()?;
        if *at > now {
            return None;
        }
        let (at, key) = self.ordered.pop_first()?;
        self.by_key.remove(&key);
        Some((at, key))
    }

    /// Removes every deadline.
    pub fn clear(&mut self) {
        self.ordered.clear();
        self.by_key.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str) -> TimerKey {
        TimerKey::Job(id.to_string())
    }

    #[test]
    fn queue_pops_due_in_order() {
        let mut queue = TimerQueue::default();
        queue.arm(job("b"), Timestamp(20));
        queue.arm(job("a"), Timestamp(20));
        queue.arm(job("c"), Timestamp(10));

        assert_eq!(
            queue.pop_due(Timestamp(20)),
            Some((Timestamp(10), job("c")))
        );
        assert_eq!(
            queue.pop_due(Timestamp(20)),
            Some((Timestamp(20), job("a")))
        );
        assert_eq!(
            queue.pop_due(Timestamp(20)),
            Some((Timestamp(20), job("b")))
        );
        assert_eq!(queue.pop_due(Timestamp(20)), None);
    }

    #[test]
    fn queue_keeps_future_entries() {
        let mut queue = TimerQueue::default();
        queue.arm(job("a"), Timestamp(30));

        assert_eq!(queue.pop_due(Timestamp(29)), None);
        assert_eq!(queue.earliest(), Some(Timestamp(30)));
    }

    #[test]
    fn rearm_replaces_deadline() {
        let mut queue = TimerQueue::default();
        queue.arm(job("a"), Timestamp(10));
        queue.arm(job("a"), Timestamp(50));

        assert_eq!(queue.earliest(), Some(Timestamp(50)));
        assert_eq!(queue.deadline(&job("a")), Some(Timestamp(50)));
        queue.disarm(&job("a"));
        assert_eq!(queue.earliest(), None);
    }
}
