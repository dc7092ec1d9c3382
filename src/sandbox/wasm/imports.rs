//! What a WASM function may import: a deny-by-default allowlist of WASI preview 1.
//!
//! Only the calls a stdin → stdout function needs are linked: arguments, environment, clocks,
//! randomness, reading and writing its standard streams, polling, yielding and exiting. Filesystem
//! and socket calls are refused at prepare time with a message naming the import, so an author
//! learns at deploy time — not at the first call — that their module cannot work here.

use wasmtime::{ExternType, Module};

/// The WASI preview 1 module name.
const WASI_P1: &str = "wasi_snapshot_preview1";

/// Imports a function may use.
const ALLOWED: &[&str] = &[
    "args_get",
    "args_sizes_get",
    "environ_get",
    "environ_sizes_get",
    "clock_res_get",
    "clock_time_get",
    "random_get",
    "fd_read",
    "fd_write",
    "fd_close",
    "fd_fdstat_get",
    "fd_fdstat_set_flags",
    "fd_seek",
    "fd_sync",
    // Present in most toolchains' start-up code to discover preopened directories; there are
    // none, so they answer EBADF and grant nothing.
    "fd_prestat_get",
    "fd_prestat_dir_name",
    "poll_oneoff",
    "sched_yield",
    "proc_exit",
    "proc_raise",
];

/// Checks every import of `module`; returns a reason naming the first one refused.
pub(crate) fn check(module: &Module) -> Result<(), String> {
    let mut uses_wasi = false;
    for import in module.imports() {
        uses_wasi = true;
        let (m, name) = (import.module(), import.name());
        if m != WASI_P1 {
            return Err(format!(
                "import `{m}::{name}` is not provided: only `{WASI_P1}` host functions are linked"
            ));
        }
        if !matches!(import.ty(), ExternType::Func(_)) {
            return Err(format!("import `{m}::{name}` is not a function"));
        }
        if ALLOWED.contains(&name) {
            continue;
        }
        let why = if name.starts_with("sock_") {
            "sockets are not available to functions (no network)"
        } else if name.starts_with("path_") || name.starts_with("fd_") {
            "filesystem access is not available to functions (no preopened directories)"
        } else {
            "this WASI call is not provided"
        };
        return Err(format!("import `{m}::{name}` refused: {why}"));
    }
    if uses_wasi && !matches!(module.get_export("memory"), Some(ExternType::Memory(_))) {
        return Err(
            "module imports WASI calls but exports no `memory`: WASI needs it to pass data".into(),
        );
    }
    match module.get_export("_start") {
        Some(ExternType::Func(f)) if f.params().len() == 0 && f.results().len() == 0 => Ok(()),
        Some(_) => Err("export `_start` must be a function taking and returning nothing".into()),
        None => Err(
            "module has no `_start` export: build it as a WASI command (wasm32-wasip1 binary)"
                .into(),
        ),
    }
}
