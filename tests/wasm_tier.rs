//! The WASM tier against hostile and well-behaved guests: every failure is a value, limits are
//! enforced inside the engine, nothing leaks between calls or from the host.

use std::sync::Arc;
use std::time::Duration;

use ain_sre::sandbox::wasm::shape::bombs;
use ain_sre::sandbox::wasm::{CompileLimits, WasmConfig, WasmSandbox};
use ain_sre::sandbox::{Failure, FunctionCode, Invocation, Limits, Outcome, Sandbox, SandboxError};
#[path = "wasm_tier/calls.rs"]
mod calls;
#[path = "wasm_tier/compile.rs"]
mod compile;
#[path = "wasm_tier/measure.rs"]
mod measure;

fn guest(name: &str) -> FunctionCode {
    let path = format!(
        "{}/tests/fixtures/wasm/{name}.wat",
        env!("CARGO_MANIFEST_DIR")
    );
    FunctionCode::new(
        "wasm",
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")),
    )
}

fn sandbox() -> WasmSandbox {
    WasmSandbox::new(WasmConfig::default()).expect("wasm engine")
}

fn call(input: &[u8], limits: Limits) -> Invocation {
    Invocation {
        input: Arc::<[u8]>::from(input).into(),
        env: vec![
            ("SRE_FUNCTION".into(), "echo".into()),
            ("SRE_CALL_ID".into(), "c1".into()),
            ("HOME".into(), "/root".into()),
            ("AIN_SRE_PRIVATE_KEY".into(), "never-visible".into()),
        ],
        limits,
    }
}

async fn run(sb: &WasmSandbox, name: &str, input: &[u8], limits: Limits) -> Outcome {
    let p = sb
        .prepare(&guest(name))
        .await
        .unwrap_or_else(|e| panic!("prepare {name}: {e}"));
    sb.run(&p, call(input, limits))
        .await
        .unwrap_or_else(|e| panic!("run {name}: {e}"))
}

fn stdout_of(o: &Outcome) -> &[u8] {
    match o {
        Outcome::Completed { stdout, .. } => stdout,
        other => panic!("expected completion, got {other:?}"),
    }
}

fn rejection(r: Result<impl std::fmt::Debug, SandboxError>) -> String {
    match r {
        Err(SandboxError::Rejected(m)) => m,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// A compile CPU limit low enough for a test: 1 s (the wall limit is generous, so that on a
/// loaded machine the CPU limit is still the one that ends a slow compile).
fn tight() -> WasmSandbox {
    WasmSandbox::new(WasmConfig {
        compile: CompileLimits {
            cpu_time: Duration::from_secs(1),
            wall_time: Duration::from_secs(60),
            ..CompileLimits::default()
        },
        ..WasmConfig::default()
    })
    .unwrap()
}

/// Inside every shape limit, yet seconds of compile CPU in a debug build (the compiler child is
/// the test profile's `ain-sre-jail`): the shape check passes it, the child's limits must not.
fn slow_but_well_shaped(salt: u8) -> FunctionCode {
    let mut m = bombs::many_functions(100_000);
    // A custom section makes each variant's hash distinct without changing its cost.
    m.extend([0, 2, 1, b'a' + salt]);
    FunctionCode::new("wasm", m)
}

fn poller(n: u32) -> FunctionCode {
    // Zeroed memory is `n` valid subscriptions (realtime clock, relative timeout 0).
    let src = format!(
        "(module
          (import \"wasi_snapshot_preview1\" \"poll_oneoff\" (func $poll (param i32 i32 i32 i32) (result i32)))
          (import \"wasi_snapshot_preview1\" \"proc_exit\" (func $exit (param i32)))
          (memory (export \"memory\") 700)
          (func (export \"_start\")
            (call $exit (call $poll (i32.const 0) (i32.const 24000000) (i32.const {}) (i32.const 40000000)))))",
        n as i32
    );
    FunctionCode::new("wasm", src.into_bytes())
}

fn exit_code(out: &Outcome) -> i32 {
    match out {
        Outcome::Completed { exit_code, .. } => *exit_code,
        other => panic!("expected completion, got {other:?}"),
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p))
        } else {
            out.push(p)
        }
    }
    out
}
