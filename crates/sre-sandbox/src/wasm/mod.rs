//! The WASM tier: wasmtime with WASI preview 1 modules and WASI 0.2 components (`component`),
//! the fastest and most portable sandbox.
//!
//! - One [`wasmtime::Engine`] per configuration (with and without fuel), Cranelift only, with the
//!   proposals a stdin → stdout function does not need turned off (threads, shared memory, GC,
//!   function references, tail calls, exceptions, memory64, multi-memory, component model,
//!   relaxed SIMD, stack switching).
//! - The pooling allocator, with `linear_memory_keep_resident` / `table_keep_resident` so slot
//!   reuse is cheap; a semaphore sized to the pool so calls queue instead of failing.
//! - Before compiling, one linear pass checks the module's shape (`shape`) and its imports and
//!   exports (`imports`); a refusal is remembered per code hash, so a refused module costs
//!   nothing on its next call.
//! - Modules compiled in a child process bounded in CPU, memory and wall time, a few at once
//!   (`compile`), once per code hash: kept in memory (an `InstancePre` shared by all calls) in a
//!   cache bounded by compiled size, least recently used evicted, and on disk in a directory
//!   bounded by total size.
//! - Per call: a new `Store`, a fresh WASI context with stdin from the input, stdout and stderr
//!   captured with hard caps, no preopens, no environment beyond `SRE_*`, no args beyond the
//!   function name, and no sockets (refused at prepare time). Host-side tables are capped per
//!   call: `poll_oneoff` takes at most [`WasmConfig::max_poll_subscriptions`] subscriptions and
//!   the WASI resource table at most [`WasmConfig::max_host_resources`] entries.
//! - Limits inside the engine: an epoch deadline driven by one ticker thread (the store yields to
//!   tokio at every tick so a busy guest never blocks the runtime), optional fuel, and a
//!   `ResourceLimiter` for memory and tables. A tokio timeout is only the outer backstop.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OnceCell, Semaphore};
use wasmtime::{Engine, InstancePre};

use super::{Failure, FunctionCode, Invocation, Outcome, Sandbox, SandboxError, Tier, Usage};

/// The checks this tier makes on a module before compiling it: text (`.wat`) turned into
/// binary, then its shape ([`shape`]) and its imports and exports. Returns the binary, or the
/// reason the tier refuses the module. `ain-sre deploy` runs the same checks, so a module every
/// worker would refuse is refused at deploy.
pub fn checked_binary(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let binary = wat::parse_bytes(bytes)
        .map_err(|e| format!("invalid WebAssembly module: {e:#}"))?
        .into_owned();
    if component::is_component(&binary) {
        component::check(&binary)?;
        return Ok(binary);
    }
    shape::check_binary(&binary)?;
    imports::check(&binary)?;
    Ok(binary)
}

/// The largest module the tier accepts by default (`WasmConfig::max_module_bytes`).
pub const DEFAULT_MAX_MODULE_BYTES: usize = 16 << 20;

mod capture;
mod compile;
mod component;
mod component_check;
mod engine;
mod http;
mod imports;
pub mod package;
mod package_text;
pub mod shape;
mod store;

pub use compile::{CHILD_FLAG as COMPILE_CHILD_FLAG, CompileLimits, compile_child_main};

use engine::{EngineSet, stack_policy};
pub(crate) use store::set_stdin;
use store::{StoreData, ended, outcome, run_store, thread_cpu, usage_since};

/// Settings of the WASM tier (not per call: those are in [`super::Limits`]).
#[derive(Debug, Clone)]
pub struct WasmConfig {
    /// Directory for compiled artifacts; `None` keeps compiled modules in memory only.
    pub cache_dir: Option<PathBuf>,
    /// Calls running at once (pool slots). Further calls wait for a slot.
    pub max_concurrency: u32,
    /// The largest linear memory any profile may grant (the pool's slot size).
    pub max_memory_bytes: u64,
    /// Largest module accepted, in bytes (text `.wat` or binary `.wasm`).
    pub max_module_bytes: usize,
    /// Largest component accepted, in bytes (a packaged Python or JavaScript interpreter is
    /// 14–20 MB).
    pub max_component_bytes: usize,
    /// Table elements a module may have.
    pub max_table_elements: usize,
    /// Epoch tick: the resolution of deadlines.
    pub epoch_tick: Duration,
    /// Largest guest stack.
    pub max_wasm_stack: usize,
    /// Bounds on compiling one module (time, memory, how many at once).
    pub compile: CompileLimits,
    /// The compiler child; default: `$AIN_SRE_WASM_COMPILER`, else `ain-sre-jail` next to the
    /// running executable.
    pub compiler_exe: Option<PathBuf>,
    /// Prepared modules kept in memory, in bytes (compiled artifacts plus source); least
    /// recently used modules are dropped beyond it (calls running keep theirs).
    pub max_cached_bytes: u64,
    /// Compiled artifacts kept in `cache_dir`, in bytes; least recently used removed beyond it.
    pub max_disk_cache_bytes: u64,
    /// Refused code hashes remembered (each answers at once on its next prepare).
    pub max_remembered_rejections: usize,
    /// Subscriptions one `poll_oneoff` call may pass; more answer `EINVAL`.
    pub max_poll_subscriptions: u32,
    /// Entries in one call's WASI resource table (streams, pollables).
    pub max_host_resources: usize,
}

impl Default for WasmConfig {
    fn default() -> Self {
        WasmConfig {
            cache_dir: None,
            max_concurrency: 256,
            max_memory_bytes: 1 << 30,
            max_module_bytes: DEFAULT_MAX_MODULE_BYTES,
            max_component_bytes: 64 << 20,
            max_table_elements: 100_000,
            epoch_tick: Duration::from_millis(1),
            max_wasm_stack: 512 << 10,
            compile: CompileLimits::default(),
            compiler_exe: None,
            max_cached_bytes: 256 << 20,
            max_disk_cache_bytes: 1 << 30,
            max_remembered_rejections: 4096,
            max_poll_subscriptions: 1024,
            max_host_resources: 4096,
        }
    }
}

/// Linked code ready to instantiate: a module or a component.
#[derive(Clone)]
enum Pre {
    Module(InstancePre<StoreData>),
    Component(component::Pre),
}

/// A module ready to run: compiled for the plain engine, and for the fuel engine on first use.
pub struct PreparedWasm {
    code: FunctionCode,
    plain: Pre,
    fueled: OnceCell<Pre>,
    /// Bytes of compiled artifacts held (plain, plus fueled once compiled).
    compiled_bytes: AtomicUsize,
    /// When it was last used, in [`Inner::clock`] ticks: the LRU order.
    last_used: AtomicU64,
}

impl PreparedWasm {
    /// Bytes this module holds: its compiled code, and its source (kept to compile the fuel
    /// variant on first use).
    fn size(&self) -> u64 {
        (self.compiled_bytes.load(Ordering::Relaxed) + self.code.bytes.len()) as u64
    }
}

impl std::fmt::Debug for PreparedWasm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PreparedWasm({:?})", self.code)
    }
}

/// The WASM sandbox tier. Cheap to clone; clones share engines, cache and pool.
#[derive(Clone)]
pub struct WasmSandbox {
    inner: Arc<Inner>,
}

/// Refused code hashes and why, with their insertion order for a bounded, FIFO memory.
type Rejections = (
    HashMap<[u8; 32], String>,
    std::collections::VecDeque<[u8; 32]>,
);

struct Inner {
    cfg: WasmConfig,
    plain: EngineSet,
    fuel: EngineSet,
    /// Made on the first component (their pools are not reserved before).
    components: std::sync::OnceLock<Arc<component::ComponentEngines>>,
    /// Engines the epoch ticker drives besides the module engines (the component engines).
    ticked: Arc<std::sync::OnceLock<[Engine; 2]>>,
    slots: Semaphore,
    compiler: compile::Compiler,
    prepared: Mutex<HashMap<[u8; 32], Arc<PreparedWasm>>>,
    rejected: Mutex<Rejections>,
    clock: AtomicU64,
    ticker_stop: Arc<AtomicBool>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

impl WasmSandbox {
    /// Builds the engines and starts the epoch ticker.
    pub fn new(cfg: WasmConfig) -> Result<WasmSandbox, SandboxError> {
        let plain = EngineSet::new(&cfg, false)?;
        let fuel = EngineSet::new(&cfg, true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let ticked: Arc<std::sync::OnceLock<[Engine; 2]>> = Arc::default();
        {
            // One thread drives every deadline: epochs are a counter bump, so it costs nothing
            // measurable, and guests are interrupted within one tick of their deadline.
            let (a, b, more, stop, tick) = (
                plain.engine.clone(),
                fuel.engine.clone(),
                ticked.clone(),
                stop.clone(),
                cfg.epoch_tick,
            );
            std::thread::Builder::new()
                .name("ain-sre-wasm-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(tick);
                        a.increment_epoch();
                        b.increment_epoch();
                        for e in more.get().into_iter().flatten() {
                            e.increment_epoch();
                        }
                    }
                })
                .map_err(|e| SandboxError::Host {
                    tier: Tier::Wasm,
                    why: format!("epoch thread: {e}"),
                })?;
        }
        let slots = Semaphore::new(cfg.max_concurrency as usize);
        let unavailable = |why: String| SandboxError::Unavailable {
            tier: Tier::Wasm,
            why,
        };
        let exe = compile::find_compiler(cfg.compiler_exe.as_deref()).map_err(unavailable)?;
        let disk = match &cfg.cache_dir {
            Some(dir) => Some(
                compile::DiskCache::new(dir.clone(), cfg.max_disk_cache_bytes)
                    .map_err(unavailable)?,
            ),
            None => None,
        };
        let compiler = compile::Compiler::new(exe, cfg.compile.clone(), disk);
        Ok(WasmSandbox {
            inner: Arc::new(Inner {
                cfg,
                plain,
                fuel,
                components: std::sync::OnceLock::new(),
                ticked,
                slots,
                compiler,
                prepared: Mutex::new(HashMap::new()),
                rejected: Mutex::default(),
                clock: AtomicU64::new(0),
                ticker_stop: stop,
            }),
        })
    }

    /// Modules compiled and cached in memory.
    pub fn cached_modules(&self) -> usize {
        self.inner.prepared.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether the module with this code hash is compiled and cached in memory.
    pub fn is_cached(&self, hash: &[u8; 32]) -> bool {
        self.inner
            .prepared
            .lock()
            .map(|m| m.contains_key(hash))
            .unwrap_or(false)
    }

    /// Bytes of prepared modules cached in memory (compiled artifacts plus source).
    pub fn cached_bytes(&self) -> u64 {
        self.inner
            .prepared
            .lock()
            .map(|m| m.values().map(|p| p.size()).sum())
            .unwrap_or(0)
    }

    /// Adds `p` to the in-memory cache, then drops the least recently used modules until the
    /// cache is within [`WasmConfig::max_cached_bytes`] (the newest always stays).
    fn cache(&self, hash: [u8; 32], p: Arc<PreparedWasm>) {
        let Ok(mut m) = self.inner.prepared.lock() else {
            return;
        };
        m.insert(hash, p);
        let max = self.inner.cfg.max_cached_bytes;
        let mut total: u64 = m.values().map(|p| p.size()).sum();
        while total > max && m.len() > 1 {
            let Some((&oldest, size)) = m
                .iter()
                .filter(|(h, _)| **h != hash)
                .min_by_key(|(_, p)| p.last_used.load(Ordering::Relaxed))
                .map(|(h, p)| (h, p.size()))
            else {
                break;
            };
            m.remove(&oldest);
            total -= size;
        }
    }

    fn remember_rejection(&self, hash: [u8; 32], why: &str) {
        let Ok(mut r) = self.inner.rejected.lock() else {
            return;
        };
        let (map, order) = &mut *r;
        if map.insert(hash, why.to_owned()).is_none() {
            order.push_back(hash);
        }
        while order.len() > self.inner.cfg.max_remembered_rejections {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
    }

    fn tick(&self) -> u64 {
        self.inner.clock.fetch_add(1, Ordering::Relaxed)
    }

    async fn fueled(&self, p: &PreparedWasm) -> Result<Pre, SandboxError> {
        let inner = self.inner.clone();
        p.fueled
            .get_or_try_init(|| async {
                let (pre, size) = match &p.plain {
                    Pre::Module(_) => {
                        let (pre, size) = inner
                            .fuel
                            .compile(&inner.compiler, &inner.cfg, &p.code)
                            .await?;
                        (Pre::Module(pre), size)
                    }
                    Pre::Component(_) => {
                        let engines = self.component_engines()?;
                        let (pre, size) = self.compile_component(&engines.fuel, &p.code).await?;
                        (Pre::Component(pre), size)
                    }
                };
                p.compiled_bytes.fetch_add(size, Ordering::Relaxed);
                Ok::<_, SandboxError>(pre)
            })
            .await
            .cloned()
    }
}

impl Sandbox for WasmSandbox {
    type Prepared = Arc<PreparedWasm>;

    fn tier(&self) -> Tier {
        Tier::Wasm
    }

    async fn prepare(&self, code: &FunctionCode) -> Result<Arc<PreparedWasm>, SandboxError> {
        if let Some(p) = self
            .inner
            .prepared
            .lock()
            .ok()
            .and_then(|m| m.get(&code.hash).cloned())
        {
            p.last_used.store(self.tick(), Ordering::Relaxed);
            return Ok(p);
        }
        if let Some(why) = self
            .inner
            .rejected
            .lock()
            .ok()
            .and_then(|r| r.0.get(&code.hash).cloned())
        {
            return Err(SandboxError::Rejected(why));
        }
        let inner = self.inner.clone();
        let compiled = if component::is_component_code(&code.bytes) {
            match self.component_engines() {
                Ok(engines) => self
                    .compile_component(&engines.plain, code)
                    .await
                    .map(|(pre, size)| (Pre::Component(pre), size)),
                Err(e) => Err(e),
            }
        } else {
            inner
                .plain
                .compile(&inner.compiler, &inner.cfg, code)
                .await
                .map(|(pre, size)| (Pre::Module(pre), size))
        };
        let (plain, size) = match compiled {
            Ok(p) => p,
            Err(SandboxError::Rejected(why)) => {
                self.remember_rejection(code.hash, &why);
                return Err(SandboxError::Rejected(why));
            }
            Err(e) => return Err(e),
        };
        let prepared = Arc::new(PreparedWasm {
            code: code.clone(),
            plain,
            fueled: OnceCell::new(),
            compiled_bytes: AtomicUsize::new(size),
            last_used: AtomicU64::new(self.tick()),
        });
        self.cache(code.hash, prepared.clone());
        Ok(prepared)
    }

    async fn run(
        &self,
        prepared: &Arc<PreparedWasm>,
        call: Invocation,
    ) -> Result<Outcome, SandboxError> {
        let host = |why: String| SandboxError::Host {
            tier: Tier::Wasm,
            why,
        };
        let _slot = self
            .inner
            .slots
            .acquire()
            .await
            .map_err(|e| host(format!("pool closed: {e}")))?;
        let pre = match call.limits.fuel {
            Some(_) => self.fueled(prepared).await?,
            None => prepared.plain.clone(),
        };
        let fuel = call.limits.fuel.is_some();
        let memory_limit = (call
            .limits
            .memory_bytes
            .min(self.inner.cfg.max_memory_bytes)) as usize;
        let table_limit = self.inner.cfg.max_table_elements;
        let host_resources = self.inner.cfg.max_host_resources;
        // Supervised in place (no task hop to another thread): a host-side panic inside WASI
        // becomes a host fault, not a crash of the worker.
        use futures_util::FutureExt;
        // Either, not a box: the module path stays free of an allocation per call.
        use futures_util::future::Either;
        let run = match pre {
            Pre::Module(pre) => {
                let set = if fuel {
                    &self.inner.fuel
                } else {
                    &self.inner.plain
                };
                Either::Left(run_store(
                    set.engine.clone(),
                    pre,
                    call,
                    memory_limit,
                    table_limit,
                    host_resources,
                ))
            }
            Pre::Component(pre) => {
                let engines = self.component_engines()?;
                let set = if fuel { &engines.fuel } else { &engines.plain };
                Either::Right(component::run_store(
                    set.engine.clone(),
                    pre,
                    call,
                    memory_limit,
                    table_limit,
                    host_resources,
                ))
            }
        };
        std::panic::AssertUnwindSafe(run)
            .catch_unwind()
            .await
            .map_err(|_| host("the call panicked inside the host".into()))?
    }
}
