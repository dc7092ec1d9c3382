//! `ain-sre invoke`: run a function locally, once or repeatedly, exactly as a worker would run it
//! (same runtime files, profiles, tier choice and sandbox code), with no chain involved.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::common::CatalogArgs;
use crate::bench::Stats;
use crate::config::Catalogs;
use crate::config::runtimes::{Runtime, RuntimeCatalog};
use crate::sandbox::any::{TierConfig, Tiers};
use crate::sandbox::{FunctionCode, Invocation, Outcome, Tier};

/// Arguments of `ain-sre invoke`.
#[derive(Debug, clap::Args)]
pub struct InvokeArgs {
    /// The function: a source file (`.wasm`, `.wat`, `.py`, `.js`, `.sh`, `.pl`) or a directory
    /// holding one runtime's source file (e.g. `main.py`).
    pub path: PathBuf,
    /// Runtime name or alias (default: from the file extension or the file name in the directory).
    #[arg(long)]
    pub runtime: Option<String>,
    /// Force a tier instead of the runtime's first available one.
    #[arg(long, value_enum)]
    pub tier: Option<TierArg>,
    /// Sandbox profile (limits) to apply.
    #[arg(long, default_value = "default")]
    pub profile: String,
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
}

/// A tier named on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum TierArg {
    /// WebAssembly (wasmtime).
    Wasm,
    /// Namespaced process.
    Process,
    /// Docker container.
    Container,
}

impl From<TierArg> for Tier {
    fn from(t: TierArg) -> Tier {
        match t {
            TierArg::Wasm => Tier::Wasm,
            TierArg::Process => Tier::Process,
            TierArg::Container => Tier::Container,
        }
    }
}

pub(crate) async fn run(args: InvokeArgs) -> anyhow::Result<ExitCode> {
    let Catalogs { runtimes, profiles } = args.catalogs.load()?;
    let profile = profiles.get(&args.profile)?;
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

    // The tiers serve the same runtime files (binds, commands, images) as this command.
    let tiers = Tiers::start(
        TierConfig {
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
    let fn_name = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "main".into());
    let t = Instant::now();
    let prepared = sandbox.prepare(&code).await?;
    let prepare_time = t.elapsed();

    let mut samples = Vec::with_capacity(args.repeat as usize);
    let mut last: Option<Outcome> = None;
    let started = Instant::now();
    for i in 0..args.repeat {
        let call = Invocation {
            input: input.clone(),
            env: vec![
                ("SRE_FUNCTION".into(), fn_name.clone()),
                ("SRE_CALL_ID".into(), format!("local-{i}")),
                (
                    "SRE_CALLER".into(),
                    "0x0000000000000000000000000000000000000000".into(),
                ),
            ],
            limits: profile.limits.clone(),
        };
        let t = Instant::now();
        let out = sandbox.run(&prepared, call).await?;
        samples.push(t.elapsed());
        last = Some(out);
    }
    let total = started.elapsed();
    tiers.shutdown().await;
    let out = last.expect("repeat >= 1");
    let stats = (args.repeat > 1).then(|| Stats::from_samples("invoke", samples, total));
    report(
        &args,
        &code,
        sandbox.tier(),
        &profile.name,
        prepare_time,
        &out,
        stats.as_ref(),
    )?;
    Ok(if out.status() == "ok" {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn report(
    args: &InvokeArgs,
    code: &FunctionCode,
    tier: Tier,
    profile: &str,
    prepare_time: Duration,
    out: &Outcome,
    stats: Option<&Stats>,
) -> anyhow::Result<()> {
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
            stderr_tail,
            ..
        } => (
            None,
            &[][..],
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

/// Finds the source file and its runtime.
pub(crate) fn locate(
    path: &Path,
    runtime: Option<&str>,
    runtimes: &RuntimeCatalog,
) -> anyhow::Result<(PathBuf, Arc<Runtime>)> {
    if path.is_dir() {
        let candidates: Vec<(PathBuf, Arc<Runtime>)> = runtimes
            .iter()
            .filter(|r| {
                runtime.is_none_or(|want| runtimes.resolve(want).is_ok_and(|x| x.name == r.name))
            })
            .map(|r| (path.join(&r.source_file), r.clone()))
            .filter(|(p, _)| p.is_file())
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
