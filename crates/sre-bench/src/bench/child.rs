//! The `ain-sre` processes the benchmarks start (a worker `ain-sre run`, a whole `ain-sre dev`):
//! spawned from a [`Command`] the caller finishes, signalled and reaped, their memory and CPU read
//! from `/proc`, and never left behind: a [`ChildProc`] still running when dropped (a benchmark
//! that failed half-way) gets SIGTERM, then SIGKILL after [`PATIENCE`].

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::sys::signal::Signal;

/// How long a child signalled to stop may take before it is SIGKILLed, where the caller does not
/// say (a worker drains its calls and flushes its journal first).
pub(crate) const PATIENCE: Duration = Duration::from_secs(15);

/// What a bench worker's `ain-sre run` needs: the chain, the app, its key and data directory.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunArgs<'a> {
    /// JSON-RPC URL of the node.
    pub(crate) rpc: &'a str,
    /// Event-handler URL of the node.
    pub(crate) events: &'a str,
    /// The app it serves.
    pub(crate) app: &'a str,
    /// Its private key, hex (passed in the environment, never on the command line).
    pub(crate) key_hex: &'a str,
    /// Its data directory (journal, caches).
    pub(crate) data: &'a Path,
}

impl RunArgs<'_> {
    /// Adds `run --node … --events … --app … --data-dir …`, the key, error-only logging and
    /// closed stdio to `cmd`, whose program is `ain-sre` (or a profiler whose last argument is).
    /// The caller adds its own flags and environment after.
    pub(crate) fn apply<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        cmd.args(["run", "--node", self.rpc, "--events", self.events])
            .args(["--app", self.app, "--data-dir"])
            .arg(self.data)
            .env("AIN_SRE_PRIVATE_KEY", self.key_hex)
            .env("AIN_SRE_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
    }
}

/// A loopback address free at the time of asking, for a child's listener.
pub(crate) fn free_addr() -> anyhow::Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// A `kB` field of `/proc/<pid>/status` (`VmRSS:`, `VmHWM:`), `None` once the process is gone.
pub(crate) fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The resident set of process `pid`, in KB.
pub(crate) fn rss_kb(pid: u32) -> Option<u64> {
    status_kb(pid, "VmRSS:")
}

/// CPU time (user + system) process `pid` has used, from `/proc/<pid>/stat` (clock ticks are
/// 100 Hz on Linux unless the kernel says otherwise, which `getconf CLK_TCK` would show).
pub(crate) fn cpu_time(pid: u32) -> Duration {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // Fields after the `(comm)`, which may itself contain spaces.
    let rest = s.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after `state` here.
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// Sends `sig` to process `pid` (gone already: nothing to do).
pub(crate) fn signal(pid: u32, sig: Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig);
}

/// A child process this benchmark owns; see the module docs for its end.
#[derive(Debug)]
pub(crate) struct ChildProc {
    child: Child,
    reaped: bool,
}

impl ChildProc {
    /// Spawns `cmd`; `what` names it in the error.
    pub(crate) fn spawn(cmd: &mut Command, what: &str) -> anyhow::Result<ChildProc> {
        let child = cmd.spawn().with_context(|| format!("starting {what}"))?;
        Ok(ChildProc {
            child,
            reaped: false,
        })
    }

    /// Its process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its resident set in KB (0 once it is gone).
    pub(crate) fn rss_kb(&self) -> u64 {
        rss_kb(self.pid()).unwrap_or(0)
    }

    /// Whether it has not exited yet.
    pub(crate) fn running(&mut self) -> bool {
        !self.reaped && matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends it `sig`, unless it has been reaped (its pid may be another process's by then).
    pub(crate) fn signal(&self, sig: Signal) {
        if !self.reaped {
            signal(self.pid(), sig);
        }
    }

    /// Waits for it to exit, SIGKILLing it after `patience`.
    pub(crate) async fn reap(&mut self, patience: Duration) {
        let deadline = Instant::now() + patience;
        while Instant::now() < deadline && self.running() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.kill_and_wait();
    }

    /// Sends `sig`, then [`reap`](Self::reap)s it.
    pub(crate) async fn stop(&mut self, sig: Signal, patience: Duration) {
        self.signal(sig);
        self.reap(patience).await;
    }

    /// Waits until its stdout (which the caller piped) prints a line containing `needle`: how
    /// `ain-sre dev` says it is ready. Its stdout is drained for the rest of its life.
    pub(crate) fn wait_for_line(&mut self, needle: &str, within: Duration) -> anyhow::Result<()> {
        let out = self.child.stdout.take().context("the child's stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        let wanted = needle.to_owned();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if line.contains(&wanted) {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(within)
            .with_context(|| format!("no line with {needle:?} within {within:?}"))
    }

    fn kill_and_wait(&mut self) {
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.reaped = true;
        }
    }
}

impl Drop for ChildProc {
    fn drop(&mut self) {
        if !self.running() {
            self.kill_and_wait();
            return;
        }
        self.signal(Signal::SIGTERM);
        // Blocking: a drop cannot await, and this runs only as a benchmark ends.
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline && self.running() {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill_and_wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sleeper() -> ChildProc {
        ChildProc::spawn(Command::new("sleep").arg("30"), "sleep").unwrap()
    }

    #[test]
    fn drop_stops_and_reaps_a_running_child() {
        let c = sleeper();
        let pid = c.pid();
        assert!(rss_kb(pid).is_some(), "the child runs");
        drop(c);
        // Reaped, so not even a zombie keeps /proc/<pid>.
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "the child outlived its drop"
        );
    }

    #[tokio::test]
    async fn stop_kills_a_child_that_ignores_the_signal() {
        // The shell ignores SIGTERM, so only the SIGKILL after the patience ends it.
        let mut c = ChildProc::spawn(
            Command::new("sh")
                .args([
                    "-c",
                    "trap '' TERM; echo ready; while :; do sleep 0.1; done",
                ])
                .stdout(Stdio::piped()),
            "sh",
        )
        .unwrap();
        // Signalled only once the trap is set.
        c.wait_for_line("ready", Duration::from_secs(10)).unwrap();
        c.stop(Signal::SIGTERM, Duration::from_millis(300)).await;
        assert!(!c.running());
        let pid = c.pid();
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
    }

    #[test]
    fn wait_for_line_sees_the_ready_line_or_times_out() {
        let mut ready = ChildProc::spawn(
            Command::new("sh")
                .args(["-c", "echo starting; echo 'serving; ok'; exec sleep 30"])
                .stdout(Stdio::piped()),
            "sh",
        )
        .unwrap();
        ready
            .wait_for_line("serving;", Duration::from_secs(10))
            .unwrap();
        let mut silent = ChildProc::spawn(
            Command::new("sleep").arg("30").stdout(Stdio::piped()),
            "sleep",
        )
        .unwrap();
        assert!(
            silent
                .wait_for_line("serving;", Duration::from_millis(200))
                .is_err()
        );
    }

    #[test]
    fn cpu_time_counts_a_busy_process() {
        let t = Instant::now();
        let mut x = 0u64;
        while t.elapsed() < Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(cpu_time(std::process::id()) > Duration::ZERO);
    }
}
