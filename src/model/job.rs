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
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct RetryStrategy {
    /// Maximum number of attempts, the first one included; 1 means no retry. Input of 0 is
    /// stored as 1.
    pub attempts: u32,
    /// How the delay grows between attempts.
    pub backoff: Backoff,
    /// Base delay between attempts, in milliseconds.
    pub interval_ms: u64,
    /// Upper bound of one delay before jitter, in milliseconds.
    pub max_interval_ms: Option<u64>,
    /// Largest random extra delay, in thousandths of the delay (0 to 1000).
    pub jitter_permille: u16,
    /// HTTP status codes worth another attempt; `None` means every 5xx and 429.
    pub retry_on: Option<Vec<u16>>,
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
            max_interval_ms: None,
            jitter_permille: 0,
            retry_on: None,
        }
    }

    /// Returns whether a response with `status_code` is worth another attempt.
    pub fn retries_status(&self, status_code: u16) -> bool {
        match &self.retry_on {
            Some(codes) => codes.contains(&status_code),
            None => status_code >= 500 || status_code == 429,
        }
    }

    /// The delay before the retry that follows attempt `attempt`, with jitter: `sample` is a
    /// random number from 0 to 1000 drawn by the proposer, so applying stays deterministic.
    pub fn delay_with_jitter(&self, attempt: u32, sample: u16) -> u64 {
        let delay = self.delay_after(attempt);
        let permille = u64::from(self.jitter_permille.min(1000));
        let sample = u64::from(sample.min(1000));
        let jitter = u128::from(delay) * u128::from(permille) * u128::from(sample) / 1_000_000;
        delay.saturating_add(u64::try_from(jitter).unwrap_or(u64::MAX))
    }

    /// Returns whether another attempt is allowed after `attempt` attempts were made.
    pub fn allows_after(&self, attempt: u32) -> bool {
        attempt < self.attempts
    }

    /// The delay before the retry that follows attempt number `attempt` (1-based), in
    /// milliseconds, before jitter: capped at `max_interval_ms` and at one day.
    pub fn delay_after(&self, attempt: u32) -> u64 {
        let delay = match self.backoff {
            Backoff::Fixed => self.interval_ms,
            Backoff::Exponential => {
                let shift = attempt.saturating_sub(1).min(63);
                self.interval_ms.saturating_mul(1u64 << shift)
            }
        };
        let cap = self.max_interval_ms.unwrap_or(MAX_RETRY_DELAY_MS);
        delay.min(cap).min(MAX_RETRY_DELAY_MS)
    }
}

/// What happens to instants missed while no leader could fire them.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MisfirePolicy {
    /// One run for the latest missed instant, then the normal cadence.
    FireOnce,
    /// Every missed instant, oldest first, at most `max_catch_up` of them.
    FireAll,
    /// No run for missed instants.
    Skip,
}

impl MisfirePolicy {
    /// The upper-case name used by the APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            MisfirePolicy::FireOnce => "FIRE_ONCE",
            MisfirePolicy::FireAll => "FIRE_ALL",
            MisfirePolicy::Skip => "SKIP",
        }
    }
}

/// What happens when an instant comes while a run of the same job is still open.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConcurrencyPolicy {
    /// Runs overlap.
    Allow,
    /// The new instant is skipped and counted while a run is RUNNING or RETRYING.
    Forbid,
    /// The open run is ended as FAILED ("replaced"), then the new one starts.
    Replace,
}

impl ConcurrencyPolicy {
    /// The upper-case name used by the APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            ConcurrencyPolicy::Allow => "ALLOW",
            ConcurrencyPolicy::Forbid => "FORBID",
            ConcurrencyPolicy::Replace => "REPLACE",
        }
    }
}

/// How much finished execution history a job keeps.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Finished executions kept, newest first.
    pub max_count: u32,
    /// Finished executions older than this (by scheduled time) are removed, in milliseconds.
    pub max_age_ms: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            max_count: 100,
            max_age_ms: 7 * 86_400_000,
        }
    }
}

/// Per-job rules for missed instants, overlapping runs and history.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobPolicies {
    pub misfire: MisfirePolicy,
    /// Most missed instants fired under FIRE_ALL.
    pub max_catch_up: u32,
    /// Instants older than this when they could fire are dropped, in milliseconds.
    pub starting_deadline_ms: Option<u64>,
    pub concurrency: ConcurrencyPolicy,
    pub retention: Retention,
}

impl Default for JobPolicies {
    fn default() -> Self {
        JobPolicies {
            misfire: MisfirePolicy::FireOnce,
            max_catch_up: 10,
            starting_deadline_ms: None,
            concurrency: ConcurrencyPolicy::Allow,
            retention: Retention::default(),
        }
    }
}

/// Counters of instants that did not run on time.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JobStats {
    /// Instants not run: skipped by the misfire policy, the starting deadline or FORBID.
    pub skipped_instants: u64,
    /// Missed instants run late by the misfire policy.
    pub caught_up_instants: u64,
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
    /// Rules for missed instants, overlapping runs and history.
    pub policies: JobPolicies,
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
    /// Instants skipped or run late.
    pub stats: JobStats,
    /// Log index of the entry that last created, updated, paused or resumed the job. Schedule
    /// intents carry the revision they were computed from, so one computed before a change is
    /// rejected after it.
    pub revision: u64,
    /// Latest scheduled instant of a SCHEDULE execution that retention removed. A schedule
    /// fire at or before it whose execution does not exist is rejected, because its decision
    /// may have been made and pruned. Not part of the API.
    pub pruned_through: Option<Timestamp>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strategy(backoff: Backoff) -> RetryStrategy {
        RetryStrategy {
            attempts: 4,
            backoff,
            interval_ms: 1000,
            max_interval_ms: None,
            jitter_permille: 0,
            retry_on: None,
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
    fn max_interval_caps_delay() {
        let mut retry = strategy(Backoff::Exponential);
        retry.max_interval_ms = Some(3000);
        assert_eq!(retry.delay_after(2), 2000);
        assert_eq!(retry.delay_after(3), 3000);
        assert_eq!(retry.delay_after(9), 3000);
    }

    #[test]
    fn jitter_adds_sampled_share() {
        let mut retry = strategy(Backoff::Fixed);
        retry.jitter_permille = 500;
        assert_eq!(retry.delay_with_jitter(1, 0), 1000);
        assert_eq!(retry.delay_with_jitter(1, 1000), 1500);
        assert_eq!(retry.delay_with_jitter(1, 500), 1250);
    }

    #[test]
    fn default_retry_statuses() {
        let mut retry = strategy(Backoff::Fixed);
        assert!(retry.retries_status(503));
        assert!(retry.retries_status(429));
        assert!(!retry.retries_status(404));
        retry.retry_on = Some(vec![409]);
        assert!(retry.retries_status(409));
        assert!(!retry.retries_status(503));
    }

    #[test]
    fn attempts_limit_retries() {
        let retry = strategy(Backoff::Fixed);
        assert!(retry.allows_after(3));
        assert!(!retry.allows_after(4));
        assert!(!RetryStrategy::none().allows_after(1));
    }
}
