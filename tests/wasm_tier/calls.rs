//! Guests running: echo and large input, the output cap, the deadline, fuel, memory, stack
//! overflow, exit codes, refusals at prepare, no state between calls, what a guest sees, a
//! thousand concurrent calls, and the disk cache of compiled modules.

use super::*;

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
