//! The scheduler: decides on the leader which jobs fire and which attempts are sent.
//!
//! [`core`] is the pure engine (events in, commands out); [`runtime`] runs it on the leader
//! with a real clock, proposes its intents through Raft and dispatches committed attempts
//! through [`crate::trigger`].
//!
//! **Invariant**: the runtime is the only caller of `trigger`, and it dispatches only attempts
//! the state machine stored as RUNNING in the term this node leads.

pub mod core;
mod next_instant;
pub mod runtime;

pub use self::core::{CoreConfig, NextInstant, SchedulerCore};
pub use self::next_instant::next_instant;
pub use self::runtime::{
    Clock, Consensus, ConsensusError, FenceError, JitterSource, SchedulerConfig, SchedulerError,
    SchedulerHandle, SchedulerHealth, SchedulerRuntime, SystemClock,
};
