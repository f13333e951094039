//! Tests of the public schedule API with concrete instants.

mod cron;
mod dst;
mod every;
mod garbage;

use chrono::{DateTime, SecondsFormat, Utc};

use super::cron::CronPattern;
use super::{Schedule, ScheduleError, preview, zone};

/// Parses an RFC 3339 instant.
fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

fn format(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Returns the first `count` fire instants of a cron schedule after `after`, formatted as
/// RFC 3339 in UTC.
fn fires(expression: &str, time_zone: &str, after: &str, count: usize) -> Vec<String> {
    let schedule = Schedule::parse(expression, time_zone).unwrap();
    let after = utc(after);
    schedule
        .fire_times_after(after, after)
        .take(count)
        .map(format)
        .collect()
}
