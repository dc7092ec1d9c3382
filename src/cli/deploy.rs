//! `ain-sre deploy`: creates the app if needed, writes its rules, uploads a function's code
//! (inline, or chunked blobs when large) and its spec; prints the function path and code hash.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::common::{CatalogArgs, KeyArgs, NodeArgs};
use crate::client::{AppWorkers, ChainClient, Deployment};
use crate::config::profiles::ProfileCatalog;
use crate::ledger::crypto::Address;
use crate::ledger::tx::SimpleOp;
use crate::onchain::{AppPaths, Callers, Finality, Retention, WorkerPolicy};
use crate::scheduler::SchedulerConfig;

/// Arguments of `ain-sre deploy`.
#[derive(Debug, clap::Args)]
pub struct DeployArgs {
    /// The function: a source file or a directory holding one runtime's source file.
    #[arg(required_unless_present = "rollback")]
    pub path: Option<PathBuf>,
    /// Instead of deploying code, make the function's previous version current again (the
    /// last 3 versions are kept; `ain-sre functions show --fn F --version N` shows one).
    #[arg(long, conflicts_with = "path")]
    pub rollback: bool,
    /// App name (default against a dev chain: `dev`, the app `ain-sre dev` serves).
    #[arg(long)]
    pub app: Option<String>,
    /// Function name.
    #[arg(long = "fn")]
    pub function: String,
    /// Runtime (default: from the file).
    #[arg(long)]
    pub runtime: Option<String>,
    /// Sandbox profile: the limits calls run under. Shipped: `default` (5 s, 128 MiB), `strict`
    /// (1 s, 32 MiB), `batch` (60 s, 1 GiB: an exception a worker's operator may refuse);
    /// `--profiles-dir` adds more [default: default].
    #[arg(long)]
    pub profile: Option<String>,
    /// Who may call: `any`, or a comma-separated list of addresses.
    #[arg(long, default_value = "any")]
    pub callers: Callers,
    /// When workers run calls: `executed` (first sighting) or `finalized`.
    #[arg(long, value_enum)]
    pub finality: Option<FinalityArg>,
    /// Which workers may register and answer, for the whole app: `approved` (only addresses the
    /// admin approved with `ain-sre workers add`), a comma-separated list of addresses to
    /// approve now (closed too), or `any` (any key may register itself and answer: warned).
    #[arg(long, default_value = "approved")]
    pub workers: WorkersArg,
    /// Calls of this function kept in state: the node itself prunes the oldest ones
    /// (`gc_max_siblings` on `calls/<fn>/$call_id`); results stay in the blocks. At least 10
    /// (the node deletes at least 10 at a time); 0 = no limit.
    #[arg(long, default_value_t = 1000)]
    pub keep: u64,
    /// Previous versions of the function kept in state for `--rollback` and
    /// `functions show --version` (0: none). Each costs its spec's state bytes: about 1.4 KB for
    /// small inline code, about 9.5 KB for 4,000 characters of inline code.
    #[arg(long, default_value_t = crate::onchain::KEPT_VERSIONS, value_name = "N")]
    pub versions: u64,
    /// Stake this much of the deploying key's balance on the app (before anything else is
    /// written), taking it out of the free tier that all unstaked apps share.
    #[arg(long, value_name = "AMOUNT")]
    pub stake: Option<f64>,
    /// Wall deadline of a call in ms (capped by the worker's profile). In a fleet, a call moves to
    /// the next worker only once this plus a posting slack has passed on a live worker, so a
    /// limit under the failover delay keeps failover at the delay.
    #[arg(long, value_name = "MS")]
    pub timeout_ms: Option<u64>,
    /// In a fleet, how long the next-ranked worker waits for a response before it takes a call
    /// over (default 2000).
    #[arg(long, value_name = "MS")]
    pub failover_ms: Option<u64>,
    /// Publish the stderr tail of successful calls too. A response is public on chain; by
    /// default only a failed call carries its stderr tail.
    #[arg(long)]
    pub public_stderr: bool,
    #[command(flatten)]
    pub egress: super::egress_args::AllowNetArgs,
    /// Blob store for code too large for the chain (components always, other code over 1 MiB):
    /// uploaded there and deployed by reference (`code_ref`) [default: the dev chain's
    /// `http://<node host>:8082` when talking to one].
    #[arg(long, value_name = "URL")]
    pub blobs: Option<String>,
    /// Runtime and profile files beyond the shipped ones (as the workers' `runtimes_dir` and
    /// `profiles_dir`): the runtime and profile named must be known there.
    #[command(flatten)]
    catalogs: CatalogArgs,
    #[command(flatten)]
    node: NodeArgs,
    #[command(flatten)]
    key: KeyArgs,
}

/// `--workers`: the app's policy and addresses to approve now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkersArg {
    /// The policy written to `config/workers`.
    pub policy: WorkerPolicy,
    /// Addresses approved by this deploy.
    pub approve: Vec<Address>,
}

impl std::str::FromStr for WorkersArg {
    type Err = String;
    fn from_str(s: &str) -> Result<WorkersArg, String> {
        match s.trim() {
            "approved" => Ok(WorkersArg {
                policy: WorkerPolicy::Approved,
                approve: Vec::new(),
            }),
            "any" => Ok(WorkersArg {
                policy: WorkerPolicy::Any,
                approve: Vec::new(),
            }),
            list => match list.parse::<Callers>()? {
                Callers::Only(approve) => Ok(WorkersArg {
                    policy: WorkerPolicy::Approved,
                    approve,
                }),
                Callers::Any => Err("unreachable: `any` is handled above".into()),
            },
        }
    }
}

/// `--finality`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum FinalityArg {
    /// Run on the first sighting.
    Executed,
    /// Run once the request's block is final.
    Finalized,
}

pub(crate) async fn run(args: DeployArgs) -> anyhow::Result<ExitCode> {
    if args.rollback {
        let (client, dev_chain) = admin_client(&args.node.node, &args.key, "a rollback").await?;
        let app = super::common::app_or_dev(args.app.clone(), dev_chain, &args.node.node)?;
        let (from, to) = client.rollback(&app, &args.function).await?;
        println!(
            "rolled back {}/{}: version {to} is current again (version {from} is kept: ain-sre functions show --app {app} --fn {} --version {from})",
            app, args.function, args.function
        );
        return Ok(ExitCode::SUCCESS);
    }
    let keep = Retention::from_keep(args.keep)?;
    let catalogs = args.catalogs.load()?;
    let Some(path) = args.path.as_deref() else {
        anyhow::bail!("give the function's file or directory (or --rollback)");
    };
    let (file, runtime) = super::invoke::locate(path, args.runtime.as_deref(), &catalogs.runtimes)?;
    let mut code = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    // Source of a packaged runtime (python3-wasm, nodejs-wasm) is built into its component.
    if crate::sandbox::wasm::package::Language::of_runtime(&runtime.name).is_some()
        && !crate::sandbox::wasm::package::is_component(&code)
    {
        let name = runtime.name.clone();
        code =
            tokio::task::spawn_blocking(move || super::build::component_of(&name, &code)).await??;
    }
    let egress = args.egress.policy()?;
    if !egress.allow.is_empty() {
        let name = args.profile.as_deref().unwrap_or("default");
        anyhow::ensure!(
            catalogs.profiles.get(name)?.egress.is_some(),
            "profile `{name}` allows no egress (egress_connections = 0): drop --allow-net or pick another profile"
        );
    }
    check_code(&runtime.name, &code).with_context(|| {
        format!(
            "refused before anything was written: {} would be refused by every worker",
            file.display()
        )
    })?;
    let (client, dev_chain) = admin_client(&args.node.node, &args.key, "deploying").await?;
    let base = super::call_blobs::blobs_base(args.blobs.as_deref(), &args.node.node, dev_chain);
    // Refuses code over the on-chain limit when no blob store is known.
    let placement = super::deploy_ref::placement(&runtime.name, &code, base)?;
    let app_name = super::common::app_or_dev(args.app.clone(), dev_chain, &args.node.node)?;
    if let Some(p) = &args.profile {
        let advertised = AppWorkers::fetch(client.rpc(), &app_name).await?;
        check_profile(p, &advertised)?;
    }
    if let Some(amount) = args.stake {
        anyhow::ensure!(amount > 0.0, "--stake must be more than 0");
        // First: once the free tier is full, even the deploy's own writes would be refused.
        client
            .stake(&app_name, amount)
            .await
            .with_context(|| format!("staking {amount} on app `{}`", app_name))?;
        println!(
            "staked:   {amount} on app {} by {}",
            app_name,
            client.address()
        );
    }
    let d = Deployment {
        app: app_name.clone(),
        function: args.function.clone(),
        runtime: runtime.name.clone(),
        code,
        profile: args.profile.clone(),
        callers: args.callers.clone(),
        finality: args.finality.map(|f| match f {
            FinalityArg::Executed => Finality::Executed,
            FinalityArg::Finalized => Finality::Finalized,
        }),
        workers: args.workers.policy,
        timeout_ms: args.timeout_ms,
        failover_ms: args.failover_ms,
        public_stderr: args.public_stderr,
        egress: crate::egress::EgressSpec::of(&egress),
    };
    let deployed = match &placement {
        super::deploy_ref::Placement::ByRef(base) => {
            client.deploy_by_ref(&d, base, keep, args.versions).await
        }
        super::deploy_ref::Placement::OnChain => {
            client.deploy_versioned(&d, keep, args.versions).await
        }
    };
    let out = match deployed {
        Err(e @ crate::client::ClientError::NotAdmin { .. }) if dev_chain => {
            return Err(anyhow::Error::new(e).context(
                "on a dev chain, leave out --keystore and AIN_SRE_PRIVATE_KEY: the dev admin key (public) signs then, or pick an app of your own with --app",
            ));
        }
        other => other?,
    };
    if !args.workers.approve.is_empty() {
        let app = AppPaths::new(&app_name)?;
        let ops = args
            .workers
            .approve
            .iter()
            .map(|a| SimpleOp::set_value(app.allowed_worker(a), serde_json::Value::Bool(true)))
            .collect();
        client.send(ops).await?;
    }
    let workers = AppWorkers::fetch(client.rpc(), &app_name).await?;
    if out.created_app {
        println!("created app {} (admin {})", app_name, client.address());
    }
    println!("function: {}", out.path);
    match out.previous {
        Some(p) => {
            if args.versions > 0 {
                println!(
                    "version:  {} (replaces {p}, which stays reachable: ain-sre deploy --rollback --app {app_name} --fn {})",
                    out.version, args.function
                );
            } else {
                println!(
                    "version:  {} (replaces {p}; --versions 0 keeps no previous version)",
                    out.version
                );
            }
            if !dev_chain {
                println!(
                    "          workers cache a spec for spec_ttl_ms (1 s by default): calls in that time may still run version {p}, and their receipts say so"
                );
            }
        }
        None => println!("version:  {}", out.version),
    }
    println!("runtime:  {}", runtime.name);
    println!("sha256:   {}", out.code_hash);
    println!(
        "code:     {}",
        match &out.code_ref {
            Some(r) => format!(
                "by reference (code_ref), {} bytes at {}",
                r.size,
                r.url.as_deref().unwrap_or("?")
            ),
            None if out.chunks == 0 => "inline".to_owned(),
            None => format!("{} blob chunks", out.chunks),
        }
    );
    println!("callers:  {}", args.callers);
    println!(
        "input:    at most {} bytes per call (a worker's max_input_bytes; larger requests are answered rejected)",
        SchedulerConfig::default().max_input_bytes
    );
    if dev_chain && !args.key.given() {
        println!(
            "signed:   with the dev chain's public admin key {} (no key given)",
            client.address()
        );
    }
    println!("keeps:    {keep}");
    print_state_usage(&client, &app_name, keep).await;
    print_worker_setting(&app_name, &workers);
    println!(
        "call it:  ain-sre call{} --app {app_name} --fn {} --input '...' --wait",
        if args.node.node == super::common::DEFAULT_NODE {
            String::new()
        } else {
            format!(" --node {}", args.node.node)
        },
        args.function
    );
    Ok(ExitCode::SUCCESS)
}

/// Prints the app's state usage and, for an unstaked app that will run into the shared free
/// tier at this retention, a warning on stderr.
async fn print_state_usage(client: &ChainClient, app: &str, keep: Retention) {
    match client.state_usage(app).await {
        Ok(Some(u)) => {
            let tier = if u.stake > 0.0 {
                format!("staked {}: its share of the apps budget", u.stake)
            } else {
                "not staked: the free tier shared by all unstaked apps".to_owned()
            };
            println!(
                "state:    {} bytes used, {} available ({tier})",
                u.tree_bytes as u64, u.available_bytes as u64
            );
            if let Some(w) = u.free_tier_warning(app, keep) {
                eprintln!("{w}");
            }
        }
        Ok(None) => println!("state:    the node does not report state usage"),
        Err(e) => println!("state:    usage unavailable ({e})"),
    }
}

/// Prints the app's worker setting; for an open app, a warning on stderr saying what it allows.
pub(crate) fn print_worker_setting(app: &str, w: &AppWorkers) {
    match w.policy {
        WorkerPolicy::Approved => {
            let list: Vec<String> = w.approved.iter().map(|a| a.to_string()).collect();
            println!(
                "workers:  approved only ({} approved{}{})",
                list.len(),
                if list.is_empty() { "" } else { ": " },
                list.join(", ")
            );
            let waiting = w
                .registered
                .keys()
                .filter(|a| !w.approved.contains(a))
                .count();
            if waiting > 0 {
                println!(
                    "          {waiting} registered worker(s) not approved cannot answer: ain-sre workers list --app {app}"
                );
            }
            if list.is_empty() {
                println!(
                    "          no worker can answer yet: ain-sre workers add --app {app} 0xADDRESS"
                );
            }
        }
        WorkerPolicy::Any => {
            println!("workers:  any (open registration)");
            eprintln!(
                "warning: app `{app}` is open (--workers any): any key can register itself as a worker and answer every call with whatever it likes; only clients that verify responses (ain-sre call --wait) notice a forged one. Deploy without --workers any to close it."
            );
        }
    }
}

/// The client of a command that writes as an app admin: the given key (`--keystore`,
/// `$AIN_SRE_PRIVATE_KEY`), else, against a dev chain, its public admin key (see
/// [`super::common::dev_chain_key`]), else an error saying what is missing and how to get it.
/// Also returns whether the node is a dev chain.
pub(crate) async fn admin_client(
    node: &str,
    key: &KeyArgs,
    what: &str,
) -> anyhow::Result<(ChainClient, bool)> {
    let rpc = crate::ledger::rpc::RpcClient::new(node)?;
    let dev = super::common::dev_chain_key(&rpc).await;
    let dev_chain = dev.is_some();
    let key = match (key.given(), dev) {
        (true, _) => key.load(false)?,
        (false, Some(k)) => k,
        (false, None) => {
            // Say first when the node cannot be reached at all: that is what is missing then.
            rpc.chain_id()
                .await
                .with_context(|| format!("cannot reach the node at {node}"))?;
            return Err(super::common::no_admin_key(node, what));
        }
    };
    let client = ChainClient::connect(node, key)
        .await
        .with_context(|| format!("cannot reach the node at {node}"))?;
    Ok((client, dev_chain))
}

/// Refuses code every worker with default limits would refuse, before anything is written:
/// code over the worker's size limit for code by reference (`blobs.max_code_mb`, 64 MiB; code
/// on chain is held to 16 MiB by [`super::deploy_ref::placement`]), and for `wasm` a module
/// over the tier's size limit or failing its shape and import checks
/// ([`crate::sandbox::wasm::checked_binary`]).
pub(crate) fn check_code(runtime: &str, code: &[u8]) -> anyhow::Result<()> {
    let by_ref = super::deploy_ref::Placement::ByRef(String::new());
    let max = by_ref.max_bytes();
    anyhow::ensure!(
        code.len() <= max,
        "the code is {} bytes, over a worker's {max}-byte limit ({})",
        code.len(),
        by_ref.limit_name()
    );
    if crate::sandbox::wasm::package::Language::of_runtime(runtime).is_some() {
        crate::sandbox::wasm::checked_binary(code).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    if runtime == "wasm" {
        let max = crate::sandbox::wasm::DEFAULT_MAX_MODULE_BYTES;
        anyhow::ensure!(
            code.len() <= max,
            "the module is {} bytes, over the WASM tier's {max}-byte limit",
            code.len()
        );
        crate::sandbox::wasm::checked_binary(code).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(())
}

/// Refuses a profile that neither ships with ain-sre nor is offered by a registered worker of
/// the app (operators may add their own profiles; their workers advertise them).
pub(crate) fn check_profile(profile: &str, workers: &AppWorkers) -> anyhow::Result<()> {
    let shipped = ProfileCatalog::shipped()?;
    if shipped.get(profile).is_ok() {
        return Ok(());
    }
    let offered = workers.registered.values().any(|v| {
        v["profiles"]
            .get(profile)
            .and_then(serde_json::Value::as_bool)
            == Some(true)
    });
    if offered {
        return Ok(());
    }
    let names: Vec<String> = shipped.iter().map(|p| p.name.clone()).collect();
    anyhow::bail!(
        "unknown profile `{profile}`: not one of the shipped profiles ({}) and no registered worker of the app offers it; refused before anything was written",
        names.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deploy_refuses_code_every_worker_would_refuse() {
        let echo = crate::cli::dev::ECHO_WAT.as_bytes();
        check_code("wasm", echo).unwrap();
        // Not WebAssembly at all.
        let e = check_code("wasm", b"print('hi')").unwrap_err().to_string();
        assert!(e.contains("invalid WebAssembly module"), "{e}");
        // Valid WebAssembly, but an import the tier does not provide.
        let bad = br#"(module (import "env" "system" (func)) (memory (export "memory") 1) (func (export "_start")))"#;
        let e = check_code("wasm", bad).unwrap_err().to_string();
        assert!(e.contains("env"), "{e}");
        // Over every worker's code size limit (by reference: the larger one).
        let big =
            vec![b'#'; crate::blobs::worker::WorkerBlobs::default().max_code_bytes as usize + 1];
        let e = check_code("python3", &big).unwrap_err().to_string();
        assert!(e.contains("blobs.max_code_mb"), "{e}");
        check_code("python3", b"print('hi')").unwrap();
    }

    #[test]
    fn deploy_refuses_an_unknown_profile_unless_a_worker_offers_it() {
        let mut w = AppWorkers::default();
        check_profile("default", &w).unwrap();
        let e = check_profile("turbo", &w).unwrap_err().to_string();
        assert!(
            e.contains("unknown profile `turbo`") && e.contains("default"),
            "{e}"
        );
        w.registered.insert(
            "0x00ADEc28B6a845a085e03591bE7550dd68673C1C"
                .parse()
                .unwrap(),
            serde_json::json!({"profiles": {"turbo": true}}),
        );
        check_profile("turbo", &w).unwrap();
    }
}
