//! Components in the WASM tier: WASI 0.2 `wasi:cli` commands (stdin → stdout, exit code).
//!
//! A component is told from a preview-1 module by its binary header at prepare time
//! ([`is_component`]). It gets everything a module gets: the compiler child (with the component
//! model switched on), the in-memory `InstancePre` cache and the on-disk artifact cache, the
//! pooling allocator (an engine pair of its own, made on the first component, so a worker that
//! runs only modules reserves nothing for components), the epoch deadline, optional fuel, a
//! memory limit over the sum of all the component's linear memories, capped stdout and stderr,
//! and a fresh `Store` per call.
//!
//! Imports are checked before compiling ([`check`]): only WASI 0.2 interfaces are linked. The
//! standard streams, environment, exit, clocks, randomness and I/O polling are real. Every
//! packager's C library (componentize-py's CPython, componentize-js's StarlingMonkey) also
//! imports `wasi:filesystem` and `wasi:sockets` whether the program uses them or not, so those
//! are linked, but inert: there are no preopened directories (no descriptor can ever exist), TCP,
//! UDP and name lookup are switched off and every address is refused. `wasi:http` outgoing
//! requests are linked and go through the call's egress proxy (`http.rs`): denied when the call
//! has no egress. Other WASI packages and non-WASI imports are refused at prepare time, naming
//! the import.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{
    Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter, Store,
    UpdateDeadline,
};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::capture::Capture;
use super::{Failure, Invocation, Outcome, SandboxError, Tier, WasmConfig};

/// A component ready to instantiate, shared by all calls.
pub(crate) type Pre = CommandPre<ComponentData>;

pub(crate) use super::component_check::{check, is_component, is_component_code};

/// Per-store host state of a component call.
pub(crate) struct ComponentData {
    ctx: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    hooks: super::http::EgressHooks,
    /// The call's proxy, when it has egress: its connections end when the store is dropped.
    _egress: Option<crate::egress::Attached>,
    limiter: TotalLimiter,
    stdout: Capture,
    deadline: Instant,
    timed_out: bool,
}

impl WasiView for ComponentData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for ComponentData {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// A component has several core instances, memories and tables: the memory limit holds over
/// the sum of its linear memories, not each one.
struct TotalLimiter {
    memory_limit: usize,
    table_limit: usize,
    total_memory: usize,
    peak_memory: usize,
    memory_denied: bool,
}

/// Core instances, memories and tables one component may have (per store).
const MAX_CORE_INSTANCES: usize = 64;
const MAX_MEMORIES: usize = 8;
const MAX_TABLES: usize = 16;

impl ResourceLimiter for TotalLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.total_memory - current.min(self.total_memory) + desired;
        if total > self.memory_limit {
            self.memory_denied = true;
            return Ok(false);
        }
        self.total_memory = total;
        self.peak_memory = self.peak_memory.max(total);
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
        MAX_CORE_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

/// One component engine (with or without fuel) and its linker.
pub(crate) struct ComponentEngine {
    pub(crate) engine: Engine,
    linker: Linker<ComponentData>,
    pub(crate) fuel: bool,
}

impl ComponentEngine {
    pub(crate) fn new(cfg: &WasmConfig, fuel: bool) -> Result<ComponentEngine, SandboxError> {
        let host = |why: String| SandboxError::Host {
            tier: Tier::Wasm,
            why,
        };
        let n = cfg.max_concurrency;
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(n)
            .total_core_instances(n * 8)
            .total_memories(n * 2)
            .total_tables(n * 8)
            .total_stacks(n)
            .max_core_instances_per_component(MAX_CORE_INSTANCES as u32)
            .max_memories_per_component(MAX_MEMORIES as u32)
            .max_tables_per_component(MAX_TABLES as u32)
            .max_memories_per_module(1)
            .max_tables_per_module(4)
            // Packaged interpreters carry large instance state (CPython's is ~1 MiB).
            .max_component_instance_size(4 << 20)
            .max_core_instance_size(4 << 20)
            .table_elements(cfg.max_table_elements)
            .max_memory_size(cfg.max_memory_bytes as usize)
            .pagemap_scan(wasmtime::Enabled::Auto)
            .linear_memory_keep_resident(1 << 20)
            .table_keep_resident(64 << 10);
        super::stack_policy(&mut pool);
        let mut c = super::compile::code_config(fuel, cfg.max_wasm_stack, true);
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&c).map_err(|e| host(format!("component engine: {e}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| host(format!("linking WASI 0.2: {e}")))?;
        // Outgoing requests only through the call's egress proxy (`http.rs`).
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(|e| host(format!("linking wasi:http: {e}")))?;
        Ok(ComponentEngine {
            engine,
            linker,
            fuel,
        })
    }

    /// Links a compiled component: refused when it is not a `wasi:cli` command.
    pub(crate) fn link(&self, component: &Component) -> Result<Pre, SandboxError> {
        let pre = self
            .linker
            .instantiate_pre(component)
            .map_err(|e| SandboxError::Rejected(format!("cannot link component: {e:#}")))?;
        CommandPre::new(pre).map_err(|e| {
            SandboxError::Rejected(format!("component is not a wasi:cli command: {e:#}"))
        })
    }
}

/// Runs one call of a component in a fresh store.
pub(crate) async fn run_store(
    engine: Engine,
    pre: Pre,
    call: Invocation,
    memory_limit: usize,
    table_limit: usize,
    host_resources: usize,
) -> Result<Outcome, SandboxError> {
    let limits = &call.limits;
    let stdout = Capture::head(limits.output_bytes);
    let stderr = Capture::tail(limits.stderr_bytes);
    let name = call
        .guest_env()
        .find(|(k, _)| *k == "SRE_FUNCTION")
        .map(|(_, v)| v.to_owned());
    let mut wasi = wasmtime_wasi::WasiCtxBuilder::new();
    super::set_stdin(&mut wasi, &call.input);
    wasi.stdout(stdout.clone())
        .stderr(stderr.clone())
        .arg(name.as_deref().unwrap_or("main"))
        // The inert network: nothing is switched on, and no address passes the check.
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }));
    for (k, v) in call.guest_env() {
        wasi.env(k, v);
    }
    let started = Instant::now();
    let mut table = ResourceTable::new();
    // Host objects a call can make (pollables, streams) live outside its memory limit.
    table.set_max_capacity(host_resources);
    let egress = match &limits.network {
        crate::NetworkPolicy::Proxy(e) => Some(e.0.attach()),
        crate::NetworkPolicy::None => None,
    };
    let data = ComponentData {
        ctx: wasi.build(),
        table,
        http: WasiHttpCtx::new(),
        hooks: super::http::EgressHooks::new(egress.as_ref().map(|a| a.connector())),
        _egress: egress,
        limiter: TotalLimiter {
            memory_limit,
            table_limit,
            total_memory: 0,
            peak_memory: 0,
            memory_denied: false,
        },
        stdout: stdout.clone(),
        deadline: started + limits.wall_time,
        timed_out: false,
    };
    let host = |why: String| SandboxError::Host {
        tier: Tier::Wasm,
        why,
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
        store
            .set_fuel(fuel)
            .map_err(|e| host(format!("fuel: {e}")))?;
        store
            .fuel_async_yield_interval(Some(1_000_000))
            .map_err(|e| host(format!("fuel: {e}")))?;
    }
    let cpu_before = super::thread_cpu();
    let body = async {
        let command = pre.instantiate_async(&mut store).await?;
        command.wasi_cli_run().call_run(&mut store).await
    };
    let result = tokio::time::timeout(limits.wall_time + Duration::from_millis(50), body).await;
    let data = store.data();
    let usage = super::usage_since(started, cpu_before, data.limiter.peak_memory);
    let end = match result {
        Err(_) => Err(Failure::Timeout),
        Ok(Ok(Ok(()))) => Ok(0),
        // An interpreter turns a refused `memory.grow` into its own out-of-memory error and
        // fails: that is the memory limit, not the program's own failure.
        Ok(Ok(Err(()))) if data.limiter.memory_denied => Err(Failure::Oom),
        // `run` returned `err`: the command's failure status.
        Ok(Ok(Err(()))) => Ok(1),
        Ok(Err(e)) => super::ended(&e, data.timed_out, data.limiter.memory_denied, true),
    };
    Ok(super::outcome(end, usage, &stdout, &stderr))
}

/// The component engines, made on the first component a worker prepares.
pub(crate) struct ComponentEngines {
    pub(crate) plain: ComponentEngine,
    pub(crate) fuel: ComponentEngine,
}

impl ComponentEngines {
    pub(crate) fn new(cfg: &WasmConfig) -> Result<Arc<ComponentEngines>, SandboxError> {
        Ok(Arc::new(ComponentEngines {
            plain: ComponentEngine::new(cfg, false)?,
            fuel: ComponentEngine::new(cfg, true)?,
        }))
    }
}

impl super::WasmSandbox {
    /// The component engines, made (and handed to the epoch ticker) on first use.
    pub(super) fn component_engines(&self) -> Result<Arc<ComponentEngines>, SandboxError> {
        let inner = &self.inner;
        if let Some(e) = inner.components.get() {
            return Ok(e.clone());
        }
        let made = ComponentEngines::new(&inner.cfg)?;
        // Two racing first components: one set wins, the other is dropped unused.
        let engines = inner.components.get_or_init(|| made).clone();
        let _ = inner
            .ticked
            .set([engines.plain.engine.clone(), engines.fuel.engine.clone()]);
        Ok(engines)
    }

    /// Checks and compiles a component for `set` (in the compiler child, through the disk
    /// cache), then links it. Returns it and the size of its compiled artifact.
    pub(super) async fn compile_component(
        &self,
        set: &ComponentEngine,
        code: &super::FunctionCode,
    ) -> Result<(Pre, usize), SandboxError> {
        let inner = &self.inner;
        let max = inner.cfg.max_component_bytes;
        if code.bytes.len() > max {
            return Err(SandboxError::Rejected(format!(
                "component is {} bytes, over the {max}-byte limit",
                code.bytes.len()
            )));
        }
        let bytes = code.bytes.clone();
        // One linear pass over megabytes: off the async workers.
        let binary = tokio::task::spawn_blocking(move || {
            let binary = wat::parse_bytes(&bytes)
                .map_err(|e| format!("invalid WebAssembly component: {e:#}"))?
                .into_owned();
            check(&binary).map(|()| binary)
        })
        .await
        .map_err(|e| SandboxError::Host {
            tier: Tier::Wasm,
            why: format!("check task: {e}"),
        })?
        .map_err(SandboxError::Rejected)?;
        let key = format!(
            "{}-component-{}",
            hex::encode(code.hash),
            if set.fuel { "fuel" } else { "plain" }
        );
        let (component, size) = inner
            .compiler
            .compile_component(
                &set.engine,
                set.fuel,
                inner.cfg.max_wasm_stack,
                binary,
                &key,
            )
            .await?;
        Ok((set.link(&component)?, size))
    }
}
