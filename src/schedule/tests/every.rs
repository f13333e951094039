//! `@every` schedules counted from an anchor.

use super::{Schedule, ScheduleError, format, utc};

fn next(expression: &str, after: &str, anchor: &str) -> String {
    let schedule = Schedule::parse(expression, "").unwrap();
    format(schedule.next_after(utc(after), utc(anchor)).unwrap())
}

#[test]
fn every_fires_at_anchor_multiples() {
    let anchor = "2025-01-01T00:00:00Z";
    let cases = [
        ("@every 90s", "2025-01-01T00:00:00Z", "2025-01-01T00:01:30Z"),
        ("@every 90s", "2025-01-01T00:01:29Z", "2025-01-01T00:01:30Z"),
        ("@every 90s", "2025-01-01T00:01:30Z", "2025-01-01T00:03:00Z"),
        ("@every 5m", "2025-01-01T00:07:00Z", "2025-01-01T00:10:00Z"),
        (
            "@every 1h30m",
            "2025-01-02T00:00:00Z",
            "2025-01-02T01:30:00Z",
        ),
        ("@every 2h", "2025-03-01T13:00:00Z", "2025-03-01T14:00:00Z"),
        (
            "@every 1.5s",
            "2025-01-01T00:00:02Z",
            "2025-01-01T00:00:03Z",
        ),
    ];
    for (expression, after, expected) in cases {
        assert_eq!(
            next(expression, after, anchor),
            expected,
            "{expression} after {after}"
        );
    }
}

#[test]
fn every_before_anchor_fires_one_interval_after() {
    assert_eq!(
        next("@every 5m", "2024-06-01T00:00:00Z", "2025-01-01T00:00:00Z"),
        "2025-01-01T00:05:00Z"
    );
    assert_eq!(
        next("@every 5m", "2024-12-31T23:59:59Z", "2025-01-01T00:00:00Z"),
        "2025-01-01T00:05:00Z"
    );
}

#[test]
fn every_never_reanchors() {
    // Seven days hold exactly 1,440 intervals of 7 minutes, so fires stay at 3s past.
    let anchor = "2025-01-01T00:00:03Z";
    assert_eq!(
        next("@every 7m", "2025-01-08T00:00:00Z", anchor),
        "2025-01-08T00:00:03Z"
    );
    assert_eq!(
        next("@every 7m", "2025-01-08T00:00:03Z", anchor),
        "2025-01-08T00:07:03Z"
    );
}

#[test]
fn every_keeps_anchor_fraction() {
    assert_eq!(
        next(
            "@every 1s",
            "2025-01-01T00:00:10Z",
            "2025-01-01T00:00:00.250Z"
        ),
        "2025-01-01T00:00:10.250Z"
    );
}

#[test]
fn every_ignores_time_zone_and_dst() {
    let anchor = utc("2025-11-02T04:30:00Z");
    let new_york = Schedule::parse("@every 1h", "America/New_York").unwrap();
    let in_utc = Schedule::parse("@every 1h", "UTC").unwrap();
    let expected: Vec<String> = [
        "2025-11-02T05:30:00Z",
        "2025-11-02T06:30:00Z",
        "2025-11-02T07:30:00Z",
    ]
    .map(String::from)
    .to_vec();
    for schedule in [new_york, in_utc] {
        assert!(schedule.is_every());
        let fires: Vec<String> = schedule
            .fire_times_after(anchor, anchor)
            .take(3)
            .map(format)
            .collect();
        assert_eq!(fires, expected, "{:?}", schedule.time_zone());
    }
}

#[test]
fn every_keyword_forms() {
    let anchor = "2025-01-01T00:00:00Z";
    for expression in ["@EVERY 1m", "  @every   1m  ", "@every\t1m"] {
        assert_eq!(
            next(expression, anchor, anchor),
            "2025-01-01T00:01:00Z",
            "{expression:?}"
        );
    }
}

#[test]
fn every_rejects_bad_intervals() {
    let cases = [
        (
            "@every 500ms",
            "@every interval 500ms is shorter than the minimum of 1s",
        ),
        ("@every 0s", "shorter than the minimum of 1s"),
        ("@every", "@every needs a duration"),
        ("@every ", "@every needs a duration"),
        ("@every 1h 30m", "one duration without spaces"),
        ("@every -5m", "must be positive"),
        ("@every 5 minutes", "one duration without spaces"),
        ("@every 5x", "expected a unit"),
        ("@everyday", "unknown macro"),
    ];
    for (expression, expected) in cases {
        let error = Schedule::parse(expression, "").unwrap_err();
        let ScheduleError::InvalidExpression { reason, .. } = &error else {
            panic!("{expression:?}: expected InvalidExpression, got {error:?}");
        };
        assert!(reason.contains(expected), "{expression:?}: {reason}");
        assert!(error.to_string().contains(expression.trim()), "{error}");
    }
}
