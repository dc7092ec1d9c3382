//! `ain-sre invoke`: run a function locally, once or repeatedly, exactly as a worker would run it
//! (same runtime files, profiles, tier choice and sandbox code), with no chain involved.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::common::CatalogArgs;
use super::shared::TierArg;
use crate::config::Catalogs;
use crate::config::runtimes::{Runtime, RuntimeCatalog};
use crate::sandbox::any::{TierConfig, Tiers};
use crate::sandbox::{FunctionCode, Invocation, Outcome, Sandbox, Tier};
use crate::stats::Stats;

/// Arguments of `ain-sre invoke`.
#[derive(Debug, clap::Args)]
pub struct InvokeArgs {
    /// The function: a source file (`.wasm`, `.wat`, `.py`, `.js`, `.sh`, `.pl`) or a directory
    /// holding one runtime's source file (e.g. `main.py`).
    pub path: PathBuf,
    /// The function's name on chain (`deploy --fn`): the function sees it as `SRE_FUNCTION`
    /// (default: the directory's name, or the file's stem).
    #[arg(long = "fn")]
    pub function: Option<String>,
    /// Runtime name or alias (default: from the file extension or the file name in the directory).
    #[arg(long)]
    pub runtime: Option<String>,
    /// Force a tier instead of the runtime's first available one.
    #[arg(long, value_enum)]
    pub tier: Option<TierArg>,
    /// Sandbox profile (limits) to apply.
    #[arg(long, default_value = "default")]
    pub profile: String,
    /// Wall deadline of a call in ms, capped by the profile's, as `deploy --timeout-ms` sets
    /// it on chain.
    #[arg(long, value_name = "MS")]
    pub timeout_ms: Option<u64>,
    /// Input given on stdin: literal text (usually JSON), or `@FILE` to read it from a file.
    #[arg(long, default_value = "")]
    pub input: String,
    /// Run N times and print latency percentiles instead of the output.
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,
    #[command(flatten)]
    catalogs: CatalogArgs,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Allow this image for the `image` runtime (repeatable; name, `name@sha256:…` or id). A
    /// worker takes the list from `allowed_images` in its config; nothing is allowed otherwise.
    #[arg(long = "allow-image")]
    pub allow_images: Vec<String>,
    /// The engine's OCI runtime for the container tier (e.g. `runsc` for gVisor; a worker takes
    /// it from `runtime` under `[container]` in its config).
    #[arg(long)]
    pub oci_runtime: Option<String>,
    #[command(flatten)]
    pub egress: super::egress_args::AllowNetArgs,
    /// Stands in for the worker operator's `allow_cidrs`: restricted addresses (loopback,
    /// private, ...) the proxy may connect to (repeatable; e.g. 127.0.0.1/32 for a local server).
    #[arg(long = "operator-allow", value_name = "CIDR")]
    pub operator_allow: Vec<String>,
}

pub(crate) async fn run(args: InvokeArgs) -> anyhow::Result<ExitCode> {
    let Catalogs {
        runtimes, profiles, ..
    } = args.catalogs.load()?;
    let profile = profiles.get(&args.profile)?;
    let mut limits = profile.limits.clone();
    // The same capping a worker applies to a spec's timeout_ms.
    if let Some(t) = args.timeout_ms {
        bail_if_zero(t)?;
        limits.wall_time = limits.wall_time.min(Duration::from_millis(t));
    }
    let (file, runtime) = locate(&args.path, args.runtime.as_deref(), &runtimes)?;
    let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    let code = FunctionCode::new(runtime.name.clone(), bytes);
    let input: Arc<[u8]> = match args.input.strip_prefix('@') {
        Some(f) => std::fs::read(f)
            .with_context(|| format!("reading input file {f}"))?
            .into(),
        None => args.input.as_bytes().into(),
    };
    if args.repeat == 0 {
        bail!("--repeat must be at least 1");
    }
    let egress = args.egress.policy()?;
    let egress_bound = match (&egress.allow.is_empty(), profile.egress) {
        (true, _) => None,
        (false, Some(b)) => Some(b),
        (false, None) => bail!("profile `{}` allows no egress", profile.name),
    };
    let operator = Arc::new(crate::egress::OperatorEgress::allowing(
        &args.operator_allow,
    )?);

    // The tiers serve the same runtime files (binds, commands, images) as this command. Only the
    // tiers this runtime can use are started: a WASM function starts no container engine client
    // (nor warns about the engine's runc).
    let unused: Vec<Tier> = Tier::ALL
        .into_iter()
        .filter(|t| !runtime.tiers.contains(t))
        .collect();
    let tiers = Tiers::start(
        TierConfig {
            disabled: unused,
            container: crate::sandbox::container::ContainerConfig {
                images: crate::sandbox::container::ImagePolicy {
                    allow: args.allow_images.clone(),
                    allow_label: None,
                },
                oci_runtime: args.oci_runtime.clone(),
                ..Default::default()
            },
            ..TierConfig::default()
        }
        .serving(&runtimes),
    )
    .await;
    let sandbox = tiers.choose(&runtime, args.tier.map(Tier::from))?;
    let fn_name = args
        .function
        .clone()
        .unwrap_or_else(|| default_function_name(&args.path));
    let t = Instant::now();
    let prepared = sandbox.prepare(&code).await?;
    let prepare_time = t.elapsed();

    let mut samples = Vec::with_capacity(args.repeat as usize);
    let mut last: Option<Outcome> = None;
    let mut summary = None;
    let started = Instant::now();
    for i in 0..args.repeat {
        let mut limits = limits.clone();
        let call_egress = egress_bound.map(|bound| {
            crate::egress::EgressCall::new(
                egress.clone(),
                operator.clone(),
                bound,
                format!("local/{fn_name}/local-{i}"),
            )
        });
        if let Some(e) = &call_egress {
            limits.network =
                crate::sandbox::NetworkPolicy::Proxy(crate::egress::EgressHandle(e.clone()));
        }
        let call = Invocation {
            input: input.clone().into(),
            env: vec![
                ("SRE_FUNCTION".into(), fn_name.clone()),
                ("SRE_CALL_ID".into(), format!("local-{i}")),
                (
                    "SRE_CALLER".into(),
                    "0x0000000000000000000000000000000000000000".into(),
                ),
            ],
            limits: limits.clone(),
        };
        let t = Instant::now();
        let out = sandbox.run(&prepared, call).await?;
        samples.push(t.elapsed());
        summary = call_egress.map(|e| e.summary());
        last = Some(out);
    }
    let total = started.elapsed();
    tiers.shutdown().await;
    let out = last.expect("repeat >= 1");
    let stats = (args.repeat > 1).then(|| Stats::from_samples("invoke", samples, total));
    report(
        &args,
        &Invoked {
            code: &code,
            tier: sandbox.tier(),
            profile: &profile.name,
            prepare_time,
            out: &out,
            stats: stats.as_ref(),
            egress: summary.as_ref(),
        },
    )?;
    Ok(if out.status() == "ok" {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// What one `invoke` did, for its report.
struct Invoked<'a> {
    code: &'a FunctionCode,
    tier: Tier,
    profile: &'a str,
    prepare_time: Duration,
    /// The last call's outcome.
    out: &'a Outcome,
    /// Latencies, with `--repeat` above 1.
    stats: Option<&'a Stats>,
    /// The last call's egress, when the function had an allow-list.
    egress: Option<&'a crate::egress::EgressSummary>,
}

fn report(args: &InvokeArgs, run: &Invoked<'_>) -> anyhow::Result<()> {
    let Invoked {
        code,
        tier,
        profile,
        prepare_time,
        out,
        stats,
        egress,
    } = *run;
    let (exit_code, stdout, stderr, failure) = match out {
        Outcome::Completed {
            exit_code,
            stdout,
            stderr_tail,
            ..
        } => (
            Some(*exit_code),
            stdout.as_slice(),
            stderr_tail.as_slice(),
            None,
        ),
        Outcome::Failed {
            failure,
            stdout,
            stderr_tail,
            ..
        } => (
            None,
            stdout.as_slice(),
            stderr_tail.as_slice(),
            Some(format!("{failure:?}")),
        ),
    };
    let usage = out.usage();
    if args.json {
        let v = serde_json::json!({
            "status": out.status(),
            "exit_code": exit_code,
            "failure": failure,
            "output": String::from_utf8_lossy(stdout),
            "stderr_tail": String::from_utf8_lossy(stderr),
            "runtime": code.runtime,
            "tier": tier.as_str(),
            "profile": profile,
            "code_hash": code.hash_hex(),
            "prepare_us": prepare_time.as_micros() as u64,
            "usage": usage,
            "repeat": stats,
        });
        let mut v = v;
        if let Some(e) = egress {
            v["egress"] = serde_json::to_value(e)?;
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    if stats.is_none() {
        use std::io::Write;
        std::io::stdout().write_all(stdout)?;
        if !stdout.ends_with(b"\n") && !stdout.is_empty() {
            println!();
        }
    }
    eprintln!(
        "status {} | runtime {} | tier {} | profile {} | wall {} µs, cpu {} µs, peak memory {} KiB | prepare {} µs",
        out.status(),
        code.runtime,
        tier,
        profile,
        usage.wall_us,
        usage.cpu_us,
        usage.mem_peak_kb,
        prepare_time.as_micros()
    );
    if let Some(e) = egress {
        eprintln!("egress: {}", e.line());
    }
    if let Some(f) = failure {
        eprintln!("failure: {f}");
    }
    if let Some(code) = exit_code.filter(|c| *c != 0) {
        eprintln!("exit code: {code}");
    }
    if !stderr.is_empty() {
        eprintln!("stderr (tail):\n{}", String::from_utf8_lossy(stderr));
    }
    if let Some(s) = stats {
        eprintln!(
            "{} calls: p50 {:.1} µs, p99 {:.1} µs, {:.0} calls/s",
            s.calls, s.p50_us, s.p99_us, s.per_sec
        );
    }
    Ok(())
}

/// `--timeout-ms 0` would time every call out before it starts.
fn bail_if_zero(ms: u64) -> anyhow::Result<()> {
    if ms == 0 {
        bail!("--timeout-ms must be at least 1");
    }
    Ok(())
}

/// `SRE_FUNCTION` without `--fn`: the directory's name (`invoke myfn/` for a function made by
/// `ain-sre new myfn`), else the file's stem.
fn default_function_name(path: &Path) -> String {
    let name = if path.is_dir() {
        std::fs::canonicalize(path)
            .ok()
            .and_then(|p| p.file_name().map(|s| s.to_string_lossy().into_owned()))
    } else {
        path.file_stem().map(|s| s.to_string_lossy().into_owned())
    };
    name.unwrap_or_else(|| "main".into())
}

/// Finds the source file and its runtime. In a directory: the runtime's source file (`main.py`,
/// ...; for wasm `main.wasm`, else `main.wat`); a Rust project (`Cargo.toml`) is taken as a
/// wasm function and its built module is used (`<dir>.wasm` beside it, as
/// `examples/functions/build.sh` writes it, or `target/wasm32-wasip1/release/*.wasm`), or the
/// error says how to build it.
pub(crate) fn locate(
    path: &Path,
    runtime: Option<&str>,
    runtimes: &RuntimeCatalog,
) -> anyhow::Result<(PathBuf, Arc<Runtime>)> {
    // An unknown runtime is named as such, not reported as a missing source file.
    if let Some(r) = runtime {
        runtimes.resolve(r)?;
    }
    if path.is_dir() {
        if path.join("Cargo.toml").is_file() {
            return rust_project(path, runtime, runtimes);
        }
        let candidates: Vec<(PathBuf, Arc<Runtime>)> = runtimes
            .iter()
            // `main.py` is python3 unless python3-wasm is asked for (packaged runtimes).
            .filter(|r| {
                runtime.is_some()
                    || crate::sandbox::wasm::package::Language::of_runtime(&r.name).is_none()
            })
            .filter(|r| {
                runtime.is_none_or(|want| runtimes.resolve(want).is_ok_and(|x| x.name == r.name))
            })
            .filter_map(|r| {
                let file = path.join(&r.source_file);
                // The text form is accepted wherever the binary one is.
                let wat = (r.name == "wasm").then(|| path.join("main.wat"));
                [Some(file), wat]
                    .into_iter()
                    .flatten()
                    .find(|p| p.is_file())
                    .map(|p| (p, r.clone()))
            })
            .collect();
        return match candidates.len() {
            1 => Ok(candidates.into_iter().next().expect("one candidate")),
            0 => bail!(
                "{} holds no runtime's source file (main.py, main.js, main.wasm, ...)",
                path.display()
            ),
            _ => bail!(
                "{} holds several runtimes' source files; pick one with --runtime",
                path.display()
            ),
        };
    }
    if !path.is_file() {
        bail!("{} does not exist", path.display());
    }
    let name = match runtime {
        Some(r) => r.to_owned(),
        None => {
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            match ext {
                "wasm" | "wat" => "wasm",
                "py" => "python3",
                "js" | "mjs" => "nodejs",
                "sh" | "bash" => "bash",
                "pl" => "perl",
                _ => bail!(
                    "cannot tell the runtime of {} from its extension; pass --runtime",
                    path.display()
                ),
            }
            .to_owned()
        }
    };
    Ok((path.to_owned(), runtimes.resolve(&name)?))
}

/// The module of a Rust project directory built to wasm32-wasip1 (see [`locate`]).
fn rust_project(
    dir: &Path,
    runtime: Option<&str>,
    runtimes: &RuntimeCatalog,
) -> anyhow::Result<(PathBuf, Arc<Runtime>)> {
    let wasm = runtimes.resolve("wasm")?;
    if let Some(r) = runtime {
        anyhow::ensure!(
            runtimes.resolve(r)?.name == wasm.name,
            "{} is a Rust project: it runs as runtime wasm (built to wasm32-wasip1), not {r}",
            dir.display()
        );
    }
    let canonical = std::fs::canonicalize(dir)?;
    let mut found: Vec<PathBuf> = Vec::new();
    if let (Some(parent), Some(name)) = (canonical.parent(), canonical.file_name()) {
        found.push(parent.join(format!("{}.wasm", name.to_string_lossy())));
    }
    if let Ok(entries) = std::fs::read_dir(canonical.join("target/wasm32-wasip1/release")) {
        let mut built: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
            .collect();
        built.sort();
        found.extend(built);
    }
    match found.into_iter().find(|p| p.is_file()) {
        Some(p) => Ok((p, wasm)),
        None => bail!(
            "{} is a Rust project that is not built to WebAssembly yet: build it with `cargo build --release --target wasm32-wasip1` in it (needs `rustup target add wasm32-wasip1`; for the examples, examples/functions/build.sh), then run this again",
            dir.display()
        ),
    }
}
