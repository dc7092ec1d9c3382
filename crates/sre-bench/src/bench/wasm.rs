//! WASM tier benchmarks: the full invocation of a trivial WASI function (store, instantiate, run,
//! capture) on one thread and on two, and the cost of a module's first compile versus loading the
//! precompiled artifact from the on-disk cache.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Stats;
use crate::sandbox::wasm::{WasmConfig, WasmSandbox};
use crate::sandbox::{FunctionCode, Invocation, Limits, Sandbox};

/// Row name of the one-thread echo (the report compares it with the process tier).
pub const ECHO_1_THREAD: &str = "wasm echo: full invocation, 1 thread";
/// Row name of the two-thread echo throughput.
pub const ECHO_2_THREADS: &str = "wasm echo: full invocation, 2 threads (8 tasks)";

const ECHO: &[u8] = include_bytes!("../../../../examples/functions/echo.wat");

fn call() -> Invocation {
    Invocation {
        input: Arc::<[u8]>::from(&b"{\"x\":1}"[..]).into(),
        env: vec![("SRE_FUNCTION".into(), "echo".into())],
        limits: Limits::default(),
    }
}

/// Runs the WASM measurements.
pub fn run(quick: bool) -> anyhow::Result<Vec<Stats>> {
    let min_time = if quick {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(3)
    };
    let mut rows = vec![single_thread(min_time)?, two_threads(min_time)?];
    rows.extend(compile_vs_cache(if quick { 3 } else { 10 })?);
    // Python and JavaScript components (issue 21), when the packagers are installed.
    rows.extend(super::component::run(quick)?);
    Ok(rows)
}

fn single_thread(min_time: Duration) -> anyhow::Result<Stats> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let sb = WasmSandbox::new(WasmConfig::default())?;
        let p = sb
            .prepare(&FunctionCode::new("wasm", ECHO.to_vec()))
            .await?;
        let mut samples = Vec::new();
        for _ in 0..1000 {
            sb.run(&p, call()).await?;
        }
        let start = Instant::now();
        while start.elapsed() < min_time || samples.len() < 10_000 {
            let t = Instant::now();
            let out = sb.run(&p, call()).await?;
            samples.push(t.elapsed());
            anyhow::ensure!(out.status() == "ok", "echo failed: {out:?}");
        }
        Ok(Stats::from_samples(ECHO_1_THREAD, samples, start.elapsed()))
    })
}

fn two_threads(min_time: Duration) -> anyhow::Result<Stats> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let sb = WasmSandbox::new(WasmConfig::default())?;
        let p = Arc::new(
            sb.prepare(&FunctionCode::new("wasm", ECHO.to_vec()))
                .await?,
        );
        let start = Instant::now();
        let mut tasks = Vec::new();
        // A few tasks per worker thread keep both threads busy without queueing on the pool.
        for _ in 0..8 {
            let (sb, p) = (sb.clone(), p.clone());
            tasks.push(tokio::spawn(async move {
                let mut samples = Vec::new();
                while start.elapsed() < min_time {
                    let t = Instant::now();
                    sb.run(&p, call()).await?;
                    samples.push(t.elapsed());
                }
                anyhow::Ok(samples)
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await??);
        }
        Ok(Stats::from_samples(ECHO_2_THREADS, all, start.elapsed()))
    })
}

fn compile_vs_cache(n: usize) -> anyhow::Result<Vec<Stats>> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let dir = tempfile_dir()?;
        let cfg = WasmConfig {
            cache_dir: Some(dir.clone()),
            max_concurrency: 8,
            ..WasmConfig::default()
        };
        // The Rust example is a realistic module (≈60 KB); fall back to the WAT echo if absent.
        let base = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/functions/rust-wordcount.wasm"
        ))
        .unwrap_or_else(|_| ECHO.to_vec());
        let variants: Vec<FunctionCode> = (0..n)
            .map(|i| FunctionCode::new("wasm", with_custom_section(&base, i)))
            .collect();
        // Each sandbox prepares every variant once, timing each.
        let prepare_each = async |sb: WasmSandbox, name: &str| -> anyhow::Result<Stats> {
            let mut samples = Vec::new();
            let start = Instant::now();
            for code in &variants {
                let t = Instant::now();
                sb.prepare(code).await?;
                samples.push(t.elapsed());
            }
            Ok(Stats::from_samples(name, samples, start.elapsed()))
        };
        let cold_stats = prepare_each(
            WasmSandbox::new(cfg.clone())?,
            &format!("prepare: first compile ({} KB module)", base.len() / 1024),
        )
        .await?;
        // A fresh sandbox (a restarted worker): the same modules now load from the disk cache.
        let warm_stats = prepare_each(
            WasmSandbox::new(cfg)?,
            "prepare: cached artifact load (new process)",
        )
        .await?;
        let _ = std::fs::remove_dir_all(&dir);
        Ok(vec![cold_stats, warm_stats])
    })
}

/// Appends a custom section so each variant has a new hash but compiles to the same code.
fn with_custom_section(module: &[u8], i: usize) -> Vec<u8> {
    if !module.starts_with(b"\0asm") {
        // Text format: a comment changes the bytes (and the hash) just as well.
        let mut m = module.to_vec();
        m.extend_from_slice(format!("\n;; variant {i}\n").as_bytes());
        return m;
    }
    let name = format!("bench-{i}");
    let mut section = vec![name.len() as u8];
    section.extend_from_slice(name.as_bytes());
    let mut m = module.to_vec();
    m.push(0); // custom section id
    m.push(section.len() as u8);
    m.extend_from_slice(&section);
    m
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("ain-sre-bench-wasm-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
