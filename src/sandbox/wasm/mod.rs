//! The WASM tier: wasmtime with WASI preview 1, the fastest and most portable sandbox.
//!
//! - One [`wasmtime::Engine`] per configuration (with and without fuel), Cranelift only, with the
//!   proposals a stdin → stdout function does not need turned off (threads, shared memory, GC,
//!   exceptions, memory64, multi-memory, component model, relaxed SIMD, stack switching).
//! - The pooling allocator, with `linear_memory_keep_resident` / `table_keep_resident` so slot
//!   reuse is cheap; a semaphore sized to the pool so calls queue instead of failing.
//! - Modules compiled once per code hash: in memory (an `InstancePre` shared by all calls) and on
//!   disk through wasmtime's compilation cache (keyed by module hash and engine version).
//! - Per call: a new `Store`, a fresh WASI context with stdin from the input, stdout and stderr
//!   captured with hard caps, no preopens, no environment beyond `SRE_*`, no args beyond the
//!   function name, and no sockets (refused at prepare time).
//! - Limits inside the engine: an epoch deadline driven by one ticker thread (the store yields to
//!   tokio at every tick so a busy guest never blocks the runtime), optional fuel, and a
//!   `ResourceLimiter` for memory and tables. A tokio timeout is only the outer backstop.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OnceCell, Semaphore};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, InstancePre, Linker, Module,
    PoolingAllocationConfig, ResourceLimiter, Store, Strategy, Trap, UpdateDeadline,
};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;

use super::{Failure, FunctionCode, Invocation, Outcome, Sandbox, SandboxError, Tier, Usage};

mod capture;
mod imports;
pub mod shape;

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
    /// Table elements a module may have.
    pub max_table_elements: usize,
    /// Epoch tick: the resolution of deadlines.
    pub epoch_tick: Duration,
    /// Largest guest stack.
    pub max_wasm_stack: usize,
}

impl Default for WasmConfig {
    fn default() -> Self {
        WasmConfig {
            cache_dir: None,
            max_concurrency: 256,
            max_memory_bytes: 1 << 30,
            max_module_bytes: 16 << 20,
            max_table_elements: 100_000,
            epoch_tick: Duration::from_millis(1),
            max_wasm_stack: 512 << 10,
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
            .table_keep_resident(64 << 10)
            // Async stacks are zeroed on release (below): the first 64 KiB with memset, the rest
            // decommitted, so a pool of stacks does not stay resident at its deepest use.
            .async_stack_keep_resident(64 << 10);
        let mut c = Config::new();
        c.strategy(Strategy::Cranelift)
            .epoch_interruption(true)
            .consume_fuel(fuel)
            .max_wasm_stack(cfg.max_wasm_stack)
            // Threads, shared memory, function references and exceptions are not compiled in
            // at all (no `threads` or `gc` feature); the rest is switched off here.
            .wasm_gc(false)
            .wasm_memory64(false)
            .wasm_multi_memory(false)
            .wasm_component_model(false)
            .wasm_relaxed_simd(false)
            .wasm_stack_switching(false)
            .cranelift_nan_canonicalization(true)
            // Defence in depth between tenants: a pooled stack never carries one guest's data
            // to the next (the docs' advice for pooled, multi-tenant use).
            .async_stack_zeroing(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        if let Some(dir) = &cfg.cache_dir {
            std::fs::create_dir_all(dir)
                .map_err(|e| host(format!("cache dir {}: {e}", dir.display())))?;
            let mut cache_cfg = wasmtime::CacheConfig::new();
            cache_cfg.with_directory(dir);
            let cache = wasmtime::Cache::new(cache_cfg)
                .map_err(|e| host(format!("compilation cache: {e}")))?;
            c.cache(Some(cache));
        }
        let engine = Engine::new(&c).map_err(|e| host(format!("engine: {e}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut linker, |d: &mut StoreData| &mut d.wasi)
            .map_err(|e| host(format!("linking WASI: {e}")))?;
        Ok(EngineSet { engine, linker })
    }

    fn compile(
        &self,
        code: &FunctionCode,
        max_bytes: usize,
    ) -> Result<InstancePre<StoreData>, SandboxError> {
        if code.bytes.len() > max_bytes {
            return Err(SandboxError::Rejected(format!(
                "module is {} bytes, over the {max_bytes}-byte limit",
                code.bytes.len()
            )));
        }
        shape::check(&code.bytes).map_err(SandboxError::Rejected)?;
        let module = Module::new(&self.engine, &code.bytes)
            .map_err(|e| SandboxError::Rejected(format!("invalid WebAssembly module: {e:#}")))?;
        imports::check(&module).map_err(SandboxError::Rejected)?;
        self.linker
            .instantiate_pre(&module)
            .map_err(|e| SandboxError::Rejected(format!("cannot link module: {e:#}")))
    }
}

/// A module ready to run: compiled for the plain engine, and for the fuel engine on first use.
pub struct PreparedWasm {
    code: FunctionCode,
    plain: InstancePre<StoreData>,
    fueled: OnceCell<InstancePre<StoreData>>,
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
    slots: Semaphore,
    prepared: Mutex<HashMap<[u8; 32], Arc<PreparedWasm>>>,
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
        {
            // One thread drives every deadline: epochs are a counter bump, so it costs nothing
            // measurable, and guests are interrupted within one tick of their deadline.
            let (a, b, stop, tick) = (
                plain.engine.clone(),
                fuel.engine.clone(),
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
                    }
                })
                .map_err(|e| SandboxError::Host {
                    tier: Tier::Wasm,
                    why: format!("epoch thread: {e}"),
                })?;
        }
        let slots = Semaphore::new(cfg.max_concurrency as usize);
        Ok(WasmSandbox {
            inner: Arc::new(Inner {
                cfg,
                plain,
                fuel,
                slots,
                prepared: Mutex::new(HashMap::new()),
                ticker_stop: stop,
            }),
        })
    }

    /// Modules compiled and cached in memory.
    pub fn cached_modules(&self) -> usize {
        self.inner.prepared.lock().map(|m| m.len()).unwrap_or(0)
    }

    async fn fueled(&self, p: &PreparedWasm) -> Result<InstancePre<StoreData>, SandboxError> {
        let inner = self.inner.clone();
        p.fueled
            .get_or_try_init(|| async {
                let code = p.code.clone();
                tokio::task::spawn_blocking(move || {
                    inner.fuel.compile(&code, inner.cfg.max_module_bytes)
                })
                .await
                .map_err(|e| SandboxError::Host {
                    tier: Tier::Wasm,
                    why: format!("compile task: {e}"),
                })?
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
            return Ok(p);
        }
        let inner = self.inner.clone();
        let c = code.clone();
        // Compilation is CPU-bound: keep it off the async workers.
        let plain = tokio::task::spawn_blocking(move || {
            inner.plain.compile(&c, inner.cfg.max_module_bytes)
        })
        .await
        .map_err(|e| SandboxError::Host {
            tier: Tier::Wasm,
            why: format!("compile task: {e}"),
        })??;
        let prepared = Arc::new(PreparedWasm {
            code: code.clone(),
            plain,
            fueled: OnceCell::new(),
        });
        if let Ok(mut m) = self.inner.prepared.lock() {
            m.insert(code.hash, prepared.clone());
        }
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
        let (pre, engine) = match call.limits.fuel {
            Some(_) => (self.fueled(prepared).await?, self.inner.fuel.engine.clone()),
            None => (prepared.plain.clone(), self.inner.plain.engine.clone()),
        };
        let memory_limit = (call
            .limits
            .memory_bytes
            .min(self.inner.cfg.max_memory_bytes)) as usize;
        let table_limit = self.inner.cfg.max_table_elements;
        // Supervised in place (no task hop to another thread): a host-side panic inside WASI
        // becomes a host fault, not a crash of the worker.
        use futures_util::FutureExt;
        std::panic::AssertUnwindSafe(run_store(engine, pre, call, memory_limit, table_limit))
            .catch_unwind()
            .await
            .map_err(|_| host("the call panicked inside the host".into()))?
    }
}

async fn run_store(
    engine: Engine,
    pre: InstancePre<StoreData>,
    call: Invocation,
    memory_limit: usize,
    table_limit: usize,
) -> Result<Outcome, SandboxError> {
    let limits = &call.limits;
    let stdout = Capture::head(limits.output_bytes);
    let stderr = Capture::tail(limits.stderr_bytes);
    let name = call
        .guest_env()
        .find(|(k, _)| *k == "SRE_FUNCTION")
        .map(|(_, v)| v.to_owned());
    let mut wasi = wasmtime_wasi::WasiCtxBuilder::new();
    wasi.stdin(MemoryInputPipe::new(call.input.to_vec()))
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .arg(name.as_deref().unwrap_or("main"));
    for (k, v) in call.guest_env() {
        wasi.env(k, v);
    }
    let started = Instant::now();
    let data = StoreData {
        wasi: wasi.build_p1(),
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
    let wall = started.elapsed();
    let data = store.data();
    let usage = Usage {
        wall_us: wall.as_micros() as u64,
        // The guest runs on this thread between awaits; a call this short rarely migrates, and
        // when it does the wall time bounds the error.
        cpu_us: thread_cpu()
            .saturating_sub(cpu_before)
            .min(wall.as_micros() as u64),
        mem_peak_kb: (data.limiter.peak_memory / 1024) as u64,
    };
    let failed = |failure| Outcome::Failed {
        failure,
        stderr_tail: stderr.take(),
        usage,
    };
    if stdout.overflowed() {
        return Ok(failed(Failure::OutputTooLarge));
    }
    let exit_code = match result {
        Err(_) => return Ok(failed(Failure::Timeout)),
        Ok(Ok(())) => 0,
        Ok(Err(e)) => {
            if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
                exit.0
            } else if data.timed_out
                || matches!(
                    e.downcast_ref::<Trap>(),
                    Some(Trap::OutOfFuel | Trap::Interrupt)
                )
            {
                return Ok(failed(Failure::Timeout));
            } else if data.limiter.memory_denied {
                return Ok(failed(Failure::Oom));
            } else if let Some(trap) = e.downcast_ref::<Trap>() {
                return Ok(failed(Failure::Trap(trap.to_string())));
            } else {
                return Ok(failed(Failure::Trap(format!("{e:#}"))));
            }
        }
    };
    Ok(Outcome::Completed {
        exit_code,
        stdout: stdout.take(),
        stderr_tail: stderr.take(),
        usage,
    })
}

/// CPU time of the current thread in microseconds.
fn thread_cpu() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(|t| t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1000)
        .unwrap_or(0)
}
