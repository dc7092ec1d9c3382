//! The whole benchmark report of `ain-sre bench` (no group): one table in which every figure has
//! its p50/p99 and rate, a ratio against the peer measured in the same run, and the design target
//! it is held to. This module is pure: [`ROWS`] is the one table of rows, peers and targets,
//! [`build_rows`] turns measured figures into report rows, [`Report::markdown`] renders them and
//! [`compare`] diffs two reports. `bench::suite` does the measuring.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Stats;

mod render;
mod rows;

pub use render::compare;
pub use rows::{Check, ROWS, RowSpec};

/// A measured figure: a latency distribution or a memory reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Figure {
    /// Per-call latencies and the rate.
    Latency(Stats),
    /// A memory reading in MB.
    Megabytes(f64),
}

/// One row of the rendered report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// What was measured.
    pub measurement: String,
    /// Median latency, µs.
    pub p50_us: Option<f64>,
    /// 99th percentile latency, µs.
    pub p99_us: Option<f64>,
    /// Rate, in `rate_unit`.
    pub rate: Option<f64>,
    /// Unit of `rate`.
    pub rate_unit: String,
    /// Memory reading, MB (memory rows).
    pub megabytes: Option<f64>,
    /// The peer's name as it measured itself (with "(not measured)" when it was not).
    pub peer: Option<String>,
    /// p50 / the peer's p50.
    pub ratio: Option<f64>,
    /// The target, as stated in the design; empty when none.
    pub target: String,
    /// Whether the target is met; `None` when there is none or it could not be evaluated.
    pub met: Option<bool>,
    /// Why the row has no figure (the tier is unavailable here, or its bench failed).
    pub unavailable: Option<String>,
}

/// Host facts printed above the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Host {
    /// Logical CPUs available to this process.
    pub cores: usize,
    /// CPU model name.
    pub cpu: String,
    /// Kernel release.
    pub kernel: String,
    /// Release or debug build of ain-sre.
    pub build: String,
    /// `/proc/loadavg` 1/5/15 min at the start.
    pub load_start: String,
    /// `/proc/loadavg` 1/5/15 min at the end.
    pub load_end: String,
}

/// The whole report: what the Markdown shows, and every group's raw rows besides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// When the run started (UTC).
    pub date: String,
    /// The command line that produced it.
    pub command: String,
    /// Whether `--quick` (shorter, noisier) was used.
    pub quick: bool,
    /// The host.
    pub host: Host,
    /// The table.
    pub rows: Vec<Row>,
    /// Notes from the groups (memory details, how calls were spaced).
    pub notes: Vec<String>,
    /// Every row every group measured, for a closer look.
    pub details: Vec<Stats>,
}

/// Builds the report rows from `specs`, the measured `figures` and, for figures that are missing,
/// `reasons` keyed by figure or by group. Every spec gives a row: a missing figure is a row that
/// says why, never a dropped row.
pub fn build_rows(
    specs: &[RowSpec],
    figures: &BTreeMap<String, Figure>,
    reasons: &BTreeMap<String, String>,
) -> Vec<Row> {
    let reason = |figure: &str, group: &str| {
        reasons
            .get(figure)
            .or_else(|| reasons.get(group))
            .cloned()
            .unwrap_or_else(|| "the group gave no such figure".into())
    };
    specs
        .iter()
        .map(|s| {
            let mut r = Row {
                measurement: s.measurement.to_owned(),
                p50_us: None,
                p99_us: None,
                rate: None,
                rate_unit: s.rate_unit.to_owned(),
                megabytes: None,
                peer: None,
                ratio: None,
                target: s.target.to_owned(),
                met: None,
                unavailable: None,
            };
            match figures.get(s.figure) {
                Some(Figure::Latency(st)) => {
                    r.p50_us = Some(st.p50_us);
                    r.p99_us = Some(st.p99_us);
                    r.rate = Some(st.per_sec);
                }
                Some(Figure::Megabytes(mb)) => r.megabytes = Some(*mb),
                None => r.unavailable = Some(reason(s.figure, s.group)),
            }
            if let Some(peer) = s.peer {
                match figures.get(peer) {
                    Some(Figure::Latency(p)) => {
                        r.peer = Some(p.name.clone());
                        r.ratio = r.p50_us.map(|us| us / p.p50_us.max(1e-9));
                    }
                    _ => {
                        let name = specs
                            .iter()
                            .find(|p| p.figure == peer)
                            .map_or(peer, |p| p.measurement);
                        r.peer = Some(format!("{name} (not measured)"));
                    }
                }
            }
            r.met = evaluate(s.checks, &r);
            r
        })
        .collect()
}

/// Whether `row` meets every check: `Some(false)` as soon as one it can evaluate fails,
/// `Some(true)` when all can be evaluated and pass, `None` otherwise (no checks, or a figure or
/// the peer is missing).
pub fn evaluate(checks: &[Check], row: &Row) -> Option<bool> {
    if checks.is_empty() {
        return None;
    }
    let mut all_known = true;
    for c in checks {
        let ok = match *c {
            Check::P50AtMostUs(t) => row.p50_us.map(|v| v <= t),
            Check::RateAtLeast(t) => row.rate.map(|v| v >= t),
            Check::RatioAtMost(t) => row.ratio.map(|v| v <= t),
            Check::RatioBelow(t) => row.ratio.map(|v| v < t),
            Check::MbAtMost(t) => row.megabytes.map(|v| v <= t),
        };
        match ok {
            Some(false) => return Some(false),
            Some(true) => {}
            None => all_known = false,
        }
    }
    all_known.then_some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(name: &str, p50_us: f64, per_sec: f64) -> Stats {
        Stats {
            name: name.into(),
            calls: 100,
            p50_us,
            p99_us: p50_us * 2.0,
            per_sec,
            cpu_us_per_call: None,
        }
    }

    fn report(figures: BTreeMap<String, Figure>, reasons: BTreeMap<String, String>) -> Report {
        Report {
            date: "2026-01-02 03:04 UTC".into(),
            command: "ain-sre bench --quick".into(),
            quick: true,
            host: Host {
                cores: 2,
                cpu: "Test CPU".into(),
                kernel: "6.1.0".into(),
                build: "release build".into(),
                load_start: "0.10 0.20 0.30".into(),
                load_end: "1.00 2.00 3.00".into(),
            },
            rows: build_rows(ROWS, &figures, &reasons),
            notes: vec!["a note".into()],
            details: vec![stats("raw row", 1.0, 2.0)],
        }
    }

    fn sample() -> BTreeMap<String, Figure> {
        let mut f = BTreeMap::new();
        let mut put = |k: &str, s: Stats| f.insert(k.to_owned(), Figure::Latency(s));
        put("wasm.echo", stats("wasm echo", 8.0, 120_000.0));
        put("wasm.echo_2t", stats("wasm echo 2t", 12.0, 160_000.0));
        put(
            "process.native_echo",
            stats("native echo pool", 1_600.0, 600.0),
        );
        put(
            "process.native_true",
            stats("native true pool", 1_520.0, 650.0),
        );
        put("process.python3", stats("py pool", 24_000.0, 40.0));
        put("bare.python3", stats("py bare", 20_000.0, 50.0));
        put("bwrap.python3", stats("py bwrap", 30_000.0, 33.0));
        put("container.pool", stats("pooled", 45_000.0, 22.0));
        put("docker.run", stats("docker run", 400_000.0, 2.5));
        f.insert("worker.rss_idle".into(), Figure::Megabytes(31.0));
        f.insert("worker.rss_queued".into(), Figure::Megabytes(35.5));
        f
    }

    fn row<'a>(r: &'a Report, starts: &str) -> &'a Row {
        r.rows
            .iter()
            .find(|x| x.measurement.starts_with(starts))
            .unwrap_or_else(|| panic!("no row {starts}"))
    }

    #[test]
    fn targets_are_evaluated_against_figures_and_peers() {
        let mut reasons = BTreeMap::new();
        reasons.insert("e2e".to_owned(), "the worker never answered".to_owned());
        let r = report(sample(), reasons);
        // Every spec gives a row, measured or not.
        assert_eq!(r.rows.len(), ROWS.len());

        let wasm = row(&r, "WASM tier: echo.wat, full invocation");
        assert_eq!(wasm.met, Some(true));
        assert_eq!(wasm.peer.as_deref(), Some("native echo pool"));
        assert!((wasm.ratio.unwrap() - 8.0 / 1600.0).abs() < 1e-12);

        let vs_bare = row(&r, "process tier: python3 hello, pool (vs bare");
        assert!((vs_bare.ratio.unwrap() - 1.2).abs() < 1e-12);
        assert_eq!(vs_bare.met, Some(true), "1.2 is within ≤ 1.2");
        assert_eq!(
            row(&r, "process tier: python3 hello, pool (vs bwrap").met,
            Some(true)
        );

        // Two checks: the ratio passes (0.1125 ≤ 0.125) but p50 45 ms > 40 ms fails the row.
        let pool = row(&r, "container tier: python3 hello, pooled");
        assert_eq!(pool.met, Some(false));
        // Cold path not measured: the row says so and its target is not evaluated.
        let cold = row(&r, "container tier: python3 hello, cold");
        assert!(cold.unavailable.is_some());
        assert_eq!(cold.met, None);
        // A row whose peer is missing keeps its figure and absolute target but has no ratio.
        let native = row(&r, "process tier: static `true` binary");
        assert!(native.unavailable.is_none());
        assert_eq!(native.ratio, None);
        assert!(
            native
                .peer
                .as_deref()
                .unwrap_or("")
                .ends_with("(not measured)")
        );
        assert_eq!(native.met, Some(true));

        // Group failure reasons reach every row of the group.
        let e2e = row(&r, "end to end, built-in chain: wasm echo one");
        assert_eq!(
            e2e.unavailable.as_deref(),
            Some("the worker never answered")
        );
        assert_eq!(row(&r, "worker RSS, idle").met, Some(true));
        assert_eq!(row(&r, "worker RSS growth").met, Some(false));
        assert!(r.any_unavailable());
    }

    #[test]
    fn markdown_has_host_command_and_one_row_per_spec() {
        let r = report(sample(), BTreeMap::new());
        let md = r.markdown();
        assert!(md.contains("2 cores, Test CPU, Linux 6.1.0, release build"));
        assert!(md.contains("0.10 0.20 0.30 at the start, 1.00 2.00 3.00 at the end"));
        assert!(md.contains("`ain-sre bench --quick`"));
        assert!(md.contains("| measurement | p50 | p99 | rate | peer | ratio | target | met? |"));
        let table_rows = md
            .lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| measurement"))
            .count();
        assert_eq!(table_rows, ROWS.len());
        assert!(md.contains(
            "| 8.0 µs | 16.0 µs | 120,000 calls/s | native echo pool | 0.005 | p50 ≤ 10 µs | yes |"
        ));
        assert!(md.contains("| 31.0 MB |"));
        assert!(md.contains("| not measured (1) | – | – |"));
        assert!(md.contains("(1) not measured: the group gave no such figure"));
        assert!(md.contains("| **no** |"));
        assert!(md.contains("- a note"));
    }

    #[test]
    fn json_round_trips() {
        let r = report(sample(), BTreeMap::new());
        let text = serde_json::to_string_pretty(&r).expect("serializes");
        let back: Report = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, r);
        assert_eq!(back.markdown(), r.markdown());
    }

    #[test]
    fn compare_shows_changes_new_and_missing_rows() {
        let before = report(sample(), BTreeMap::new());
        let mut figures = sample();
        figures.insert(
            "wasm.echo".into(),
            Figure::Latency(stats("wasm echo", 10.0, 90_000.0)),
        );
        let mut now = report(figures, BTreeMap::new());
        now.rows.push(Row {
            measurement: "brand new".into(),
            ..now.rows[0].clone()
        });
        now.rows.retain(|r| r.measurement != "worker RSS, idle");
        let text = compare(&before, &now);
        assert!(
            text.contains(
                "8.0 µs → 10.0 µs | +25.0% | 120,000 calls/s → 90,000 calls/s | -25.0% |"
            )
        );
        assert!(text.contains("| brand new | new:"));
        assert!(text.contains("| worker RSS, idle | no longer reported |"));
    }

    #[test]
    fn every_peer_and_figure_key_is_consistent() {
        let figures: Vec<&str> = ROWS.iter().map(|s| s.figure).collect();
        for s in ROWS {
            if let Some(p) = s.peer {
                assert!(figures.contains(&p), "peer {p} has no row of its own");
            }
            assert_eq!(
                s.checks.is_empty(),
                s.target.is_empty(),
                "{}",
                s.measurement
            );
        }
        let mut names: Vec<&str> = ROWS.iter().map(|s| s.measurement).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ROWS.len(), "row names are unique");
    }
}
