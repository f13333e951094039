//! The dispatch tasks of one leader term, each findable by its execution id so that it can be
//! aborted.

use std::collections::HashMap;
use std::future::Future;

use tokio::task::{AbortHandle, Id, JoinError, JoinSet};

use crate::model::ExecutionId;

/// Tasks in flight, keyed by the execution they send. Dropping the set aborts them all.
pub(super) struct InFlight<T> {
    tasks: JoinSet<T>,
    executions: HashMap<Id, ExecutionId>,
    handles: HashMap<ExecutionId, AbortHandle>,
}

impl<T: Send + 'static> InFlight<T> {
    pub fn new() -> Self {
        InFlight {
            tasks: JoinSet::new(),
            executions: HashMap::new(),
            handles: HashMap::new(),
        }
    }

    /// Spawns `task`, which sends an attempt of `execution_id`.
    pub fn spawn(
        &mut self,
        execution_id: ExecutionId,
        task: impl Future<Output = T> + Send + 'static,
    ) {
        let handle = self.tasks.spawn(task);
        self.executions.insert(handle.id(), execution_id.clone());
        self.handles.insert(execution_id, handle);
    }

    /// Aborts the task of `execution_id`, if one is in flight, and returns whether there was
    /// one. The aborted task still comes out of [`InFlight::join_next`], as cancelled.
    pub fn abort(&mut self, execution_id: &str) -> bool {
        match self.handles.remove(execution_id) {
            Some(handle) => {
                handle.abort();
                true
            }
            None => false,
        }
    }

    /// Waits for the next task to end and returns its execution id and result; `None` when
    /// no task is in flight.
    ///
    /// Cancel safety: dropping the future loses no result.
    pub async fn join_next(&mut self) -> Option<(ExecutionId, Result<T, JoinError>)> {
        let (id, result) = match self.tasks.join_next_with_id().await? {
            Ok((id, value)) => (id, Ok(value)),
            Err(error) => (error.id(), Err(error)),
        };
        let execution_id = self.executions.remove(&id).unwrap_or_default();
        let same_task = self
            .handles
            .get(&execution_id)
            .is_some_and(|handle| handle.id() == id);
        if same_task {
            self.handles.remove(&execution_id);
        }
        Some((execution_id, result))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn finished_task_returns_execution_id() {
        let mut in_flight = InFlight::new();
        in_flight.spawn("e1".to_string(), async { 7 });

        let (execution_id, result) = in_flight.join_next().await.unwrap();

        assert_eq!(execution_id, "e1");
        assert_eq!(result.unwrap(), 7);
        assert!(in_flight.join_next().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn aborted_task_ends_cancelled() {
        let mut in_flight = InFlight::new();
        in_flight.spawn("slow".to_string(), async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            1
        });
        in_flight.spawn("fast".to_string(), async { 2 });

        assert!(in_flight.abort("slow"));
        assert!(!in_flight.abort("unknown"));
        let mut ended = Vec::new();
        while let Some((execution_id, result)) = in_flight.join_next().await {
            ended.push((execution_id, result.map_err(|error| error.is_cancelled())));
        }
        ended.sort();

        let expected = vec![("fast".to_string(), Ok(2)), ("slow".to_string(), Err(true))];
        assert_eq!(ended, expected);
    }

    #[tokio::test(start_paused = true)]
    async fn finished_task_cannot_be_aborted() {
        let mut in_flight = InFlight::new();
        in_flight.spawn("e1".to_string(), async { 1 });
        let (_, result) = in_flight.join_next().await.unwrap();

        assert_eq!(result.unwrap(), 1);
        assert!(!in_flight.abort("e1"));
    }
}
