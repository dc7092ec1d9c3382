//! The findings `ain-sre doctor` prints: one line per check, grouped by area (a tier, the
//! runtimes, the host), each ok, a warning (works, but weaker or slower than it could be) or a
//! failure (this part cannot run here), with the reason in words a host operator can act on.

use std::fmt;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Works.
    Ok,
    /// Works, with a caveat worth fixing.
    Warn,
    /// Cannot work on this host.
    Fail,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        })
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Check {
    /// What part of the system it is about (`wasm`, `process`, `container`, `runtimes`, `host`).
    pub area: String,
    /// What was checked (`tier`, `cgroups`, `runtime python3`, ...).
    pub what: String,
    /// The outcome.
    pub level: Level,
    /// The finding, or why not and what to do about it.
    pub detail: String,
}

impl Check {
    fn new(
        area: impl Into<String>,
        what: impl Into<String>,
        level: Level,
        detail: impl Into<String>,
    ) -> Check {
        Check {
            area: area.into(),
            what: what.into(),
            level,
            detail: detail.into(),
        }
    }

    /// A check that passed.
    pub fn ok(
        area: impl Into<String>,
        what: impl Into<String>,
        detail: impl Into<String>,
    ) -> Check {
        Check::new(area, what, Level::Ok, detail)
    }

    /// A check that passed with a caveat.
    pub fn warn(
        area: impl Into<String>,
        what: impl Into<String>,
        detail: impl Into<String>,
    ) -> Check {
        Check::new(area, what, Level::Warn, detail)
    }

    /// A check that failed.
    pub fn fail(
        area: impl Into<String>,
        what: impl Into<String>,
        detail: impl Into<String>,
    ) -> Check {
        Check::new(area, what, Level::Fail, detail)
    }
}
