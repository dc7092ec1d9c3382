//! `ain-sre bench container`: the python3 example through the container tier, three ways in one
//! run: a pooled stem cell (the worker's normal path), the cold path (empty pool: create, attach,
//! start inline), and `docker run --rm -i` of the same image and script (the peer; the only place
//! ain-sre shells out to the docker CLI, and only to measure it).
//!
//! Pool calls are spaced so the pool is full and the previous call's container removed before
//! each (the wait is not timed): it measures the latency a call sees when the background work
//! keeps up, which is what the pool size is for. Refill and removal both run after a call's
//! outcome is out, never beside it.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::Stats;
use crate::sandbox::container::{ContainerConfig, ContainerSandbox};
use crate::sandbox::{FunctionCode, Invocation, Limits, Sandbox};

/// Row name: python3 hello through the pool.
pub const POOLED: &str = "container: python3 hello, pooled stem cell";
/// Row name: the cold path.
pub const COLD: &str = "container: python3 hello, cold (empty pool)";
/// Row: the pooled path with calls issued back to back (refills and removals run beside them,
/// as in a burst).
pub const BACK_TO_BACK: &str = "container: python3 hello, pooled, back to back (burst)";
/// Row: back to back again, for a function whose profile opted into same-function reuse (its
/// container serves its next call instead of being replaced).
pub const BACK_TO_BACK_REUSE: &str =
    "container: python3 hello, back to back, same-function reuse (profile opt-in)";
/// Row name: the cold path under gVisor (`runsc`), when the engine has it registered.
pub const COLD_RUNSC: &str = "container: python3 hello, cold, gVisor (runsc)";
/// Row name: the `docker run --rm` peer.
pub const DOCKER_RUN: &str = "peer: docker run --rm -i (same image and script)";

const HELLO: &str = include_str!("../../../../examples/functions/python3/main.py");
const INPUT: &[u8] = br#"{"name":"bench"}"#;
const WANT: &str = r#"{"greeting": "hello, bench", "runtime": "python3"}"#;

fn invocation(i: usize) -> Invocation {
    invocation_with(i, Limits::default())
}

fn invocation_with(i: usize, limits: Limits) -> Invocation {
    Invocation {
        input: Arc::<[u8]>::from(INPUT).into(),
        env: vec![
            ("SRE_FUNCTION".into(), "hello".into()),
            ("SRE_CALL_ID".into(), format!("bench-{i}")),
        ],
        limits,
    }
}

async fn one(
    sb: &ContainerSandbox,
    p: &<ContainerSandbox as Sandbox>::Prepared,
    i: usize,
) -> anyhow::Result<Duration> {
    one_with(sb, p, invocation(i)).await
}

async fn one_with(
    sb: &ContainerSandbox,
    p: &<ContainerSandbox as Sandbox>::Prepared,
    call: Invocation,
) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let out = sb.run(p, call).await?;
    let took = t.elapsed();
    match &out {
        crate::sandbox::Outcome::Completed {
            exit_code: 0,
            stdout,
            ..
        } if stdout == WANT.as_bytes() => Ok(took),
        other => bail!("unexpected outcome: {other:?}"),
    }
}

/// Runs the three measurements; returns their rows and notes with the ratios.
pub async fn run(quick: bool) -> anyhow::Result<(Vec<Stats>, Vec<String>)> {
    let (n_pool, n_cold, n_docker) = if quick { (10, 5, 5) } else { (100, 30, 20) };
    let code = FunctionCode::new("python3", HELLO.as_bytes().to_vec());

    // Pooled.
    let pooled = ContainerSandbox::start(ContainerConfig {
        instance: "bench-pool".into(),
        pool_size: 2,
        prewarm: vec!["python3".into()],
        ..ContainerConfig::default()
    })
    .await
    .context("starting the container tier (is dockerd running?)")?;
    let p = pooled.prepare(&code).await?;
    let mut samples = Vec::new();
    let mut busy = Duration::ZERO;
    for i in 0..n_pool + 3 {
        let t = Instant::now();
        while pooled.pool_ready() < 2 || !pooled.settled() {
            if t.elapsed() > Duration::from_secs(60) {
                bail!("the pool did not refill within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let took = one(&pooled, &p, i).await?;
        if i >= 3 {
            samples.push(took);
            busy += took;
        }
    }
    let pool_stats = Stats::from_samples(POOLED, samples, busy);
    // The same pool, calls not spaced: each takes what is ready (or waits for a refill) while the
    // previous call's container is removed and a new one started.
    let mut samples = Vec::new();
    let t0 = Instant::now();
    for i in 0..n_pool {
        samples.push(one(&pooled, &p, n_pool + 3 + i).await?);
    }
    let burst_stats = Stats::from_samples(BACK_TO_BACK, samples, t0.elapsed());
    // Back to back once more with same-function reuse: after its first call the container stays
    // for the next call of the same function, so no container is started or removed per call.
    let reuse = Limits {
        reuse: Some(crate::sandbox::Reuse {
            max_calls: u32::try_from(n_pool + 1).unwrap_or(u32::MAX),
            idle: Duration::from_secs(5),
        }),
        ..Limits::default()
    };
    let mut samples = Vec::new();
    let t0 = Instant::now();
    for i in 0..n_pool + 1 {
        let took = one_with(
            &pooled,
            &p,
            invocation_with(2 * n_pool + 3 + i, reuse.clone()),
        )
        .await?;
        if i > 0 {
            samples.push(took);
        }
    }
    let reuse_stats = Stats::from_samples(BACK_TO_BACK_REUSE, samples, t0.elapsed());
    pooled.shutdown().await;

    let cold_stats = cold(COLD, None, &code, n_cold).await?;
    // The same under gVisor, where the engine offers it (an operator option, not the default).
    let runsc = match crate::sandbox::container::Engine::connect().await {
        Ok(e) if e.require_runtime("runsc").await.is_ok() => {
            Some(cold(COLD_RUNSC, Some("runsc"), &code, n_cold).await?)
        }
        _ => None,
    };

    // Peer: docker run --rm of the same image and script (same main isolation flags).
    let image = crate::config::runtimes::RuntimeCatalog::shipped()?
        .resolve("python3")?
        .image
        .clone()
        .unwrap_or_default();
    let mut samples = Vec::new();
    let t0 = Instant::now();
    for _ in 0..n_docker + 1 {
        let t = Instant::now();
        let mut child = Command::new("docker")
            .args([
                "run",
                "--rm",
                "-i",
                "--network",
                "none",
                "--cap-drop",
                "ALL",
                "--read-only",
                "--log-driver",
                "none",
                "--memory",
                "128m",
                "--entrypoint",
                "/usr/bin/python3",
                &image,
                "-I",
                "-B",
                "-c",
                HELLO,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("running the docker CLI (the peer measurement needs it)")?;
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().context("stdin")?;
            stdin.write_all(INPUT)?;
        }
        let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await??;
        let took = t.elapsed();
        if out.stdout != WANT.as_bytes() {
            bail!(
                "docker run printed {:?} (stderr {:?})",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        samples.push(took);
    }
    samples.remove(0);
    let docker_stats = Stats::from_samples(DOCKER_RUN, samples, t0.elapsed());

    let mut notes = vec![
        format!(
            "pooled p50 {:.1} ms (target ≤ 40 ms); docker run p50 / pooled p50 = {:.1}× (target ≥ 8×)",
            pool_stats.p50_us / 1000.0,
            docker_stats.p50_us / pool_stats.p50_us.max(1.0)
        ),
        format!(
            "cold p50 / docker run p50 = {:.2} (target ≤ 1.0: the cold path no slower than docker run)",
            cold_stats.p50_us / docker_stats.p50_us.max(1.0)
        ),
        format!(
            "back to back: pooled p50 {:.1} ms; docker run p50 / back-to-back p50 = {:.1}× (target ≥ 8×)",
            burst_stats.p50_us / 1000.0,
            docker_stats.p50_us / burst_stats.p50_us.max(1.0)
        ),
        format!(
            "back to back with same-function reuse: p50 {:.1} ms; docker run p50 / its p50 = {:.1}× (weaker isolation between calls of one function: an operator's opt-in)",
            reuse_stats.p50_us / 1000.0,
            docker_stats.p50_us / reuse_stats.p50_us.max(1.0)
        ),
        "the pooled row's calls are spaced so a ready stem cell waits for each and no refill or removal runs beside it (per second over call time only); the back-to-back rows' are not"
            .to_owned(),
    ];
    let mut rows = vec![pool_stats, burst_stats, reuse_stats, cold_stats];
    if let Some(r) = runsc {
        notes.push(format!(
            "cold under gVisor p50 / cold under runc p50 = {:.2}",
            r.p50_us / rows[3].p50_us.max(1.0)
        ));
        rows.push(r);
    }
    rows.push(docker_stats);
    Ok((rows, notes))
}

/// The cold path (empty pool: create, attach, start inline) under `oci_runtime`.
async fn cold(
    name: &str,
    oci_runtime: Option<&str>,
    code: &FunctionCode,
    n: usize,
) -> anyhow::Result<Stats> {
    let cold = ContainerSandbox::start(ContainerConfig {
        instance: "bench-cold".into(),
        pool_size: 0,
        oci_runtime: oci_runtime.map(str::to_owned),
        ..ContainerConfig::default()
    })
    .await?;
    let p = cold.prepare(code).await?;
    let mut samples = Vec::new();
    let t0 = Instant::now();
    for i in 0..n + 1 {
        let took = one(&cold, &p, i).await?;
        if i >= 1 {
            samples.push(took);
        }
    }
    let total = t0.elapsed();
    cold.shutdown().await;
    Ok(Stats::from_samples(name, samples, total))
}
