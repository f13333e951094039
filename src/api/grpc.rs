//! The gRPC front end: `raftcron.v1.JobService` and `raftcron.v1.ClusterService` over
//! [`ApiService`].

use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status};

use super::error::ApiError;
use super::pb;
use super::pb::cluster_service_server::{ClusterService, ClusterServiceServer};
use super::pb::job_service_server::{JobService, JobServiceServer};
use super::rest::MAX_REQUEST_BODY_BYTES;
use super::service::{ApiService, ExecutionQuery, JobQuery, ManualRun, PreviewQuery};
use crate::model::JobInput;

/// The gRPC services backed by one [`ApiService`].
#[derive(Clone)]
pub struct GrpcApi {
    api: ApiService,
}

impl GrpcApi {
    pub fn new(api: ApiService) -> Self {
        GrpcApi { api }
    }

    /// Builds the tonic server of `raftcron.v1.JobService`, accepting requests up to the REST
    /// body limit.
    pub fn job_service(&self) -> JobServiceServer<GrpcApi> {
        JobServiceServer::new(self.clone()).max_decoding_message_size(MAX_REQUEST_BODY_BYTES)
    }

    /// Builds the tonic server of `raftcron.v1.ClusterService`.
    pub fn cluster_service(&self) -> ClusterServiceServer<GrpcApi> {
        ClusterServiceServer::new(self.clone()).max_decoding_message_size(MAX_REQUEST_BODY_BYTES)
    }
}

type GrpcResult<T> = Result<Response<T>, Status>;

/// Response metadata set to "true" on a TriggerJob whose idempotency key was used before: the
/// execution returned is the run that earlier request started.
pub const REPLAYED_METADATA_KEY: &str = "x-raftcron-replayed";

/// Converts a request's job message, an absent one being empty.
fn job_input(message: Option<pb::JobInput>) -> Result<JobInput, Status> {
    JobInput::try_from(message.unwrap_or_default())
        .map_err(|error| ApiError::from(error).to_status())
}

/// Wraps a service result in a tonic response, converting the value to its message.
fn reply<T, M>(result: Result<T, ApiError>) -> GrpcResult<M>
where
    M: for<'a> From<&'a T>,
{
    match result {
        Ok(value) => Ok(Response::new(M::from(&value))),
        Err(error) => Err(error.to_status()),
    }
}

#[tonic::async_trait]
impl JobService for GrpcApi {
    async fn create_job(&self, request: Request<pb::CreateJobRequest>) -> GrpcResult<pb::Job> {
        let input = job_input(request.into_inner().job)?;
        reply(self.api.create_job(input).await)
    }

    async fn get_job(&self, request: Request<pb::GetJobRequest>) -> GrpcResult<pb::Job> {
        let result = self.api.get_job(&request.into_inner().id).await;
        reply(result)
    }

    async fn list_jobs(
        &self,
        request: Request<pb::ListJobsRequest>,
    ) -> GrpcResult<pb::ListJobsResponse> {
        let request = request.into_inner();
        let query = JobQuery {
            page: request.page.map(i64::from),
            limit: request.limit.map(i64::from),
            status: request.status,
            tags: request.tags,
        };
        reply(self.api.list_jobs(query).await)
    }

    async fn update_job(&self, request: Request<pb::UpdateJobRequest>) -> GrpcResult<pb::Job> {
        let request = request.into_inner();
        let input = job_input(request.job)?;
        let result = self.api.update_job(&request.id, input).await;
        reply(result)
    }

    async fn pause_job(&self, request: Request<pb::PauseJobRequest>) -> GrpcResult<pb::Job> {
        let result = self.api.pause_job(&request.into_inner().id).await;
        reply(result)
    }

    async fn resume_job(&self, request: Request<pb::ResumeJobRequest>) -> GrpcResult<pb::Job> {
        let result = self.api.resume_job(&request.into_inner().id).await;
        reply(result)
    }

    async fn delete_job(
        &self,
        request: Request<pb::DeleteJobRequest>,
    ) -> GrpcResult<pb::DeleteJobResponse> {
        let result = self.api.delete_job(&request.into_inner().id).await;
        let response = result.map(|id| pb::DeleteJobResponse { id });
        response.map(Response::new).map_err(Status::from)
    }

    async fn trigger_job(
        &self,
        request: Request<pb::TriggerJobRequest>,
    ) -> GrpcResult<pb::Execution> {
        let request = request.into_inner();
        let run = ManualRun {
            force: request.force,
            idempotency_key: request.idempotency_key,
        };
        let triggered = self
            .api
            .trigger_job(&request.id, run)
            .await
            .map_err(|error| error.to_status())?;
        let mut response = Response::new(pb::Execution::from(&triggered.execution));
        if triggered.replayed {
            let value = MetadataValue::from_static("true");
            response.metadata_mut().insert(REPLAYED_METADATA_KEY, value);
        }
        Ok(response)
    }

    async fn list_executions(
        &self,
        request: Request<pb::ListExecutionsRequest>,
    ) -> GrpcResult<pb::ListExecutionsResponse> {
        let request = request.into_inner();
        let query = ExecutionQuery {
            job_id: request.job_id,
            page: request.page.map(i64::from),
            limit: request.limit.map(i64::from),
            status: request.status,
        };
        reply(self.api.list_executions(query).await)
    }

    async fn get_execution(
        &self,
        request: Request<pb::GetExecutionRequest>,
    ) -> GrpcResult<pb::Execution> {
        let request = request.into_inner();
        let result = self
            .api
            .get_execution(&request.job_id, &request.execution_id)
            .await;
        reply(result)
    }

    async fn retry_execution(
        &self,
        request: Request<pb::RetryExecutionRequest>,
    ) -> GrpcResult<pb::Execution> {
        let request = request.into_inner();
        let result = self
            .api
            .retry_execution(&request.job_id, &request.execution_id)
            .await;
        reply(result)
    }

    async fn preview_schedule(
        &self,
        request: Request<pb::PreviewScheduleRequest>,
    ) -> GrpcResult<pb::PreviewScheduleResponse> {
        let request = request.into_inner();
        let query = PreviewQuery {
            schedule: Some(request.schedule),
            time_zone: request.time_zone,
            from: request.from,
            count: request.count.map(i64::from),
        };
        reply(self.api.preview_schedule(query).await)
    }
}

#[tonic::async_trait]
impl ClusterService for GrpcApi {
    async fn get_status(
        &self,
        _request: Request<pb::GetStatusRequest>,
    ) -> GrpcResult<pb::ClusterStatus> {
        let status = self.api.cluster_status();
        Ok(Response::new(pb::ClusterStatus::from(&status)))
    }
}
