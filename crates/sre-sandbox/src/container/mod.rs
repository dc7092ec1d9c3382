//! The container tier: Docker through bollard, straight to the Engine API (never the CLI).
//!
//! - **Every container is hardened** the same way ([`spec`]): no network, all capabilities
//!   dropped, no-new-privileges, read-only root with sized tmpfs mounts, memory = memory+swap,
//!   a CPU quota, a pids limit, no log driver, the guest as a uid of its own ([`guest`]: no two
//!   live containers share one, so the kernel's per-user counters are per container; the stem
//!   cell alone is root, with three capabilities), no host mounts, no Docker socket, host-wide
//!   `/proc` and `/sys` counters masked, and no `/dev/shm` or POSIX queues when the profile
//!   grants no scratch space.
//!   An operator may run every container under another OCI runtime (gVisor's `runsc`).
//! - **Shipped runtimes** (python3, nodejs, bash, perl) run in images built offline from the host's
//!   own files ([`image`]) whose entrypoint is the stem cell: it waits on stdin for one framed call
//!   (header, `SRE_*` environment, code, input), so containers can be started ahead of demand
//!   ([`pool`]) and each is used for exactly one call, then removed (unless the profile opted
//!   into same-function reuse, below). Replacements are created after a call's outcome is out,
//!   and removal happens off the caller's path, so neither competes with a call.
//! - **Bring-your-own images** (the `image` runtime: the code is an image reference) run with
//!   their own entrypoint on the cold path; the input is their whole stdin. Only images the
//!   operator allowed run ([`policy`], deny by default), each declared `VOLUME` is covered by a
//!   sized tmpfs (never a host-disk volume), and they run by the image id checked at prepare.
//! - **Limits**: the kernel enforces memory, pids, CPU and tmpfs sizes; the daemon enforces the wall
//!   deadline (`kill`) and the stdout cap (`kill`). OOM kills are reported as `oom`.
//! - **Leftovers**: every container carries labels naming its creating process; at start-up the
//!   tier removes those whose process is gone (a crashed or killed worker).
//!
//! Usage (CPU time, peak memory) comes from the container's own cgroup, read by the stem cell
//! (with shell builtins, before and after the guest) and reported on stderr under a per-call
//! nonce; limits never depend on it. The guest must not reach the stem cell (abuse rows 9 and
//! 28): the stem cell runs as root in the container with only `SETUID`, `SETGID` and `KILL`, and
//! drops the guest to the container's guest uid without capabilities, so the kernel's ptrace
//! access check refuses the guest `/proc/1/fd/0` (where the next frame arrives), `/proc/1/mem`,
//! `maps`, `environ` and `syscall`. Every container also gets a **seccomp allowlist generated from the process
//! tier's** ([`seccomp`]: no `ptrace`, no `process_vm_readv`/`writev`, which Docker's default
//! profile allows) and those `/proc/1` files masked. The nonce therefore stays secret and neither
//! the report nor the next call's frame can be forged; the stem cell is pid 1, which the kernel
//! shields from the guest's signals. What the guest can still do is
//! kill its own call early (e.g. exhaust memory so the OOM killer picks the stem cell): then
//! there is no report, the outcome comes from the engine and usage reads as zero.
//!
//! **Same-function reuse** (opt-in per profile, [`crate::Reuse`]): a container that
//! served function F (code hash + runtime + limits) is kept for F's next call, up to a number of
//! calls and an idle time, never for another function. Processes are killed between calls; files
//! and the memory peak are not reset: **weaker isolation, documented as such**. Timeouts, OOMs
//! and output overflows always end the container.

use crate::sync::LockExt;
use std::collections::HashMap;
use std::sync::Arc;

use bollard::Docker;
use bollard::query_parameters::RemoveContainerOptionsBuilder;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::runtimes::{Runtime, RuntimeCatalog};
use crate::doctor::Check;
use crate::{FunctionCode, Invocation, Limits, Outcome, Sandbox, SandboxError, Tier};

mod call;
pub mod doctor;
mod egress;
pub mod engine;
pub mod guest;
mod host_usage;
pub mod image;
pub mod policy;
mod pool;
pub mod seccomp;
pub mod spec;

pub use engine::Engine;
pub use guest::GuestIds;
pub use policy::ImagePolicy;

use spec::Shape;

mod park;
mod run;
mod status;

use park::{ParkKey, Parked};
use status::valid_image_ref;
pub use status::{ImageStatus, image_status};

/// Settings of the container tier (per-call limits are in [`Limits`]).
#[derive(Debug, Clone)]
pub struct ContainerConfig {
    /// Runtime definitions (`None`: the shipped ones).
    pub runtimes: Option<RuntimeCatalog>,
    /// Instance name recorded on every container (`io.ain-sre.owner`).
    pub instance: String,
    /// Stem cells kept ready per (runtime, limit shape) once used or pre-warmed; 0 = always cold.
    pub pool_size: usize,
    /// Runtimes whose pool is filled at start-up, for calls with `prewarm_limits`.
    pub prewarm: Vec<String>,
    /// The limits pre-warmed stem cells are created with (a call takes one only if its limits
    /// have the same shape).
    pub prewarm_limits: Limits,
    /// Largest function code accepted (the `/sre` tmpfs is sized from it).
    pub max_code_bytes: usize,
    /// Remove containers of dead ain-sre processes at start-up.
    pub remove_leftovers: bool,
    /// Which images the `image` runtime may run (default: none).
    pub images: ImagePolicy,
    /// The engine's OCI runtime every container runs under (`HostConfig.Runtime`), e.g. `runsc`
    /// for gVisor once registered in the engine's `daemon.json`; `None`: the engine's default.
    pub oci_runtime: Option<String>,
    /// The host uids (= gids) guests run as, one per live container (default 4,000,000 +
    /// 65,536; see [`GuestIds`]).
    pub guest_ids: GuestIds,
}

impl Default for ContainerConfig {
    fn default() -> Self {
        ContainerConfig {
            runtimes: None,
            instance: "default".into(),
            pool_size: 2,
            prewarm: Vec::new(),
            prewarm_limits: Limits::default(),
            max_code_bytes: 1 << 20,
            remove_leftovers: true,
            images: ImagePolicy::default(),
            oci_runtime: None,
            guest_ids: GuestIds::default(),
        }
    }
}

/// The container tier. Cheap to clone; all clones share one engine connection and pool.
#[derive(Clone)]
pub struct ContainerSandbox {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    who: spec::Identity,
    /// Hands each container its own guest uid.
    guests: Arc<guest::Allocator>,
    runtimes: RuntimeCatalog,
    cfg: ContainerConfig,
    pool: Arc<pool::Pool>,
    reaper: TaskTracker,
    refill: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    leftovers_removed: usize,
    /// Containers kept for the next call of the function they served (opt-in reuse).
    parked: std::sync::Mutex<HashMap<ParkKey, Vec<Parked>>>,
    /// Stops the idle sweep of `parked`.
    stop: CancellationToken,
}

/// A function checked against the engine: which image runs it and how.
#[derive(Debug, Clone)]
pub struct PreparedContainer {
    runtime: Arc<Runtime>,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Stem {
        image: String,
        argv: Vec<String>,
        code: Arc<[u8]>,
        hash: [u8; 32],
    },
    Image {
        /// The reference the function gave.
        image: String,
        /// The id it resolved to when the policy allowed it: what runs, so a tag moved
        /// afterwards cannot swap in an image nobody checked.
        id: String,
        volumes: Vec<String>,
    },
}

impl PreparedContainer {
    /// The image the function runs in.
    pub fn image(&self) -> &str {
        match &self.kind {
            Kind::Stem { image, .. } | Kind::Image { image, .. } => image,
        }
    }
}

fn unavailable(why: impl Into<String>) -> SandboxError {
    SandboxError::Unavailable {
        tier: Tier::Container,
        why: why.into(),
    }
}

/// Removes a container (forced) with its anonymous volumes (`v`: none should exist, since
/// declared volumes are covered by tmpfs mounts, but one must never outlive its container);
/// failures are logged, the leftover sweep catches the rest.
pub(crate) async fn remove(docker: &Docker, id: &str) {
    if let Err(e) = docker
        .remove_container(
            id,
            Some(
                RemoveContainerOptionsBuilder::new()
                    .force(true)
                    .v(true)
                    .build(),
            ),
        )
        .await
    {
        tracing::warn!(container = %id, error = %e, "removing a container");
    }
}

impl ContainerSandbox {
    /// Connects to the engine (refusing one with `userns-remap`: see [`guest`]), warns about an
    /// old runc, removes leftovers of dead ain-sre processes and starts the pool's refill task.
    pub async fn start(cfg: ContainerConfig) -> Result<ContainerSandbox, SandboxError> {
        let guests = guest::Allocator::new(cfg.guest_ids.validate().map_err(unavailable)?);
        let engine = Engine::connect().await?;
        engine.require_no_userns_remap().await?;
        match cfg.oci_runtime.as_deref() {
            None | Some("runc") => {
                // Once per process, however many times a tier is started in it.
                static WARNED: std::sync::atomic::AtomicBool =
                    std::sync::atomic::AtomicBool::new(false);
                if let Some(w) = engine.runc_warning()
                    && !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed)
                {
                    tracing::warn!("{w}");
                }
            }
            Some(name) => engine.require_runtime(name).await?,
        }
        let runtimes = match &cfg.runtimes {
            Some(r) => r.clone(),
            None => RuntimeCatalog::shipped().map_err(|e| unavailable(e.to_string()))?,
        };
        let who = engine::identity(&cfg.instance);
        let leftovers_removed = if cfg.remove_leftovers {
            let n = engine.remove_leftovers(&who.host).await?;
            if n > 0 {
                tracing::info!(
                    removed = n,
                    "removed containers left by dead ain-sre processes"
                );
            }
            n
        } else {
            0
        };
        let pool = pool::Pool::new(cfg.pool_size);
        let reaper = TaskTracker::new();
        let refill = tokio::spawn(pool.clone().refill(
            engine.docker.clone(),
            who.clone(),
            guests.clone(),
            cfg.max_code_bytes,
            cfg.oci_runtime.clone(),
        ));
        let sb = ContainerSandbox {
            inner: Arc::new(Inner {
                engine,
                who,
                guests,
                runtimes,
                cfg,
                pool,
                reaper,
                refill: std::sync::Mutex::new(Some(refill)),
                leftovers_removed,
                parked: std::sync::Mutex::new(HashMap::new()),
                stop: CancellationToken::new(),
            }),
        };
        tokio::spawn(sb.clone().sweep_idle());
        for name in sb.inner.cfg.prewarm.clone() {
            let rt = sb
                .inner
                .runtimes
                .resolve(&name)
                .map_err(|e| SandboxError::Rejected(e.to_string()))?;
            let key = sb.stem_key(&rt, &sb.inner.cfg.prewarm_limits)?;
            sb.inner.pool.prewarm(key);
        }
        Ok(sb)
    }

    /// The engine connection.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Containers removed at start-up because their creating process was gone.
    pub fn leftovers_removed(&self) -> usize {
        self.inner.leftovers_removed
    }

    /// Stem cells waiting in the pool right now.
    pub fn pool_ready(&self) -> usize {
        self.inner.pool.ready_count()
    }

    /// True when no background work is pending: every wanted pool is full and no removal runs.
    pub fn settled(&self) -> bool {
        self.inner.reaper.is_empty() && self.inner.pool.full()
    }

    /// Asks the pool to stock stem cells for `runtime` with `limits`' shape.
    pub fn prewarm(&self, runtime: &str, limits: &Limits) -> Result<(), SandboxError> {
        let rt = self
            .inner
            .runtimes
            .resolve(runtime)
            .map_err(|e| SandboxError::Rejected(e.to_string()))?;
        let key = self.stem_key(&rt, limits)?;
        self.inner.pool.prewarm(key);
        Ok(())
    }

    /// What `ain-sre doctor` reports for this tier (engine, runc, images, image policy, the OCI
    /// runtime when one is configured).
    pub async fn doctor(&self) -> Vec<Check> {
        let mut out = doctor::checks(
            &self.inner.engine,
            &self.inner.runtimes,
            &self.inner.cfg.images,
        )
        .await;
        match self.inner.cfg.oci_runtime.as_deref() {
            Some(r) if spec::is_gvisor(Some(r)) => out.push(Check::warn(
                "container",
                "oci runtime",
                format!(
                    "containers run under `{r}` (gVisor): stronger kernel isolation, but the stem \
                     cell reads no usage (zero) and several abuse checks measure gVisor's own \
                     emulation; run `ain-sre conformance --tier container --oci-runtime {r}`"
                ),
            )),
            Some(r) => out.push(Check::ok(
                "container",
                "oci runtime",
                format!("containers run under `{r}`"),
            )),
            None => {}
        }
        out
    }

    /// Stops refilling, removes every waiting stem cell and kept container and waits for
    /// pending removals.
    pub async fn shutdown(&self) {
        let docker = &self.inner.engine.docker;
        self.inner.stop.cancel();
        let mut waiting = self.inner.pool.drain();
        waiting.extend(self.take_parked(|_| true));
        let refill = self.inner.refill.lock_or_recover().take();
        if let Some(task) = refill {
            // It finishes the container it is creating, sees the stop and removes it.
            let _ = task.await;
        }
        waiting.extend(self.inner.pool.drain());
        for w in waiting {
            remove(docker, &w.id).await;
        }
        self.inner.reaper.close();
        self.inner.reaper.wait().await;
    }

    fn stem_key(&self, rt: &Runtime, limits: &Limits) -> Result<pool::Key, SandboxError> {
        let image = rt.image.clone().ok_or_else(|| {
            SandboxError::Rejected(format!("runtime `{}` has no container image", rt.name))
        })?;
        Ok(pool::Key {
            runtime: rt.name.clone(),
            image,
            argv: stem_argv(rt),
            shape: Shape::of(limits)?,
        })
    }
}

/// The stem cell's arguments: where the code goes, then the runtime's command.
fn stem_argv(rt: &Runtime) -> Vec<String> {
    let src = format!("/sre/{}", rt.source_file);
    std::iter::once(src.clone()).chain(rt.argv(&src)).collect()
}

impl Sandbox for ContainerSandbox {
    type Prepared = Arc<PreparedContainer>;

    fn tier(&self) -> Tier {
        Tier::Container
    }

    async fn prepare(&self, code: &FunctionCode) -> Result<Arc<PreparedContainer>, SandboxError> {
        let rt = self
            .inner
            .runtimes
            .resolve(&code.runtime)
            .map_err(|e| SandboxError::Rejected(e.to_string()))?;
        if !rt.tiers.contains(&Tier::Container) {
            return Err(SandboxError::Rejected(format!(
                "runtime `{}` does not run on the container tier",
                rt.name
            )));
        }
        if rt.name == "image" {
            let image = String::from_utf8_lossy(&code.bytes).trim().to_owned();
            if !valid_image_ref(&image) {
                return Err(SandboxError::Rejected(format!(
                    "`{}` is not an image reference (name:tag)",
                    image.escape_debug()
                )));
            }
            let inspect = match self.inner.engine.docker.inspect_image(&image).await {
                Ok(i) => i,
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => {
                    return Err(SandboxError::Rejected(format!(
                        "image `{image}` is not present on this worker's Docker engine \
                         (workers never pull; load or build it first)"
                    )));
                }
                Err(e) => return Err(call::host_fault("inspecting an image", e)),
            };
            let policy = &self.inner.cfg.images;
            if !policy.permits(&inspect) {
                return Err(SandboxError::Rejected(policy.rejection(&image)));
            }
            let volumes = policy::volumes(&inspect)
                .map_err(|why| SandboxError::Rejected(format!("image `{image}`: {why}")))?;
            let id = inspect
                .id
                .ok_or_else(|| call::host_fault("inspecting an image", "no id"))?;
            return Ok(Arc::new(PreparedContainer {
                runtime: rt,
                kind: Kind::Image { image, id, volumes },
            }));
        }
        if code.bytes.len() > self.inner.cfg.max_code_bytes {
            return Err(SandboxError::Rejected(format!(
                "code is {} bytes; the container tier takes at most {}",
                code.bytes.len(),
                self.inner.cfg.max_code_bytes
            )));
        }
        let image = rt.image.clone().ok_or_else(|| {
            SandboxError::Rejected(format!("runtime `{}` has no container image", rt.name))
        })?;
        match image_status(&self.inner.engine.docker, &image).await? {
            ImageStatus::Ready => {}
            ImageStatus::Missing => {
                return Err(unavailable(format!(
                    "runtime image `{image}` is missing; build it with `ain-sre runtimes build {}`",
                    rt.name
                )));
            }
            ImageStatus::StaleStem(d) => {
                return Err(unavailable(format!(
                    "runtime image `{image}` carries another stem cell ({d}, this build has {}); \
                     rebuild it with `ain-sre runtimes build {}`",
                    image::stem_digest(),
                    rt.name
                )));
            }
        }
        Ok(Arc::new(PreparedContainer {
            kind: Kind::Stem {
                image,
                argv: stem_argv(&rt),
                code: code.bytes.clone(),
                hash: code.hash,
            },
            runtime: rt,
        }))
    }

    async fn run(
        &self,
        prepared: &Arc<PreparedContainer>,
        call: Invocation,
    ) -> Result<Outcome, SandboxError> {
        let out = self.call(prepared, call).await;
        // Refill once the outcome is out: creating a stem cell never competes with a call.
        self.inner.pool.kick();
        out
    }
}
