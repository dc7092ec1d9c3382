//! The soak's output: the progress line while it runs and the final report as Markdown tables.

use std::collections::HashSet;
use std::time::Duration;

use super::SoakReport;
use super::procs::Worker;
use super::tally::Tally;

pub(super) fn progress(
    tally: &Tally,
    acked: &HashSet<String>,
    now: Duration,
    worker_restarts: u64,
    chain_restarts: u64,
    workers: &[Worker],
) -> String {
    let c = tally.counts(acked);
    let rss: Vec<String> = workers
        .iter()
        .map(|w| match &w.child {
            Some(ch) => format!(
                "{} pid {} {:.1} MB",
                w.name,
                ch.pid(),
                ch.rss_kb() as f64 / 1024.0
            ),
            None => format!("{} down", w.name),
        })
        .collect();
    format!(
        "soak t={:>4.0}s made={} answered={} pending={} dup={} restarts: worker {worker_restarts}, chain {chain_restarts}; {}",
        now.as_secs_f64(),
        c.made,
        c.answered,
        c.lost,
        c.duplicates,
        rss.join(", ")
    )
}

/// Renders the report as text (Markdown tables).
pub fn render(r: &SoakReport) -> String {
    let mb = |kb: u64| kb as f64 / 1024.0;
    let c = &r.calls;
    let mut out = format!(
        "host: {}\n\nsoak: {:.0} s of load, {} worker restarts, {} chain restarts\n\n\
         | calls | count |\n|---|---:|\n| attempted | {} |\n| not acknowledged (chain down) | {} |\n\
         | skipped ticks (in-flight cap) | {} |\n| made (request accepted) | {} |\n| answered | {} |\n\
         | duplicates (>1 accepted response) | {} |\n| lost (no response after drain) | {} |\n\
         | refused second answers | {} |\n\n",
        r.host,
        r.duration_s,
        r.worker_restarts,
        r.chain_restarts,
        r.attempted,
        r.send_failures,
        r.skipped_ticks,
        c.made,
        c.answered,
        c.duplicates,
        c.lost,
        c.refused_second_writes
    );
    out.push_str("| function | answered | outcomes |\n|---|---:|---|\n");
    for (f, row) in &c.by_function {
        let outcomes: Vec<String> = row
            .by_outcome
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        out.push_str(&format!(
            "| {f} | {} | {} |\n",
            row.answered,
            outcomes.join(", ")
        ));
    }
    out.push_str("\n| worker | pid | started | ended by | RSS start | max | end |\n|---|---:|---:|---|---:|---:|---:|\n");
    for i in &r.incarnations {
        let (s, m, e) = i.start_max_end();
        out.push_str(&format!(
            "| {} | {} | {:.0} s | {} | {:.1} MB | {:.1} MB | {:.1} MB |\n",
            i.worker,
            i.pid,
            i.started_s,
            i.ended_by,
            mb(s),
            mb(m),
            mb(e)
        ));
    }
    out.push('\n');
    for (w, j) in &r.rss {
        out.push_str(&format!(
            "RSS {w} (last incarnation, after warm-up, over {:.0} s): {:.1} MB → {:.1} MB, allowed +{:.1} MB: {}{}\n",
            j.span_s,
            mb(j.start_kb),
            mb(j.end_kb),
            mb(j.allowed_kb),
            if j.flat { "flat" } else { "NOT FLAT" },
            if j.note.is_empty() { String::new() } else { format!(" ({})", j.note) }
        ));
    }
    let l = &r.leaks;
    out.push_str(&format!(
        "\nleaks after the final shutdown: containers {}, cgroups {}, processes {}, namespace/root mounts {}\n",
        l.containers.as_ref().map_or("not checked (no Docker)".to_owned(), |v| v.len().to_string()),
        l.cgroups.len(),
        l.processes.len(),
        l.mounts.len()
    ));
    for item in l
        .containers
        .iter()
        .flatten()
        .chain(&l.cgroups)
        .chain(&l.processes)
        .chain(&l.mounts)
    {
        out.push_str(&format!("  {item}\n"));
    }
    for n in &r.notes {
        out.push_str(&format!("\nnote: {n}\n"));
    }
    if r.failures.is_empty() {
        out.push_str("\nresult: clean\n");
    } else {
        out.push_str("\nresult: FAILED\n");
        for f in &r.failures {
            out.push_str(&format!("  - {f}\n"));
        }
    }
    out
}
