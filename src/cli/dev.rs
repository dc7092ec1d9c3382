//! `ain-sre dev`: the whole system on one machine. Starts the built-in chain, deploys the example
//! functions to app `dev`, starts a worker, calls every function once and prints a self-check
//! table, then keeps serving and says how to call it from ain-js and from `ain-sre call`.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::common::{CatalogArgs, wait_for_signal, worker_entry};
use crate::client::{ChainClient, Deployment, wait_response};
use crate::config::runtimes::RuntimeCatalog;
use crate::daemon::{self, DaemonConfig};
use crate::ledger::crypto::PrivateKey;
use crate::ledger::devnet::config::DEFAULT_VALIDATOR_KEY;
use crate::ledger::devnet::{Devnet, DevnetConfig};
use crate::onchain::{KEPT_VERSIONS, Retention};
use crate::sandbox::any::{TierConfig, Tiers};

/// The echo example, compiled in so `dev` works from any directory.
pub(crate) const ECHO_WAT: &str = include_str!("../../examples/functions/echo.wat");

/// Arguments of `ain-sre dev`.
#[derive(Debug, clap::Args)]
pub struct DevArgs {
    /// JSON-RPC port.
    #[arg(long, default_value_t = 8081)]
    pub port: u16,
    /// Event-handler port.
    #[arg(long, default_value_t = 5100)]
    pub events_port: u16,
    /// The built-in blob store's port (`GET`/`PUT /blobs/<sha256>`: inputs by reference,
    /// outputs too large for the chain).
    #[arg(long, default_value_t = 8082)]
    pub blobs_port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Keep the chain and the worker's journal here (default: a fresh temporary directory).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// App the examples are deployed to.
    #[arg(long, default_value = "dev")]
    pub app: String,
    /// Directory of example functions (default: the repository's `examples/functions`).
    #[arg(long)]
    pub examples: Option<PathBuf>,
    /// Serve the worker's /metrics and /healthz here.
    #[arg(long, default_value = "127.0.0.1:9464")]
    pub metrics_addr: SocketAddr,
    /// Deploy and self-check, then exit instead of serving.
    #[arg(long)]
    pub check_only: bool,
    /// Leave out the component examples (python3-wasm, nodejs-wasm), which are otherwise built
    /// with their packagers when installed (cached across runs) and deployed by reference.
    #[arg(long)]
    pub no_components: bool,
    /// Runtime and profile files beyond the shipped ones, served by the worker; an example
    /// directory `<runtime>/<source_file>` of a runtime defined here is deployed and checked too.
    #[command(flatten)]
    catalogs: CatalogArgs,
}

/// One example function.
struct Example {
    function: String,
    runtime: String,
    code: Vec<u8>,
    input: &'static str,
    /// Its profile (`None`: `default`).
    profile: Option<String>,
    /// A component, and how it was obtained (`built in 14.1 s`, `cached`): deployed by
    /// reference through the blob store (too large for the chain).
    component: Option<String>,
}

/// The example functions `dev` deploys: the built-in echo, the `rust-wordcount.wasm` build if
/// present, and for every runtime in `runtimes` that runs source code,
/// `<dir>/<runtime>/<source_file>` if present (`python3/main.py`, …, or a runtime of
/// `--runtimes-dir`); and one line for each example it had to leave out (rust-wordcount before it
/// is built).
fn examples(
    dir: Option<&Path>,
    runtimes: &RuntimeCatalog,
    components: bool,
) -> (Vec<Example>, Vec<String>) {
    let mut out = vec![Example {
        function: "echo".into(),
        runtime: "wasm".into(),
        code: ECHO_WAT.as_bytes().to_vec(),
        input: "{\"hello\":\"ain\"}",
        // 64 MiB each way, so a newcomer can echo a big payload through a blob at once.
        profile: Some("batch".into()),
        component: None,
    }];
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/functions");
    let dir = dir
        .map(Path::to_path_buf)
        .or_else(|| repo.is_dir().then_some(repo));
    let mut left_out = Vec::new();
    let Some(dir) = dir else {
        left_out.push("the other examples: no examples directory (give --examples DIR)".into());
        return (out, left_out);
    };
    let wordcount = dir.join("rust-wordcount.wasm");
    match std::fs::read(&wordcount) {
        Ok(code) => out.push(Example {
            function: "wordcount".into(),
            runtime: "wasm".into(),
            code,
            input: "the quick brown fox",
            profile: None,
            component: None,
        }),
        Err(_) => left_out.push(format!(
            "wordcount (rust-wordcount): {} is not built; build it with {}",
            wordcount.display(),
            dir.join("build.sh").display()
        )),
    }
    // Packaged runtimes (python3-wasm, nodejs-wasm): built when their packager is installed
    // (and cached), deployed by reference through the blob store.
    let (components, why_not) = if components {
        super::dev_components::component_examples(&dir, runtimes)
    } else {
        (Vec::new(), Vec::new())
    };
    left_out.extend(why_not);
    out.extend(components.into_iter().map(|c| Example {
        function: c.runtime.replace('-', "_"),
        runtime: c.runtime,
        code: c.code,
        input: "{\"name\":\"ain\"}",
        profile: None,
        component: Some(c.how),
    }));
    for rt in runtimes.iter() {
        if crate::sandbox::wasm::package::Language::of_runtime(&rt.name).is_some() {
            continue;
        }
        // `wasm` examples are above; `image` and `native` code is not a source file.
        if rt.command.is_empty() || rt.name == "native" {
            continue;
        }
        if let Ok(code) = std::fs::read(dir.join(&rt.name).join(&rt.source_file)) {
            out.push(Example {
                function: rt.name.clone(),
                runtime: rt.name.clone(),
                code,
                input: "{\"name\":\"ain\"}",
                profile: None,
                component: None,
            });
        }
    }
    (out, left_out)
}

pub(crate) async fn run(args: DevArgs) -> anyhow::Result<ExitCode> {
    let (data, temporary) = match &args.data {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("ain-sre-dev-{}", std::process::id())),
            true,
        ),
    };
    std::fs::create_dir_all(&data)?;
    let catalogs = args.catalogs.load()?;
    let devnet = Devnet::start(DevnetConfig {
        rpc_addr: SocketAddr::new(args.host, args.port),
        events_addr: SocketAddr::new(args.host, args.events_port),
        data_dir: args.data.as_ref().map(|d| d.join("chain")),
        ..DevnetConfig::default()
    })
    .await?;
    let rpc_url = devnet.rpc_url();
    let events_url = devnet.events_url();
    let admin =
        ChainClient::connect(&rpc_url, PrivateKey::from_hex(DEFAULT_VALIDATOR_KEY)?).await?;
    let worker_key = match std::env::var(crate::keyfile::PRIVATE_KEY_ENV) {
        Ok(hex) => PrivateKey::from_hex(hex.trim_start_matches("0x"))?,
        Err(_) => PrivateKey::generate(),
    };
    let worker = ChainClient::connect(
        &rpc_url,
        PrivateKey::from_bytes(&worker_key.secret_bytes())?,
    )
    .await?;

    // The built-in blob store, the worker's too; its loopback address is let through the
    // address rules (the operator's list), nothing else local is.
    let blobs_file = crate::blobs::settings::BlobsFile {
        fetch_allow: vec![args.host.to_string()],
        ..Default::default()
    };
    let blobs_stop = tokio_util::sync::CancellationToken::new();
    let blobs_dir = data.join("blobs");
    let want = SocketAddr::new(args.host, args.blobs_port);
    let blobs = blobs_file
        .serve_or_any(want, &blobs_dir, blobs_stop.clone())
        .await?;
    // Blocking: component examples may be packaged (in parallel, cached across runs).
    let (list, left_out) = {
        let (dir, runtimes) = (args.examples.clone(), catalogs.runtimes.clone());
        let components = !args.no_components;
        tokio::task::spawn_blocking(move || examples(dir.as_deref(), &runtimes, components)).await?
    };
    for ex in &list {
        let d = Deployment {
            profile: ex.profile.clone(),
            ..Deployment::new(
                args.app.clone(),
                ex.function.clone(),
                ex.runtime.clone(),
                ex.code.clone(),
            )
        };
        if ex.component.is_some() {
            admin
                .deploy_by_ref(&d, &blobs.public_base, Retention::DEFAULT, KEPT_VERSIONS)
                .await?;
        } else {
            admin.deploy(&d).await?;
        }
    }
    let mut tier_config = TierConfig::default().serving(&catalogs.runtimes);
    // Compiled modules and components kept across runs: a component's first compile takes
    // seconds, later starts load it in milliseconds.
    tier_config.wasm.cache_dir = Some(super::dev_components::compiled_dir());
    let tiers = Arc::new(Tiers::start(tier_config).await);
    let entry = worker_entry(&*tiers, &catalogs.runtimes, &catalogs.profiles, 64, true);
    // The app is closed: `dev` approves its own worker, and nobody else.
    admin.approve_worker(&args.app, &worker.address()).await?;
    worker.register(&args.app, &entry).await?;
    let mut config = DaemonConfig::new(
        &rpc_url,
        &events_url,
        vec![args.app.clone()],
        data.join("worker"),
    );
    config.metrics_addr = Some(args.metrics_addr);
    // An author redeploys and calls at once: read the spec (and registry) for every call instead
    // of caching it for a second, so the first call after a deploy runs the new code (the local
    // chain answers in microseconds).
    config.scheduler.spec_ttl = Duration::ZERO;
    config.catalogs = catalogs;
    config.scheduler.blobs = blobs_file.worker(Some(&blobs))?;
    let handle = daemon::start(config, worker_key, tiers.clone()).await?;

    println!(
        "ain-sre dev: chain {rpc_url} (events {events_url}), worker {}",
        handle.address
    );
    println!("blob store: {}/blobs/<sha256>", blobs.public_base);
    println!(
        "app {}: workers approved only (this worker); more with ain-sre workers add --app {} 0xADDRESS",
        args.app, args.app
    );
    println!("\nself-check, one call per example function:\n");
    println!("| function | runtime | tier | status | latency |");
    println!("|---|---|---|---|---|");
    let caller = ChainClient::connect(&rpc_url, PrivateKey::generate()).await?;
    let mut all_ok = true;
    // Every call is sent first, so a component's first compile overlaps the other checks.
    let mut sent = Vec::new();
    for ex in &list {
        let t = Instant::now();
        let (call_id, _) = caller.call(&args.app, &ex.function, ex.input).await?;
        sent.push((t, call_id));
    }
    // Waited for together, so each row's latency is its own.
    let answers =
        futures_util::future::join_all(list.iter().zip(sent).map(|(ex, (t, call_id))| {
            let (caller, app) = (&caller, &args.app);
            async move {
                // A component's first compile (later runs load it from the cache) takes
                // seconds in a release build, minutes in a debug one.
                let wait = Duration::from_secs(if ex.component.is_some() { 600 } else { 15 });
                let resp = wait_response(caller.rpc(), app, &ex.function, &call_id, wait).await;
                (resp, t.elapsed().as_secs_f64() * 1e3)
            }
        }))
        .await;
    for (ex, (resp, ms)) in list.iter().zip(answers) {
        let (tier, status) = match &resp {
            Ok(r) => {
                let status = r["status"].as_str().unwrap_or("?").to_owned();
                let err = r["error"].as_str().unwrap_or_default();
                // This host lacks the tier: the worker, the only one registered, says so.
                if status == "rejected" && err.starts_with("no registered worker serves") {
                    ("not available".to_owned(), "tier not available".to_owned())
                } else {
                    (
                        r["receipt"]["sandbox"].as_str().unwrap_or("?").to_owned(),
                        status,
                    )
                }
            }
            Err(e) => ("?".into(), format!("no response: {e}")),
        };
        all_ok &= status == "ok" || status == "tier not available";
        println!(
            "| {} | {} | {tier} | {status} | {ms:.1} ms |",
            ex.function, ex.runtime
        );
    }
    for ex in &list {
        if let Some(how) = &ex.component {
            println!(
                "component: {} ({} bytes, {how}) deployed by reference (code_ref) through the blob store",
                ex.function,
                ex.code.len()
            );
        }
    }
    for l in &left_out {
        println!("left out: {l}");
    }
    let app = &args.app;
    println!(
        "\nmetrics: http://{}/metrics  health: http://{}/healthz",
        handle
            .metrics_addr
            .map(|a| a.to_string())
            .unwrap_or_default(),
        handle
            .metrics_addr
            .map(|a| a.to_string())
            .unwrap_or_default()
    );
    println!("\ncall it from another terminal:");
    println!("  ain-sre call --node {rpc_url} --app {app} --fn echo --input '{{\"x\":1}}' --wait");
    println!(
        "  ain-sre call --node {rpc_url} --app {app} --fn echo --input @BIG.bin --blobs {} --wait --output out.bin   (up to 64 MiB, through the blob store)",
        blobs.public_base
    );
    println!("  (cargo run --release -- call ... from the repository)");
    let node = if rpc_url == super::common::DEFAULT_NODE {
        String::new()
    } else {
        format!(" --node {rpc_url}")
    };
    println!("\nyour own function (no key needed here: app {app}, signed with the dev admin key):");
    println!("  ain-sre new myfn --runtime python3");
    println!("  ain-sre deploy{node} myfn --fn myfn");
    println!("  ain-sre call{node} --fn myfn --input '{{\"name\":\"ain\"}}' --wait");
    println!("\nfrom JavaScript (@ainblockchain/ain-js), see examples/js-client:");
    println!(
        "  cd examples/js-client && npm ci && node index.js --node http://{} --events {events_url} --app {app} --fn echo --input '{{\"x\":1}}'",
        devnet.rpc_addr()
    );
    println!(
        "\nrequest path: /apps/{app}/sre/calls/<fn>/<call_id>/request = {{input: \"...\"}} or {{input_ref: {{sha256, size, url}}}}"
    );
    println!("response path: /apps/{app}/sre/calls/<fn>/<call_id>/response");

    if !args.check_only {
        println!("\nserving; Ctrl-C to stop");
        let stopper = handle.stopper();
        tokio::select! {
            _ = wait_for_signal() => {}
            _ = stopper.cancelled() => {}
        }
    }
    let r = handle.shutdown().await;
    tiers.shutdown().await;
    devnet.shutdown().await;
    blobs_stop.cancel();
    if temporary {
        let _ = std::fs::remove_dir_all(&data);
    }
    if let Err(e) = r {
        crate::telemetry::error(&e.to_string());
        return Ok(ExitCode::FAILURE);
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// An examples directory without the built Rust module: `dev` names what it left out and
    /// how to build it, instead of leaving it out silently.
    #[test]
    fn dev_says_which_examples_it_left_out() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("bash")).unwrap();
        std::fs::write(dir.path().join("bash/main.sh"), "cat").unwrap();
        let (list, left_out) =
            examples(Some(dir.path()), &RuntimeCatalog::shipped().unwrap(), true);
        let names: Vec<&str> = list.iter().map(|e| e.function.as_str()).collect();
        assert_eq!(names, ["echo", "bash"]);
        assert_eq!(left_out.len(), 1, "{left_out:?}");
        assert!(
            left_out[0].contains("rust-wordcount.wasm is not built")
                && left_out[0].contains("build.sh"),
            "{left_out:?}"
        );
        std::fs::write(dir.path().join("rust-wordcount.wasm"), ECHO_WAT).unwrap();
        let (list, left_out) =
            examples(Some(dir.path()), &RuntimeCatalog::shipped().unwrap(), true);
        assert!(list.iter().any(|e| e.function == "wordcount") && left_out.is_empty());
    }

    /// `dev` logs at warn unless told otherwise, so INFO lines do not cut into its table.
    #[test]
    fn dev_logs_quietly_by_default() {
        let filter = |args: &[&str]| {
            crate::cli::Cli::try_parse_from(args)
                .unwrap()
                .log_filter()
                .to_owned()
        };
        // AIN_SRE_LOG in the environment would set --log-level.
        if std::env::var_os("AIN_SRE_LOG").is_some() {
            return;
        }
        assert_eq!(filter(&["ain-sre", "dev"]), "warn");
        assert_eq!(filter(&["ain-sre", "--log-level", "debug", "dev"]), "debug");
        assert_eq!(filter(&["ain-sre", "doctor"]), "info");
    }
}
