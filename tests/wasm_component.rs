//! Components on the WASM tier: Python (`python3-wasm`) and JavaScript (`nodejs-wasm`) source
//! packaged by componentize-py / componentize-js, run with the tier's limits.
//!
//! Needs the packagers (`componentize-py`, `componentize-js` on PATH or named by
//! `AIN_SRE_COMPONENTIZE_PY` / `AIN_SRE_COMPONENTIZE_JS`); skips loudly without them, fails in
//! strict mode. Built components are cached by source hash under the target directory, since a
//! build takes 10–25 s.

mod common;
mod component_support;

use component_support::{JS, PY, cache_dir, component};

use std::sync::Arc;
use std::time::Duration;

use ain_sre::sandbox::wasm::package::Language;
use ain_sre::sandbox::wasm::{WasmConfig, WasmSandbox};
use ain_sre::sandbox::{Failure, FunctionCode, Invocation, Limits, Outcome, Sandbox, SandboxError};

fn sandbox() -> WasmSandbox {
    WasmSandbox::new(WasmConfig {
        max_concurrency: 4,
        // Compiling an 18 MB component takes a minute in a debug build: keep the artifacts.
        cache_dir: Some(cache_dir().join("compiled")),
        ..WasmConfig::default()
    })
    .expect("wasm engine")
}

fn call(input: &[u8], limits: Limits) -> Invocation {
    Invocation {
        input: Arc::<[u8]>::from(input).into(),
        env: vec![
            ("SRE_FUNCTION".into(), "echo".into()),
            ("AIN_SRE_PRIVATE_KEY".into(), "never-visible".into()),
        ],
        limits,
    }
}

fn limits() -> Limits {
    Limits {
        wall_time: Duration::from_secs(5),
        memory_bytes: 256 << 20,
        ..Limits::default()
    }
}

async fn run(sb: &WasmSandbox, code: &FunctionCode, input: &[u8], limits: Limits) -> Outcome {
    let p = sb.prepare(code).await.expect("prepare");
    sb.run(&p, call(input, limits)).await.expect("run")
}

fn stdout_of(o: &Outcome) -> String {
    match o {
        Outcome::Completed {
            stdout, exit_code, ..
        } => {
            assert_eq!(*exit_code, 0, "{o:?}");
            String::from_utf8_lossy(stdout).into_owned()
        }
        other => panic!("expected completion, got {other:?}"),
    }
}

/// Echo twice through one prepared component: the second call sees no state of the first.
async fn echoes_without_residue(test: &str, lang: Language, source: &str) {
    let Some(code) = component(test, lang, source) else {
        return;
    };
    let sb = sandbox();
    for input in ["{\"x\":1}", "second"] {
        let out = run(&sb, &code, input.as_bytes(), limits()).await;
        let v: serde_json::Value = serde_json::from_str(&stdout_of(&out)).unwrap();
        assert_eq!(v["echo"], input);
        // A fresh instance per call: module globals do not survive.
        assert_eq!(v["seen"], 1, "{v}");
        assert_eq!(v["key"], serde_json::Value::Null, "host env leaked: {v}");
    }
    assert!(sb.is_cached(&code.hash));
}

/// An exception is an error status with its message on stderr; `exit(3)` is exit code 3.
async fn fails_on_exception(test: &str, lang: Language, source: &str) {
    let Some(code) = component(test, lang, source) else {
        return;
    };
    let sb = sandbox();
    match run(&sb, &code, b"raise", limits()).await {
        Outcome::Completed {
            exit_code,
            stderr_tail,
            ..
        } => {
            assert_eq!(exit_code, 1);
            let err = String::from_utf8_lossy(&stderr_tail);
            assert!(err.contains("bad input here"), "{err}");
        }
        other => panic!("expected an error status, got {other:?}"),
    }
    match run(&sb, &code, b"exit3", limits()).await {
        Outcome::Completed { exit_code, .. } => assert_eq!(exit_code, 3),
        other => panic!("expected exit 3, got {other:?}"),
    }
}

async fn times_out(test: &str, lang: Language, source: &str) {
    let Some(code) = component(test, lang, source) else {
        return;
    };
    let sb = sandbox();
    let l = Limits {
        wall_time: Duration::from_millis(300),
        ..limits()
    };
    let started = std::time::Instant::now();
    let out = run(&sb, &code, b"loop", l).await;
    assert!(
        matches!(
            out,
            Outcome::Failed {
                failure: Failure::Timeout,
                ..
            }
        ),
        "{out:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

async fn hits_memory_limit(test: &str, lang: Language, source: &str) {
    let Some(code) = component(test, lang, source) else {
        return;
    };
    let sb = sandbox();
    let l = Limits {
        memory_bytes: 128 << 20,
        ..limits()
    };
    let out = run(&sb, &code, b"grow", l).await;
    match &out {
        Outcome::Failed {
            failure: Failure::Oom,
            usage,
            ..
        } => assert!(usage.mem_peak_kb <= 128 << 10, "{usage:?}"),
        other => panic!("expected oom, got {other:?}"),
    }
}

#[tokio::test]
async fn python_component_echoes_without_residue() {
    echoes_without_residue("python echo", Language::Python, PY).await;
}

/// An input handed over as an open file (an `input_ref` from the worker's store) reaches a
/// component's stdin whole, read in bounded chunks.
#[tokio::test]
async fn python_component_echoes_a_file_input_read_in_chunks() {
    let Some(code) = component("python file echo", Language::Python, PY) else {
        return;
    };
    let sb = sandbox();
    // 3 MiB in, and out again in one write: a component's write of more than 1 MiB used to be
    // cut silently at 1 MiB (the capture offered 1 MiB per write and the guest wrote no more).
    let text: String = (0..(3 << 20) + 5)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    let mut f = tempfile::tempfile().unwrap();
    std::io::Write::write_all(&mut f, text.as_bytes()).unwrap();
    let limits = Limits {
        output_bytes: 8 << 20,
        ..limits()
    };
    let mut c = call(b"", limits);
    c.input = ain_sre::sandbox::Input::File {
        file: Arc::new(f),
        len: text.len() as u64,
    };
    let p = sb.prepare(&code).await.expect("prepare");
    let out = sb.run(&p, c).await.expect("run");
    let v: serde_json::Value = serde_json::from_str(&stdout_of(&out)).unwrap();
    assert!(v["echo"].as_str() == Some(text.as_str()), "echo differs");
}

#[tokio::test]
async fn python_component_fails_on_exception() {
    fails_on_exception("python raise", Language::Python, PY).await;
}

#[tokio::test]
async fn python_component_times_out() {
    times_out("python loop", Language::Python, PY).await;
}

#[tokio::test]
async fn python_component_hits_memory_limit() {
    hits_memory_limit("python grow", Language::Python, PY).await;
}

#[tokio::test]
async fn js_component_echoes_without_residue() {
    echoes_without_residue("js echo", Language::JavaScript, JS).await;
}

#[tokio::test]
async fn js_component_fails_on_exception() {
    fails_on_exception("js raise", Language::JavaScript, JS).await;
}

#[tokio::test]
async fn js_component_times_out() {
    times_out("js loop", Language::JavaScript, JS).await;
}

#[tokio::test]
async fn js_component_hits_memory_limit() {
    hits_memory_limit("js grow", Language::JavaScript, JS).await;
}

/// Imports outside the allow-list are refused at prepare, naming the import: a component
/// importing `wasi:http`'s incoming side (only outgoing requests are provided, through the
/// egress proxy: tests/wasm_component_http.rs), and one importing an interface of its own.
#[tokio::test]
async fn components_importing_what_is_not_provided_are_rejected_at_prepare() {
    let sb = sandbox();
    for (import, needle) in [
        (
            "wasi:http/incoming-handler@0.2.12",
            "wasi:http/incoming-handler@0.2.12",
        ),
        ("evil:host/spawn", "evil:host/spawn"),
        ("wasi:sockets/tcp@0.3.0", "wasi:sockets/tcp@0.3.0"),
    ] {
        let wat = format!(
            r#"(component
                 (import "{import}" (instance))
                 (core module $m (func (export "run") (result i32) i32.const 0))
                 (core instance $i (instantiate $m))
                 (func $run (result (result)) (canon lift (core func $i "run")))
                 (instance $r (export "run" (func $run)))
                 (export "wasi:cli/run@0.2.12" (instance $r)))"#
        );
        let code = FunctionCode::new("wasm", wat.into_bytes());
        match sb.prepare(&code).await {
            Err(SandboxError::Rejected(m)) => assert!(m.contains(needle), "{m}"),
            other => panic!("{import}: expected a rejection, got {other:?}"),
        }
    }
}
