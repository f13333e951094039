//! Day-of-month and day-of-week rules, including the Quartz forms `L`, `L-3`, `LW`, `15W`,
//! `5L` and `MON#2`.
//!
//! The two fields are joined by the POSIX rule: when both are restricted (neither is `*` or
//! `?`), a day matches if either field matches it. A field that is `*` or `?` puts no condition
//! on the day, so `0 0 1 * ?` and `0 0 1 * *` both fire on the 1st only. Anything else counts
//! as restricted, `*/2` included.

use chrono::{Datelike, NaiveDate, Weekday};

use super::fields::{self, BitSet, DAY_OF_MONTH, DAY_OF_WEEK};

/// Largest `n` in a day-of-month `L-n` item.
const MAX_DAYS_BEFORE_LAST: u32 = 30;
/// Largest `n` in a day-of-week `day#n` item, because no month has six of one weekday.
const MAX_WEEKDAY_OCCURRENCE: u32 = 5;

/// Day condition of a cron expression: both day fields and the rule that joins them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct DaySpec {
    /// `None` when the day-of-month field is `*` or `?`.
    day_of_month: Option<MonthDays>,
    /// `None` when the day-of-week field is `*` or `?`.
    day_of_week: Option<WeekDays>,
}

impl DaySpec {
    /// Parses the day-of-month and day-of-week fields. Errors name the field and the item.
    pub(super) fn parse(day_of_month: &str, day_of_week: &str) -> Result<DaySpec, String> {
        Ok(DaySpec {
            day_of_month: parse_unless_wildcard(day_of_month, &DAY_OF_MONTH, MonthDays::parse)?,
            day_of_week: parse_unless_wildcard(day_of_week, &DAY_OF_WEEK, WeekDays::parse)?,
        })
    }

    pub(super) fn matches(&self, date: NaiveDate) -> bool {
        match (&self.day_of_month, &self.day_of_week) {
            (None, None) => true,
            (Some(month_days), None) => month_days.matches(date),
            (None, Some(week_days)) => week_days.matches(date),
            (Some(month_days), Some(week_days)) => {
                month_days.matches(date) || week_days.matches(date)
            }
        }
    }
}

/// Parses a day field, or returns `None` when it is `*` or `?`.
fn parse_unless_wildcard<T>(
    text: &str,
    spec: &fields::FieldSpec,
    parse: fn(&str) -> Result<T, String>,
) -> Result<Option<T>, String> {
    if text == "*" || text == "?" {
        return Ok(None);
    }
    let upper = text.to_ascii_uppercase();
    for item in fields::split_items(&upper, spec)? {
        if item == "?" {
            return Err(format!(
                "{} field {text:?}: ? must be the whole field",
                spec.name
            ));
        }
    }
    parse(&upper).map(Some)
}

/// Days selected by a restricted day-of-month field.
#[derive(Clone, Debug, PartialEq, Eq)]
struct MonthDays {
    /// Plain days 1..=31.
    days: BitSet,
    /// Bit `n` selects the day `n` days before the last day of the month (`L` is `L-0`).
    days_before_last: BitSet,
    /// `LW`: the last Monday-to-Friday day of the month.
    last_weekday: bool,
    /// Bit `n` selects the weekday nearest to day `n` within the same month (`nW`).
    nearest_weekday: BitSet,
}

impl MonthDays {
    fn parse(text: &str) -> Result<MonthDays, String> {
        let mut month_days = MonthDays {
            days: BitSet::EMPTY,
            days_before_last: BitSet::EMPTY,
            last_weekday: false,
            nearest_weekday: BitSet::EMPTY,
        };
        for item in fields::split_items(text, &DAY_OF_MONTH)? {
            month_days.add_item(item)?;
        }
        Ok(month_days)
    }

    fn add_item(&mut self, item: &str) -> Result<(), String> {
        let context = |detail: String| format!("day-of-month field item {item:?}: {detail}");
        if item == "L" {
            self.days_before_last.insert(0);
        } else if item == "LW" {
            self.last_weekday = true;
        } else if let Some(offset) = item.strip_prefix("L-") {
            self.days_before_last
                .insert(parse_days_before_last(offset).map_err(context)?);
        } else if let Some(day) = item.strip_suffix('W') {
            self.nearest_weekday
                .insert(parse_nearest_weekday_day(day).map_err(context)?);
        } else {
            for day in fields::parse_item(item, &DAY_OF_MONTH)? {
                self.days.insert(day);
            }
        }
        Ok(())
    }

    fn matches(&self, date: NaiveDate) -> bool {
        let day = date.day();
        let last = month_length(date);
        self.days.contains(day)
            || self.days_before_last.contains(last - day)
            || (self.last_weekday && day == last_weekday_of_month(date, last))
            || self.matches_nearest_weekday(date, last)
    }

    /// Checks the `nW` items whose nearest weekday can be `date`: those within two days of it.
    fn matches_nearest_weekday(&self, date: NaiveDate, last: u32) -> bool {
        let day = date.day();
        let first_candidate = day.saturating_sub(2).max(1);
        let last_candidate = (day + 2).min(last);
        (first_candidate..=last_candidate).any(|target| {
            self.nearest_weekday.contains(target) && nearest_weekday(date, target, last) == day
        })
    }
}

fn parse_days_before_last(text: &str) -> Result<u32, String> {
    match fields::parse_number(text) {
        Some(days) if days <= MAX_DAYS_BEFORE_LAST => Ok(days),
        _ => Err(format!(
            "L-n needs a number of days n from 0 to {MAX_DAYS_BEFORE_LAST}"
        )),
    }
}

fn parse_nearest_weekday_day(text: &str) -> Result<u32, String> {
    match fields::parse_number(text) {
        Some(day) if (1..=31).contains(&day) => Ok(day),
        _ => Err("W must follow a single day from 1 to 31, as in 15W".to_string()),
    }
}

/// Days selected by a restricted day-of-week field.
#[derive(Clone, Debug, PartialEq, Eq)]
struct WeekDays {
    /// Weekdays 0..=6, Sunday first.
    weekdays: BitSet,
    /// `occurrences[w]` has bit `n` set for `w#n`, the n-th such weekday of the month.
    occurrences: [BitSet; 7],
    /// Weekdays whose last occurrence in the month is selected (`5L`, `FRI#L`).
    last_in_month: BitSet,
}

impl WeekDays {
    fn parse(text: &str) -> Result<WeekDays, String> {
        let mut week_days = WeekDays {
            weekdays: BitSet::EMPTY,
            occurrences: [BitSet::EMPTY; 7],
            last_in_month: BitSet::EMPTY,
        };
        for item in fields::split_items(text, &DAY_OF_WEEK)? {
            week_days.add_item(item)?;
        }
        Ok(week_days)
    }

    fn add_item(&mut self, item: &str) -> Result<(), String> {
        let context = |detail: String| format!("day-of-week field item {item:?}: {detail}");
        if item == "L" {
            return Err(context(
                "L alone is ambiguous here; write 6 or SAT for Saturday, 5L for the last \
                 Friday of the month, or L in the day-of-month field for the last day"
                    .to_string(),
            ));
        }
        if let Some((weekday, occurrence)) = item.split_once('#') {
            let weekday = parse_weekday(weekday).map_err(context)?;
            if occurrence == "L" {
                self.last_in_month.insert(weekday);
            } else {
                let occurrence = parse_occurrence(occurrence).map_err(context)?;
                self.occurrences[weekday as usize].insert(occurrence);
            }
        } else if let Some(weekday) = item.strip_suffix('L') {
            self.last_in_month
                .insert(parse_weekday(weekday).map_err(context)?);
        } else {
            for weekday in fields::parse_item(item, &DAY_OF_WEEK)? {
                self.weekdays.insert(weekday % 7);
            }
        }
        Ok(())
    }

    fn matches(&self, date: NaiveDate) -> bool {
        let weekday = date.weekday().num_days_from_sunday();
        let occurrence = (date.day() - 1) / 7 + 1;
        let is_last_occurrence = date.day() + 7 > month_length(date);
        self.weekdays.contains(weekday)
            || self.occurrences[weekday as usize].contains(occurrence)
            || (is_last_occurrence && self.last_in_month.contains(weekday))
    }
}

/// Parses one weekday (0-7 or a name) and folds 7 onto Sunday.
fn parse_weekday(text: &str) -> Result<u32, String> {
    fields::parse_value(text, &DAY_OF_WEEK).map(|weekday| weekday % 7)
}

fn parse_occurrence(text: &str) -> Result<u32, String> {
    match fields::parse_number(text) {
        Some(n) if (1..=MAX_WEEKDAY_OCCURRENCE).contains(&n) => Ok(n),
        _ => Err(format!(
            "# must be followed by 1 to {MAX_WEEKDAY_OCCURRENCE} or L, as in MON#2"
        )),
    }
}

/// Returns the number of days in the month of `date`.
pub(super) fn month_length(date: NaiveDate) -> u32 {
    let (year, month) = (date.year(), date.month());
    let first_of_next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    };
    // Past chrono's last supported year there is no next month, and December has 31 days.
    first_of_next.map_or(31, |next| next.pred_opt().map_or(31, |last| last.day()))
}

/// Returns the day of the last Monday-to-Friday day in the month of `date`.
fn last_weekday_of_month(date: NaiveDate, last: u32) -> u32 {
    match date.with_day(last).map(|day| day.weekday()) {
        Some(Weekday::Sat) => last - 1,
        Some(Weekday::Sun) => last - 2,
        _ => last,
    }
}

/// Returns the weekday nearest to day `target` in the month of `date`, as Quartz's `W` does.
///
/// A Saturday moves to Friday and a Sunday to Monday. When that would leave the month, a
/// Saturday 1st moves to Monday the 3rd and a Sunday last day to the Friday before it.
fn nearest_weekday(date: NaiveDate, target: u32, last: u32) -> u32 {
    match date.with_day(target).map(|day| day.weekday()) {
        Some(Weekday::Sat) if target == 1 => 3,
        Some(Weekday::Sat) => target - 1,
        Some(Weekday::Sun) if target == last => target - 2,
        Some(Weekday::Sun) => target + 1,
        _ => target,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(year: i32, month: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, month, day).unwrap()
    }

    /// Returns the days of the month that `spec` matches.
    fn matching_days(spec: &DaySpec, year: i32, month: u32) -> Vec<u32> {
        let first = date(year, month, 1);
        (1..=month_length(first))
            .filter(|&day| spec.matches(date(year, month, day)))
            .collect()
    }

    fn spec(day_of_month: &str, day_of_week: &str) -> DaySpec {
        DaySpec::parse(day_of_month, day_of_week).unwrap()
    }

    #[test]
    fn month_length_covers_leap_years() {
        assert_eq!(month_length(date(2024, 2, 10)), 29);
        assert_eq!(month_length(date(2100, 2, 10)), 28);
        assert_eq!(month_length(date(2000, 2, 10)), 29);
        assert_eq!(month_length(date(2025, 12, 31)), 31);
        assert_eq!(month_length(date(2025, 4, 1)), 30);
    }

    #[test]
    fn last_day_forms() {
        assert_eq!(matching_days(&spec("L", "?"), 2024, 2), [29]);
        assert_eq!(matching_days(&spec("L-2", "?"), 2025, 2), [26]);
        assert_eq!(matching_days(&spec("1,L", "*"), 2025, 4), [1, 30]);
        // 2025-05-31 is a Saturday, 2025-08-31 a Sunday, 2025-06-30 a Monday.
        assert_eq!(matching_days(&spec("LW", "?"), 2025, 5), [30]);
        assert_eq!(matching_days(&spec("LW", "?"), 2025, 8), [29]);
        assert_eq!(matching_days(&spec("lw", "?"), 2025, 6), [30]);
    }

    #[test]
    fn nearest_weekday_stays_in_month() {
        // 2025-03-15 is a Saturday, 2025-06-15 a Sunday, 2025-01-15 a Wednesday.
        assert_eq!(matching_days(&spec("15W", "?"), 2025, 3), [14]);
        assert_eq!(matching_days(&spec("15W", "?"), 2025, 6), [16]);
        assert_eq!(matching_days(&spec("15W", "?"), 2025, 1), [15]);
        // 2025-02-01 is a Saturday: the nearest weekday in February is Monday the 3rd.
        assert_eq!(matching_days(&spec("1W", "?"), 2025, 2), [3]);
        // 2025-08-31 is a Sunday: the nearest weekday in August is Friday the 29th.
        assert_eq!(matching_days(&spec("31W", "?"), 2025, 8), [29]);
        // April has no 31st, so 31W does not fire in April.
        assert_eq!(matching_days(&spec("31W", "?"), 2025, 4), Vec::<u32>::new());
    }

    #[test]
    fn weekday_occurrence_forms() {
        // Mondays of 2025-09 are 1, 8, 15, 22, 29 and Fridays are 5, 12, 19, 26.
        assert_eq!(matching_days(&spec("?", "MON#2"), 2025, 9), [8]);
        assert_eq!(matching_days(&spec("?", "1#5"), 2025, 9), [29]);
        assert_eq!(matching_days(&spec("*", "5L"), 2025, 9), [26]);
        assert_eq!(matching_days(&spec("*", "FRI#L"), 2025, 9), [26]);
        assert_eq!(matching_days(&spec("*", "friL"), 2025, 9), [26]);
        assert_eq!(matching_days(&spec("?", "7#1"), 2025, 9), [7]);
    }

    #[test]
    fn posix_rule_joins_fields_with_or() {
        // Mondays of 2025-09 are 1, 8, 15, 22, 29.
        assert_eq!(
            matching_days(&spec("13", "MON"), 2025, 9),
            [1, 8, 13, 15, 22, 29]
        );
        assert_eq!(matching_days(&spec("13", "*"), 2025, 9), [13]);
        assert_eq!(matching_days(&spec("13", "?"), 2025, 9), [13]);
        assert_eq!(
            matching_days(&spec("?", "MON"), 2025, 9),
            [1, 8, 15, 22, 29]
        );
        assert_eq!(matching_days(&spec("*", "*"), 2025, 9).len(), 30);
        // A step counts as a restriction, so the fields join with OR.
        assert_eq!(
            matching_days(&spec("*/10", "MON"), 2025, 9),
            [1, 8, 11, 15, 21, 22, 29]
        );
    }

    #[test]
    fn day_field_errors() {
        let cases = [
            ("?,1", "*", "? must be the whole field"),
            ("W", "*", "W must follow a single day"),
            ("1-5W", "*", "W must follow a single day"),
            ("32W", "*", "W must follow a single day"),
            ("L-31", "*", "L-n needs"),
            ("L-", "*", "L-n needs"),
            ("*", "L", "L alone is ambiguous"),
            ("*", "MON#6", "# must be followed by 1 to 5"),
            ("*", "MON#0", "# must be followed by 1 to 5"),
            ("*", "8", "out of range 0-7"),
            ("*", "XL", "not a number or a day-of-week name"),
            ("0", "*", "out of range 1-31"),
        ];
        for (day_of_month, day_of_week, expected) in cases {
            let error = DaySpec::parse(day_of_month, day_of_week).unwrap_err();
            assert!(
                error.contains(expected),
                "{day_of_month:?} {day_of_week:?}: {error}"
            );
        }
    }
}
