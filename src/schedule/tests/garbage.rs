//! Error messages for bad input, and random input that must never panic.

use chrono::{DateTime, TimeDelta, Utc};

use super::{Schedule, ScheduleError, preview, utc};

#[test]
fn invalid_expression_message() {
    let error = Schedule::parse("61 * * * *", "UTC").unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid schedule \"61 * * * *\": minute field item \"61\": value 61 is out of range 0-59"
    );
    assert_eq!(error.field(), "schedule");
}

#[test]
fn unknown_time_zone_message() {
    let error = Schedule::parse("@daily", "Europe/Atlantis").unwrap_err();
    assert_eq!(
        error.to_string(),
        "unknown time zone \"Europe/Atlantis\": expected an IANA name such as \
         \"Europe/Berlin\", or \"UTC\""
    );
    assert_eq!(error.field(), "timeZone");
}

#[test]
fn expression_checked_before_time_zone() {
    let error = Schedule::parse("bad", "Europe/Atlantis").unwrap_err();
    assert_eq!(error.field(), "schedule");
}

#[test]
fn garbage_inputs_rejected() {
    let thousand_fields = vec!["1"; 1000].join(" ");
    let long_number = "9".repeat(5000);
    let inputs = [
        "",
        "   ",
        "\t\n",
        "*",
        "* * * * * * * *",
        thousand_fields.as_str(),
        long_number.as_str(),
        "99999999999999999999 * * * *",
        "*/0 * * * *",
        "* */0 * * *",
        "1-2-3 * * * *",
        "*/ * * * *",
        "/5 * * * *",
        "* * * * MON#",
        "* * * * #2",
        "* * L-L * *",
        "* * LWW * *",
        "* * * * 5LL",
        "ünïcödé * * * *",
        "٣ * * * *",
        "😀 😀 😀 😀 😀",
        "@",
        "@@daily",
        "@daily extra",
        "0 0 * * * 1970-",
        "0 0 * * * 2099/0",
        "\u{0} * * * *",
    ];
    for input in inputs {
        let result = Schedule::parse(input, "UTC");
        assert!(
            matches!(result, Err(ScheduleError::InvalidExpression { .. })),
            "{input:?}: {result:?}"
        );
    }
}

#[test]
fn long_garbage_message_is_short() {
    let thousand_fields = vec!["1"; 1000].join(" ");
    let error = Schedule::parse(&thousand_fields, "UTC").unwrap_err();
    assert!(error.to_string().len() < 400, "{error}");
    assert!(error.to_string().contains("found 1000"), "{error}");
}

/// A 64-bit linear congruential generator (Knuth's MMIX constants), enough to spread test
/// inputs without a dependency.
struct Lcg(u64);

impl Lcg {
    fn next_below(&mut self, bound: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as usize) % bound
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.next_below(items.len())]
    }
}

/// Instants that stress the search: chrono's limits, epoch edges and DST days.
fn probe_instants() -> Vec<DateTime<Utc>> {
    vec![
        DateTime::<Utc>::MIN_UTC,
        DateTime::<Utc>::MAX_UTC,
        DateTime::<Utc>::MAX_UTC - TimeDelta::days(3),
        utc("1969-12-31T23:59:59Z"),
        utc("2025-03-09T06:59:59.999Z"),
        utc("2025-11-02T05:59:59Z"),
        utc("2025-11-02T06:30:00Z"),
        utc("2099-12-31T23:59:59Z"),
    ]
}

/// Checks that fires of a parsed schedule increase strictly and start after `after`.
fn check_fires(schedule: &Schedule, after: DateTime<Utc>) {
    let mut previous = after;
    for instant in schedule.fire_times_after(after, after).take(3) {
        assert!(
            instant > previous,
            "{schedule:?}: {instant} after {previous}"
        );
        previous = instant;
    }
}

#[test]
fn random_characters_never_panic() {
    let alphabet: Vec<char> = "0123456789 */,-?#LW@ lwJANMONFRIevryhdsmu.\u{b5}é😀\t"
        .chars()
        .collect();
    let zones = [
        "UTC",
        "America/New_York",
        "Pacific/Apia",
        "Australia/Lord_Howe",
    ];
    let mut random = Lcg(7);
    let instants = probe_instants();
    for _ in 0..20_000 {
        let length = random.next_below(24);
        let expression: String = (0..length).map(|_| random.pick(&alphabet)).collect();
        let zone = random.pick(&zones);
        if let Ok(schedule) = Schedule::parse(&expression, zone) {
            check_fires(&schedule, random.pick(&instants));
        }
    }
}

/// Tokens that fit any field, then tokens per field in the order of a 7-field expression.
const SHARED_TOKENS: [&str; 8] = ["*", "*/5", "1", "1-5", "1,2", "5/10", "99999", "*/0"];
const FIELD_TOKENS: [&[&str]; 7] = [
    &["0", "30", "59", "60", "0-59/7"],
    &["0", "15", "59", "*/20", "10-50/20"],
    &["0", "2", "23", "24", "1-3", "*/2"],
    &["?", "L", "LW", "15W", "31W", "L-3", "29", "30", "31", "1W"],
    &["JAN", "2", "*/3", "FEB", "4,6,9,11", "13"],
    &["?", "MON#2", "5L", "FRI#L", "MON-FRI", "7", "1#5", "L"],
    &["2025", "2030-2040", "2099", "1970", "2020", "2100"],
];

/// Builds a 5-, 6- or 7-field expression from mostly valid tokens.
fn random_expression(random: &mut Lcg) -> String {
    let field_count = 5 + random.next_below(3);
    // A 5-field expression has no seconds, so it starts at the minute tokens.
    let first_field = if field_count == 5 { 1 } else { 0 };
    let mut fields = Vec::new();
    for field_tokens in &FIELD_TOKENS[first_field..first_field + field_count] {
        let token = if random.next_below(4) == 0 {
            random.pick(&SHARED_TOKENS)
        } else {
            random.pick(field_tokens)
        };
        fields.push(token);
    }
    fields.join(" ")
}

#[test]
fn random_field_tokens_never_panic() {
    let zones = ["UTC", "America/New_York", "Europe/London", "Pacific/Apia"];
    let mut random = Lcg(11);
    let instants = probe_instants();
    let mut parsed = 0;
    for _ in 0..20_000 {
        let expression = random_expression(&mut random);
        let zone = random.pick(&zones);
        if let Ok(schedule) = Schedule::parse(&expression, zone) {
            parsed += 1;
            check_fires(&schedule, random.pick(&instants));
        }
    }
    assert!(parsed > 1_000, "only {parsed} random expressions parsed");
}

#[test]
fn preview_at_chrono_limits() {
    let end = DateTime::<Utc>::MAX_UTC;
    let result = preview("@every 1h", "UTC", end, 3);
    assert!(
        matches!(result, Err(ScheduleError::NoFireAfter { .. })),
        "{result:?}"
    );
    let result = preview("* * * * *", "Pacific/Kiritimati", end, 3);
    assert!(
        matches!(result, Err(ScheduleError::NoFireAfter { .. })),
        "{result:?}"
    );
}
