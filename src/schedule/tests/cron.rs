//! Cron expressions in UTC and in zones without a DST change nearby.

use super::{Schedule, ScheduleError, fires, format, preview, utc};

#[test]
fn five_field_steps() {
    assert_eq!(
        fires("*/15 * * * *", "", "2025-01-01T10:07:30Z", 3),
        [
            "2025-01-01T10:15:00Z",
            "2025-01-01T10:30:00Z",
            "2025-01-01T10:45:00Z"
        ]
    );
    assert_eq!(
        fires("10-50/20 9 * * *", "UTC", "2025-01-01T09:10:00Z", 3),
        [
            "2025-01-01T09:30:00Z",
            "2025-01-01T09:50:00Z",
            "2025-01-02T09:10:00Z"
        ]
    );
}

#[test]
fn five_field_lists_and_names() {
    // 2025-01-01 is a Wednesday.
    assert_eq!(
        fires("0 9,17 * JAN,jul MON-FRI", "", "2025-01-02T17:00:00Z", 4),
        [
            "2025-01-03T09:00:00Z",
            "2025-01-03T17:00:00Z",
            "2025-01-06T09:00:00Z",
            "2025-01-06T17:00:00Z"
        ]
    );
    assert_eq!(
        fires("0 12 * * SUN,7", "", "2025-01-01T00:00:00Z", 2),
        ["2025-01-05T12:00:00Z", "2025-01-12T12:00:00Z"]
    );
}

#[test]
fn six_field_seconds() {
    assert_eq!(
        fires("*/20 * * * * *", "", "2025-01-01T00:00:50Z", 3),
        [
            "2025-01-01T00:01:00Z",
            "2025-01-01T00:01:20Z",
            "2025-01-01T00:01:40Z"
        ]
    );
    assert_eq!(
        fires("5 0 0 * * *", "", "2025-01-01T00:00:05Z", 1),
        ["2025-01-02T00:00:05Z"]
    );
}

#[test]
fn seven_field_years() {
    assert_eq!(
        fires("0 0 12 1 1 * 2027,2029-2030", "", "2025-06-01T00:00:00Z", 4),
        [
            "2027-01-01T12:00:00Z",
            "2029-01-01T12:00:00Z",
            "2030-01-01T12:00:00Z"
        ]
    );
    assert_eq!(
        fires("0 0 0 29 2 ? 2025-2099", "", "2025-01-01T00:00:00Z", 2),
        ["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"]
    );
    assert_eq!(
        fires("0 30 6 1 1 * *", "", "2025-01-01T06:30:00Z", 1),
        ["2026-01-01T06:30:00Z"]
    );
}

#[test]
fn macros_fire() {
    let after = "2025-05-14T10:20:30Z";
    let cases = [
        ("@yearly", "2026-01-01T00:00:00Z"),
        ("@annually", "2026-01-01T00:00:00Z"),
        ("@monthly", "2025-06-01T00:00:00Z"),
        ("@weekly", "2025-05-18T00:00:00Z"),
        ("@daily", "2025-05-15T00:00:00Z"),
        ("@midnight", "2025-05-15T00:00:00Z"),
        ("@hourly", "2025-05-14T11:00:00Z"),
        ("  @Hourly ", "2025-05-14T11:00:00Z"),
    ];
    for (expression, expected) in cases {
        assert_eq!(fires(expression, "", after, 1), [expected], "{expression}");
    }
}

#[test]
fn quartz_last_day_forms() {
    assert_eq!(
        fires("0 0 L * ?", "", "2024-01-31T00:00:00Z", 3),
        [
            "2024-02-29T00:00:00Z",
            "2024-03-31T00:00:00Z",
            "2024-04-30T00:00:00Z"
        ]
    );
    // Last weekdays: 2025-05-30 (31st is a Saturday), 2025-06-30, 2025-07-31, 2025-08-29.
    assert_eq!(
        fires("0 18 LW * ?", "", "2025-05-01T00:00:00Z", 4),
        [
            "2025-05-30T18:00:00Z",
            "2025-06-30T18:00:00Z",
            "2025-07-31T18:00:00Z",
            "2025-08-29T18:00:00Z"
        ]
    );
}

#[test]
fn quartz_nearest_weekday() {
    // 15ths of 2025: Mar is a Saturday, Jun a Sunday, Apr a Tuesday, Feb a Saturday.
    assert_eq!(
        fires("0 0 15W * ?", "", "2025-02-01T00:00:00Z", 5),
        [
            "2025-02-14T00:00:00Z",
            "2025-03-14T00:00:00Z",
            "2025-04-15T00:00:00Z",
            "2025-05-15T00:00:00Z",
            "2025-06-16T00:00:00Z"
        ]
    );
    // 2025-02-01 and 2025-03-01 are Saturdays, so 1W moves to Monday the 3rd.
    assert_eq!(
        fires("0 0 1W * ?", "", "2025-01-15T00:00:00Z", 3),
        [
            "2025-02-03T00:00:00Z",
            "2025-03-03T00:00:00Z",
            "2025-04-01T00:00:00Z"
        ]
    );
}

#[test]
fn quartz_weekday_occurrences() {
    let second_mondays = [
        "2025-01-13T09:00:00Z",
        "2025-02-10T09:00:00Z",
        "2025-03-10T09:00:00Z",
    ];
    for expression in ["0 9 ? * MON#2", "0 9 ? * 1#2", "0 9 * * mon#2"] {
        assert_eq!(
            fires(expression, "", "2025-01-01T00:00:00Z", 3),
            second_mondays,
            "{expression}"
        );
    }
    let last_fridays = [
        "2025-01-31T09:00:00Z",
        "2025-02-28T09:00:00Z",
        "2025-03-28T09:00:00Z",
    ];
    for expression in ["0 9 ? * 5L", "0 9 ? * FRI#L", "0 9 * * FRIL"] {
        assert_eq!(
            fires(expression, "", "2025-01-01T00:00:00Z", 3),
            last_fridays,
            "{expression}"
        );
    }
}

#[test]
fn question_mark_means_unrestricted() {
    assert_eq!(
        fires("0 0 ? * ?", "", "2025-01-01T00:00:00Z", 2),
        ["2025-01-02T00:00:00Z", "2025-01-03T00:00:00Z"]
    );
    assert_eq!(
        fires("0 0 10 * ?", "", "2025-01-01T00:00:00Z", 2),
        ["2025-01-10T00:00:00Z", "2025-02-10T00:00:00Z"]
    );
}

#[test]
fn posix_rule_fires_on_either_day_field() {
    // Fridays of 2025-06 are 6, 13, 20 and 27; the 13th is one of them.
    assert_eq!(
        fires("0 0 13 * FRI", "", "2025-06-01T00:00:00Z", 6),
        [
            "2025-06-06T00:00:00Z",
            "2025-06-13T00:00:00Z",
            "2025-06-20T00:00:00Z",
            "2025-06-27T00:00:00Z",
            "2025-07-04T00:00:00Z",
            "2025-07-11T00:00:00Z"
        ]
    );
    // 2025-09-01 is a Monday, so day 1 and MON fire once on it.
    assert_eq!(
        fires("0 0 1,15 9 MON", "", "2025-08-31T00:00:00Z", 5),
        [
            "2025-09-01T00:00:00Z",
            "2025-09-08T00:00:00Z",
            "2025-09-15T00:00:00Z",
            "2025-09-22T00:00:00Z",
            "2025-09-29T00:00:00Z"
        ]
    );
    // The OR rule also applies to Quartz forms: the last day, or the 2nd Monday.
    assert_eq!(
        fires("0 0 L 9 MON#2", "", "2025-08-31T00:00:00Z", 2),
        ["2025-09-08T00:00:00Z", "2025-09-30T00:00:00Z"]
    );
}

#[test]
fn time_zone_without_dst() {
    assert_eq!(
        fires("30 9 * * *", "Asia/Kolkata", "2025-01-01T00:00:00Z", 2),
        ["2025-01-01T04:00:00Z", "2025-01-02T04:00:00Z"]
    );
    assert_eq!(
        fires("0 0 1 * *", "Asia/Tokyo", "2025-01-01T00:00:00Z", 1),
        ["2025-01-31T15:00:00Z"]
    );
}

#[test]
fn time_zone_applies_to_day_fields() {
    // Midnight of Friday 2025-06-06 in Auckland (NZST, +12) is Thursday noon in UTC.
    assert_eq!(
        fires("0 0 * * FRI", "Pacific/Auckland", "2025-06-01T00:00:00Z", 1),
        ["2025-06-05T12:00:00Z"]
    );
}

#[test]
fn next_after_is_strict() {
    let schedule = Schedule::parse("0 * * * *", "").unwrap();
    let anchor = utc("2020-01-01T00:00:00Z");
    let cases = [
        ("2025-01-01T10:00:00Z", "2025-01-01T11:00:00Z"),
        ("2025-01-01T09:59:59.999Z", "2025-01-01T10:00:00Z"),
        ("2025-01-01T10:00:00.001Z", "2025-01-01T11:00:00Z"),
    ];
    for (after, expected) in cases {
        let next = schedule.next_after(utc(after), anchor).unwrap();
        assert_eq!(format(next), expected, "after {after}");
    }
}

#[test]
fn never_firing_expressions_rejected() {
    for expression in ["0 0 30 2 *", "0 0 31 4,6,9,11 *", "0 0 0 29 2 * 2025-2027"] {
        let error = Schedule::parse(expression, "").unwrap_err();
        assert_eq!(
            error,
            ScheduleError::NeverFires {
                expression: expression.to_string()
            }
        );
        assert!(error.to_string().contains(expression), "{error}");
    }
}

#[test]
fn past_years_rejected_against_now() {
    let schedule = Schedule::parse("0 0 0 1 1 * 2020-2022", "").unwrap();
    let now = utc("2025-01-01T00:00:00Z");
    assert_eq!(schedule.next_after(now, now), None);
    let error = schedule.ensure_fires_after(now).unwrap_err();
    assert_eq!(
        error.to_string(),
        "schedule \"0 0 0 1 1 * 2020-2022\" never fires after 2025-01-01T00:00:00+00:00"
    );
    assert_eq!(error.field(), "schedule");
    assert_eq!(
        schedule.ensure_fires_after(utc("2021-06-01T00:00:00Z")),
        Ok(())
    );
}

#[test]
fn last_year_ends_the_schedule() {
    assert_eq!(
        fires("0 0 0 1 */6 * 2099", "", "2099-01-01T00:00:00Z", 5),
        ["2099-07-01T00:00:00Z"]
    );
}

#[test]
fn preview_lists_instants() {
    let from = utc("2025-01-01T00:00:00Z");
    let instants = preview("0 12 * * MON", "Europe/Berlin", from, 3).unwrap();
    let formatted: Vec<String> = instants.into_iter().map(format).collect();
    assert_eq!(
        formatted,
        [
            "2025-01-06T11:00:00Z",
            "2025-01-13T11:00:00Z",
            "2025-01-20T11:00:00Z"
        ]
    );
    assert_eq!(preview("@daily", "", from, 0), Ok(vec![]));
}

#[test]
fn preview_errors() {
    let from = utc("2025-01-01T00:00:00Z");
    let past = preview("0 0 0 1 1 * 2020", "", from, 3).unwrap_err();
    assert!(matches!(past, ScheduleError::NoFireAfter { .. }), "{past}");
    let zone = preview("@daily", "Europe/Berlinn", from, 3).unwrap_err();
    assert_eq!(zone.field(), "timeZone");
    let expression = preview("@dialy", "Europe/Berlin", from, 3).unwrap_err();
    assert_eq!(expression.field(), "schedule");
}

#[test]
fn preview_stops_with_last_year() {
    let from = utc("2025-01-01T00:00:00Z");
    let instants = preview("0 0 0 1 1 * 2026-2027", "", from, 10).unwrap();
    assert_eq!(instants.len(), 2);
}

#[test]
fn schedule_accessors() {
    let schedule = Schedule::parse("0 0 * * *", "Europe/Paris").unwrap();
    assert_eq!(schedule.expression(), "0 0 * * *");
    assert_eq!(schedule.time_zone(), chrono_tz::Tz::Europe__Paris);
    assert!(!schedule.is_every());
}

#[test]
fn schedule_is_send_sync_clone() {
    fn assert_traits<T: Clone + std::fmt::Debug + Send + Sync + 'static>() {}
    assert_traits::<Schedule>();
    assert_traits::<ScheduleError>();
}
