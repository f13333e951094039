//! Cron patterns: parsing of 5-, 6- and 7-field expressions and macros, and the search for the
//! next matching wall-clock time.
//!
//! The search works on naive local date-times only. Mapping them onto instants in a time zone,
//! with its DST gaps and overlaps, is the job of `fire`.

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

use super::days::DaySpec;
use super::fields::{self, BitSet, HOUR, MINUTE, MONTH, SECOND};

/// Length of the Gregorian calendar cycle. Month lengths, leap years and weekdays repeat every
/// 400 years (146,097 days, exactly 20,871 weeks), so a day rule that matches no date in one
/// cycle matches no date ever.
const GREGORIAN_CYCLE_YEARS: i32 = 400;

/// Expansions of the supported `@` macros, matched case-insensitively.
const MACROS: [(&str, &str); 7] = [
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
];

/// A parsed cron expression: the set of wall-clock times it matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct CronPattern {
    seconds: BitSet,
    minutes: BitSet,
    hours: BitSet,
    days: DaySpec,
    months: BitSet,
    /// Sorted allowed years, or `None` when the expression has no year field or it is `*`.
    years: Option<Vec<i32>>,
}

impl CronPattern {
    /// Parses a trimmed cron expression or macro. Errors name the field and the problem.
    pub(super) fn parse(expression: &str) -> Result<CronPattern, String> {
        let expanded = expand_macro(expression)?;
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let (times, days, year) = match *fields.as_slice() {
            [minute, hour, day_of_month, month, day_of_week] => {
                (["0", minute, hour], [day_of_month, month, day_of_week], "*")
            }
            [second, minute, hour, day_of_month, month, day_of_week] => (
                [second, minute, hour],
                [day_of_month, month, day_of_week],
                "*",
            ),
            [second, minute, hour, day_of_month, month, day_of_week, year] => (
                [second, minute, hour],
                [day_of_month, month, day_of_week],
                year,
            ),
            _ => {
                return Err(format!(
                    "expected 5 fields (minute hour day-of-month month day-of-week), 6 with \
                     seconds first, or 7 with a year last, but found {}",
                    fields.len()
                ));
            }
        };
        CronPattern::from_fields(times, days, year)
    }

    fn from_fields(
        [second, minute, hour]: [&str; 3],
        [day_of_month, month, day_of_week]: [&str; 3],
        year: &str,
    ) -> Result<CronPattern, String> {
        Ok(CronPattern {
            seconds: fields::parse_bit_set(second, &SECOND)?,
            minutes: fields::parse_bit_set(minute, &MINUTE)?,
            hours: fields::parse_bit_set(hour, &HOUR)?,
            days: DaySpec::parse(day_of_month, day_of_week)?,
            months: fields::parse_bit_set(month, &MONTH)?,
            years: if year == "*" {
                None
            } else {
                Some(fields::parse_years(year)?)
            },
        })
    }

    /// Returns whether the hour field selects all 24 hours, as in `0 * * * *`.
    pub(super) fn matches_every_hour(&self) -> bool {
        self.hours.contains_all(HOUR.min, HOUR.max)
    }

    /// Returns whether any date matches the day, month and year fields.
    pub(super) fn has_matching_date(&self) -> bool {
        let (first, last) = match &self.years {
            Some(years) => match (years.first(), years.last()) {
                (Some(&first), Some(&last)) => (first, last),
                _ => return false,
            },
            None => (2000, 2000 + GREGORIAN_CYCLE_YEARS - 1),
        };
        let (Some(start), Some(end)) = (first_day_of(first), NaiveDate::from_ymd_opt(last, 12, 31))
        else {
            return false;
        };
        self.next_matching_date(start, end).is_some()
    }

    /// Returns the first matching wall-clock time at or after `from`, or `None` when there is
    /// none before the year field runs out or chrono's date range ends.
    pub(super) fn next_local(&self, from: NaiveDateTime) -> Option<NaiveDateTime> {
        let limit = self.search_limit(from.date())?;
        let mut date = self.next_matching_date(from.date(), limit)?;
        if date == from.date() {
            if let Some(time) = self.first_time_from(from.time()) {
                return Some(date.and_time(time));
            }
            date = self.next_matching_date(date.succ_opt()?, limit)?;
        }
        // Every field has at least one value, so a matching date has a matching time.
        Some(date.and_time(self.first_time_from(NaiveTime::MIN)?))
    }

    /// Returns the last date worth searching from `from`: the end of the last allowed year, or
    /// one Gregorian cycle ahead, after which a match would have repeated.
    fn search_limit(&self, from: NaiveDate) -> Option<NaiveDate> {
        match &self.years {
            Some(years) => NaiveDate::from_ymd_opt(*years.last()?, 12, 31),
            None => {
                let year = from.year().checked_add(GREGORIAN_CYCLE_YEARS + 1);
                Some(year.and_then(first_day_of).unwrap_or(NaiveDate::MAX))
            }
        }
    }

    /// Returns the first date from `from` through `limit` that matches the day, month and year
    /// fields. Skips disallowed years and months whole.
    fn next_matching_date(&self, from: NaiveDate, limit: NaiveDate) -> Option<NaiveDate> {
        let mut date = from;
        while date <= limit {
            if !self.allows_year(date.year()) {
                date = self.first_day_of_next_allowed_year(date.year())?;
            } else if !self.months.contains(date.month()) {
                date = self.first_day_of_next_allowed_month(date)?;
            } else if self.days.matches(date) {
                return Some(date);
            } else {
                date = date.succ_opt()?;
            }
        }
        None
    }

    fn allows_year(&self, year: i32) -> bool {
        self.years
            .as_ref()
            .is_none_or(|years| years.binary_search(&year).is_ok())
    }

    fn first_day_of_next_allowed_year(&self, year: i32) -> Option<NaiveDate> {
        let next = match &self.years {
            Some(years) => *years.iter().find(|&&allowed| allowed > year)?,
            None => year.checked_add(1)?,
        };
        first_day_of(next)
    }

    fn first_day_of_next_allowed_month(&self, date: NaiveDate) -> Option<NaiveDate> {
        match self.months.next_from(date.month() + 1) {
            Some(month) if month <= MONTH.max => NaiveDate::from_ymd_opt(date.year(), month, 1),
            _ => {
                let month = self.months.next_from(MONTH.min)?;
                NaiveDate::from_ymd_opt(date.year().checked_add(1)?, month, 1)
            }
        }
    }

    /// Returns the first matching time of day at or after `from`, ignoring fractions of a
    /// second.
    fn first_time_from(&self, from: NaiveTime) -> Option<NaiveTime> {
        let mut hour = self.hours.next_from(from.hour())?;
        loop {
            let earliest = if hour == from.hour() {
                from
            } else {
                NaiveTime::MIN
            };
            if let Some(time) = self.first_time_in_hour(hour, earliest) {
                return Some(time);
            }
            hour = self.hours.next_from(hour + 1)?;
        }
    }

    /// Returns the first matching time in `hour` at or after `from`, which is at most the
    /// start of that hour.
    fn first_time_in_hour(&self, hour: u32, from: NaiveTime) -> Option<NaiveTime> {
        let from_minute = if from.hour() == hour {
            from.minute()
        } else {
            0
        };
        let mut minute = self.minutes.next_from(from_minute)?;
        loop {
            let from_second = if from.hour() == hour && minute == from.minute() {
                from.second()
            } else {
                0
            };
            if let Some(second) = self.seconds.next_from(from_second) {
                return NaiveTime::from_hms_opt(hour, minute, second);
            }
            minute = self.minutes.next_from(minute + 1)?;
        }
    }
}

fn first_day_of(year: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, 1, 1)
}

/// Replaces a macro such as `@daily` by its cron expression; returns other text unchanged.
fn expand_macro(expression: &str) -> Result<&str, String> {
    if !expression.starts_with('@') {
        return Ok(expression);
    }
    if expression.eq_ignore_ascii_case("@reboot") {
        return Err(
            "@reboot is not supported, because a cluster has no single boot to run at".to_string(),
        );
    }
    MACROS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(expression))
        .map(|(_, expansion)| *expansion)
        .ok_or_else(|| {
            "unknown macro; expected @yearly, @annually, @monthly, @weekly, @daily, @midnight, \
             @hourly or @every <duration>"
                .to_string()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    fn next(expression: &str, from: &str) -> Option<NaiveDateTime> {
        CronPattern::parse(expression).unwrap().next_local(at(from))
    }

    #[test]
    fn next_local_time_fields() {
        assert_eq!(
            next("*/15 * * * *", "2025-01-01 10:07:30"),
            Some(at("2025-01-01 10:15:00"))
        );
        assert_eq!(
            next("* * * * *", "2025-01-01 10:07:00"),
            Some(at("2025-01-01 10:07:00"))
        );
        assert_eq!(
            next("30 23 * * *", "2025-12-31 23:30:01"),
            Some(at("2026-01-01 23:30:00"))
        );
        assert_eq!(
            next("10,40 5-6 9 * * *", "2025-01-01 09:05:41"),
            Some(at("2025-01-01 09:06:10"))
        );
        assert_eq!(
            next("10,40 5 9 * * *", "2025-01-01 09:05:41"),
            Some(at("2025-01-02 09:05:10"))
        );
        assert_eq!(
            next("0 0 9-17/4 * * *", "2025-01-01 13:00:01"),
            Some(at("2025-01-01 17:00:00"))
        );
    }

    #[test]
    fn next_local_skips_months_and_years() {
        assert_eq!(
            next("0 0 29 2 *", "2025-03-01 00:00:00"),
            Some(at("2028-02-29 00:00:00"))
        );
        assert_eq!(
            next("0 0 29 2 *", "2096-03-01 00:00:00"),
            Some(at("2104-02-29 00:00:00"))
        );
        assert_eq!(
            next("0 0 0 1 JAN * 2030,2027", "2025-06-01 00:00:00"),
            Some(at("2027-01-01 00:00:00"))
        );
        assert_eq!(next("0 0 0 1 1 * 2027", "2027-01-01 00:00:01"), None);
        assert_eq!(
            next("0 0 12 1 NOV-DEC *", "2025-12-02 00:00:00"),
            Some(at("2026-11-01 12:00:00"))
        );
    }

    #[test]
    fn next_local_feb_29_monday_cycle() {
        // Only leap years whose Feb 29 is a Monday have five Mondays in February.
        assert_eq!(
            next("0 0 * 2 MON#5", "2025-01-01 00:00:00"),
            Some(at("2044-02-29 00:00:00"))
        );
        // 2100 is not a leap year, so the gap after 2072 is 40 years.
        assert_eq!(
            next("0 0 * 2 MON#5", "2072-03-01 00:00:00"),
            Some(at("2112-02-29 00:00:00"))
        );
    }

    #[test]
    fn matches_every_hour_reads_hour_field() {
        for expression in ["0 * * * *", "*/5 0-23 * * *", "0 */1 * * *", "@hourly"] {
            assert!(
                CronPattern::parse(expression).unwrap().matches_every_hour(),
                "{expression}"
            );
        }
        for expression in ["0 0 * * *", "0 */2 * * *", "0 0-22 * * *", "@daily"] {
            assert!(
                !CronPattern::parse(expression).unwrap().matches_every_hour(),
                "{expression}"
            );
        }
    }

    #[test]
    fn has_matching_date_cases() {
        let never = [
            "0 0 30 2 *",
            "0 0 31 4,6,9,11 *",
            "0 0 0 29 2 * 2025-2027",
            "0 0 31W 2 *",
        ];
        for expression in never {
            assert!(
                !CronPattern::parse(expression).unwrap().has_matching_date(),
                "{expression}"
            );
        }
        let sometimes = [
            "0 0 29 2 *",
            "0 0 * 2 MON#5",
            "0 0 30 2 MON",
            "0 0 0 29 2 * 2028",
        ];
        for expression in sometimes {
            assert!(
                CronPattern::parse(expression).unwrap().has_matching_date(),
                "{expression}"
            );
        }
    }

    #[test]
    fn macros_expand() {
        for (name, expansion) in MACROS {
            assert_eq!(
                CronPattern::parse(name),
                CronPattern::parse(expansion),
                "{name}"
            );
        }
        assert_eq!(
            CronPattern::parse("@DAILY"),
            CronPattern::parse("0 0 * * *")
        );
    }

    #[test]
    fn parse_errors_explain() {
        let cases = [
            ("@reboot", "@reboot is not supported"),
            ("@fortnightly", "unknown macro"),
            ("* * * *", "but found 4"),
            ("* * * * * * * *", "but found 8"),
            (
                "60 * * * *",
                "minute field item \"60\": value 60 is out of range 0-59",
            ),
            ("* 24 * * *", "hour field"),
            ("* * * 13 *", "month field"),
            ("60 * * * * *", "second field"),
            ("0 0 0 * * * 1969", "year field"),
            ("0 0 0 * * * ?", "year field"),
        ];
        for (expression, expected) in cases {
            let error = CronPattern::parse(expression).unwrap_err();
            assert!(error.contains(expected), "{expression:?}: {error}");
        }
    }
}
