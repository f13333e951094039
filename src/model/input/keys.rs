//! The keys a JSON job body may contain, and the check that rejects every other key, so a
//! misspelt field (`timezone` for `timeZone`) fails instead of being ignored.

use serde_json::{Map, Value};

use super::{ValidationError, shorten};

/// Keys of the job body that a client sets.
pub(super) const JOB_KEYS: &[&str] = &[
    "name",
    "description",
    "schedule",
    "timeZone",
    "triggerType",
    "triggerConfig",
    "retryStrategy",
    "status",
    "tags",
    "misfirePolicy",
    "maxCatchUp",
    "startingDeadline",
    "concurrencyPolicy",
    "retention",
];

/// Keys that only the server sets. They are accepted and ignored, so a body read with GET can
/// be sent back with PUT unchanged. `_id` and `__v` are the MongoDB document fields that
/// clients of the NestJS service raftcron replaces echo back.
pub(super) const READ_ONLY_JOB_KEYS: &[&str] = &[
    "id",
    "_id",
    "__v",
    "lastExecutionTime",
    "nextExecutionTime",
    "skippedInstants",
    "caughtUpInstants",
    "createdAt",
    "updatedAt",
];

/// Keys of `triggerConfig`.
pub(super) const TRIGGER_KEYS: &[&str] = &["url", "method", "headers", "body", "timeout"];

/// Keys of `retryStrategy`.
pub(super) const RETRY_KEYS: &[&str] = &[
    "attempts",
    "backoff",
    "interval",
    "maxInterval",
    "jitter",
    "retryOn",
];

/// Keys of `retention`.
pub(super) const RETENTION_KEYS: &[&str] = &["maxCount", "maxAge"];

/// Rejects the first key of `object` that is neither in `keys` nor in `read_only`.
///
/// `parent` is the JSON path of `object` (empty for the job body). The error names the full
/// path of the key and suggests a known key that differs only in case.
pub(super) fn reject_unknown_keys(
    object: &Map<String, Value>,
    parent: &str,
    keys: &[&str],
    read_only: &[&str],
) -> Result<(), ValidationError> {
    let is_known = |key: &str| keys.contains(&key) || read_only.contains(&key);
    let Some(unknown) = object.keys().find(|key| !is_known(key)) else {
        return Ok(());
    };
    let path = join_path(parent, &shorten(unknown));
    let case_match = keys
        .iter()
        .chain(read_only)
        .find(|key| key.eq_ignore_ascii_case(unknown));
    let hint = match case_match {
        Some(key) => format!("did you mean {}?", join_path(parent, key)),
        None => format!("expected one of {}", keys.join(", ")),
    };
    Err(ValidationError {
        message: format!("unknown field {path}: {hint}"),
        value: shorten(unknown),
        field: path,
    })
}

fn join_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}
