//! What a WASM function may import: a deny-by-default allowlist of WASI preview 1.
//!
//! Only the calls a stdin → stdout function needs are linked: arguments, environment, clocks,
//! randomness, reading and writing its standard streams, polling, yielding and exiting. Filesystem
//! and socket calls are refused at prepare time with a message naming the import, so an author
//! learns at deploy time — not at the first call — that their module cannot work here.

use wasmparser::{ExternalKind, Parser, Payload, TypeRef};

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

/// Checks every import and the exports of a binary module, before it is compiled (a refused
/// module costs one linear read, never a compile); returns a reason naming the first problem.
/// A module that does not parse is left to the compiler, which reports it better.
pub(crate) fn check(binary: &[u8]) -> Result<(), String> {
    // Function index space: imported functions first, then defined ones; each has a type.
    let mut func_types: Vec<u32> = Vec::new();
    // For each type: whether it is a function taking and returning nothing.
    let mut unit_types: Vec<bool> = Vec::new();
    let mut exports: Vec<(String, ExternalKind, u32)> = Vec::new();
    let mut uses_wasi = false;
    for payload in Parser::new(0).parse_all(binary) {
        let Ok(payload) = payload else {
            return Ok(());
        };
        match payload {
            Payload::TypeSection(reader) => {
                for rec in reader.into_iter().flatten() {
                    for sub in rec.types() {
                        unit_types.push(match &sub.composite_type.inner {
                            wasmparser::CompositeInnerType::Func(f) => {
                                f.params().is_empty() && f.results().is_empty()
                            }
                            _ => false,
                        });
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let Ok(import) = import else {
                        return Ok(());
                    };
                    uses_wasi = true;
                    let (m, name) = (import.module, import.name);
                    if m != WASI_P1 {
                        return Err(format!(
                            "import `{m}::{name}` is not provided: only `{WASI_P1}` host \
                             functions are linked"
                        ));
                    }
                    let TypeRef::Func(ty) = import.ty else {
                        return Err(format!("import `{m}::{name}` is not a function"));
                    };
                    if !ALLOWED.contains(&name) {
                        let why = if name.starts_with("sock_") {
                            "sockets are not available to functions (no network)"
                        } else if name.starts_with("path_") || name.starts_with("fd_") {
                            "filesystem access is not available to functions (no preopened \
                             directories)"
                        } else {
                            "this WASI call is not provided"
                        };
                        return Err(format!("import `{m}::{name}` refused: {why}"));
                    }
                    func_types.push(ty);
                }
            }
            Payload::FunctionSection(reader) => {
                func_types.extend(reader.into_iter().flatten());
            }
            Payload::ExportSection(reader) => {
                for e in reader.into_iter().flatten() {
                    if e.name == "memory" || e.name == "_start" {
                        exports.push((e.name.to_owned(), e.kind, e.index));
                    }
                }
            }
            _ => {}
        }
    }
    let export = |n: &str| exports.iter().find(|(name, ..)| name == n);
    if uses_wasi && !matches!(export("memory"), Some((_, ExternalKind::Memory, _))) {
        return Err(
            "module imports WASI calls but exports no `memory`: WASI needs it to pass data".into(),
        );
    }
    match export("_start") {
        Some((_, ExternalKind::Func, index)) => {
            let unit = func_types
                .get(*index as usize)
                .and_then(|t| unit_types.get(*t as usize))
                .copied()
                .unwrap_or(false);
            if unit {
                Ok(())
            } else {
                Err("export `_start` must be a function taking and returning nothing".into())
            }
        }
        Some(_) => Err("export `_start` must be a function taking and returning nothing".into()),
        None => Err(
            "module has no `_start` export: build it as a WASI command (wasm32-wasip1 binary)"
                .into(),
        ),
    }
}
