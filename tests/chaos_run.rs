//! Short chaos runs through the real binary: a run of the correct product must pass, and a run
//! with the planted dispatch-before-commit bug must fail.

use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The runs start three node processes each, so they run one at a time.
static ONE_RUN_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Faults are injected for 20 s; setup, recovery and checks add about 30 s.
const FAULT_SECONDS: &str = "20s";
/// Bound of one whole run, after which the test kills it.
const RUN_TIMEOUT: Duration = Duration::from_secs(240);

/// Stops the chaos runner if the test panics or times out before the runner exits. The runner
/// kills the nodes it started when it gets SIGTERM; SIGKILL follows after 10 s.
struct RunGuard(Option<Child>);

impl Drop for RunGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs `raftcron chaos` with `args` and returns its exit status and standard output.
fn run_chaos(args: &[&str]) -> (ExitStatus, String) {
    // A failing run keeps its data directory under TMPDIR; this one is removed on return.
    let temp = tempfile::tempdir().expect("create temp dir");
    let child = Command::new(env!("CARGO_BIN_EXE_raftcron"))
        .env("TMPDIR", temp.path())
        .arg("chaos")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn raftcron chaos");
    let mut guard = RunGuard(Some(child));
    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        let child = guard.0.as_mut().expect("runner child");
        if let Some(status) = child.try_wait().expect("wait for raftcron chaos") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "raftcron chaos {args:?} did not finish within {RUN_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // The runner has exited, so this returns at once. Its output (about 100 lines) fits in
    // the pipe buffer, so it could not block while the loop above polled.
    let child = guard.0.take().expect("runner child");
    let finished = child.wait_with_output().expect("read runner output");
    let output = String::from_utf8_lossy(&finished.stdout).into_owned();
    assert_eq!(finished.status, status);
    println!("{output}");
    (status, output)
}

fn last_line(output: &str) -> &str {
    output
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("")
}

#[test]
fn short_run_passes() {
    let _serialized = ONE_RUN_AT_A_TIME
        .lock()
        .unwrap_or_else(|poison| poison.into_inner());

    let (status, output) = run_chaos(&["--duration", FAULT_SECONDS, "--seed", "1"]);

    let verdict = last_line(&output);
    assert!(verdict.starts_with("verdict: PASS seed=1"), "{verdict}");
    assert!(status.success(), "exit status {status}");
}

#[test]
fn planted_bug_is_caught() {
    let _serialized = ONE_RUN_AT_A_TIME
        .lock()
        .unwrap_or_else(|poison| poison.into_inner());
    let args = [
        "--duration",
        FAULT_SECONDS,
        "--seed",
        "1",
        "--planted-bug",
        "dispatch-before-commit",
    ];

    let (status, output) = run_chaos(&args);

    let verdict = last_line(&output);
    assert!(verdict.starts_with("verdict: FAIL seed=1"), "{verdict}");
    assert_eq!(status.code(), Some(1), "exit status {status}");
}
