//! raftcron: a clustered cron job scheduler that replicates jobs and executions with Raft.
//!
//! See docs/ARCHITECTURE.md for the layout and the invariants.

pub mod api;
pub mod chaos;
pub mod cli;
pub mod config;
pub mod model;
pub mod net;
pub mod node;
pub mod raft;
pub mod raft_runtime;
pub mod raft_types;
pub mod receiver;
pub mod schedule;
pub mod scheduler;
pub mod store;
pub mod trigger;
