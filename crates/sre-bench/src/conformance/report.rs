//! The conformance result: one row per check, one cell per tier, as a Markdown table or JSON.

use std::fmt::Write as _;

use serde::Serialize;

use crate::sandbox::Tier;

/// The result of one check on one tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The attack failed / the contract held; what was observed.
    Pass(String),
    /// The attack succeeded, the outcome was wrong, or the tier is missing in strict mode.
    Fail(String),
    /// The attack has no form on this tier; why.
    NotApplicable(String),
    /// The tier cannot run on this host (not a failure outside strict mode); why.
    Unavailable(String),
}

impl Verdict {
    /// `pass`, `FAIL`, `n/a` or `unavailable`.
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Pass(_) => "pass",
            Verdict::Fail(_) => "FAIL",
            Verdict::NotApplicable(_) => "n/a",
            Verdict::Unavailable(_) => "unavailable",
        }
    }

    /// The observation or reason.
    pub fn reason(&self) -> &str {
        match self {
            Verdict::Pass(r)
            | Verdict::Fail(r)
            | Verdict::NotApplicable(r)
            | Verdict::Unavailable(r) => r,
        }
    }

    /// True for [`Verdict::Fail`].
    pub fn is_fail(&self) -> bool {
        matches!(self, Verdict::Fail(_))
    }

    /// The label and the reason on one line (the progress line).
    pub fn short(&self) -> String {
        format!("{}: {}", self.label(), self.reason())
    }
}

impl From<Result<String, String>> for Verdict {
    fn from(r: Result<String, String>) -> Verdict {
        match r {
            Ok(s) => Verdict::Pass(s),
            Err(s) => Verdict::Fail(s),
        }
    }
}

/// One tier's cell of a row.
#[derive(Debug, Clone)]
pub struct Cell {
    /// The tier.
    pub tier: Tier,
    /// The result.
    pub verdict: Verdict,
    /// How long the check took on this tier.
    pub ms: u64,
}

/// One check across the tiers.
#[derive(Debug, Clone)]
pub struct Row {
    /// SECURITY.md row number (`1`–`24`) or contract id (`C1`...).
    pub id: String,
    /// Short name.
    pub name: String,
    /// One cell per tested tier, in column order.
    pub cells: Vec<Cell>,
    /// The WASM tier's cell with the row's modules run as components (the `wasm component`
    /// column), when it was run.
    pub component: Option<Cell>,
}

/// The whole run.
#[derive(Debug, Clone)]
pub struct Report {
    /// Tested tiers, in column order.
    pub tiers: Vec<Tier>,
    /// Whether an unavailable tier counted as a failure.
    pub strict: bool,
    /// Checks in order: the abuse suite, then the contract.
    pub rows: Vec<Row>,
    /// Wall time of the whole run.
    pub wall_ms: u64,
}

impl Report {
    /// Number of failed cells.
    pub fn failures(&self) -> usize {
        self.rows
            .iter()
            .flat_map(|r| r.cells.iter().chain(&r.component))
            .filter(|c| c.verdict.is_fail())
            .count()
    }

    /// The cell of check `id` on `tier`, if it was run.
    pub fn cell(&self, id: &str, tier: Tier) -> Option<&Cell> {
        self.rows
            .iter()
            .find(|r| r.id == id)?
            .cells
            .iter()
            .find(|c| c.tier == tier)
    }

    /// The table: rows = checks, columns = tiers; a pass shows as `pass`, anything else with its
    /// reason. Markdown, so the README can embed it as printed.
    pub fn table(&self) -> String {
        let components = self.rows.iter().any(|r| r.component.is_some());
        let mut s = String::from("| check |");
        for t in &self.tiers {
            let _ = write!(s, " {t} |");
        }
        if components {
            s.push_str(" wasm component |");
        }
        s.push_str("\n|---|");
        for _ in 0..self.tiers.len() + usize::from(components) {
            s.push_str("---|");
        }
        s.push('\n');
        for row in &self.rows {
            let _ = write!(s, "| {} {} |", row.id, row.name);
            for c in row.cells.iter().chain(&row.component) {
                let text = match &c.verdict {
                    Verdict::Pass(_) => "pass".to_owned(),
                    v => format!("{}: {}", v.label(), v.reason()),
                };
                let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
                let _ = write!(s, " {} |", text.replace('|', "\\|"));
            }
            s.push('\n');
        }
        let _ = writeln!(
            s,
            "\n{} checks x {} tiers{}, {} failed, {:.1} s{}",
            self.rows.len(),
            self.tiers.len(),
            if components {
                " (+ wasm components)"
            } else {
                ""
            },
            self.failures(),
            self.wall_ms as f64 / 1e3,
            if self.strict { " (strict)" } else { "" }
        );
        s
    }

    /// The same content as JSON: `{tiers, strict, failures, wall_ms, checks: [{id, name,
    /// cells: {tier: {result, reason, ms}}}]}`.
    pub fn json(&self) -> serde_json::Value {
        #[derive(Serialize)]
        struct JsonCell<'a> {
            result: &'a str,
            reason: &'a str,
            ms: u64,
        }
        let checks: Vec<serde_json::Value> = self
            .rows
            .iter()
            .map(|r| {
                let cells: serde_json::Map<String, serde_json::Value> = r
                    .cells
                    .iter()
                    .map(|c| (c.tier.as_str(), c))
                    .chain(r.component.iter().map(|c| ("wasm-component", c)))
                    .map(|(column, c)| {
                        let cell = JsonCell {
                            result: c.verdict.label(),
                            reason: c.verdict.reason(),
                            ms: c.ms,
                        };
                        (
                            column.to_owned(),
                            serde_json::to_value(cell).unwrap_or_default(),
                        )
                    })
                    .collect();
                serde_json::json!({ "id": r.id, "name": r.name, "cells": cells })
            })
            .collect();
        serde_json::json!({
            "tiers": self.tiers,
            "strict": self.strict,
            "failures": self.failures(),
            "wall_ms": self.wall_ms,
            "checks": checks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_json_carry_every_cell() {
        let report = Report {
            tiers: vec![Tier::Wasm, Tier::Process],
            strict: false,
            rows: vec![Row {
                id: "1".into(),
                name: "fork bomb".into(),
                cells: vec![
                    Cell {
                        tier: Tier::Wasm,
                        verdict: Verdict::NotApplicable("no fork in WASI".into()),
                        ms: 0,
                    },
                    Cell {
                        tier: Tier::Process,
                        verdict: Verdict::Fail("a | b".into()),
                        ms: 5,
                    },
                ],
                component: None,
            }],
            wall_ms: 1200,
        };
        let t = report.table();
        assert!(
            t.starts_with("| check | wasm | process |\n|---|---|---|\n"),
            "{t}"
        );
        assert!(
            t.contains("| 1 fork bomb | n/a: no fork in WASI | FAIL: a \\| b |"),
            "{t}"
        );
        assert!(t.contains("1 failed"), "{t}");
        let j = report.json();
        assert_eq!(j["failures"], 1);
        assert_eq!(j["checks"][0]["cells"]["process"]["result"], "FAIL");
        assert_eq!(j["checks"][0]["cells"]["wasm"]["reason"], "no fork in WASI");
    }

    /// The component cells are a column of their own, counted like the others.
    #[test]
    fn component_cells_are_a_column() {
        let cell = |verdict| Cell {
            tier: Tier::Wasm,
            verdict,
            ms: 1,
        };
        let report = Report {
            tiers: vec![Tier::Wasm],
            strict: true,
            rows: vec![Row {
                id: "C1".into(),
                name: "stdin to stdout".into(),
                cells: vec![cell(Verdict::Pass("echoed".into()))],
                component: Some(cell(Verdict::Fail("lost bytes".into()))),
            }],
            wall_ms: 10,
        };
        let t = report.table();
        assert!(
            t.starts_with("| check | wasm | wasm component |\n|---|---|---|\n"),
            "{t}"
        );
        assert!(
            t.contains("| C1 stdin to stdout | pass | FAIL: lost bytes |"),
            "{t}"
        );
        assert_eq!(report.failures(), 1);
        let j = report.json();
        assert_eq!(j["checks"][0]["cells"]["wasm-component"]["result"], "FAIL");
    }
}
