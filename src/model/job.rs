//! Jobs: what a client defines (the spec) and what the cluster keeps about it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Timestamp;

/// A job id: a UUID string chosen by the node that proposes the job.
pub type JobId = String;

/// Whether the scheduler fires a job.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JobStatus {
    /// Fires on schedule.
    Active,
    /// Kept, with its history, but not fired until resumed.
    Paused,
    /// Kept but never fired on schedule; set by an operator or when a schedule has no future
    /// instant.
    Disabled,
}

impl JobStatus {
    /// The upper-case name used by the REST and gRPC APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Active => "ACTIVE",
            JobStatus::Paused => "PAUSED",
            JobStatus::Disabled => "DISABLED",
        }
    }

    /// Parses the upper-case API name, case-insensitively.
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_uppercase().as_str() {
            "ACTIVE" => Some(JobStatus::Active),
            "PAUSED" => Some(JobStatus::Paused),
            "DISABLED" => Some(JobStatus::Disabled),
            _ => None,
        }
    }
}

/// The kind of trigger, as the API names it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TriggerType {
    /// An HTTP request.
    Rest,
    /// A Kafka message.
    Kafka,
}

impl TriggerType {
    /// The upper-case name used by the APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerType::Rest => "REST",
            TriggerType::Kafka => "KAFKA",
        }
    }
}

/// An HTTP request sent when a job fires.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct HttpTrigger {
    /// Absolute `http` or `https` URL.
    pub url: String,
    /// Upper-case HTTP method.
    pub method: String,
    /// Extra request headers; raftcron's own `X-Raftcron-*` and `Idempotency-Key` headers win.
    pub headers: BTreeMap<String, String>,
    /// Request body, sent as is.
    pub body: Option<String>,
    /// Time allowed for the whole request, in milliseconds.
    pub timeout_ms: u64,
}

/// What a job does when it fires.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// Sends an HTTP request.
    Http(HttpTrigger),
}

impl Trigger {
    /// The API name of this trigger's kind.
    pub fn trigger_type(&self) -> TriggerType {
        match self {
            Trigger::Http(_) => TriggerType::Rest,
        }
    }

    /// The time allowed for one attempt, in milliseconds.
    pub fn timeout_ms(&self) -> u64 {
        match self {
            Trigger::Http(http) => http.timeout_ms,
        }
    }
}

/// How the delay between attempts grows.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backoff {
    /// The same interval before every retry.
    Fixed,
    /// `interval × 2^(attempt-1)` before the retry that follows attempt `attempt`.
    Exponential,
}

impl Backoff {
    /// The lower-case name used by the APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            Backoff::Fixed => "fixed",
            Backoff::Exponential => "exponential",
        }
    }
}

/// How a failed attempt is retried.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryStrategy {
    /// Maximum number of attempts, the first one included; 0 and 1 both mean no retry.
    pub attempts: u32,
    /// How the delay grows between attempts.
    pub backoff: Backoff,
    /// Base delay between attempts, in milliseconds.
    pub interval_ms: u64,
}

/// Upper bound of one computed retry delay: one day, in milliseconds.
const MAX_RETRY_DELAY_MS: u64 = 86_400_000;

impl RetryStrategy {
    /// A strategy that never retries.
    pub fn none() -> Self {
        RetryStrategy {
            attempts: 1,
            backoff: Backoff::Fixed,
            interval_ms: 0,
        }
    }

    /// Returns whether another attempt is allowed after `attempt` attempts were made.
    pub fn allows_after(&self, attempt: u32) -> bool {
        attempt < self.attempts
    }

    /// The delay before the retry that follows attempt number `attempt` (1-based), in
    /// milliseconds, capped at one day.
    pub fn delay_after(&self, attempt: u32) -> u64 {
        let delay = match self.backoff {
            Backoff::Fixed => self.interval_ms,
            Backoff::Exponential => {
                let shift = attempt.saturating_sub(1).min(63);
                self.interval_ms.saturating_mul(1u64 << shift)
            }
        };
        delay.min(MAX_RETRY_DELAY_MS)
    }
}

/// The client-defined part of a job, already validated.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct JobSpec {
    /// Human-readable name; not unique.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Cron expression, macro (`@daily`) or `@every <duration>`.
    pub schedule: String,
    /// IANA time zone the schedule is read in.
    pub time_zone: String,
    /// What to do when the job fires.
    pub trigger: Trigger,
    /// How failed attempts are retried.
    pub retry: RetryStrategy,
    /// Labels for filtering lists.
    pub tags: Vec<String>,
}

/// A job as the cluster stores it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// Unique id, chosen by the proposer.
    pub id: JobId,
    /// The client-defined part.
    pub spec: JobSpec,
    /// Whether the scheduler fires it.
    pub status: JobStatus,
    /// The instant an `@every` schedule counts from: creation, or the last resume or schedule
    /// change.
    pub anchor: Timestamp,
    /// Scheduled instant of the latest fire decision, if any.
    pub last_execution_time: Option<Timestamp>,
    /// Next scheduled instant, kept current by the state machine.
    pub next_execution_time: Option<Timestamp>,
    /// When the job was created.
    pub created_at: Timestamp,
    /// When the job was last changed by a client.
    pub updated_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strategy(backoff: Backoff) -> RetryStrategy {
        RetryStrategy {
            attempts: 4,
            backoff,
            interval_ms: 1000,
        }
    }

    #[test]
    fn exponential_delay_doubles() {
        let retry = strategy(Backoff::Exponential);
        assert_eq!(retry.delay_after(1), 1000);
        assert_eq!(retry.delay_after(2), 2000);
        assert_eq!(retry.delay_after(3), 4000);
    }

    #[test]
    fn fixed_delay_stays_constant() {
        let retry = strategy(Backoff::Fixed);
        assert_eq!(retry.delay_after(1), 1000);
        assert_eq!(retry.delay_after(3), 1000);
    }

    #[test]
    fn delay_is_capped_at_one_day() {
        let retry = strategy(Backoff::Exponential);
        assert_eq!(retry.delay_after(200), MAX_RETRY_DELAY_MS);
    }

    #[test]
    fn attempts_limit_retries() {
        let retry = strategy(Backoff::Fixed);
        assert!(retry.allows_after(3));
        assert!(!retry.allows_after(4));
        assert!(!RetryStrategy::none().allows_after(1));
    }
}
