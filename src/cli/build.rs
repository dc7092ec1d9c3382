//! `ain-sre build FILE|DIR --runtime python3-wasm|nodejs-wasm`: packages a Python or
//! JavaScript function into a WASI 0.2 component for the WASM tier, with the packager installed
//! on this machine (componentize-py, componentize-js), and checks it as every worker would.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use sha2::Digest;

use crate::config::runtimes::RuntimeCatalog;
use crate::sandbox::wasm::package::{self, Language};

/// Arguments of `ain-sre build`.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The function: `main.py` / `main.js`, or a directory holding it.
    pub path: PathBuf,
    /// The runtime to build for: `python3-wasm` or `nodejs-wasm`.
    #[arg(long)]
    pub runtime: String,
    /// Where to write the component [default: `main.wasm` beside the source].
    #[arg(long, short)]
    pub out: Option<PathBuf>,
}

/// Packages `source` for `runtime` and checks the component as a worker would; for `deploy`,
/// which builds when given source.
pub(crate) fn component_of(runtime: &str, source: &[u8]) -> anyhow::Result<Vec<u8>> {
    let lang = Language::of_runtime(runtime).with_context(|| {
        format!("runtime `{runtime}` is not built into a component (python3-wasm, nodejs-wasm are)")
    })?;
    let component = package::build(lang, source, &std::env::temp_dir())?;
    crate::sandbox::wasm::checked_binary(&component)
        .map_err(|e| anyhow::anyhow!("the built component would be refused: {e}"))?;
    Ok(component)
}

pub(crate) async fn run(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let catalog = RuntimeCatalog::shipped()?;
    let (file, runtime) = super::invoke::locate(&args.path, Some(&args.runtime), &catalog)?;
    let source = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    let started = Instant::now();
    let name = runtime.name.clone();
    let component = tokio::task::spawn_blocking(move || component_of(&name, &source)).await??;
    let out = args.out.unwrap_or_else(|| file.with_file_name("main.wasm"));
    std::fs::write(&out, &component).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "built:    {} ({} bytes, {:.1} s) from {}",
        out.display(),
        component.len(),
        started.elapsed().as_secs_f64(),
        file.display()
    );
    println!(
        "sha256:   {}",
        hex::encode(sha2::Sha256::digest(&component))
    );
    println!(
        "deploy:   ain-sre deploy {} --runtime {} --fn NAME",
        out.display(),
        runtime.name
    );
    Ok(ExitCode::SUCCESS)
}
