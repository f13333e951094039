//! The checker: reads what the receivers recorded, the operation history and the final state
//! of the cluster, and counts violations of the firing and API guarantees.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use super::cluster::MISFIRE_THRESHOLD_MS;
use super::faults::FaultRecord;
use super::linearizability::{self, JobState, Operation, Verdict};
use super::workload::{Observed, OpKind, OpRecord, Outcome, ScheduleJob};
use crate::raft_types::NodeId;
use crate::receiver::RecordedRequest;

/// An instant this much older than the end of a job's active period may legitimately have
/// neither fired nor been skipped: a pause that commits while a late fire is still pending
/// wins. Instants closer to the end are not expected.
const END_MARGIN_MS: i64 = MISFIRE_THRESHOLD_MS as i64 + 1000;
/// The end margin of a client job's active period when no fault was active near it: without
/// faults a fire is decided well within a second of its instant.
const QUIET_END_MARGIN_MS: i64 = 1000;
/// Time after a fault heals during which fires may still be late.
const FAULT_TAIL_MS: i64 = 3000;
/// Visited states allowed per job in the linearizability search.
const SEARCH_BUDGET: usize = 2_000_000;

/// Everything the checker reads.
pub struct Observations {
    pub schedule_jobs: Vec<ScheduleJob>,
    /// When the runner invoked the final pause of each job, wall clock in ms.
    pub final_pause_ms: BTreeMap<String, i64>,
    /// Final job bodies by id, read after the cluster settled.
    pub jobs: BTreeMap<String, Value>,
    /// Final executions by job id.
    pub executions: BTreeMap<String, Vec<Value>>,
    /// Requests from every receiver, in arrival order.
    pub requests: Vec<RecordedRequest>,
    /// Client operations and the runner's final pauses.
    pub history: Vec<OpRecord>,
    pub faults: Vec<FaultRecord>,
    pub crashes: Vec<(NodeId, String)>,
    /// Applied index and digest by node, read after the cluster settled, or `None` for a
    /// node that did not respond.
    pub node_states: BTreeMap<NodeId, Option<(u64, String)>>,
    /// Wall clock, in ms, at the run's monotonic zero.
    pub started_wall_ms: i64,
    /// When the final state was read, in µs since the start.
    pub final_read_us: u64,
}

/// One line of the verdict table.
pub struct Row {
    pub check: &'static str,
    pub violations: u64,
    pub detail: String,
}

/// Failover figures, in milliseconds.
pub struct Failover {
    /// Fault kind and time to the next fire.
    pub samples: Vec<(String, i64)>,
    pub without_fire: usize,
    /// The slowest faults, described for the report.
    pub slowest: Vec<String>,
}

/// The checker's findings.
pub struct Report {
    pub rows: Vec<Row>,
    pub failover: Failover,
    /// Examples of violations, a few per check.
    pub examples: Vec<String>,
    pub fires: usize,
    pub requests: usize,
}

impl Report {
    pub fn violations(&self) -> u64 {
        self.rows.iter().map(|row| row.violations).sum()
    }
}

fn parse_ms(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|at| at.timestamp_millis())
}

fn header_u64(request: &RecordedRequest, name: &str) -> Option<u64> {
    request.header(name)?.parse().ok()
}

/// A request reduced to the headers the checks read.
struct Sent {
    key: String,
    job_id: String,
    execution_id: String,
    scheduled_ms: i64,
    attempt: u64,
    token: u64,
    node: u64,
    received_ms: i64,
}

fn sent_requests(requests: &[RecordedRequest], examples: &mut Vec<String>) -> (Vec<Sent>, u64) {
    let mut sent = Vec::new();
    let mut malformed = 0;
    for request in requests {
        let parsed = (|| {
            Some(Sent {
                key: request.header("idempotency-key")?.to_string(),
                job_id: request.header("x-raftcron-job-id")?.to_string(),
                execution_id: request.header("x-raftcron-execution-id")?.to_string(),
                scheduled_ms: parse_ms(request.header("x-raftcron-scheduled-time")?)?,
                attempt: header_u64(request, "x-raftcron-attempt")?,
                token: header_u64(request, "x-raftcron-fencing-token")?,
                node: header_u64(request, "x-raftcron-node-id")?,
                received_ms: request.received_at_ms,
            })
        })();
        match parsed {
            Some(parsed) => sent.push(parsed),
            None => {
                malformed += 1;
                push_example(
                    examples,
                    format!("request without raftcron headers: {:?}", request.headers),
                );
            }
        }
    }
    (sent, malformed)
}

fn push_example(examples: &mut Vec<String>, example: String) {
    if examples.len() < 40 {
        examples.push(example);
    }
}

/// An execution reduced to the fields the checks read.
struct Decided {
    id: String,
    job_id: String,
    scheduled_ms: i64,
    cause: String,
    attempt_count: u64,
    token: u64,
    redispatches: u64,
    /// When the leader decided the fire (the execution's `startTime`), wall clock in ms.
    decided_ms: i64,
}

fn decided(executions: &BTreeMap<String, Vec<Value>>) -> Vec<Decided> {
    executions
        .values()
        .flatten()
        .filter_map(|execution| {
            Some(Decided {
                id: execution["id"].as_str()?.to_string(),
                job_id: execution["jobId"].as_str()?.to_string(),
                scheduled_ms: parse_ms(execution["scheduledTime"].as_str()?)?,
                cause: execution["cause"].as_str()?.to_string(),
                attempt_count: execution["attemptCount"].as_u64()?,
                token: execution["fencingToken"].as_u64()?,
                redispatches: execution["redispatches"].as_u64()?,
                decided_ms: parse_ms(execution["startTime"].as_str()?)?,
            })
        })
        .collect()
}

/// Runs every check.
pub fn check(observations: &Observations) -> Report {
    let mut examples = Vec::new();
    let (sent, malformed) = sent_requests(&observations.requests, &mut examples);
    let decided = decided(&observations.executions);
    let by_id: HashMap<&str, &Decided> = decided.iter().map(|d| (d.id.as_str(), d)).collect();

    let mut rows = vec![Row {
        check: "requests carry every raftcron header",
        violations: malformed,
        detail: format!("{} requests", observations.requests.len()),
    }];
    rows.extend(check_schedule_instants(
        observations,
        &decided,
        &mut examples,
    ));
    rows.push(check_client_instants(observations, &decided, &mut examples));
    rows.push(check_duplicate_decisions(&decided, &sent, &mut examples));
    rows.push(check_idempotency_keys(&sent, &by_id, &mut examples));
    rows.push(check_stale_senders(&sent, &mut examples));
    rows.push(check_requests_match_state(
        observations,
        &sent,
        &by_id,
        &mut examples,
    ));
    rows.push(check_lost_writes(observations, &mut examples));
    rows.push(check_linearizability(observations, &mut examples));
    rows.push(check_state_agreement(observations, &mut examples));
    rows.push(Row {
        check: "no node exited on its own",
        violations: observations.crashes.len() as u64,
        detail: format!("{:?}", observations.crashes),
    });
    let fires = decided.iter().filter(|d| d.cause == "SCHEDULE").count();
    Report {
        rows,
        failover: failover(observations, &sent),
        examples,
        fires,
        requests: sent.len(),
    }
}

/// Schedule instants of `schedule` in `(after_ms, until_ms]`.
fn instants(schedule: &str, after_ms: i64, until_ms: i64) -> Vec<i64> {
    let mut instants = Vec::new();
    let Some(mut from) = chrono::DateTime::from_timestamp_millis(after_ms) else {
        return instants;
    };
    loop {
        let Ok(batch) = crate::schedule::preview(schedule, "UTC", from, 1000) else {
            return instants;
        };
        for instant in &batch {
            let ms = instant.timestamp_millis();
            if ms > until_ms {
                return instants;
            }
            instants.push(ms);
        }
        match batch.last() {
            Some(last) => from = *last,
            None => return instants,
        }
    }
}

fn schedule_fires(decided: &[Decided], job_id: &str) -> BTreeMap<i64, usize> {
    let mut fires = BTreeMap::new();
    for execution in decided
        .iter()
        .filter(|d| d.job_id == job_id && d.cause == "SCHEDULE")
    {
        *fires.entry(execution.scheduled_ms).or_default() += 1;
    }
    fires
}

/// Returns when the last decision of a SCHEDULE execution of `job_id` at `instant` was made
/// (its `startTime`, wall clock in ms).
fn latest_decision_ms(decided: &[Decided], job_id: &str, instant: i64) -> i64 {
    decided
        .iter()
        .filter(|d| d.job_id == job_id && d.cause == "SCHEDULE" && d.scheduled_ms == instant)
        .map(|d| d.decided_ms)
        .max()
        .unwrap_or(i64::MIN)
}

/// Returns when the response of the last successful pause of `job_id` in the history came
/// back, wall clock in ms.
fn pause_acknowledged_ms(observations: &Observations, job_id: &str) -> Option<i64> {
    observations
        .history
        .iter()
        .filter(|record| record.key.as_deref() == Some(job_id))
        .filter(|record| record.kind == OpKind::Pause && matches!(record.outcome, Outcome::Ok(_)))
        .max_by_key(|record| record.invoke_us)
        .map(|record| wall_ms(observations, record.complete_us))
}

fn skipped_instants(job: Option<&Value>) -> u64 {
    job.and_then(|job| job["skippedInstants"].as_u64())
        .unwrap_or(0)
}

/// Expected instants of the schedule jobs, from creation to the final pause, and fires that
/// no schedule or active period explains.
fn check_schedule_instants(
    observations: &Observations,
    decided: &[Decided],
    examples: &mut Vec<String>,
) -> Vec<Row> {
    let (mut expected, mut fired, mut skipped, mut missed) = (0u64, 0u64, 0u64, 0u64);
    let (mut off_schedule, mut after_pause, mut in_doubt) = (0u64, 0u64, 0u64);
    for job in &observations.schedule_jobs {
        let body = observations.jobs.get(&job.id);
        let Some(created_ms) = body
            .and_then(|b| b["createdAt"].as_str())
            .and_then(parse_ms)
        else {
            missed += 1;
            push_example(
                examples,
                format!("schedule job {} is missing at the end", job.id),
            );
            continue;
        };
        let paused_ms = body
            .and_then(|b| b["updatedAt"].as_str())
            .and_then(parse_ms)
            .unwrap_or(i64::MAX);
        let pause_invoked_ms = observations
            .final_pause_ms
            .get(&job.id)
            .copied()
            .unwrap_or(paused_ms);
        let acknowledged_ms = pause_acknowledged_ms(observations, &job.id).unwrap_or(paused_ms);
        let fires = schedule_fires(decided, &job.id);
        let window = instants(&job.schedule, created_ms, pause_invoked_ms - END_MARGIN_MS);
        let all: BTreeSet<i64> = instants(&job.schedule, created_ms - 1000, paused_ms)
            .into_iter()
            .collect();

        let without = window.iter().filter(|at| !fires.contains_key(at)).count() as u64;
        let job_skipped = skipped_instants(body);
        let job_missed = without.saturating_sub(job_skipped);
        expected += window.len() as u64;
        fired += window.len() as u64 - without;
        skipped += job_skipped;
        missed += job_missed;
        if job_missed > 0 {
            push_example(
                examples,
                format!(
                    "job {} ({} {} {} {} target): {job_missed} instants neither fired nor skipped",
                    job.id, job.schedule, job.misfire_policy, job.concurrency_policy, job.target
                ),
            );
        }
        for at in fires.keys() {
            if *at > paused_ms {
                // `updatedAt` is when the pause was proposed, and a fire committed before the
                // pause in the log is valid. Only a fire decided after the pause's response
                // came back is certainly later.
                let decided_ms = latest_decision_ms(decided, &job.id, *at);
                if decided_ms <= acknowledged_ms {
                    in_doubt += 1;
                    continue;
                }
                after_pause += 1;
                push_example(
                    examples,
                    format!(
                        "job {} fired instant {at}, decided at {decided_ms}, after its pause \
                         (proposed at {paused_ms}) was acknowledged at {acknowledged_ms}",
                        job.id
                    ),
                );
            } else if !all.contains(at) {
                off_schedule += 1;
                push_example(
                    examples,
                    format!(
                        "job {} fired {at}, not an instant of {}",
                        job.id, job.schedule
                    ),
                );
            }
        }
    }
    vec![
        Row {
            check: "schedule jobs: no instant missed beyond the misfire policy",
            violations: missed,
            detail: format!(
                "{} jobs, {expected} instants expected, {fired} fired, {skipped} skipped by policy",
                observations.schedule_jobs.len()
            ),
        },
        Row {
            check: "schedule jobs: fires only at schedule instants while active",
            violations: off_schedule + after_pause,
            detail: format!(
                "{off_schedule} off-schedule, {after_pause} after the final pause, {in_doubt} \
                 decided while the pause was in flight"
            ),
        },
    ]
}

fn wall_ms(observations: &Observations, micros: u64) -> i64 {
    observations.started_wall_ms + i64::try_from(micros / 1000).unwrap_or(i64::MAX)
}

/// Resolves the job id of every record: unknown creates that took effect are found by the
/// unique name they gave the job, in the final state or in a client's lookup of the name.
fn keyed_history(observations: &Observations) -> BTreeMap<String, Vec<OpRecord>> {
    let looked_up = observations.history.iter().filter_map(|record| {
        let name = record.create_name.as_deref()?;
        Some((name, record.key.as_deref()?))
    });
    let by_name: HashMap<&str, &str> = observations
        .jobs
        .iter()
        .filter_map(|(id, job)| Some((job["name"].as_str()?, id.as_str())))
        .chain(looked_up)
        .collect();
    let mut keyed: BTreeMap<String, Vec<OpRecord>> = BTreeMap::new();
    for record in &observations.history {
        let key = record.key.clone().or_else(|| {
            let name = record.create_name.as_deref()?;
            by_name.get(name).map(|id| id.to_string())
        });
        if let Some(key) = key {
            keyed.entry(key).or_default().push(record.clone());
        }
    }
    for records in keyed.values_mut() {
        records.sort_by_key(|record| record.invoke_us);
    }
    keyed
}

/// Periods in which a client job was certainly active: from the completion of a successful
/// create, resume or update of an active job to the invoke of the next change. The first
/// unknown outcome ends the certainty for good, since it may take effect at any later time.
// NOTE: under frequent faults this leaves few instants (25 in a 240 s run), so the schedule
// jobs carry the instant checks. Resuming certainty after an unknown outcome needs a bound on
// when a timed-out write can still apply.
fn active_periods(observations: &Observations, records: &[OpRecord]) -> Vec<(i64, i64)> {
    let mut periods = Vec::new();
    let mut since: Option<i64> = None;
    for record in records {
        if record.kind != OpKind::Get
            && let Some(start) = since.take()
        {
            periods.push((start, wall_ms(observations, record.invoke_us)));
        }
        if matches!(record.outcome, Outcome::Unknown(_)) {
            break;
        }
        let activates = match (&record.kind, &record.outcome) {
            (OpKind::Create | OpKind::Resume, Outcome::Ok(_)) => true,
            (OpKind::Update(_), Outcome::Ok(Some(observed))) => observed.active,
            _ => false,
        };
        if activates {
            since = Some(wall_ms(observations, record.complete_us));
        }
    }
    periods
}

/// Expected instants of the client jobs in their certainly active periods.
fn check_client_instants(
    observations: &Observations,
    decided: &[Decided],
    examples: &mut Vec<String>,
) -> Row {
    let (mut expected, mut missed, mut jobs_checked) = (0u64, 0u64, 0u64);
    let mut last_decision: HashMap<i64, i64> = HashMap::new();
    for execution in decided.iter().filter(|d| d.cause == "SCHEDULE") {
        let latest = last_decision
            .entry(execution.scheduled_ms)
            .or_insert(i64::MIN);
        *latest = (*latest).max(execution.decided_ms);
    }
    let schedule_jobs: BTreeSet<&str> = observations
        .schedule_jobs
        .iter()
        .map(|job| job.id.as_str())
        .collect();
    for (key, records) in keyed_history(observations) {
        // Schedule jobs have their own check, over their whole life.
        if schedule_jobs.contains(key.as_str()) {
            continue;
        }
        let Some(body) = observations.jobs.get(&key) else {
            continue;
        };
        let Some(schedule) = body["schedule"].as_str() else {
            continue;
        };
        let fires = schedule_fires(decided, &key);
        let mut unfired = Vec::new();
        for (start, end) in active_periods(observations, &records) {
            for at in instants(schedule, start, end - QUIET_END_MARGIN_MS) {
                if end - at < END_MARGIN_MS && fault_near(observations, at, end) {
                    continue;
                }
                let fired = fires.contains_key(&at);
                // A scheduler running late may decide the instant after the change that ends
                // the period commits. The instant is expected only when the leader decided it
                // for other jobs before the change was sent, since one tick decides every
                // job due at that instant.
                let decided_before_end = last_decision
                    .get(&at)
                    .is_some_and(|decided_ms| *decided_ms < end);
                if !fired && !decided_before_end {
                    continue;
                }
                expected += 1;
                if !fired {
                    unfired.push(at);
                }
            }
        }
        jobs_checked += 1;
        let without = unfired.len() as u64;
        let job_missed = without.saturating_sub(skipped_instants(Some(body)));
        missed += job_missed;
        if job_missed > 0 {
            push_example(
                examples,
                format!(
                    "client job {key}: {job_missed} instants of certainly active periods neither fired nor skipped; unfired instants (ms): {unfired:?}"
                ),
            );
        }
    }
    Row {
        check: "client jobs: no instant missed while certainly active",
        violations: missed,
        detail: format!("{jobs_checked} jobs present at the end, {expected} instants expected"),
    }
}

/// Returns whether a fault was active, or had healed less than [`FAULT_TAIL_MS`] before, at
/// some time in `[from_ms, to_ms]`.
fn fault_near(observations: &Observations, from_ms: i64, to_ms: i64) -> bool {
    observations
        .faults
        .iter()
        .any(|fault| fault.started_ms <= to_ms && fault.healed_ms + FAULT_TAIL_MS >= from_ms)
}

/// Two execution ids for one (job, instant, cause), in the state or in the requests.
fn check_duplicate_decisions(
    decided: &[Decided],
    sent: &[Sent],
    examples: &mut Vec<String>,
) -> Row {
    let mut in_state: BTreeMap<(&str, i64, &str), BTreeSet<&str>> = BTreeMap::new();
    for execution in decided {
        let slot = (
            execution.job_id.as_str(),
            execution.scheduled_ms,
            execution.cause.as_str(),
        );
        in_state.entry(slot).or_default().insert(&execution.id);
    }
    let mut in_requests: BTreeMap<(&str, i64), BTreeSet<&str>> = BTreeMap::new();
    for request in sent {
        let slot = (request.job_id.as_str(), request.scheduled_ms);
        in_requests
            .entry(slot)
            .or_default()
            .insert(&request.execution_id);
    }
    let state_duplicates = in_state.values().filter(|ids| ids.len() > 1).count() as u64;
    let request_duplicates = in_requests.values().filter(|ids| ids.len() > 1).count() as u64;
    for ((job, at), ids) in in_requests.iter().filter(|(_, ids)| ids.len() > 1) {
        push_example(
            examples,
            format!("job {job} instant {at} sent under execution ids {ids:?}"),
        );
    }
    Row {
        check: "one fire decision per (job, instant)",
        violations: state_duplicates + request_duplicates,
        detail: format!(
            "{} decisions; {state_duplicates} doubled in the state, {request_duplicates} in the requests",
            decided.len()
        ),
    }
}

/// Requests that repeat an Idempotency-Key: a higher attempt number is a retry or an in-doubt
/// re-send; the same attempt number twice is a violation.
fn check_idempotency_keys(
    sent: &[Sent],
    by_id: &HashMap<&str, &Decided>,
    examples: &mut Vec<String>,
) -> Row {
    let mut by_key: BTreeMap<&str, Vec<&Sent>> = BTreeMap::new();
    for request in sent {
        by_key.entry(&request.key).or_default().push(request);
    }
    let (mut retries, mut in_doubt, mut same_attempt, mut keys) = (0u64, 0u64, 0u64, 0u64);
    for (key, requests) in by_key.iter().filter(|(_, requests)| requests.len() > 1) {
        keys += 1;
        let redispatches = by_id.get(key).map_or(0, |d| d.redispatches);
        let mut attempts = BTreeSet::new();
        let mut resends = 0u64;
        for request in requests {
            if !attempts.insert(request.attempt) {
                same_attempt += 1;
                push_example(
                    examples,
                    format!(
                        "key {key}: attempt {} sent again by node {} (token {})",
                        request.attempt, request.node, request.token
                    ),
                );
            } else if attempts.len() > 1 {
                resends += 1;
            }
        }
        let doubt = resends.min(redispatches);
        in_doubt += doubt;
        retries += resends - doubt;
    }
    Row {
        check: "repeated Idempotency-Key only with a higher attempt",
        violations: same_attempt,
        detail: format!(
            "{keys} keys repeated: {retries} retries, {in_doubt} in-doubt re-sends, {same_attempt} same attempt again"
        ),
    }
}

/// Requests that arrive after another node sent a higher fencing token: a node sending after
/// a later leader had sent.
fn check_stale_senders(sent: &[Sent], examples: &mut Vec<String>) -> Row {
    let mut ordered: Vec<&Sent> = sent.iter().collect();
    ordered.sort_by_key(|request| request.received_ms);
    // Highest token per node over requests received strictly earlier than the current one.
    let mut earlier: BTreeMap<u64, u64> = BTreeMap::new();
    let mut current_ms: Option<i64> = None;
    let mut same_ms: Vec<&Sent> = Vec::new();
    let mut stale = 0u64;
    for request in ordered {
        if current_ms != Some(request.received_ms) {
            for done in same_ms.drain(..) {
                let max = earlier.entry(done.node).or_default();
                *max = (*max).max(done.token);
            }
            current_ms = Some(request.received_ms);
        }
        let newer = earlier
            .iter()
            .find(|(node, token)| **node != request.node && **token > request.token);
        if let Some((node, token)) = newer {
            stale += 1;
            push_example(
                examples,
                format!(
                    "node {} sent token {} (execution {}) after node {node} had sent token {token}",
                    request.node, request.token, request.execution_id
                ),
            );
        }
        same_ms.push(request);
    }
    let senders: BTreeSet<u64> = sent.iter().map(|request| request.node).collect();
    Row {
        check: "no request from a node after a later leader sent",
        violations: stale,
        detail: format!("{} senders by X-Raftcron-Node-Id", senders.len()),
    }
}

/// Every request must belong to an attempt the state machine committed, with that attempt's
/// fencing token. Requests of jobs deleted by the end are not checked, since deleting a job
/// removes its executions.
fn check_requests_match_state(
    observations: &Observations,
    sent: &[Sent],
    by_id: &HashMap<&str, &Decided>,
    examples: &mut Vec<String>,
) -> Row {
    let (mut uncommitted, mut wrong_token, mut checked) = (0u64, 0u64, 0u64);
    for request in sent
        .iter()
        .filter(|r| observations.jobs.contains_key(&r.job_id))
    {
        checked += 1;
        let Some(execution) = by_id.get(request.execution_id.as_str()) else {
            uncommitted += 1;
            push_example(
                examples,
                format!(
                    "node {} sent execution {} (job {}, instant {}) that the state machine never accepted",
                    request.node, request.execution_id, request.job_id, request.scheduled_ms
                ),
            );
            continue;
        };
        if request.attempt > execution.attempt_count {
            uncommitted += 1;
            push_example(
                examples,
                format!(
                    "node {} sent attempt {} of execution {}, which has {} committed attempts",
                    request.node, request.attempt, request.execution_id, execution.attempt_count
                ),
            );
        } else if (request.attempt == execution.attempt_count && request.token != execution.token)
            || (request.attempt < execution.attempt_count && request.token >= execution.token)
        {
            wrong_token += 1;
            push_example(
                examples,
                format!(
                    "node {} sent attempt {} of execution {} with token {}; the committed attempt {} has token {}",
                    request.node,
                    request.attempt,
                    request.execution_id,
                    request.token,
                    execution.attempt_count,
                    execution.token
                ),
            );
        }
    }
    Row {
        check: "every request is a committed attempt with its token",
        violations: uncommitted + wrong_token,
        detail: format!(
            "{checked} requests checked: {uncommitted} not committed, {wrong_token} wrong token"
        ),
    }
}

/// Returns the final state of a job as the checker read it.
fn final_state(observations: &Observations, key: &str) -> JobState {
    match observations.jobs.get(key).and_then(Observed::from_job) {
        Some(observed) => JobState::Present(observed),
        None => JobState::Absent,
    }
}

/// Acknowledged creates and updates that the final state does not show, when no later
/// operation could have changed them.
fn check_lost_writes(observations: &Observations, examples: &mut Vec<String>) -> Row {
    let (mut acknowledged, mut lost) = (0u64, 0u64);
    for (key, records) in keyed_history(observations) {
        let last_write = records.iter().rposition(|record| {
            matches!(record.kind, OpKind::Create | OpKind::Update(_))
                && matches!(record.outcome, Outcome::Ok(_))
        });
        let Some(position) = last_write else {
            continue;
        };
        acknowledged += 1;
        let write = &records[position];
        let later_change = records[position + 1..].iter().any(|record| {
            matches!(
                record.kind,
                OpKind::Delete | OpKind::Update(_) | OpKind::Create
            )
        });
        if later_change {
            continue;
        }
        let expected_version = match write.kind {
            OpKind::Update(version) => version,
            _ => 0,
        };
        let visible = match final_state(observations, &key) {
            JobState::Present(job) => job.version == expected_version,
            JobState::Absent => false,
        };
        if !visible {
            lost += 1;
            push_example(
                examples,
                format!(
                    "job {key}: acknowledged {} not visible at the end",
                    write.kind.name()
                ),
            );
        }
    }
    Row {
        check: "no acknowledged write lost",
        violations: lost,
        detail: format!("{acknowledged} last acknowledged writes checked"),
    }
}

fn operation(record: &OpRecord) -> Operation {
    let complete_us = match record.outcome {
        Outcome::Unknown(_) => None,
        _ => Some(record.complete_us),
    };
    Operation {
        kind: record.kind.clone(),
        outcome: record.outcome.clone(),
        invoke_us: record.invoke_us,
        complete_us,
    }
}

/// Runs a Wing-Gong search per job id over its operations, ending with the final read.
fn check_linearizability(observations: &Observations, examples: &mut Vec<String>) -> Row {
    let (mut keys, mut operations, mut failed, mut inconclusive) = (0u64, 0usize, 0u64, 0u64);
    for (key, records) in keyed_history(observations) {
        let mut history: Vec<Operation> = records.iter().map(operation).collect();
        let final_outcome = match final_state(observations, &key) {
            JobState::Present(job) => Outcome::Ok(Some(job)),
            JobState::Absent => Outcome::Failed(404),
        };
        history.push(Operation {
            kind: OpKind::Get,
            outcome: final_outcome,
            invoke_us: observations.final_read_us,
            complete_us: Some(observations.final_read_us + 1),
        });
        keys += 1;
        operations += history.len();
        match linearizability::check(&history, JobState::Absent, SEARCH_BUDGET) {
            Verdict::Linearizable => {}
            Verdict::NotLinearizable => {
                failed += 1;
                let summary: Vec<String> = records
                    .iter()
                    .map(|r| {
                        format!(
                            "client {} node {} {} {}..{} us {:?}",
                            r.client,
                            r.node,
                            r.kind.name(),
                            r.invoke_us,
                            r.complete_us,
                            r.outcome
                        )
                    })
                    .collect();
                push_example(
                    examples,
                    format!("job {key} not linearizable: {}", summary.join(", ")),
                );
            }
            Verdict::Inconclusive { steps } => {
                inconclusive += 1;
                push_example(
                    examples,
                    format!("job {key}: search stopped after {steps} states"),
                );
            }
        }
    }
    Row {
        check: "job operations linearizable (WGL per job)",
        violations: failed,
        detail: format!("{keys} jobs, {operations} operations, {inconclusive} inconclusive"),
    }
}

/// Checks that every node is at the same applied index with the same digest.
fn check_state_agreement(observations: &Observations, examples: &mut Vec<String>) -> Row {
    let answers: Vec<&(u64, String)> = observations.node_states.values().flatten().collect();
    let indexes: BTreeSet<u64> = answers.iter().map(|(index, _)| *index).collect();
    let digests: BTreeSet<&str> = answers.iter().map(|(_, digest)| digest.as_str()).collect();
    let silent = observations.node_states.len() - answers.len();
    let agree = silent == 0 && indexes.len() == 1 && digests.len() == 1;
    if !agree {
        push_example(
            examples,
            format!("node states: {:?}", observations.node_states),
        );
    }
    Row {
        check: "state machines identical on every node",
        violations: u64::from(!agree),
        detail: format!(
            "applied index {:?}, {} distinct digests, {silent} nodes silent",
            indexes,
            digests.len()
        ),
    }
}

/// For each fault, the time from its start to the first request of an instant scheduled at
/// or after it.
/// Returns the failover group of a fault: its kind, with ", no leader" added when the fault
/// aims at a role but no leader was known, because it then hit a node picked at random.
fn failover_group(fault: &FaultRecord) -> String {
    let name = fault.kind.name();
    if fault.leader_before.is_none() && fault.kind.targets_roles() {
        format!("{name}, no leader")
    } else {
        name.to_string()
    }
}

fn failover(observations: &Observations, sent: &[Sent]) -> Failover {
    let mut samples = Vec::new();
    let mut described = Vec::new();
    let mut without_fire = 0;
    for fault in &observations.faults {
        let first = sent
            .iter()
            .filter(|request| request.scheduled_ms >= fault.started_ms)
            .map(|request| request.received_ms)
            .min();
        match first {
            Some(at) => {
                let ms = at - fault.started_ms;
                samples.push((failover_group(fault), ms));
                let leader = fault
                    .leader_before
                    .map_or("none".into(), |id| id.to_string());
                described.push((
                    ms,
                    format!(
                        "{ms} ms: fault {} at {:.1}s-{:.1}s {} {} (leader before: {leader})",
                        fault.number,
                        fault.started_s,
                        fault.healed_s,
                        fault.kind.name(),
                        fault.description
                    ),
                ));
            }
            None => without_fire += 1,
        }
    }
    described.sort_by_key(|(ms, _)| std::cmp::Reverse(*ms));
    Failover {
        samples,
        without_fire,
        slowest: described
            .into_iter()
            .take(3)
            .map(|(_, line)| line)
            .collect(),
    }
}

/// The `q` quantile (0 to 1) of sorted `values`, by the nearest-rank method.
pub fn quantile(sorted: &[i64], q: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::faults::FaultKind;

    #[test]
    fn instants_of_every_second() {
        let at = instants("* * * * * *", 1_000, 4_000);

        assert_eq!(at, vec![2_000, 3_000, 4_000]);
    }

    #[test]
    fn instants_of_every_other_second() {
        let at = instants("*/2 * * * * *", 1_000, 6_500);

        assert_eq!(at, vec![2_000, 4_000, 6_000]);
    }

    #[test]
    fn quantile_uses_nearest_rank() {
        let values = [10, 20, 30, 40];

        assert_eq!(quantile(&values, 0.5), Some(20));
        assert_eq!(quantile(&values, 0.99), Some(40));
        assert_eq!(quantile(&[], 0.5), None);
    }

    fn request(node: u64, token: u64, received_ms: i64) -> Sent {
        Sent {
            key: format!("k{token}"),
            job_id: "job".into(),
            execution_id: format!("e{token}"),
            scheduled_ms: 0,
            attempt: 1,
            token,
            node,
            received_ms,
        }
    }

    #[test]
    fn older_token_after_newer_leader_is_stale() {
        let sent = [
            request(1, 10, 100),
            request(2, 20, 200),
            request(1, 11, 300),
        ];
        let mut examples = Vec::new();

        let row = check_stale_senders(&sent, &mut examples);

        assert_eq!(row.violations, 1);
    }

    #[test]
    fn same_node_out_of_order_is_not_stale() {
        let sent = [
            request(1, 20, 100),
            request(1, 10, 200),
            request(2, 30, 300),
        ];
        let mut examples = Vec::new();

        let row = check_stale_senders(&sent, &mut examples);

        assert_eq!(row.violations, 0);
    }

    fn op(key: Option<&str>, name: Option<&str>, kind: OpKind, outcome: Outcome) -> OpRecord {
        OpRecord {
            client: 1,
            key: key.map(str::to_string),
            create_name: name.map(str::to_string),
            kind,
            node: 1,
            invoke_us: 0,
            complete_us: 0,
            outcome,
        }
    }

    fn observations(history: Vec<OpRecord>) -> Observations {
        Observations {
            schedule_jobs: Vec::new(),
            final_pause_ms: BTreeMap::new(),
            jobs: BTreeMap::new(),
            executions: BTreeMap::new(),
            requests: Vec::new(),
            history,
            faults: Vec::new(),
            crashes: Vec::new(),
            node_states: BTreeMap::new(),
            started_wall_ms: 0,
            final_read_us: 0,
        }
    }

    #[test]
    fn unknown_create_keyed_by_lookup() {
        let unknown = Outcome::Unknown("timeout".into());
        let history = vec![
            op(None, Some("c1"), OpKind::Create, unknown),
            op(Some("j1"), Some("c1"), OpKind::Get, Outcome::Ok(None)),
            op(Some("j1"), None, OpKind::Delete, Outcome::Ok(None)),
        ];

        let keyed = keyed_history(&observations(history));

        let kinds: Vec<OpKind> = keyed["j1"].iter().map(|r| r.kind.clone()).collect();
        assert_eq!(kinds, vec![OpKind::Create, OpKind::Get, OpKind::Delete]);
    }

    #[test]
    fn unknown_create_never_found_has_no_key() {
        let unknown = Outcome::Unknown("timeout".into());
        let history = vec![op(None, Some("c1"), OpKind::Create, unknown)];

        let keyed = keyed_history(&observations(history));

        assert!(keyed.is_empty());
    }

    fn fault(kind: FaultKind, leader_before: Option<NodeId>) -> FaultRecord {
        FaultRecord {
            number: 1,
            kind,
            description: String::new(),
            leader_before,
            started_ms: 0,
            started_s: 0.0,
            healed_s: 1.0,
            healed_ms: 1_000,
        }
    }

    #[test]
    fn role_fault_without_leader_has_own_group() {
        let blind = fault(FaultKind::KillFollower, None);
        let aimed = fault(FaultKind::KillFollower, Some(2));
        let partition = fault(FaultKind::IsolateNode, None);

        assert_eq!(failover_group(&blind), "kill-follower, no leader");
        assert_eq!(failover_group(&aimed), "kill-follower");
        assert_eq!(failover_group(&partition), "isolate-node");
    }
}
