//! Benchmarks behind `ain-sre bench`: each prints its figures (per-call p50/p99 and throughput) so
//! the README's numbers come from a command anyone can re-run, never from timed unit tests.

use std::time::{Duration, Instant};

pub mod blobs;
/// Python and JavaScript components on the WASM tier.
pub mod component;
pub mod container;
pub mod devnet;
pub mod e2e;
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

/// Latency distribution of one measured operation.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    /// What was measured.
    pub name: String,
    /// Number of timed calls.
    pub calls: u64,
    /// Median latency in microseconds.
    pub p50_us: f64,
    /// 99th percentile latency in microseconds.
    pub p99_us: f64,
    /// Calls per second over the whole run (across all threads the measurement used).
    pub per_sec: f64,
    /// CPU time (user + system, all threads of this process) per call, in microseconds, where
    /// measured. Unlike `per_sec` it barely moves when other work shares the host, and
    /// `cores × 1e6 / cpu_us_per_call` is the rate this host could sustain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_us_per_call: Option<f64>,
}

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

impl Stats {
    /// Times `op` for at least `min_time` and `min_calls`, after a short warm-up.
    pub fn measure(name: &str, min_calls: u64, min_time: Duration, mut op: impl FnMut()) -> Stats {
        for _ in 0..min_calls.min(50) {
            op();
        }
        let mut samples = Vec::with_capacity(min_calls as usize);
        let start = Instant::now();
        while (samples.len() as u64) < min_calls || start.elapsed() < min_time {
            let t = Instant::now();
            op();
            samples.push(t.elapsed());
        }
        Stats::from_samples(name, samples, start.elapsed())
    }

    /// Builds the distribution from per-call samples and the total wall time they took.
    pub fn from_samples(name: &str, mut samples: Vec<Duration>, total: Duration) -> Stats {
        samples.sort_unstable();
        let pick = |q: f64| {
            if samples.is_empty() {
                return 0.0;
            }
            let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
            samples[i].as_secs_f64() * 1e6
        };
        Stats {
            name: name.to_owned(),
            calls: samples.len() as u64,
            p50_us: pick(0.50),
            p99_us: pick(0.99),
            per_sec: samples.len() as f64 / total.as_secs_f64().max(1e-9),
            cpu_us_per_call: None,
        }
    }

    /// Records the CPU this process spent during the measurement (`cpu` = the difference of two
    /// [`process_cpu_time`] readings around it), per call.
    pub fn with_cpu(mut self, cpu: Duration) -> Stats {
        self.cpu_us_per_call = Some(cpu.as_secs_f64() * 1e6 / (self.calls.max(1) as f64));
        self
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
