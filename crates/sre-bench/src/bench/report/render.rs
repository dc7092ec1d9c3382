//! The report rendered: Markdown tables of the rows ([`Report::markdown`]) and the diff of two
//! reports ([`compare`]).

use super::super::fmt_us;
use super::{Report, Row};

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
