//! The functional contract every tier promises a function (`Sandbox`, `Outcome`, `Usage`).

use std::time::{Duration, Instant};

use super::{describe, ensure, limits, pick, py, stdout_ok, verdict, wat};
use crate::conformance::{Target, Verdict};
use crate::sandbox::{Limits, Outcome, Tier};

/// C1: stdin reaches the guest and its stdout comes back byte for byte.
pub(super) async fn stdin_stdout(t: &Target<'_>) -> Verdict {
    verdict(
        async {
            let input: Vec<u8> = (0..(256 << 10)).map(|i| (i % 256) as u8).collect();
            let l = Limits {
                output_bytes: 512 << 10,
                ..limits()
            };
            let out = t
                .run(&pick(t, py!("echo"), wat!("echo")), &input, l)
                .await?;
            let stdout = stdout_ok(&out)?;
            ensure(stdout == &input[..], || {
                format!(
                    "{} bytes in, {} different bytes out",
                    input.len(),
                    stdout.len()
                )
            })?;
            Ok("256 KiB of binary echoed exactly".into())
        }
        .await,
    )
}

/// C2: the exit status is reported; non-zero is `error`.
pub(super) async fn exit_codes(t: &Target<'_>) -> Verdict {
    verdict(
        async {
            let (three, zero) = match t.tier {
                Tier::Wasm => (
                    t.run(&pick(t, "", wat!("exit3")), b"", limits()).await?,
                    t.run(&pick(t, "", wat!("echo")), b"", limits()).await?,
                ),
                _ => {
                    let code = pick(t, py!("exit"), "");
                    (
                        t.run(&code, b"3", limits()).await?,
                        t.run(&code, b"0", limits()).await?,
                    )
                }
            };
            ensure(
                matches!(three, Outcome::Completed { exit_code: 3, .. })
                    && three.status() == "error",
                || format!("exit(3) ended as {}", describe(&three)),
            )?;
            ensure(
                matches!(zero, Outcome::Completed { exit_code: 0, .. }) && zero.status() == "ok",
                || format!("exit(0) ended as {}", describe(&zero)),
            )?;
            Ok("3 → error, 0 → ok".into())
        }
        .await,
    )
}

/// C3: exactly the cap is fine; one byte more is `output_too_large`.
pub(super) async fn output_cap(t: &Target<'_>) -> Verdict {
    verdict(
        async {
            let cap = 1000;
            let l = Limits {
                output_bytes: cap,
                ..limits()
            };
            let code = pick(t, py!("echo"), wat!("echo"));
            let at = t.run(&code, &vec![b'a'; cap], l.clone()).await?;
            ensure(stdout_ok(&at)?.len() == cap, || {
                format!("{cap} bytes at a {cap}-byte cap: {}", describe(&at))
            })?;
            let over = t.run(&code, &vec![b'a'; cap + 1], l).await?;
            ensure(over.status() == "output_too_large", || {
                format!("{} bytes at a {cap}-byte cap: {}", cap + 1, describe(&over))
            })?;
            Ok(format!("{cap} bytes ok, {} output_too_large", cap + 1))
        }
        .await,
    )
}

/// C4: stderr is kept up to its cap, as the tail of the stream.
pub(super) async fn stderr_tail(t: &Target<'_>) -> Verdict {
    verdict(
        async {
            let cap = 1000;
            let l = Limits {
                stderr_bytes: cap,
                ..limits()
            };
            let end = b"END-OF-STDERR";
            let input: Vec<u8> = match t.tier {
                // The module copies stdin to stderr; the Python program writes 100 000 bytes first.
                Tier::Wasm => [vec![b'e'; 100_000], end.to_vec()].concat(),
                _ => end.to_vec(),
            };
            let out = t
                .run(&pick(t, py!("stderr"), wat!("stderr")), &input, l)
                .await?;
            let Outcome::Completed {
                exit_code: 0,
                stderr_tail,
                ..
            } = &out
            else {
                return Err(format!("ended as {}", describe(&out)));
            };
            ensure(
                stderr_tail.len() <= cap && stderr_tail.ends_with(end),
                || {
                    format!(
                        "kept {} bytes ending {:?}",
                        stderr_tail.len(),
                        String::from_utf8_lossy(
                            &stderr_tail[stderr_tail.len().saturating_sub(20)..]
                        )
                    )
                },
            )?;
            Ok(format!("last {} of 100 013 bytes kept", stderr_tail.len()))
        }
        .await,
    )
}

/// C5: wall time, CPU time and peak memory are reported and plausible.
pub(super) async fn usage(t: &Target<'_>) -> Verdict {
    verdict(
        async {
            let l = limits();
            let out = t
                .run(&pick(t, py!("usage"), wat!("usage")), b"", l.clone())
                .await?;
            stdout_ok(&out)?;
            let u = out.usage();
            ensure(u.wall_us > 0 && u.cpu_us > 0, || format!("usage {u:?}"))?;
            ensure(u.cpu_us <= u.wall_us + 100_000, || {
                format!("cpu {} µs over wall {} µs", u.cpu_us, u.wall_us)
            })?;
            ensure(
                u.mem_peak_kb >= 20 << 10 && u.mem_peak_kb <= l.memory_bytes / 1024,
                || format!("peak {} KiB after touching 24 MiB", u.mem_peak_kb),
            )?;
            Ok(format!(
                "wall {} ms, cpu {} ms, peak {} KiB",
                u.wall_us / 1000,
                u.cpu_us / 1000,
                u.mem_peak_kb
            ))
        }
        .await,
    )
}

/// C6: the guest sees exactly the call's `SRE_*` variables (and, on WASM, only its name as
/// argument).
pub(super) async fn env(t: &Target<'_>) -> Verdict {
    verdict(
        async {
            let want = ["SRE_CALL_ID=c1", "SRE_FUNCTION=conformance"];
            let out = t
                .run(&pick(t, py!("env"), wat!("environ")), b"", limits())
                .await?;
            let text = String::from_utf8_lossy(stdout_ok(&out)?).into_owned();
            let mut vars: Vec<String> = match t.tier {
                Tier::Wasm => {
                    let (args, env) = text.split_once('\n').ok_or("no argument line")?;
                    ensure(args == "conformance\0", || format!("arguments {args:?}"))?;
                    env.split('\0')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                }
                _ => {
                    let map: serde_json::Map<String, serde_json::Value> =
                        serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
                    map.iter()
                        // PEP 538: CPython itself sets LC_CTYPE when it coerces the C locale.
                        .filter(|(k, _)| k.as_str() != "LC_CTYPE")
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                        .collect()
                }
            };
            vars.sort();
            ensure(vars == want, || format!("guest environment {vars:?}"))?;
            Ok(want.join(" "))
        }
        .await,
    )
}

/// C7: the same prepared function called twice starts from a clean slate each time.
pub(super) async fn fresh_state(t: &Target<'_>) -> Verdict {
    verdict(
        async {
            let code = pick(t, py!("counter"), wat!("counter"));
            let want: &[u8] = if t.tier == Tier::Wasm { b"11" } else { b"1" };
            for i in 0..2 {
                let out = t.run(&code, b"", limits()).await?;
                let stdout = stdout_ok(&out)?;
                ensure(stdout == want, || {
                    format!("call {i} printed {:?}", String::from_utf8_lossy(stdout))
                })?;
            }
            Ok("two calls, both fresh".into())
        }
        .await,
    )
}

/// C8: a guest that never finishes is `timeout`, with the reported wall time at the deadline.
pub(super) async fn timeout(t: &Target<'_>) -> Verdict {
    verdict(
        async {
            let wall = Duration::from_millis(1500);
            let l = Limits {
                wall_time: wall,
                ..limits()
            };
            let started = Instant::now();
            let out = t.run(&pick(t, py!("sleep"), wat!("spin")), b"", l).await?;
            let took = started.elapsed();
            ensure(out.status() == "timeout", || {
                format!("ended as {}", describe(&out))
            })?;
            let reported = Duration::from_micros(out.usage().wall_us);
            ensure(
                reported >= wall && reported < wall + Duration::from_secs(3),
                || format!("reported wall {reported:?} for a {wall:?} deadline"),
            )?;
            Ok(format!(
                "timeout, reported {} ms, returned after {} ms",
                reported.as_millis(),
                took.as_millis()
            ))
        }
        .await,
    )
}

/// C9: running out of memory is `oom`, with the peak reported within the limit.
pub(super) async fn oom(t: &Target<'_>) -> Verdict {
    verdict(
        async {
            let limit: u64 = 32 << 20;
            let l = Limits {
                memory_bytes: limit,
                ..limits()
            };
            let out = t
                .run(&pick(t, py!("mem_bomb"), wat!("membomb")), b"", l)
                .await?;
            ensure(out.status() == "oom", || {
                format!("ended as {}", describe(&out))
            })?;
            let peak = out.usage().mem_peak_kb;
            ensure(peak <= limit / 1024 * 11 / 10, || {
                format!(
                    "reported peak {peak} KiB over the {} KiB limit",
                    limit / 1024
                )
            })?;
            Ok(format!("oom, peak {peak} KiB of {} KiB", limit / 1024))
        }
        .await,
    )
}

/// C10: a guest that overflows its stack crashes alone: a failed call, not a host fault.
pub(super) async fn crash(t: &Target<'_>) -> Verdict {
    verdict(
        async {
            let out = t
                .run(&pick(t, py!("recurse"), wat!("recurse")), b"", limits())
                .await?;
            ensure(out.status() == "error", || {
                format!("ended as {}", describe(&out))
            })?;
            Ok(describe(&out))
        }
        .await,
    )
}
