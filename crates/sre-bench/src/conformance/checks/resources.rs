//! SECURITY.md rows 1–6 and 24: resource exhaustion and malformed code. Each check passes when
//! the attack fails.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{
    Res, describe, ensure, limits, pick, probe, probe_result, py, py_code, rejected, run_probe,
    stdout_ok, verdict, wasm_na, wat, wat_code,
};
use crate::conformance::{Target, Verdict};
use crate::sandbox::{Failure, FunctionCode, Limits, Outcome, Tier};

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
