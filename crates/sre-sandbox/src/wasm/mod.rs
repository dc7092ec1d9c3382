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
use std::time::{Duration, Instant};

use tokio::sync::{OnceCell, Semaphore};
use wasmtime::{
    Caller, Engine, Extern, InstanceAllocationStrategy, InstancePre, Linker,
    PoolingAllocationConfig, ResourceLimiter, Store, Trap, UpdateDeadline,
};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;

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
mod imports;
pub mod package;
pub mod shape;

pub use compile::{CHILD_FLAG as COMPILE_CHILD_FLAG, CompileLimits, compile_child_main};

use capture::Capture;

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

/// Per-store host state.
struct StoreData {
    wasi: WasiP1Ctx,
    limiter: Limiter,
    /// Checked at every tick so a guest flooding stdout is stopped at once, not at its deadline.
    stdout: Capture,
    deadline: Instant,
    timed_out: bool,
}

/// Enforces the call's memory and table limits and records what the guest asked for.
struct Limiter {
    memory_limit: usize,
    table_limit: usize,
    peak_memory: usize,
    memory_denied: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_limit {
            self.memory_denied = true;
            return Ok(false);
        }
        self.peak_memory = self.peak_memory.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= self.table_limit)
    }

    fn instances(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        4
    }

    fn memories(&self) -> usize {
        1
    }
}

/// One engine (with or without fuel) and its linker.
struct EngineSet {
    engine: Engine,
    linker: Linker<StoreData>,
    fuel: bool,
}

impl EngineSet {
    fn new(cfg: &WasmConfig, fuel: bool) -> Result<EngineSet, SandboxError> {
        let host = |why: String| SandboxError::Host {
            tier: Tier::Wasm,
            why,
        };
        let mut pool = PoolingAllocationConfig::default();
        pool.total_core_instances(cfg.max_concurrency)
            .total_memories(cfg.max_concurrency)
            .total_tables(cfg.max_concurrency)
            .total_stacks(cfg.max_concurrency)
            .total_component_instances(0)
            .max_memories_per_module(1)
            .max_tables_per_module(4)
            .table_elements(cfg.max_table_elements)
            .max_memory_size(cfg.max_memory_bytes as usize)
            // Reset used slots by scanning for dirty pages (Linux ≥ 6.7, else plain memset) and
            // keep them resident: no madvise, so no TLB-shootdown IPIs or page faults per call.
            .pagemap_scan(wasmtime::Enabled::Auto)
            .linear_memory_keep_resident(1 << 20)
            .table_keep_resident(64 << 10);
        stack_policy(&mut pool);
        let mut c = compile::code_config(fuel, cfg.max_wasm_stack, false);
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&c).map_err(|e| host(format!("engine: {e}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut linker, |d: &mut StoreData| &mut d.wasi)
            .map_err(|e| host(format!("linking WASI: {e}")))?;
        shim_poll_oneoff(&mut linker, cfg.max_poll_subscriptions)
            .map_err(|e| host(format!("linking poll_oneoff: {e}")))?;
        Ok(EngineSet {
            engine,
            linker,
            fuel,
        })
    }

    /// Checks `code` in one linear pass, then compiles it in the compiler child. Returns the
    /// linked module and the size of its compiled artifact.
    async fn compile(
        &self,
        compiler: &compile::Compiler,
        cfg: &WasmConfig,
        code: &FunctionCode,
    ) -> Result<(InstancePre<StoreData>, usize), SandboxError> {
        let max_bytes = cfg.max_module_bytes;
        if code.bytes.len() > max_bytes {
            return Err(SandboxError::Rejected(format!(
                "module is {} bytes, over the {max_bytes}-byte limit",
                code.bytes.len()
            )));
        }
        let bytes = code.bytes.clone();
        // Linear in the module, but up to 16 MiB of text: off the async workers.
        let binary = tokio::task::spawn_blocking(move || {
            checked_binary(&bytes).map_err(SandboxError::Rejected)
        })
        .await
        .map_err(|e| SandboxError::Host {
            tier: Tier::Wasm,
            why: format!("check task: {e}"),
        })??;
        let key = format!(
            "{}-{}",
            hex::encode(code.hash),
            if self.fuel { "fuel" } else { "plain" }
        );
        let (module, size) = compiler
            .compile(&self.engine, self.fuel, cfg.max_wasm_stack, binary, &key)
            .await?;
        let pre = self
            .linker
            .instantiate_pre(&module)
            .map_err(|e| SandboxError::Rejected(format!("cannot link module: {e:#}")))?;
        Ok((pre, size))
    }
}

/// How pooled async (fiber) stacks are recycled; shared by module and component engines.
///
/// They are reused as they are, not zeroed (`async_stack_zeroing(false)` in `code_config`).
/// Zeroing on release cost a `madvise` per call, and with it TLB-shootdown IPIs to every
/// thread of the worker: 16 % of the two-thread profile. What it protected: the stale bytes a
/// stack holds after a call (the previous guest's spilled locals and host frames). No guest
/// can read them: WebAssembly has no instruction that addresses the native stack, locals are
/// zeroed on entry by the compiled code, and everything a guest *can* address (linear
/// memory, tables, globals) is reset or made fresh per call and is not affected by this.
/// Reaching stale stack bytes needs an engine bug (a miscompiled read of an uninitialised
/// slot); zeroing was defence in depth against that, not an isolation boundary.
fn stack_policy(pool: &mut PoolingAllocationConfig) {
    // Without zeroing nothing is decommitted either: a stack stays resident at its deepest use.
    pool.async_stack_keep_resident(0);
}

/// Replaces WASI's `poll_oneoff` with one that refuses more than `max` subscriptions before the
/// host allocates anything for them. The stock one builds host objects for every subscription
/// the guest names, outside the call's memory limit: about 520 bytes each (issue 14: 500,000
/// subscriptions, ~260 MB), bounded only by the store's per-hostcall copy budget (128 MiB of
/// subscriptions and events, some 1.6 million of them).
fn shim_poll_oneoff(linker: &mut Linker<StoreData>, max: u32) -> wasmtime::Result<()> {
    use wasmtime_wasi::p1::wasi_snapshot_preview1::WasiSnapshotPreview1;
    /// WASI preview 1 `errno::inval`.
    const EINVAL: i32 = 28;
    linker.allow_shadowing(true);
    let r = linker
        .func_wrap_async(
            "wasi_snapshot_preview1",
            "poll_oneoff",
            move |mut caller: Caller<'_, StoreData>,
                  (subs, events, n, out): (i32, i32, i32, i32)| {
                Box::new(async move {
                    if n as u32 > max {
                        return Ok(EINVAL);
                    }
                    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
                        wasmtime::bail!("missing required memory export");
                    };
                    // As WASI's own binding does: the store's per-hostcall copy budget first.
                    let fuel = wasmtime::AsContextMut::as_context_mut(&mut caller).hostcall_fuel();
                    let (bytes, data) = memory.data_and_store_mut(&mut caller);
                    WasiSnapshotPreview1::set_hostcall_fuel(&mut data.wasi, fuel);
                    let mut guest = wiggle::GuestMemory::Unshared(bytes);
                    wasmtime_wasi::p1::wasi_snapshot_preview1::poll_oneoff(
                        &mut data.wasi,
                        &mut guest,
                        subs,
                        events,
                        n,
                        out,
                    )
                    .await
                })
            },
        )
        .map(|_| ());
    linker.allow_shadowing(false);
    r
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
    /// Refused code hashes and why, with their insertion order for a bounded, FIFO memory.
    rejected: Mutex<(
        HashMap<[u8; 32], String>,
        std::collections::VecDeque<[u8; 32]>,
    )>,
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

/// Gives the guest `input` on stdin: bytes in memory are shared with the guest's pipe (not
/// copied), a file is read in bounded chunks as the guest consumes it (a 16 MiB `input_ref`
/// is never whole in the worker's memory).
pub(crate) fn set_stdin(wasi: &mut wasmtime_wasi::WasiCtxBuilder, input: &crate::Input) {
    match input {
        crate::Input::Bytes(b) => {
            wasi.stdin(MemoryInputPipe::new(bytes::Bytes::from_owner(b.clone())));
        }
        crate::Input::File { .. } => {
            wasi.stdin(wasmtime_wasi::cli::AsyncStdinStream::new(input.reader()));
        }
    }
}

async fn run_store(
    engine: Engine,
    pre: InstancePre<StoreData>,
    call: Invocation,
    memory_limit: usize,
    table_limit: usize,
    host_resources: usize,
) -> Result<Outcome, SandboxError> {
    let limits = &call.limits;
    let stdout = Capture::head(limits.output_bytes);
    if call.input.len() > 1 << 20 {
        // A large input often means a large output (a transform, an echo).
        stdout.reserve(call.input.len());
    }
    let stderr = Capture::tail(limits.stderr_bytes);
    let name = call
        .guest_env()
        .find(|(k, _)| *k == "SRE_FUNCTION")
        .map(|(_, v)| v.to_owned());
    let mut wasi = wasmtime_wasi::WasiCtxBuilder::new();
    set_stdin(&mut wasi, &call.input);
    wasi.stdout(stdout.clone())
        .stderr(stderr.clone())
        .arg(name.as_deref().unwrap_or("main"));
    for (k, v) in call.guest_env() {
        wasi.env(k, v);
    }
    let started = Instant::now();
    let mut wasi = wasi.build_p1();
    {
        // Host objects a call can make (pollables, streams) live outside its memory limit.
        use wasmtime_wasi::WasiView;
        wasi.ctx().table.set_max_capacity(host_resources);
    }
    let data = StoreData {
        wasi,
        limiter: Limiter {
            memory_limit,
            table_limit,
            peak_memory: 0,
            memory_denied: false,
        },
        stdout: stdout.clone(),
        deadline: started + limits.wall_time,
        timed_out: false,
    };
    let mut store = Store::new(&engine, data);
    store.limiter(|d| &mut d.limiter);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|mut ctx| {
        if ctx.data().stdout.overflowed() {
            return Ok(UpdateDeadline::Interrupt);
        }
        if Instant::now() >= ctx.data().deadline {
            ctx.data_mut().timed_out = true;
            return Ok(UpdateDeadline::Interrupt);
        }
        Ok(UpdateDeadline::Yield(1))
    });
    if let Some(fuel) = limits.fuel {
        store.set_fuel(fuel).map_err(|e| SandboxError::Host {
            tier: Tier::Wasm,
            why: format!("fuel: {e}"),
        })?;
        store
            .fuel_async_yield_interval(Some(1_000_000))
            .map_err(|e| SandboxError::Host {
                tier: Tier::Wasm,
                why: format!("fuel: {e}"),
            })?;
    }
    let cpu_before = thread_cpu();
    let body = async {
        let instance = pre.instantiate_async(&mut store).await?;
        let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
        start.call_async(&mut store, ()).await
    };
    // The epoch deadline stops running code; this backstop also bounds host-side waits
    // (for example a guest sleeping in `poll_oneoff`).
    let result = tokio::time::timeout(limits.wall_time + Duration::from_millis(50), body).await;
    let data = store.data();
    let usage = usage_since(started, cpu_before, data.limiter.peak_memory);
    let end = match result {
        Err(_) => Err(Failure::Timeout),
        Ok(Ok(())) => Ok(0),
        Ok(Err(e)) => ended(&e, data.timed_out, data.limiter.memory_denied, false),
    };
    Ok(outcome(end, usage, &stdout, &stderr))
}

/// What a run that started at `started` (thread CPU `cpu_before`) used. The guest runs on this
/// thread between awaits; a call this short rarely migrates, and when it does the wall time
/// bounds the error.
pub(super) fn usage_since(started: Instant, cpu_before: u64, peak_memory: usize) -> Usage {
    let wall = started.elapsed().as_micros() as u64;
    Usage {
        wall_us: wall,
        cpu_us: thread_cpu().saturating_sub(cpu_before).min(wall),
        mem_peak_kb: (peak_memory / 1024) as u64,
    }
}

/// The outcome of a guest run that ended with `end` (its exit status, or the failure): output
/// past the cap wins over how the run ended, and then no stdout is kept.
pub(super) fn outcome(
    end: Result<i32, Failure>,
    usage: Usage,
    stdout: &Capture,
    stderr: &Capture,
) -> Outcome {
    match (stdout.overflowed(), end) {
        (true, _) => Outcome::Failed {
            failure: Failure::OutputTooLarge,
            stdout: Vec::new(),
            stderr_tail: stderr.take(),
            usage,
        },
        (false, Ok(exit_code)) => Outcome::Completed {
            exit_code,
            stdout: stdout.take(),
            stderr_tail: stderr.take(),
            usage,
        },
        (false, Err(failure)) => Outcome::Failed {
            failure,
            stdout: stdout.take(),
            stderr_tail: stderr.take(),
            usage,
        },
    }
}

/// CPU time of the current thread in microseconds.
fn thread_cpu() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(|t| t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1000)
        .unwrap_or(0)
}

/// How a guest run that returned an error ended: its exit status (`proc_exit`, `exit(n)`), or the
/// failure to report. The epoch deadline and fuel are the time limit; a refused `memory.grow`
/// before a trap is the memory limit. With `exit_after_denied_is_oom`, a non-zero exit after a
/// refused grow is the memory limit too: an interpreter (CPython, StarlingMonkey) turns the
/// refusal into its own out-of-memory error and exits.
pub(super) fn ended(
    e: &wasmtime::Error,
    timed_out: bool,
    memory_denied: bool,
    exit_after_denied_is_oom: bool,
) -> Result<i32, Failure> {
    if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
        if exit_after_denied_is_oom && exit.0 != 0 && memory_denied {
            return Err(Failure::Oom);
        }
        Ok(exit.0)
    } else if timed_out
        || matches!(
            e.downcast_ref::<Trap>(),
            Some(Trap::OutOfFuel | Trap::Interrupt)
        )
    {
        Err(Failure::Timeout)
    } else if memory_denied {
        Err(Failure::Oom)
    } else if let Some(trap) = e.downcast_ref::<Trap>() {
        Err(Failure::Trap(trap.to_string()))
    } else {
        Err(Failure::Trap(format!("{e:#}")))
    }
}
