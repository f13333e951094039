//! Text output of the client subcommands. JSON output is the REST body, built in
//! `api::convert`.
//!
//! Every string from the server passes through [`escape`] before it is printed, so a job name
//! or a response body cannot move the cursor, clear the terminal or fake a table row.

use std::borrow::Cow;
use std::fmt::Write;

use crate::api::pb;

/// Placeholder for an absent value.
const NONE: &str = "-";

fn or_none(value: Option<&str>) -> &str {
    value.unwrap_or(NONE)
}

/// Escapes control characters and Unicode bidirectional overrides as Rust escapes (`\n`,
/// `\u{1b}`), leaving other text as it is.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            escaped.extend(c.escape_default());
        } else {
            escaped.push(c);
        }
    }
    Cow::Owned(escaped)
}

/// Control characters, and the bidirectional embeddings, overrides and isolates that can
/// reorder how a line reads on screen.
fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Renders one job as aligned `label: value` lines.
pub fn job_text(job: &pb::Job) -> String {
    let trigger = job.trigger_config.clone().unwrap_or_default();
    let retry = job.retry_strategy.clone().unwrap_or_default();
    let tags = if job.tags.is_empty() {
        NONE.to_string()
    } else {
        job.tags.join(", ")
    };
    let lines = [
        ("id", job.id.clone()),
        ("name", job.name.clone()),
        ("status", job.status.clone()),
        ("schedule", format!("{} ({})", job.schedule, job.time_zone)),
        (
            "trigger",
            format!(
                "{} {} (timeout {} ms)",
                trigger.method, trigger.url, trigger.timeout
            ),
        ),
        ("retry", retry_text(&retry)),
        ("retry on", retry_statuses_text(&retry.retry_on)),
        (
            "misfire",
            format!("{} (max catch-up {})", job.misfire_policy, job.max_catch_up),
        ),
        (
            "deadline",
            job.starting_deadline
                .map_or_else(|| NONE.to_string(), |millis| format!("{millis} ms")),
        ),
        ("concurrency", job.concurrency_policy.clone()),
        ("retention", retention_text(job.retention.as_ref())),
        (
            "instants",
            format!(
                "{} skipped, {} caught up",
                job.skipped_instants, job.caught_up_instants
            ),
        ),
        ("tags", tags),
        (
            "next run",
            or_none(job.next_execution_time.as_deref()).to_string(),
        ),
        (
            "last run",
            or_none(job.last_execution_time.as_deref()).to_string(),
        ),
        ("created", job.created_at.clone()),
        ("updated", job.updated_at.clone()),
    ];
    labeled(&lines)
}

fn retry_text(retry: &pb::RetryStrategy) -> String {
    let max_interval = retry
        .max_interval
        .map_or_else(|| "1 day".to_string(), |millis| format!("{millis} ms"));
    format!(
        "{} {}, {} backoff, interval {} ms, max interval {max_interval}, jitter {}",
        retry.attempts,
        if retry.attempts == 1 {
            "attempt"
        } else {
            "attempts"
        },
        retry.backoff,
        retry.interval,
        retry.jitter
    )
}

/// Formats the retried status codes. An empty list means the default: every 5xx and 429.
fn retry_statuses_text(codes: &[u32]) -> String {
    if codes.is_empty() {
        return "5xx, 429".to_string();
    }
    let codes: Vec<String> = codes.iter().map(u32::to_string).collect();
    codes.join(", ")
}

fn retention_text(retention: Option<&pb::Retention>) -> String {
    match retention {
        Some(retention) => format!(
            "{} finished runs, {} ms",
            retention.max_count, retention.max_age
        ),
        None => NONE.to_string(),
    }
}

/// Renders a page of jobs as a table with a footer.
pub fn job_list_text(list: &pb::ListJobsResponse) -> String {
    let mut text = format!(
        "{:<36}  {:<8}  {:<24}  {:<20}  {}\n",
        "ID", "STATUS", "NEXT RUN", "SCHEDULE", "NAME"
    );
    for job in &list.items {
        let next = or_none(job.next_execution_time.as_deref());
        let _ = writeln!(
            text,
            "{:<36}  {:<8}  {:<24}  {:<20}  {}",
            escape(&job.id),
            escape(&job.status),
            escape(next),
            escape(&job.schedule),
            escape(&job.name)
        );
    }
    text.push_str(&footer(
        list.page,
        list.limit,
        list.items.len(),
        list.total,
        "jobs",
    ));
    text
}

/// Renders one execution as aligned `label: value` lines.
pub fn execution_text(execution: &pb::Execution) -> String {
    let result = execution.result.as_ref().map(|result| {
        let body: String = result.body.chars().take(200).collect();
        format!("{} {}", result.status_code, body)
    });
    let lines = [
        ("id", execution.id.clone()),
        ("job", execution.job_id.clone()),
        ("status", execution.status.clone()),
        ("cause", execution.cause.clone()),
        ("scheduled", execution.scheduled_time.clone()),
        ("started", execution.start_time.clone()),
        ("ended", or_none(execution.end_time.as_deref()).to_string()),
        ("attempts", execution.attempt_count.to_string()),
        (
            "next retry",
            or_none(execution.next_retry_time.as_deref()).to_string(),
        ),
        ("result", or_none(result.as_deref()).to_string()),
        ("error", or_none(execution.error.as_deref()).to_string()),
        (
            "retry of",
            or_none(execution.retry_of.as_deref()).to_string(),
        ),
        ("fencing token", execution.fencing_token.to_string()),
        ("redispatches", execution.redispatches.to_string()),
    ];
    labeled(&lines)
}

/// Renders a page of executions as a table with a footer.
pub fn execution_list_text(list: &pb::ListExecutionsResponse) -> String {
    let mut text = format!(
        "{:<36}  {:<9}  {:<8}  {:<24}  {}\n",
        "ID", "STATUS", "CAUSE", "SCHEDULED", "ATTEMPTS"
    );
    for execution in &list.items {
        let _ = writeln!(
            text,
            "{:<36}  {:<9}  {:<8}  {:<24}  {}",
            escape(&execution.id),
            escape(&execution.status),
            escape(&execution.cause),
            escape(&execution.scheduled_time),
            execution.attempt_count
        );
    }
    let count = list.items.len();
    text.push_str(&footer(
        list.page,
        list.limit,
        count,
        list.total,
        "executions",
    ));
    text
}

/// Renders the cluster status, a table of its members, the scheduler's last error and the
/// last error of each member that has one.
pub fn cluster_text(status: &pb::ClusterStatus) -> String {
    let leader = status
        .leader_id
        .map_or_else(|| "unknown".to_string(), |id| id.to_string());
    let lines = [
        ("node", status.node_id.to_string()),
        ("leader", leader),
        ("term", status.term.to_string()),
        ("commit index", status.commit_index.to_string()),
        ("applied index", status.applied_index.to_string()),
        ("quorum ok", yes_no(Some(status.quorum_ok)).to_string()),
        ("scheduler ok", scheduler_ok(status)),
    ];
    let mut text = labeled(&lines);
    if let Some(error) = &status.scheduler_last_error {
        let _ = writeln!(text, "scheduler last error: {}", escape(error));
    }
    text.push('\n');
    text.push_str(&member_table(&status.members));
    text.push_str(&member_errors(&status.members));
    text
}

/// Renders `scheduler_ok` with the failure count when a leader loop failed: "-" on a node
/// that does not lead.
fn scheduler_ok(status: &pb::ClusterStatus) -> String {
    let ok = yes_no(status.scheduler_ok);
    match status.scheduler_failures {
        Some(failures) if failures > 0 => format!("{ok} ({failures} failed leader loops in a row)"),
        _ => ok.to_string(),
    }
}

fn member_table(members: &[pb::Member]) -> String {
    let mut text = format!(
        "{:<6}  {:<9}  {:<9}  {:<12}  {:<22}  PEER\n",
        "ID", "ROLE", "REACHABLE", "LAST CONTACT", "CLIENT"
    );
    for member in members {
        let last_contact = member
            .last_contact_ms
            .map_or_else(|| NONE.to_string(), |ms| format!("{ms} ms"));
        let _ = writeln!(
            text,
            "{:<6}  {:<9}  {:<9}  {:<12}  {:<22}  {}",
            member.id,
            escape(&member.role),
            yes_no(member.reachable),
            last_contact,
            escape(&member.client_addr),
            escape(&member.peer_addr)
        );
    }
    text
}

fn member_errors(members: &[pb::Member]) -> String {
    let mut text = String::new();
    for member in members {
        if let Some(error) = &member.last_error {
            let _ = writeln!(text, "member {} last error: {}", member.id, escape(error));
        }
    }
    if !text.is_empty() {
        text.insert(0, '\n');
    }
    text
}

/// Formats a flag as yes or no, and an unknown one as [`NONE`].
fn yes_no(flag: Option<bool>) -> &'static str {
    match flag {
        Some(true) => "yes",
        Some(false) => "no",
        None => NONE,
    }
}

fn labeled(lines: &[(&str, String)]) -> String {
    let width = lines
        .iter()
        .map(|(label, _)| label.len())
        .max()
        .unwrap_or(0)
        + 1;
    let mut text = String::new();
    for (label, value) in lines {
        let value = escape(value);
        let _ = writeln!(text, "{:<width$} {value}", format!("{label}:"));
    }
    text
}

fn footer(page: u32, limit: u32, shown: usize, total: u64, noun: &str) -> String {
    format!("{noun}: {shown} of {total} on page {page} (limit {limit})\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_text_shows_absent_times_as_dash() {
        let job = pb::Job {
            id: "job-1".to_string(),
            status: "PAUSED".to_string(),
            ..Default::default()
        };
        let text = job_text(&job);
        assert!(text.contains("id:          job-1\n"), "{text}");
        assert!(text.contains("status:      PAUSED\n"), "{text}");
        assert!(text.contains("next run:    -\n"), "{text}");
        assert!(text.contains("deadline:    -\n"), "{text}");
    }

    #[test]
    fn job_text_shows_policies_and_counters() {
        let job = pb::Job {
            retry_strategy: Some(pb::RetryStrategy {
                attempts: 3,
                backoff: "exponential".to_string(),
                interval: 1000,
                max_interval: Some(8000),
                jitter: 0.25,
                retry_on: vec![409, 503],
            }),
            misfire_policy: "FIRE_ALL".to_string(),
            max_catch_up: 5,
            starting_deadline: Some(90_000),
            concurrency_policy: "FORBID".to_string(),
            retention: Some(pb::Retention {
                max_count: 20,
                max_age: 3_600_000,
            }),
            skipped_instants: 4,
            caught_up_instants: 2,
            ..Default::default()
        };
        let text = job_text(&job);
        let expected_lines = [
            "retry:       3 attempts, exponential backoff, interval 1000 ms, max interval 8000 ms, \
             jitter 0.25\n",
            "retry on:    409, 503\n",
            "misfire:     FIRE_ALL (max catch-up 5)\n",
            "deadline:    90000 ms\n",
            "concurrency: FORBID\n",
            "retention:   20 finished runs, 3600000 ms\n",
            "instants:    4 skipped, 2 caught up\n",
        ];
        for line in expected_lines {
            assert!(text.contains(line), "{text} lacks {line:?}");
        }
    }

    #[test]
    fn job_text_shows_default_retry_statuses() {
        let text = job_text(&pb::Job::default());
        assert!(text.contains("retry on:    5xx, 429\n"), "{text}");
        assert!(text.contains("max interval 1 day"), "{text}");
    }

    #[test]
    fn execution_text_shows_redispatches() {
        let execution = pb::Execution {
            redispatches: 2,
            ..Default::default()
        };
        let text = execution_text(&execution);
        assert!(text.contains("redispatches:  2\n"), "{text}");
    }

    #[test]
    fn job_list_text_has_footer() {
        let list = pb::ListJobsResponse {
            items: vec![pb::Job::default()],
            page: 2,
            limit: 1,
            total: 3,
        };
        let text = job_list_text(&list);
        assert!(text.starts_with("ID "), "{text}");
        assert!(
            text.ends_with("jobs: 1 of 3 on page 2 (limit 1)\n"),
            "{text}"
        );
    }

    #[test]
    fn escape_replaces_control_characters() {
        assert_eq!(escape("plain text"), "plain text");
        assert_eq!(escape("a\u{1b}[2J\nb\tc"), "a\\u{1b}[2J\\nb\\tc");
        assert_eq!(escape("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(escape("\u{9b}"), "\\u{9b}");
    }

    #[test]
    fn job_text_escapes_server_strings() {
        let job = pb::Job {
            name: "evil\u{1b}[2J".to_string(),
            schedule: "@daily\nid: fake".to_string(),
            tags: vec!["t\r".to_string()],
            ..Default::default()
        };
        let text = job_text(&job);
        assert!(text.contains("name:        evil\\u{1b}[2J\n"), "{text}");
        assert!(text.contains("@daily\\nid: fake"), "{text}");
        assert!(text.contains("tags:        t\\r\n"), "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
        assert_eq!(text.matches('\n').count(), text.lines().count(), "{text}");
    }

    #[test]
    fn job_list_text_escapes_names() {
        let list = pb::ListJobsResponse {
            items: vec![pb::Job {
                name: "a\nfake-id  ACTIVE".to_string(),
                ..Default::default()
            }],
            page: 1,
            limit: 20,
            total: 1,
        };
        let text = job_list_text(&list);
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text.contains("a\\nfake-id  ACTIVE"), "{text}");
    }

    #[test]
    fn execution_texts_escape_server_strings() {
        let execution = pb::Execution {
            error: Some("bad\u{7}bell".to_string()),
            result: Some(pb::ExecutionResult {
                status_code: 500,
                body: "line 1\nline 2".to_string(),
            }),
            cause: "SCHEDULE\u{1b}".to_string(),
            ..Default::default()
        };
        let text = execution_text(&execution);
        assert!(text.contains("error:         bad\\u{7}bell\n"), "{text}");
        assert!(
            text.contains("result:        500 line 1\\nline 2\n"),
            "{text}"
        );
        let list = pb::ListExecutionsResponse {
            items: vec![execution],
            ..Default::default()
        };
        let text = execution_list_text(&list);
        assert!(text.contains("SCHEDULE\\u{1b}"), "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
    }

    #[test]
    fn cluster_text_escapes_addresses() {
        let status = pb::ClusterStatus {
            members: vec![pb::Member {
                id: 1,
                role: "LEADER".to_string(),
                client_addr: "127.0.0.1:7001\u{1b}".to_string(),
                peer_addr: "127.0.0.1:7101".to_string(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let text = cluster_text(&status);
        assert!(text.contains("127.0.0.1:7001\\u{1b}"), "{text}");
    }

    #[test]
    fn cluster_text_without_leader() {
        let text = cluster_text(&pb::ClusterStatus::default());
        assert!(text.contains("leader:        unknown\n"), "{text}");
        assert!(text.contains("quorum ok:     no\n"), "{text}");
    }

    #[test]
    fn cluster_text_shows_failing_scheduler() {
        let status = pb::ClusterStatus {
            scheduler_ok: Some(false),
            scheduler_failures: Some(3),
            scheduler_last_error: Some("stored job has format version 3\u{1b}".to_string()),
            ..Default::default()
        };

        let text = cluster_text(&status);

        assert!(
            text.contains("scheduler ok:  no (3 failed leader loops in a row)\n"),
            "{text}"
        );
        assert!(
            text.contains("scheduler last error: stored job has format version 3\\u{1b}\n"),
            "{text}"
        );
    }

    #[test]
    fn cluster_text_scheduler_states() {
        let cases = [
            (None, None, "scheduler ok:  -\n"),
            (Some(true), Some(0), "scheduler ok:  yes\n"),
            (
                Some(true),
                Some(1),
                "scheduler ok:  yes (1 failed leader loops in a row)\n",
            ),
        ];
        for (scheduler_ok, scheduler_failures, expected) in cases {
            let status = pb::ClusterStatus {
                scheduler_ok,
                scheduler_failures,
                ..Default::default()
            };

            let text = cluster_text(&status);

            assert!(text.contains(expected), "{text}");
            assert!(!text.contains("scheduler last error"), "{text}");
        }
    }

    #[test]
    fn cluster_text_shows_reachability() {
        let member = |id: u64, reachable: Option<bool>, last_contact_ms: Option<u64>| pb::Member {
            id,
            role: "FOLLOWER".to_string(),
            client_addr: format!("127.0.0.1:700{id}"),
            peer_addr: format!("127.0.0.1:710{id}"),
            reachable,
            last_contact_ms,
            last_error: None,
        };
        let mut unreachable = member(3, Some(false), Some(5230));
        unreachable.last_error = Some("Unreachable node: transport error\u{1b}".to_string());
        let status = pb::ClusterStatus {
            quorum_ok: true,
            members: vec![
                member(1, Some(true), None),
                member(2, None, Some(40)),
                unreachable,
            ],
            ..Default::default()
        };

        let text = cluster_text(&status);

        assert!(text.contains("quorum ok:     yes\n"), "{text}");
        assert!(text.contains("REACHABLE  LAST CONTACT"), "{text}");
        assert!(
            text.contains("\n1       FOLLOWER   yes        -    "),
            "{text}"
        );
        assert!(
            text.contains("\n2       FOLLOWER   -          40 ms "),
            "{text}"
        );
        assert!(
            text.contains("\n3       FOLLOWER   no         5230 ms "),
            "{text}"
        );
        assert!(
            text.contains("\nmember 3 last error: Unreachable node: transport error\\u{1b}\n"),
            "{text}"
        );
        assert!(!text.contains("member 1 last error"), "{text}");
    }
}
