//! SECURITY.md rows 7–23: isolation from the host, the kernel and other calls. Each check passes
//! when the attack fails.

use serde_json::json;

use super::{
    ensure, limits, probe, py, py_code, rejected, stdout_ok, verdict, wasm_na, wat, wat_code,
};
use crate::conformance::{Target, Verdict};
use crate::sandbox::Tier;

const NO_PROCESSES: &str = "WASI has no processes, threads or system calls";

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
                "writes refused, kcore/kallsyms useless, no worker paths, cgroup namespace, \
                 no host counters/boot id/cmdline/block devices{engine}"
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
