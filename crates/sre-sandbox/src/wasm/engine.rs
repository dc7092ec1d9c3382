//! Engine set-up, apart from the run path: one wasmtime engine per configuration (with and
//! without fuel) on the pooling allocator, its linker with WASI preview 1 and the bounded
//! `poll_oneoff`, and the check-then-compile of a module into linked code.

use wasmtime::{
    Caller, Engine, Extern, InstanceAllocationStrategy, InstancePre, Linker,
    PoolingAllocationConfig,
};

use super::store::StoreData;
use super::{FunctionCode, SandboxError, Tier, WasmConfig, checked_binary, compile};

/// One engine (with or without fuel) and its linker.
pub(super) struct EngineSet {
    pub(super) engine: Engine,
    pub(super) linker: Linker<StoreData>,
    pub(super) fuel: bool,
}

impl EngineSet {
    pub(super) fn new(cfg: &WasmConfig, fuel: bool) -> Result<EngineSet, SandboxError> {
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
    pub(super) async fn compile(
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
pub(super) fn stack_policy(pool: &mut PoolingAllocationConfig) {
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
