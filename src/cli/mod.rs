//! Client subcommands of the `raftcron` binary: `job`, `execution` and `cluster`.

mod client;
mod render;

pub use client::{
    ClientCommand, ClientOptions, ClusterCommand, DEFAULT_ENDPOINT, ExecutionCommand, JobCommand,
    Output, run,
};
