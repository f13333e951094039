use std::io::Write;

use clap::Parser;

use super::*;
use crate::api::fake::{Fixture, serve};

/// A stand-in for the binary's parser, as main.rs wires the client in next to `serve`.
#[derive(Parser, Debug)]
#[command(name = "raftcron")]
struct TestCli {
    #[command(subcommand)]
    command: TestCommand,
}

#[derive(clap::Subcommand, Debug, PartialEq, Eq)]
enum TestCommand {
    /// Run a node.
    Serve {
        #[arg(long)]
        config: Option<String>,
    },
    #[command(flatten)]
    Client(ClientCommand),
}

fn try_parse(args: &[&str]) -> Result<ClientCommand, clap::Error> {
    let args = std::iter::once("raftcron").chain(args.iter().copied());
    match TestCli::try_parse_from(args)?.command {
        TestCommand::Client(command) => Ok(command),
        other => panic!("expected a client command, got {other:?}"),
    }
}

fn parse(args: &[&str]) -> ClientCommand {
    try_parse(args).unwrap()
}

fn options(endpoint: &str, output: Output) -> ClientOptions {
    ClientOptions {
        endpoint: endpoint.to_string(),
        output,
    }
}

fn job(endpoint: &str, output: Output, command: JobCommand) -> ClientCommand {
    ClientCommand::Job {
        options: options(endpoint, output),
        command,
    }
}

fn cluster_status(endpoint: &str) -> ClientCommand {
    ClientCommand::Cluster {
        options: options(endpoint, Output::Text),
        command: ClusterCommand::Status,
    }
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
    let command = parse(&[
        "job", "list", "--status", "PAUSED", "--tags", "a,b", "--limit", "5",
    ]);
    let ClientCommand::Job { options, command } = command else {
        panic!("expected a job command, got {command:?}");
    };
    let expected = JobCommand::List {
        status: Some("PAUSED".to_string()),
        tags: vec!["a".to_string(), "b".to_string()],
        page: None,
        limit: Some(5),
    };
    assert_eq!(command, expected);
    assert_eq!(options.output, Output::Text);
}

#[test]
fn parses_global_options_after_subcommand() {
    let command = parse(&[
        "cluster",
        "status",
        "--endpoint",
        "127.0.0.1:7002",
        "--output",
        "json",
    ]);
    let expected = ClientCommand::Cluster {
        options: options("127.0.0.1:7002", Output::Json),
        command: ClusterCommand::Status,
    };
    assert_eq!(command, expected);
}

#[test]
fn parses_options_between_subcommands() {
    let command = parse(&["job", "--endpoint", "127.0.0.1:7003", "get", "j-1"]);
    assert_eq!(command.options().endpoint, "127.0.0.1:7003");
}

#[test]
fn serve_has_no_client_options() {
    let mut command = <TestCli as clap::CommandFactory>::command();
    let serve = command.find_subcommand_mut("serve").unwrap();
    let help = serve.render_long_help().to_string();
    assert!(help.contains("--config"), "{help}");
    assert!(!help.contains("--endpoint"), "{help}");
    assert!(!help.contains("--output"), "{help}");
    let error = TestCli::try_parse_from(["raftcron", "serve", "--endpoint", "x"]).unwrap_err();
    assert_eq!(error.kind(), clap::error::ErrorKind::UnknownArgument);
}

#[test]
fn parses_create_from_stdin() {
    let command = parse(&["job", "create", "-f", "-"]);
    let expected = JobCommand::Create {
        file: PathBuf::from("-"),
    };
    assert!(
        matches!(&command, ClientCommand::Job { command, .. } if *command == expected),
        "{command:?}"
    );
}

#[test]
fn endpoint_defaults_to_local_node() {
    // The default applies only when the environment does not set the endpoint.
    if std::env::var_os("RAFTCRON_ENDPOINT").is_none() {
        let command = parse(&["cluster", "status"]);
        assert_eq!(command.options().endpoint, DEFAULT_ENDPOINT);
    }
}

#[tokio::test]
async fn missing_file_exits_2_before_connecting() {
    let create = JobCommand::Create {
        file: PathBuf::from("/nonexistent/job.json"),
    };
    // Nothing listens on the endpoint: the file error comes first.
    let code = run(job("127.0.0.1:1", Output::Text, create)).await;
    assert_eq!(code, ExitCode::from(2));
}

#[tokio::test]
async fn update_file_of_other_job_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(&dir, r#"{"id": "job-a", "name": "renamed"}"#);
    let update = |id: &str| JobCommand::Update {
        id: id.to_string(),
        file: file.clone().into(),
    };

    // Nothing listens on the endpoint: a file that passes its checks fails on the connection.
    let other = run(job("127.0.0.1:1", Output::Text, update("job-b"))).await;
    let same = run(job("127.0.0.1:1", Output::Text, update("job-a"))).await;

    assert_eq!(other, ExitCode::from(2));
    assert_eq!(same, ExitCode::FAILURE);
}

#[tokio::test]
async fn malformed_file_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(&dir, "{\"name\": ");
    let create = JobCommand::Create { file: file.into() };
    assert_eq!(
        run(job("127.0.0.1:1", Output::Text, create)).await,
        ExitCode::from(2)
    );
}

#[tokio::test]
async fn create_and_get_succeed() {
    let fixture = Fixture::new();
    let endpoint = serve(fixture.api.clone()).await.to_string();
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(&dir, JOB_FILE);

    let create = JobCommand::Create { file: file.into() };
    assert_eq!(
        run(job(&endpoint, Output::Json, create)).await,
        ExitCode::SUCCESS
    );

    let written = fixture.cluster.written.lock().unwrap().clone();
    let [crate::model::Command::CreateJob { job: created }] = written.as_slice() else {
        panic!("expected one CreateJob, got {written:?}");
    };
    assert_eq!(created.spec.name, "cli-job");
    let get = JobCommand::Get {
        id: created.id.clone(),
    };
    let code = run(job(&endpoint, Output::Text, get)).await;
    assert_eq!(code, ExitCode::SUCCESS);
}

#[tokio::test]
async fn server_invalid_argument_exits_2() {
    let fixture = Fixture::new();
    let endpoint = serve(fixture.api.clone()).await.to_string();
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(&dir, &JOB_FILE.replace("1000", "-1"));
    let create = JobCommand::Create { file: file.into() };
    assert_eq!(
        run(job(&endpoint, Output::Text, create)).await,
        ExitCode::from(2)
    );
}

#[tokio::test]
async fn unknown_job_exits_1() {
    let fixture = Fixture::new();
    let endpoint = serve(fixture.api.clone()).await.to_string();
    let get = JobCommand::Get {
        id: "missing".to_string(),
    };
    assert_eq!(
        run(job(&endpoint, Output::Text, get)).await,
        ExitCode::FAILURE
    );
}

#[tokio::test]
async fn refused_connection_exits_1() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = listener.local_addr().unwrap().to_string();
    drop(listener);
    assert_eq!(run(cluster_status(&endpoint)).await, ExitCode::FAILURE);
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

/// An error whose message already ends with its source's message.
#[derive(thiserror::Error, Debug)]
#[error("tcp connect error: {0}")]
struct Connect(#[source] std::io::Error);

#[derive(thiserror::Error, Debug)]
#[error("transport error")]
struct Layered(#[source] Connect);

#[test]
fn error_chain_leaves_out_repeated_sources() {
    let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
    let error = Layered(Connect(refused));
    assert_eq!(
        error_chain(&error),
        "transport error: tcp connect error: refused"
    );
}

/// A writer whose reader has gone away, like a pipe after `grep -q` exits.
struct ClosedPipe;

impl Write for ClosedPipe {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::ErrorKind::BrokenPipe.into())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Err(std::io::ErrorKind::BrokenPipe.into())
    }
}

/// A writer that fails with a full disk.
struct FullDisk;

impl Write for FullDisk {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::ErrorKind::StorageFull.into())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn closed_pipe_is_normal_end() {
    assert!(write_output(&mut ClosedPipe, "output\n").is_ok());
}

#[test]
fn other_write_errors_are_reported() {
    let error = write_output(&mut FullDisk, "output\n").unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::StorageFull);
}

#[tokio::test]
async fn http2_server_without_grpc_gets_hint() {
    let receiver = crate::receiver::Receiver::start("127.0.0.1:0", Default::default())
        .await
        .unwrap();
    let endpoint = receiver.address().to_string();
    let error = run_command(cluster_status(&endpoint)).await.unwrap_err();
    let message = error.to_string();
    let hint = format!("is {endpoint} a raftcron client port?");
    assert!(message.contains("grpc-status"), "{message}");
    assert!(message.contains(&hint), "{message}");
}

/// Serves one HTTP/1.1 response to every connection, as a plain web server does.
async fn serve_http1() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut buffer = [0; 1024];
            let _ = stream.read(&mut buffer).await;
            let response = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
            let _ = stream.read_to_end(&mut Vec::new()).await;
        }
    });
    endpoint
}

#[tokio::test]
async fn http1_server_gets_hint() {
    let endpoint = serve_http1().await;
    let error = run_command(cluster_status(&endpoint)).await.unwrap_err();
    let message = error.to_string();
    let hint = format!("is {endpoint} a raftcron client port?");
    assert!(message.contains(&hint), "{message}");
}

const JSON_BODY_FILE: &str = r#"{
    "name": "json-body",
    "schedule": "*/5 * * * *",
    "triggerConfig": {"url": "http://127.0.0.1:9/hook", "body": {"run": true}}
}"#;

fn written_jobs(fixture: &Fixture) -> Vec<crate::model::Job> {
    let written = fixture.cluster.written.lock().unwrap().clone();
    written
        .into_iter()
        .filter_map(|command| match command {
            crate::model::Command::CreateJob { job } => Some(job),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn json_body_gets_content_type_on_create() {
    let fixture = Fixture::new();
    let endpoint = serve(fixture.api.clone()).await.to_string();
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(&dir, JSON_BODY_FILE);

    let create = JobCommand::Create { file: file.into() };
    assert_eq!(
        run(job(&endpoint, Output::Json, create)).await,
        ExitCode::SUCCESS
    );

    let jobs = written_jobs(&fixture);
    let crate::model::Trigger::Http(http) = &jobs[0].spec.trigger;
    let content_type = http.headers.get("Content-Type").map(String::as_str);
    assert_eq!(content_type, Some("application/json"));
}

#[tokio::test]
async fn json_body_on_update_keeps_current_headers() {
    let fixture = Fixture::new();
    let endpoint = serve(fixture.api.clone()).await.to_string();
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        &dir,
        &JOB_FILE.replace("\"timeout\"", "\"headers\": {\"X-A\": \"1\"}, \"timeout\""),
    );
    let create = JobCommand::Create { file: file.into() };
    assert_eq!(
        run(job(&endpoint, Output::Json, create)).await,
        ExitCode::SUCCESS
    );
    let id = written_jobs(&fixture)[0].id.clone();

    let patch = dir.path().join("patch.json");
    std::fs::write(&patch, r#"{"triggerConfig": {"body": [1, 2]}}"#).unwrap();
    let update = JobCommand::Update {
        id: id.clone(),
        file: patch,
    };
    assert_eq!(
        run(job(&endpoint, Output::Json, update)).await,
        ExitCode::SUCCESS
    );

    let stored = fixture.api.get_job(&id).await.unwrap();
    let crate::model::Trigger::Http(http) = &stored.spec.trigger;
    assert_eq!(http.body.as_deref(), Some("[1,2]"));
    assert_eq!(http.headers.get("X-A").map(String::as_str), Some("1"));
    let content_type = http.headers.get("Content-Type").map(String::as_str);
    assert_eq!(content_type, Some("application/json"));
}
