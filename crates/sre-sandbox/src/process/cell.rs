//! One stem cell: a helper already in its namespaces, cgroup and root, waiting for code and
//! input; and one call through it, from `Run` to a torn-down cgroup.

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::UnixStream;
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout};

use super::Shared;
use super::cgroup::Cgroup;
use super::linux;
use super::proto::{Report, Run, Setup, nonblocking as nb};
use crate::config::runtimes::Runtime;
use crate::{Failure, Invocation, Limits, NetworkPolicy, Outcome, SandboxError, Tier, Usage};

/// How long a killed sandbox's cgroup may take to empty before that is a host fault.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// How long a new stem cell may take to report each set-up step.
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);

fn host(why: impl std::fmt::Display) -> SandboxError {
    SandboxError::Host {
        tier: Tier::Process,
        why: why.to_string(),
    }
}

/// A sandbox created ahead of demand. Used for exactly one call, then destroyed.
pub(crate) struct StemCell {
    child: Child,
    ctl: UnixStream,
    stdin: ChildStdin,
    stdout: ChildStdout,
    stderr: ChildStderr,
    cleanups: tokio_util::task::TaskTracker,
    /// `/proc/<helper pid>`: names the helper (and its network namespace) while it lives.
    proc_dir: OwnedFd,
    bpf_egress: Arc<Vec<u64>>,
    // Declared last: dropped (killed and removed) after the helper handle.
    cgroup: Cgroup,
}

impl StemCell {
    /// Creates one stem cell for `runtime`: cgroup, helper process, namespaces, id maps, root.
    pub(crate) async fn create(
        shared: &Arc<Shared>,
        runtime: &Runtime,
    ) -> Result<StemCell, SandboxError> {
        // Process-wide, so two sandboxes in one process never share a cgroup name.
        static CELLS: AtomicU64 = AtomicU64::new(0);
        let n = CELLS.fetch_add(1, Ordering::Relaxed);
        let cgroup = shared
            .cgroups
            .create(&format!("{}-{n}", std::process::id()))
            .map_err(host)?;
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().map_err(host)?;
        let mut child = linux::spawn_helper(&shared.jail_exe, OwnedFd::from(theirs))
            .map_err(|e| host(format!("starting {}: {e}", shared.jail_exe.display())))?;
        let pid = child
            .id()
            .ok_or_else(|| host("the jail helper exited at once"))?;
        // The pid is ours and unreaped until we wait on it, so /proc/<pid> is this process.
        let proc_dir = linux::open_proc_dir(pid).map_err(host)?;
        let mut cgroup = cgroup;
        // The expected limits now, off the call's path; `run` rewrites them only if they differ.
        cgroup.apply(&Limits::default()).map_err(host)?;
        cgroup.add(pid).map_err(host)?;
        ours.set_nonblocking(true).map_err(host)?;
        let mut ctl = UnixStream::from_std(ours).map_err(host)?;
        // The slot's set-up uid owns the user namespace (see `Setup::owner`).
        let uid = shared.config.uid_base + 2 * (n % shared.config.uid_slots.max(1)) as u32;
        let setup = Setup {
            root: shared.config.root_dir.clone(),
            binds: runtime.process_binds.clone(),
            bpf: shared.bpf.clone(),
            tmpfs_bytes: Limits::default().tmpfs_bytes,
            tmpfs_inodes: tmpfs_inodes(Limits::default().tmpfs_bytes),
            owner: uid,
        };
        let handshake = async {
            nb::send(&mut ctl, &setup).await?;
            expect(&mut ctl, Report::Unshared).await?;
            linux::write_id_maps(&proc_dir, uid)?;
            nb::write_frame(&mut ctl, b"mapped").await?;
            expect(&mut ctl, Report::Ready).await
        };
        match tokio::time::timeout(SETUP_TIMEOUT, handshake).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(host(format!("stem cell set-up: {e}"))),
            Err(_) => return Err(host("stem cell set-up timed out")),
        }
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        Ok(StemCell {
            child,
            ctl,
            stdin,
            stdout,
            stderr,
            cleanups: shared.cleanups.clone(),
            proc_dir,
            bpf_egress: shared.bpf_egress.clone(),
            cgroup,
        })
    }

    /// Runs one call in this cell and destroys it.
    pub(crate) async fn run(
        mut self,
        runtime: &Runtime,
        code: &[u8],
        call: Invocation,
    ) -> Result<Outcome, SandboxError> {
        let limits = &call.limits;
        self.cgroup.apply(limits).map_err(host)?;
        let source = format!("/sre/{}", runtime.source_file);
        let mut env: Vec<(String, String)> = call
            .guest_env()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        // Egress: the proxy listens on the sandbox's own loopback, the only endpoint there is;
        // it serves until `_proxy` drops at the end of this call.
        let (_proxy, bpf) = match &limits.network {
            NetworkPolicy::None => (None, None),
            NetworkPolicy::Proxy(egress) => {
                let listener = linux::listen_in_netns(&self.proc_dir)
                    .map_err(|e| host(format!("opening the egress proxy in the sandbox: {e}")))?;
                let guard = egress.serve(listener).map_err(host)?;
                env.extend(egress.guest_env(guard.port()));
                (Some(guard), Some(self.bpf_egress.to_vec()))
            }
        };
        let run = Run {
            argv: runtime.argv(&source),
            env,
            source_file: runtime.source_file.clone(),
            tmpfs_bytes: limits.tmpfs_bytes,
            tmpfs_inodes: tmpfs_inodes(limits.tmpfs_bytes),
            fsize_bytes: limits.tmpfs_bytes.max(1 << 20),
            nofile: 256,
            cpu_secs: limits.cpu_time.as_secs_f64().ceil().max(1.0) as u64,
            bpf,
        };
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + limits.wall_time;
        nb::send(&mut self.ctl, &run).await.map_err(host)?;
        nb::write_frame(&mut self.ctl, code).await.map_err(host)?;

        // Input goes in while output comes out (either may exceed a pipe buffer).
        // A file input is streamed in bounded chunks (never whole in the worker's memory).
        let mut input = call.input.reader();
        let mut stdin = self.stdin;
        tokio::spawn(async move {
            let _ = tokio::io::copy(&mut input, &mut stdin).await;
        });
        let (overflow_tx, mut overflow_rx) = tokio::sync::oneshot::channel::<()>();
        let out_cap = limits.output_bytes;
        let mut stdout = self.stdout;
        // A large input often means a large output (a transform, an echo): room for it up front
        // instead of a copy at every doubling (untouched room is not resident).
        let room = if call.input.len() > 1 << 20 {
            call.input.len().min(out_cap)
        } else {
            0
        };
        let out_task = tokio::spawn(async move {
            let mut buf = Vec::with_capacity(room);
            let mut chunk = vec![0u8; 64 << 10];
            loop {
                match stdout.read(&mut chunk).await {
                    Ok(0) | Err(_) => return (buf, false),
                    Ok(n) if buf.len() + n > out_cap => {
                        buf.extend_from_slice(&chunk[..out_cap - buf.len()]);
                        let _ = overflow_tx.send(());
                        return (buf, true);
                    }
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
        });
        let err_cap = limits.stderr_bytes;
        let mut stderr = self.stderr;
        let err_task = tokio::spawn(async move {
            let mut tail: Vec<u8> = Vec::new();
            let mut chunk = vec![0u8; 16 << 10];
            while let Ok(n @ 1..) = stderr.read(&mut chunk).await {
                tail.extend_from_slice(&chunk[..n]);
                if tail.len() > err_cap {
                    tail.drain(..tail.len() - err_cap);
                }
            }
            tail
        });

        enum End {
            Exited(Report),
            Timeout,
            TooLarge,
            Lost(String),
        }
        let ctl = &mut self.ctl;
        let end = tokio::select! {
            r = nb::recv::<Report>(ctl) => match r {
                Ok(rep) => End::Exited(rep),
                Err(e) => End::Lost(e.to_string()),
            },
            _ = tokio::time::sleep_until(deadline) => End::Timeout,
            Ok(()) = &mut overflow_rx => End::TooLarge,
        };
        // When pid 1 (the guest) has ended, the kernel has already killed and reaped everything
        // else in its pid namespace: only the keeper — ours, not guest code — is left, and its
        // exit (which tears the namespaces down) and the cgroup's empty check and removal happen
        // off the call's path. Otherwise — deadline, output cap, lost keeper — the whole cgroup is
        // killed now, never a single pid, and must be empty before anything is reported.
        let wall;
        let cg;
        let mut child = self.child;
        let cgroup = self.cgroup;
        if matches!(end, End::Exited(Report::Exited { .. })) {
            wall = started.elapsed();
            cg = cgroup.usage();
            self.cleanups.spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
                let _ = tokio::task::spawn_blocking(move || {
                    if !cgroup.kill_all(Duration::from_secs(2)) {
                        tracing::error!("a finished sandbox's cgroup did not empty: {cgroup:?}");
                    }
                    drop(cgroup);
                })
                .await;
            });
        } else {
            // A fork bomb on a busy host can take a few seconds to die (members caught mid-fork
            // or in memory reclaim); only a cgroup still occupied after that is a host fault.
            let (cgroup, empty) = tokio::task::spawn_blocking(move || {
                let empty = cgroup.kill_all(KILL_WAIT);
                (cgroup, empty)
            })
            .await
            .map_err(host)?;
            wall = started.elapsed();
            let _ = child.wait().await;
            cg = cgroup.usage();
            if !empty {
                return Err(host("the sandbox's cgroup did not empty after SIGKILL"));
            }
            self.cleanups.spawn_blocking(move || drop(cgroup));
        }
        // Every writer is dead, so the readers reach EOF at once.
        let (stdout, overflowed) = out_task.await.map_err(host)?;
        let stderr_tail = err_task.await.map_err(host)?;
        let usage = Usage {
            wall_us: wall.as_micros() as u64,
            cpu_us: cg.cpu_us,
            mem_peak_kb: cg.mem_peak_bytes / 1024,
        };
        let failed = |failure, stdout: &[u8]| {
            Ok(Outcome::Failed {
                failure,
                stdout: stdout.to_vec(),
                stderr_tail: stderr_tail.clone(),
                usage,
            })
        };
        match end {
            End::TooLarge => failed(Failure::OutputTooLarge, &[]),
            _ if overflowed => failed(Failure::OutputTooLarge, &[]),
            End::Timeout => failed(Failure::Timeout, &stdout),
            _ if cg.oom_kills > 0 => failed(Failure::Oom, &stdout),
            End::Exited(Report::Exited {
                code: Some(code), ..
            }) => Ok(Outcome::Completed {
                exit_code: code,
                stdout,
                stderr_tail,
                usage,
            }),
            End::Exited(Report::Exited { signal, .. }) => {
                let sig = signal.unwrap_or(0);
                // RLIMIT_CPU: SIGXCPU at the soft limit, SIGKILL at the hard one, which equals it,
                // so a CPU burn whose CPU time runs out just before the wall deadline dies of
                // SIGKILL. Either is the time limit, not a crash.
                let cpu_spent = cg.cpu_us >= run.cpu_secs * 900_000;
                if sig == libc::SIGXCPU || (sig == libc::SIGKILL && cpu_spent) {
                    return failed(Failure::Timeout, &stdout);
                }
                failed(Failure::Trap(format!("killed by signal {sig}")), &stdout)
            }
            End::Exited(Report::Failed { why }) => Err(host(format!("sandbox set-up: {why}"))),
            End::Exited(other) => Err(host(format!("unexpected report {other:?}"))),
            End::Lost(e) => Err(host(format!("lost the sandbox's keeper: {e}"))),
        }
    }
}

/// Inodes for a `/tmp` of `bytes`: one per 16 KiB, at least 64.
fn tmpfs_inodes(bytes: u64) -> u64 {
    (bytes / 16384).clamp(64, 1 << 16)
}

async fn expect(ctl: &mut UnixStream, want: Report) -> std::io::Result<()> {
    let got: Report = nb::recv(ctl).await?;
    if got == want {
        Ok(())
    } else {
        Err(std::io::Error::other(match got {
            Report::Failed { why } => why,
            other => format!("expected {want:?}, got {other:?}"),
        }))
    }
}
