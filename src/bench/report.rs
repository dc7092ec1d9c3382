//! The whole benchmark report of `ain-sre bench` (no group): one table in which every figure has
//! its p50/p99 and rate, a ratio against the peer measured in the same run, and the design target
//! it is held to. This module is pure: [`ROWS`] is the one table of rows, peers and targets,
//! [`build_rows`] turns measured figures into report rows, [`Report::markdown`] renders them and
//! [`compare`] diffs two reports. `bench::suite` does the measuring.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Stats, fmt_us};

/// One condition a row's figure must meet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Check {
    /// p50 at most this many microseconds.
    P50AtMostUs(f64),
    /// Rate at least this (in the row's unit).
    RateAtLeast(f64),
    /// p50 / the peer's p50 at most this.
    RatioAtMost(f64),
    /// p50 / the peer's p50 strictly below this.
    RatioBelow(f64),
    /// Memory at most this many MB.
    MbAtMost(f64),
}

/// A row of the report as the code defines it: what is shown, which figure it shows, its peer and
/// its target. Figures are keyed by name (`group.what`) so two rows can share one (the python3
/// pool row is compared with bare python3 and with bwrap).
#[derive(Debug, Clone, Copy)]
pub struct RowSpec {
    /// The row's name in the table.
    pub measurement: &'static str,
    /// Key of the figure the row shows.
    pub figure: &'static str,
    /// The bench group that measures it (its failure is the row's "not measured" reason).
    pub group: &'static str,
    /// Unit of the rate column.
    pub rate_unit: &'static str,
    /// Key of the peer figure the ratio is taken against.
    pub peer: Option<&'static str>,
    /// The target as DESIGN.md and the issues state it; empty when the row has none.
    pub target: &'static str,
    /// The same target, as checks; all must pass.
    pub checks: &'static [Check],
}

const fn row(
    measurement: &'static str,
    figure: &'static str,
    group: &'static str,
    rate_unit: &'static str,
) -> RowSpec {
    RowSpec {
        measurement,
        figure,
        group,
        rate_unit,
        peer: None,
        target: "",
        checks: &[],
    }
}

const fn held(
    r: RowSpec,
    peer: Option<&'static str>,
    target: &'static str,
    checks: &'static [Check],
) -> RowSpec {
    RowSpec {
        peer,
        target,
        checks,
        ..r
    }
}

/// Every row of the report, its peer and its target (DESIGN.md "Performance targets", issues #5,
/// #6, #7). Peers appear as rows of their own so their numbers are in the table too.
pub const ROWS: &[RowSpec] = &[
    held(
        row(
            "WASM tier: echo.wat, full invocation, 1 thread (peer: the same echo as a static binary through the process tier)",
            "wasm.echo",
            "wasm",
            "calls/s",
        ),
        Some("process.native_echo"),
        "p50 ≤ 10 µs",
        &[Check::P50AtMostUs(10.0)],
    ),
    held(
        row(
            "WASM tier: echo.wat, 2 threads (8 tasks)",
            "wasm.echo_2t",
            "wasm",
            "calls/s",
        ),
        None,
        "≥ 150,000 calls/s",
        &[Check::RateAtLeast(150_000.0)],
    ),
    row(
        "process tier: echo static binary, pool",
        "process.native_echo",
        "process",
        "calls/s",
    ),
    held(
        row(
            "process tier: static `true` binary, pool",
            "process.native_true",
            "process",
            "calls/s",
        ),
        Some("bare.native_true"),
        "p50 ≤ 2 ms",
        &[Check::P50AtMostUs(2_000.0)],
    ),
    row(
        "bare fork+exec of the same `true` binary",
        "bare.native_true",
        "process",
        "calls/s",
    ),
    held(
        row(
            "process tier: python3 hello, pool (vs bare python3)",
            "process.python3",
            "process",
            "calls/s",
        ),
        Some("bare.python3"),
        "≤ 1.2 × bare",
        &[Check::RatioAtMost(1.2)],
    ),
    held(
        row(
            "process tier: python3 hello, pool (vs bwrap)",
            "process.python3",
            "process",
            "calls/s",
        ),
        Some("bwrap.python3"),
        "faster than bwrap (< 1)",
        &[Check::RatioBelow(1.0)],
    ),
    row(
        "bare: python3 -I -B hello.py",
        "bare.python3",
        "process",
        "calls/s",
    ),
    row(
        "bwrap --unshare-all: python3 hello.py",
        "bwrap.python3",
        "process",
        "calls/s",
    ),
    held(
        row(
            "container tier: python3 hello, pooled stem cell",
            "container.pool",
            "container",
            "calls/s",
        ),
        Some("docker.run"),
        "p50 ≤ 40 ms; ≥ 8 × faster than docker run (≤ 0.125)",
        &[Check::P50AtMostUs(40_000.0), Check::RatioAtMost(0.125)],
    ),
    held(
        row(
            "container tier: python3 hello, cold (empty pool)",
            "container.cold",
            "container",
            "calls/s",
        ),
        Some("docker.run"),
        "no slower than docker run (≤ 1)",
        &[Check::RatioAtMost(1.0)],
    ),
    row(
        "docker run --rm -i: same image and script",
        "docker.run",
        "container",
        "calls/s",
    ),
    held(
        row(
            "end to end, built-in chain: wasm echo one at a time (request accepted → response accepted)",
            "e2e.one",
            "e2e",
            "calls/s",
        ),
        None,
        "p50 ≤ 10 ms",
        &[Check::P50AtMostUs(10_000.0)],
    ),
    held(
        row(
            "end to end, built-in chain: wasm echo, 128 in flight (sustained)",
            "e2e.sustained",
            "e2e",
            "calls/s",
        ),
        None,
        "≥ 1,000 calls/s",
        &[Check::RateAtLeast(1_000.0)],
    ),
    held(
        row(
            "follower: full block verification, one core (per signature)",
            "ledger.follower",
            "ledger",
            "sigs/s",
        ),
        None,
        "≥ 10,000 sigs/s",
        &[Check::RateAtLeast(10_000.0)],
    ),
    held(
        row(
            "built-in chain: signed txs accepted (64 concurrent senders)",
            "devnet.accepted",
            "devnet",
            "tx/s",
        ),
        None,
        "≥ 5,000 tx/s",
        &[Check::RateAtLeast(5_000.0)],
    ),
    held(
        row(
            "built-in chain: send → VALUE_CHANGED event",
            "devnet.event",
            "devnet",
            "events/s",
        ),
        None,
        "p50 ≤ 2 ms",
        &[Check::P50AtMostUs(2_000.0)],
    ),
    held(
        row("worker RSS, idle", "worker.rss_idle", "e2e", ""),
        None,
        "≤ 60 MB",
        &[Check::MbAtMost(60.0)],
    ),
    held(
        row(
            "worker RSS growth catching up with queued calls (10,000; --quick: 2,000)",
            "worker.rss_queued",
            "e2e",
            "",
        ),
        None,
        "≤ +30 MB (10,000 queued)",
        &[Check::MbAtMost(30.0)],
    ),
];

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

fn fmt_rate(v: f64, unit: &str) -> String {
    if v >= 100.0 {
        let digits = format!("{:.0}", v);
        let mut out = String::new();
        for (i, ch) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(ch);
        }
        format!("{out} {unit}")
    } else {
        format!("{v:.1} {unit}")
    }
}

impl Report {
    /// Whether any row has no figure.
    pub fn any_unavailable(&self) -> bool {
        self.rows.iter().any(|r| r.unavailable.is_some())
    }

    /// The report as Markdown: host, date and command, then the table, then the notes.
    pub fn markdown(&self) -> String {
        let h = &self.host;
        let mut out = format!(
            "## ain-sre benchmark report\n\n\
             - date: {}\n\
             - host: {} cores, {}, Linux {}, {}\n\
             - load average (1, 5, 15 min): {} at the start, {} at the end\n\
             - command: `{}`{}\n\n",
            self.date,
            h.cores,
            h.cpu,
            h.kernel,
            h.build,
            h.load_start,
            h.load_end,
            self.command,
            if self.quick {
                " (quick: short runs, noisier numbers)"
            } else {
                ""
            },
        );
        out.push_str("| measurement | p50 | p99 | rate | peer | ratio | target | met? |\n");
        out.push_str("|---|---:|---:|---:|---|---:|---|---|\n");
        // Each distinct reason is written once, under the table; cells point to it.
        let mut reasons: Vec<&str> = Vec::new();
        for r in &self.rows {
            let (p50, p99, rate) = match (&r.unavailable, r.megabytes) {
                (Some(why), _) => {
                    let n = match reasons.iter().position(|x| *x == why.as_str()) {
                        Some(i) => i + 1,
                        None => {
                            reasons.push(why);
                            reasons.len()
                        }
                    };
                    (format!("not measured ({n})"), "–".into(), "–".into())
                }
                (None, Some(mb)) => (format!("{mb:.1} MB"), "–".into(), "–".into()),
                (None, None) => (
                    r.p50_us.map_or("–".into(), fmt_us),
                    r.p99_us.map_or("–".into(), fmt_us),
                    r.rate.map_or("–".into(), |v| fmt_rate(v, &r.rate_unit)),
                ),
            };
            let met = match (r.met, r.target.is_empty()) {
                (_, true) => "–",
                (Some(true), false) => "yes",
                (Some(false), false) => "**no**",
                (None, false) => "not measured",
            };
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
                r.measurement,
                p50,
                p99,
                rate,
                r.peer.as_deref().unwrap_or("–"),
                r.ratio.map_or("–".into(), |v| format!("{v:.3}")),
                if r.target.is_empty() {
                    "–"
                } else {
                    &r.target
                },
                met
            ));
        }
        out.push_str(
            "\nratio = p50 / the peer's p50, both measured in this run (below 1: faster than the peer).\n",
        );
        for (i, why) in reasons.iter().enumerate() {
            out.push_str(&format!(
                "\n({}) not measured: {}\n",
                i + 1,
                why.replace('\n', " ")
            ));
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for n in &self.notes {
                out.push_str(&format!("- {n}\n"));
            }
        }
        out
    }
}

fn change(before: Option<f64>, now: Option<f64>) -> String {
    match (before, now) {
        (Some(b), Some(n)) if b > 0.0 => format!("{:+.1}%", (n - b) / b * 100.0),
        _ => "–".into(),
    }
}

/// A Markdown table of the change from `before` to `now`, row by row (matched by measurement):
/// p50 and rate (or memory), each before → now and in percent.
pub fn compare(before: &Report, now: &Report) -> String {
    let mut out = format!(
        "### change since {} ({})\n\n| measurement | p50 before → now | change | rate before → now | change |\n|---|---:|---:|---:|---:|\n",
        before.date, before.command
    );
    let show = |r: &Row| match (&r.unavailable, r.megabytes) {
        (Some(_), _) => ("not measured".to_owned(), "–".to_owned()),
        (None, Some(mb)) => (format!("{mb:.1} MB"), "–".into()),
        (None, None) => (
            r.p50_us.map_or("–".into(), fmt_us),
            r.rate.map_or("–".into(), |v| fmt_rate(v, &r.rate_unit)),
        ),
    };
    for n in &now.rows {
        let (p50_now, rate_now) = show(n);
        match before.rows.iter().find(|b| b.measurement == n.measurement) {
            Some(b) => {
                let (p50_b, rate_b) = show(b);
                out.push_str(&format!(
                    "| {} | {p50_b} → {p50_now} | {} | {rate_b} → {rate_now} | {} |\n",
                    n.measurement,
                    change(b.p50_us.or(b.megabytes), n.p50_us.or(n.megabytes)),
                    change(b.rate, n.rate),
                ));
            }
            None => out.push_str(&format!(
                "| {} | new: {p50_now} | – | new: {rate_now} | – |\n",
                n.measurement
            )),
        }
    }
    for b in &before.rows {
        if !now.rows.iter().any(|n| n.measurement == b.measurement) {
            out.push_str(&format!(
                "| {} | no longer reported | – | – | – |\n",
                b.measurement
            ));
        }
    }
    out
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
