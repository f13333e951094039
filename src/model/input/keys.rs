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

/// Fields that an update resets or removes when they are `null`. Any other client field sent as
/// `null` in an update would change nothing, so [`reject_ignored_nulls`] rejects it.
const NULL_RESETS: &[&str] = &[
    "startingDeadline",
    "triggerConfig.body",
    "retryStrategy.maxInterval",
    "retryStrategy.retryOn",
];

/// Rejects the first `null` in an update body that would be ignored: a field other than the
/// read-only ones and those in [`NULL_RESETS`].
pub(super) fn reject_ignored_nulls(body: &Value) -> Result<(), ValidationError> {
    let Some(object) = body.as_object() else {
        return Ok(());
    };
    check_nulls(object, "", JOB_KEYS)?;
    for (key, keys) in [
        ("triggerConfig", TRIGGER_KEYS),
        ("retryStrategy", RETRY_KEYS),
        ("retention", RETENTION_KEYS),
    ] {
        if let Some(Value::Object(nested)) = object.get(key) {
            check_nulls(nested, key, keys)?;
        }
    }
    Ok(())
}

fn check_nulls(
    object: &Map<String, Value>,
    parent: &str,
    keys: &[&str],
) -> Result<(), ValidationError> {
    let ignored = keys.iter().map(|key| join_path(parent, key)).find(|path| {
        let key = path.rsplit('.').next().unwrap_or(path);
        object.get(key).is_some_and(Value::is_null) && !NULL_RESETS.contains(&path.as_str())
    });
    match ignored {
        None => Ok(()),
        Some(path) => Err(ValidationError::new(
            &path,
            "null",
            "expected a value: null does not reset this field; omit it to keep the current value",
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::model::JobInput;

    #[test]
    fn ignored_update_nulls_are_rejected() {
        let cases = [
            (json!({"description": null}), "description"),
            (json!({"tags": null}), "tags"),
            (json!({"retention": null}), "retention"),
            (json!({"retention": {"maxAge": null}}), "retention.maxAge"),
            (
                json!({"triggerConfig": {"headers": null}}),
                "triggerConfig.headers",
            ),
            (
                json!({"retryStrategy": {"attempts": null}}),
                "retryStrategy.attempts",
            ),
        ];
        for (body, field) in cases {
            let error = JobInput::from_update_json(&body, "job-1").expect_err("null is rejected");
            assert_eq!(error.field, field, "{body}");
            assert_eq!(error.value, "null", "{body}");
            assert!(error.message.contains("omit it"), "{}", error.message);
        }
    }

    #[test]
    fn resetting_update_nulls_are_accepted() {
        let body = json!({
            "startingDeadline": null,
            "triggerConfig": {"body": null},
            "retryStrategy": {"maxInterval": null, "retryOn": null},
            "lastExecutionTime": null,
            "nextExecutionTime": null
        });
        let input =
            JobInput::from_update_json(&body, "job-1").expect("nulls that reset are accepted");
        assert_eq!(input.policies.starting_deadline_ms, Some(None));
    }

    #[test]
    fn create_treats_null_as_absent() {
        let body = json!({"name": "n", "description": null, "tags": null});
        let input = JobInput::from_json(&body).expect("create accepts null");
        assert_eq!(input.description, None);
        assert_eq!(input.tags, None);
    }
}
