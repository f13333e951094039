//! The `retryStrategy` object of client input.

use serde_json::{Map, Value};

use super::keys::{RETRY_KEYS, reject_unknown_keys};
use super::{
    MAX_ATTEMPTS, MAX_INTERVAL_MS, ValidationError, integer_field, object_field, positive_millis,
    string_field,
};
use crate::model::{Backoff, RetryStrategy};

/// HTTP status codes accepted in `retryStrategy.retryOn`.
const STATUS_CODES: std::ops::RangeInclusive<i64> = 100..=599;

/// Retry settings as a client sends them; absent fields keep their current or default value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RetryInput {
    pub attempts: Option<i64>,
    pub backoff: Option<String>,
    pub interval_ms: Option<i64>,
    /// Upper bound of one delay before jitter, in milliseconds. `Some(None)` resets it to the
    /// default, one day.
    pub max_interval_ms: Option<Option<i64>>,
    /// Largest random extra delay as a share of the delay, from 0.0 to 1.0.
    pub jitter: Option<f64>,
    /// HTTP status codes worth another attempt. `Some(None)` resets them to the default, every
    /// 5xx and 429.
    pub retry_on: Option<Option<Vec<i64>>>,
}

pub(super) fn retry_from_json(
    value: Option<&Value>,
) -> Result<Option<RetryInput>, ValidationError> {
    let Some(object) = object_field(value, "retryStrategy")? else {
        return Ok(None);
    };
    reject_unknown_keys(object, "retryStrategy", RETRY_KEYS, &[])?;
    Ok(Some(RetryInput {
        attempts: integer_field(object, "attempts", "retryStrategy.attempts")?,
        backoff: string_field(object, "backoff", "retryStrategy.backoff")?,
        interval_ms: integer_field(object, "interval", "retryStrategy.interval")?,
        max_interval_ms: nullable(object, "maxInterval", |_| {
            integer_field(object, "maxInterval", "retryStrategy.maxInterval")
        })?,
        jitter: number_field(object, "jitter", "retryStrategy.jitter")?,
        retry_on: nullable(object, "retryOn", status_codes_from_json)?,
    }))
}

/// Reads a field where `null` means "reset to the default": absent gives `None`, `null` gives
/// `Some(None)`, and any other value is parsed by `parse`.
fn nullable<T>(
    object: &Map<String, Value>,
    key: &str,
    parse: impl FnOnce(&Value) -> Result<Option<T>, ValidationError>,
) -> Result<Option<Option<T>>, ValidationError> {
    match object.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(value) => parse(value).map(|parsed| parsed.map(Some)),
    }
}

fn number_field(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<f64>, ValidationError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) => number
            .as_f64()
            .map(Some)
            .ok_or_else(|| ValidationError::new(path, number, "expected a number")),
        Some(other) => Err(ValidationError::new(path, other, "expected a number")),
    }
}

fn status_codes_from_json(value: &Value) -> Result<Option<Vec<i64>>, ValidationError> {
    const FIELD: &str = "retryStrategy.retryOn";
    let Value::Array(items) = value else {
        return Err(ValidationError::new(FIELD, value, "expected an array"));
    };
    items
        .iter()
        .map(|item| {
            item.as_i64().ok_or_else(|| {
                ValidationError::new(FIELD, item, "expected whole-number HTTP status codes")
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

pub(super) fn merge_retry(
    mut retry: RetryStrategy,
    input: RetryInput,
) -> Result<RetryStrategy, ValidationError> {
    if let Some(attempts) = input.attempts {
        let count = u32::try_from(attempts)
            .ok()
            .filter(|count| *count <= MAX_ATTEMPTS)
            .ok_or_else(|| {
                let expected = format!("expected a whole number from 0 to {MAX_ATTEMPTS}");
                ValidationError::new("retryStrategy.attempts", attempts, &expected)
            })?;
        // The first attempt is always made, so 0 is stored as 1 and reads back as it runs.
        retry.attempts = count.max(1);
    }
    if let Some(backoff) = input.backoff {
        retry.backoff = match backoff.to_ascii_lowercase().as_str() {
            "fixed" => Backoff::Fixed,
            "exponential" => Backoff::Exponential,
            _ => {
                let expected = "expected fixed or exponential";
                return Err(ValidationError::new(
                    "retryStrategy.backoff",
                    backoff,
                    expected,
                ));
            }
        };
    }
    if let Some(interval) = input.interval_ms {
        retry.interval_ms = u64::try_from(interval)
            .ok()
            .filter(|millis| *millis <= MAX_INTERVAL_MS)
            .ok_or_else(|| {
                let expected = format!("expected milliseconds from 0 to {MAX_INTERVAL_MS}");
                ValidationError::new("retryStrategy.interval", interval, &expected)
            })?;
    }
    if let Some(max_interval) = input.max_interval_ms {
        let field = "retryStrategy.maxInterval";
        retry.max_interval_ms = max_interval
            .map(|millis| positive_millis(field, millis, MAX_INTERVAL_MS))
            .transpose()?;
    }
    if let Some(jitter) = input.jitter {
        retry.jitter_permille = jitter_permille(jitter)?;
    }
    if let Some(codes) = input.retry_on {
        retry.retry_on = codes.map(status_codes).transpose()?;
    }
    Ok(retry)
}

/// Converts a jitter share from 0.0 to 1.0 to thousandths, rounded to the nearest.
fn jitter_permille(jitter: f64) -> Result<u16, ValidationError> {
    if !(0.0..=1.0).contains(&jitter) {
        let expected = "expected a number from 0.0 to 1.0";
        return Err(ValidationError::new(
            "retryStrategy.jitter",
            jitter,
            expected,
        ));
    }
    // The range check above keeps the product within 0..=1000.
    Ok((jitter * 1000.0).round() as u16)
}

/// Checks a non-empty list of status codes and returns it sorted, without repeats.
fn status_codes(codes: Vec<i64>) -> Result<Vec<u16>, ValidationError> {
    const FIELD: &str = "retryStrategy.retryOn";
    if codes.is_empty() {
        let expected = "expected at least one HTTP status code; use null for every 5xx and 429";
        return Err(ValidationError::new(FIELD, "[]", expected));
    }
    let mut checked = Vec::with_capacity(codes.len());
    for code in codes {
        let valid = u16::try_from(code)
            .ok()
            .filter(|_| STATUS_CODES.contains(&code));
        let Some(valid) = valid else {
            let expected = "expected HTTP status codes from 100 to 599";
            return Err(ValidationError::new(FIELD, code, expected));
        };
        if (200..300).contains(&valid) {
            let expected = "expected no 2xx code: a 2xx status is always a success";
            return Err(ValidationError::new(FIELD, code, expected));
        }
        checked.push(valid);
    }
    checked.sort_unstable();
    checked.dedup();
    Ok(checked)
}

/// Checks the fields of a complete retry strategy against each other.
pub(super) fn check_retry(retry: &RetryStrategy) -> Result<(), ValidationError> {
    if let Some(max_interval) = retry.max_interval_ms
        && max_interval < retry.interval_ms
    {
        let expected = format!(
            "expected at least retryStrategy.interval ({} ms)",
            retry.interval_ms
        );
        return Err(ValidationError::new(
            "retryStrategy.maxInterval",
            max_interval,
            &expected,
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "retry_tests.rs"]
mod tests;
