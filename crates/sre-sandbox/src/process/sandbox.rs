//! [`ProcessSandbox`]: the tier's `Sandbox` implementation and its stem-cell pools.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::cell::StemCell;
use super::cgroup::{CgroupRoot, CgroupVersion};
use super::cgroup_version::CgroupVersionArg;
use super::{ProcessConfig, find_jail_exe, policy};
use crate::config::runtimes::{Runtime, RuntimeCatalog};
use crate::{FunctionCode, Invocation, Outcome, Sandbox, SandboxError, Tier};

/// Largest function code accepted (scripts and static binaries).
const MAX_CODE: usize = 16 << 20;

/// State shared by the sandbox handle, its pools and the refill tasks.
pub(crate) struct Shared {
    pub(crate) config: ProcessConfig,
    pub(crate) cgroups: CgroupRoot,
    pub(crate) bpf: Vec<u64>,
    /// The program of calls with egress (TCP/UDP sockets allowed; see `policy`).
    pub(crate) bpf_egress: Arc<Vec<u64>>,
    pub(crate) jail_exe: PathBuf,
    /// Teardowns of finished calls (keeper exit, cgroup removal), awaited by `shutdown`.
    pub(crate) cleanups: tokio_util::task::TaskTracker,
    runtimes: RuntimeCatalog,
    pools: Mutex<HashMap<String, Pool>>,
    closed: AtomicBool,
}

#[derive(Default)]
struct Pool {
    ready: Vec<StemCell>,
    creating: usize,
}

/// The process tier. Cheap to clone; clones share the pools.
#[derive(Clone)]
pub struct ProcessSandbox {
    shared: Arc<Shared>,
}

/// A function ready to run here: its runtime and code.
#[derive(Debug)]
pub struct PreparedProcess {
    runtime: Arc<Runtime>,
    code: Arc<[u8]>,
}

impl ProcessSandbox {
    /// Checks the host (root, cgroups, seccomp, the helper), then fills the pools of
    /// `config.prewarm`. Errors say why the tier cannot run here.
    pub async fn start(config: ProcessConfig) -> Result<ProcessSandbox, String> {
        if !nix::unistd::geteuid().is_root() {
            return Err("the process tier needs root (to create namespaces and cgroups)".into());
        }
        let force = config.cgroup_version.map(|v| match v {
            CgroupVersionArg::V1 => CgroupVersion::V1,
            CgroupVersionArg::V2 => CgroupVersion::V2,
        });
        let cgroups = CgroupRoot::open(&config.cgroup_mount, &config.cgroup_parent, force)?;
        let bpf = policy::encode(&policy::compile()?);
        let bpf_egress = Arc::new(policy::encode(&policy::compile_egress()?));
        let jail_exe = find_jail_exe(&config)?;
        std::fs::create_dir_all(&config.root_dir)
            .map_err(|e| format!("creating {}: {e}", config.root_dir.display()))?;
        let runtimes = match &config.runtimes {
            Some(r) => r.clone(),
            None => RuntimeCatalog::shipped().map_err(|e| e.to_string())?,
        };
        let sb = ProcessSandbox {
            shared: Arc::new(Shared {
                config,
                cgroups,
                bpf,
                bpf_egress,
                jail_exe,
                cleanups: tokio_util::task::TaskTracker::new(),
                runtimes,
                pools: Mutex::new(HashMap::new()),
                closed: AtomicBool::new(false),
            }),
        };
        for name in sb.shared.config.prewarm.clone() {
            let rt = sb
                .shared
                .runtimes
                .resolve(&name)
                .map_err(|e| e.to_string())?;
            sb.fill(&rt).await;
        }
        Ok(sb)
    }

    /// How this host's cgroups are used (for `ain-sre doctor`).
    pub fn cgroups(&self) -> String {
        self.shared.cgroups.describe()
    }

    /// Stem cells ready for `runtime` right now.
    pub fn ready(&self, runtime: &str) -> usize {
        self.shared
            .pools
            .lock()
            .expect("pool lock")
            .get(runtime)
            .map_or(0, |p| p.ready.len())
    }

    /// Fills `runtime`'s pool to its size and waits until it is full.
    pub async fn fill(&self, runtime: &Runtime) {
        while !self.shared.closed.load(Ordering::Relaxed)
            && self.ready(&runtime.name) < self.shared.config.pool_size
        {
            match StemCell::create(&self.shared, runtime).await {
                Ok(c) => self.put(&runtime.name, c),
                Err(e) => {
                    tracing::warn!(runtime = %runtime.name, "stem cell: {e}");
                    return;
                }
            }
        }
    }

    fn put(&self, runtime: &str, cell: StemCell) {
        if self.shared.closed.load(Ordering::Relaxed) {
            return; // dropped: killed and removed
        }
        self.shared
            .pools
            .lock()
            .expect("pool lock")
            .entry(runtime.to_owned())
            .or_default()
            .ready
            .push(cell);
    }

    /// A ready cell, or a new one when the pool is empty.
    async fn take(&self, runtime: &Arc<Runtime>) -> Result<StemCell, SandboxError> {
        let cell = {
            let mut pools = self.shared.pools.lock().expect("pool lock");
            pools.entry(runtime.name.clone()).or_default().ready.pop()
        };
        match cell {
            Some(c) => Ok(c),
            None => StemCell::create(&self.shared, runtime).await,
        }
    }

    /// Tops `runtime`'s pool up in the background. Started when a call has finished, so new
    /// cells are not built on the CPU a running call needs.
    fn refill(&self, runtime: &Arc<Runtime>) {
        let missing = {
            let mut pools = self.shared.pools.lock().expect("pool lock");
            let pool = pools.entry(runtime.name.clone()).or_default();
            let missing = self
                .shared
                .config
                .pool_size
                .saturating_sub(pool.ready.len() + pool.creating);
            pool.creating += missing;
            missing
        };
        for _ in 0..missing {
            let me = self.clone();
            let rt = runtime.clone();
            tokio::spawn(async move {
                let made = StemCell::create(&me.shared, &rt).await;
                me.shared
                    .pools
                    .lock()
                    .expect("pool lock")
                    .entry(rt.name.clone())
                    .or_default()
                    .creating -= 1;
                match made {
                    Ok(c) => me.put(&rt.name, c),
                    Err(e) => tracing::warn!(runtime = %rt.name, "stem cell refill: {e}"),
                }
            });
        }
    }

    /// Stops refills and destroys every waiting stem cell (their cgroups are killed and removed).
    pub async fn shutdown(&self) {
        self.shared.closed.store(true, Ordering::Relaxed);
        let cells: Vec<StemCell> = self
            .shared
            .pools
            .lock()
            .expect("pool lock")
            .values_mut()
            .flat_map(|p| p.ready.drain(..))
            .collect();
        let _ = tokio::task::spawn_blocking(move || drop(cells)).await;
        self.shared.cleanups.close();
        self.shared.cleanups.wait().await;
    }
}

impl Sandbox for ProcessSandbox {
    type Prepared = PreparedProcess;

    fn tier(&self) -> Tier {
        Tier::Process
    }

    async fn prepare(&self, code: &FunctionCode) -> Result<PreparedProcess, SandboxError> {
        let runtime = self
            .shared
            .runtimes
            .resolve(&code.runtime)
            .map_err(|e| SandboxError::Rejected(e.to_string()))?;
        if !runtime.tiers.contains(&Tier::Process) {
            return Err(SandboxError::Rejected(format!(
                "runtime `{}` does not run on the process tier",
                runtime.name
            )));
        }
        if code.bytes.len() > MAX_CODE {
            return Err(SandboxError::Rejected(format!(
                "code is {} bytes; the process tier takes at most {MAX_CODE}",
                code.bytes.len()
            )));
        }
        // A runtime whose command is the code itself (`native`) runs no interpreter: the code
        // must be an executable the empty sandbox can start.
        if runtime.command.first().is_some_and(|c| c == "{source}") {
            super::elf::check_static_executable(&code.bytes).map_err(SandboxError::Rejected)?;
        }
        Ok(PreparedProcess {
            runtime,
            code: code.bytes.clone(),
        })
    }

    async fn run(
        &self,
        prepared: &PreparedProcess,
        call: Invocation,
    ) -> Result<Outcome, SandboxError> {
        if self.shared.closed.load(Ordering::Relaxed) {
            return Err(SandboxError::Unavailable {
                tier: Tier::Process,
                why: "shut down".into(),
            });
        }
        let cell = self.take(&prepared.runtime).await;
        let out = match cell {
            Ok(cell) => cell.run(&prepared.runtime, &prepared.code, call).await,
            Err(e) => Err(e),
        };
        if !self.shared.closed.load(Ordering::Relaxed) {
            self.refill(&prepared.runtime);
        }
        out
    }
}
