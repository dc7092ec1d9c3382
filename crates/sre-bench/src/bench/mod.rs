//! Benchmarks behind `ain-sre bench`: each prints its figures (per-call p50/p99 and throughput) so
//! the README's numbers come from a command anyone can re-run, never from timed unit tests.

use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod blobs;
mod child;
/// Python and JavaScript components on the WASM tier.
pub mod component;
pub mod container;
pub mod devnet;
pub mod e2e;
mod echo_chain;
#[cfg(target_os = "linux")]
pub mod egress;
pub mod fleet;
pub mod journal;
pub mod ledger;
#[cfg(target_os = "linux")]
pub mod process;
pub mod report;
pub mod soak;
pub mod suite;
pub mod wasm;

pub use ain_sre::stats::Stats;

/// CPU time (user + system) this process has used so far, all threads.
pub fn process_cpu_time() -> Duration {
    use nix::sys::resource::{UsageWho, getrusage};
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => {
            let tv = |t: nix::sys::time::TimeVal| {
                Duration::from_secs(t.tv_sec().max(0) as u64)
                    + Duration::from_micros(t.tv_usec().max(0) as u64)
            };
            tv(u.user_time()) + tv(u.system_time())
        }
        Err(_) => Duration::ZERO,
    }
}

/// A scratch directory under the system's temporary directory, named after the benchmark and
/// this process, removed with everything in it when dropped (also when a benchmark fails).
#[derive(Debug)]
pub(crate) struct ScratchDir(PathBuf);

impl ScratchDir {
    /// Creates `<tmp>/<name>-<pid>`.
    pub(crate) fn new(name: &str) -> anyhow::Result<ScratchDir> {
        let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(ScratchDir(dir))
    }

    /// Its path.
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Renders rows as a Markdown table (the README embeds it as printed).
pub fn markdown_table(rows: &[Stats]) -> String {
    let cpu = rows.iter().any(|r| r.cpu_us_per_call.is_some());
    let mut out = String::from("| measurement | calls | p50 | p99 | per second |");
    out.push_str(if cpu {
        " CPU per call |\n|---|---:|---:|---:|---:|---:|\n"
    } else {
        "\n|---|---:|---:|---:|---:|\n"
    });
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {:.0} |",
            r.name,
            r.calls,
            fmt_us(r.p50_us),
            fmt_us(r.p99_us),
            r.per_sec
        ));
        if cpu {
            out.push_str(&match r.cpu_us_per_call {
                Some(us) => format!(" {} |", fmt_us(us)),
                None => " |".to_owned(),
            });
        }
        out.push('\n');
    }
    out
}

pub(crate) fn fmt_us(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.1} µs")
    }
}

/// The CPU model from `/proc/cpuinfo`.
pub(crate) fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// Cores this process may use.
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// What kind of build measured the numbers.
pub(crate) fn build_profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug build (numbers not representative)"
    } else {
        "release build"
    }
}

/// A one-line description of the host, printed above every report.
pub fn host_description() -> String {
    format!("{} cores, {}, {}", cores(), cpu_model(), build_profile())
}
