//! Compilation outside the worker (SECURITY.md row 25).
//!
//! A module's compile cost is not bounded by its size (see `shape`), and a Cranelift compile
//! cannot be cancelled or limited from inside the process running it. So the worker never
//! compiles: it starts a child (its own `ain-sre` binary, or the `ain-sre-jail` helper, in the
//! `--wasm-compile` mode) that caps its own CPU time (`RLIMIT_CPU`) and address space
//! (`RLIMIT_AS`), compiles the module with an engine configured exactly as the worker's
//! ([`code_config`]), and writes wasmtime's
//! precompiled artifact to stdout. The worker kills it at a wall-clock timeout, runs at most a
//! configured number at once, and loads the artifact with [`Module::deserialize`].
//!
//! Artifacts are kept on disk (when a cache directory is configured) in a directory bounded by
//! total size, oldest-used removed first, so a restart does not recompile everything.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;
use wasmtime::component::Component;
use wasmtime::{Config, Engine, Module, Strategy};

use super::super::{SandboxError, Tier};

/// The argument that turns the jail helper into the compiler child.
pub const CHILD_FLAG: &str = "--wasm-compile";

/// Exit code of the child when the module is invalid (its message is on stderr).
const INVALID: i32 = 2;

/// Everything in an engine's configuration that shapes compiled code. The worker adds its
/// runtime-only settings (pooling allocator) on top; the child uses it as is, so the artifact
/// it produces is compatible (`Module::deserialize` checks this and refuses a mismatch).
pub(crate) fn code_config(fuel: bool, max_wasm_stack: usize, component: bool) -> Config {
    let mut c = Config::new();
    c.strategy(Strategy::Cranelift)
        .epoch_interruption(true)
        .consume_fuel(fuel)
        .max_wasm_stack(max_wasm_stack)
        // Threads, shared memory and exceptions are not compiled in at all (no `threads` or
        // `gc` feature); GC, function references (`call_ref`, typed function references) and
        // tail calls (`return_call*`) are switched off here, with the other proposals a
        // stdin → stdout function does not need. A module using any of them is invalid.
        .wasm_gc(false)
        // No setter without wasmtime's `gc` feature, yet on by default: off by flag.
        .wasm_features(wasmtime::WasmFeatures::FUNCTION_REFERENCES, false)
        .wasm_tail_call(false)
        .wasm_memory64(false)
        .wasm_multi_memory(false)
        // On only for the component engines (`component`); a module engine refuses them.
        .wasm_component_model(component)
        .wasm_relaxed_simd(false)
        .wasm_stack_switching(false)
        .cranelift_nan_canonicalization(true)
        // Pooled fiber stacks are not zeroed between calls (see `stack_policy` in the tier),
        // so a stack stays resident at its deepest use: the guest's stack plus 512 KiB for
        // host frames (WASI calls) instead of the default 2 MiB bounds what a pool holds.
        .async_stack_size(max_wasm_stack + (512 << 10))
        .async_stack_zeroing(false);
    c
}

/// Bounds on one compilation.
#[derive(Debug, Clone)]
pub struct CompileLimits {
    /// CPU time of the compiler child (`RLIMIT_CPU`, whole seconds, at least 1).
    pub cpu_time: Duration,
    /// Wall-clock time before the child is killed.
    pub wall_time: Duration,
    /// Address space of the child (`RLIMIT_AS`): its memory bound.
    pub memory_bytes: u64,
    /// Compilations running at once; further ones wait.
    pub max_concurrent: usize,
    /// CPU time of the compiler child for a component (a packaged interpreter is megabytes
    /// of code: CPython is ~10 MB).
    pub component_cpu_time: Duration,
    /// Wall-clock time before a component's compiler child is killed.
    pub component_wall_time: Duration,
    /// Address space of a component's compiler child.
    pub component_memory_bytes: u64,
}

impl Default for CompileLimits {
    fn default() -> Self {
        CompileLimits {
            cpu_time: Duration::from_secs(10),
            wall_time: Duration::from_secs(20),
            memory_bytes: 1 << 30,
            max_concurrent: 2,
            // A debug build takes ~2 min of CPU for CPython; a release build ~15 s.
            component_cpu_time: Duration::from_secs(300),
            component_wall_time: Duration::from_secs(600),
            component_memory_bytes: 4 << 30,
        }
    }
}

/// Finds the compiler child: `configured`, else `$AIN_SRE_WASM_COMPILER`, else the running
/// `ain-sre` binary itself (it has the same mode, and is by construction the same build as the
/// engine that loads the artifact; `cargo run` builds no other binary), else `ain-sre-jail` next
/// to the running executable or one directory up (where `cargo test` binaries find it).
pub(crate) fn find_compiler(configured: Option<&Path>) -> Result<PathBuf, String> {
    let given = configured
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("AIN_SRE_WASM_COMPILER").map(PathBuf::from));
    if let Some(p) = given {
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!(
                "the WASM compiler helper {} does not exist",
                p.display()
            ))
        };
    }
    let exe = std::env::current_exe().map_err(|e| format!("current executable: {e}"))?;
    if exe.file_name().is_some_and(|n| n == "ain-sre") {
        return Ok(exe);
    }
    crate::process::jail_beside(&exe).ok_or_else(|| {
        format!(
            "the ain-sre-jail helper (which compiles WASM modules) is not next to {} (build it, \
             or set AIN_SRE_WASM_COMPILER)",
            exe.display()
        )
    })
}

/// Runs compilations in child processes, a bounded number at once, with an on-disk cache.
pub(crate) struct Compiler {
    exe: PathBuf,
    limits: CompileLimits,
    permits: Semaphore,
    disk: Option<DiskCache>,
}

impl Compiler {
    pub(crate) fn new(exe: PathBuf, limits: CompileLimits, disk: Option<DiskCache>) -> Compiler {
        let permits = Semaphore::new(limits.max_concurrent.max(1));
        Compiler {
            exe,
            limits,
            permits,
            disk,
        }
    }

    /// Compiles `binary` (already checked) for `engine`, whose code configuration is
    /// [`code_config`]`(fuel, max_wasm_stack)`; `key` names it in the disk cache. Returns the
    /// module and the size of its compiled artifact.
    pub(crate) async fn compile(
        &self,
        engine: &Engine,
        fuel: bool,
        max_wasm_stack: usize,
        binary: Vec<u8>,
        key: &str,
    ) -> Result<(Module, usize), SandboxError> {
        match self
            .compile_any(engine, fuel, max_wasm_stack, binary, key, false)
            .await?
        {
            (Compiled::Module(m), size) => Ok((m, size)),
            (Compiled::Component(_), _) => Err(host("a component where a module was due".into())),
        }
    }

    /// As [`Compiler::compile`], for a component (compiled with the component model on).
    pub(crate) async fn compile_component(
        &self,
        engine: &Engine,
        fuel: bool,
        max_wasm_stack: usize,
        binary: Vec<u8>,
        key: &str,
    ) -> Result<(Component, usize), SandboxError> {
        match self
            .compile_any(engine, fuel, max_wasm_stack, binary, key, true)
            .await?
        {
            (Compiled::Component(c), size) => Ok((c, size)),
            (Compiled::Module(_), _) => Err(host("a module where a component was due".into())),
        }
    }

    async fn compile_any(
        &self,
        engine: &Engine,
        fuel: bool,
        max_wasm_stack: usize,
        binary: Vec<u8>,
        key: &str,
        component: bool,
    ) -> Result<(Compiled, usize), SandboxError> {
        if let Some(disk) = &self.disk
            && let Some(artifact) = disk.get(key)
        {
            match load(engine, artifact, component).await {
                Ok(m) => return Ok(m),
                // Written by another wasmtime version or configuration: compile again.
                Err(_) => disk.remove(key),
            }
        }
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| host(format!("{e}")))?;
        let artifact = self
            .run_child(fuel, max_wasm_stack, binary, component)
            .await?;
        if let Some(disk) = &self.disk {
            disk.put(key, &artifact);
        }
        load(engine, artifact, component).await
    }

    async fn run_child(
        &self,
        fuel: bool,
        max_wasm_stack: usize,
        binary: Vec<u8>,
        component: bool,
    ) -> Result<Vec<u8>, SandboxError> {
        // A packaged interpreter is megabytes of code: its compile gets the component bounds.
        let (cpu, mem, wall) = if component {
            (
                self.limits.component_cpu_time.as_secs().max(1),
                self.limits.component_memory_bytes,
                self.limits.component_wall_time,
            )
        } else {
            (
                self.limits.cpu_time.as_secs().max(1),
                self.limits.memory_bytes,
                self.limits.wall_time,
            )
        };
        let mut child = tokio::process::Command::new(&self.exe)
            .arg(CHILD_FLAG)
            .arg(if fuel { "1" } else { "0" })
            .arg(max_wasm_stack.to_string())
            .arg(cpu.to_string())
            .arg(mem.to_string())
            .arg(if component { "component" } else { "module" })
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| host(format!("starting {}: {e}", self.exe.display())))?;
        let mut stdin = child.stdin.take().ok_or_else(|| host("no stdin".into()))?;
        let feed = tokio::spawn(async move {
            // A child that dies early closes the pipe: its exit status tells why.
            let _ = stdin.write_all(&binary).await;
        });
        // Dropping the future on timeout drops the child, which kills it (`kill_on_drop`).
        let out = tokio::time::timeout(wall, child.wait_with_output()).await;
        feed.abort();
        let out = match out {
            Err(_) => {
                return Err(SandboxError::Rejected(format!(
                    "compiling the module took longer than the {} s compile time limit",
                    wall.as_secs_f64()
                )));
            }
            Ok(r) => r.map_err(|e| host(format!("compiler child: {e}")))?,
        };
        if out.status.success() {
            return Ok(out.stdout);
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.trim().lines().last().unwrap_or("").to_owned();
        use std::os::unix::process::ExitStatusExt;
        let signal = out.status.signal();
        let mib = mem >> 20;
        if out.status.code() == Some(INVALID) {
            return Err(SandboxError::Rejected(format!(
                "invalid WebAssembly module: {}",
                stderr.trim()
            )));
        }
        if matches!(signal, Some(libc::SIGXCPU) | Some(libc::SIGKILL)) {
            return Err(SandboxError::Rejected(format!(
                "compiling the module used more than the {cpu} s compile CPU limit"
            )));
        }
        // Rust's allocation-failure message (then SIGABRT), or a mapping the limit refused.
        if stderr.contains("memory allocation of") || stderr.contains("failed to allocate") {
            return Err(SandboxError::Rejected(format!(
                "compiling the module needed more than the {mib} MiB compile memory limit"
            )));
        }
        Err(SandboxError::Rejected(format!(
            "the compiler failed on this module ({}; limits {cpu} s CPU, {mib} MiB): {}",
            out.status, last
        )))
    }
}

/// A compiled artifact, loaded.
enum Compiled {
    Module(Module),
    Component(Component),
}

/// Loads an artifact produced by our own compiler child (or read back from our cache).
async fn load(
    engine: &Engine,
    artifact: Vec<u8>,
    component: bool,
) -> Result<(Compiled, usize), SandboxError> {
    let engine = engine.clone();
    tokio::task::spawn_blocking(move || {
        let size = artifact.len();
        if component {
            #[allow(
                unsafe_code,
                reason = "loading precompiled code is unsafe in wasmtime's API; ours is trusted"
            )]
            // SAFETY: as for modules below: our own compiler child's or cache's bytes.
            let c = unsafe { Component::deserialize(&engine, &artifact) };
            return c
                .map(|c| (Compiled::Component(c), size))
                .map_err(|e| host(format!("loading compiled component: {e:#}")));
        }
        #[allow(
            unsafe_code,
            reason = "loading precompiled code is unsafe in wasmtime's API; ours is trusted"
        )]
        // SAFETY: the bytes are wasmtime's own serialization, written by our compiler child
        // (same binary, `code_config`) or by this worker into its private cache directory;
        // untrusted guest input never reaches this call unconverted. `deserialize` still
        // checks the header, version and configuration and refuses a mismatch.
        let module = unsafe { Module::deserialize(&engine, &artifact) };
        module
            .map(|m| (Compiled::Module(m), size))
            .map_err(|e| host(format!("loading compiled module: {e:#}")))
    })
    .await
    .map_err(|e| host(format!("load task: {e}")))?
}

fn host(why: String) -> SandboxError {
    SandboxError::Host {
        tier: Tier::Wasm,
        why,
    }
}

/// The child's side: `ain-sre-jail --wasm-compile <fuel> <stack> <cpu s> <memory bytes>`,
/// module binary on stdin, artifact on stdout. Never returns.
pub fn compile_child_main() -> ! {
    let args: Vec<String> = std::env::args().skip(2).collect();
    let num = |i: usize| args.get(i).and_then(|a| a.parse::<u64>().ok());
    let (Some(fuel), Some(stack), Some(cpu), Some(mem)) = (num(0), num(1), num(2), num(3)) else {
        eprintln!("usage: ain-sre-jail {CHILD_FLAG} <fuel 0|1> <stack> <cpu s> <memory bytes>");
        std::process::exit(64);
    };
    use nix::sys::resource::{Resource, setrlimit};
    // Die with the worker; bound CPU (SIGXCPU at the soft limit, SIGKILL a second later) and
    // memory; never dump a core of a compiler that hit a limit.
    let limited = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
        .and_then(|_| setrlimit(Resource::RLIMIT_CORE, 0, 0))
        .and_then(|_| setrlimit(Resource::RLIMIT_CPU, cpu, cpu + 1))
        .and_then(|_| setrlimit(Resource::RLIMIT_AS, mem, mem));
    if let Err(e) = limited {
        eprintln!("setting compile limits: {e}");
        std::process::exit(70);
    }
    let mut binary = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut binary) {
        eprintln!("reading the module: {e}");
        std::process::exit(70);
    }
    let component = args.get(4).is_some_and(|a| a == "component");
    let mut config = code_config(fuel == 1, stack as usize, component);
    // One thread: RLIMIT_CPU then bounds wall time too, and no per-thread malloc arenas eat
    // into the address-space limit.
    config.parallel_compilation(false);
    let engine = match Engine::new(&config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("engine: {e:#}");
            std::process::exit(70);
        }
    };
    let artifact = if component {
        engine.precompile_component(&binary)
    } else {
        engine.precompile_module(&binary)
    };
    match artifact {
        Ok(artifact) => {
            let mut out = std::io::stdout().lock();
            if out.write_all(&artifact).and_then(|_| out.flush()).is_err() {
                std::process::exit(70);
            }
            std::process::exit(0)
        }
        Err(e) => {
            eprintln!("{e:#}");
            std::process::exit(INVALID)
        }
    }
}

/// Compiled artifacts on disk, bounded in total size: the least recently used are removed
/// when a new one takes the total over the bound.
pub(crate) struct DiskCache {
    dir: PathBuf,
    max_bytes: u64,
}

impl DiskCache {
    pub(crate) fn new(dir: PathBuf, max_bytes: u64) -> Result<DiskCache, String> {
        std::fs::create_dir_all(&dir).map_err(|e| format!("cache dir {}: {e}", dir.display()))?;
        Ok(DiskCache { dir, max_bytes })
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.cwasm"))
    }

    fn get(&self, key: &str) -> Option<Vec<u8>> {
        let path = self.path(key);
        let bytes = std::fs::read(&path).ok()?;
        // The modification time is the "last used" time the eviction orders by.
        if let Ok(f) = std::fs::File::options().append(true).open(&path) {
            let _ = f.set_modified(SystemTime::now());
        }
        Some(bytes)
    }

    fn remove(&self, key: &str) {
        let _ = std::fs::remove_file(self.path(key));
    }

    fn put(&self, key: &str, artifact: &[u8]) {
        if artifact.len() as u64 > self.max_bytes {
            return;
        }
        // Write then rename: a reader never sees half an artifact.
        let tmp = self.dir.join(format!("{key}.{}.tmp", std::process::id()));
        if std::fs::write(&tmp, artifact).is_err() || std::fs::rename(&tmp, self.path(key)).is_err()
        {
            let _ = std::fs::remove_file(&tmp);
            return;
        }
        self.evict();
    }

    /// Removes the least recently used artifacts until the total is within the bound.
    pub(crate) fn evict(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut files: Vec<(SystemTime, u64, PathBuf)> = entries
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
            .filter_map(|e| {
                let m = e.metadata().ok()?;
                Some((m.modified().ok()?, m.len(), e.path()))
            })
            .collect();
        let mut total: u64 = files.iter().map(|f| f.1).sum();
        files.sort();
        for (_, len, path) in files {
            if total <= self.max_bytes {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                total -= len;
            }
        }
    }
}
