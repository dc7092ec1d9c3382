//! The processes the soak kills and restarts: worker children (`ain-sre run`) spawned, signalled,
//! reaped and their RSS read from `/proc`, and the built-in chain started on the same data and
//! ports.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::ledger::devnet::{Devnet, DevnetConfig, DevnetHandle};
use crate::ledger::sync::LockExt;

use super::tally::Incarnation;

/// A worker: its identity and current process.
pub(super) struct Worker {
    pub(super) name: &'static str,
    pub(super) app: &'static str,
    pub(super) key_hex: String,
    pub(super) data: PathBuf,
    /// Extra environment (the container worker switches the process tier off).
    pub(super) env: Vec<(&'static str, String)>,
    pub(super) child: Option<Child>,
}

pub(super) fn rss_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

pub(super) fn signal(child: &Child, sig: &str) {
    let _ = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status();
}

/// Waits for `child` to exit, SIGKILLing it after `patience`.
pub(super) async fn reap(child: &mut Child, patience: Duration) {
    let deadline = Instant::now() + patience;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
}

pub(super) struct Run {
    pub(super) exe: PathBuf,
    pub(super) rpc: String,
    pub(super) events: String,
    pub(super) t0: Instant,
    pub(super) incarnations: Arc<Mutex<Vec<Incarnation>>>,
}

impl Run {
    pub(super) fn spawn(&self, w: &mut Worker) -> anyhow::Result<()> {
        let child = Command::new(&self.exe)
            .args([
                "run",
                "--node",
                &self.rpc,
                "--events",
                &self.events,
                "--app",
                w.app,
                "--data-dir",
            ])
            .arg(&w.data)
            .env("AIN_SRE_PRIVATE_KEY", &w.key_hex)
            .env("AIN_SRE_LOG", "error")
            .envs(w.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting the {} worker", w.name))?;
        self.incarnations.lock_or_recover().push(Incarnation {
            worker: w.name.to_owned(),
            pid: child.id(),
            started_s: self.t0.elapsed().as_secs_f64(),
            ended_by: String::new(),
            samples: Vec::new(),
        });
        w.child = Some(child);
        Ok(())
    }

    /// Stops `w`'s process with `sig` and records how it ended.
    pub(super) async fn stop(&self, w: &mut Worker, sig: &str, label: &str) {
        let Some(mut child) = w.child.take() else {
            return;
        };
        signal(&child, sig);
        reap(&mut child, Duration::from_secs(30)).await;
        let mut inc = self.incarnations.lock_or_recover();
        if let Some(i) = inc.iter_mut().rev().find(|i| i.pid == child.id()) {
            i.ended_by = label.to_owned();
        }
    }
}

pub(super) async fn start_chain(
    rpc: SocketAddr,
    events: SocketAddr,
    data: &Path,
) -> anyhow::Result<DevnetHandle> {
    Ok(Devnet::start(DevnetConfig {
        rpc_addr: rpc,
        events_addr: events,
        data_dir: Some(data.to_path_buf()),
        block_interval: Duration::from_millis(100),
        ..DevnetConfig::default()
    })
    .await?)
}

pub(super) fn free_addr() -> anyhow::Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}
