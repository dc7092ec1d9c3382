//! SECURITY.md rows 1–24: each check passes when the attack fails.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{
    Res, describe, ensure, limits, pick, probe, probe_result, py, py_code, rejected, run_probe,
    stdout_ok, verdict, wasm_na, wat, wat_code,
};
use crate::conformance::{Target, Verdict};
use crate::sandbox::{Failure, FunctionCode, Limits, Outcome, Tier};

const NO_PROCESSES: &str = "WASI has no processes, threads or system calls";

/// Row 1: children and threads stop at the pids limit; a real fork bomb dies at the deadline
/// with its whole tree; the tier still serves the next call at once.
pub(super) async fn fork_bomb(t: &Target<'_>) -> Verdict {
    if let Some(v) = wasm_na(t, "WASI has no fork or threads (threads proposal disabled)") {
        return v;
    }
    verdict(
        async {
            let pids = 16;
            let l = Limits { pids, ..limits() };
            let mut started_n = Vec::new();
            for mode in ["fork", "thread"] {
                let ctx = json!({ "pids": pids, "mode": mode });
                let info = probe(t, py!("fork_count"), ctx, l.clone()).await?;
                let n = info["started"].as_u64().unwrap_or(u64::MAX);
                ensure(n < pids as u64, || {
                    format!("started {n} more {mode}s with pids={pids}")
                })?;
                t.nothing_survives().await?;
                started_n.push(n);
            }
            let wall = Duration::from_secs(2);
            let started = Instant::now();
            let l = Limits {
                wall_time: wall,
                ..l
            };
            let bomb = run_probe(t, py!("fork_bomb"), json!({}), l).await?;
            let took = started.elapsed();
            ensure(bomb.status() == "timeout", || {
                format!("fork bomb ended as {}", describe(&bomb))
            })?;
            ensure(took < wall + Duration::from_secs(5), || {
                format!("fork bomb took {took:?} to stop (deadline {wall:?})")
            })?;
            t.nothing_survives().await?;
            let started = Instant::now();
            let next = t.run(&py_code(py!("echo")), b"alive", limits()).await?;
            let next_ms = started.elapsed().as_millis();
            ensure(stdout_ok(&next)? == b"alive", || {
                "the next call failed".into()
            })?;
            Ok(format!(
                "{} forks, {} threads at pids={pids}; bomb killed after {} ms, nothing left; \
                 next call {next_ms} ms",
                started_n[0],
                started_n[1],
                took.as_millis()
            ))
        }
        .await,
    )
}

/// Row 2: a memory bomb is `oom` inside its limit; a huge untouched mapping and a tmpfs fill
/// harm nothing.
pub(super) async fn memory_bomb(t: &Target<'_>) -> Verdict {
    verdict(
        async {
            let limit: u64 = if t.tier == Tier::Wasm {
                8 << 20
            } else {
                64 << 20
            };
            let l = Limits {
                memory_bytes: limit,
                ..limits()
            };
            let code = pick(t, py!("mem_bomb"), wat!("membomb"));
            let out = t.run(&code, b"", l.clone()).await?;
            ensure(out.status() == "oom", || {
                format!("memory bomb ended as {}", describe(&out))
            })?;
            let peak = out.usage().mem_peak_kb;
            ensure(peak <= limit / 1024 * 11 / 10, || {
                format!(
                    "peak memory {peak} KiB is over the {} KiB limit",
                    limit / 1024
                )
            })?;
            if t.tier == Tier::Wasm {
                return Ok(format!("oom at {peak} KiB (limit {} KiB)", limit / 1024));
            }
            let l2 = Limits {
                tmpfs_bytes: 256 << 20,
                ..l
            };
            let out2 = run_probe(t, py!("mmap_untouched"), json!({ "memory": limit }), l2).await?;
            let extra = match &out2 {
                Outcome::Failed {
                    failure: Failure::Oom,
                    ..
                } => "tmpfs fill oom-killed".to_owned(),
                o => format!("tmpfs fill stopped: {}", probe_result(o)?),
            };
            Ok(format!(
                "oom (peak {peak} KiB of {} KiB); {extra}",
                limit / 1024
            ))
        }
        .await,
    )
}

/// Row 3: a CPU burn is killed at the wall deadline, and processes are held to one CPU.
pub(super) async fn cpu_burn(t: &Target<'_>) -> Verdict {
    verdict(
        async {
            let wall = Duration::from_secs(1);
            let l = Limits {
                wall_time: wall,
                cpu_time: wall,
                ..limits()
            };
            // A container's deadline includes starting it.
            let slack = match t.tier {
                Tier::Wasm => Duration::from_millis(500),
                Tier::Process => Duration::from_secs(2),
                Tier::Container => Duration::from_secs(4),
            };
            let code = pick(t, py!("spin"), wat!("spin"));
            let started = Instant::now();
            let out = t.run(&code, b"", l).await?;
            let took = started.elapsed();
            ensure(out.status() == "timeout", || {
                format!("CPU burn ended as {}", describe(&out))
            })?;
            ensure(took < wall + slack, || {
                format!("killed after {took:?}; deadline {wall:?}")
            })?;
            let mut seen = format!(
                "timeout after {} ms (deadline {} ms)",
                took.as_millis(),
                wall.as_millis()
            );
            if t.tier != Tier::Wasm {
                // The quota: two burning processes get one CPU between them at most.
                let ctx = json!({ "burn": 1.5, "cpus": 1 });
                let info = probe(t, py!("cpu_quota"), ctx, limits()).await?;
                seen.push_str(&format!(
                    "; 2 burners used {} s CPU in {} s",
                    info["cpu"], info["wall"]
                ));
            }
            Ok(seen)
        }
        .await,
    )
}

/// Row 4: sleeping past the deadline is a timeout; daemons, stopped and orphaned children do not
/// survive the call.
pub(super) async fn time_bomb(t: &Target<'_>) -> Verdict {
    verdict(
        async {
            let wall = Duration::from_secs(1);
            let code = pick(t, py!("sleep"), wat!("sleep"));
            let started = Instant::now();
            let out = t
                .run(
                    &code,
                    b"",
                    Limits {
                        wall_time: wall,
                        ..limits()
                    },
                )
                .await?;
            let took = started.elapsed();
            ensure(out.status() == "timeout", || {
                format!("sleep past the deadline ended as {}", describe(&out))
            })?;
            ensure(took < wall + Duration::from_secs(4), || {
                format!("sleeper stopped after {took:?}; deadline {wall:?}")
            })?;
            if t.tier == Tier::Wasm {
                return Ok(format!(
                    "poll_oneoff sleep stopped after {} ms; the Store is dropped with everything",
                    took.as_millis()
                ));
            }
            probe(t, py!("time_bomb"), json!({}), limits()).await?;
            t.nothing_survives().await?;
            Ok(format!(
                "sleeper stopped after {} ms; setsid daemon, stopped child and orphan all gone",
                took.as_millis()
            ))
        }
        .await,
    )
}

/// Row 5: writes stop at the scratch space's size and inode quota; nothing else is writable.
pub(super) async fn disk_fill(t: &Target<'_>) -> Verdict {
    if t.tier == Tier::Wasm {
        return rejected(t, &wat_code(wat!("filesystem")), "filesystem")
            .await
            .into();
    }
    verdict(
        async {
            let tmpfs: u64 = 1 << 20;
            let l = Limits {
                tmpfs_bytes: tmpfs,
                ..limits()
            };
            let info = probe(t, py!("disk_fill"), json!({ "tmpfs": tmpfs }), l).await?;
            Ok(format!(
                "stopped at {} bytes (errno {}), {} files (errno {}); 50 GiB sparse file: {}; \
                 root read-only",
                info["bytes"],
                info["fill_errno"],
                info["files"],
                info["inode_errno"],
                info["sparse"]
            ))
        }
        .await,
    )
}

/// Row 6: a flood of output is cut at the cap, ends the call as `output_too_large` at once, and
/// stderr is kept only up to its cap.
pub(super) async fn huge_output(t: &Target<'_>) -> Verdict {
    verdict(
        async {
            let l = Limits {
                output_bytes: 64 << 10,
                stderr_bytes: 8 << 10,
                ..limits()
            };
            let code = pick(t, py!("flood"), wat!("flood"));
            let started = Instant::now();
            let out = t.run(&code, b"", l.clone()).await?;
            let took = started.elapsed();
            match &out {
                Outcome::Failed {
                    failure: Failure::OutputTooLarge,
                    stderr_tail,
                    ..
                } => ensure(stderr_tail.len() <= l.stderr_bytes, || {
                    format!("kept {} bytes of stderr", stderr_tail.len())
                })?,
                o => return Err(format!("flood ended as {}", describe(o))),
            }
            ensure(took < Duration::from_secs(5), || {
                format!("the flooding guest was stopped only after {took:?}")
            })?;
            Ok(format!("output_too_large after {} ms", took.as_millis()))
        }
        .await,
    )
}

/// Row 7: every destination fails, and the host's own listener is never reached.
pub(super) async fn egress(t: &Target<'_>) -> Verdict {
    if t.tier == Tier::Wasm {
        return rejected(t, &wat_code(wat!("sockets")), "sockets")
            .await
            .into();
    }
    verdict(
        async {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
            listener.set_nonblocking(true).map_err(|e| e.to_string())?;
            let port = listener.local_addr().map_err(|e| e.to_string())?.port();
            let info = probe(t, py!("egress"), json!({ "port": port }), limits()).await?;
            ensure(listener.accept().is_err(), || {
                "the host's listener accepted a connection".into()
            })?;
            Ok(format!(
                "9 destinations, DNS and docker.sock failed; interfaces {}",
                info["interfaces"]
            ))
        }
        .await,
    )
}

/// Row 8: host files, the daemon's memory and environment, and the call's non-`SRE_` variables
/// are invisible.
pub(super) async fn secrets(t: &Target<'_>) -> Verdict {
    verdict(
        async {
            if t.tier == Tier::Wasm {
                let out = t.run(&wat_code(wat!("prestat")), b"", limits()).await?;
                ensure(stdout_ok(&out)? == b"0", || {
                    format!(
                        "preopened descriptors: {}",
                        String::from_utf8_lossy(stdout_ok(&out).unwrap_or_default())
                    )
                })?;
                let out = t.run(&wat_code(wat!("environ")), b"", limits()).await?;
                let text = String::from_utf8_lossy(stdout_ok(&out)?).into_owned();
                ensure(
                    !text.contains(&t.host.secret) && !text.contains("HOME"),
                    || format!("host variables visible: {text:?}"),
                )?;
                return Ok("no preopened directories; no host variables".into());
            }
            probe(t, py!("secrets"), json!({}), limits()).await?;
            Ok("shadow, key file, daemon memory/environ, docker.sock, env: none visible".into())
        }
        .await,
    )
}

/// A group of system calls that must all fail (`conformance/py/syscalls.py`).
async fn syscalls(t: &Target<'_>, group: &str) -> Verdict {
    if let Some(v) = wasm_na(t, NO_PROCESSES) {
        return v;
    }
    verdict(
        async {
            let info = probe(t, py!("syscalls"), json!({ "group": group }), limits()).await?;
            Ok(format!("all refused: {info}"))
        }
        .await,
    )
}

/// Row 9.
pub(super) async fn ptrace(t: &Target<'_>) -> Verdict {
    syscalls(t, "ptrace").await
}

/// Row 10.
pub(super) async fn namespaces(t: &Target<'_>) -> Verdict {
    syscalls(t, "namespaces").await
}

/// Row 14.
pub(super) async fn keyring(t: &Target<'_>) -> Verdict {
    syscalls(t, "keyring").await
}

/// Row 15.
pub(super) async fn io_uring(t: &Target<'_>) -> Verdict {
    syscalls(t, "io_uring").await
}

/// Row 16.
pub(super) async fn kernel(t: &Target<'_>) -> Verdict {
    syscalls(t, "kernel").await
}

/// Row 22: setting clocks fails; on WASM there is no call to set one.
pub(super) async fn clock(t: &Target<'_>) -> Verdict {
    if t.tier == Tier::Wasm {
        return rejected(t, &wat_code(wat!("clock_set")), "not provided")
            .await
            .into();
    }
    syscalls(t, "clock").await
}

/// A probe that must report no breach, on the process and container tiers only.
async fn simple_probe(t: &Target<'_>, src: &str, pass: &str) -> Verdict {
    if let Some(v) = wasm_na(t, NO_PROCESSES) {
        return v;
    }
    verdict(
        async {
            let info = probe(t, src, json!({}), limits()).await?;
            Ok(if info.as_object().is_some_and(|o| !o.is_empty()) {
                format!("{pass}: {info}")
            } else {
                pass.to_owned()
            })
        }
        .await,
    )
}

/// Row 11.
pub(super) async fn raw_sockets(t: &Target<'_>) -> Verdict {
    simple_probe(t, py!("raw_sockets"), "refused").await
}

/// Row 12: no writes to /proc or /sys, no kernel addresses, no worker paths in the mount table,
/// and the host's cgroup tree hidden by a cgroup namespace.
pub(super) async fn proc_sys(t: &Target<'_>) -> Verdict {
    if let Some(v) = wasm_na(t, NO_PROCESSES) {
        return v;
    }
    verdict(
        async {
            let mut host_paths = vec!["/run/ain-sre".to_owned()];
            if let Ok(cwd) = std::env::current_dir() {
                host_paths.push(cwd.display().to_string());
            }
            let info = probe(
                t,
                py!("proc_sys"),
                json!({ "host_paths": host_paths }),
                limits(),
            )
            .await?;
            let engine = if info["engine_paths_in_mountinfo"] == true {
                " (the engine's storage paths show in mountinfo)"
            } else {
                ""
            };
            Ok(format!(
                "writes refused, kcore/kallsyms useless, no worker paths, cgroup namespace{engine}"
            ))
        }
        .await,
    )
}

/// Row 13.
pub(super) async fn privileges(t: &Target<'_>) -> Verdict {
    simple_probe(t, py!("privileges"), "no capabilities, not root").await
}

/// Row 17.
pub(super) async fn tty(t: &Target<'_>) -> Verdict {
    if let Some(v) = wasm_na(
        t,
        "no ioctl in WASI preview 1; output is captured in memory, never a terminal",
    ) {
        return v;
    }
    simple_probe(t, py!("tty"), "TIOCSTI refused, no terminal").await
}

/// Row 18: `kill(-1)` and kills by host pid touch nothing outside the sandbox.
pub(super) async fn signals(t: &Target<'_>) -> Verdict {
    if let Some(v) = wasm_na(t, NO_PROCESSES) {
        return v;
    }
    verdict(
        async {
            let mut victim = tokio::process::Command::new("sleep")
                .arg("60")
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| format!("starting the victim: {e}"))?;
            let pid = victim.id().unwrap_or(0);
            let r = probe(t, py!("kill"), json!({ "victim": pid }), limits()).await;
            let alive = matches!(victim.try_wait(), Ok(None));
            let _ = victim.kill().await;
            r?;
            ensure(alive, || "the host victim process was killed".into())?;
            Ok("host processes untouched".into())
        }
        .await,
    )
}

/// Row 19: files, shared memory, abstract sockets and processes of one call are gone for the
/// next one.
pub(super) async fn residue(t: &Target<'_>) -> Verdict {
    verdict(
        async {
            if t.tier == Tier::Wasm {
                let code = wat_code(wat!("counter"));
                for i in 0..2 {
                    let out = t.run(&code, b"", limits()).await?;
                    ensure(stdout_ok(&out)? == b"11", || {
                        format!("call {i} saw state of an earlier call")
                    })?;
                }
                return Ok("globals and memory fresh on every call".into());
            }
            probe(t, py!("residue"), json!({ "phase": "plant" }), limits()).await?;
            t.nothing_survives().await?;
            probe(t, py!("residue"), json!({ "phase": "check" }), limits()).await?;
            Ok("/tmp, /dev/shm, SysV shm, abstract socket, processes: all gone".into())
        }
        .await,
    )
}

/// Row 20: links and FIFOs left behind are never followed: only stdout bytes come back.
pub(super) async fn output_links(t: &Target<'_>) -> Verdict {
    if let Some(v) = wasm_na(
        t,
        "results only through fd_write into memory; a module has no files",
    ) {
        return v;
    }
    verdict(
        async {
            let out = t.run(&py_code(py!("output_links")), b"", limits()).await?;
            let stdout = stdout_ok(&out)?;
            ensure(stdout == b"only this line", || {
                format!("output was {:?}", String::from_utf8_lossy(stdout))
            })?;
            Ok("only the stdout stream is collected".into())
        }
        .await,
    )
}

/// Row 21.
pub(super) async fn devices(t: &Target<'_>) -> Verdict {
    simple_probe(t, py!("devices"), "no dangerous device").await
}

/// Row 23: accepted risk, with no pass/fail program.
pub(super) async fn side_channels(_t: &Target<'_>) -> Verdict {
    Verdict::NotApplicable(
        "accepted risk (SECURITY.md): mitigations are configuration, not a guest program".into(),
    )
}

/// Row 24: oversized and malformed code is refused at prepare time, quickly.
pub(super) async fn malformed(t: &Target<'_>) -> Verdict {
    verdict(
        async {
            let runtime = if t.tier == Tier::Wasm {
                "wasm"
            } else {
                "python3"
            };
            let huge = FunctionCode::new(runtime, vec![b' '; 17 << 20]);
            let started = Instant::now();
            match t.prepare(&huge).await {
                Ok(()) => return Err("17 MiB of code was accepted".into()),
                Err(e) if e.starts_with("rejected") => {}
                Err(e) => return Err(format!("17 MiB of code: {e}")),
            }
            let took = started.elapsed();
            ensure(took < Duration::from_secs(2), || {
                format!("refusing 17 MiB of code took {took:?}")
            })?;
            if t.tier == Tier::Wasm {
                let garbage =
                    FunctionCode::new("wasm", b"\0asm\x01\0\0\0\xff\xff\xff\xff".to_vec());
                rejected(t, &garbage, "invalid WebAssembly").await?;
                let text =
                    FunctionCode::new("wasm", b"(module (func (export \"_start\") (".to_vec());
                rejected(t, &text, "invalid WebAssembly").await?;
                let compile = slow_to_compile(t).await?;
                return Ok(format!(
                    "oversize refused in {} ms; garbage refused; {compile}",
                    took.as_millis()
                ));
            } else {
                // Source that is not even text: a normal failed call, not a host fault.
                let out = t
                    .run(
                        &FunctionCode::new("python3", b"\xff\xfe\0print(1)\n".to_vec()),
                        b"",
                        limits(),
                    )
                    .await?;
                ensure(out.status() == "error", || {
                    format!("invalid source ended as {}", describe(&out))
                })?;
            }
            Ok(format!(
                "oversize refused in {} ms; malformed code refused or failed cleanly",
                took.as_millis()
            ))
        }
        .await,
    )
}

/// Row 24 on WASM: a module built to be slow to compile. Its cost must be bounded by something
/// the tier controls: deep nesting refused, or compile time growing no faster than the module.
/// Two sizes are timed (4x apart) rather than one huge module, so the check stays cheap while
/// still telling linear from quadratic cost (a linear compiler takes about 4x longer; a
/// quadratic one about 16x).
async fn slow_to_compile(t: &Target<'_>) -> Res {
    // `pages` only makes each module distinct, so none is served from the prepared cache.
    let nested = |depth: usize, pages: usize| {
        FunctionCode::new(
            "wasm",
            format!(
                "(module (memory (export \"memory\") {pages}) (func (export \"_start\") {}{}))",
                "block ".repeat(depth),
                "end ".repeat(depth)
            )
            .into_bytes(),
        )
    };
    let (small, large) = (10_000, 40_000);
    let mut times = Vec::new();
    let mut refused = 0;
    // CPU time of this process (the compiler runs in it), not wall time, so other work on the
    // host does not skew the ratio; and the least of a few runs of each size.
    for (depth, runs) in [(small, 2), (large, 1)] {
        let mut best = Duration::MAX;
        for pages in 1..=runs {
            let before = process_cpu();
            if t.prepare(&nested(depth, pages)).await.is_err() {
                refused += 1;
            }
            best = best.min(process_cpu().saturating_sub(before));
        }
        times.push(best);
    }
    let refused = refused == 3;
    let ratio = times[1].as_secs_f64() / times[0].as_secs_f64().max(1e-3);
    let seen = format!(
        "{small} nested blocks: {} ms CPU, {large}: {} ms (x{ratio:.1})",
        times[0].as_millis(),
        times[1].as_millis()
    );
    ensure(refused || ratio < 8.0, || {
        format!(
            "compile time grows superlinearly with nesting depth ({seen}): a module far below the \
             size cap compiles for minutes, and nothing limits compile time or nesting"
        )
    })?;
    Ok(if refused {
        format!("deep nesting refused ({seen})")
    } else {
        format!("compile time linear ({seen})")
    })
}

/// User + system CPU time of this process so far.
fn process_cpu() -> Duration {
    use nix::sys::resource::{UsageWho, getrusage};
    getrusage(UsageWho::RUSAGE_SELF)
        .map(|u| {
            let (user, sys) = (u.user_time(), u.system_time());
            Duration::from_secs((user.tv_sec() + sys.tv_sec()) as u64)
                + Duration::from_micros((user.tv_usec() + sys.tv_usec()) as u64)
        })
        .unwrap_or_default()
}
