//! The processes the soak kills and restarts: worker children (`ain-sre run`, as
//! [`ChildProc`]es), each incarnation recorded with how it ended, and the built-in chain started
//! on the same data and ports.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::bench::child::{ChildProc, RunArgs};
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
    pub(super) child: Option<ChildProc>,
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
        let run = RunArgs {
            rpc: &self.rpc,
            events: &self.events,
            app: w.app,
            key_hex: &w.key_hex,
            data: &w.data,
        };
        let mut cmd = Command::new(&self.exe);
        run.apply(&mut cmd)
            .envs(w.env.iter().map(|(k, v)| (*k, v.as_str())));
        let child = ChildProc::spawn(&mut cmd, &format!("the {} worker", w.name))?;
        self.incarnations.lock_or_recover().push(Incarnation {
            worker: w.name.to_owned(),
            pid: child.pid(),
            started_s: self.t0.elapsed().as_secs_f64(),
            ended_by: String::new(),
            samples: Vec::new(),
        });
        w.child = Some(child);
        Ok(())
    }

    /// Stops `w`'s process with `sig` and records how it ended.
    pub(super) async fn stop(&self, w: &mut Worker, sig: Signal, label: &str) {
        let Some(mut child) = w.child.take() else {
            return;
        };
        child.stop(sig, Duration::from_secs(30)).await;
        let mut inc = self.incarnations.lock_or_recover();
        if let Some(i) = inc.iter_mut().rev().find(|i| i.pid == child.pid()) {
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
