//! One simulated chaos run per seed: the cluster, the workload and the faults of the chaos
//! runner under turmoil, then the runner's settle phase and checker.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use raftcron::chaos::check::{self, Observations, Report};
use raftcron::chaos::faults::{self, FaultPlan, FaultTarget};
use raftcron::chaos::run::{self as runner, RECOVERY};
use raftcron::chaos::workload::{self, History};
use raftcron::raft_types::NodeId;
use raftcron::store::MemoryDisk;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::watch;

use super::client::SimApi;
use super::cluster::{Control, HostAction, NodeState, SimCluster, node_config, node_host};
use super::targets::{RequestLog, targets};
use super::transport::Cuts;

/// Wall clock at the start of every run: 2030-01-01T00:00:00Z. The seed shifts it by up to
/// a second, so runs start at different phases of the once-a-second schedules.
const EPOCH_MS: u64 = 1_893_456_000_000;
/// Bound of the wait for the first leader and for a leader after the faults.
const LEADER_TIMEOUT: Duration = Duration::from_secs(60);
/// Simulated time allowed after the faults, for recovery, settling and the final reads.
const SETTLE_BUDGET: Duration = Duration::from_secs(400);
/// Maximum latency of a message on the simulated network.
const MAX_LATENCY: Duration = Duration::from_millis(5);

/// The shape of a simulated run.
#[derive(Clone, Debug)]
pub struct SimOptions {
    pub seed: u64,
    pub nodes: u64,
    pub clients: u32,
    pub schedule_jobs: usize,
    /// Simulated time during which faults are injected.
    pub fault_time: Duration,
    /// Enables the planted dispatch-before-commit bug on every node.
    pub planted_bug: bool,
}

/// What a run produced.
pub struct SimOutcome {
    pub report: Report,
    /// One line per recorded request, operation, fault and final job, execution and node
    /// state: two runs of one seed must produce the same lines.
    pub fingerprint: Vec<String>,
    pub faults: usize,
    /// Simulated time of the whole run.
    pub simulated: Duration,
}

/// Runs one seed and checks it.
///
/// # Errors
/// When the run itself failed: a node returned an error, the cluster elected no leader, or
/// the schedule jobs could not be created.
pub fn run_seed(options: &SimOptions) -> anyhow::Result<SimOutcome> {
    let seed = options.seed;
    let epoch = SystemTime::UNIX_EPOCH + Duration::from_millis(EPOCH_MS + seed % 1000);
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .epoch(epoch)
        .tick_duration(Duration::from_millis(1))
        .min_message_latency(Duration::ZERO)
        .max_message_latency(MAX_LATENCY)
        .simulation_duration(options.fault_time + SETTLE_BUDGET)
        .enable_random_order()
        .build();

    let ids: Vec<NodeId> = (1..=options.nodes).collect();
    let cuts = Cuts::default();
    let log = RequestLog::default();
    let control = Control::default();
    // Every host runs on this thread, so openraft's election timeouts come from this seed.
    raftcron::raft_runtime::seed_election_rng(Some(seed));
    for id in ids.iter().copied() {
        let state = NodeState {
            id,
            config: node_config(id, options.nodes),
            disk: MemoryDisk::new()?,
            cuts: cuts.clone(),
            log: log.clone(),
            rng: Arc::new(Mutex::new(StdRng::seed_from_u64(seed ^ (id << 48)))),
            dispatch_before_commit: options.planted_bug,
        };
        sim.host(node_host(id), move || {
            let state = state.clone();
            async move {
                let platform = state.platform();
                raftcron::node::run_on(platform, state.config.clone(), std::future::pending())
                    .await
                    .map_err(|error| format!("node {} failed: {error:#}", state.id).into())
            }
        });
    }

    let api = SimApi {
        nodes: ids
            .iter()
            .map(|id| (*id, format!("{}:7000", node_host(*id))))
            .collect(),
    };
    let history = History::default();
    let (start_clients, clients_started) = watch::channel(false);
    let (stop_clients, clients_stopped) = watch::channel(false);
    let running_clients = Arc::new(AtomicUsize::new(options.clients as usize));
    let client_hosts: Vec<String> = (0..options.clients)
        .map(|client| format!("client{client}"))
        .collect();
    let mut hosts: Vec<String> = ids.iter().map(|id| node_host(*id)).collect();
    hosts.push("controller".into());
    hosts.extend(client_hosts.iter().cloned());

    let observations: Rc<RefCell<Option<Observations>>> = Rc::default();
    let fault_count = Rc::new(RefCell::new(0));
    let controller = Controller {
        options: options.clone(),
        cluster: SimCluster {
            api: api.clone(),
            control: control.clone(),
            cuts: cuts.clone(),
            hosts,
            down: BTreeSet::new(),
            paused: BTreeSet::new(),
            log_prefix: format!("seed {} ", options.seed),
        },
        history: history.clone(),
        log: log.clone(),
        start_clients,
        stop_clients,
        running_clients: Arc::clone(&running_clients),
    };
    let output = Rc::clone(&observations);
    let faults_output = Rc::clone(&fault_count);
    sim.client("controller", async move {
        let result = controller.run().await?;
        *faults_output.borrow_mut() = result.faults.len();
        *output.borrow_mut() = Some(result);
        Ok(())
    });

    for (client, host) in client_hosts.iter().enumerate() {
        let api = api.clone();
        let history = history.clone();
        let mut started = clients_started.clone();
        let stopped = clients_stopped.clone();
        let running = Arc::clone(&running_clients);
        sim.client(host.as_str(), async move {
            let _ = started.wait_for(|started| *started).await;
            let client = client as u32;
            let target = targets().fast;
            workload::run_client(client, seed, api, target, history, stopped).await;
            running.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        });
    }

    let driven = drive(&mut sim, &ids, &control);
    raftcron::raft_runtime::seed_election_rng(None);
    driven.map_err(|error| anyhow::anyhow!("{error}"))?;

    let observations = observations
        .borrow_mut()
        .take()
        .ok_or_else(|| anyhow::anyhow!("the controller ended without observations"))?;
    let report = check::check(&observations);
    Ok(SimOutcome {
        report,
        fingerprint: fingerprint(&observations),
        faults: *fault_count.borrow(),
        simulated: sim.elapsed(),
    })
}

/// Steps the simulation until every client is done, carrying out the crashes and restarts
/// the controller queued and reporting nodes whose software stopped on its own.
fn drive(sim: &mut turmoil::Sim<'_>, ids: &[NodeId], control: &Control) -> turmoil::Result {
    let mut down: BTreeSet<NodeId> = BTreeSet::new();
    loop {
        let finished = sim.step()?;
        for action in control.take_actions() {
            match action {
                HostAction::Crash(id) => {
                    down.insert(id);
                    sim.crash(node_host(id));
                }
                HostAction::Restart(id) => {
                    down.remove(&id);
                    sim.bounce(node_host(id));
                }
            }
        }
        for id in ids {
            if !down.contains(id) && !sim.is_host_running(node_host(*id)) {
                down.insert(*id);
                control.report_exit(*id, "the node's software stopped".into());
            }
        }
        if finished {
            return Ok(());
        }
    }
}

/// The turmoil client that runs the chaos runner's phases.
struct Controller {
    options: SimOptions,
    cluster: SimCluster,
    history: History,
    log: RequestLog,
    start_clients: watch::Sender<bool>,
    stop_clients: watch::Sender<bool>,
    running_clients: Arc<AtomicUsize>,
}

impl Controller {
    async fn run(mut self) -> Result<Observations, Box<dyn std::error::Error>> {
        let api = self.cluster.api.clone();
        self.wait_for_leader().await?;
        let schedule_jobs = runner::create_schedule_jobs(
            &api,
            &self.history,
            self.options.schedule_jobs,
            &targets(),
        )
        .await
        .map_err(|error| format!("{error:#}"))?;
        let _ = self.start_clients.send(true);

        let until = self.cluster.elapsed() + self.options.fault_time;
        let mut crashes = Vec::new();
        let plan = FaultPlan::new(self.options.seed);
        let fault_result =
            faults::run_faults(&mut self.cluster, plan, until, None, &mut crashes).await;
        self.heal_all();
        let faults = fault_result.map_err(|error| format!("{error:#}"))?;
        let _ = self.stop_clients.send(true);
        while self.running_clients.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        self.wait_for_leader().await?;
        tokio::time::sleep(RECOVERY).await;
        crashes.extend(faults::report_crashes(&mut self.cluster));
        let final_pause_ms = runner::pause_all_jobs(&api, &self.history)
            .await
            .map_err(|error| format!("{error:#}"))?;
        runner::wait_for_open_executions(&api, &final_pause_ms).await;
        let node_states = runner::wait_for_agreement(&api).await;
        let (final_read_us, jobs, executions) = runner::read_final_state(&api)
            .await
            .map_err(|error| format!("{error:#}"))?;
        crashes.extend(faults::report_crashes(&mut self.cluster));

        let mut requests = self.log.requests();
        requests.sort_by_key(|request| request.received_at_ms);
        Ok(Observations {
            schedule_jobs,
            final_pause_ms,
            jobs,
            executions,
            requests,
            history: self.history.records(),
            faults,
            crashes,
            node_states,
            started_wall_ms: i64::try_from(EPOCH_MS + self.options.seed % 1000)?,
            final_read_us,
        })
    }

    /// Restarts crashed nodes, resumes paused ones and opens every link.
    fn heal_all(&mut self) {
        self.cluster.heal_links();
        for id in self.cluster.ids() {
            let _ = self.cluster.resume(id);
            let _ = self.cluster.restart(id);
        }
    }

    async fn wait_for_leader(&self) -> Result<NodeId, String> {
        let deadline = tokio::time::Instant::now() + LEADER_TIMEOUT;
        while tokio::time::Instant::now() < deadline {
            if let Some(leader) = self.cluster.leader().await {
                return Ok(leader);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(format!(
            "no leader elected within {} s",
            LEADER_TIMEOUT.as_secs()
        ))
    }
}

/// Lists everything a run observed, one item a line, in a stable order.
fn fingerprint(observations: &Observations) -> Vec<String> {
    let mut lines = Vec::new();
    for request in &observations.requests {
        lines.push(format!(
            "request {} {} {} {:?}",
            request.received_at_ms, request.method, request.path, request.headers
        ));
    }
    for record in &observations.history {
        lines.push(format!("operation {record:?}"));
    }
    for fault in &observations.faults {
        lines.push(format!("fault {fault:?}"));
    }
    for (id, job) in &observations.jobs {
        lines.push(format!("job {id} {job}"));
    }
    for (id, executions) in &observations.executions {
        for execution in executions {
            lines.push(format!("execution {id} {execution}"));
        }
    }
    for (id, status) in &observations.crashes {
        lines.push(format!("crash {id} {status}"));
    }
    for (id, state) in &observations.node_states {
        lines.push(format!("node {id} {state:?}"));
    }
    let pauses: BTreeMap<_, _> = observations.final_pause_ms.iter().collect();
    lines.push(format!("final pauses {pauses:?}"));
    lines
}
