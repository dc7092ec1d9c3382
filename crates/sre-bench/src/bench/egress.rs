//! Egress: what the worker's proxy costs a function. The same python3 program makes N small
//! HTTP GETs (a new connection each, as a function calling an API does) and two large downloads
//! from a loopback server, once in a process-tier sandbox through the proxy and once as bare
//! `python3` on the host with the network open. Reported: per-request latency of both (the
//! added p50 is the proxy's cost, target ≤ 1 ms) and the download throughput ratio (target
//! ≥ 0.8×): as fast as loopback goes (where the proxy's second trip through the TCP stack is
//! CPU the client and server would otherwise have), and from a server paced to a 1 Gbit/s link
//! (125 MB/s), the fastest link a worker usually has to the outside.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Stats;
use crate::config::runtimes::RuntimeCatalog;
use crate::egress::{Bounds, Caps, EgressCall, EgressHandle, EgressPolicy, OperatorEgress};
use crate::sandbox::process::{ProcessConfig, ProcessSandbox};
use crate::sandbox::{FunctionCode, Invocation, Limits, NetworkPolicy, Outcome, Sandbox};

/// Row: per-request latency through the proxy from the sandbox.
pub const PROXIED: &str = "egress: python3 GET through the proxy (process sandbox)";
/// Row: the same request from bare python3 with the network open.
pub const DIRECT: &str = "bare python3: GET direct (network open)";

/// The measuring program (the same file in both runs).
const PROBE: &str = r#"
import http.client, json, os, sys, time
cfg = json.loads(sys.stdin.read())
proxy = os.environ.get('http_proxy')
def get(path):
    if proxy:
        c = http.client.HTTPConnection('127.0.0.1', int(proxy.rsplit(':', 1)[1]))
        c.request('GET', 'http://127.0.0.1:%d%s' % (cfg['port'], path))
    else:
        c = http.client.HTTPConnection('127.0.0.1', cfg['port'])
        c.request('GET', path)
    r = c.getresponse()
    n = 0
    while True:
        b = r.read(1 << 16)
        if not b:
            break
        n += len(b)
    c.close()
    return n
lat = []
for _ in range(cfg['n']):
    t = time.perf_counter(); get('/'); lat.append(time.perf_counter() - t)
t = time.perf_counter(); n = get('/big'); dt = time.perf_counter() - t
t = time.perf_counter(); pn = get('/paced'); pdt = time.perf_counter() - t
print(json.dumps({'lat_us': [x * 1e6 for x in lat], 'big_bytes': n, 'big_s': dt,
                  'paced_bytes': pn, 'paced_s': pdt}))
"#;

/// Runs the group: two rows and the notes with the added latency and the throughput ratio.
pub async fn run(quick: bool) -> anyhow::Result<(Vec<Stats>, Vec<String>)> {
    let n: usize = if quick { 50 } else { 300 };
    let big: usize = if quick { 16 << 20 } else { 128 << 20 };
    let port = serve(big).await?;
    let cfg = serde_json::json!({"port": port, "n": n}).to_string();

    let sb = ProcessSandbox::start(ProcessConfig {
        pool_size: 1,
        prewarm: vec!["python3".into()],
        runtimes: Some(RuntimeCatalog::shipped()?),
        ..ProcessConfig::default()
    })
    .await
    .map_err(anyhow::Error::msg)?;
    let prepared = sb
        .prepare(&FunctionCode::new("python3", PROBE.as_bytes().to_vec()))
        .await?;
    let egress = EgressCall::new(
        EgressPolicy::parse(&[format!("127.0.0.1:{port}")], Caps::default())?,
        Arc::new(OperatorEgress::allowing(&["127.0.0.1/32".into()])?),
        Bounds {
            connections: n as u32 + 10,
            bytes_out: 1 << 30,
            bytes_in: 1 << 40,
        },
        "bench/egress/1".into(),
    );
    let limits = Limits {
        wall_time: Duration::from_secs(120),
        cpu_time: Duration::from_secs(120),
        network: NetworkPolicy::Proxy(EgressHandle(egress)),
        ..Limits::default()
    };
    let out = sb
        .run(
            &prepared,
            Invocation {
                input: Arc::<[u8]>::from(cfg.as_bytes()).into(),
                env: vec![],
                limits,
            },
        )
        .await?;
    sb.shutdown().await;
    let proxied = match &out {
        Outcome::Completed {
            exit_code: 0,
            stdout,
            ..
        } => serde_json::from_slice::<Value>(stdout)?,
        other => bail!("the sandboxed probe failed: {other:?}"),
    };
    let direct = bare(&cfg)?;
    let rows = vec![stats(PROXIED, &proxied), stats(DIRECT, &direct)];
    let mbps = |v: &Value, what: &str| {
        v[format!("{what}_bytes")].as_f64().unwrap_or(0.0)
            / v[format!("{what}_s")].as_f64().unwrap_or(1.0)
            / 1e6
    };
    let (tp, td) = (mbps(&proxied, "big"), mbps(&direct, "big"));
    let (pp, pd) = (mbps(&proxied, "paced"), mbps(&direct, "paced"));
    let notes = vec![
        format!(
            "egress: added latency p50 {:.0} µs per request (target ≤ 1000 µs)",
            rows[0].p50_us - rows[1].p50_us
        ),
        format!(
            "egress: {} MiB download {tp:.0} MB/s through the proxy vs {td:.0} MB/s direct: {:.2}× (target ≥ 0.8×)",
            big >> 20,
            tp / td.max(1e-9)
        ),
        format!(
            "egress: {} MiB download from a server paced to a 1 Gbit/s link ({:.0} MB/s): {pp:.0} MB/s through the proxy vs {pd:.0} MB/s direct: {:.2}×",
            big >> 20,
            PACED_BYTES_PER_S / 1e6,
            pp / pd.max(1e-9)
        ),
    ];
    Ok((rows, notes))
}

fn stats(name: &str, v: &Value) -> Stats {
    let samples: Vec<Duration> = v["lat_us"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_f64)
                .map(|us| Duration::from_secs_f64(us / 1e6))
                .collect()
        })
        .unwrap_or_default();
    let total = samples.iter().sum();
    Stats::from_samples(name, samples, total)
}

/// The probe as bare python3 on the host, network open, no proxy variables.
fn bare(cfg: &str) -> anyhow::Result<Value> {
    use std::io::Write;
    let mut child = Command::new("python3")
        .args(["-I", "-B", "-c", PROBE])
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting python3")?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(cfg.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("bare python3 probe failed: {}", out.status);
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// The paced download's rate: a 1 Gbit/s link.
const PACED_BYTES_PER_S: f64 = 125e6;

/// A loopback HTTP server: `/big` answers `big` bytes as fast as it can, `/paced` the same bytes
/// no faster than [`PACED_BYTES_PER_S`], anything else `ok`.
async fn serve(big: usize) -> anyhow::Result<u16> {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = l.local_addr()?.port();
    let chunk = vec![b'x'; 1 << 20];
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let chunk = chunk.clone();
            tokio::spawn(async move {
                let _ = s.set_nodelay(true);
                let mut got = Vec::new();
                let mut b = [0u8; 4096];
                while let Ok(n @ 1..) = s.read(&mut b).await {
                    got.extend_from_slice(&b[..n]);
                    if got.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let paced = got.starts_with(b"GET /paced ");
                let len = if paced || got.starts_with(b"GET /big ") {
                    big
                } else {
                    2
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
                );
                if s.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                if len == 2 {
                    let _ = s.write_all(b"ok").await;
                    return;
                }
                let start = tokio::time::Instant::now();
                let mut left = len;
                while left > 0 {
                    let k = left.min(chunk.len());
                    if s.write_all(&chunk[..k]).await.is_err() {
                        return;
                    }
                    left -= k;
                    if paced {
                        // Sent so far may not run ahead of the link.
                        let due = Duration::from_secs_f64((len - left) as f64 / PACED_BYTES_PER_S);
                        tokio::time::sleep_until(start + due).await;
                    }
                }
            });
        }
    });
    Ok(port)
}
