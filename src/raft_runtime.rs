//! openraft's async runtime for raftcron: tokio, with election timeouts drawn from a random
//! number generator that a simulation can seed.
//!
//! openraft 0.9 draws each election timeout from its runtime's `thread_rng`. Tokio's runtime
//! returns rand's thread-local generator, seeded by the operating system, so two simulated
//! runs of one seed would elect differently. [`RaftRuntime`] returns [`ElectionRng`], which
//! draws from a generator seeded by [`seed_election_rng`] when the current thread has one, and
//! from rand's thread-local generator otherwise. Everything else is tokio, as in openraft's
//! `TokioRuntime`.

use std::cell::RefCell;
use std::future::Future;
use std::time::Duration;

use openraft::{AsyncRuntime, OptionalSend, TokioInstant, TokioRuntime};
use rand08::rngs::StdRng;
use rand08::{RngCore, SeedableRng};

thread_local! {
    static SEEDED: RefCell<Option<StdRng>> = const { RefCell::new(None) };
}

/// Makes election timeouts drawn on this thread come from a generator seeded with `seed`, or
/// from the operating system's entropy again with `None`. A simulation that runs every node on
/// one thread calls it before each run.
pub fn seed_election_rng(seed: Option<u64>) {
    SEEDED.with(|seeded| *seeded.borrow_mut() = seed.map(StdRng::seed_from_u64));
}

/// The generator openraft draws election timeouts from.
pub struct ElectionRng;

impl ElectionRng {
    fn with<T>(draw: impl FnOnce(&mut dyn RngCore) -> T) -> T {
        SEEDED.with(|seeded| match seeded.borrow_mut().as_mut() {
            Some(rng) => draw(rng),
            None => draw(&mut rand08::thread_rng()),
        })
    }
}

impl RngCore for ElectionRng {
    fn next_u32(&mut self) -> u32 {
        Self::with(|rng| rng.next_u32())
    }

    fn next_u64(&mut self) -> u64 {
        Self::with(|rng| rng.next_u64())
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        Self::with(|rng| rng.fill_bytes(dest));
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand08::Error> {
        Self::with(|rng| rng.try_fill_bytes(dest))
    }
}

/// tokio with [`ElectionRng`]; see the module documentation.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RaftRuntime;

impl AsyncRuntime for RaftRuntime {
    type JoinError = <TokioRuntime as AsyncRuntime>::JoinError;
    type JoinHandle<T: OptionalSend + 'static> = <TokioRuntime as AsyncRuntime>::JoinHandle<T>;
    type Sleep = <TokioRuntime as AsyncRuntime>::Sleep;
    type Instant = TokioInstant;
    type TimeoutError = <TokioRuntime as AsyncRuntime>::TimeoutError;
    type Timeout<R, T: Future<Output = R> + OptionalSend> =
        <TokioRuntime as AsyncRuntime>::Timeout<R, T>;
    type ThreadLocalRng = ElectionRng;
    type OneshotSender<T: OptionalSend> = <TokioRuntime as AsyncRuntime>::OneshotSender<T>;
    type OneshotReceiverError = <TokioRuntime as AsyncRuntime>::OneshotReceiverError;
    type OneshotReceiver<T: OptionalSend> = <TokioRuntime as AsyncRuntime>::OneshotReceiver<T>;

    fn spawn<T>(future: T) -> Self::JoinHandle<T::Output>
    where
        T: Future + OptionalSend + 'static,
        T::Output: OptionalSend + 'static,
    {
        TokioRuntime::spawn(future)
    }

    fn sleep(duration: Duration) -> Self::Sleep {
        TokioRuntime::sleep(duration)
    }

    fn sleep_until(deadline: Self::Instant) -> Self::Sleep {
        TokioRuntime::sleep_until(deadline)
    }

    fn timeout<R, F: Future<Output = R> + OptionalSend>(
        duration: Duration,
        future: F,
    ) -> Self::Timeout<R, F> {
        TokioRuntime::timeout(duration, future)
    }

    fn timeout_at<R, F: Future<Output = R> + OptionalSend>(
        deadline: Self::Instant,
        future: F,
    ) -> Self::Timeout<R, F> {
        TokioRuntime::timeout_at(deadline, future)
    }

    fn is_panic(join_error: &Self::JoinError) -> bool {
        TokioRuntime::is_panic(join_error)
    }

    fn thread_rng() -> Self::ThreadLocalRng {
        ElectionRng
    }

    fn oneshot<T>() -> (Self::OneshotSender<T>, Self::OneshotReceiver<T>)
    where
        T: OptionalSend,
    {
        TokioRuntime::oneshot()
    }
}

#[cfg(test)]
mod tests {
    use rand08::Rng;

    use super::*;

    fn draw_timeouts() -> Vec<u64> {
        let mut rng = RaftRuntime::thread_rng();
        (0..8).map(|_| rng.gen_range(500..1000)).collect()
    }

    #[test]
    fn seeded_draws_repeat() {
        seed_election_rng(Some(42));
        let first = draw_timeouts();
        seed_election_rng(Some(42));
        let second = draw_timeouts();
        seed_election_rng(None);

        assert_eq!(first, second);
        assert!(first.iter().all(|timeout| (500..1000).contains(timeout)));
    }

    #[test]
    fn other_seed_draws_differ() {
        seed_election_rng(Some(1));
        let first = draw_timeouts();
        seed_election_rng(Some(2));
        let second = draw_timeouts();
        seed_election_rng(None);

        assert_ne!(first, second);
    }
}
