//! Schedule expressions: parsing, validation and the computation of fire instants.
//!
//! The module is pure. It does no I/O and never reads the clock, so the caller passes every
//! instant. Time zones come from chrono-tz's bundled tz database, so the process's `TZ`
//! setting never changes a result.
//!
//! # Grammar
//!
//! - Cron with 5 fields (`minute hour day-of-month month day-of-week`), 6 fields with seconds
//!   first, or 7 fields with a year (1970-2099) last. Fields take `*`, values, ranges `1-5`,
//!   steps `*/15`, `10-50/20` or `5/15` (from 5 to the maximum), and lists `1,15,L`. Ranges
//!   do not wrap around. Months take `JAN`-`DEC` and weekdays `SUN`-`SAT`, in any case.
//!   Weekdays are numbered as in POSIX cron: 0 and 7 are Sunday, 1 is Monday.
//! - Quartz extensions in the day fields:
//!   - `L` is the last day of the month and `L-3` the third day before it.
//!   - `LW` is the last Monday-to-Friday day of the month.
//!   - `15W` is the weekday nearest to the 15th, never in another month.
//!   - `5L` and `FRI#L` are the last Friday, `MON#2` and `1#2` the second Monday.
//!   - `?` is a day field without a condition.
//!
//!   `L` alone in the day-of-week field is rejected as ambiguous.
//! - Day-of-month and day-of-week follow the POSIX rule: when both are restricted (neither is
//!   `*` or `?`), a day matches if either field matches it. `0 0 13 * FRI` fires on every
//!   13th and on every Friday.
//! - Macros `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`.
//! - `@every <duration>` with a Go duration of at least 1s, such as `90s`, `5m` or `1h30m`.
//!   It fires at `anchor + k * interval` for `k >= 1`, where the caller picks the anchor
//!   (job creation or resume), and ignores the time zone.
//!
//! # Daylight saving time
//!
//! Cron schedules match the wall clock of their time zone. When the clock jumps, the rule
//! depends on the hour field:
//!
//! - A schedule whose hour field selects particular hours (`30 2 * * *`, `@daily`) fires once
//!   for each matching wall-clock time, at the first instant the clock reaches it. A time
//!   inside a spring-forward gap fires when the gap ends: `30 2 * * *` in America/New_York on
//!   2025-03-09 fires at 03:00 EDT (07:00Z), and several times inside one gap fire once. A
//!   time that a fall-back repeats fires in its first pass only: `30 1 * * *` on 2025-11-02
//!   fires at 01:30 EDT (05:30Z) and not at 01:30 EST.
//! - A schedule whose hour field selects all 24 hours (`0 * * * *`, `*/10 * * * *`,
//!   `@hourly`) follows real time, so it keeps its spacing. It fires at every instant whose
//!   wall-clock time matches. A time that a fall-back repeats fires in both passes:
//!   `0 * * * *` fires at 05:00Z, 06:00Z and 07:00Z on 2025-11-02 in New York. A time inside
//!   a gap does not fire: `30 * * * *` fires at 06:30Z and then 07:30Z on 2025-03-09.
//!
//! So a job pinned to a time of day runs once on each matching day, and an hourly job runs
//! once per real hour, without a skipped or doubled run.
//!
//! NOTE: chrono-tz 0.10.4 stops its DST tables after 2099 (checked for America/New_York), so
//! later instants use the zone's standard offset all year.
//!
//! # Never-firing expressions
//!
//! [`Schedule::parse`] rejects an expression whose day, month and year fields match no date,
//! such as `0 0 30 2 *`. Without a year field it searches one 400-year Gregorian cycle, after
//! which month lengths, leap years and weekdays repeat. Shorter horizons are unsound: a
//! February with five Mondays (`0 0 * 2 MON#5`, Feb 29 on a Monday) comes 12, 28 or 40 years
//! after the previous one, because century years other than every fourth are not leap years.
//!
//! Parsing does not read the clock, so a stored job parses the same way on every node and at
//! every replay. An expression whose years are all past therefore parses, and
//! [`Schedule::ensure_fires_after`] and [`preview`] reject it with
//! [`ScheduleError::NoFireAfter`].

mod cron;
mod days;
mod error;
mod every;
mod fields;
mod fire;
mod zone;

#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use self::cron::CronPattern;
pub use self::error::ScheduleError;
use self::every::Every;

/// A parsed schedule expression together with its time zone.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    expression: String,
    time_zone: Tz,
    kind: Kind,
}

#[derive(Clone, Debug, PartialEq)]
enum Kind {
    Cron(CronPattern),
    Every(Every),
}

impl Schedule {
    /// Parses `expression` in `time_zone`, an IANA name where `""` and `"UTC"` mean UTC.
    ///
    /// Returns [`ScheduleError::InvalidExpression`] for text outside the grammar,
    /// [`ScheduleError::NeverFires`] when no date matches the day, month and year fields, and
    /// [`ScheduleError::UnknownTimeZone`] for an unknown zone. The expression is checked
    /// first. The result does not depend on the clock.
    pub fn parse(expression: &str, time_zone: &str) -> Result<Schedule, ScheduleError> {
        let kind = parse_kind(expression)?;
        let time_zone = zone::parse_time_zone(time_zone)?;
        Ok(Schedule {
            expression: expression.to_string(),
            time_zone,
            kind,
        })
    }

    /// Returns the first fire instant strictly after `after`, or `None` when the schedule
    /// never fires again.
    ///
    /// `anchor` is the instant an `@every` schedule counts from (job creation or resume).
    /// Cron schedules ignore it.
    pub fn next_after(&self, after: DateTime<Utc>, anchor: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.kind {
            Kind::Cron(pattern) => fire::next_fire(pattern, self.time_zone, after),
            Kind::Every(every) => every.next_after(after, anchor),
        }
    }

    /// Returns the fire instants strictly after `after`, in order.
    pub fn fire_times_after(
        &self,
        after: DateTime<Utc>,
        anchor: DateTime<Utc>,
    ) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        std::iter::successors(self.next_after(after, anchor), move |&previous| {
            self.next_after(previous, anchor)
        })
    }

    /// Returns [`ScheduleError::NoFireAfter`] unless the schedule fires after `now`, for
    /// example when all years of a 7-field expression are past. `now` also serves as the
    /// anchor of an `@every` schedule, which fires again unless chrono's date range ends.
    pub fn ensure_fires_after(&self, now: DateTime<Utc>) -> Result<(), ScheduleError> {
        match self.next_after(now, now) {
            Some(_) => Ok(()),
            None => Err(ScheduleError::no_fire_after(&self.expression, now)),
        }
    }

    pub fn is_every(&self) -> bool {
        matches!(self.kind, Kind::Every(_))
    }

    /// Returns the expression as it was passed to [`Schedule::parse`].
    pub fn expression(&self) -> &str {
        &self.expression
    }

    pub fn time_zone(&self) -> Tz {
        self.time_zone
    }
}

/// Returns the next `count` fire instants strictly after `from`, for `raftcron schedule next`
/// and the PreviewSchedule API. An `@every` schedule counts from `from`.
///
/// Returns fewer than `count` instants when the schedule stops firing, and
/// [`ScheduleError::NoFireAfter`] when it never fires after `from`. It also returns the
/// errors of [`Schedule::parse`].
///
/// NOTE: the work grows with `count`, so callers that take it from a request should cap it.
pub fn preview(
    expression: &str,
    time_zone: &str,
    from: DateTime<Utc>,
    count: usize,
) -> Result<Vec<DateTime<Utc>>, ScheduleError> {
    let schedule = Schedule::parse(expression, time_zone)?;
    if count > 0 {
        schedule.ensure_fires_after(from)?;
    }
    Ok(schedule.fire_times_after(from, from).take(count).collect())
}

/// Parses the expression part of a schedule and checks that a cron pattern can fire.
fn parse_kind(expression: &str) -> Result<Kind, ScheduleError> {
    let trimmed = expression.trim();
    if trimmed.is_empty() {
        return Err(ScheduleError::invalid(
            expression,
            "the schedule is empty, but a cron expression, a macro such as @daily, or \
             @every <duration> is required",
        ));
    }
    if let Some(duration) = strip_every_keyword(trimmed) {
        return parse_every(duration).map_err(|reason| ScheduleError::invalid(expression, reason));
    }
    let pattern =
        CronPattern::parse(trimmed).map_err(|reason| ScheduleError::invalid(expression, reason))?;
    if !pattern.has_matching_date() {
        return Err(ScheduleError::never_fires(expression));
    }
    Ok(Kind::Cron(pattern))
}

/// Returns the text after a leading `@every` keyword (any case), or `None` without one.
fn strip_every_keyword(expression: &str) -> Option<&str> {
    const KEYWORD: &str = "@every";
    let keyword = expression.get(..KEYWORD.len())?;
    let rest = &expression[KEYWORD.len()..];
    let ends_keyword = rest.is_empty() || rest.starts_with(char::is_whitespace);
    (keyword.eq_ignore_ascii_case(KEYWORD) && ends_keyword).then_some(rest)
}

fn parse_every(duration: &str) -> Result<Kind, String> {
    let duration = duration.trim();
    if duration.contains(char::is_whitespace) {
        return Err("@every takes one duration without spaces, as in @every 1h30m".to_string());
    }
    Every::parse(duration).map(Kind::Every)
}
