//! `raftcron chaos`: a chaos test of a real cluster of `raftcron serve` processes on 127.0.0.1.
//!
//! The runner drives a job workload while it injects seeded faults (SIGKILL, SIGSTOP, peer
//! partitions, loss of quorum). It then lets the cluster settle and checks what the HTTP
//! targets received and what the nodes stored. docs/CHAOS.md describes the faults and checks.
//!
//! The run is bounded by `--duration` plus a settle phase of at most a few minutes, and every
//! node it started is killed when it ends, fails, panics or is interrupted.

pub mod check;
pub mod cluster;
pub mod faults;
pub mod linearizability;
mod proxy;
pub mod run;
pub mod workload;

use std::process::ExitCode;
use std::time::Duration;

use crate::scheduler::runtime::DISPATCH_BEFORE_COMMIT;

/// Options of `raftcron chaos`.
#[derive(clap::Args, Debug, Clone)]
pub struct ChaosArgs {
    /// How long faults are injected, as 90s, 10m, 2h or plain seconds; the run then settles
    /// and checks for up to a few more minutes.
    #[arg(long, allow_hyphen_values = true, default_value = "60s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Seed of the fault schedule and of the clients' choices.
    #[arg(long, allow_hyphen_values = true, default_value_t = 1)]
    pub seed: u64,
    /// Number of nodes: 3 or 5.
    #[arg(long, allow_hyphen_values = true, default_value_t = 3, value_parser = parse_node_count)]
    pub nodes: u64,
    /// Enables a deliberate bug on the nodes, to show that the checker catches it.
    #[arg(long, value_parser = [DISPATCH_BEFORE_COMMIT])]
    pub planted_bug: Option<String>,
    /// Stops after this many faults, even if --duration has time left.
    #[arg(long, allow_hyphen_values = true)]
    pub faults: Option<usize>,
    /// Number of concurrent API clients.
    #[arg(long, allow_hyphen_values = true, default_value_t = 4)]
    pub clients: u32,
    /// Keeps the data directory and node logs of a passing run (a failing run keeps them).
    #[arg(long)]
    pub keep_data: bool,
}

fn parse_node_count(text: &str) -> Result<u64, String> {
    match text {
        "3" => Ok(3),
        "5" => Ok(5),
        _ => Err(format!("invalid node count {text:?}: expected 3 or 5")),
    }
}

/// Longest accepted `--duration`: a week.
const MAX_DURATION_SECS: u64 = 7 * 24 * 3600;
/// Exit status of a run that could not complete (no leader, a job that could not be
/// created). Status 2 is left to clap, which exits with it on bad arguments.
const RUN_FAILED: u8 = 3;

/// Parses `90s`, `10m`, `2h` or a plain number of seconds, from 1 s to a week.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(split) => text.split_at(split),
        None => (text, "s"),
    };
    let value: u64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?}: expected a number and s, m or h"))?;
    let seconds = match unit {
        "s" => Some(value),
        "m" => value.checked_mul(60),
        "h" => value.checked_mul(3600),
        _ => {
            return Err(format!(
                "invalid duration {text:?}: the unit must be s, m or h"
            ));
        }
    };
    let seconds = seconds.filter(|seconds| *seconds <= MAX_DURATION_SECS);
    let Some(seconds) = seconds else {
        return Err(format!("invalid duration {text:?}: at most a week (168h)"));
    };
    if seconds == 0 {
        return Err(format!("invalid duration {text:?}: must be positive"));
    }
    Ok(Duration::from_secs(seconds))
}

/// Runs `raftcron chaos`. Exit status 0 when every check passes, 1 on a violation, 3 when the
/// run itself failed, 130 when interrupted (clap exits with 2 on bad arguments).
pub async fn main(args: ChaosArgs) -> ExitCode {
    let binary = match std::env::current_exe() {
        Ok(binary) => binary,
        Err(error) => {
            eprintln!("error: cannot find the raftcron binary to start nodes with: {error}");
            return ExitCode::from(RUN_FAILED);
        }
    };
    // Dropping the run future on a signal drops its cluster, which kills the nodes.
    tokio::select! {
        result = run::run(&args, &binary) => match result {
            Ok(report) => {
                print_report(&report, &args);
                if report.violations() == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) }
            }
            Err(error) => {
                eprintln!("error: chaos run failed: {error:#}");
                println!("verdict: ERROR seed={} error={error}", args.seed);
                ExitCode::from(RUN_FAILED)
            }
        },
        () = interrupted() => {
            eprintln!("interrupted; the nodes of this run were killed");
            ExitCode::from(130)
        }
    }
}

/// Completes on SIGINT or SIGTERM.
async fn interrupted() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn print_report(report: &check::Report, args: &ChaosArgs) {
    println!();
    println!("{:<62} {:>10}  detail", "check", "violations");
    for row in &report.rows {
        let mark = if row.violations == 0 { "ok" } else { "FAIL" };
        println!(
            "{:<62} {:>5} {:<4}  {}",
            row.check, row.violations, mark, row.detail
        );
    }
    print_failover(&report.failover);
    if !report.examples.is_empty() {
        println!();
        println!("examples of violations and notes:");
        for example in &report.examples {
            println!("  {example}");
        }
    }
    let verdict = if report.violations() == 0 {
        "PASS"
    } else {
        "FAIL"
    };
    println!();
    println!(
        "verdict: {verdict} seed={} nodes={} faults={} fires={} requests={} violations={}",
        args.seed,
        args.nodes,
        report.failover.samples.len() + report.failover.without_fire,
        report.fires,
        report.requests,
        report.violations()
    );
}

fn print_failover(failover: &check::Failover) {
    let mut all: Vec<i64> = failover.samples.iter().map(|(_, ms)| *ms).collect();
    all.sort_unstable();
    println!();
    println!("time from fault start to the next fire (ms):");
    print_quantiles("all faults", &all);
    let mut kinds: std::collections::BTreeMap<&str, Vec<i64>> = Default::default();
    for (kind, ms) in &failover.samples {
        kinds.entry(kind).or_default().push(*ms);
    }
    for (kind, mut values) in kinds {
        values.sort_unstable();
        print_quantiles(kind, &values);
    }
    if failover.without_fire > 0 {
        println!("  {} faults had no fire after them", failover.without_fire);
    }
    if !failover.slowest.is_empty() {
        println!("  slowest:");
        for line in &failover.slowest {
            println!("    {line}");
        }
    }
}

fn print_quantiles(label: &str, sorted: &[i64]) {
    let show = |q: f64| check::quantile(sorted, q).map_or("-".to_string(), |ms| ms.to_string());
    println!(
        "  {label:<26} n={:<5} p50={:<6} p99={:<6} max={}",
        sorted.len(),
        show(0.5),
        show(0.99),
        show(1.0)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
    }

    #[test]
    fn bad_durations_are_rejected() {
        assert!(parse_duration("10d").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("169h").is_err());
        assert!(parse_duration("99999999999999999h").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
