//! The closed set of tiers ([`AnySandbox`]) and the host's registry of which are available
//! ([`Tiers`]). The scheduler and `ain-sre invoke` both run functions through here, so a local
//! invocation takes exactly the worker's code path.

use std::path::Path;
use std::sync::Arc;

use super::container::{ContainerConfig, ContainerSandbox, PreparedContainer};
use super::doctor::Check;
use super::process::{PreparedProcess, ProcessConfig, ProcessSandbox};
use super::wasm::{PreparedWasm, WasmConfig, WasmSandbox};
use super::{FunctionCode, Invocation, Outcome, Sandbox, SandboxError, Tier};
use crate::config::runtimes::{Runtime, RuntimeCatalog};

/// Every sandbox backend, dispatched statically.
#[derive(Clone)]
pub enum AnySandbox {
    /// wasmtime.
    Wasm(WasmSandbox),
    /// Docker.
    Container(ContainerSandbox),
    /// Namespaced processes (stem-cell pools).
    Process(ProcessSandbox),
}

/// A prepared function for whichever tier prepared it.
#[derive(Debug, Clone)]
pub enum AnyPrepared {
    /// A compiled module.
    Wasm(Arc<PreparedWasm>),
    /// A checked image and the code to hand its stem cell.
    Container(Arc<PreparedContainer>),
    /// A runtime and its code.
    Process(Arc<PreparedProcess>),
}

/// The one sandbox type over every tier: the scheduler and `invoke` use it through [`Sandbox`].
impl Sandbox for AnySandbox {
    type Prepared = AnyPrepared;

    fn tier(&self) -> Tier {
        match self {
            AnySandbox::Wasm(s) => s.tier(),
            AnySandbox::Container(s) => s.tier(),
            AnySandbox::Process(s) => s.tier(),
        }
    }

    async fn prepare(&self, code: &FunctionCode) -> Result<AnyPrepared, SandboxError> {
        match self {
            AnySandbox::Wasm(s) => s.prepare(code).await.map(AnyPrepared::Wasm),
            AnySandbox::Container(s) => s.prepare(code).await.map(AnyPrepared::Container),
            AnySandbox::Process(s) => s
                .prepare(code)
                .await
                .map(|p| AnyPrepared::Process(Arc::new(p))),
        }
    }

    async fn run(&self, prepared: &AnyPrepared, call: Invocation) -> Result<Outcome, SandboxError> {
        match (self, prepared) {
            (AnySandbox::Wasm(s), AnyPrepared::Wasm(p)) => s.run(p, call).await,
            (AnySandbox::Container(s), AnyPrepared::Container(p)) => s.run(p, call).await,
            (AnySandbox::Process(s), AnyPrepared::Process(p)) => s.run(p, call).await,
            (s, _) => Err(SandboxError::Host {
                tier: s.tier(),
                why: "prepared by another tier".into(),
            }),
        }
    }
}

/// How to start each tier. Every field has a working default.
#[derive(Debug, Clone, Default)]
pub struct TierConfig {
    /// The WASM tier.
    pub wasm: WasmConfig,
    /// The container tier.
    pub container: ContainerConfig,
    /// The namespaced-process tier.
    pub process: ProcessConfig,
    /// Tiers not to start at all (reported unavailable, "disabled by the operator"): a worker
    /// that must not offer a tier its host has. Default none.
    pub disabled: Vec<Tier>,
}

/// Which tiers this host offers, and why the others are missing.
pub struct Tiers {
    wasm: Result<AnySandbox, String>,
    container: Result<AnySandbox, String>,
    /// What the container tier found at start-up (engine, runc, images).
    container_checks: Vec<Check>,
    process: Result<AnySandbox, String>,
    process_config: ProcessConfig,
}

impl TierConfig {
    /// This configuration with the process and container tiers serving `runtimes` (their
    /// commands, binds and images), the catalog the scheduler resolves functions in. A worker
    /// must start its tiers this way: a tier left on the shipped catalog refuses a runtime only
    /// `runtimes_dir` defines (the call would be answered `rejected`) and runs an overridden one
    /// with the shipped command, binds or image.
    pub fn serving(mut self, runtimes: &RuntimeCatalog) -> TierConfig {
        self.container.runtimes = Some(runtimes.clone());
        self.process.runtimes = Some(runtimes.clone());
        self
    }
}

impl Tiers {
    /// Starts every tier that can run here. A tier that cannot start is recorded with its reason;
    /// it never prevents the others from starting.
    pub async fn start(config: TierConfig) -> Tiers {
        const DISABLED: &str = "disabled by the operator";
        let off = |t: Tier| config.disabled.contains(&t);
        let (container, container_checks) = if off(Tier::Container) {
            (Err(DISABLED.to_owned()), Vec::new())
        } else {
            match ContainerSandbox::start(config.container).await {
                Ok(s) => {
                    let checks = s.doctor().await;
                    (Ok(AnySandbox::Container(s)), checks)
                }
                Err(e) => (Err(container_reason(&e)), Vec::new()),
            }
        };
        let wasm = if off(Tier::Wasm) {
            Err(DISABLED.to_owned())
        } else {
            WasmSandbox::new(config.wasm)
                .map(AnySandbox::Wasm)
                .map_err(|e| e.to_string())
        };
        let process = if off(Tier::Process) {
            Err(DISABLED.to_owned())
        } else {
            ProcessSandbox::start(config.process.clone())
                .await
                .map(AnySandbox::Process)
        };
        Tiers {
            wasm,
            container,
            container_checks,
            process,
            process_config: config.process,
        }
    }

    /// Releases what the tiers hold between calls (pools, pre-created sandboxes). Calls still
    /// running finish first; afterwards every tier reports itself unavailable.
    pub async fn shutdown(&self) {
        if let Ok(AnySandbox::Container(c)) = &self.container {
            c.shutdown().await;
        }
        if let Ok(AnySandbox::Process(p)) = &self.process {
            p.shutdown().await;
        }
    }

    /// What `ain-sre doctor` reports about the tiers: each tier's availability, then which tier
    /// serves each runtime on this host (or why none can).
    pub fn doctor(&self, runtimes: &RuntimeCatalog) -> Vec<Check> {
        let mut checks = Vec::new();
        for tier in Tier::ALL {
            checks.push(match self.get(tier) {
                Ok(_) => Check::ok(tier.as_str(), "tier", "available"),
                Err(e) => Check::fail(tier.as_str(), "tier", e.to_string()),
            });
            if tier == Tier::Process {
                checks.extend(super::process::doctor(&self.process_config));
            }
        }
        checks.extend(self.container_checks.iter().cloned());
        for r in runtimes.iter() {
            let what = format!("runtime {}", r.name);
            checks.push(match self.choose(r, None) {
                Ok(s) => Check::ok("runtimes", what, format!("served on the {} tier", s.tier())),
                Err(e) => Check::warn("runtimes", what, e.to_string()),
            });
        }
        checks
    }

    /// The backend for `tier`, or why it is unavailable.
    pub fn get(&self, tier: Tier) -> Result<&AnySandbox, SandboxError> {
        let unavailable = |why: &str| SandboxError::Unavailable {
            tier,
            why: why.to_owned(),
        };
        match tier {
            Tier::Wasm => self.wasm.as_ref().map_err(|why| unavailable(why)),
            Tier::Process => self.process.as_ref().map_err(|why| unavailable(why)),
            Tier::Container => self.container.as_ref().map_err(|why| unavailable(why)),
        }
    }

    /// Picks the tier for `runtime`: `requested` if given (it must be one the runtime lists),
    /// otherwise the first of the runtime's tiers that is available here.
    pub fn choose(
        &self,
        runtime: &Runtime,
        requested: Option<Tier>,
    ) -> Result<&AnySandbox, SandboxError> {
        if let Some(t) = requested {
            if !runtime.tiers.contains(&t) {
                return Err(SandboxError::Rejected(format!(
                    "runtime `{}` does not run on the {t} tier (it runs on: {})",
                    runtime.name,
                    join(&runtime.tiers)
                )));
            }
            if let Some(p) = missing_program(runtime, t) {
                return Err(SandboxError::Unavailable {
                    tier: t,
                    why: format!("{} is not installed", p.display()),
                });
            }
            return self.get(t);
        }
        let mut reasons = Vec::new();
        for t in &runtime.tiers {
            if let Some(p) = missing_program(runtime, *t) {
                reasons.push(format!("{t}: {} is not installed", p.display()));
                continue;
            }
            match self.get(*t) {
                Ok(s) => return Ok(s),
                Err(SandboxError::Unavailable { why, .. }) => reasons.push(format!("{t}: {why}")),
                Err(e) => reasons.push(format!("{t}: {e}")),
            }
        }
        Err(SandboxError::NoTier {
            runtime: runtime.name.clone(),
            why: reasons.join("; "),
        })
    }
}

/// The interpreter a runtime's process-tier command runs, when this host lacks it. The process
/// tier binds the host's own programs into each sandbox, so without it every call would end in
/// `exec ...: No such file or directory` (exit 127) and be answered `error`: the runtime is not
/// served on that tier here (the next tier may serve it, or another worker), and the registry
/// entry leaves it out. A command that is the function itself (`native`) needs nothing.
fn missing_program(runtime: &Runtime, tier: Tier) -> Option<&Path> {
    if tier != Tier::Process {
        return None;
    }
    runtime
        .command
        .first()
        .map(Path::new)
        .filter(|p| p.is_absolute() && !p.exists())
}

/// The reason stored for an unavailable container tier (without the "tier not available" prefix
/// that [`Tiers::get`] adds again).
fn container_reason(e: &SandboxError) -> String {
    match e {
        SandboxError::Unavailable { why, .. } => why.clone(),
        other => other.to_string(),
    }
}

fn join(tiers: &[Tier]) -> String {
    tiers
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unavailable_tiers_say_why_and_choice_follows_preference() {
        let tiers = Tiers::start(TierConfig {
            wasm: WasmConfig {
                max_concurrency: 4,
                ..WasmConfig::default()
            },
            process: ProcessConfig {
                // Never found: keeps this test independent of the host's process tier.
                jail_exe: Some("/nonexistent/ain-sre-jail".into()),
                ..ProcessConfig::default()
            },
            ..TierConfig::default()
        })
        .await;
        let cat = RuntimeCatalog::shipped().unwrap();
        assert_eq!(
            tiers
                .choose(&cat.resolve("wasm").unwrap(), None)
                .unwrap()
                .tier(),
            Tier::Wasm
        );
        // python3 prefers the process tier (made unavailable above); the container tier serves
        // it when Docker is up, and otherwise the error names both tiers' reasons.
        match tiers.choose(&cat.resolve("python3").unwrap(), None) {
            Ok(s) => assert_eq!(s.tier(), Tier::Container),
            Err(e) => {
                let e = e.to_string();
                assert!(e.contains("process: ") && e.contains("container: "), "{e}");
            }
        }
        let err = tiers
            .choose(&cat.resolve("wasm").unwrap(), Some(Tier::Container))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("does not run on the container tier"), "{err}");
    }

    /// A runtime on the process tier whose interpreter is not on this host (as in the
    /// FROM-scratch image of deploy/image, which has no interpreters).
    fn ghost_runtime() -> Runtime {
        Runtime::parse(
            "ghost.toml",
            "name = \"ghost\"\ntiers = [\"process\"]\nsource_file = \"main.gh\"\n\
             command = [\"/nonexistent/ain-sre-ghost\", \"{source}\"]\n[process]\nbinds = []\n",
        )
        .unwrap()
    }

    #[test]
    fn a_missing_interpreter_is_named_for_the_process_tier_only() {
        let ghost = ghost_runtime();
        assert_eq!(
            missing_program(&ghost, Tier::Process),
            Some(Path::new("/nonexistent/ain-sre-ghost"))
        );
        assert_eq!(missing_program(&ghost, Tier::Container), None);
        let cat = RuntimeCatalog::shipped().unwrap();
        // `native` runs the function itself: nothing to find on the host.
        assert_eq!(
            missing_program(&cat.resolve("native").unwrap(), Tier::Process),
            None
        );
    }
    // The registry-entry tests (they need the scheduler) are in tests/tier_registry.rs.
}
