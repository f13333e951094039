//! `raftcron schedule next`: the fire instants of a schedule, computed without a server.

use std::process::ExitCode;

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use clap::Subcommand;

use super::client::write_output;
use crate::api::service::{DEFAULT_PREVIEW_COUNT, MAX_PREVIEW_COUNT};

/// Last year that RFC 3339 can write: it allows four-digit years only.
const MAX_RFC3339_YEAR: i32 = 9999;

/// Subcommands of `raftcron schedule`.
#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum ScheduleCommand {
    /// Print the next fire instants of a schedule, one RFC 3339 UTC instant a line.
    Next {
        /// Cron expression, macro (@daily) or @every duration.
        expression: String,
        /// IANA time zone the expression is read in.
        #[arg(long, default_value = "UTC")]
        time_zone: String,
        /// Start after this instant (RFC 3339); defaults to now.
        #[arg(long)]
        from: Option<String>,
        /// How many instants to print, 1 to 100 (the limit of the preview API).
        #[arg(long, default_value_t = DEFAULT_PREVIEW_COUNT)]
        count: u32,
    },
}

/// The lines a preview prints: instants on standard output and an optional note on standard
/// error.
#[derive(Debug, PartialEq, Eq)]
struct PreviewText {
    stdout: String,
    note: Option<String>,
}

/// Runs a `schedule` subcommand. Returns exit code 2 for invalid input.
pub fn run_schedule(command: ScheduleCommand) -> ExitCode {
    let ScheduleCommand::Next {
        expression,
        time_zone,
        from,
        count,
    } = command;
    let text = parse_from(from.as_deref()).and_then(|from| {
        let count = check_count(count)?;
        preview_text(&expression, &time_zone, from, count)
    });
    let text = match text {
        Ok(text) => text,
        Err(message) => {
            eprintln!("error: {}", super::render::escape(&message));
            return ExitCode::from(2);
        }
    };
    if let Err(error) = write_output(&mut std::io::stdout().lock(), &text.stdout) {
        eprintln!("error: failed to write to standard output: {error}");
        return ExitCode::FAILURE;
    }
    if let Some(note) = text.note {
        eprintln!("note: {note}");
    }
    ExitCode::SUCCESS
}

fn check_count(count: u32) -> Result<usize, String> {
    if !(1..=MAX_PREVIEW_COUNT).contains(&count) {
        return Err(format!(
            "invalid --count {count}: expected 1 to {MAX_PREVIEW_COUNT}"
        ));
    }
    usize::try_from(count).map_err(|error| format!("invalid --count {count}: {error}"))
}

fn parse_from(from: Option<&str>) -> Result<DateTime<Utc>, String> {
    match from {
        None => Ok(Utc::now()),
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|at| at.with_timezone(&Utc))
            .map_err(|error| format!("invalid --from {text}: {error}; expected RFC 3339")),
    }
}

/// Computes up to `count` instants after `from`, stopping before the first one after year
/// 9999, which RFC 3339 cannot write.
fn preview_text(
    expression: &str,
    time_zone: &str,
    from: DateTime<Utc>,
    count: usize,
) -> Result<PreviewText, String> {
    let instants = crate::schedule::preview(expression, time_zone, from, count)
        .map_err(|error| error.to_string())?;
    let mut stdout = String::new();
    for instant in &instants {
        if instant.year() > MAX_RFC3339_YEAR {
            let note = format!(
                "stopped after {} of {count} instants: the next one falls after year \
                 {MAX_RFC3339_YEAR}, which RFC 3339 cannot write",
                stdout.lines().count()
            );
            return Ok(PreviewText {
                stdout,
                note: Some(note),
            });
        }
        stdout.push_str(&format_instant(*instant));
        stdout.push('\n');
    }
    Ok(PreviewText { stdout, note: None })
}

/// Formats an instant in RFC 3339 UTC, with milliseconds only when it has a fraction of a
/// second (digits below one millisecond are dropped, as the server stores milliseconds).
fn format_instant(instant: DateTime<Utc>) -> String {
    let precision = if instant.nanosecond() == 0 {
        SecondsFormat::Secs
    } else {
        SecondsFormat::Millis
    };
    instant.to_rfc3339_opts(precision, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn whole_seconds_print_without_fraction() {
        let text = preview_text("@hourly", "UTC", at("2026-01-01T00:00:00Z"), 2).unwrap();
        assert_eq!(text.stdout, "2026-01-01T01:00:00Z\n2026-01-01T02:00:00Z\n");
        assert_eq!(text.note, None);
    }

    #[test]
    fn fractional_from_prints_milliseconds() {
        let from = at("2026-01-01T00:00:00.123456789Z");
        let text = preview_text("@every 1m", "UTC", from, 2).unwrap();
        assert_eq!(
            text.stdout,
            "2026-01-01T00:01:00.123Z\n2026-01-01T00:02:00.123Z\n"
        );
    }

    #[test]
    fn preview_stops_at_year_9999() {
        let from = at("9997-06-01T00:00:00Z");
        let text = preview_text("@yearly", "UTC", from, 5).unwrap();
        assert_eq!(text.stdout, "9998-01-01T00:00:00Z\n9999-01-01T00:00:00Z\n");
        let note = text.note.expect("a note on the missing instants");
        assert!(note.starts_with("stopped after 2 of 5 instants"), "{note}");
    }

    #[test]
    fn long_every_near_year_9999_does_not_panic() {
        let from = at("9999-12-31T23:59:59.999Z");
        let text = preview_text("@every 2562047h", "UTC", from, 100).unwrap();
        assert_eq!(text.stdout, "");
        assert!(text.note.is_some());
    }

    #[test]
    fn count_is_limited_like_the_api() {
        assert_eq!(check_count(100), Ok(100));
        let error = check_count(101).unwrap_err();
        assert_eq!(error, "invalid --count 101: expected 1 to 100");
        assert!(check_count(0).is_err());
    }

    #[test]
    fn bad_from_is_rejected() {
        let error = parse_from(Some("yesterday")).unwrap_err();
        assert!(error.starts_with("invalid --from yesterday: "), "{error}");
    }
}
