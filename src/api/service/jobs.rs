//! Job calls: create, read, list, update, pause, resume and delete.

use crate::model::{Command, Job, JobInput, JobSpec, JobStats, JobStatus, Response, Timestamp};
use crate::store::JobFilter;

use super::query::{JobQuery, next_fire, page_of, parse_job_status, split_tags};
use super::{ApiService, Listing, expect_job, require_id, unexpected};
use crate::api::error::ApiError;

impl ApiService {
    /// Validates `input` and stores a new job with a fresh id (a UUID v4 unless the service
    /// was given another source).
    ///
    /// An ACTIVE job gets its first instant after now; a PAUSED or DISABLED one gets none.
    pub async fn create_job(&self, input: JobInput) -> Result<Job, ApiError> {
        let (spec, status) = input.into_new_spec()?;
        let now = self.now();
        let next_execution_time = match status {
            JobStatus::Active => Some(first_fire(&spec, now)?),
            JobStatus::Paused | JobStatus::Disabled => None,
        };
        let job = Job {
            revision: 0,
            pruned_through: None,
            id: (self.new_id)(),
            spec,
            status,
            anchor: now,
            last_execution_time: None,
            next_execution_time,
            created_at: now,
            updated_at: now,
            stats: JobStats::default(),
        };

        let response = self.cluster.write(Command::CreateJob { job }).await?;
        expect_job(response)
    }

    /// Reads one job (linearizable).
    pub async fn get_job(&self, id: &str) -> Result<Job, ApiError> {
        require_id("id", id)?;
        self.cluster.read_barrier().await?;
        self.load_job("id", id)
    }

    /// Lists jobs matching a status and every given tag (linearizable).
    pub async fn list_jobs(&self, query: JobQuery) -> Result<Listing<Job>, ApiError> {
        let page = page_of(query.page, query.limit)?;
        let status = query.status.as_deref().map(parse_job_status).transpose()?;
        let filter = JobFilter {
            status,
            tags: split_tags(&query.tags),
        };

        self.cluster.read_barrier().await?;
        let paged = self.state.list_jobs(&filter, page)?;
        Ok(Listing::new(paged, page))
    }

    /// Replaces the fields set in `input`; the merged job is validated as a whole.
    ///
    /// The next instant is recomputed from now when the schedule or time zone of an ACTIVE job
    /// changes, and kept otherwise. The status cannot change here: pause and resume do that.
    pub async fn update_job(&self, id: &str, input: JobInput) -> Result<Job, ApiError> {
        require_id("id", id)?;
        self.cluster.read_barrier().await?;
        let current = self.load_job("id", id)?;

        let status = input.status_or(current.status)?;
        let spec = input.into_updated_spec(&current.spec)?;
        let now = self.now();
        let next_execution_time = next_after_update(&current, &spec, status, now)?;

        // The state machine keeps its stored next instant when neither the timing nor the
        // status changes, so a fire committed after this read is not undone.
        let command = Command::UpdateJob {
            id: id.to_string(),
            spec,
            status: (status != current.status).then_some(status),
            next_execution_time,
            now,
        };
        expect_job(self.cluster.write(command).await?)
    }

    /// Stops firing a job until it is resumed.
    pub async fn pause_job(&self, id: &str) -> Result<Job, ApiError> {
        require_id("id", id)?;
        let command = Command::PauseJob {
            id: id.to_string(),
            now: self.now(),
        };
        expect_job(self.cluster.write(command).await?)
    }

    /// Fires a job again, with its next instant computed from now and `@every` schedules
    /// anchored at now.
    ///
    /// # Errors
    /// [`ApiError::FailedPrecondition`] when the schedule has no instant after now.
    pub async fn resume_job(&self, id: &str) -> Result<Job, ApiError> {
        require_id("id", id)?;
        self.cluster.read_barrier().await?;
        let current = self.load_job("id", id)?;

        let now = self.now();
        let Some(next) = next_fire(&current.spec, now, now)? else {
            return Err(ApiError::FailedPrecondition {
                field: "schedule".to_string(),
                value: current.spec.schedule.clone(),
                message: format!(
                    "schedule {:?} never fires after {now}; update the schedule, then resume",
                    current.spec.schedule
                ),
            });
        };

        let command = Command::ResumeJob {
            id: id.to_string(),
            next_execution_time: Some(next),
            now,
        };
        expect_job(self.cluster.write(command).await?)
    }

    /// Removes a job and its execution history; returns the deleted id.
    pub async fn delete_job(&self, id: &str) -> Result<String, ApiError> {
        require_id("id", id)?;
        let command = Command::DeleteJob { id: id.to_string() };
        match self.cluster.write(command).await? {
            Response::Deleted(id) => Ok(id),
            Response::Rejected(rejection) => Err(rejection.into()),
            other => Err(unexpected(&other)),
        }
    }
}

/// Computes the first instant of a new or changed schedule after `now`, anchored at `now`.
///
/// # Errors
/// [`ApiError::InvalidArgument`] on `schedule` when it never fires after `now`.
fn first_fire(spec: &JobSpec, now: Timestamp) -> Result<Timestamp, ApiError> {
    next_fire(spec, now, now)?.ok_or_else(|| ApiError::InvalidArgument {
        field: "schedule".to_string(),
        value: spec.schedule.clone(),
        message: format!("schedule {:?} never fires after {now}", spec.schedule),
    })
}

/// Computes the next instant after an update to `spec` and `status`: from now when an ACTIVE
/// job gets a new schedule or an inactive job becomes ACTIVE, `None` for an inactive job, and
/// the current one otherwise.
fn next_after_update(
    current: &Job,
    spec: &JobSpec,
    status: JobStatus,
    now: Timestamp,
) -> Result<Option<Timestamp>, ApiError> {
    if status != JobStatus::Active {
        return Ok(None);
    }
    let schedule_changed =
        spec.schedule != current.spec.schedule || spec.time_zone != current.spec.time_zone;
    if schedule_changed || current.status != JobStatus::Active {
        return first_fire(spec, now).map(Some);
    }
    Ok(current.next_execution_time)
}
