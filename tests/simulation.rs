//! Deterministic simulation of a raftcron cluster: the chaos runner's workload, faults and
//! checks against nodes that run `raftcron::node::run_on` under turmoil, with a simulated
//! clock, network and targets and an in-memory store, so a seed replays exactly.
//!
//! - `cargo test --test simulation`: the default seeds, the replay check and the planted bug.
//! - `RAFTCRON_SIM_SEEDS=N RAFTCRON_SIM_SEED_FROM=S`: seeds S to S+N-1 (scripts/sim.sh).
//! - `RAFTCRON_SIM_SEED=S`: seed S alone, with its fault log and verdict table (a replay);
//!   `RAFTCRON_SIM_PLANTED_BUG=1` adds the planted bug, `RUST_LOG` the nodes' logs.
//! - `RAFTCRON_SIM_FAULT_SECS` (simulated seconds of faults per seed, default 30),
//!   `RAFTCRON_SIM_NODES` (3 or 5) and `RAFTCRON_SIM_THREADS` (default: one per core).
//!
//! docs/CHAOS.md describes what the simulation covers and what only the process runner does.

#[path = "simulation/client.rs"]
mod client;
#[path = "simulation/cluster.rs"]
mod cluster;
#[path = "simulation/harness.rs"]
mod harness;
#[path = "simulation/targets.rs"]
mod targets;
#[path = "simulation/transport.rs"]
mod transport;

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use harness::{SimOptions, SimOutcome, run_seed};

/// Seeds of the default run.
const DEFAULT_SEEDS: u64 = 30;
/// Simulated time of faults per seed in the default run.
const DEFAULT_FAULT_TIME: Duration = Duration::from_secs(30);
/// Longest simulated fault phase a seed accepts: one simulated day.
const MAX_FAULT_SECS: u64 = 86_400;
/// The seed the replay and planted-bug tests use.
const FIXED_SEED: u64 = 7;

fn env_u64(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    Some(
        text.parse()
            .unwrap_or_else(|_| panic!("invalid {name}={text:?}: expected an unsigned integer")),
    )
}

/// Reads `RAFTCRON_SIM_PLANTED_BUG`: `1` enables the planted bug, `0` or unset leaves it off.
fn planted_bug_requested() -> bool {
    match std::env::var("RAFTCRON_SIM_PLANTED_BUG").as_deref() {
        Err(_) | Ok("0") => false,
        Ok("1") => true,
        Ok(other) => panic!("invalid RAFTCRON_SIM_PLANTED_BUG={other:?}: expected 1 or 0"),
    }
}

/// Returns the options of `seed`: the chaos runner's 4 clients and 12 schedule jobs (15 with
/// five nodes), with `RAFTCRON_SIM_NODES` and `RAFTCRON_SIM_FAULT_SECS` applied.
fn options(seed: u64) -> SimOptions {
    let fault_secs = env_u64("RAFTCRON_SIM_FAULT_SECS").unwrap_or(DEFAULT_FAULT_TIME.as_secs());
    assert!(
        (1..=MAX_FAULT_SECS).contains(&fault_secs),
        "invalid RAFTCRON_SIM_FAULT_SECS={fault_secs}: expected 1 to {MAX_FAULT_SECS}"
    );
    let nodes = env_u64("RAFTCRON_SIM_NODES").unwrap_or(3);
    assert!(
        nodes == 3 || nodes == 5,
        "invalid RAFTCRON_SIM_NODES={nodes}: expected 3 or 5"
    );
    SimOptions {
        seed,
        nodes,
        clients: 4,
        schedule_jobs: if nodes == 5 { 15 } else { 12 },
        fault_time: Duration::from_secs(fault_secs),
        planted_bug: false,
    }
}

/// Returns the command that replays `seed` with its fault log and verdict table, with the
/// settings of this run.
fn replay_command(seed: u64) -> String {
    let mut settings = format!("RAFTCRON_SIM_SEED={seed}");
    for name in ["RAFTCRON_SIM_FAULT_SECS", "RAFTCRON_SIM_NODES"] {
        if let Ok(value) = std::env::var(name) {
            settings.push_str(&format!(" {name}={value}"));
        }
    }
    format!("{settings} cargo test --release --test simulation seeds_pass_checks -- --nocapture")
}

/// Describes the failed checks of `outcome`, with up to ten examples.
fn describe_failures(outcome: &SimOutcome) -> String {
    let mut text = String::new();
    for row in outcome.report.rows.iter().filter(|row| row.violations > 0) {
        text.push_str(&format!(
            "\n  {} violations: {} ({})",
            row.violations, row.check, row.detail
        ));
    }
    for example in outcome.report.examples.iter().take(10) {
        text.push_str(&format!("\n  example: {example}"));
    }
    text
}

/// Runs one seed and returns a failure message, or `None` when every check passed.
fn check_seed(options: &SimOptions) -> Option<String> {
    let seed = options.seed;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_seed(options)));
    let replay = replay_command(seed);
    match result {
        Ok(Ok(outcome)) if outcome.report.violations() == 0 => None,
        Ok(Ok(outcome)) => Some(format!(
            "seed {seed}: {} violations:{}\n  replay: {replay}",
            outcome.report.violations(),
            describe_failures(&outcome)
        )),
        Ok(Err(error)) => Some(format!(
            "seed {seed}: the run failed: {error:#}\n  replay: {replay}"
        )),
        Err(_) => Some(format!("seed {seed}: the run panicked\n  replay: {replay}")),
    }
}

/// Runs one seed with its log on standard output and prints the verdict table.
fn run_one_verbose(seed: u64) {
    // The nodes' logs only on request: RUST_LOG=info shows elections, fires and faults.
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_timer(SimTime)
            .try_init();
    }
    let options = SimOptions {
        planted_bug: planted_bug_requested(),
        ..options(seed)
    };
    let started = Instant::now();
    let outcome =
        run_seed(&options).unwrap_or_else(|error| panic!("seed {seed}: the run failed: {error:#}"));
    println!();
    for row in &outcome.report.rows {
        let mark = if row.violations == 0 { "ok" } else { "FAIL" };
        println!(
            "{:<62} {:>5} {:<4}  {}",
            row.check, row.violations, mark, row.detail
        );
    }
    println!(
        "seed {seed}: {} faults, {} requests, {} fires, {:.1} s simulated in {:.1} s, \
         fingerprint {:016x} ({} lines)",
        outcome.faults,
        outcome.report.requests,
        outcome.report.fires,
        outcome.simulated.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        digest(&outcome.fingerprint),
        outcome.fingerprint.len()
    );
    assert!(
        outcome.report.violations() == 0,
        "seed {seed}: {} violations:{}",
        outcome.report.violations(),
        describe_failures(&outcome)
    );
}

/// Stamps the nodes' log lines with simulated time, as the fault log is, so the two line up.
struct SimTime;

impl tracing_subscriber::fmt::time::FormatTime for SimTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> fmt::Result {
        match turmoil::sim_elapsed() {
            Some(elapsed) => write!(w, "[{:8.3}s]", elapsed.as_secs_f64()),
            None => write!(w, "[outside the simulation]"),
        }
    }
}

/// Hashes fingerprint lines with FNV-1a, to compare runs in different processes by eye.
fn digest(lines: &[String]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in lines.iter().flat_map(|line| line.bytes().chain([b'\n'])) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Runs seeds `from..from + count` on all cores and returns the failure messages.
fn run_seeds(from: u64, count: u64) -> Vec<String> {
    let next = AtomicU64::new(from);
    let failures = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism().map_or(1, |count| count.get());
    let threads = env_u64("RAFTCRON_SIM_THREADS").map_or(threads, |count| {
        assert!(
            (1..=1024).contains(&count),
            "invalid RAFTCRON_SIM_THREADS={count}: expected 1 to 1024"
        );
        usize::try_from(count).unwrap_or(usize::MAX)
    });
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let seed = next.fetch_add(1, Ordering::SeqCst);
                    if seed >= from + count {
                        return;
                    }
                    if let Some(failure) = check_seed(&options(seed)) {
                        eprintln!("{failure}");
                        failures
                            .lock()
                            .unwrap_or_else(|poison| poison.into_inner())
                            .push(failure);
                    }
                }
            });
        }
    });
    let mut failures = failures
        .into_inner()
        .unwrap_or_else(|poison| poison.into_inner());
    failures.sort();
    failures
}

#[test]
fn seeds_pass_checks() {
    if let Some(seed) = env_u64("RAFTCRON_SIM_SEED") {
        run_one_verbose(seed);
        return;
    }
    assert!(
        !planted_bug_requested(),
        "RAFTCRON_SIM_PLANTED_BUG=1 needs RAFTCRON_SIM_SEED: the planted bug runs one seed"
    );
    let from = env_u64("RAFTCRON_SIM_SEED_FROM").unwrap_or(1);
    let count = env_u64("RAFTCRON_SIM_SEEDS").unwrap_or(DEFAULT_SEEDS);
    // A run of no seeds, or one past the last seed number, would pass without checking a seed.
    assert!(
        count > 0,
        "invalid RAFTCRON_SIM_SEEDS=0: expected at least 1 seed"
    );
    assert!(
        from.checked_add(count).is_some_and(|end| end < u64::MAX),
        "invalid RAFTCRON_SIM_SEED_FROM={from} with RAFTCRON_SIM_SEEDS={count}: the seeds must \
         end below {}",
        u64::MAX
    );
    let started = Instant::now();
    let failures = run_seeds(from, count);
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{count} seeds from {from} in {elapsed:.1} s ({:.2} seeds/s), {} failed",
        count as f64 / elapsed,
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {count} seeds failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn same_seed_replays_exactly() {
    if std::env::var("RAFTCRON_SIM_SEED").is_ok() {
        return;
    }
    let first = run_seed(&options(FIXED_SEED)).expect("first run");
    let second = run_seed(&options(FIXED_SEED)).expect("second run");

    let first_difference = first
        .fingerprint
        .iter()
        .zip(&second.fingerprint)
        .position(|(a, b)| a != b);
    if let Some(index) = first_difference {
        panic!(
            "seed {FIXED_SEED} diverged at line {index}:\n  first:  {}\n  second: {}",
            first.fingerprint[index], second.fingerprint[index]
        );
    }
    assert_eq!(first.fingerprint.len(), second.fingerprint.len());
    assert!(first.report.requests > 0, "the run sent no requests");
}

#[test]
fn planted_bug_is_caught() {
    if std::env::var("RAFTCRON_SIM_SEED").is_ok() {
        return;
    }
    let options = SimOptions {
        planted_bug: true,
        ..options(FIXED_SEED)
    };

    let outcome = run_seed(&options).expect("the run completes");

    let row = |check: &str| {
        outcome
            .report
            .rows
            .iter()
            .find(|row| row.check.starts_with(check))
            .map_or(0, |row| row.violations)
    };
    assert!(
        row("every request is a committed attempt") > 0,
        "the checker missed the planted bug on seed {FIXED_SEED}:{}",
        describe_failures(&outcome)
    );
}
