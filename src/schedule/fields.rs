//! Parsing of plain cron field items (`*`, `5`, `1-5`, `*/15`, `10-50/20`, `JAN`, `MON`).
//!
//! Day-of-month and day-of-week items with `L`, `W` or `#` are parsed in `days`, which hands
//! every plain item to [`parse_item`].

/// Allowed range and names of one cron field.
#[derive(Debug)]
pub(super) struct FieldSpec {
    /// Field name used in error messages, for example "minute".
    pub name: &'static str,
    pub min: u32,
    pub max: u32,
    /// Three-letter names that stand for `first_name_value`, `first_name_value + 1`, ...
    pub names: &'static [&'static str],
    pub first_name_value: u32,
}

const MONTH_NAMES: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

pub(super) const SECOND: FieldSpec = numeric("second", 0, 59);
pub(super) const MINUTE: FieldSpec = numeric("minute", 0, 59);
pub(super) const HOUR: FieldSpec = numeric("hour", 0, 23);
pub(super) const DAY_OF_MONTH: FieldSpec = numeric("day-of-month", 1, 31);
pub(super) const YEAR: FieldSpec = numeric("year", 1970, 2099);
pub(super) const MONTH: FieldSpec = FieldSpec {
    name: "month",
    min: 1,
    max: 12,
    names: &MONTH_NAMES,
    first_name_value: 1,
};
/// Day of week as in POSIX cron: 0 and 7 are Sunday, 1 is Monday.
pub(super) const DAY_OF_WEEK: FieldSpec = FieldSpec {
    name: "day-of-week",
    min: 0,
    max: 7,
    names: &WEEKDAY_NAMES,
    first_name_value: 0,
};

const fn numeric(name: &'static str, min: u32, max: u32) -> FieldSpec {
    FieldSpec {
        name,
        min,
        max,
        names: &[],
        first_name_value: 0,
    }
}

/// Set of values 0..=63 of a field, one bit per value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct BitSet(u64);

impl BitSet {
    pub(super) const EMPTY: BitSet = BitSet(0);

    pub(super) fn insert(&mut self, value: u32) {
        self.0 |= 1 << value;
    }

    pub(super) fn contains(self, value: u32) -> bool {
        value < 64 && self.0 & (1 << value) != 0
    }

    /// Returns the smallest member that is at least `from`.
    pub(super) fn next_from(self, from: u32) -> Option<u32> {
        if from >= 64 {
            return None;
        }
        let remaining = self.0 >> from;
        (remaining != 0).then(|| from + remaining.trailing_zeros())
    }

    /// Returns whether every value in `min..=max` is a member.
    pub(super) fn contains_all(self, min: u32, max: u32) -> bool {
        (min..=max).all(|value| self.contains(value))
    }

    #[cfg(test)]
    pub(super) fn from_values(values: impl IntoIterator<Item = u32>) -> BitSet {
        let mut set = BitSet::EMPTY;
        for value in values {
            set.insert(value);
        }
        set
    }
}

/// Parses a comma-separated field of plain items into a bit set.
pub(super) fn parse_bit_set(text: &str, spec: &FieldSpec) -> Result<BitSet, String> {
    let mut set = BitSet::EMPTY;
    for item in split_items(text, spec)? {
        for value in parse_item(item, spec)? {
            set.insert(value);
        }
    }
    Ok(set)
}

/// Parses the year field into its sorted, deduplicated years.
pub(super) fn parse_years(text: &str) -> Result<Vec<i32>, String> {
    let mut years = Vec::new();
    for item in split_items(text, &YEAR)? {
        years.extend(parse_item(item, &YEAR)?);
    }
    years.sort_unstable();
    years.dedup();
    // The values were checked against 1970..=2099, so they fit an i32.
    Ok(years.into_iter().map(|year| year as i32).collect())
}

/// Splits a field on commas, rejecting empty items such as the one in `1,,2`.
pub(super) fn split_items<'a>(text: &'a str, spec: &FieldSpec) -> Result<Vec<&'a str>, String> {
    let items: Vec<&str> = text.split(',').collect();
    if items.iter().any(|item| item.is_empty()) {
        return Err(format!(
            "{} field {text:?} contains an empty item",
            spec.name
        ));
    }
    Ok(items)
}

/// Parses one plain item (`*`, a value, a range, each with an optional `/step`) into its values.
pub(super) fn parse_item(
    item: &str,
    spec: &FieldSpec,
) -> Result<impl Iterator<Item = u32> + use<>, String> {
    let context = |detail: String| format!("{} field item {item:?}: {detail}", spec.name);
    let (base, step) = match item.split_once('/') {
        Some((base, step)) => (base, Some(parse_step(step, spec).map_err(context)?)),
        None => (item, None),
    };
    let (low, high) = parse_range(base, step.is_some(), spec).map_err(context)?;
    Ok((low..=high).step_by(step.unwrap_or(1) as usize))
}

/// Parses the part of an item before `/`. A single value followed by a step runs to the maximum.
fn parse_range(base: &str, has_step: bool, spec: &FieldSpec) -> Result<(u32, u32), String> {
    if base == "*" {
        return Ok((spec.min, spec.max));
    }
    if let Some((low, high)) = base.split_once('-') {
        let (low, high) = (parse_value(low, spec)?, parse_value(high, spec)?);
        if low > high {
            return Err(format!(
                "range start {low} is after range end {high}, and ranges do not wrap around"
            ));
        }
        return Ok((low, high));
    }
    let value = parse_value(base, spec)?;
    Ok((value, if has_step { spec.max } else { value }))
}

fn parse_step(text: &str, spec: &FieldSpec) -> Result<u32, String> {
    let step = parse_number(text).ok_or_else(|| format!("step {text:?} is not a number"))?;
    let span = spec.max - spec.min + 1;
    if step == 0 {
        return Err("step must be at least 1".to_string());
    }
    if step > span {
        return Err(format!(
            "step {step} is larger than the field's range {}-{}",
            spec.min, spec.max
        ));
    }
    Ok(step)
}

/// Parses a number or a three-letter name and checks it against the field's range.
pub(super) fn parse_value(text: &str, spec: &FieldSpec) -> Result<u32, String> {
    let value = match parse_number(text) {
        Some(value) => value,
        None => parse_name(text, spec)?,
    };
    if value < spec.min || value > spec.max {
        return Err(format!(
            "value {text} is out of range {}-{}",
            spec.min, spec.max
        ));
    }
    Ok(value)
}

fn parse_name(text: &str, spec: &FieldSpec) -> Result<u32, String> {
    if text.is_empty() {
        return Err("a value is missing".to_string());
    }
    let position = spec
        .names
        .iter()
        .position(|name| name.eq_ignore_ascii_case(text));
    match position {
        Some(index) => Ok(spec.first_name_value + index as u32),
        None if spec.names.is_empty() => Err(format!("{text:?} is not a number")),
        None => Err(format!("{text:?} is not a number or a {} name", spec.name)),
    }
}

/// Parses plain ASCII digits. Returns `None` for signs, other characters or values above
/// 99,999, which no field accepts.
pub(super) fn parse_number(text: &str) -> Option<u32> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
fn values_of(set: BitSet) -> impl Iterator<Item = u32> {
    (0..64).filter(move |&value| set.contains(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str, spec: &FieldSpec) -> Vec<u32> {
        let set = parse_bit_set(text, spec).unwrap();
        values_of(set).collect()
    }

    #[test]
    fn bit_set_field_forms() {
        assert_eq!(values("*/15", &MINUTE), [0, 15, 30, 45]);
        assert_eq!(values("10-50/20", &MINUTE), [10, 30, 50]);
        assert_eq!(values("50/4", &MINUTE), [50, 54, 58]);
        assert_eq!(values("1,3,3,2", &HOUR), [1, 2, 3]);
        assert_eq!(values("jan,MAR-May", &MONTH), [1, 3, 4, 5]);
        assert_eq!(values("MON-FRI", &DAY_OF_WEEK), [1, 2, 3, 4, 5]);
        assert_eq!(values("*/60", &SECOND), [0]);
    }

    #[test]
    fn bit_set_field_errors() {
        let cases = [
            ("*/0", "step must be at least 1"),
            ("*/61", "larger than the field's range"),
            ("60", "out of range 0-59"),
            ("5-1", "ranges do not wrap around"),
            ("1,,2", "empty item"),
            ("-5", "a value is missing"),
            ("+5", "not a number"),
            ("99999999999", "not a number"),
            ("JAN", "not a number"),
            ("５", "not a number"),
        ];
        for (text, expected) in cases {
            let error = parse_bit_set(text, &MINUTE).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }

    #[test]
    fn bit_set_next_from() {
        let set = BitSet::from_values([3, 40, 63]);
        assert_eq!(set.next_from(0), Some(3));
        assert_eq!(set.next_from(4), Some(40));
        assert_eq!(set.next_from(63), Some(63));
        assert_eq!(set.next_from(64), None);
        assert_eq!(BitSet::from_values([3]).next_from(4), None);
    }

    #[test]
    fn years_sorted_and_checked() {
        assert_eq!(parse_years("2030,2025-2026").unwrap(), [2025, 2026, 2030]);
        assert_eq!(parse_years("2090/5").unwrap(), [2090, 2095]);
        assert!(parse_years("1969").is_err());
        assert!(parse_years("2100").is_err());
    }
}
