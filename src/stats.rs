//! Latency statistics of repeated calls (p50, p99, rate): `ain-sre invoke --repeat` prints them,
//! and the benchmarks (crate `sre-bench`) build every row of their reports from them.

use std::time::{Duration, Instant};

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

    /// Records the CPU this process spent during the measurement (`cpu`: the difference of two
    /// readings of the process's CPU time around it), per call.
    pub fn with_cpu(mut self, cpu: Duration) -> Stats {
        self.cpu_us_per_call = Some(cpu.as_secs_f64() * 1e6 / (self.calls.max(1) as f64));
        self
    }
}
