//! Time zone lookup and the conversions between instants and a zone's wall clock.
//!
//! Everything goes through chrono-tz's bundled tz database, never the process's `TZ` setting or
//! the system's zoneinfo files.

use chrono::{DateTime, LocalResult, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::{GapInfo, TZ_VARIANTS, Tz};

use super::error::ScheduleError;

/// Looks up an IANA time zone name. The empty string and `UTC` mean UTC.
pub(super) fn parse_time_zone(name: &str) -> Result<Tz, ScheduleError> {
    if name.is_empty() || name == "UTC" {
        return Ok(Tz::UTC);
    }
    name.parse::<Tz>()
        .map_err(|_| ScheduleError::unknown_time_zone(name, time_zone_hint(name)))
}

/// Suggests the correct spelling when `name` differs from a known zone only in case.
fn time_zone_hint(name: &str) -> String {
    let same_but_case = TZ_VARIANTS
        .iter()
        .find(|zone| zone.name().eq_ignore_ascii_case(name));
    match same_but_case {
        Some(zone) => format!("did you mean {:?}?", zone.name()),
        None => "expected an IANA name such as \"Europe/Berlin\", or \"UTC\"".to_string(),
    }
}

/// The instants at which a zone's wall clock shows a given local time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum WallTime {
    /// The local time occurs once.
    Unique(DateTime<Utc>),
    /// The clock was set back, so the local time occurs twice, earlier instant first.
    Repeated(DateTime<Utc>, DateTime<Utc>),
    /// The clock was set forward over the local time, so it never occurs.
    Skipped,
}

/// Returns the instants at which the wall clock of `zone` shows `local`.
pub(super) fn resolve(zone: Tz, local: NaiveDateTime) -> WallTime {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(time) => WallTime::Unique(time.to_utc()),
        LocalResult::Ambiguous(first, second) => {
            let (first, second) = (first.to_utc(), second.to_utc());
            WallTime::Repeated(first.min(second), first.max(second))
        }
        LocalResult::None => WallTime::Skipped,
    }
}

/// Returns the first instant after the gap that skips `local`, or `None` when `local` exists
/// or the gap has no end in the tz database.
pub(super) fn gap_end(zone: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    GapInfo::new(&local, &zone)?.end.map(|end| end.to_utc())
}

/// Returns the time the wall clock of `zone` shows at `instant`, or `None` when that is
/// outside chrono's date range.
pub(super) fn wall_clock(zone: Tz, instant: DateTime<Utc>) -> Option<NaiveDateTime> {
    let offset = zone.offset_from_utc_datetime(&instant.naive_utc()).fix();
    instant.naive_utc().checked_add_offset(offset)
}

/// Returns the UTC offset of `zone` at `instant`, in seconds.
pub(super) fn offset_seconds(zone: Tz, instant: DateTime<Utc>) -> i32 {
    zone.offset_from_utc_datetime(&instant.naive_utc())
        .fix()
        .local_minus_utc()
}

/// Returns the first whole second after `from`, and at most `to`, at which the offset of
/// `zone` differs from the offset at `from`. The two offsets must differ.
///
/// The binary search assumes one change in between. That is true for the callers, which look
/// no further than one DST overlap or one cron match ahead.
pub(super) fn next_offset_change(
    zone: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> DateTime<Utc> {
    let offset_at_from = offset_seconds(zone, from);
    let (mut before, mut after) = (from.timestamp(), to.timestamp());
    while after - before > 1 {
        let middle = before + (after - before) / 2;
        let Some(instant) = DateTime::from_timestamp(middle, 0) else {
            break;
        };
        if offset_seconds(zone, instant) == offset_at_from {
            before = middle;
        } else {
            after = middle;
        }
    }
    DateTime::from_timestamp(after, 0).unwrap_or(to)
}

/// Returns the latest time the wall clock of `zone` has shown up to `instant`, which must be a
/// whole second.
///
/// This is the wall clock at `instant`, except during the second pass through a repeated
/// hour: the clock then shows times it already showed, and the latest is the one just before
/// it was set back.
pub(super) fn latest_wall_clock(zone: Tz, instant: DateTime<Utc>) -> Option<NaiveDateTime> {
    let wall = wall_clock(zone, instant)?;
    match resolve(zone, wall) {
        WallTime::Repeated(first, second) if instant == second => {
            let set_back = next_offset_change(zone, first, second);
            wall_clock(zone, set_back.checked_sub_signed(TimeDelta::seconds(1))?)
        }
        _ => Some(wall),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn local(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    const NEW_YORK: Tz = Tz::America__New_York;

    #[test]
    fn parse_time_zone_names() {
        assert_eq!(parse_time_zone(""), Ok(Tz::UTC));
        assert_eq!(parse_time_zone("UTC"), Ok(Tz::UTC));
        assert_eq!(parse_time_zone("America/New_York"), Ok(NEW_YORK));
        assert_eq!(parse_time_zone("Etc/GMT+5"), Ok(Tz::Etc__GMTPlus5));
    }

    #[test]
    fn parse_time_zone_errors() {
        let error = parse_time_zone("america/new_york").unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown time zone \"america/new_york\": did you mean \"America/New_York\"?"
        );
        let error = parse_time_zone("Mars/Olympus_Mons").unwrap_err();
        assert!(error.to_string().contains("\"Mars/Olympus_Mons\""));
        assert!(error.to_string().contains("expected an IANA name"));
        assert!(parse_time_zone(" UTC").is_err());
        assert!(parse_time_zone("EST5EDT\u{0}").is_err());
    }

    #[test]
    fn resolve_gap_and_overlap() {
        assert_eq!(
            resolve(NEW_YORK, local("2025-03-09 02:30:00")),
            WallTime::Skipped
        );
        assert_eq!(
            gap_end(NEW_YORK, local("2025-03-09 02:30:00")),
            Some(utc("2025-03-09T07:00:00Z"))
        );
        assert_eq!(
            resolve(NEW_YORK, local("2025-11-02 01:30:00")),
            WallTime::Repeated(utc("2025-11-02T05:30:00Z"), utc("2025-11-02T06:30:00Z"))
        );
        assert_eq!(
            resolve(NEW_YORK, local("2025-11-02 02:30:00")),
            WallTime::Unique(utc("2025-11-02T07:30:00Z"))
        );
        assert_eq!(gap_end(NEW_YORK, local("2025-11-02 02:30:00")), None);
    }

    #[test]
    fn next_offset_change_finds_set_back() {
        let change = next_offset_change(
            NEW_YORK,
            utc("2025-11-02T05:30:00Z"),
            utc("2025-11-02T06:30:00Z"),
        );
        assert_eq!(change, utc("2025-11-02T06:00:00Z"));
    }

    #[test]
    fn latest_wall_clock_in_repeated_hour() {
        let first_pass = utc("2025-11-02T05:30:00Z");
        let second_pass = utc("2025-11-02T06:30:00Z");
        let after_overlap = utc("2025-11-02T07:00:00Z");
        let expected = [
            (first_pass, "2025-11-02 01:30:00"),
            (second_pass, "2025-11-02 01:59:59"),
            (after_overlap, "2025-11-02 02:00:00"),
        ];
        for (instant, wall) in expected {
            assert_eq!(
                latest_wall_clock(NEW_YORK, instant),
                Some(local(wall)),
                "{instant}"
            );
        }
    }
}
