//! Query inputs of list and preview calls, their validation, and the calls into `schedule`.

use chrono::{DateTime, Datelike};

use crate::model::{ExecutionStatus, JobSpec, JobStatus, Timestamp, ValidationError};
use crate::schedule::{self, Schedule};
use crate::store::Page;

use super::ApiService;
use crate::api::error::{ApiError, schedule_error};

/// Page size when a list request gives none.
pub const DEFAULT_PAGE_LIMIT: u32 = 20;
/// Largest accepted page size.
pub const MAX_PAGE_LIMIT: u32 = 500;
/// Number of instants a preview returns when the request gives no count.
pub const DEFAULT_PREVIEW_COUNT: u32 = 5;
/// Largest accepted preview count.
pub const MAX_PREVIEW_COUNT: u32 = 100;
/// Last year a preview returns, because RFC 3339 writes four-digit years only.
const MAX_PREVIEW_YEAR: i32 = 9999;

/// Paging and filters of a job list, as sent; numbers are checked by the service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobQuery {
    /// 1-based page; default 1.
    pub page: Option<i64>,
    /// Page size from 1 to [`MAX_PAGE_LIMIT`], [`DEFAULT_PAGE_LIMIT`] when absent.
    pub limit: Option<i64>,
    /// Status name, e.g. `ACTIVE`.
    pub status: Option<String>,
    /// Tags a job must all carry; each entry may hold several, separated by commas.
    pub tags: Vec<String>,
}

/// Paging and filter of one job's execution list, as sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecutionQuery {
    pub job_id: String,
    /// 1-based page; default 1.
    pub page: Option<i64>,
    /// Page size from 1 to [`MAX_PAGE_LIMIT`], [`DEFAULT_PAGE_LIMIT`] when absent.
    pub limit: Option<i64>,
    /// Status name, e.g. `FAILED`.
    pub status: Option<String>,
}

/// A schedule preview request, as sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PreviewQuery {
    /// Required expression.
    pub schedule: Option<String>,
    /// IANA time zone; `UTC` when absent or empty.
    pub time_zone: Option<String>,
    /// RFC 3339 instant the preview starts after; now when absent.
    pub from: Option<String>,
    /// Number of instants from 1 to [`MAX_PREVIEW_COUNT`], [`DEFAULT_PREVIEW_COUNT`] when absent.
    pub count: Option<i64>,
}

/// The next instants of a schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preview {
    pub schedule: String,
    pub time_zone: String,
    /// In order; fewer than requested when the schedule has no more instants up to the end
    /// of year 9999.
    pub times: Vec<Timestamp>,
}

impl ApiService {
    /// Computes the next instants of a schedule after `from` (default now); stores nothing.
    pub async fn preview_schedule(&self, query: PreviewQuery) -> Result<Preview, ApiError> {
        let schedule = query.schedule.unwrap_or_default().trim().to_string();
        if schedule.is_empty() {
            return Err(ValidationError::missing("schedule").into());
        }
        let time_zone = match query.time_zone.as_deref().map(str::trim) {
            None | Some("") => "UTC".to_string(),
            Some(name) => name.to_string(),
        };
        let from = match query.from.as_deref() {
            None | Some("") => self.now(),
            Some(text) => parse_instant("from", text)?,
        };
        let count = bounded(
            "count",
            query.count,
            DEFAULT_PREVIEW_COUNT,
            MAX_PREVIEW_COUNT,
        )?;

        let times = preview_times(&schedule, &time_zone, from, count)?;
        Ok(Preview {
            schedule,
            time_zone,
            times,
        })
    }
}

/// Checks paging numbers and fills their defaults.
pub(super) fn page_of(page: Option<i64>, limit: Option<i64>) -> Result<Page, ApiError> {
    Ok(Page {
        page: bounded("page", page, 1, u32::MAX)?,
        limit: bounded("limit", limit, DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT)?,
    })
}

/// Returns `value` if it lies in `1..=max`, `default` if it is absent.
fn bounded(field: &str, value: Option<i64>, default: u32, max: u32) -> Result<u32, ApiError> {
    let Some(value) = value else {
        return Ok(default);
    };
    u32::try_from(value)
        .ok()
        .filter(|number| (1..=max).contains(number))
        .ok_or_else(|| {
            let expected = format!("expected a whole number from 1 to {max}");
            ApiError::invalid(field, value, &expected)
        })
}

pub(super) fn parse_job_status(name: &str) -> Result<JobStatus, ApiError> {
    JobStatus::parse(name.trim())
        .ok_or_else(|| ApiError::invalid("status", name, "expected ACTIVE, PAUSED or DISABLED"))
}

pub(super) fn parse_execution_status(name: &str) -> Result<ExecutionStatus, ApiError> {
    ExecutionStatus::parse(name.trim()).ok_or_else(|| {
        let expected = "expected RUNNING, COMPLETED, FAILED or RETRYING";
        ApiError::invalid("status", name, expected)
    })
}

/// Splits comma-separated tags and drops empty ones.
pub(super) fn split_tags(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|tag| !tag.is_empty())
        .map(str::to_string)
        .collect()
}

fn parse_instant(field: &str, text: &str) -> Result<Timestamp, ApiError> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|at| Timestamp::from_datetime(at.to_utc()))
        .map_err(|error| {
            let expected =
                format!("expected an RFC 3339 instant such as 2026-01-01T00:00:00Z ({error})");
            ApiError::invalid(field, text, &expected)
        })
}

/// Computes the first instant of `spec`'s schedule after `after`, counting `@every` schedules
/// from `anchor`. `None` means the schedule has no instant after `after`.
pub(super) fn next_fire(
    spec: &JobSpec,
    after: Timestamp,
    anchor: Timestamp,
) -> Result<Option<Timestamp>, ApiError> {
    let parsed = Schedule::parse(&spec.schedule, &spec.time_zone)
        .map_err(|error| schedule_error(error, &spec.schedule, &spec.time_zone))?;
    let next = parsed.next_after(after.to_datetime(), anchor.to_datetime());
    Ok(next.map(Timestamp::from_datetime))
}

fn preview_times(
    expression: &str,
    time_zone: &str,
    from: Timestamp,
    count: u32,
) -> Result<Vec<Timestamp>, ApiError> {
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    let times = schedule::preview(expression, time_zone, from.to_datetime(), count)
        .map_err(|error| schedule_error(error, expression, time_zone))?;
    let writable = times
        .into_iter()
        .take_while(|at| at.year() <= MAX_PREVIEW_YEAR);
    Ok(writable.map(Timestamp::from_datetime).collect())
}
