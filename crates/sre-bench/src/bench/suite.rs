//! Runs every bench group once, in one process, and gathers their figures for the whole report
//! (`bench::report`). A group that cannot run here (no dockerd, no user namespaces, a failed
//! measurement) becomes a reason its rows print instead of numbers; its rows are never dropped.

use std::collections::BTreeMap;

use super::report::{Figure, Host, ROWS, Report, build_rows};
use super::{Stats, container, devnet, e2e, ledger, wasm};

/// Figures, the reasons for missing ones, notes and every raw row.
#[derive(Debug, Default)]
struct Gathered {
    figures: BTreeMap<String, Figure>,
    reasons: BTreeMap<String, String>,
    notes: Vec<String>,
    details: Vec<Stats>,
}

impl Gathered {
    /// Files `rows` (a group's output) and picks the named ones as figures.
    fn take(&mut self, rows: Vec<Stats>, picks: &[(&str, &str)]) {
        for (key, name) in picks {
            if let Some(s) = rows.iter().find(|r| r.name == *name) {
                self.figures
                    .insert((*key).to_owned(), Figure::Latency(s.clone()));
            }
        }
        self.details.extend(rows);
    }

    fn failed(&mut self, group: &str, e: anyhow::Error) {
        self.reasons.insert(group.to_owned(), format!("{e:#}"));
    }

    /// [`take`](Self::take)s a group's rows, or files why it has none.
    fn group(&mut self, group: &str, rows: anyhow::Result<Vec<Stats>>, picks: &[(&str, &str)]) {
        match rows {
            Ok(rows) => self.take(rows, picks),
            Err(e) => self.failed(group, e),
        }
    }
}

/// Runs `f` on a plain thread (the group blocks, or builds its own runtimes); a panic in it is an
/// error.
pub(crate) async fn on_thread<T: Send + 'static>(
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(f).await?
}

/// Runs every group (ledger, WASM, built-in chain, process, container, end to end) and builds
/// the report. `command` is the command line to print.
pub async fn run(quick: bool, command: String) -> Report {
    let date = utc_now();
    let load_start = loadavg();
    let mut g = Gathered::default();

    eprintln!("bench: follower verification…");
    match on_thread(move || ledger::follower(quick)).await {
        Ok(s) => g.take(vec![s.clone()], &[("ledger.follower", s.name.as_str())]),
        Err(e) => g.failed("ledger", e),
    }

    eprintln!("bench: WASM tier…");
    g.group(
        "wasm",
        on_thread(move || wasm::run(quick)).await,
        &[
            ("wasm.echo", wasm::ECHO_1_THREAD),
            ("wasm.echo_2t", wasm::ECHO_2_THREADS),
        ],
    );

    eprintln!("bench: built-in chain…");
    g.group(
        "devnet",
        on_thread(move || devnet::run(quick)).await,
        &[
            ("devnet.accepted", devnet::ACCEPTED),
            ("devnet.event", devnet::EVENT_LATENCY),
        ],
    );

    eprintln!("bench: process tier…");
    process(quick, &mut g).await;

    eprintln!("bench: container tier…");
    match container::run(quick).await {
        Ok((rows, notes)) => {
            g.take(
                rows,
                &[
                    ("container.pool", container::POOLED),
                    ("container.cold", container::COLD),
                    ("docker.run", container::DOCKER_RUN),
                ],
            );
            g.notes
                .extend(notes.into_iter().filter(|n| n.starts_with("pool calls")));
        }
        Err(e) => g.failed("container", e),
    }

    eprintln!("bench: end to end…");
    match e2e::measure(quick).await {
        Ok(e) => {
            g.take(
                e.rows,
                &[
                    ("e2e.one", e2e::ONE_AT_A_TIME),
                    ("e2e.sustained", e2e::SUSTAINED),
                ],
            );
            g.figures.insert(
                "worker.rss_idle".into(),
                Figure::Megabytes(e.idle_rss_kb as f64 / 1024.0),
            );
            g.figures.insert(
                "worker.rss_queued".into(),
                Figure::Megabytes(
                    e.queued_peak_rss_kb.saturating_sub(e.idle_rss_kb) as f64 / 1024.0,
                ),
            );
            g.notes.extend(e.notes);
        }
        Err(e) => g.failed("e2e", e),
    }

    let mut host = host();
    host.load_start = load_start;
    host.load_end = loadavg();
    Report {
        date,
        command,
        quick,
        host,
        rows: build_rows(ROWS, &g.figures, &g.reasons),
        notes: g.notes,
        details: g.details,
    }
}

#[cfg(target_os = "linux")]
async fn process(quick: bool, g: &mut Gathered) {
    use super::process as p;
    if !std::path::Path::new("/usr/bin/bwrap").exists() {
        g.reasons.insert(
            "bwrap.python3".into(),
            "bwrap not installed (apt-get install bubblewrap)".into(),
        );
    }
    g.group(
        "process",
        p::run(quick).await.map(|(rows, _)| rows),
        &[
            ("process.native_true", p::NATIVE_POOL),
            ("process.native_echo", p::NATIVE_ECHO_POOL),
            ("bare.native_true", p::NATIVE_BARE),
            ("process.python3", p::PY_POOL),
            ("bare.python3", p::PY_BARE),
            ("bwrap.python3", p::PY_BWRAP),
        ],
    );
}

#[cfg(not(target_os = "linux"))]
async fn process(_quick: bool, g: &mut Gathered) {
    g.failed("process", anyhow::anyhow!("the process tier needs Linux"));
}

/// `/proc/loadavg`'s 1, 5 and 15 minute averages.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn host() -> Host {
    Host {
        cores: super::cores(),
        cpu: super::cpu_model(),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "unknown".into()),
        build: super::build_profile().into(),
        load_start: String::new(),
        load_end: String::new(),
    }
}

/// Now as `YYYY-MM-DD HH:MM UTC`.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    utc(secs)
}

/// Formats Unix seconds as a UTC date and time (days to civil date: Howard Hinnant's algorithm).
fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let (h, m) = ((secs % 86_400) / 3600, (secs % 3600) / 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{m:02} UTC")
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(super::utc(1_767_323_040), "2026-01-02 03:04 UTC");
    }
}
