//! A linearizability check of one job's operation history: the Wing-Gong search with Lowe's
//! memoization of (linearized set, model state) pairs, as in Knossos and Porcupine.
//!
//! Histories of different job ids are independent, so each id is checked on its own. The
//! model of one job is absent, or present with a status (active or paused) and the version
//! that updates write into its description. An operation with an unknown outcome may take
//! effect at any point after its invoke, or never; its response constrains nothing.

use std::collections::HashSet;

use super::workload::{Observed, OpKind, Outcome};

/// The model state of one job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JobState {
    Absent,
    Present(Observed),
}

/// One operation of a single-job history.
#[derive(Clone, Debug)]
pub struct Operation {
    pub kind: OpKind,
    pub outcome: Outcome,
    pub invoke_us: u64,
    /// `None` when the outcome is unknown: the operation may take effect at any later time.
    pub complete_us: Option<u64>,
}

/// The result of a search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    /// No order of the operations explains the responses.
    NotLinearizable,
    /// The search visited `steps` states without finishing.
    Inconclusive {
        steps: usize,
    },
}

/// Applies `operation` to `state`; `None` when the recorded response rules it out.
pub fn step(state: JobState, operation: &Operation) -> Option<JobState> {
    let unknown = matches!(operation.outcome, Outcome::Unknown(_));
    let failed_code = match operation.outcome {
        Outcome::Failed(code) => Some(code),
        _ => None,
    };
    if let Some(code) = failed_code {
        // A definite error changes nothing, and a 404 means the job did not exist.
        let consistent = code != 404 || state == JobState::Absent;
        return consistent.then_some(state);
    }
    let returned = match &operation.outcome {
        Outcome::Ok(observed) => *observed,
        _ => None,
    };
    let next = match (&operation.kind, state) {
        (OpKind::Create, JobState::Absent) => JobState::Present(Observed {
            active: true,
            version: 0,
        }),
        (OpKind::Create, JobState::Present(_)) => return None,
        (_, JobState::Absent) => return None,
        (OpKind::Update(version), JobState::Present(job)) => JobState::Present(Observed {
            version: *version,
            ..job
        }),
        (OpKind::Pause, JobState::Present(job)) => JobState::Present(Observed {
            active: false,
            ..job
        }),
        (OpKind::Resume, JobState::Present(job)) => JobState::Present(Observed {
            active: true,
            ..job
        }),
        (OpKind::Delete, JobState::Present(_)) => JobState::Absent,
        (OpKind::Get, JobState::Present(job)) => JobState::Present(job),
    };
    if unknown {
        return Some(next);
    }
    // A call that returns the job must return the job as it is after the call.
    match (returned, next) {
        (Some(observed), JobState::Present(job)) if observed != job => None,
        _ => Some(next),
    }
}

/// Searches for an order of `operations`, starting from `initial`, that respects real time
/// and explains every definite response; stops after `max_steps` visited states.
pub fn check(operations: &[Operation], initial: JobState, max_steps: usize) -> Verdict {
    let count = operations.len();
    let mut linearized = vec![false; count];
    let mut cache: HashSet<(Vec<u64>, JobState)> = HashSet::new();
    let mut steps = 0usize;
    let found = search(
        operations,
        &mut linearized,
        initial,
        &mut cache,
        &mut steps,
        max_steps,
    );
    match found {
        Some(true) => Verdict::Linearizable,
        Some(false) => Verdict::NotLinearizable,
        None => Verdict::Inconclusive { steps },
    }
}

fn bits(linearized: &[bool]) -> Vec<u64> {
    let mut words = vec![0u64; linearized.len().div_ceil(64)];
    for (index, done) in linearized.iter().enumerate() {
        if *done {
            words[index / 64] |= 1 << (index % 64);
        }
    }
    words
}

/// Depth-first search; `None` when the step budget ran out.
fn search(
    operations: &[Operation],
    linearized: &mut Vec<bool>,
    state: JobState,
    cache: &mut HashSet<(Vec<u64>, JobState)>,
    steps: &mut usize,
    max_steps: usize,
) -> Option<bool> {
    // Done when every operation with a definite outcome is placed; unknown ones may never
    // have taken effect.
    let pending_definite = operations
        .iter()
        .zip(linearized.iter())
        .filter(|(operation, done)| !**done && operation.complete_us.is_some());
    let Some(first_completion) = pending_definite.filter_map(|(op, _)| op.complete_us).min() else {
        return Some(true);
    };
    *steps += 1;
    if *steps > max_steps {
        return None;
    }
    if !cache.insert((bits(linearized), state)) {
        return Some(false);
    }
    // An operation can go next only if it was invoked before every pending operation
    // completed.
    for index in 0..operations.len() {
        let operation = &operations[index];
        if linearized[index] || operation.invoke_us > first_completion {
            continue;
        }
        let Some(next) = step(state, operation) else {
            continue;
        };
        linearized[index] = true;
        let found = search(operations, linearized, next, cache, steps, max_steps);
        linearized[index] = false;
        match found {
            Some(true) => return Some(true),
            Some(false) => {}
            None => return None,
        }
    }
    Some(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(kind: OpKind, outcome: Outcome, invoke_us: u64, complete_us: Option<u64>) -> Operation {
        Operation {
            kind,
            outcome,
            invoke_us,
            complete_us,
        }
    }

    fn job(active: bool, version: u64) -> Option<Observed> {
        Some(Observed { active, version })
    }

    #[test]
    fn sequential_history_is_linearizable() {
        let history = [
            op(OpKind::Create, Outcome::Ok(job(true, 0)), 0, Some(10)),
            op(OpKind::Update(5), Outcome::Ok(job(true, 5)), 20, Some(30)),
            op(OpKind::Pause, Outcome::Ok(job(false, 5)), 40, Some(50)),
            op(OpKind::Get, Outcome::Ok(job(false, 5)), 60, Some(70)),
            op(OpKind::Delete, Outcome::Ok(None), 80, Some(90)),
            op(OpKind::Get, Outcome::Failed(404), 100, Some(110)),
        ];

        let verdict = check(&history, JobState::Absent, 10_000);

        assert_eq!(verdict, Verdict::Linearizable);
    }

    #[test]
    fn stale_read_is_not_linearizable() {
        let history = [
            op(OpKind::Create, Outcome::Ok(job(true, 0)), 0, Some(10)),
            op(OpKind::Update(5), Outcome::Ok(job(true, 5)), 20, Some(30)),
            op(OpKind::Get, Outcome::Ok(job(true, 0)), 40, Some(50)),
        ];

        let verdict = check(&history, JobState::Absent, 10_000);

        assert_eq!(verdict, Verdict::NotLinearizable);
    }

    #[test]
    fn lost_update_is_not_linearizable() {
        let history = [
            op(OpKind::Create, Outcome::Ok(job(true, 0)), 0, Some(10)),
            op(OpKind::Update(5), Outcome::Ok(job(true, 5)), 20, Some(30)),
            op(OpKind::Get, Outcome::Ok(job(true, 5)), 40, Some(50)),
            op(OpKind::Get, Outcome::Ok(job(true, 0)), 60, Some(70)),
        ];

        let verdict = check(&history, JobState::Absent, 10_000);

        assert_eq!(verdict, Verdict::NotLinearizable);
    }

    #[test]
    fn unknown_update_may_apply_late() {
        let history = [
            op(OpKind::Create, Outcome::Ok(job(true, 0)), 0, Some(10)),
            op(
                OpKind::Update(5),
                Outcome::Unknown("timeout".into()),
                20,
                None,
            ),
            op(OpKind::Get, Outcome::Ok(job(true, 0)), 40, Some(50)),
            op(OpKind::Get, Outcome::Ok(job(true, 5)), 60, Some(70)),
        ];

        let verdict = check(&history, JobState::Absent, 10_000);

        assert_eq!(verdict, Verdict::Linearizable);
    }

    #[test]
    fn unknown_update_may_never_apply() {
        let history = [
            op(OpKind::Create, Outcome::Ok(job(true, 0)), 0, Some(10)),
            op(
                OpKind::Update(5),
                Outcome::Unknown("HTTP 503".into()),
                20,
                None,
            ),
            op(OpKind::Get, Outcome::Ok(job(true, 0)), 40, Some(50)),
        ];

        let verdict = check(&history, JobState::Absent, 10_000);

        assert_eq!(verdict, Verdict::Linearizable);
    }

    #[test]
    fn unknown_update_cannot_apply_before_invoke() {
        let history = [
            op(OpKind::Create, Outcome::Ok(job(true, 0)), 0, Some(10)),
            op(OpKind::Get, Outcome::Ok(job(true, 5)), 20, Some(30)),
            op(
                OpKind::Update(5),
                Outcome::Unknown("timeout".into()),
                40,
                None,
            ),
        ];

        let verdict = check(&history, JobState::Absent, 10_000);

        assert_eq!(verdict, Verdict::NotLinearizable);
    }

    #[test]
    fn concurrent_ops_may_reorder() {
        let history = [
            op(OpKind::Create, Outcome::Ok(job(true, 0)), 0, Some(10)),
            op(OpKind::Pause, Outcome::Ok(job(false, 0)), 20, Some(60)),
            op(OpKind::Get, Outcome::Ok(job(true, 0)), 30, Some(40)),
        ];

        let verdict = check(&history, JobState::Absent, 10_000);

        assert_eq!(verdict, Verdict::Linearizable);
    }

    #[test]
    fn not_found_on_present_job_is_not_linearizable() {
        let history = [
            op(OpKind::Create, Outcome::Ok(job(true, 0)), 0, Some(10)),
            op(OpKind::Pause, Outcome::Failed(404), 20, Some(30)),
        ];

        let verdict = check(&history, JobState::Absent, 10_000);

        assert_eq!(verdict, Verdict::NotLinearizable);
    }

    #[test]
    fn budget_makes_search_inconclusive() {
        let mut history = vec![op(OpKind::Create, Outcome::Ok(job(true, 0)), 0, Some(10))];
        for version in 1..=20 {
            let unknown = Outcome::Unknown("timeout".into());
            history.push(op(OpKind::Update(version), unknown, 20 + version, None));
        }
        history.push(op(OpKind::Get, Outcome::Ok(job(true, 99)), 100, Some(110)));

        let verdict = check(&history, JobState::Absent, 1000);

        assert!(matches!(verdict, Verdict::Inconclusive { .. }));
    }
}
