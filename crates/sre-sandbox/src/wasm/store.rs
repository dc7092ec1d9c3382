//! One call's run: its store and host state (WASI context, captured output, the limiter of
//! memory and tables, the epoch deadline), and how the way it ended becomes an [`Outcome`].
//! The component run path shares the usage and ending helpers.

use std::time::{Duration, Instant};

use wasmtime::{Engine, InstancePre, ResourceLimiter, Store, Trap, UpdateDeadline};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;

use super::capture::Capture;
use super::{Failure, Invocation, Outcome, SandboxError, Tier, Usage};

/// Per-store host state.
pub(super) struct StoreData {
    pub(super) wasi: WasiP1Ctx,
    pub(super) limiter: Limiter,
    /// Checked at every tick so a guest flooding stdout is stopped at once, not at its deadline.
    pub(super) stdout: Capture,
    pub(super) deadline: Instant,
    pub(super) timed_out: bool,
}

/// Enforces the call's memory and table limits and records what the guest asked for.
pub(super) struct Limiter {
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

pub(super) async fn run_store(
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
pub(super) fn thread_cpu() -> u64 {
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
