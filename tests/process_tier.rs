//! The process tier, functional: every shipped runtime's example runs and returns the right
//! output, limits are reported in usage, guest failures are outcomes, the pool refills, and
//! nothing outlives a call. Needs root (strict mode fails the tests otherwise).

mod common;
mod process_common;

use std::time::Duration;

use ain_sre::sandbox::process::samples::static_elf;
use ain_sre::sandbox::{Failure, FunctionCode, Limits, Outcome, Sandbox, SandboxError};
use process_common::{Jail, stdout_of};

fn example(runtime: &str, file: &str) -> Vec<u8> {
    let p = format!(
        "{}/examples/functions/{runtime}/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

#[tokio::test]
async fn every_shipped_runtime_runs_its_example() {
    let Some(j) = Jail::new("examples", 1).await else {
        return;
    };
    let cases: [(&str, Vec<u8>, &str, &str); 5] = [
        (
            "python3",
            example("python3", "main.py"),
            r#"{"name":"ain"}"#,
            r#"{"greeting": "hello, ain", "runtime": "python3"}"#,
        ),
        (
            "nodejs",
            example("nodejs", "main.js"),
            r#"{"name":"ain"}"#,
            r#"{"greeting":"hello, ain","runtime":"nodejs"}"#,
        ),
        (
            "perl",
            example("perl", "main.pl"),
            r#"{"text":"abc"}"#,
            r#"{"reversed":"cba","runtime":"perl"}"#,
        ),
        (
            "bash",
            example("bash", "main.sh"),
            "one two",
            r#"{"bytes":7,"lines":0,"runtime":"bash"}"#,
        ),
        (
            "native",
            static_elf(b"hello from ELF\n"),
            "",
            "hello from ELF\n",
        ),
    ];
    for (rt, code, input, want) in cases {
        let out = j.run(rt, &code, input.as_bytes(), Limits::default()).await;
        assert_eq!(out.status(), "ok", "{rt}: {out:?}");
        assert_eq!(String::from_utf8_lossy(stdout_of(&out)), want, "{rt}");
        let u = out.usage();
        assert!(u.wall_us > 0 && u.mem_peak_kb > 0, "{rt}: usage {u:?}");
        if rt != "native" {
            assert!(u.cpu_us > 0, "{rt}: usage {u:?}");
        }
    }
    j.finish().await;
}

#[tokio::test]
async fn guest_failures_are_outcomes() {
    let Some(j) = Jail::new("failures", 0).await else {
        return;
    };
    let out = j
        .py(
            "import sys\nprint('partial')\nsys.stderr.write('bad things\\n')\nsys.exit(3)\n",
            Limits::default(),
        )
        .await;
    match &out {
        Outcome::Completed {
            exit_code: 3,
            stdout,
            stderr_tail,
            ..
        } => {
            assert_eq!(stdout, b"partial\n");
            assert_eq!(stderr_tail, b"bad things\n");
        }
        other => panic!("{other:?}"),
    }
    let out = j.py("this is not python", Limits::default()).await;
    assert_eq!(out.status(), "error", "{out:?}");
    let out = j.py("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\nimport ctypes\nctypes.string_at(0)\n", Limits::default()).await;
    assert!(
        matches!(
            out,
            Outcome::Failed {
                failure: Failure::Trap(_),
                ..
            }
        ),
        "{out:?}"
    );
    // stderr keeps its tail only.
    let limits = Limits {
        stderr_bytes: 100,
        ..Limits::default()
    };
    let out = j
        .py(
            "import sys\nsys.stderr.write('a' * 100000 + 'END')\n",
            limits,
        )
        .await;
    match &out {
        Outcome::Completed { stderr_tail, .. } => {
            assert_eq!(stderr_tail.len(), 100);
            assert!(stderr_tail.ends_with(b"END"));
        }
        other => panic!("{other:?}"),
    }
    j.finish().await;
}

#[tokio::test]
async fn limits_are_reported_in_usage() {
    let Some(j) = Jail::new("usage", 0).await else {
        return;
    };
    let out = j
        .py("x = bytearray(40 << 20)\nfor i in range(0, len(x), 4096): x[i] = 1\nn = 0\nfor i in range(3_000_000): n += i\nprint(n)\n", Limits::default())
        .await;
    assert_eq!(out.status(), "ok", "{out:?}");
    let u = out.usage();
    assert!(u.mem_peak_kb > 40 << 10, "peak {u:?}");
    assert!(u.cpu_us > 50_000, "cpu {u:?}");
    assert!(u.wall_us >= u.cpu_us / 2, "{u:?}");
    j.finish().await;
}

#[tokio::test]
async fn input_larger_than_a_pipe_and_env_only_sre() {
    let Some(j) = Jail::new("input", 0).await else {
        return;
    };
    let big = vec![b'z'; 1 << 20];
    let limits = Limits {
        output_bytes: 2 << 20,
        ..Limits::default()
    };
    let out = j
        .run(
            "python3",
            b"import sys\nsys.stdout.write(sys.stdin.read())\n",
            &big,
            limits,
        )
        .await;
    assert_eq!(stdout_of(&out).len(), big.len(), "{}", out.status());
    let out = j
        .py(
            "import os, json\nprint(json.dumps(sorted(os.environ)))\n",
            Limits::default(),
        )
        .await;
    assert_eq!(stdout_of(&out), b"[\"SRE_CALL_ID\", \"SRE_FUNCTION\"]\n");
    j.finish().await;
}

#[tokio::test]
async fn a_file_input_of_several_mib_is_streamed_to_stdin_byte_identical() {
    let Some(j) = Jail::new("file_input", 0).await else {
        return;
    };
    let big: Vec<u8> = (0..(5 << 20) + 13).map(|i| (i * 7 % 251) as u8).collect();
    let mut f = tempfile::tempfile().unwrap();
    std::io::Write::write_all(&mut f, &big).unwrap();
    let input = ain_sre::sandbox::Input::File {
        file: std::sync::Arc::new(f),
        len: big.len() as u64,
    };
    let limits = Limits {
        output_bytes: 8 << 20,
        ..Limits::default()
    };
    let out = j
        .run_input(
            "python3",
            b"import sys\nsys.stdout.buffer.write(sys.stdin.buffer.read())\n",
            input,
            limits,
        )
        .await;
    assert!(stdout_of(&out) == &big[..], "{}", out.status());
    j.finish().await;
}

#[tokio::test]
async fn the_pool_refills_and_each_cell_serves_one_call() {
    let Some(j) = Jail::new("pool", 2).await else {
        return;
    };
    for _ in 0..5 {
        let out = j
            .py("import os\nprint(os.getpid())\n", Limits::default())
            .await;
        // Always pid 1 of a fresh pid namespace.
        assert_eq!(stdout_of(&out), b"1\n");
    }
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while j.sb.ready("python3") < 2 && std::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(j.sb.ready("python3"), 2);
    j.finish().await;
}

#[tokio::test]
async fn unknown_runtimes_and_dynamic_natives_are_rejected() {
    let Some(j) = Jail::new("reject", 0).await else {
        return;
    };
    let err =
        j.sb.prepare(&FunctionCode::new("wasm", &b"(module)"[..]))
            .await
            .unwrap_err();
    assert!(matches!(err, SandboxError::Rejected(_)), "{err}");
    // A dynamically linked `native` program would only ever exit 127 in the empty sandbox.
    let dynamic = std::fs::read("/bin/true").unwrap();
    let err =
        j.sb.prepare(&FunctionCode::new("native", dynamic))
            .await
            .unwrap_err();
    assert!(
        matches!(&err, SandboxError::Rejected(m) if m.contains("not a static binary")),
        "{err}"
    );
    j.finish().await;
}

#[tokio::test]
async fn tmp_follows_the_calls_tmpfs_limit() {
    let Some(j) = Jail::new("tmpsize", 0).await else {
        return;
    };
    let probe = "import os\ntry:\n    open('/tmp/x', 'w').write('x')\n    s = os.statvfs('/tmp')\n    print(s.f_blocks * s.f_frsize)\nexcept OSError as e:\n    print('errno', e.errno)\n";
    let out = j.py(probe, Limits::default()).await;
    assert_eq!(process_common::text_of(&out), (16u64 << 20).to_string());
    let out = j
        .py(
            probe,
            Limits {
                tmpfs_bytes: 4 << 20,
                ..Limits::default()
            },
        )
        .await;
    assert_eq!(process_common::text_of(&out), (4u64 << 20).to_string());
    let out = j
        .py(
            probe,
            Limits {
                tmpfs_bytes: 0,
                ..Limits::default()
            },
        )
        .await;
    assert_eq!(process_common::text_of(&out), "errno 30");
    j.finish().await;
}

#[tokio::test]
async fn the_memory_limit_can_rise_and_fall_between_calls() {
    // cgroup v1 refuses memory.limit_in_bytes above memory.memsw.limit_in_bytes: raising the
    // limit (the shipped `batch` profile's 1 GiB after the default) must write memory+swap
    // first, lowering it must write it last.
    let Some(j) = Jail::new("memrise", 0).await else {
        return;
    };
    for mb in [128u64, 1024, 64, 1024] {
        let out = j
            .py(
                "print('ok')",
                Limits {
                    memory_bytes: mb << 20,
                    ..Limits::default()
                },
            )
            .await;
        assert_eq!(process_common::text_of(&out), "ok", "{mb} MiB: {out:?}");
    }
    j.finish().await;
}

#[tokio::test]
async fn a_timeout_keeps_what_the_function_wrote_before() {
    let Some(j) = Jail::new("partial", 0).await else {
        return;
    };
    let out = j
        .py(
            "import time\nprint('partial', flush=True)\ntime.sleep(30)\n",
            Limits {
                wall_time: std::time::Duration::from_millis(800),
                ..Limits::default()
            },
        )
        .await;
    assert_eq!(out.status(), "timeout", "{out:?}");
    match &out {
        ain_sre::sandbox::Outcome::Failed { stdout, .. } => {
            assert_eq!(String::from_utf8_lossy(stdout), "partial\n")
        }
        other => panic!("{other:?}"),
    }
    j.finish().await;
}
