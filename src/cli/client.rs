//! Client subcommands: `job`, `execution` and `cluster`, sent to a node over gRPC.
//!
//! Job files use the REST JSON body format. They are read and validated locally with the same
//! reader the REST API uses, then sent as protobuf, so a bad file fails before any connection.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use tonic::Code;
use tonic::transport::{Channel, Endpoint};

use crate::api::convert::{ClusterJson, ExecutionJson, JobJson, ListJson};
use crate::api::grpc::REPLAYED_METADATA_KEY;
use crate::api::pb;
use crate::api::pb::cluster_service_client::ClusterServiceClient;
use crate::api::pb::job_service_client::JobServiceClient;
use crate::model::{JobInput, ValidationError};

use super::render::{self, escape};

/// Endpoint used when neither `--endpoint` nor `RAFTCRON_ENDPOINT` is set.
pub const DEFAULT_ENDPOINT: &str = "127.0.0.1:7001";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Exit code for invalid input: a bad file, argument or request field.
const EXIT_INVALID_INPUT: u8 = 2;

/// Output format of the client subcommands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Aligned text for people.
    #[default]
    Text,
    /// The REST JSON body, for scripts.
    Json,
}

/// Options of every client subcommand. They are global within `job`, `execution` and
/// `cluster`, so they may follow any of their subcommands, but `serve` and `schedule` lack them.
#[derive(Args, Clone, Debug, PartialEq, Eq)]
pub struct ClientOptions {
    /// host:port or http:// URL of any node's client (gRPC and REST) port.
    #[arg(long, global = true, env = "RAFTCRON_ENDPOINT", default_value = DEFAULT_ENDPOINT)]
    pub endpoint: String,

    /// Output format: text, or json for the REST-shaped JSON body.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// The client subcommands, each with its connection options; flatten them into the top-level
/// subcommands.
#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum ClientCommand {
    /// Create, read, change, run and delete jobs.
    Job {
        #[command(flatten)]
        options: ClientOptions,
        #[command(subcommand)]
        command: JobCommand,
    },
    /// Read and retry the executions of a job.
    Execution {
        #[command(flatten)]
        options: ClientOptions,
        #[command(subcommand)]
        command: ExecutionCommand,
    },
    /// Show the Raft cluster.
    Cluster {
        #[command(flatten)]
        options: ClientOptions,
        #[command(subcommand)]
        command: ClusterCommand,
    },
}

impl ClientCommand {
    /// Returns the connection options given with the subcommand.
    pub fn options(&self) -> &ClientOptions {
        match self {
            ClientCommand::Job { options, .. }
            | ClientCommand::Execution { options, .. }
            | ClientCommand::Cluster { options, .. } => options,
        }
    }
}

#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum JobCommand {
    /// Create a job from a JSON file in the REST body format.
    Create {
        /// JSON file to read, or - for standard input.
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: PathBuf,
    },
    /// Show one job.
    Get { id: String },
    /// List jobs, optionally filtered.
    List {
        /// Only jobs with this status: ACTIVE, PAUSED or DISABLED.
        #[arg(long)]
        status: Option<String>,
        /// Only jobs that carry every one of these comma-separated tags.
        #[arg(long, value_delimiter = ',')]
        tags: Vec<String>,
        /// Page number, from 1.
        #[arg(long)]
        page: Option<u32>,
        /// Jobs per page, 1 to 500.
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Change the fields given in a JSON file; other fields keep their value.
    Update {
        id: String,
        /// JSON file to read, or - for standard input.
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: PathBuf,
    },
    /// Stop firing a job until it is resumed.
    Pause { id: String },
    /// Fire a paused or disabled job again, from now on.
    Resume { id: String },
    /// Delete a job and its execution history.
    Delete { id: String },
    /// Run a job now, outside its schedule.
    Trigger {
        id: String,
        /// Run even when the job's concurrency policy would skip the run (FORBID) or end the
        /// open runs (REPLACE).
        #[arg(long)]
        force: bool,
        /// Key that makes the request safe to repeat: a second trigger with the same key
        /// starts nothing and prints the first run.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
}

#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum ExecutionCommand {
    /// List a job's executions, newest first.
    List {
        job_id: String,
        /// Only executions with this status: RUNNING, COMPLETED, FAILED or RETRYING.
        #[arg(long)]
        status: Option<String>,
        /// Page number, from 1.
        #[arg(long)]
        page: Option<u32>,
        /// Executions per page, 1 to 500.
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Show one execution.
    Get {
        job_id: String,
        execution_id: String,
    },
    /// Start a new execution that retries a FAILED one.
    Retry {
        job_id: String,
        execution_id: String,
    },
}

#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum ClusterCommand {
    /// Show the node, the leader, the Raft indexes, whether it has a quorum, and each member with
    /// its reachability from this node.
    Status,
}

/// A failed client command.
#[derive(thiserror::Error, Debug)]
enum ClientError {
    /// The command line or a file is invalid; nothing was sent.
    #[error("{0}")]
    Input(String),

    #[error("failed to connect to {endpoint}: {reason}; check --endpoint or RAFTCRON_ENDPOINT")]
    Connect { endpoint: String, reason: String },

    /// The server returned an error status.
    #[error("{}", .0.message())]
    Status(#[from] tonic::Status),

    /// The endpoint accepted the connection but is not a gRPC server over HTTP/2.
    #[error(
        "{reason}; is {endpoint} a raftcron client port? check --endpoint or RAFTCRON_ENDPOINT"
    )]
    NotRaftcron { endpoint: String, reason: String },

    #[error("failed to encode the result as JSON: {0}")]
    Json(serde_json::Error),

    #[error("failed to write to standard output: {0}")]
    Output(std::io::Error),
}

impl ClientError {
    /// Turns a status that shows the endpoint is not a gRPC server into
    /// [`ClientError::NotRaftcron`]. Tonic reports a missing `grpc-status` from an HTTP/2
    /// server and an h2 protocol error from an HTTP/1 server.
    fn naming_endpoint(self, endpoint: &str) -> Self {
        match self {
            ClientError::Status(status)
                if status.message().contains("grpc-status")
                    || status.message().contains("h2 protocol error") =>
            {
                ClientError::NotRaftcron {
                    endpoint: endpoint.to_string(),
                    reason: status.message().to_string(),
                }
            }
            other => other,
        }
    }

    fn exit_code(&self) -> ExitCode {
        match self {
            ClientError::Input(_) => ExitCode::from(EXIT_INVALID_INPUT),
            ClientError::Status(status) if status.code() == Code::InvalidArgument => {
                ExitCode::from(EXIT_INVALID_INPUT)
            }
            _ => ExitCode::FAILURE,
        }
    }
}

/// Runs one client command against the endpoint in its options and prints its result on
/// standard output.
///
/// Errors are printed on standard error, with control characters escaped. Returns exit code 2
/// for invalid input (a bad file or an INVALID_ARGUMENT status) and 1 for any other failure.
/// A closed standard output (EPIPE) is no failure: the reader stopped reading.
pub async fn run(command: ClientCommand) -> ExitCode {
    match run_command(command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", escape(&error.to_string()));
            error.exit_code()
        }
    }
}

async fn run_command(command: ClientCommand) -> Result<(), ClientError> {
    let ClientOptions { endpoint, output } = command.options().clone();
    let result = match command {
        ClientCommand::Job { command, .. } => run_job(&endpoint, output, command).await,
        ClientCommand::Execution { command, .. } => run_execution(&endpoint, output, command).await,
        ClientCommand::Cluster {
            command: ClusterCommand::Status,
            ..
        } => run_cluster(&endpoint, output).await,
    };
    result.map_err(|error| error.naming_endpoint(&endpoint))
}

async fn run_job(endpoint: &str, output: Output, command: JobCommand) -> Result<(), ClientError> {
    // Read the file before connecting, so that a bad file fails without a server.
    let input = match &command {
        JobCommand::Create { file } => Some(read_job_file(file, JobInput::from_json)?),
        JobCommand::Update { id, file } => Some(read_job_file(file, |body| {
            JobInput::from_update_json(body, id)
        })?),
        _ => None,
    };
    let mut client = JobServiceClient::new(connect(endpoint).await?);

    match command {
        JobCommand::Create { .. } => {
            let job = input.map(|input| job_message(input, None));
            let request = pb::CreateJobRequest { job };
            print_job(output, client.create_job(request).await?.into_inner())?;
        }
        JobCommand::Get { id } => {
            let job = client.get_job(pb::GetJobRequest { id }).await?;
            print_job(output, job.into_inner())?;
        }
        JobCommand::List {
            status,
            tags,
            page,
            limit,
        } => {
            let request = pb::ListJobsRequest {
                page,
                limit,
                status,
                tags,
            };
            let list = client.list_jobs(request).await?.into_inner();
            let text = render::job_list_text(&list);
            print(output, ListJson::from(list), text)?;
        }
        JobCommand::Update { id, .. } => {
            let job = match input {
                Some(input) => Some(update_message(&mut client, &id, input).await?),
                None => None,
            };
            let request = pb::UpdateJobRequest { id, job };
            print_job(output, client.update_job(request).await?.into_inner())?;
        }
        JobCommand::Pause { id } => {
            let job = client.pause_job(pb::PauseJobRequest { id }).await?;
            print_job(output, job.into_inner())?;
        }
        JobCommand::Resume { id } => {
            let job = client.resume_job(pb::ResumeJobRequest { id }).await?;
            print_job(output, job.into_inner())?;
        }
        JobCommand::Delete { id } => {
            let deleted = client.delete_job(pb::DeleteJobRequest { id }).await?;
            let id = deleted.into_inner().id;
            let text = format!("deleted job {}\n", escape(&id));
            print(output, serde_json::json!({ "id": id }), text)?;
        }
        JobCommand::Trigger {
            id,
            force,
            idempotency_key,
        } => {
            let request = pb::TriggerJobRequest {
                id,
                force,
                idempotency_key,
            };
            let response = client.trigger_job(request).await?;
            let replayed = response.metadata().get(REPLAYED_METADATA_KEY);
            if replayed.is_some_and(|value| value == "true") {
                eprintln!("note: the idempotency key was used before; this is the run it started");
            }
            print_execution(output, response.into_inner())?;
        }
    }
    Ok(())
}

/// Converts job input to protobuf. A body written as a JSON value gets
/// `Content-Type: application/json` here, as over REST, because protobuf does not carry how the
/// body was written. On update, `current_headers` are the job's headers, used when the input
/// has none.
fn job_message(
    mut input: JobInput,
    current_headers: Option<&std::collections::HashMap<String, String>>,
) -> pb::JobInput {
    if let Some(trigger) = &mut input.trigger {
        if trigger.headers.is_none()
            && let Some(current) = current_headers
        {
            let headers = current.iter().map(|(k, v)| (k.clone(), v.clone()));
            trigger.headers = Some(headers.collect());
        }
        trigger.add_json_content_type();
    }
    pb::JobInput::from(input)
}

/// Converts update input to protobuf, reading the job's current headers first when the input
/// has a JSON-value body and no headers.
// NOTE: a change to the job's headers between this read and the update is overwritten.
async fn update_message(
    client: &mut JobServiceClient<Channel>,
    id: &str,
    input: JobInput,
) -> Result<pb::JobInput, ClientError> {
    let needs_headers = input
        .trigger
        .as_ref()
        .is_some_and(|trigger| trigger.body_is_json && trigger.headers.is_none());
    if !needs_headers {
        return Ok(job_message(input, None));
    }
    let request = pb::GetJobRequest { id: id.to_string() };
    let job = client.get_job(request).await?.into_inner();
    let headers = job.trigger_config.map(|config| config.headers);
    Ok(job_message(input, headers.as_ref()))
}

async fn run_execution(
    endpoint: &str,
    output: Output,
    command: ExecutionCommand,
) -> Result<(), ClientError> {
    let mut client = JobServiceClient::new(connect(endpoint).await?);
    match command {
        ExecutionCommand::List {
            job_id,
            status,
            page,
            limit,
        } => {
            let request = pb::ListExecutionsRequest {
                job_id,
                page,
                limit,
                status,
            };
            let list = client.list_executions(request).await?.into_inner();
            let text = render::execution_list_text(&list);
            print(output, ListJson::from(list), text)?;
        }
        ExecutionCommand::Get {
            job_id,
            execution_id,
        } => {
            let request = pb::GetExecutionRequest {
                job_id,
                execution_id,
            };
            let execution = client.get_execution(request).await?.into_inner();
            print_execution(output, execution)?;
        }
        ExecutionCommand::Retry {
            job_id,
            execution_id,
        } => {
            let request = pb::RetryExecutionRequest {
                job_id,
                execution_id,
            };
            let execution = client.retry_execution(request).await?.into_inner();
            print_execution(output, execution)?;
        }
    }
    Ok(())
}

async fn run_cluster(endpoint: &str, output: Output) -> Result<(), ClientError> {
    let mut client = ClusterServiceClient::new(connect(endpoint).await?);
    let status = client
        .get_status(pb::GetStatusRequest {})
        .await?
        .into_inner();
    let text = render::cluster_text(&status);
    print(output, ClusterJson::from(status), text)
}

/// Reads a job file (`-` for standard input) in the REST body format and checks it with `parse`,
/// the reader of a create or an update body.
fn read_job_file(
    path: &Path,
    parse: impl Fn(&serde_json::Value) -> Result<JobInput, ValidationError>,
) -> Result<JobInput, ClientError> {
    let text = read_file(path)?;
    let name = path.display();
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|error| ClientError::Input(format!("invalid JSON in {name}: {error}")))?;
    parse(&value).map_err(|error| ClientError::Input(format!("{name}: {error}")))
}

fn read_file(path: &Path) -> Result<String, ClientError> {
    let mut text = String::new();
    let result = if path == Path::new("-") {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(path).map(|content| text = content)
    };
    result.map_err(|error| {
        ClientError::Input(format!("failed to read {}: {error}", path.display()))
    })?;
    Ok(text)
}

/// Opens a gRPC channel; `endpoint` is `host:port` or a URL.
async fn connect(endpoint: &str) -> Result<Channel, ClientError> {
    let uri = if endpoint.contains("://") {
        endpoint.to_string()
    } else {
        format!("http://{endpoint}")
    };
    let invalid = |error: tonic::transport::Error| {
        ClientError::Input(format!("invalid endpoint {endpoint:?}: {error}"))
    };
    let channel = Endpoint::from_shared(uri.clone())
        .map_err(invalid)?
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .connect()
        .await
        .map_err(|error| ClientError::Connect {
            endpoint: uri,
            reason: error_chain(&error),
        })?;
    Ok(channel)
}

/// Joins an error and its sources, because tonic's transport error alone reads only
/// "transport error". Many errors repeat their source in their own message, so a source
/// already in the text is left out, and one that extends the last part replaces it.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        let last = parts.last_mut().expect("parts start with the error");
        if text.starts_with(last.as_str()) {
            *last = text;
        } else if !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

fn print_job(output: Output, job: pb::Job) -> Result<(), ClientError> {
    let text = render::job_text(&job);
    print(output, JobJson::from(job), text)
}

fn print_execution(output: Output, execution: pb::Execution) -> Result<(), ClientError> {
    let text = render::execution_text(&execution);
    print(output, ExecutionJson::from(execution), text)
}

/// Prints `text` or the JSON body, as `output` selects.
fn print(output: Output, json: impl Serialize, text: String) -> Result<(), ClientError> {
    let text = match output {
        Output::Text => text,
        Output::Json => match serde_json::to_string_pretty(&json) {
            Ok(body) => body + "\n",
            Err(error) => return Err(ClientError::Json(error)),
        },
    };
    write_output(&mut std::io::stdout().lock(), &text).map_err(ClientError::Output)
}

/// Writes `text` to `out` and flushes it. A closed reader (EPIPE, as when the output is piped
/// to `head` or `grep -q`) counts as success, because it has read all it wanted.
pub fn write_output(out: &mut impl Write, text: &str) -> std::io::Result<()> {
    let result = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    match result {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

#[cfg(test)]
#[path = "client_test.rs"]
mod tests;
