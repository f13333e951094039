//! The public API of a node: gRPC (`raftcron.v1`) and REST on one port, over one service layer.
//!
//! - [`service`]: [`ApiService`], one method per call, used by both front ends.
//! - [`grpc`] and [`rest`]: thin front ends that convert requests and call the service.
//! - [`convert`]: every conversion between domain types, protobuf messages and REST JSON.
//! - [`error`]: [`ApiError`] and its one mapping to gRPC statuses and HTTP responses.
//!
//! **Invariant:** protobuf types ([`pb`]) appear only in this module and in the CLI client.

pub mod backend;
pub mod convert;
pub mod error;
pub mod grpc;
pub mod rest;
pub mod service;

#[cfg(test)]
pub(crate) mod fake;
#[cfg(test)]
mod input_fuzz_test;
#[cfg(test)]
mod policy_test;
#[cfg(test)]
mod router_test;

use axum::Router;
use tonic::service::Routes;

pub use error::ApiError;
pub use service::{ApiService, Clock, IdSource, NodeStatus, random_ids, system_clock};

/// Messages and services generated from `proto/raftcron/v1/api.proto`.
pub mod pb {
    tonic::include_proto!("raftcron.v1");
}

/// Builds the router that serves gRPC and REST on one port.
///
/// Requests whose path starts with `/raftcron.v1.JobService/` or
/// `/raftcron.v1.ClusterService/` go to the gRPC services; every other request goes to the
/// REST routes. Serve it with `axum::serve`, which accepts HTTP/1.1 and HTTP/2 (h2c) on the same
/// listener.
pub fn router(api: ApiService) -> Router {
    let grpc = grpc::GrpcApi::new(api.clone());
    let grpc_routes = Routes::new(grpc.job_service())
        .add_service(grpc.cluster_service())
        .into_axum_router()
        // tonic's own fallback returns a gRPC UNIMPLEMENTED status for every unknown path.
        // Dropping it lets the REST router's JSON fallback handle those paths.
        .reset_fallback();
    grpc_routes.merge(rest::rest_router(api))
}
