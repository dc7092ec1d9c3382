//! The one contract every sandbox tier implements.
//!
//! A tier **prepares** a function once per code hash (compile a module, resolve an interpreter,
//! check an image) and **runs** it once per call, always tearing down whatever the call created.
//! Limits come in one vocabulary, [`Limits`], that each tier translates into its own mechanism
//! (epoch deadlines and a `ResourceLimiter`, cgroups and rlimits, Docker host config).
//!
//! A guest failure — timeout, out of memory, trap, non-zero exit, oversized output — is a normal
//! [`Outcome`] that the worker signs and posts. Only host faults (the engine is broken, Docker is
//! down) are [`SandboxError`]s. Code that can never run (a module importing sockets, an unknown
//! runtime) is [`SandboxError::Rejected`], which the worker answers with a `rejected` response.
//!
//! The crate also holds the catalogs the tiers read ([`config`]: `runtimes/*.toml`,
//! `sandbox-profiles/*.toml`). Each tier is a Cargo feature (`wasm`, `container`, `process`;
//! default all): a build without one reports that tier unavailable, as a host without it would.
//! This is the workspace's only crate with `unsafe` code (the process tier's `linux` module, the
//! WASM tier's artifact loading and the allocator setting in `memory`, each allowed where it is).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub mod any;
pub mod config;
#[cfg(feature = "container")]
pub mod container;
pub mod doctor;
pub mod egress;
#[cfg(any(test, feature = "test-util"))]
pub mod fake;
pub mod input;
pub mod memory;
pub mod netrules;
pub mod process;
pub mod sync;
#[cfg(not(all(feature = "wasm", feature = "container")))]
mod tier_off;
#[cfg(feature = "wasm")]
pub mod wasm;
pub use input::Input;
#[cfg(not(feature = "container"))]
pub use tier_off::container;
#[cfg(not(feature = "wasm"))]
pub use tier_off::wasm;

/// True when missing prerequisites are failures (`AIN_SRE_STRICT=1`, or `CI=true` as CI sets it):
/// a test whose tier, engine or privilege is missing fails instead of skipping.
pub fn strict_from_env() -> bool {
    let on = |k: &str| std::env::var(k).is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
    on("AIN_SRE_STRICT") || on("CI")
}

/// Which isolation technology runs a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// WebAssembly in wasmtime (WASI preview 1).
    Wasm,
    /// A host process in fresh Linux namespaces with cgroups and seccomp.
    Process,
    /// A Docker container.
    Container,
}

impl Tier {
    /// Every tier, in the order the worker reports them: the one list of tiers.
    pub const ALL: [Tier; 3] = [Tier::Wasm, Tier::Process, Tier::Container];

    /// The lowercase name used in files, receipts and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Wasm => "wasm",
            Tier::Process => "process",
            Tier::Container => "container",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a sandbox may reach the network. Deny is the default everywhere.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NetworkPolicy {
    /// No network at all: an empty network namespace, `--network none`, no socket imports.
    #[default]
    None,
    /// Egress only through the worker's proxy, which serves this call's policy
    /// ([`crate::egress`]); the tier makes the proxy the only endpoint the guest can reach.
    Proxy(crate::egress::EgressHandle),
}

/// The resource limits of one call, in one vocabulary for every tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock deadline of the whole call, start to teardown.
    pub wall_time: Duration,
    /// CPU time the guest may consume (a CPU quota on the process and container tiers).
    pub cpu_time: Duration,
    /// Memory the guest may hold (linear memory for WASM; cgroup memory+swap otherwise).
    pub memory_bytes: u64,
    /// Processes and threads the guest may have at once (not applicable to WASM).
    pub pids: u32,
    /// Bytes of stdout kept; more makes the call fail with `output_too_large`.
    pub output_bytes: usize,
    /// Bytes of stderr kept (the tail is reported); more is silently dropped.
    pub stderr_bytes: usize,
    /// Size of the writable scratch space (`/tmp`); zero means none.
    pub tmpfs_bytes: u64,
    /// Network access.
    pub network: NetworkPolicy,
    /// Deterministic instruction budget for WASM (wasmtime fuel), in addition to the deadline.
    pub fuel: Option<u64>,
    /// Opt-in same-function container reuse (container tier only; `None` = every call gets a
    /// fresh container). Weaker isolation: see [`Reuse`].
    pub reuse: Option<Reuse>,
}

/// Same-function reuse on the container tier: a container that served function F (same code
/// hash, runtime and limits) may serve up to `max_calls` calls of F in all, each within `idle`
/// of the previous one, never a call of another function. Between calls every process the guest
/// started is killed, but files in `/tmp`, `/dev/shm` and `/sre`, SysV IPC objects and the
/// memory peak carry over: **a call of F sees what earlier calls of F left behind**. A call that
/// timed out, ran out of memory or overflowed its output never hands its container on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reuse {
    /// Calls one container may serve, the first included (≥ 2 to have any effect).
    pub max_calls: u32,
    /// How long a container may wait for the next call of its function before it is removed.
    pub idle: Duration,
}

impl Default for Limits {
    /// The deny-all baseline that `sandbox-profiles/default.toml` also writes down.
    fn default() -> Limits {
        Limits {
            wall_time: Duration::from_secs(5),
            cpu_time: Duration::from_secs(5),
            memory_bytes: 128 << 20,
            pids: 32,
            output_bytes: 64 << 10,
            stderr_bytes: 8 << 10,
            tmpfs_bytes: 16 << 20,
            network: NetworkPolicy::None,
            fuel: None,
            reuse: None,
        }
    }
}

/// A function's code as the worker fetched it, identified by its SHA-256.
#[derive(Clone)]
pub struct FunctionCode {
    /// SHA-256 of `bytes` (hex in receipts and on chain).
    pub hash: [u8; 32],
    /// The code: a `.wasm`/`.wat` module, a script, or an image reference.
    pub bytes: Arc<[u8]>,
    /// The runtime name it was deployed with (`wasm`, `python3`, ...).
    pub runtime: String,
}

impl FunctionCode {
    /// Wraps code and computes its hash.
    pub fn new(runtime: impl Into<String>, bytes: impl Into<Arc<[u8]>>) -> FunctionCode {
        use sha2::Digest;
        let bytes = bytes.into();
        FunctionCode {
            hash: sha2::Sha256::digest(&bytes).into(),
            bytes,
            runtime: runtime.into(),
        }
    }

    /// The hash as 64 lowercase hex digits.
    pub fn hash_hex(&self) -> String {
        hex::encode(self.hash)
    }
}

impl fmt::Debug for FunctionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "FunctionCode({} {} bytes sha256:{})",
            self.runtime,
            self.bytes.len(),
            self.hash_hex()
        )
    }
}

/// One call: what the guest sees and how long it may take. Its `Debug` names the environment
/// variables without their values (secrets travel there).
#[derive(Clone)]
pub struct Invocation {
    /// Bytes given on stdin: in memory, or an open file read in bounded chunks.
    pub input: Input,
    /// Environment for the guest; only `SRE_*` names are ever passed (others are dropped).
    pub env: Vec<(String, String)>,
    /// Limits of this call.
    pub limits: Limits,
}

impl fmt::Debug for Invocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.env.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Invocation")
            .field("input_bytes", &self.input.len())
            .field("env", &names)
            .field("limits", &self.limits)
            .finish()
    }
}

impl Invocation {
    /// The environment with anything outside the `SRE_` namespace removed.
    pub fn guest_env(&self) -> impl Iterator<Item = (&str, &str)> {
        self.env
            .iter()
            .filter(|(k, _)| k.starts_with("SRE_"))
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// What a call consumed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Usage {
    /// Wall time in microseconds.
    pub wall_us: u64,
    /// CPU time in microseconds (0 where a tier cannot measure it).
    pub cpu_us: u64,
    /// Peak memory in KiB.
    pub mem_peak_kb: u64,
}

/// Why a call did not complete normally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The wall deadline (or fuel) ran out; everything the call started was killed.
    Timeout,
    /// The memory limit was hit.
    Oom,
    /// The guest trapped or crashed (message from the engine or the signal).
    Trap(String),
    /// Stdout exceeded the limit; the guest was stopped.
    OutputTooLarge,
}

/// The result of one call. Both variants are results to sign and post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The guest ran to completion and exited with `exit_code` (0 is success).
    Completed {
        /// Exit status.
        exit_code: i32,
        /// Captured stdout (at most `Limits::output_bytes`).
        stdout: Vec<u8>,
        /// Last bytes of stderr (at most `Limits::stderr_bytes`).
        stderr_tail: Vec<u8>,
        /// Resources consumed.
        usage: Usage,
    },
    /// The guest was stopped or failed before completing.
    Failed {
        /// Why.
        failure: Failure,
        /// What it wrote to stdout before it stopped (a timeout keeps the partial output; empty
        /// when the output cap was exceeded).
        stdout: Vec<u8>,
        /// Last bytes of stderr.
        stderr_tail: Vec<u8>,
        /// Resources consumed until it stopped.
        usage: Usage,
    },
}

impl Outcome {
    /// The outcome without the stderr tail of a successful run (exit code 0): a response is
    /// public on chain, and what a function logs while it works is its author's, unless the
    /// function opts in (`public_stderr`). A failure keeps its tail, which explains it.
    pub fn without_success_stderr(self) -> Outcome {
        match self {
            Outcome::Completed {
                exit_code: 0,
                stdout,
                usage,
                ..
            } => Outcome::Completed {
                exit_code: 0,
                stdout,
                stderr_tail: Vec::new(),
                usage,
            },
            other => other,
        }
    }

    /// The on-chain status string (`ok`, `error`, `timeout`, `oom`, `output_too_large`).
    pub fn status(&self) -> &'static str {
        match self {
            Outcome::Completed { exit_code: 0, .. } => "ok",
            Outcome::Completed { .. } => "error",
            Outcome::Failed {
                failure: Failure::Timeout,
                ..
            } => "timeout",
            Outcome::Failed {
                failure: Failure::Oom,
                ..
            } => "oom",
            Outcome::Failed {
                failure: Failure::Trap(_),
                ..
            } => "error",
            Outcome::Failed {
                failure: Failure::OutputTooLarge,
                ..
            } => "output_too_large",
        }
    }

    /// Resources consumed.
    pub fn usage(&self) -> Usage {
        match self {
            Outcome::Completed { usage, .. } | Outcome::Failed { usage, .. } => *usage,
        }
    }
}

/// Host-side faults and code that can never run. Guest failures are not errors.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The code can never run here (invalid module, forbidden imports, unknown runtime): the
    /// worker answers the call with a `rejected` response and runs nothing.
    #[error("rejected: {0}")]
    Rejected(String),
    /// The tier cannot run on this host (missing kernel feature, no Docker, not Linux).
    #[error("{tier} tier not available: {why}")]
    Unavailable {
        /// The tier.
        tier: Tier,
        /// Why not.
        why: String,
    },
    /// None of the tiers a runtime can use is available on this host.
    #[error("no tier can run runtime `{runtime}` on this host: {why}")]
    NoTier {
        /// The runtime.
        runtime: String,
        /// Each tier's reason, `tier: why; ...`.
        why: String,
    },
    /// The host failed while setting up or tearing down a call.
    #[error("{tier} sandbox host fault: {why}")]
    Host {
        /// The tier.
        tier: Tier,
        /// What went wrong.
        why: String,
    },
}

/// A sandbox tier.
///
/// `prepare` is called once per code hash and its result may be cached and shared by concurrent
/// calls; `run` is called once per call and must release everything the call created (processes,
/// cgroups, containers, stores) before it returns, whatever the outcome.
pub trait Sandbox: Send + Sync {
    /// What `prepare` produces: a compiled module, a resolved runtime, a checked image.
    type Prepared: Send + Sync + 'static;

    /// The tier this sandbox implements.
    fn tier(&self) -> Tier;

    /// Validates and prepares code for running; cacheable per code hash.
    fn prepare(
        &self,
        code: &FunctionCode,
    ) -> impl Future<Output = Result<Self::Prepared, SandboxError>> + Send;

    /// Runs one call and tears everything down.
    fn run(
        &self,
        prepared: &Self::Prepared,
        call: Invocation,
    ) -> impl Future<Output = Result<Outcome, SandboxError>> + Send;
}
