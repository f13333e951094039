use clap::Parser;

use super::*;
use crate::api::fake::{Fixture, serve};

/// A stand-in for the binary's parser, as main.rs wires the client in.
#[derive(Parser, Debug)]
struct TestCli {
    #[command(flatten)]
    options: ClientOptions,
    #[command(subcommand)]
    command: ClientCommand,
}

fn parse(args: &[&str]) -> TestCli {
    TestCli::try_parse_from(std::iter::once("raftcron").chain(args.iter().copied())).unwrap()
}

fn write_file(dir: &tempfile::TempDir, text: &str) -> String {
    let path = dir.path().join("job.json");
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

const JOB_FILE: &str = r#"{
    "name": "cli-job",
    "schedule": "*/5 * * * *",
    "triggerConfig": {"url": "http://127.0.0.1:9/hook", "timeout": 1000},
    "createdAt": "2025-01-01T00:00:00.000Z"
}"#;

#[test]
fn parses_list_filters() {
    let cli = parse(&[
        "job", "list", "--status", "PAUSED", "--tags", "a,b", "--limit", "5",
    ]);
    let expected = ClientCommand::Job(JobCommand::List {
        status: Some("PAUSED".to_string()),
        tags: vec!["a".to_string(), "b".to_string()],
        page: None,
        limit: Some(5),
    });
    assert_eq!(cli.command, expected);
    assert_eq!(cli.options.output, Output::Text);
}

#[test]
fn parses_global_options_after_subcommand() {
    let cli = parse(&[
        "cluster",
        "status",
        "--endpoint",
        "127.0.0.1:7002",
        "--output",
        "json",
    ]);
    assert_eq!(cli.options.endpoint, "127.0.0.1:7002");
    assert_eq!(cli.options.output, Output::Json);
    assert_eq!(cli.command, ClientCommand::Cluster(ClusterCommand::Status));
}

#[test]
fn parses_create_from_stdin() {
    let cli = parse(&["job", "create", "-f", "-"]);
    let expected = ClientCommand::Job(JobCommand::Create {
        file: PathBuf::from("-"),
    });
    assert_eq!(cli.command, expected);
}

#[test]
fn endpoint_defaults_to_local_node() {
    // The default applies only when the environment does not set the endpoint.
    if std::env::var_os("RAFTCRON_ENDPOINT").is_none() {
        assert_eq!(
            parse(&["cluster", "status"]).options.endpoint,
            DEFAULT_ENDPOINT
        );
    }
}

#[tokio::test]
async fn missing_file_exits_2_before_connecting() {
    let command = ClientCommand::Job(JobCommand::Create {
        file: PathBuf::from("/nonexistent/job.json"),
    });
    // Nothing listens on the endpoint: the file error comes first.
    let code = run("127.0.0.1:1", Output::Text, command).await;
    assert_eq!(code, ExitCode::from(2));
}

#[tokio::test]
async fn malformed_file_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(&dir, "{\"name\": ");
    let command = ClientCommand::Job(JobCommand::Create { file: file.into() });
    assert_eq!(
        run("127.0.0.1:1", Output::Text, command).await,
        ExitCode::from(2)
    );
}

#[tokio::test]
async fn create_and_get_succeed() {
    let fixture = Fixture::new();
    let endpoint = serve(fixture.api.clone()).await.to_string();
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(&dir, JOB_FILE);

    let create = ClientCommand::Job(JobCommand::Create { file: file.into() });
    assert_eq!(
        run(&endpoint, Output::Json, create).await,
        ExitCode::SUCCESS
    );

    let written = fixture.cluster.written.lock().unwrap().clone();
    let [crate::model::Command::CreateJob { job }] = written.as_slice() else {
        panic!("expected one CreateJob, got {written:?}");
    };
    assert_eq!(job.spec.name, "cli-job");
    let get = ClientCommand::Job(JobCommand::Get { id: job.id.clone() });
    assert_eq!(run(&endpoint, Output::Text, get).await, ExitCode::SUCCESS);
}

#[tokio::test]
async fn server_invalid_argument_exits_2() {
    let fixture = Fixture::new();
    let endpoint = serve(fixture.api.clone()).await.to_string();
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(&dir, &JOB_FILE.replace("1000", "-1"));
    let command = ClientCommand::Job(JobCommand::Create { file: file.into() });
    assert_eq!(
        run(&endpoint, Output::Text, command).await,
        ExitCode::from(2)
    );
}

#[tokio::test]
async fn unknown_job_exits_1() {
    let fixture = Fixture::new();
    let endpoint = serve(fixture.api.clone()).await.to_string();
    let command = ClientCommand::Job(JobCommand::Get {
        id: "missing".to_string(),
    });
    assert_eq!(
        run(&endpoint, Output::Text, command).await,
        ExitCode::FAILURE
    );
}

#[tokio::test]
async fn refused_connection_exits_1() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = listener.local_addr().unwrap().to_string();
    drop(listener);
    let command = ClientCommand::Cluster(ClusterCommand::Status);
    assert_eq!(
        run(&endpoint, Output::Text, command).await,
        ExitCode::FAILURE
    );
}

#[derive(thiserror::Error, Debug)]
#[error("transport error")]
struct Transport(#[source] std::io::Error);

#[test]
fn error_chain_joins_sources() {
    let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
    let error = Transport(refused);
    assert_eq!(error_chain(&error), "transport error: refused");
}
