//! Rows 26 and 30 (SECURITY.md): what a guest can take from the host's kernel beyond its own
//! sandbox — per-user counters charged to someone else, and host mounts below a read-only bind.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Res, ensure, limits, probe, probe_result, py, run_probe, stdout_ok, verdict, wasm_na};
use crate::conformance::{Target, Verdict};
use crate::sandbox::Tier;

/// Most real-time signals a sandbox may have queued (the process tier's `RLIMIT_SIGPENDING` and
/// the container tier's `sigpending` ulimit are both 64; this leaves room for either to change).
const SIGNALS_MAX: u64 = 1024;

/// Longest the first probe holds what it took (inside the 10 s wall time of [`limits`]); the
/// check releases it (SIGUSR1) as soon as the host and the second sandbox have tried theirs.
const HOLD_SECS: u64 = 8;

/// Row 26: while a guest hoards inotify instances and queued real-time signals, host root (this
/// process) can still create an inotify instance and a POSIX timer, and a second, concurrent
/// sandbox can still queue its own signals as the guest of another host uid; the guest gets no
/// inotify at all (a watch on a bound host inode is a side channel) and only a few queued
/// signals. The kernel counts queued signals per host uid, so two sandboxes sharing one (every
/// container's guest was `nobody` once) share one budget: the second got `EAGAIN` at once.
pub(super) async fn host_counters(t: &Target<'_>) -> Verdict {
    if let Some(v) = wasm_na(
        t,
        "a module has no inotify and no signals (no such imports)",
    ) {
        return v;
    }
    verdict(
        async {
            let done = Cell::new(false);
            let run = async {
                let r = run_probe(t, py!("counters"), json!({ "hold": HOLD_SECS }), limits()).await;
                done.set(true);
                r
            };
            // The guest names itself with the marker once it holds everything it could take.
            let watch = async {
                let started = Instant::now();
                while t.host.marked_processes().is_empty() {
                    if done.get() {
                        return Err("the probe ended before it held anything".to_owned());
                    }
                    if started.elapsed() > Duration::from_secs(30) {
                        return Err("the probe never reported that it held its loot".to_owned());
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                let host = crate::sandbox::process::host_counters_usable();
                let second = probe(t, py!("counters"), json!({}), limits()).await;
                // Its loot stays queued for as long as it runs: still running now means the
                // second sandbox tried while the first held everything.
                let held_throughout = !t.host.marked_processes().is_empty();
                release(t);
                Ok((host, second, held_throughout))
            };
            let (out, watched) = tokio::join!(run, watch);
            let out = out?;
            // The counts first, so that a host failure names what the guest held.
            let report: Value = stdout_ok(&out)
                .ok()
                .and_then(|s| serde_json::from_slice(s).ok())
                .unwrap_or_default();
            let inotify = report["info"]["inotify"].as_u64().unwrap_or(u64::MAX);
            let signals = report["info"]["signals"].as_u64().unwrap_or(u64::MAX);
            let held =
                format!("the guest held {inotify} inotify instances and {signals} queued signals");
            let (host, second, held_throughout) = watched?;
            host.map_err(|e| format!("host root could not take its own ({e}) while {held}"))?;
            let info = probe_result(&out).map_err(|e| format!("{e} ({held})"))?;
            ensure(inotify == 0, || format!("{held}: inotify is not refused"))?;
            ensure(signals <= SIGNALS_MAX, || {
                format!("{held}: more than {SIGNALS_MAX} queued signals")
            })?;
            let second = second.map_err(|e| format!("the second sandbox: {e} ({held})"))?;
            ensure(held_throughout, || {
                format!("the guest stopped holding its {signals} signals before the second sandbox was done")
            })?;
            let theirs = second["signals"].as_u64().unwrap_or(0);
            ensure(theirs > 0 && theirs * 2 >= signals, || {
                format!(
                    "while {held}, a second sandbox could queue only {theirs} (errno {}): they \
                     share one budget",
                    second["signals_errno"]
                )
            })?;
            let (uid, other) = (&info["uid"], &second["uid"]);
            ensure(uid.is_u64() && other.is_u64() && uid != other, || {
                format!("both guests are charged to host uid {uid} / {other}: one per-user budget")
            })?;
            Ok(format!(
                "inotify refused (errno {}); {signals} RT signals queued, then errno {}; host \
                 root's inotify_init1 and timer_create, and a second sandbox's {theirs} signals \
                 (host uid {other}, the first's {uid}) worked meanwhile",
                info["inotify_errno"], info["signals_errno"]
            ))
        }
        .await,
    )
}

/// Ends the hold of every marked probe (SIGUSR1, which it waits for).
fn release(t: &Target<'_>) {
    use nix::sys::signal::{Signal, kill};
    for pid in t.host.marked_processes() {
        let _ = kill(nix::unistd::Pid::from_raw(pid), Signal::SIGUSR1);
    }
}

/// Row 30: a host mount below a directory the runtime binds read-only is read-only in the
/// sandbox too. The check mounts a tmpfs (mode 1777) under the Python runtime's standard library
/// directory on the host, and unmounts it afterwards.
pub(super) async fn submounts(t: &Target<'_>) -> Verdict {
    if let Some(v) = wasm_na(t, "a module sees no host directories") {
        return v;
    }
    if t.tier == Tier::Container {
        return Verdict::NotApplicable(
            "no host directory is bound into a container (runtimes are image layers)".into(),
        );
    }
    verdict(
        async {
            // The bound directory, as the sandbox names it (binds keep host paths).
            let info = probe(t, py!("submounts"), json!({ "phase": "where" }), limits()).await?;
            let stdlib = info["stdlib"]
                .as_str()
                .ok_or("the probe did not name its standard library")?;
            let dir = Path::new(stdlib).join(format!("{}-submount", t.host.marker));
            let mounted = SubMount::new(&dir)?;
            let r = attack(t, &mounted.dir).await;
            let left: Vec<_> = std::fs::read_dir(&mounted.dir)
                .map_err(|e| format!("listing {}: {e}", mounted.dir.display()))?
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != "planted")
                .collect();
            drop(mounted);
            let msg = r?;
            ensure(left.is_empty(), || {
                format!("the guest left {left:?} on the host's tmpfs")
            })?;
            Ok(msg)
        }
        .await,
    )
}

/// Runs the write attempt until a call gets a sandbox created after the mount (stem cells made
/// earlier took their copy of the host's mounts before it existed).
async fn attack(t: &Target<'_>, dir: &Path) -> Res {
    for _ in 0..8 {
        let info = probe(t, py!("submounts"), json!({ "dir": dir }), limits()).await?;
        if info["visible"] == json!(true) {
            return Ok(format!(
                "writes below a bound directory fail with errno {} (the host's tmpfs stays \
                 untouched)",
                info["errno"]
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err("no sandbox ever saw the submount (stem cells not refreshed?)".into())
}

/// A tmpfs mounted on a fresh directory of the host, holding the file `planted`; unmounted and
/// removed on drop.
struct SubMount {
    dir: PathBuf,
}

impl SubMount {
    fn new(dir: &Path) -> Result<SubMount, String> {
        use nix::mount::{MsFlags, mount};
        std::fs::create_dir(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let m = SubMount {
            dir: dir.to_owned(),
        };
        mount(
            Some("tmpfs"),
            dir,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some("size=64k,nr_inodes=16,mode=1777"),
        )
        .map_err(|e| format!("mounting a tmpfs on {}: {e}", dir.display()))?;
        std::fs::write(dir.join("planted"), "x").map_err(|e| format!("planting: {e}"))?;
        Ok(m)
    }
}

impl Drop for SubMount {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.dir, nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&self.dir);
    }
}
