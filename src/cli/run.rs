//! `ain-sre run`: the worker daemon against a node, until SIGINT/SIGTERM (drains in-flight calls)
//! or until a stage dies (non-zero exit).
//!
//! Settings come from flags, or a TOML file (`--config`, unknown keys refused) whose values the
//! flags override.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

use super::common::{DEFAULT_EVENTS, DEFAULT_NODE, KeyArgs, wait_for_signal, worker_entry};
use crate::client::ChainClient;
use crate::config::Catalogs;
use crate::daemon::{self, DaemonConfig};
use crate::ledger::crypto::Hash;
use crate::sandbox::Tier;
use crate::sandbox::any::{TierConfig, Tiers};

/// The keys of `run --config`, for `run --help`.
const CONFIG_KEYS: &str = "\
Config file keys (TOML, `--config FILE`; flags and their environment variables win over the file;
unknown keys are refused):
  node, events, apps = [..], data_dir, metrics_addr     as the flags
  chain_id, genesis_hash                                pin the chain (default: trust the node's genesis on first use)
  queue_capacity (512), max_concurrency (64), per_function_concurrency (64),
  max_input_bytes (4096), grace_period_ms, spec_ttl_ms, heartbeat_ms (10000, min 100), client_id
  node_wait_s                                           as --node-wait (default: wait for the node)
  runtimes_dir, profiles_dir                            catalogs (default: the shipped ones)
  disabled_tiers = [\"container\", ..]                    tiers not to offer on this host
  accepted_runtimes = [\"wasm\", ..], accepted_profiles = [\"default\", \"strict\"]
                                                        what app admins may ask of this worker (default: all)
  [container] allowed_images, allowed_image_label, runtime, guest_uid_base, guest_uids
  egress = \"deny\"                                      no function gets network on this worker
  [egress] allow, deny = [\"HOST:PORT\", ..], allow_cidrs, deny_cidrs = [\"CIDR\", ..]
                                                        the operator's lists (loopback, private and
                                                        metadata addresses stay closed unless allow_cidrs opens them)
  [blobs] listen, public_url, dir, max_blob_mb, quota_mb, per_key_quota_mb, retention_s,
          inline_output_bytes, fetch_allow = [\"10.0.0.0/8\", ..], default_url
                                                        the worker's blob store (off unless listen or --blobs-addr)
Counts must be at least 1. See the README's \"The worker\" and \"Fleets and pairing\".";

/// Arguments of `ain-sre run`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = CONFIG_KEYS)]
pub struct RunArgs {
    /// Worker config file (TOML; `run --help` lists its keys).
    #[arg(long, env = "AIN_SRE_CONFIG")]
    pub config: Option<PathBuf>,
    /// The node's JSON-RPC endpoint (a base URL without a path gets `/json-rpc`) [default:
    /// http://127.0.0.1:8081/json-rpc, unless the config file sets `node`].
    #[arg(long, env = "AIN_SRE_NODE")]
    pub node: Option<String>,
    /// The node's event-handler endpoint [default: ws://127.0.0.1:5100/, unless the config file
    /// sets `events`].
    #[arg(long, env = "AIN_SRE_EVENTS")]
    pub events: Option<String>,
    /// App to serve (repeat for several).
    #[arg(long = "app")]
    pub apps: Vec<String>,
    /// Journal and cursor directory [default: ./ain-sre-data, unless the config file sets
    /// `data_dir`].
    #[arg(long, env = "AIN_SRE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Serve /metrics, /healthz (= /readyz) and /livez here (e.g. 127.0.0.1:9464) [default: not
    /// served].
    #[arg(long, env = "AIN_SRE_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Write this worker's registry entry in every served app at start.
    #[arg(long)]
    pub register: bool,
    /// Give up starting when the node has not answered for this many seconds [default: wait as
    /// long as it takes, retrying with backoff like at run time].
    #[arg(long, env = "AIN_SRE_NODE_WAIT", value_name = "SECS")]
    pub node_wait: Option<u64>,
    /// Serve this worker's blob store here (inputs by reference, outputs too large for the
    /// chain); the config file's `[blobs]` section tunes it [default: not served].
    #[arg(long, env = "AIN_SRE_BLOBS_ADDR")]
    pub blobs_addr: Option<SocketAddr>,
    #[command(flatten)]
    key: KeyArgs,
}

/// The worker config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunFile {
    node: Option<String>,
    events: Option<String>,
    #[serde(default)]
    apps: Vec<String>,
    data_dir: Option<PathBuf>,
    metrics_addr: Option<SocketAddr>,
    chain_id: Option<u64>,
    genesis_hash: Option<String>,
    queue_capacity: Option<usize>,
    max_concurrency: Option<usize>,
    per_function_concurrency: Option<usize>,
    max_input_bytes: Option<usize>,
    grace_period_ms: Option<u64>,
    spec_ttl_ms: Option<u64>,
    /// Liveness heartbeat interval in the registry entries (default 10,000).
    heartbeat_ms: Option<u64>,
    client_id: Option<String>,
    /// Seconds start-up waits for an unreachable node (default: as long as it takes).
    node_wait_s: Option<u64>,
    runtimes_dir: Option<PathBuf>,
    profiles_dir: Option<PathBuf>,
    /// Runtimes this worker serves (names or aliases); default: every runtime of the catalogs.
    accepted_runtimes: Option<Vec<String>>,
    /// Profiles calls may run under here; default: every profile of the catalogs.
    accepted_profiles: Option<Vec<String>>,
    /// Tiers this worker must not offer even where the host has them (`["container"]`).
    #[serde(default)]
    disabled_tiers: Vec<Tier>,
    #[serde(default)]
    container: ContainerFile,
    #[serde(default)]
    journal: JournalFile,
    /// `egress = "deny"`, or `[egress]` with the operator's lists (`crate::egress::EgressFile`).
    egress: Option<crate::egress::EgressFile>,
    #[serde(default)]
    blobs: crate::blobs::settings::BlobsFile,
}

/// The `[journal]` section of the worker config: how long finished calls are remembered.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JournalFile {
    /// Seconds a finished call is kept after it finished; default 604800 (7 days).
    keep_finished_secs: Option<u64>,
    /// Most finished calls kept (the oldest go first); default 100000.
    keep_finished_max: Option<u64>,
    /// Seconds between prunes; default 60.
    prune_interval_secs: Option<u64>,
}

impl JournalFile {
    /// The retention: the defaults with the file's values applied.
    pub(crate) fn retention(&self) -> anyhow::Result<crate::journal::Retention> {
        let mut r = crate::journal::Retention::default();
        if let Some(s) = self.keep_finished_secs {
            r.max_age = Duration::from_secs(s);
        }
        r.max_finished = self.keep_finished_max.unwrap_or(r.max_finished);
        if let Some(s) = self.prune_interval_secs {
            anyhow::ensure!(s > 0, "journal.prune_interval_secs must be at least 1");
            r.interval = Duration::from_secs(s);
        }
        Ok(r)
    }
}

/// The `[container]` section of the worker config.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ContainerFile {
    /// Images the `image` runtime may run: names (`name:tag`), `name@sha256:…` or `sha256:…` ids.
    #[serde(default)]
    allowed_images: Vec<String>,
    /// Images carrying this label (`key` or `key=value`) may run too.
    allowed_image_label: Option<String>,
    /// The engine's OCI runtime every container runs under (e.g. `runsc`); default: the engine's.
    runtime: Option<String>,
    /// First host uid (= gid) of the range containers' guests run as, one per live container;
    /// default 4000000. Give each worker on a host its own range.
    guest_uid_base: Option<u32>,
    /// How many uids that range holds (the most containers that exist at once); default 65536.
    guest_uids: Option<u32>,
}

impl RunFile {
    /// How the worker starts its tiers: the defaults, with `disabled_tiers` and the container
    /// section applied.
    pub(crate) fn tier_config(&self) -> TierConfig {
        let mut t = TierConfig {
            disabled: self.disabled_tiers.clone(),
            ..TierConfig::default()
        };
        t.container.images = crate::sandbox::container::ImagePolicy {
            allow: self.container.allowed_images.clone(),
            allow_label: self.container.allowed_image_label.clone(),
        };
        t.container.oci_runtime = self.container.runtime.clone();
        let ids = &mut t.container.guest_ids;
        ids.base = self.container.guest_uid_base.unwrap_or(ids.base);
        ids.count = self.container.guest_uids.unwrap_or(ids.count);
        t
    }

    /// Reads and parses a config file.
    pub(crate) fn load(path: &Path) -> anyhow::Result<RunFile> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}

/// Builds the daemon config from the file and flags (flags win).
pub(crate) fn daemon_config(args: &RunArgs, file: RunFile) -> anyhow::Result<DaemonConfig> {
    let apps = if args.apps.is_empty() {
        file.apps
    } else {
        args.apps.clone()
    };
    let node = args
        .node
        .clone()
        .or(file.node)
        .unwrap_or_else(|| DEFAULT_NODE.into());
    let events = args
        .events
        .clone()
        .or(file.events)
        .unwrap_or_else(|| DEFAULT_EVENTS.into());
    let data_dir = args
        .data_dir
        .clone()
        .or(file.data_dir)
        .unwrap_or_else(|| PathBuf::from("ain-sre-data"));
    let mut c = DaemonConfig::new(&node, &events, apps, data_dir);
    c.metrics_addr = args.metrics_addr.or(file.metrics_addr);
    c.chain_id = file.chain_id;
    c.genesis_hash = file
        .genesis_hash
        .map(|h| h.parse::<Hash>())
        .transpose()
        .context("genesis_hash")?;
    for (key, value) in [
        ("queue_capacity", file.queue_capacity),
        ("max_concurrency", file.max_concurrency),
        ("per_function_concurrency", file.per_function_concurrency),
        ("max_input_bytes", file.max_input_bytes),
    ] {
        anyhow::ensure!(
            value != Some(0),
            "{key} = 0 in the config file: it must be at least 1 (leave it out for the default)"
        );
    }
    anyhow::ensure!(
        file.spec_ttl_ms != Some(0),
        "spec_ttl_ms = 0 in the config file: it must be at least 1 (leave it out for the default)"
    );
    let s = &mut c.scheduler;
    s.queue_capacity = file.queue_capacity.unwrap_or(s.queue_capacity);
    s.max_concurrency = file.max_concurrency.unwrap_or(s.max_concurrency);
    s.per_function = file.per_function_concurrency.unwrap_or(s.per_function);
    s.max_input_bytes = file.max_input_bytes.unwrap_or(s.max_input_bytes);
    if let Some(ms) = file.spec_ttl_ms {
        s.spec_ttl = Duration::from_millis(ms);
    }
    if let Some(ms) = file.heartbeat_ms {
        anyhow::ensure!(ms >= 100, "heartbeat_ms must be at least 100");
        c.heartbeat = Duration::from_millis(ms);
    }
    if let Some(ms) = file.grace_period_ms {
        c.grace = Duration::from_millis(ms);
    }
    if let Some(id) = file.client_id {
        c.client_id = id;
    }
    c.node_wait = args.node_wait.or(file.node_wait_s).map(Duration::from_secs);
    c.journal = file.journal.retention()?;
    c.scheduler.egress =
        Arc::new(crate::egress::OperatorEgress::from_file(file.egress.as_ref()).context("egress")?);
    c.catalogs = Catalogs::load(file.runtimes_dir.as_deref(), file.profiles_dir.as_deref())?
        .restrict(
            file.accepted_runtimes.as_deref(),
            file.accepted_profiles.as_deref(),
        )
        .context("accepted_runtimes / accepted_profiles")?;
    Ok(c)
}

pub(crate) async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let file = match &args.config {
        Some(p) => RunFile::load(p)?,
        None => RunFile::default(),
    };
    let tier_config = file.tier_config();
    let blobs = file.blobs.clone();
    let mut config = daemon_config(&args, file)?;
    // Lives as long as the process: the store keeps serving outputs while the daemon drains.
    let served = match args.blobs_addr.or(blobs.listen) {
        Some(listen) => {
            let dir = config.data_dir.join("blobs");
            let s = blobs.serve(listen, &dir, Default::default()).await?;
            crate::telemetry::status(&format!("blob store at {}/blobs/", s.public_base));
            Some(s)
        }
        None => None,
    };
    config.scheduler.blobs = blobs.worker(served.as_ref())?;
    let key = args.key.load(false)?;
    // The tiers serve the catalogs the scheduler resolves functions in.
    let tiers = Arc::new(Tiers::start(tier_config.serving(&config.catalogs.runtimes)).await);
    if args.register {
        // The daemon's catalogs, so the entry offers what the daemon will serve.
        let entry = worker_entry(
            &*tiers,
            config.catalogs.offered_runtimes(),
            &config.catalogs.profiles,
            config.scheduler.max_concurrency as u64,
            !config.scheduler.egress.deny_all,
        );
        // The same wait for the node as the daemon's own start-up.
        let transient = |e: &crate::client::ClientError| matches!(e, crate::client::ClientError::Rpc(r) if r.is_transient());
        let secret = key.secret_bytes();
        // Checked once here, so the retried closure below cannot fail on it.
        crate::ledger::crypto::PrivateKey::from_bytes(&secret)?;
        let client = daemon::with_node_retry("register", config.node_wait, transient, || {
            let url = config.node_url.clone();
            let key = crate::ledger::crypto::PrivateKey::from_bytes(&secret);
            async move {
                match key {
                    Ok(k) => ChainClient::connect(&url, k).await,
                    Err(e) => Err(crate::client::ClientError::Rpc(
                        crate::ledger::rpc::RpcError::InvalidRequest(e.to_string()),
                    )),
                }
            }
        })
        .await
        .map_err(anyhow::Error::msg)?;
        for app in &config.apps {
            daemon::with_node_retry("register", config.node_wait, transient, || {
                client.register(app, &entry)
            })
            .await
            .map_err(anyhow::Error::msg)?;
        }
    }
    let handle = daemon::start(config, key, tiers.clone()).await?;
    crate::telemetry::status(&format!(
        "worker {} running; Ctrl-C to stop",
        handle.address
    ));
    let stopper = handle.stopper();
    let wait = handle.wait();
    tokio::pin!(wait);
    let result = tokio::select! {
        r = &mut wait => r,
        _ = wait_for_signal() => {
            stopper.cancel();
            wait.await
        }
    };
    // Pre-started sandboxes (process-tier cells, container stem cells) are destroyed, so no
    // cgroup, helper or container outlives the worker.
    tiers.shutdown().await;
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            crate::telemetry::error(&e.to_string());
            Ok(ExitCode::FAILURE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_counts_are_refused_with_the_key() {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from(["ain-sre", "run", "--app", "a"]).unwrap();
        let crate::cli::Command::Run(args) = cli.command else {
            panic!("not run")
        };
        for key in [
            "queue_capacity",
            "max_concurrency",
            "per_function_concurrency",
            "max_input_bytes",
            "spec_ttl_ms",
        ] {
            let file: RunFile = toml::from_str(&format!("{key} = 0\n")).unwrap();
            let err = daemon_config(&args, file).unwrap_err().to_string();
            assert!(err.contains(key) && err.contains("at least 1"), "{err}");
        }
        let file: RunFile = toml::from_str("max_concurrency = 2\n").unwrap();
        assert_eq!(
            daemon_config(&args, file)
                .unwrap()
                .scheduler
                .max_concurrency,
            2
        );
    }

    #[test]
    fn egress_key_sets_the_operators_policy() {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from(["ain-sre", "run", "--app", "a"]).unwrap();
        let crate::cli::Command::Run(args) = cli.command else {
            panic!("not run")
        };
        let egress = |text: &str| {
            let file: RunFile = toml::from_str(text).unwrap();
            daemon_config(&args, file).map(|c| c.scheduler.egress)
        };
        assert!(!egress("").unwrap().deny_all);
        assert!(egress("egress = \"deny\"\n").unwrap().deny_all);
        let op = egress("[egress]\nallow_cidrs = [\"127.0.0.1/32\"]\ndeny = [\"x.example:1\"]\n")
            .unwrap();
        assert!(op.addresses.check("127.0.0.1".parse().unwrap()).is_ok());
        assert!(op.permits("x.example", 1).is_err());
        let err = egress("[egress]\nallow_cidrs = [\"nope\"]\n").unwrap_err();
        assert!(format!("{err:#}").contains("nope"), "{err:#}");
        assert!(toml::from_str::<RunFile>("[egress]\nopen = true\n").is_err());
    }

    #[test]
    fn container_section_sets_the_image_policy_and_refuses_unknown_keys() {
        let file: RunFile = toml::from_str(
            "[container]\nallowed_images = [\"shop/fn:2\"]\nallowed_image_label = \"io.x=1\"\n\
             runtime = \"runsc\"\nguest_uid_base = 5000000\nguest_uids = 100\n",
        )
        .unwrap();
        let ids = file.tier_config().container.guest_ids;
        assert_eq!((ids.base, ids.count), (5_000_000, 100));
        assert_eq!(
            RunFile::default().tier_config().container.guest_ids,
            crate::sandbox::container::GuestIds::default()
        );
        assert_eq!(
            file.tier_config().container.oci_runtime.as_deref(),
            Some("runsc")
        );
        let images = file.tier_config().container.images;
        assert_eq!(images.allow, vec!["shop/fn:2".to_owned()]);
        assert_eq!(images.allow_label.as_deref(), Some("io.x=1"));
        assert!(
            RunFile::default()
                .tier_config()
                .container
                .images
                .denies_all()
        );
        assert!(toml::from_str::<RunFile>("[container]\nallow_all = true\n").is_err());
    }

    #[test]
    fn heartbeat_interval_comes_from_the_file() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            run: RunArgs,
        }
        let args = <Cli as clap::Parser>::parse_from(["run", "--app", "a"]).run;
        let f: RunFile = toml::from_str("heartbeat_ms = 2500").unwrap();
        assert_eq!(
            daemon_config(&args, f).unwrap().heartbeat,
            Duration::from_millis(2500)
        );
        assert_eq!(
            daemon_config(&args, RunFile::default()).unwrap().heartbeat,
            crate::presence::DEFAULT_INTERVAL
        );
        let f: RunFile = toml::from_str("heartbeat_ms = 50").unwrap();
        assert!(daemon_config(&args, f).is_err());
    }

    #[test]
    fn journal_section_sets_the_retention_and_refuses_unknown_keys() {
        let f: RunFile = toml::from_str(
            "[journal]\nkeep_finished_secs = 3600\nkeep_finished_max = 500\nprune_interval_secs = 5\n",
        )
        .unwrap();
        let r = f.journal.retention().unwrap();
        assert_eq!(r.max_age, Duration::from_secs(3600));
        assert_eq!(r.max_finished, 500);
        assert_eq!(r.interval, Duration::from_secs(5));
        assert_eq!(
            RunFile::default().journal.retention().unwrap(),
            crate::journal::Retention::default()
        );
        let zero: RunFile = toml::from_str("[journal]\nprune_interval_secs = 0\n").unwrap();
        assert!(zero.journal.retention().is_err());
        assert!(toml::from_str::<RunFile>("[journal]\nkeep_days = 1\n").is_err());
    }

    #[test]
    fn disabled_tiers_parse_and_unknown_tiers_are_refused() {
        let f: RunFile = toml::from_str("disabled_tiers = [\"container\", \"process\"]").unwrap();
        assert_eq!(f.disabled_tiers, [Tier::Container, Tier::Process]);
        assert!(toml::from_str::<RunFile>("disabled_tiers = [\"gpu\"]").is_err());
        assert!(RunFile::default().disabled_tiers.is_empty());
    }
}
