//! The WASM tier against hostile and well-behaved guests: every failure is a value, limits are
//! enforced inside the engine, nothing leaks between calls or from the host.

use std::sync::Arc;
use std::time::Duration;

use ain_sre::sandbox::wasm::{WasmConfig, WasmSandbox};
use ain_sre::sandbox::{Failure, FunctionCode, Invocation, Limits, Outcome, Sandbox, SandboxError};

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

#[tokio::test]
async fn echo_and_large_input() {
    let sb = sandbox();
    let out = run(&sb, "echo", b"{\"x\":1}", Limits::default()).await;
    assert_eq!(out.status(), "ok");
    assert_eq!(stdout_of(&out), b"{\"x\":1}");
    assert!(
        out.usage().mem_peak_kb >= 128,
        "two 64 KiB pages: {:?}",
        out.usage()
    );

    let big: Vec<u8> = (0..(1 << 20)).map(|i| (i % 251) as u8).collect();
    let limits = Limits {
        output_bytes: 2 << 20,
        ..Limits::default()
    };
    let out = run(&sb, "echo", &big, limits).await;
    assert_eq!(stdout_of(&out), &big[..]);
}

#[tokio::test]
async fn a_file_input_of_several_mib_is_echoed_byte_identical() {
    let sb = sandbox();
    let big: Vec<u8> = (0..(5 << 20) + 13).map(|i| (i * 7 % 251) as u8).collect();
    let mut f = tempfile::tempfile().unwrap();
    std::io::Write::write_all(&mut f, &big).unwrap();
    let limits = Limits {
        output_bytes: 8 << 20,
        ..Limits::default()
    };
    let mut c = call(b"", limits);
    c.input = ain_sre::sandbox::Input::File {
        file: Arc::new(f),
        len: big.len() as u64,
    };
    let p = sb.prepare(&guest("echo")).await.unwrap();
    let out = sb.run(&p, c).await.unwrap();
    assert!(stdout_of(&out) == &big[..], "{}", out.status());
}

#[tokio::test]
async fn output_over_the_cap_is_output_too_large_and_stops_the_guest() {
    let sb = sandbox();
    let limits = Limits {
        output_bytes: 10,
        ..Limits::default()
    };
    let out = run(&sb, "echo", b"0123456789abcdef", limits).await;
    assert_eq!(out.status(), "output_too_large");

    // A guest that ignores write errors is stopped at once, not left to hit its deadline.
    let limits = Limits {
        output_bytes: 64 << 10,
        wall_time: Duration::from_secs(10),
        ..Limits::default()
    };
    let out = run(&sb, "flood", b"", limits).await;
    assert_eq!(out.status(), "output_too_large");
    assert!(
        out.usage().wall_us < 2_000_000,
        "flood ran {} µs",
        out.usage().wall_us
    );
}

#[tokio::test]
async fn infinite_loop_is_killed_at_the_deadline() {
    let sb = sandbox();
    let limits = Limits {
        wall_time: Duration::from_millis(200),
        ..Limits::default()
    };
    let out = run(&sb, "spin", b"", limits).await;
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
    let wall = out.usage().wall_us;
    // Killed after the deadline, within a generous margin (one 1 ms epoch tick plus scheduling).
    assert!((200_000..450_000).contains(&wall), "killed after {wall} µs");
}

#[tokio::test]
async fn fuel_stops_the_same_loop_deterministically() {
    let sb = sandbox();
    let limits = Limits {
        fuel: Some(5_000_000),
        wall_time: Duration::from_secs(10),
        ..Limits::default()
    };
    let out = run(&sb, "spin", b"", limits).await;
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
    assert!(out.usage().wall_us < 5_000_000);
}

#[tokio::test]
async fn memory_growth_past_the_limit_is_oom() {
    let sb = sandbox();
    let limits = Limits {
        memory_bytes: 8 << 20,
        ..Limits::default()
    };
    let out = run(&sb, "membomb", b"", limits).await;
    assert!(
        matches!(
            out,
            Outcome::Failed {
                failure: Failure::Oom,
                ..
            }
        ),
        "{out:?}"
    );
    assert_eq!(out.status(), "oom");
    assert!(out.usage().mem_peak_kb <= 8 << 10, "{:?}", out.usage());
}

#[tokio::test]
async fn stack_overflow_is_a_trap() {
    let sb = sandbox();
    let out = run(&sb, "recurse", b"", Limits::default()).await;
    match &out {
        Outcome::Failed {
            failure: Failure::Trap(msg),
            ..
        } => assert!(msg.contains("stack"), "{msg}"),
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_eq!(out.status(), "error");
}

#[tokio::test]
async fn exit_codes_are_reported() {
    let sb = sandbox();
    let out = run(&sb, "exit3", b"", Limits::default()).await;
    assert!(
        matches!(out, Outcome::Completed { exit_code: 3, .. }),
        "{out:?}"
    );
    assert_eq!(out.status(), "error");
}

#[tokio::test]
async fn forbidden_imports_and_bad_modules_are_rejected_at_prepare() {
    let sb = sandbox();
    for (name, want) in [
        ("sockets", "sockets are not available"),
        ("filesystem", "filesystem access"),
        ("unknown_host", "env::read_worker_key"),
    ] {
        match sb.prepare(&guest(name)).await {
            Err(SandboxError::Rejected(msg)) => assert!(msg.contains(want), "{name}: {msg}"),
            other => panic!("{name}: expected rejection, got {other:?}"),
        }
    }
    let garbage = FunctionCode::new("wasm", b"\0asm\x01\0\0\0\xff\xff\xff".to_vec());
    assert!(
        matches!(sb.prepare(&garbage).await, Err(SandboxError::Rejected(m)) if m.contains("invalid WebAssembly"))
    );
    let no_memory = FunctionCode::new(
        "wasm",
        b"(module (import \"wasi_snapshot_preview1\" \"proc_exit\" (func (param i32))) (func (export \"_start\")))".to_vec(),
    );
    assert!(
        matches!(sb.prepare(&no_memory).await, Err(SandboxError::Rejected(m)) if m.contains("memory"))
    );
    let no_start = FunctionCode::new("wasm", b"(module)".to_vec());
    assert!(
        matches!(sb.prepare(&no_start).await, Err(SandboxError::Rejected(m)) if m.contains("_start"))
    );
    // Oversize: refused before any parsing, so the cost is bounded by the size check.
    let huge = FunctionCode::new("wasm", vec![0u8; 17 << 20]);
    let started = std::time::Instant::now();
    assert!(
        matches!(sb.prepare(&huge).await, Err(SandboxError::Rejected(m)) if m.contains("over the"))
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn no_state_leaks_between_calls() {
    let sb = sandbox();
    let p = sb.prepare(&guest("counter")).await.unwrap();
    for _ in 0..50 {
        let out = sb.run(&p, call(b"", Limits::default())).await.unwrap();
        assert_eq!(
            stdout_of(&out),
            b"11",
            "globals and memory must start fresh on every call"
        );
    }
    assert_eq!(sb.cached_modules(), 1);
}

#[tokio::test]
async fn only_the_function_name_and_sre_variables_are_visible() {
    let sb = sandbox();
    let out = run(&sb, "environ", b"", Limits::default()).await;
    let text = String::from_utf8_lossy(stdout_of(&out)).into_owned();
    let (args, env) = text.split_once('\n').expect("args, newline, env");
    assert_eq!(args, "echo\0");
    let mut vars: Vec<&str> = env.split('\0').filter(|s| !s.is_empty()).collect();
    vars.sort();
    assert_eq!(vars, ["SRE_CALL_ID=c1", "SRE_FUNCTION=echo"]);
    assert!(!text.contains("never-visible") && !text.contains("HOME"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_calls() {
    let sb = sandbox();
    let p = Arc::new(sb.prepare(&guest("echo")).await.unwrap());
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let (sb, p) = (sb.clone(), p.clone());
        tasks.push(tokio::spawn(async move {
            let input = format!("call-{i}");
            let out = sb
                .run(&p, call(input.as_bytes(), Limits::default()))
                .await
                .unwrap();
            assert_eq!(stdout_of(&out), input.as_bytes());
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test]
async fn compiled_modules_are_cached_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = WasmConfig {
        cache_dir: Some(dir.path().to_owned()),
        ..WasmConfig::default()
    };
    let sb = WasmSandbox::new(cfg.clone()).unwrap();
    sb.prepare(&guest("echo")).await.unwrap();
    drop(sb);
    let files = walk(dir.path());
    assert!(
        !files.is_empty(),
        "the compilation cache must hold an artifact"
    );
    // A new sandbox (a restarted worker) prepares from the cache and still runs correctly.
    let sb = WasmSandbox::new(cfg).unwrap();
    let out = run(&sb, "echo", b"again", Limits::default()).await;
    assert_eq!(stdout_of(&out), b"again");
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

// ---- Issue 14: compile bombs, refusals remembered, bounded caches, host tables, proposals ----

use ain_sre::sandbox::wasm::CompileLimits;
use ain_sre::sandbox::wasm::shape::bombs;

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

#[tokio::test]
async fn compile_bombs_are_refused_naming_the_limit_before_compiling() {
    let sb = sandbox();
    for (what, m) in [
        ("4096 x 20000", bombs::nested_loops(4096, 20_000)),
        ("2048 x 5000", bombs::nested_loops(2048, 5_000)),
        ("1024 x 2000", bombs::nested_loops(1024, 2_000)),
        ("200k functions", bombs::many_functions(200_000)),
    ] {
        let started = std::time::Instant::now();
        let msg = rejection(sb.prepare(&FunctionCode::new("wasm", m)).await);
        let took = started.elapsed();
        assert!(msg.contains("limit"), "{what}: {msg}");
        assert!(took < Duration::from_secs(2), "{what}: refused in {took:?}");
        eprintln!("{what}: refused in {took:?}: {msg}");
    }
}

#[tokio::test]
async fn a_slow_compile_is_killed_at_the_cpu_limit_and_remembered() {
    let sb = tight();
    let code = slow_but_well_shaped(0);
    let started = std::time::Instant::now();
    let msg = rejection(sb.prepare(&code).await);
    let first = started.elapsed();
    assert!(msg.contains("1 s compile CPU limit"), "{msg}");
    // 1 s of CPU (plus a second's grace to SIGKILL); the rest is waiting for a CPU when loaded.
    assert!(first < Duration::from_secs(30), "killed after {first:?}");
    // The refusal is remembered: the next call of the same code costs no compile.
    let started = std::time::Instant::now();
    assert_eq!(rejection(sb.prepare(&code).await), msg);
    let second = started.elapsed();
    assert!(
        second < Duration::from_millis(100),
        "second refusal took {second:?}"
    );
    eprintln!("killed at {first:?}; refused again in {second:?}");
}

#[tokio::test]
async fn a_compile_over_the_memory_limit_is_refused() {
    let sb = WasmSandbox::new(WasmConfig {
        compile: CompileLimits {
            memory_bytes: 200 << 20,
            ..CompileLimits::default()
        },
        ..WasmConfig::default()
    })
    .unwrap();
    // Still works for a normal module under the low limit...
    sb.prepare(&guest("echo")).await.unwrap();
    // ...but the compiler's memory for 100,000 functions is over it.
    let msg = rejection(sb.prepare(&slow_but_well_shaped(1)).await);
    assert!(msg.contains("200 MiB compile memory limit"), "{msg}");
}

#[tokio::test]
async fn imports_are_checked_before_compiling() {
    // Slow to compile (seconds over the 1 s limit) but importing `path_open`: refused for the
    // import, at once, never reaching the compiler.
    let mut m = bombs::many_functions(99_000);
    let import = wat::parse_str(
        "(module (import \"wasi_snapshot_preview1\" \"path_open\" (func)) (memory (export \"memory\") 1))",
    )
    .unwrap();
    // Splice the import section (id 2) right after the type section of `m`.
    let (ty_end, imp) = (8 + 2 + 4, section(&import, 2));
    m.splice(ty_end..ty_end, imp);
    let sb = tight();
    let started = std::time::Instant::now();
    let msg = rejection(sb.prepare(&FunctionCode::new("wasm", m)).await);
    // Compiled first, it would have been refused for the CPU limit, after a second of it.
    assert!(msg.contains("path_open"), "{msg}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// The bytes of section `id` (header included) of a binary module.
fn section(module: &[u8], id: u8) -> Vec<u8> {
    let mut i = 8;
    while i < module.len() {
        let (sid, mut len, mut j, mut shift) = (module[i], 0usize, i + 1, 0);
        loop {
            let b = module[j];
            len |= ((b & 0x7f) as usize) << shift;
            shift += 7;
            j += 1;
            if b & 0x80 == 0 {
                break;
            }
        }
        if sid == id {
            return module[i..j + len].to_vec();
        }
        i = j + len;
    }
    panic!("no section {id}");
}

#[tokio::test]
async fn function_references_and_tail_calls_are_not_compiled_in() {
    let sb = sandbox();
    for (what, src) in [
        (
            "return_call",
            "(module (memory (export \"memory\") 1) (func $f) (func (export \"_start\") return_call $f))",
        ),
        (
            "call_ref",
            "(module (memory (export \"memory\") 1) (type $t (func)) (func $f (type $t)) \
             (elem declare func $f) (func (export \"_start\") (call_ref $t (ref.func $f))))",
        ),
    ] {
        let msg = rejection(
            sb.prepare(&FunctionCode::new("wasm", src.as_bytes().to_vec()))
                .await,
        );
        assert!(msg.contains("invalid WebAssembly"), "{what}: {msg}");
    }
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

#[tokio::test]
async fn poll_oneoff_subscriptions_are_capped() {
    let sb = sandbox();
    let limits = Limits {
        memory_bytes: 64 << 20,
        ..Limits::default()
    };
    // At the cap: polled as usual (every timeout is already due).
    let p = sb.prepare(&poller(1024)).await.unwrap();
    assert_eq!(
        exit_code(&sb.run(&p, call(b"", limits.clone())).await.unwrap()),
        0
    );
    // Over it: EINVAL (28) before the host allocates a thing (without the cap, 1,025 and
    // 500,000 are polled, and 2^32 - 1 fails later with ENOMEM from WASI's copy budget).
    for n in [1025, 500_000, u32::MAX] {
        let p = sb.prepare(&poller(n)).await.unwrap();
        let out = sb.run(&p, call(b"", limits.clone())).await.unwrap();
        assert_eq!(exit_code(&out), 28, "{n} subscriptions");
    }
}

#[tokio::test]
async fn the_in_memory_cache_is_bounded_least_recently_used_first() {
    let module = |i: usize| {
        FunctionCode::new(
            "wasm",
            format!("(module (memory (export \"memory\") 1) (func (export \"_start\") i32.const {i} drop))")
                .into_bytes(),
        )
    };
    let probe = sandbox();
    probe.prepare(&module(0)).await.unwrap();
    let one = probe.cached_bytes();
    assert!(one > 0);
    // Room for two modules (they differ in one constant, so in size by a few bytes at most).
    let sb = WasmSandbox::new(WasmConfig {
        max_cached_bytes: one * 5 / 2,
        ..WasmConfig::default()
    })
    .unwrap();
    let (a, b, c) = (module(1), module(2), module(3));
    sb.prepare(&a).await.unwrap();
    sb.prepare(&b).await.unwrap();
    sb.prepare(&a).await.unwrap(); // a is now the most recently used
    sb.prepare(&c).await.unwrap();
    assert!(sb.is_cached(&a.hash) && sb.is_cached(&c.hash));
    assert!(
        !sb.is_cached(&b.hash),
        "the least recently used module must go"
    );
    assert_eq!(sb.cached_modules(), 2);
    assert!(sb.cached_bytes() <= one * 5 / 2);
    // Evicted code still prepares (compiled again) and runs.
    let p = sb.prepare(&b).await.unwrap();
    let out = sb.run(&p, call(b"", Limits::default())).await.unwrap();
    assert_eq!(exit_code(&out), 0);
}

#[tokio::test]
async fn the_disk_cache_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let module = |i: usize| {
        FunctionCode::new(
            "wasm",
            format!("(module (memory (export \"memory\") 1) (func (export \"_start\") i32.const {i} drop))")
                .into_bytes(),
        )
    };
    let probe = WasmSandbox::new(WasmConfig {
        cache_dir: Some(dir.path().to_owned()),
        ..WasmConfig::default()
    })
    .unwrap();
    probe.prepare(&module(0)).await.unwrap();
    let one: u64 = walk(dir.path())
        .iter()
        .map(|p| p.metadata().unwrap().len())
        .sum();
    let sb = WasmSandbox::new(WasmConfig {
        cache_dir: Some(dir.path().to_owned()),
        max_disk_cache_bytes: one * 5 / 2,
        ..WasmConfig::default()
    })
    .unwrap();
    for i in 1..=6 {
        sb.prepare(&module(i)).await.unwrap();
    }
    let files = walk(dir.path());
    let total: u64 = files.iter().map(|p| p.metadata().unwrap().len()).sum();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(total <= one * 5 / 2);
}

// ---- Measurements for the README (run by hand: `cargo test --test wasm_tier measure_ --
// --ignored --nocapture`, one at a time so each has its own process) ----

/// `VmRSS` and `VmHWM` of this process, in MiB.
fn rss_hwm_mib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .unwrap_or(0)
            / 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

async fn many_modules(max_cached_bytes: u64) {
    let sb = WasmSandbox::new(WasmConfig {
        max_cached_bytes,
        ..WasmConfig::default()
    })
    .unwrap();
    let before = rss_hwm_mib();
    for i in 0..12u8 {
        let mut m = bombs::many_functions(20_000);
        m.extend([0, 2, 1, b'a' + i]);
        let p = sb.prepare(&FunctionCode::new("wasm", m)).await.unwrap();
        sb.run(&p, call(b"", Limits::default())).await.unwrap();
    }
    let after = rss_hwm_mib();
    eprintln!(
        "max_cached_bytes {max_cached_bytes}: 12 distinct modules of 20,000 functions: RSS \
         {} -> {} MiB, {} cached ({} MiB of compiled code)",
        before.0,
        after.0,
        sb.cached_modules(),
        sb.cached_bytes() >> 20
    );
}

#[tokio::test]
#[ignore = "a measurement, run by hand"]
async fn measure_cache_rss_bounded() {
    many_modules(WasmConfig::default().max_cached_bytes / 16).await;
}

#[tokio::test]
#[ignore = "a measurement, run by hand"]
async fn measure_cache_rss_unbounded() {
    many_modules(u64::MAX).await;
}

async fn poll_flood(max_poll_subscriptions: u32, max_host_resources: usize) {
    let sb = WasmSandbox::new(WasmConfig {
        max_poll_subscriptions,
        max_host_resources,
        ..WasmConfig::default()
    })
    .unwrap();
    let p = sb.prepare(&poller(500_000)).await.unwrap();
    let limits = Limits {
        memory_bytes: 64 << 20,
        ..Limits::default()
    };
    // Warm the pool slot and allocator with one capped-size call first.
    let warm = sb.prepare(&poller(1)).await.unwrap();
    sb.run(&warm, call(b"", limits.clone())).await.unwrap();
    let before = rss_hwm_mib();
    let out = sb.run(&p, call(b"", limits)).await.unwrap();
    let after = rss_hwm_mib();
    eprintln!(
        "max_poll_subscriptions {max_poll_subscriptions}, max_host_resources \
         {max_host_resources}: poll_oneoff(500,000) {}: RSS {} -> {} MiB, peak {} -> {} MiB",
        describe_outcome(&out),
        before.0,
        after.0,
        before.1,
        after.1
    );
}

#[tokio::test]
#[ignore = "a measurement, run by hand"]
async fn measure_poll_flood_capped() {
    let d = WasmConfig::default();
    poll_flood(d.max_poll_subscriptions, d.max_host_resources).await;
}

#[tokio::test]
#[ignore = "a measurement, run by hand"]
async fn measure_poll_flood_table_cap_only() {
    poll_flood(u32::MAX, WasmConfig::default().max_host_resources).await;
}

fn describe_outcome(out: &Outcome) -> String {
    match out {
        Outcome::Completed { exit_code, .. } => format!("exit {exit_code}"),
        Outcome::Failed { failure, .. } => format!("{failure:?}").chars().take(120).collect(),
    }
}

#[tokio::test]
#[ignore = "a measurement, run by hand"]
async fn measure_poll_flood_uncapped() {
    poll_flood(u32::MAX, usize::MAX).await;
}

/// A stand-in compiler child (a shell script): lets the tests observe how children are run.
fn fake_compiler(dir: &std::path::Path, body: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("fake-compiler");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn distinct(i: usize) -> FunctionCode {
    FunctionCode::new(
        "wasm",
        format!(
            "(module (memory (export \"memory\") 1) (func (export \"_start\") i32.const {i} drop))"
        )
        .into_bytes(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compiles_run_a_bounded_number_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    // Each child notes how many children are running, lingers, and reports an invalid module.
    let exe = fake_compiler(
        dir.path(),
        &format!(
            "mkdir -p {d}/running; touch {d}/running/$$; ls {d}/running | wc -l >> {d}/log; \
             sleep 0.3; rm {d}/running/$$; echo invalid >&2; exit 2"
        ),
    );
    let sb = WasmSandbox::new(WasmConfig {
        compiler_exe: Some(exe),
        compile: CompileLimits {
            max_concurrent: 2,
            ..CompileLimits::default()
        },
        ..WasmConfig::default()
    })
    .unwrap();
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let sb = sb.clone();
            tokio::spawn(async move { rejection(sb.prepare(&distinct(i)).await) })
        })
        .collect();
    for t in tasks {
        assert!(
            t.await
                .unwrap()
                .contains("invalid WebAssembly module: invalid")
        );
    }
    let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
    let most = log.lines().map(|l| l.trim().parse::<u32>().unwrap()).max();
    assert_eq!(log.lines().count(), 6);
    assert!(most <= Some(2), "{log}");
}

#[tokio::test]
async fn a_compile_over_the_wall_time_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let exe = fake_compiler(
        dir.path(),
        &format!("echo $$ > {}; exec sleep 30", pidfile.display()),
    );
    let sb = WasmSandbox::new(WasmConfig {
        compiler_exe: Some(exe),
        compile: CompileLimits {
            wall_time: Duration::from_millis(500),
            ..CompileLimits::default()
        },
        ..WasmConfig::default()
    })
    .unwrap();
    let started = std::time::Instant::now();
    let msg = rejection(sb.prepare(&distinct(0)).await);
    assert!(msg.contains("0.5 s compile time limit"), "{msg}");
    assert!(started.elapsed() < Duration::from_secs(3));
    // The child is gone (killed and reaped), not left compiling.
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    let proc_dir = format!("/proc/{}", pid.trim());
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while std::path::Path::new(&proc_dir).exists() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        !std::path::Path::new(&proc_dir).exists(),
        "{proc_dir} still exists"
    );
}
