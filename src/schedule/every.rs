//! `@every <duration>` schedules: a fixed interval counted from an anchor instant.
//!
//! Durations use Go's `time.ParseDuration` syntax: one or more decimal numbers, each with a
//! unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), as in `90s`, `1h30m` or `1.5h`. Signs are
//! rejected because an interval must be positive.

use chrono::{DateTime, Utc};

const NANOS_PER_SECOND: i128 = 1_000_000_000;
/// Smallest accepted interval, so that a schedule cannot flood the cluster.
const MIN_INTERVAL_NANOS: i128 = NANOS_PER_SECOND;
/// Largest accepted interval: Go's limit, the range of an i64 count of nanoseconds (~292 years).
const MAX_INTERVAL_NANOS: i128 = i64::MAX as i128;
/// Fraction digits beyond this many are ignored, as they are below a nanosecond of an hour.
const MAX_FRACTION_DIGITS: u32 = 18;

const UNITS: [(&str, i128); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("\u{b5}s", 1_000),
    ("\u{3bc}s", 1_000),
    ("ms", 1_000_000),
    ("s", NANOS_PER_SECOND),
    ("m", 60 * NANOS_PER_SECOND),
    ("h", 3_600 * NANOS_PER_SECOND),
];

/// A fixed interval between fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Every {
    interval_nanos: i128,
}

impl Every {
    /// Parses the duration after `@every`. Errors explain what is wrong with it.
    pub(super) fn parse(duration: &str) -> Result<Every, String> {
        if duration.is_empty() {
            return Err("@every needs a duration, as in @every 5m".to_string());
        }
        if duration.starts_with(['+', '-']) {
            return Err(format!(
                "@every duration {duration:?} must be positive and written without a sign"
            ));
        }
        let interval_nanos = parse_duration_nanos(duration)?;
        if interval_nanos < MIN_INTERVAL_NANOS {
            return Err(format!(
                "@every interval {duration} is shorter than the minimum of 1s"
            ));
        }
        Ok(Every { interval_nanos })
    }

    /// Returns `anchor + k * interval` for the smallest `k >= 1` that lands strictly after
    /// `after`, or `None` when that instant is outside chrono's range.
    pub(super) fn next_after(
        &self,
        after: DateTime<Utc>,
        anchor: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let anchor_nanos = nanos_since_epoch(anchor);
        let elapsed = nanos_since_epoch(after) - anchor_nanos;
        let intervals = if elapsed < 0 {
            1
        } else {
            elapsed / self.interval_nanos + 1
        };
        let fire = anchor_nanos.checked_add(intervals.checked_mul(self.interval_nanos)?)?;
        instant_from_nanos(fire)
    }

    #[cfg(test)]
    pub(super) fn interval(&self) -> chrono::TimeDelta {
        // The interval is at most i64::MAX nanoseconds, which TimeDelta can hold.
        chrono::TimeDelta::nanoseconds(self.interval_nanos as i64)
    }
}

/// Parses an unsigned Go duration into nanoseconds.
fn parse_duration_nanos(text: &str) -> Result<i128, String> {
    let invalid = |detail: &str| format!("@every duration {text:?} is invalid: {detail}");
    let mut rest = text;
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let (whole, fraction, after_number) = split_number(rest).ok_or_else(|| {
            invalid("expected a number followed by a unit, as in 90s, 5m or 1h30m")
        })?;
        let (unit_nanos, after_unit) = split_unit(after_number)
            .ok_or_else(|| invalid("expected a unit: ns, us, ms, s, m or h"))?;
        let component = component_nanos(whole, fraction, unit_nanos)
            .ok_or_else(|| invalid("the duration is too large"))?;
        total = total
            .checked_add(component)
            .filter(|&total| total <= MAX_INTERVAL_NANOS)
            .ok_or_else(|| invalid("the duration is longer than about 292 years"))?;
        rest = after_unit;
    }
    Ok(total)
}

/// Splits a leading decimal number (`5`, `1.5`, `.5`, `5.`) into its whole digits, fraction
/// digits and the remaining text. Returns `None` when there is no digit.
fn split_number(text: &str) -> Option<(&str, &str, &str)> {
    let whole_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (whole, rest) = text.split_at(whole_end);
    let (fraction, rest) = match rest.strip_prefix('.') {
        Some(after_point) => {
            let end = after_point
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(after_point.len());
            after_point.split_at(end)
        }
        None => ("", rest),
    };
    (!whole.is_empty() || !fraction.is_empty()).then_some((whole, fraction, rest))
}

/// Splits a leading unit off `text`, returning its length in nanoseconds and the rest.
fn split_unit(text: &str) -> Option<(i128, &str)> {
    let unit_end = text
        .find(|c: char| c.is_ascii_digit() || c == '.')
        .unwrap_or(text.len());
    let (unit, rest) = text.split_at(unit_end);
    UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|&(_, nanos)| (nanos, rest))
}

/// Returns `whole.fraction` units in nanoseconds, or `None` when it overflows.
fn component_nanos(whole: &str, fraction: &str, unit_nanos: i128) -> Option<i128> {
    let mut nanos: i128 = 0;
    for digit in whole.bytes() {
        nanos = nanos
            .checked_mul(10)?
            .checked_add(i128::from(digit - b'0'))?;
        // Stop early so that a huge digit string cannot overflow i128 arithmetic below.
        if nanos > MAX_INTERVAL_NANOS {
            return None;
        }
    }
    let mut nanos = nanos.checked_mul(unit_nanos)?;
    let (mut numerator, mut scale): (i128, i128) = (0, 1);
    for digit in fraction.bytes().take(MAX_FRACTION_DIGITS as usize) {
        numerator = numerator * 10 + i128::from(digit - b'0');
        scale *= 10;
    }
    nanos = nanos.checked_add(numerator * unit_nanos / scale)?;
    Some(nanos)
}

fn nanos_since_epoch(instant: DateTime<Utc>) -> i128 {
    i128::from(instant.timestamp()) * NANOS_PER_SECOND
        + i128::from(instant.timestamp_subsec_nanos())
}

fn instant_from_nanos(nanos: i128) -> Option<DateTime<Utc>> {
    let seconds = i64::try_from(nanos.div_euclid(NANOS_PER_SECOND)).ok()?;
    // rem_euclid is in 0..1e9, so it fits a u32.
    let subsec = nanos.rem_euclid(NANOS_PER_SECOND) as u32;
    DateTime::from_timestamp(seconds, subsec)
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    fn interval(duration: &str) -> TimeDelta {
        Every::parse(duration).unwrap().interval()
    }

    #[test]
    fn parse_go_durations() {
        assert_eq!(interval("90s"), TimeDelta::seconds(90));
        assert_eq!(interval("5m"), TimeDelta::minutes(5));
        assert_eq!(interval("1h30m"), TimeDelta::minutes(90));
        assert_eq!(interval("2h"), TimeDelta::hours(2));
        assert_eq!(interval("1.5h"), TimeDelta::minutes(90));
        assert_eq!(interval(".5m"), TimeDelta::seconds(30));
        assert_eq!(interval("1500ms"), TimeDelta::milliseconds(1500));
        assert_eq!(interval("1s500ms"), TimeDelta::milliseconds(1500));
        assert_eq!(interval("1000000us"), TimeDelta::seconds(1));
        assert_eq!(interval("1000000\u{b5}s"), TimeDelta::seconds(1));
        assert_eq!(interval("1000000000ns"), TimeDelta::seconds(1));
        assert_eq!(interval("2562047h"), TimeDelta::hours(2_562_047));
    }

    #[test]
    fn parse_rejects_bad_durations() {
        let cases = [
            ("500ms", "shorter than the minimum of 1s"),
            ("0", "expected a unit"),
            ("0s", "shorter than the minimum of 1s"),
            ("999999999ns", "shorter than the minimum of 1s"),
            ("", "needs a duration"),
            ("-5m", "without a sign"),
            ("+5m", "without a sign"),
            ("5", "expected a unit"),
            ("5d", "expected a unit"),
            ("5M", "expected a unit"),
            ("m", "expected a number"),
            (".s", "expected a number"),
            ("1h 30m", "expected a unit"),
            ("2562048h", "longer than about 292 years"),
            ("99999999999999999999999999999999999999999h", "too large"),
        ];
        for (duration, expected) in cases {
            let error = Every::parse(duration).unwrap_err();
            assert!(error.contains(expected), "{duration:?}: {error}");
        }
    }
}
