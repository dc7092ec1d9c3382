//! Who may take part in an app's calls: the callers allowed to write requests for a function,
//! and which workers may register and answer (`config/workers`).

use std::fmt;

use serde_json::Value;

use crate::ledger::crypto::Address;

/// Who may write requests for a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Callers {
    /// Anyone (permissionless trigger).
    Any,
    /// Only these addresses (permissioned trigger).
    Only(Vec<Address>),
}

impl std::str::FromStr for Callers {
    type Err = String;
    fn from_str(s: &str) -> Result<Callers, String> {
        if s.trim() == "any" {
            return Ok(Callers::Any);
        }
        let list = s
            .split(',')
            .map(|a| {
                a.trim()
                    .parse::<Address>()
                    .map_err(|e| format!("{a:?} is not an address: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if list.is_empty() {
            return Err("an empty caller list".into());
        }
        Ok(Callers::Only(list))
    }
}

impl fmt::Display for Callers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Callers::Any => f.write_str("any"),
            Callers::Only(l) => {
                let s: Vec<String> = l.iter().map(|a| a.to_string()).collect();
                f.write_str(&s.join(","))
            }
        }
    }
}

/// Which workers may register in an app and answer its calls (`config/workers`).
///
/// The rules read the stored value at each write, so one value write switches every function
/// of the app; a missing or unknown value counts as [`WorkerPolicy::Approved`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WorkerPolicy {
    /// Only workers the admin listed under `allowed_workers` (closed; the default).
    #[default]
    Approved,
    /// Any key may register itself and then answer (open; an explicit, warned choice).
    Any,
}

impl WorkerPolicy {
    /// The stored value: `approved` or `any`.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerPolicy::Approved => "approved",
            WorkerPolicy::Any => "any",
        }
    }

    /// Reads the stored value; anything but `"any"` (missing included) is closed.
    pub fn from_value(v: &Value) -> WorkerPolicy {
        if v.as_str() == Some("any") {
            WorkerPolicy::Any
        } else {
            WorkerPolicy::Approved
        }
    }
}

impl fmt::Display for WorkerPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
