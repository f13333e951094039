//! Errors raised while parsing a schedule or its time zone.

use chrono::{DateTime, Utc};

/// Maximum number of characters of a rejected expression or zone name quoted in a message.
const MAX_QUOTED_CHARS: usize = 80;

/// A schedule or time zone that cannot be used.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum ScheduleError {
    /// The expression does not follow the cron, macro or `@every` grammar.
    #[error("invalid schedule {expression:?}: {reason}")]
    InvalidExpression { expression: String, reason: String },

    /// The time zone is not an IANA name known to the bundled tz database.
    #[error("unknown time zone {name:?}: {hint}")]
    UnknownTimeZone { name: String, hint: String },

    /// No date matches the expression, whatever the current time.
    #[error("schedule {expression:?} never fires: no date matches its day, month and year fields")]
    NeverFires { expression: String },

    /// The expression matches only instants at or before `after`, for example years in the past.
    #[error("schedule {expression:?} never fires after {}", after.to_rfc3339())]
    NoFireAfter {
        expression: String,
        after: DateTime<Utc>,
    },
}

impl ScheduleError {
    /// Returns the request field that caused the error: `"schedule"` or `"timeZone"`.
    pub fn field(&self) -> &'static str {
        match self {
            ScheduleError::UnknownTimeZone { .. } => "timeZone",
            _ => "schedule",
        }
    }

    /// Builds a [`ScheduleError::InvalidExpression`], shortening a long expression.
    pub(super) fn invalid(expression: &str, reason: impl Into<String>) -> ScheduleError {
        ScheduleError::InvalidExpression {
            expression: shorten(expression),
            reason: reason.into(),
        }
    }

    pub(super) fn never_fires(expression: &str) -> ScheduleError {
        ScheduleError::NeverFires {
            expression: shorten(expression),
        }
    }

    pub(super) fn no_fire_after(expression: &str, after: DateTime<Utc>) -> ScheduleError {
        ScheduleError::NoFireAfter {
            expression: shorten(expression),
            after,
        }
    }

    pub(super) fn unknown_time_zone(name: &str, hint: impl Into<String>) -> ScheduleError {
        ScheduleError::UnknownTimeZone {
            name: shorten(name),
            hint: hint.into(),
        }
    }
}

/// Cuts `text` to [`MAX_QUOTED_CHARS`] characters so that garbage input cannot bloat a message.
fn shorten(text: &str) -> String {
    if text.chars().count() <= MAX_QUOTED_CHARS {
        return text.to_string();
    }
    let mut short: String = text.chars().take(MAX_QUOTED_CHARS).collect();
    short.push('…');
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_request_field() {
        assert_eq!(ScheduleError::invalid("x", "bad").field(), "schedule");
        assert_eq!(ScheduleError::never_fires("x").field(), "schedule");
        assert_eq!(
            ScheduleError::unknown_time_zone("Mars/Base", "").field(),
            "timeZone"
        );
    }

    #[test]
    fn long_expression_is_shortened() {
        let long = "1 ".repeat(500);
        let ScheduleError::InvalidExpression { expression, .. } =
            ScheduleError::invalid(&long, "too many fields")
        else {
            panic!("expected InvalidExpression");
        };
        assert_eq!(expression.chars().count(), MAX_QUOTED_CHARS + 1);
        assert!(expression.ends_with('…'));
    }
}
