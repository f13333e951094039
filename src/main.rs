//! The `raftcron` command: `serve` runs a node, `schedule next` previews a schedule offline,
//! `receiver` runs a recording HTTP receiver, and the other subcommands are API clients.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use raftcron::cli::{self, ClientCommand, ClientOptions};
use raftcron::config::NodeConfig;
use raftcron::receiver::{Behaviour, Receiver};

#[derive(Parser, Debug)]
#[command(
    name = "raftcron",
    version,
    about = "A clustered cron job scheduler replicated with Raft"
)]
struct Cli {
    #[command(flatten)]
    client: ClientOptions,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a node.
    Serve(ServeArgs),
    /// Work with schedule expressions, without a server.
    #[command(subcommand)]
    Schedule(ScheduleCommand),
    /// Run an HTTP receiver that prints every request it gets (a trigger target for trying
    /// raftcron out).
    Receiver {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:7200")]
        listen: String,
    },
    #[command(flatten)]
    Client(ClientCommand),
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// TOML config file.
    #[arg(long, env = "RAFTCRON_CONFIG")]
    config: PathBuf,
    /// Overrides node_id.
    #[arg(long, env = "RAFTCRON_NODE_ID")]
    node_id: Option<u64>,
    /// Overrides data_dir.
    #[arg(long, env = "RAFTCRON_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Overrides listen_client_addr.
    #[arg(long, env = "RAFTCRON_LISTEN_CLIENT_ADDR")]
    listen_client_addr: Option<String>,
    /// Overrides listen_peer_addr.
    #[arg(long, env = "RAFTCRON_LISTEN_PEER_ADDR")]
    listen_peer_addr: Option<String>,
    /// Overrides storage.cache_mb (sled's page cache, in MiB).
    #[arg(long, env = "RAFTCRON_CACHE_MB")]
    cache_mb: Option<u64>,
    /// Overrides storage.fsync (true or false).
    #[arg(long, env = "RAFTCRON_FSYNC")]
    fsync: Option<bool>,
}

#[derive(Subcommand, Debug)]
enum ScheduleCommand {
    /// Print the next fire instants of a schedule, one RFC 3339 UTC instant a line.
    Next {
        /// Cron expression, macro (@daily) or @every duration.
        expression: String,
        /// IANA time zone the expression is read in.
        #[arg(long, default_value = "UTC")]
        time_zone: String,
        /// Start after this instant (RFC 3339); defaults to now.
        #[arg(long)]
        from: Option<String>,
        /// How many instants to print (1 to 1000).
        #[arg(long, default_value_t = 5)]
        count: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Schedule(command) => schedule(command),
        Command::Serve(args) => run_async(serve(args)),
        Command::Receiver { listen } => run_async(receiver(listen)),
        Command::Client(command) => {
            let options = cli.client;
            run_async(async move { cli::run(&options.endpoint, options.output, command).await })
        }
    }
}

fn run_async(future: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(future),
        Err(error) => {
            eprintln!("error: failed to start the async runtime: {error}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
}

async fn serve(args: ServeArgs) -> ExitCode {
    init_tracing();
    let config = match load_config(args) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::from(2);
        }
    };
    match raftcron::node::run(config, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "node failed");
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(args: ServeArgs) -> anyhow::Result<NodeConfig> {
    let mut config = NodeConfig::from_file(&args.config)?;
    if let Some(node_id) = args.node_id {
        config.node_id = node_id;
    }
    if let Some(data_dir) = args.data_dir {
        config.data_dir = data_dir;
    }
    if args.listen_client_addr.is_some() {
        config.listen_client_addr = args.listen_client_addr;
    }
    if args.listen_peer_addr.is_some() {
        config.listen_peer_addr = args.listen_peer_addr;
    }
    if let Some(cache_mb) = args.cache_mb {
        config.storage.cache_mb = cache_mb;
    }
    if let Some(fsync) = args.fsync {
        config.storage.fsync = fsync;
    }
    config.validate()?;
    Ok(config)
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(stream) => stream,
        Err(error) => {
            tracing::warn!(%error, "SIGTERM handler not installed; stopping on Ctrl-C only");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

async fn receiver(listen: String) -> ExitCode {
    let behaviour = Behaviour {
        print: true,
        ..Behaviour::default()
    };
    match Receiver::start(&listen, behaviour).await {
        Ok(receiver) => {
            println!("receiver listening on http://{}", receiver.address());
            receiver.wait().await;
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: failed to listen on {listen}: {error}");
            ExitCode::FAILURE
        }
    }
}

fn schedule(command: ScheduleCommand) -> ExitCode {
    let ScheduleCommand::Next {
        expression,
        time_zone,
        from,
        count,
    } = command;
    if !(1..=1000).contains(&count) {
        eprintln!("error: invalid --count {count}: expected 1 to 1000");
        return ExitCode::from(2);
    }
    let from = match parse_from(from.as_deref()) {
        Ok(from) => from,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    match raftcron::schedule::preview(&expression, &time_zone, from, count) {
        Ok(instants) => {
            for instant in instants {
                println!(
                    "{}",
                    instant.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
                );
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

fn parse_from(from: Option<&str>) -> Result<DateTime<Utc>, String> {
    match from {
        None => Ok(Utc::now()),
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|at| at.with_timezone(&Utc))
            .map_err(|error| format!("invalid --from {text}: {error}; expected RFC 3339")),
    }
}
