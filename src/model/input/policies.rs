//! The job policy fields of client input: `misfirePolicy`, `maxCatchUp`, `startingDeadline`,
//! `concurrencyPolicy` and `retention`. They are top-level fields of the JSON job body.

use serde_json::{Map, Value};

use super::keys::{RETENTION_KEYS, reject_unknown_keys};
use super::{ValidationError, integer_field, object_field, positive_millis, string_field};
use crate::model::{ConcurrencyPolicy, JobPolicies, MisfirePolicy, Retention};

const DAY_MS: u64 = 86_400_000;
/// Largest accepted `maxCatchUp`.
pub const MAX_CATCH_UP: u32 = 1000;
/// Largest accepted `startingDeadline`: 30 days, in milliseconds.
pub const MAX_STARTING_DEADLINE_MS: u64 = 30 * DAY_MS;
/// Largest accepted `retention.maxCount`.
pub const MAX_RETENTION_COUNT: u32 = 10_000;
/// Smallest accepted `retention.maxAge`: one minute, in milliseconds.
pub const MIN_RETENTION_AGE_MS: u64 = 60_000;
/// Largest accepted `retention.maxAge`: 365 days, in milliseconds.
pub const MAX_RETENTION_AGE_MS: u64 = 365 * DAY_MS;

/// History retention as a client sends it. Absent fields keep their current or default value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionInput {
    pub max_count: Option<i64>,
    /// Milliseconds.
    pub max_age_ms: Option<i64>,
}

/// Job policies as a client sends them. Absent fields keep their current or default value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoliciesInput {
    pub misfire: Option<String>,
    pub max_catch_up: Option<i64>,
    /// Milliseconds. `Some(None)` is an explicit JSON null, which removes the deadline.
    pub starting_deadline_ms: Option<Option<i64>>,
    pub concurrency: Option<String>,
    pub retention: Option<RetentionInput>,
}

impl PoliciesInput {
    /// Reads the policy fields of a JSON job body, checking their types.
    pub(super) fn from_json(object: &Map<String, Value>) -> Result<Self, ValidationError> {
        Ok(PoliciesInput {
            misfire: string_field(object, "misfirePolicy", "misfirePolicy")?,
            max_catch_up: integer_field(object, "maxCatchUp", "maxCatchUp")?,
            starting_deadline_ms: nullable_integer_field(object, "startingDeadline")?,
            concurrency: string_field(object, "concurrencyPolicy", "concurrencyPolicy")?,
            retention: retention_from_json(object.get("retention"))?,
        })
    }

    /// Validates the fields present and writes them into `policies`.
    pub(super) fn merge_into(self, policies: &mut JobPolicies) -> Result<(), ValidationError> {
        if let Some(name) = self.misfire {
            policies.misfire = parse_misfire(&name)?;
        }
        if let Some(count) = self.max_catch_up {
            policies.max_catch_up = count_in_range("maxCatchUp", count, MAX_CATCH_UP)?;
        }
        if let Some(deadline) = self.starting_deadline_ms {
            policies.starting_deadline_ms = deadline
                .map(|millis| positive_millis("startingDeadline", millis, MAX_STARTING_DEADLINE_MS))
                .transpose()?;
        }
        if let Some(name) = self.concurrency {
            policies.concurrency = parse_concurrency(&name)?;
        }
        if let Some(retention) = self.retention {
            merge_retention(&mut policies.retention, retention)?;
        }
        Ok(())
    }
}

/// Reads an integer field where JSON null means "remove the value": `None` when absent,
/// `Some(None)` for null.
fn nullable_integer_field(
    object: &Map<String, Value>,
    key: &str,
) -> Result<Option<Option<i64>>, ValidationError> {
    match object.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(_) => integer_field(object, key, key).map(Some),
    }
}

fn retention_from_json(value: Option<&Value>) -> Result<Option<RetentionInput>, ValidationError> {
    let Some(object) = object_field(value, "retention")? else {
        return Ok(None);
    };
    reject_unknown_keys(object, "retention", RETENTION_KEYS, &[])?;
    Ok(Some(RetentionInput {
        max_count: integer_field(object, "maxCount", "retention.maxCount")?,
        max_age_ms: integer_field(object, "maxAge", "retention.maxAge")?,
    }))
}

fn merge_retention(
    retention: &mut Retention,
    input: RetentionInput,
) -> Result<(), ValidationError> {
    if let Some(count) = input.max_count {
        retention.max_count = count_in_range("retention.maxCount", count, MAX_RETENTION_COUNT)?;
    }
    if let Some(age) = input.max_age_ms {
        retention.max_age_ms = u64::try_from(age)
            .ok()
            .filter(|millis| (MIN_RETENTION_AGE_MS..=MAX_RETENTION_AGE_MS).contains(millis))
            .ok_or_else(|| {
                let expected = format!(
                    "expected milliseconds from {MIN_RETENTION_AGE_MS} to {MAX_RETENTION_AGE_MS}"
                );
                ValidationError::new("retention.maxAge", age, &expected)
            })?;
    }
    Ok(())
}

/// Checks that `value` lies in `1..=max`.
fn count_in_range(field: &str, value: i64, max: u32) -> Result<u32, ValidationError> {
    u32::try_from(value)
        .ok()
        .filter(|count| (1..=max).contains(count))
        .ok_or_else(|| {
            let expected = format!("expected a whole number from 1 to {max}");
            ValidationError::new(field, value, &expected)
        })
}

/// Parses a misfire policy name, case-insensitively.
fn parse_misfire(name: &str) -> Result<MisfirePolicy, ValidationError> {
    match name.trim().to_ascii_uppercase().as_str() {
        "FIRE_ONCE" => Ok(MisfirePolicy::FireOnce),
        "FIRE_ALL" => Ok(MisfirePolicy::FireAll),
        "SKIP" => Ok(MisfirePolicy::Skip),
        _ => Err(ValidationError::new(
            "misfirePolicy",
            name,
            "expected FIRE_ONCE, FIRE_ALL or SKIP",
        )),
    }
}

/// Parses a concurrency policy name, case-insensitively.
fn parse_concurrency(name: &str) -> Result<ConcurrencyPolicy, ValidationError> {
    match name.trim().to_ascii_uppercase().as_str() {
        "ALLOW" => Ok(ConcurrencyPolicy::Allow),
        "FORBID" => Ok(ConcurrencyPolicy::Forbid),
        "REPLACE" => Ok(ConcurrencyPolicy::Replace),
        _ => Err(ValidationError::new(
            "concurrencyPolicy",
            name,
            "expected ALLOW, FORBID or REPLACE",
        )),
    }
}

#[cfg(test)]
#[path = "policies_tests.rs"]
mod tests;
