//! The DST rule: spring-forward gaps, fall-back overlaps, odd zones, and the `TZ` variable.
//!
//! America/New_York changed clocks on 2025-03-09 at 02:00 EST (07:00Z), forward to 03:00 EDT,
//! and on 2025-11-02 at 02:00 EDT (06:00Z), back to 01:00 EST.

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use super::{CronPattern, Schedule, fires, utc, zone};

#[test]
fn spring_gap_fires_when_gap_ends() {
    assert_eq!(
        fires("30 2 * * *", "America/New_York", "2025-03-08T00:00:00Z", 3),
        [
            "2025-03-08T07:30:00Z",
            "2025-03-09T07:00:00Z",
            "2025-03-10T06:30:00Z"
        ]
    );
}

#[test]
fn spring_gap_fires_once_for_many_times() {
    assert_eq!(
        fires(
            "*/15 2 * * *",
            "America/New_York",
            "2025-03-09T06:00:00Z",
            3
        ),
        [
            "2025-03-09T07:00:00Z",
            "2025-03-10T06:00:00Z",
            "2025-03-10T06:15:00Z"
        ]
    );
}

#[test]
fn spring_gap_every_hour_keeps_real_spacing() {
    let zone = "America/New_York";
    assert_eq!(
        fires("0 * * * *", zone, "2025-03-09T05:30:00Z", 3),
        [
            "2025-03-09T06:00:00Z",
            "2025-03-09T07:00:00Z",
            "2025-03-09T08:00:00Z"
        ]
    );
    assert_eq!(
        fires("30 * * * *", zone, "2025-03-09T05:45:00Z", 3),
        [
            "2025-03-09T06:30:00Z",
            "2025-03-09T07:30:00Z",
            "2025-03-09T08:30:00Z"
        ]
    );
    assert_eq!(
        fires("*/20 * * * *", zone, "2025-03-09T06:30:00Z", 3),
        [
            "2025-03-09T06:40:00Z",
            "2025-03-09T07:00:00Z",
            "2025-03-09T07:20:00Z"
        ]
    );
}

#[test]
fn fall_back_fixed_time_fires_first_pass() {
    let zone = "America/New_York";
    assert_eq!(
        fires("30 1 * * *", zone, "2025-11-01T12:00:00Z", 2),
        ["2025-11-02T05:30:00Z", "2025-11-03T06:30:00Z"]
    );
    // From inside the repeated hour, 01:30 EST of the same day must not fire.
    for after in [
        "2025-11-02T05:30:00Z",
        "2025-11-02T06:10:00Z",
        "2025-11-02T06:29:59Z",
    ] {
        assert_eq!(
            fires("30 1 * * *", zone, after, 1),
            ["2025-11-03T06:30:00Z"],
            "after {after}"
        );
    }
}

#[test]
fn fall_back_fixed_hour_every_minute() {
    let zone = "America/New_York";
    assert_eq!(
        fires("* 1 * * *", zone, "2025-11-02T05:58:00Z", 2),
        ["2025-11-02T05:59:00Z", "2025-11-03T06:00:00Z"]
    );
    assert_eq!(
        fires("*/20 1 * * *", zone, "2025-11-02T05:50:00Z", 1),
        ["2025-11-03T06:00:00Z"]
    );
}

#[test]
fn fall_back_every_hour_fires_each_real_hour() {
    assert_eq!(
        fires("0 * * * *", "America/New_York", "2025-11-02T03:30:00Z", 5),
        [
            "2025-11-02T04:00:00Z",
            "2025-11-02T05:00:00Z",
            "2025-11-02T06:00:00Z",
            "2025-11-02T07:00:00Z",
            "2025-11-02T08:00:00Z"
        ]
    );
    assert_eq!(
        fires(
            "*/20 * * * *",
            "America/New_York",
            "2025-11-02T04:50:00Z",
            7
        ),
        [
            "2025-11-02T05:00:00Z",
            "2025-11-02T05:20:00Z",
            "2025-11-02T05:40:00Z",
            "2025-11-02T06:00:00Z",
            "2025-11-02T06:20:00Z",
            "2025-11-02T06:40:00Z",
            "2025-11-02T07:00:00Z"
        ]
    );
}

#[test]
fn fall_back_every_hour_from_first_pass() {
    // 05:50Z is 01:50 EDT: 02:00 EDT never comes, 01:00 EST comes first.
    assert_eq!(
        fires("0 * * * *", "America/New_York", "2025-11-02T05:50:00Z", 2),
        ["2025-11-02T06:00:00Z", "2025-11-02T07:00:00Z"]
    );
    assert_eq!(
        fires("*/5 * * * *", "America/New_York", "2025-11-02T05:50:00Z", 3),
        [
            "2025-11-02T05:55:00Z",
            "2025-11-02T06:00:00Z",
            "2025-11-02T06:05:00Z"
        ]
    );
}

#[test]
fn southern_hemisphere_gap() {
    // Sydney moved from 02:00 AEST (+10) to 03:00 AEDT (+11) on 2025-10-05, at 16:00Z.
    assert_eq!(
        fires("30 2 * * *", "Australia/Sydney", "2025-10-03T00:00:00Z", 3),
        [
            "2025-10-03T16:30:00Z",
            "2025-10-04T16:00:00Z",
            "2025-10-05T15:30:00Z"
        ]
    );
}

#[test]
fn half_hour_dst_shift() {
    // Lord Howe moved from 02:00 (+10:30) to 02:30 (+11) on 2025-10-05, at 15:30Z.
    assert_eq!(
        fires(
            "15 2 * * *",
            "Australia/Lord_Howe",
            "2025-10-03T00:00:00Z",
            3
        ),
        [
            "2025-10-03T15:45:00Z",
            "2025-10-04T15:30:00Z",
            "2025-10-05T15:15:00Z"
        ]
    );
}

#[test]
fn midnight_gap_fires_at_one() {
    // Cuba moved from 00:00 CST (-5) to 01:00 CDT (-4) on 2025-03-09, at 05:00Z.
    assert_eq!(
        fires("@daily", "America/Havana", "2025-03-08T12:00:00Z", 2),
        ["2025-03-09T05:00:00Z", "2025-03-10T04:00:00Z"]
    );
}

#[test]
fn skipped_calendar_day() {
    // Samoa went from 2011-12-29 24:00 (-10) to 2011-12-31 00:00 (+14), at 10:00Z, so
    // 2011-12-30 never happened there.
    assert_eq!(
        fires("0 9 * * *", "Pacific/Apia", "2011-12-29T00:00:00Z", 3),
        [
            "2011-12-29T19:00:00Z",
            "2011-12-30T10:00:00Z",
            "2011-12-30T19:00:00Z"
        ]
    );
    assert_eq!(
        fires("0 * * * *", "Pacific/Apia", "2011-12-30T09:30:00Z", 2),
        ["2011-12-30T10:00:00Z", "2011-12-30T11:00:00Z"]
    );
}

#[test]
fn tz_environment_ignored() {
    let expressions = ["30 2 * * *", "0 * * * *", "0 0 L * ?", "@daily"];
    let zones = ["America/New_York", "UTC", "Asia/Kolkata"];
    let expected = all_fires(&expressions, &zones);
    for value in ["Asia/Tokyo", "America/Los_Angeles", "EST5EDT", "garbage"] {
        // SAFETY: no code in this crate reads TZ or calls the C library's time functions, so
        // no other thread reads the variable while it changes.
        unsafe { std::env::set_var("TZ", value) };
        assert_eq!(all_fires(&expressions, &zones), expected, "TZ={value}");
    }
    // SAFETY: as above.
    unsafe { std::env::remove_var("TZ") };
}

fn all_fires(expressions: &[&str], zones: &[&str]) -> Vec<Vec<String>> {
    let mut all = Vec::new();
    for expression in expressions {
        for zone in zones {
            all.push(fires(expression, zone, "2025-03-08T00:00:00Z", 30));
        }
    }
    all
}

#[test]
fn matches_brute_force_reference() {
    let expressions = [
        "0 * * * *",
        "30 * * * *",
        "*/20 * * * *",
        "45 0-23 * * *",
        "30 1 * * *",
        "30 2 * * *",
        "*/15 2 * * *",
        "* 1 * * *",
        "0 1-3 * * *",
        "15 */2 * * *",
        "0 0 * * *",
    ];
    let windows = [
        ("America/New_York", "2025-03-08T12:00:00Z"),
        ("America/New_York", "2025-11-01T12:00:00Z"),
        ("Europe/London", "2025-03-29T12:00:00Z"),
        ("Europe/London", "2025-10-25T12:00:00Z"),
        ("Australia/Lord_Howe", "2025-04-05T00:00:00Z"),
        ("Australia/Lord_Howe", "2025-10-04T00:00:00Z"),
        ("America/Havana", "2025-03-08T12:00:00Z"),
        ("Pacific/Apia", "2011-12-29T00:00:00Z"),
    ];
    for (zone_name, start) in windows {
        let zone: Tz = zone_name.parse().unwrap();
        let from = utc(start);
        let to = from + TimeDelta::days(2);
        for expression in expressions {
            let schedule = Schedule::parse(expression, zone_name).unwrap();
            let actual: Vec<DateTime<Utc>> = schedule
                .fire_times_after(from, from)
                .take_while(|&instant| instant <= to)
                .collect();
            let pattern = CronPattern::parse(expression).unwrap();
            let expected = reference_fires(&pattern, zone, from, to);
            assert_eq!(actual, expected, "{expression} in {zone_name} from {start}");
        }
    }
}

/// Computes the fire instants in `(from, to]` minute by minute, straight from the DST rule.
///
/// An every-hour pattern fires whenever the wall clock shows a matching minute. Any other
/// pattern fires when the wall clock rises above its previous maximum to a matching minute,
/// or jumps over one.
fn reference_fires(
    pattern: &CronPattern,
    zone: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    let minute = TimeDelta::minutes(1);
    let matches = |wall| pattern.next_local(wall) == Some(wall);
    let mut fires = Vec::new();
    let mut previous_wall = zone::wall_clock(zone, from).unwrap();
    let mut highest_wall = previous_wall;
    let mut instant = from + minute;
    while instant <= to {
        let wall = zone::wall_clock(zone, instant).unwrap();
        let fires_now = if pattern.matches_every_hour() {
            matches(wall)
        } else {
            let jumped_over_match =
                std::iter::successors(Some(previous_wall + minute), |&w| Some(w + minute))
                    .take_while(|&skipped| skipped < wall)
                    .any(|skipped| skipped > highest_wall && matches(skipped));
            (wall > highest_wall && matches(wall)) || jumped_over_match
        };
        if fires_now {
            fires.push(instant);
        }
        highest_wall = highest_wall.max(wall);
        previous_wall = wall;
        instant += minute;
    }
    fires
}
