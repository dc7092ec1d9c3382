//! Issue 14: compile bombs, refusals remembered, bounded caches, host tables, proposals, and
//! compiles bounded in number and wall time.

use super::*;

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
