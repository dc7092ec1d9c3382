//! One call on a started, attached container: send the framed stdin, collect stdout (hard cap:
//! more kills the container) and the stderr tail, enforce the wall deadline with `kill`, read the
//! exit status and OOM flag, and turn it all into an [`Outcome`]. A container is reused only
//! when the function's profile opted in, the call completed cleanly and the stem cell consumed
//! its whole frame (see [`drive`]).

use std::time::Instant;

use bollard::Docker;
use bollard::container::{AttachContainerResults, LogOutput};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, KillContainerOptionsBuilder, WaitContainerOptionsBuilder,
};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::guest::Lease;
use super::host_usage;
use crate::{Failure, Limits, Outcome, SandboxError, Tier, Usage};

/// A created, attached and started container waiting for its one call.
pub(crate) struct Warm {
    /// Container id.
    pub(crate) id: String,
    /// The attach streams, opened before start so no output is missed.
    pub(crate) attach: AttachContainerResults,
    /// The container's guest uid: dropped (returned to the range) only after the container is
    /// removed.
    pub(crate) lease: Lease,
}

pub(crate) fn host_fault(what: &str, e: impl std::fmt::Display) -> SandboxError {
    SandboxError::Host {
        tier: Tier::Container,
        why: format!("{what}: {e}"),
    }
}

/// Creates, attaches and starts a container (`body` made with `lease`'s uid).
pub(crate) async fn launch(
    docker: &Docker,
    body: bollard::models::ContainerCreateBody,
    lease: Lease,
) -> Result<Warm, SandboxError> {
    let created = docker
        .create_container(None, body)
        .await
        .map_err(|e| host_fault("creating a container", e))?;
    let id = created.id;
    let attached = async {
        let attach = docker
            .attach_container(
                &id,
                Some(
                    AttachContainerOptionsBuilder::new()
                        .stdin(true)
                        .stdout(true)
                        .stderr(true)
                        .stream(true)
                        .build(),
                ),
            )
            .await
            .map_err(|e| host_fault("attaching to a container", e))?;
        docker
            .start_container(&id, None)
            .await
            .map_err(|e| host_fault("starting a container", e))?;
        Ok(attach)
    }
    .await;
    match attached {
        Ok(attach) => Ok(Warm { id, attach, lease }),
        Err(e) => {
            super::remove(docker, &id).await;
            Err(e)
        }
    }
}

/// The stem cell's stdin frame: header, `SRE_*` environment, code, input. `keep`: the stem cell
/// waits for another frame after this call instead of exiting (same-function reuse).
pub(crate) fn frame(
    nonce: &str,
    env: &[(&str, &str)],
    code: &[u8],
    input: &[u8],
    keep: bool,
) -> Vec<u8> {
    let env: Vec<String> = env
        .iter()
        .filter(|(k, _)| {
            (k.starts_with("SRE_") || crate::egress::PROXY_VARS.contains(k))
                && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
        .map(|(k, v)| format!("{k}={}\n", escape_env_value(v)))
        .collect();
    let mut out = format!(
        "SRE1 {nonce} {} {} {} {}\n",
        env.len(),
        code.len(),
        input.len(),
        u8::from(keep)
    )
    .into_bytes();
    out.reserve(code.len() + input.len() + 256);
    for e in &env {
        out.extend_from_slice(e.as_bytes());
    }
    out.extend_from_slice(code);
    out.extend_from_slice(input);
    out
}

/// One environment value on one frame line: backslash, newline and carriage return written as
/// `\\`, `\n`, `\r`, which the stem cell turns back (bash `printf '%b'`), so a secret such as
/// a PEM key reaches the guest byte for byte. No other backslash sequence is ever produced, so
/// none of `%b`'s others (`\c`, octal) can arise.
fn escape_env_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

/// What the stem cell reported after the guest exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Report {
    pub(crate) exit_code: i32,
    pub(crate) cpu_ns: u64,
    pub(crate) mem_bytes: u64,
    pub(crate) oom_kills: u64,
    /// The stem cell consumed the whole input: its stdin is at the next frame.
    pub(crate) reusable: bool,
}

/// Finds the stem cell's usage line (the last one carrying `nonce`) in the stderr tail and cuts
/// it, and everything after it, off.
pub(crate) fn take_report(stderr: &mut Vec<u8>, nonce: &str) -> Option<Report> {
    let needle = format!("\n{nonce} ");
    let at = stderr
        .windows(needle.len())
        .rposition(|w| w == needle.as_bytes())?;
    let line = String::from_utf8_lossy(&stderr[at + needle.len()..]).into_owned();
    stderr.truncate(at);
    let mut f = line.split_whitespace().map(|n| n.parse::<u64>().ok());
    let exit_code = f.next()??;
    let cpu_ns = f.next().flatten().unwrap_or(0);
    let mem_bytes = f.next().flatten().unwrap_or(0);
    let oom_kills = f.next().flatten().unwrap_or(0);
    let reusable = f.next().flatten() == Some(1);
    Some(Report {
        exit_code: exit_code as i32,
        cpu_ns,
        mem_bytes,
        oom_kills,
        reusable,
    })
}

enum Ended {
    /// The streams closed (the container exited).
    Eof,
    /// The stem cell's trailer and usage line arrived: the guest has exited.
    Reported,
    Overflow,
    Deadline,
}

/// True once `stderr` holds a complete usage line for `nonce`.
fn report_complete(stderr: &[u8], nonce: &str) -> bool {
    let needle = format!("\n{nonce} ");
    stderr
        .windows(needle.len())
        .rposition(|w| w == needle.as_bytes())
        .is_some_and(|at| stderr[at + needle.len()..].contains(&b'\n'))
}

/// What a call writes to its container and how the container answers.
pub(crate) struct Feed<'a> {
    /// The whole stdin: a stem cell's frame, or a bring-your-own image's input.
    pub(crate) stdin: Vec<u8>,
    /// The stem cell's nonce (ends stdout, marks the usage line); `None` for an image.
    pub(crate) nonce: Option<&'a str>,
    /// Same-function reuse: the container may serve another call after this one.
    pub(crate) keep: bool,
}

/// Runs one call on container `id` through its `attach` streams. `nonce` is set for stem-cell images: the call is over when stdout
/// ends with the nonce and the usage line is on stderr, without waiting for the engine to tear
/// the container down (pid 1 has exited by then, which kills everything else in the container).
/// Bring-your-own images report nothing: the call ends at end of stream, the exit status comes
/// from the engine, and usage is sampled from the container's cgroup on the host. A container still running at the deadline or past the output cap is
/// killed; its removal is left to the caller.
///
/// With `keep` (same-function reuse) stdin stays open after the frame, and the container comes
/// back (its attach streams) with the outcome when it may serve another call: the call
/// completed (no timeout, OOM or output overflow) and the stem cell reported that it consumed the
/// whole input.
pub(crate) async fn drive(
    docker: &Docker,
    id: &str,
    attach: AttachContainerResults,
    feed: Feed<'_>,
    limits: &Limits,
    started: Instant,
) -> Result<(Outcome, Option<AttachContainerResults>), SandboxError> {
    let Feed { stdin, nonce, keep } = feed;
    let deadline = tokio::time::Instant::from_std(started + limits.wall_time);
    // Without a stem cell nobody inside reports usage: sample the container's cgroup from here.
    let watch = match nonce {
        Some(_) => None,
        None => docker
            .inspect_container(id, None)
            .await
            .ok()
            .and_then(|i| i.state?.pid)
            .and_then(|pid| u32::try_from(pid).ok().filter(|p| *p > 0))
            .and_then(host_usage::Watch::start),
    };
    let AttachContainerResults {
        mut output,
        mut input,
    } = attach;
    let stdin_len = stdin.len();
    // Writing runs beside reading: a guest that never reads its input must not stall us.
    let mut writer = tokio::spawn(async move {
        let wrote = input.write_all(&stdin).await.and(input.flush().await);
        if !keep {
            let _ = input.shutdown().await;
        }
        tracing::debug!(ms = started.elapsed().as_millis() as u64, "stdin written");
        wrote.is_ok().then_some(input)
    });
    let trailer = nonce.map_or(0, str::len);
    let out_cap = limits.output_bytes;
    // Room for the stem cell's usage line on top of the guest's stderr tail.
    let err_cap = limits.stderr_bytes + 160;
    // A large input often means a large output: room for it up front, not a copy at every
    // doubling (untouched room is not resident).
    let room = if stdin_len > 1 << 20 {
        stdin_len.min(out_cap)
    } else {
        0
    };
    let mut stdout = Vec::with_capacity(room);
    let mut stderr: Vec<u8> = Vec::new();
    let mut first: Option<Instant> = None;
    let ended = tokio::time::timeout_at(deadline, async {
        while let Some(item) = output.next().await {
            match item {
                Ok(LogOutput::StdOut { message }) => {
                    first.get_or_insert_with(Instant::now);
                    if stdout.len() + message.len() > out_cap + trailer {
                        let room = (out_cap + trailer).saturating_sub(stdout.len());
                        stdout.extend_from_slice(&message[..room]);
                        return Ended::Overflow;
                    }
                    stdout.extend_from_slice(&message);
                }
                Ok(LogOutput::StdErr { message }) => {
                    stderr.extend_from_slice(&message);
                    if stderr.len() > 2 * err_cap {
                        stderr.drain(..stderr.len() - err_cap);
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
            if let Some(n) = nonce
                && stdout.ends_with(n.as_bytes())
                && report_complete(&stderr, n)
            {
                return Ended::Reported;
            }
        }
        Ended::Eof
    })
    .await
    .unwrap_or(Ended::Deadline);
    let report = nonce.and_then(|n| take_report(&mut stderr, n));
    // A container that may serve the next call of the same function: both attach halves kept.
    if keep
        && matches!(ended, Ended::Reported)
        && report.is_some_and(|r| r.reusable && r.oom_kills == 0)
        && stdout.len() <= out_cap + trailer
    {
        // The stem cell consumed the whole frame, so the writer is done or about to be.
        if let Ok(Ok(Some(input))) =
            tokio::time::timeout(std::time::Duration::from_secs(1), &mut writer).await
        {
            let n = nonce.unwrap_or_default();
            stdout.truncate(stdout.len() - n.len());
            if stderr.len() > limits.stderr_bytes {
                stderr.drain(..stderr.len() - limits.stderr_bytes);
            }
            let r = report.unwrap_or(Report {
                exit_code: 0,
                cpu_ns: 0,
                mem_bytes: 0,
                oom_kills: 0,
                reusable: false,
            });
            let out = Outcome::Completed {
                exit_code: r.exit_code,
                stdout,
                stderr_tail: stderr,
                usage: Usage {
                    wall_us: started.elapsed().as_micros() as u64,
                    cpu_us: r.cpu_ns / 1000,
                    mem_peak_kb: r.mem_bytes / 1024,
                },
            };
            return Ok((out, Some(AttachContainerResults { output, input })));
        }
    }
    // Both halves of the attach connection must be gone before a kill: the engine does not
    // finish a container's exit while it still pushes output into a socket nobody reads.
    writer.abort();
    let _ = writer.await;
    drop(output);
    tracing::debug!(container = %id, ms = started.elapsed().as_millis() as u64, first_ms = first.map(|f| f.duration_since(started).as_millis() as u64), "output complete");

    if let Some(n) = nonce
        && stdout.ends_with(n.as_bytes())
    {
        stdout.truncate(stdout.len() - n.len());
    }
    if stderr.len() > limits.stderr_bytes {
        stderr.drain(..stderr.len() - limits.stderr_bytes);
    }
    let mut failure = match ended {
        Ended::Eof | Ended::Reported => None,
        Ended::Overflow => Some(Failure::OutputTooLarge),
        Ended::Deadline => Some(Failure::Timeout),
    };
    if stdout.len() > out_cap {
        stdout.truncate(out_cap);
        failure = Some(Failure::OutputTooLarge);
    }
    let mut engine_exit = None;
    let mut oom_flag = false;
    if failure.is_some() {
        kill(docker, id).await;
    }
    if !matches!(ended, Ended::Reported) || failure.is_some() {
        // The exit status from the engine. A guest that closed its streams but keeps running
        // meets the deadline here; after a kill, engine trouble is bounded by a grace period.
        let limit = if failure.is_some() {
            tokio::time::Instant::now() + ENGINE_GRACE
        } else {
            deadline
        };
        let wait = tokio::time::timeout_at(
            limit,
            docker
                .wait_container(id, Some(WaitContainerOptionsBuilder::new().build()))
                .next(),
        )
        .await;
        engine_exit = match wait {
            Ok(Some(Ok(r))) => Some(r.status_code),
            Ok(Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. }))) => {
                Some(code)
            }
            Ok(Some(Err(e))) => return Err(host_fault("waiting for a container", e)),
            Ok(None) => None,
            Err(_) => {
                kill(docker, id).await;
                failure.get_or_insert(Failure::Timeout);
                None
            }
        };
        oom_flag =
            match tokio::time::timeout(ENGINE_GRACE, docker.inspect_container(id, None)).await {
                Ok(Ok(i)) => i.state.and_then(|s| s.oom_killed).unwrap_or(false),
                _ => false,
            };
    }
    let sampled = match watch {
        Some(w) => w.finish().await,
        None => host_usage::Sample::default(),
    };
    let usage = Usage {
        wall_us: started.elapsed().as_micros() as u64,
        cpu_us: report.map_or(sampled.cpu_ns, |r| r.cpu_ns) / 1000,
        mem_peak_kb: report.map_or(sampled.mem_bytes, |r| r.mem_bytes) / 1024,
    };
    let oom = oom_flag || report.is_some_and(|r| r.oom_kills > 0);
    let failure = match failure {
        Some(f) => Some(f),
        None if oom => Some(Failure::Oom),
        None => None,
    };
    if let Some(failure) = failure {
        let stdout = if failure == Failure::OutputTooLarge {
            Vec::new()
        } else {
            stdout
        };
        return Ok((
            Outcome::Failed {
                failure,
                stdout,
                stderr_tail: stderr,
                usage,
            },
            None,
        ));
    }
    let exit_code = match (report, engine_exit) {
        (Some(r), _) => r.exit_code,
        (None, Some(c)) => c as i32,
        (None, None) => {
            return Ok((
                Outcome::Failed {
                    failure: Failure::Trap("the container's exit status is unknown".into()),
                    stdout,
                    stderr_tail: stderr,
                    usage,
                },
                None,
            ));
        }
    };
    Ok((
        Outcome::Completed {
            exit_code,
            stdout,
            stderr_tail: stderr,
            usage,
        },
        None,
    ))
}

/// How long an engine request after a kill may take before the call gives up on it (the
/// container is removed by the reaper or the leftover sweep either way).
const ENGINE_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// SIGKILL; errors (already exited) are ignored.
pub(crate) async fn kill(docker: &Docker, id: &str) {
    let _ = tokio::time::timeout(
        ENGINE_GRACE,
        docker.kill_container(
            id,
            Some(KillContainerOptionsBuilder::new().signal("KILL").build()),
        ),
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_layout_and_env_filter() {
        let f = frame(
            "n1",
            &[
                ("SRE_CALL_ID", "a\nb\\c\r"),
                ("PATH", "/x"),
                ("SRE_BAD-NAME", "1"),
            ],
            b"code",
            b"input",
            false,
        );
        assert_eq!(
            f,
            b"SRE1 n1 1 4 5 0\nSRE_CALL_ID=a\\nb\\\\c\\r\ncodeinput".to_vec()
        );
    }

    #[test]
    fn report_is_cut_from_stderr() {
        let mut e = b"warn\nfake\nabc 1 2 3 4\n\nabc 0 5000 1048576 0 1\n".to_vec();
        let r = take_report(&mut e, "abc").unwrap();
        assert_eq!(
            r,
            Report {
                exit_code: 0,
                cpu_ns: 5000,
                mem_bytes: 1 << 20,
                oom_kills: 0,
                reusable: true
            }
        );
        assert_eq!(e, b"warn\nfake\nabc 1 2 3 4\n");
        let mut none = b"nothing".to_vec();
        assert!(take_report(&mut none, "abc").is_none());
    }
}
