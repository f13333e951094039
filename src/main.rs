//! The `raftcron` command: `serve` runs a node, `schedule next` previews a schedule offline,
//! `receiver` runs a recording HTTP receiver, and the other subcommands are API clients.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use raftcron::cli::{self, ClientCommand, ScheduleCommand};
use raftcron::config::NodeConfig;
use raftcron::receiver::{Behaviour, Receiver};

#[derive(Parser, Debug)]
#[command(
    name = "raftcron",
    version,
    about = "A clustered cron job scheduler replicated with Raft"
)]
struct Cli {
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
    /// Run a bounded chaos test: start nodes on 127.0.0.1, inject seeded faults under a job
    /// workload, then check the firing and API guarantees (docs/CHAOS.md).
    Chaos(raftcron::chaos::ChaosArgs),
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Schedule(command) => cli::run_schedule(command),
        Command::Serve(args) => run_async(serve(args)),
        Command::Receiver { listen } => run_async(receiver(listen)),
        Command::Chaos(args) => run_async(raftcron::chaos::main(args)),
        Command::Client(command) => run_async(cli::run(command)),
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
    // Colour codes only on a terminal, because node logs are often files.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .init();
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
            let line = format!("receiver listening on http://{}\n", receiver.address());
            if let Err(error) = cli::write_output(&mut std::io::stdout().lock(), &line) {
                eprintln!("error: failed to write to standard output: {error}");
            }
            receiver.wait().await;
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: failed to listen on {listen}: {error}");
            ExitCode::FAILURE
        }
    }
}
