//! `ain-sre bench blobs`: a 16 MiB echo end to end on the built-in chain (issue 20), against a
//! plain `curl` of the same 16 MiB from the same blob store on loopback (the local limit), and
//! the serving process's memory growth during it.
//!
//! A child `ain-sre dev` runs the chain, its blob store and the worker (its WASM `echo` under
//! `batch`). One call: the request tx with `input_ref` → the worker reads the blob, runs echo,
//! stores the 16 MiB output and posts the response with `output_ref` → the client downloads the
//! output and verifies its hash. The upload happens once, before the timed calls.
//!
//! Memory: the child's `VmHWM` (peak RSS, reset through `/proc/<pid>/clear_refs` after the
//! warm-up) minus its RSS before the timed calls; the child holds the chain too, so this is an
//! upper bound on the worker's growth.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::Stats;
use super::child::{self, ChildProc, free_addr};
use crate::blobs::{BlobRef, client as blob_client};
use crate::client::{ChainClient, new_call_id, wait_response};
use crate::ledger::crypto::PrivateKey;
use crate::ledger::tx::SimpleOp;
use crate::onchain::{AppPaths, Request};

const PAYLOAD: usize = 16 << 20;

/// Starts `ain-sre dev` on free ports with its data in `dir` and waits until it serves; returns
/// it (SIGTERMed when dropped), its node URL and its blob store URL.
fn spawn_dev(dir: &Path) -> anyhow::Result<(ChildProc, String, String)> {
    let [port, events, blobs, metrics] =
        [free_addr()?, free_addr()?, free_addr()?, free_addr()?].map(|a| a.port());
    let mut dev = ChildProc::spawn(
        Command::new(crate::ain_sre_exe()?)
            .args(["dev", "--port", &port.to_string(), "--events-port"])
            .arg(events.to_string())
            .args(["--blobs-port", &blobs.to_string(), "--metrics-addr"])
            .arg(format!("127.0.0.1:{metrics}"))
            .arg("--data")
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
        "ain-sre dev",
    )?;
    dev.wait_for_line("serving; Ctrl-C to stop", Duration::from_secs(120))
        .context("ain-sre dev did not start serving")?;
    Ok((
        dev,
        format!("http://127.0.0.1:{port}"),
        format!("http://127.0.0.1:{blobs}"),
    ))
}

/// One echo through the chain: request with `r`, response, output downloaded and verified.
async fn echo(client: &ChainClient, r: &BlobRef) -> anyhow::Result<()> {
    let id = new_call_id();
    let paths = AppPaths::new("dev")?;
    client
        .send(vec![SimpleOp::set_value(
            paths.request("echo", &id),
            Request::value_ref(r),
        )])
        .await?;
    let resp = wait_response(client.rpc(), "dev", "echo", &id, Duration::from_secs(120)).await?;
    if resp["status"] != "ok" {
        bail!("echo answered {}", resp);
    }
    let out: BlobRef = serde_json::from_value(resp["output_ref"].clone())
        .with_context(|| format!("no output_ref in {resp}"))?;
    if out.sha256 != r.sha256 || out.size != r.size {
        bail!("the output is not the input");
    }
    blob_client::download(&out, None).await?;
    Ok(())
}

/// Seconds `curl` takes to fetch `url` to /dev/null; `None` without curl.
fn curl_seconds(url: &str) -> Option<f64> {
    let out = Command::new("curl")
        .args(["-sf", "-o", "/dev/null", "-w", "%{time_total}", url])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// Runs the benchmark.
pub async fn run(quick: bool) -> anyhow::Result<(Vec<Stats>, Vec<String>)> {
    let dir = super::ScratchDir::new("ain-sre-bench-blobs")?;
    // Declared after `dir`, so dropped (stopped) before it is removed.
    let (dev, node, blobs) = spawn_dev(dir.path())?;
    let pid = dev.pid();
    let key = PrivateKey::generate();
    let payload: Vec<u8> = {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        (0..PAYLOAD)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    };
    let t = Instant::now();
    let r = blob_client::upload(&blobs, &key, payload).await?;
    let upload_s = t.elapsed().as_secs_f64();
    let client = ChainClient::connect(&node, PrivateKey::generate()).await?;
    echo(&client, &r).await.context("warm-up call")?;
    let before_kb = dev.rss_kb();
    // Resets VmHWM to the current RSS, so the peak below is this run's.
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
    let n = if quick { 3 } else { 8 };
    let mut samples = Vec::new();
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        echo(&client, &r).await?;
        samples.push(t.elapsed());
    }
    let total = start.elapsed();
    let peak_kb = child::status_kb(pid, "VmHWM:").unwrap_or(0);
    let url = r.url.clone().unwrap_or_default();
    let mut curls = Vec::new();
    for _ in 0..n {
        if let Some(s) = curl_seconds(&url) {
            curls.push(Duration::from_secs_f64(s));
        }
    }
    let mib = PAYLOAD as f64 / (1 << 20) as f64;
    let e2e = Stats::from_samples(
        "blobs: 16 MiB echo e2e (request → response → output verified)",
        samples.clone(),
        total,
    );
    let mut rows = vec![e2e.clone()];
    let mut notes = vec![format!(
        "16 MiB echo end to end: {:.1} MB/s of payload at the median ({:.0} ms a call; the bytes cross the store, the worker, the sandbox and back: upload excluded, output download included)",
        mib * 1.048_576 / (e2e.p50_us / 1e6),
        e2e.p50_us / 1e3
    )];
    notes.push(format!(
        "upload of the 16 MiB (signed PUT, hash verified while streaming): {:.1} MB/s",
        mib * 1.048_576 / upload_s
    ));
    if curls.is_empty() {
        notes.push("curl: not found, no local-limit figure".into());
    } else {
        let c = Stats::from_samples(
            "blobs: curl GET of the same 16 MiB (loopback)",
            curls.clone(),
            curls.iter().sum(),
        );
        notes.push(format!(
            "curl of the same 16 MiB from the same store: {:.1} MB/s at the median; the echo runs at {:.1}% of it (it moves the bytes four times: fetch, sandbox in, sandbox out, download)",
            mib * 1.048_576 / (c.p50_us / 1e6),
            100.0 * c.p50_us / e2e.p50_us
        ));
        rows.push(c);
    }
    let growth_mib = peak_kb.saturating_sub(before_kb) as f64 / 1024.0;
    notes.push(format!(
        "memory of the dev process (chain + blob store + worker): RSS {:.0} MiB before, peak {:.0} MiB during the calls: growth {growth_mib:.0} MiB = {:.2}× the payload (target ≤ 2×)",
        before_kb as f64 / 1024.0,
        peak_kb as f64 / 1024.0,
        growth_mib / mib
    ));
    Ok((rows, notes))
}
