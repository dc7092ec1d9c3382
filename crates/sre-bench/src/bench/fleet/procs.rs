//! The fleet's worker processes (`ain-sre run` children on free ports) and the scrape of their
//! metrics endpoints.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::APP;
use crate::bench::child::{ChildProc, RunArgs};
use crate::bench::echo_chain::EchoChain;

/// A worker serving the app as `key_hex`, with its metrics endpoint on `metrics`.
pub(super) fn spawn_worker(
    chain: &EchoChain,
    key_hex: &str,
    dir: &Path,
    metrics: SocketAddr,
) -> anyhow::Result<ChildProc> {
    let run = RunArgs {
        rpc: &chain.rpc,
        events: &chain.events,
        app: APP,
        key_hex,
        data: dir,
    };
    let mut cmd = Command::new(crate::ain_sre_exe()?);
    run.apply(&mut cmd)
        .args(["--metrics-addr", &metrics.to_string()]);
    ChildProc::spawn(&mut cmd, "a worker process")
}

/// The worker's executions for the app and its rank outcomes, from its `/metrics`.
pub(super) async fn scrape(
    http: &reqwest::Client,
    addr: SocketAddr,
) -> Option<(f64, BTreeMap<String, f64>)> {
    let text = http
        .get(format!("http://{addr}/metrics"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let mut execs = 0.0;
    let mut ranks = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((name, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let v: f64 = value.parse().unwrap_or(0.0);
        if name.starts_with("ain_sre_calls_total{") && name.contains(&format!("app=\"{APP}\"")) {
            execs += v;
        } else if let Some(rest) = name.strip_prefix("ain_sre_rank_outcomes_total{outcome=\"") {
            let o = rest.split('"').next().unwrap_or_default().to_owned();
            *ranks.entry(o).or_insert(0.0) += v;
        } else if name == "ain_sre_answered_elsewhere_total" {
            *ranks.entry("lost_race".into()).or_insert(0.0) += v;
        }
    }
    Some((execs, ranks))
}

pub(super) async fn scrape_all(
    http: &reqwest::Client,
    addrs: &[SocketAddr],
) -> Vec<Option<(f64, BTreeMap<String, f64>)>> {
    futures_util::future::join_all(addrs.iter().map(|a| scrape(http, *a))).await
}
