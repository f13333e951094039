//! Change events the state machine sends after each applied entry.
//!
//! Contract:
//! - Events of an entry are sent after its transaction committed to sled, so a reader that gets
//!   an event and then reads the trees reads that change or a later one.
//! - Sending never blocks apply. The channel is a `tokio::sync::broadcast` channel of
//!   [`EVENT_CHANNEL_CAPACITY`] events: a receiver that falls further behind gets
//!   `RecvError::Lagged` and has missed events. It must then rebuild its view from
//!   [`super::StateReader`] (for example `active_jobs` and `open_executions`) and continue
//!   receiving.
//! - Subscribe before reading the initial state, so no change falls between the read and the
//!   first event. An event may then repeat a change the initial read already contains.
//! - Events are sent only for entries applied while the process runs. Nothing is replayed for a
//!   new subscriber, and a node that restarts starts from the stored state.

use crate::model::{Execution, Job, JobId};

/// Number of events the broadcast channel holds for the slowest receiver.
pub(crate) const EVENT_CHANNEL_CAPACITY: usize = 4096;

/// A change to the replicated state, sent after it committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateEvent {
    /// A job was created, changed or deleted (`job` is `None`). Deleting a job also removes its
    /// executions, which get no event of their own.
    JobChanged {
        job_id: JobId,
        job: Option<Box<Job>>,
    },
    /// An execution was created or changed. Retention removes finished executions without an
    /// event, except one finished by the same entry: it gets this event with its final state,
    /// though a read no longer finds it.
    ExecutionChanged(Execution),
    /// A snapshot replaced the whole state: rebuild every view from the reader.
    Reset,
}
