//! Calls this worker cannot serve: no tier here for the function's runtime, or a profile this
//! worker does not accept. Such a call is not the caller's fault and another worker may well run
//! it, so this worker never answers it `rejected` for that; it leaves the call to a worker whose
//! registry entry (`workers/<address>`) offers what the call needs.
//!
//! When no registered worker's entry offers it, somebody must still answer, or the caller waits
//! forever: exactly one worker does, the one with the lowest address among the registered
//! workers, chosen from the chain's state alone so every worker reaches the same verdict without
//! talking to the others. Its answer is `rejected` with "no registered worker serves <runtime>".
//! If that worker is down, the call stays unanswered until it or a capable worker comes.

use serde::Deserialize;
use serde_json::Value;

use super::exec::Executor;
use crate::config::profiles::ProfileCatalog;
use crate::config::runtimes::RuntimeCatalog;
use crate::ledger::crypto::Address;
use crate::onchain::WorkerEntry;
use crate::sandbox::Tier;

/// The registry entry of a worker whose sandboxes are `exec`: only the runtimes a tier here can
/// run now (what `ain-sre doctor` reports as served), the profiles it accepts, and egress when
/// its operator allows any (`egress_allowed`) and a tier here has the egress proxy (process or
/// container; WASM modules have no sockets). `register`, `run --register` and `dev` all write this.
pub fn entry<E: Executor>(
    exec: &E,
    runtimes: &RuntimeCatalog,
    profiles: &ProfileCatalog,
    capacity: u64,
    egress_allowed: bool,
) -> WorkerEntry {
    let tiers: Vec<Tier> = runtimes
        .iter()
        .filter_map(|r| exec.tier_for(r).ok())
        .collect();
    WorkerEntry {
        runtimes: runtimes
            .iter()
            .filter(|r| exec.tier_for(r).is_ok())
            .map(|r| (r.name.clone(), true))
            .collect(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        capacity,
        profiles: profiles.iter().map(|p| (p.name.clone(), true)).collect(),
        egress: egress_allowed && tiers.iter().any(|t| *t != Tier::Wasm),
    }
}

/// What a worker does with a call it cannot serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unservable {
    /// Leave it: another worker answers (it serves the call, or it is the one that rejects).
    Leave {
        /// Who is expected to answer, for the log line.
        to: String,
    },
    /// Answer `rejected` with this reason: no registered worker serves the call and this worker
    /// is the one designated to say so.
    Reject(String),
}

/// Decides for worker `me` from the app's `workers` subtree (`{<address>: entry}`; `Null` when
/// nobody registered) what to do with a call of `runtime` under `profile` that `me` cannot serve.
/// `me`'s own entry never counts as a server: it may predate the loss of a tier. A function that
/// `needs_egress` is served only by entries that offer egress.
pub fn decide(
    me: &Address,
    workers: &Value,
    runtime: &str,
    profile: &str,
    needs_egress: bool,
) -> Unservable {
    let entries: Vec<(Address, Option<WorkerEntry>)> = workers
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| {
                    let addr = k.parse::<Address>().ok()?;
                    Some((addr, WorkerEntry::deserialize(v).ok()))
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some((a, _)) = entries.iter().find(|(a, e)| {
        a != me
            && e.as_ref()
                .is_some_and(|e| e.serves(runtime, profile, needs_egress))
    }) {
        return Unservable::Leave {
            to: format!("{a}, whose registry entry offers it"),
        };
    }
    match entries.iter().map(|(a, _)| a).min_by_key(|a| a.0) {
        Some(lowest) if lowest == me => Unservable::Reject({
            let with = match (profile == "default", needs_egress) {
                (true, false) => String::new(),
                (true, true) => " with egress".to_owned(),
                (false, false) => format!(" with profile `{profile}`"),
                (false, true) => format!(" with profile `{profile}` and egress"),
            };
            format!("no registered worker serves {runtime}{with}")
        }),
        Some(lowest) => Unservable::Leave {
            to: format!("{lowest}, the registered worker designated to reject it"),
        },
        None => Unservable::Leave {
            to: "nobody: no worker is registered".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn addr(b: u8) -> Address {
        Address([b; 20])
    }

    fn entry(runtimes: &[&str], profiles: &[&str]) -> Value {
        let m = |l: &[&str]| l.iter().map(|r| (r.to_string(), json!(true))).collect();
        let mut e = json!({"runtimes": Value::Object(m(runtimes)), "version": "t", "capacity": 1});
        if !profiles.is_empty() {
            e["profiles"] = Value::Object(m(profiles));
        }
        e
    }

    fn workers(list: &[(u8, Value)]) -> Value {
        Value::Object(
            list.iter()
                .map(|(b, e)| (addr(*b).to_string(), e.clone()))
                .collect(),
        )
    }

    #[test]
    fn a_capable_worker_gets_the_call() {
        let w = workers(&[
            (1, entry(&["wasm"], &[])),
            (9, entry(&["wasm", "python3"], &[])),
        ]);
        // Even the lowest address leaves it when another worker offers the runtime.
        assert!(matches!(
            decide(&addr(1), &w, "python3", "default", false),
            Unservable::Leave { .. }
        ));
    }

    #[test]
    fn exactly_the_lowest_registered_worker_rejects_what_nobody_serves() {
        let w = workers(&[
            (5, entry(&["wasm"], &[])),
            (2, entry(&["wasm"], &[])),
            (9, entry(&["wasm"], &[])),
        ]);
        let verdicts: Vec<_> = [2, 5, 9, 1]
            .iter()
            .map(|b| decide(&addr(*b), &w, "python3", "default", false))
            .collect();
        assert_eq!(
            verdicts[0],
            Unservable::Reject("no registered worker serves python3".into())
        );
        // The others (and an unregistered worker) leave it.
        assert!(
            verdicts[1..]
                .iter()
                .all(|v| matches!(v, Unservable::Leave { .. })),
            "{verdicts:?}"
        );
    }

    #[test]
    fn own_stale_entry_does_not_count_and_profiles_are_matched() {
        // My entry still says python3, but I cannot run it now: nobody else serves it.
        let w = workers(&[
            (1, entry(&["python3"], &[])),
            (3, entry(&["python3"], &["default"])),
        ]);
        assert!(matches!(
            decide(&addr(1), &w, "python3", "default", false),
            Unservable::Leave { .. }
        ));
        // Worker 3 lists its profiles and `batch` is not among them.
        assert_eq!(
            decide(&addr(1), &w, "python3", "batch", false),
            Unservable::Reject("no registered worker serves python3 with profile `batch`".into())
        );
        // Nobody registered at all: nobody could write a response, so leave it.
        assert!(matches!(
            decide(&addr(1), &Value::Null, "python3", "default", false),
            Unservable::Leave { .. }
        ));
    }

    #[test]
    fn a_function_with_egress_is_left_only_to_a_worker_offering_egress() {
        let mut with = entry(&["python3"], &[]);
        with["egress"] = json!(true);
        // Worker 3 runs python3 but offers no egress; worker 5 offers both.
        let w = workers(&[(1, entry(&[], &[])), (3, entry(&["python3"], &[]))]);
        assert_eq!(
            decide(&addr(1), &w, "python3", "default", true),
            Unservable::Reject("no registered worker serves python3 with egress".into())
        );
        assert!(matches!(
            decide(&addr(1), &w, "python3", "default", false),
            Unservable::Leave { to } if to.starts_with(&addr(3).to_string())
        ));
        let w = workers(&[
            (1, entry(&[], &[])),
            (3, entry(&["python3"], &[])),
            (5, with),
        ]);
        assert!(matches!(
            decide(&addr(1), &w, "python3", "default", true),
            Unservable::Leave { to } if to.starts_with(&addr(5).to_string())
        ));
    }
}
