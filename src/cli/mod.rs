//! Subcommands of the `raftcron` binary other than `serve` and `receiver`: the API clients
//! `job`, `execution` and `cluster`, and the offline `schedule next`.

mod client;
mod render;
mod schedule;

pub use client::{
    ClientCommand, ClientOptions, ClusterCommand, DEFAULT_ENDPOINT, ExecutionCommand, JobCommand,
    Output, run, write_output,
};
pub use render::escape;
pub use schedule::{ScheduleCommand, run_schedule};
