//! What the soak counts from the chain, and how it judges the result.
//!
//! Calls are counted from the blocks, not from the clients: a request tx accepted in a block is a
//! call made (as is one the client saw acknowledged, should a block ever lose it), and every
//! accepted `SET_VALUE` on a call's `/response` path is one response write. The chain's rule makes
//! responses write-once, so more than one accepted write for a call is a duplicate the chain
//! failed to stop; refused second writes (a restarted worker answering again) are only counted.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::ledger::block::Block;
use crate::ledger::tx::OpType;

/// One call as the chain recorded it.
#[derive(Debug, Default, Clone)]
pub struct CallRecord {
    /// The request tx is in a block with a success receipt.
    pub requested: bool,
    /// Accepted response writes.
    pub responses: u32,
    /// Response writes the chain refused (e.g. a second answer after a worker restart).
    pub refused: u32,
    /// `status` of the first accepted response.
    pub status: Option<String>,
    /// `receipt.sandbox` of the first accepted response (the tier that ran it).
    pub tier: Option<String>,
}

/// Calls by key `<app>/<fn>/<call id>`, filled block by block.
#[derive(Debug, Default)]
pub struct Tally {
    /// Next block to read.
    pub next_block: u64,
    /// Every call seen.
    pub calls: HashMap<String, CallRecord>,
}

/// `/apps/<app>/sre/calls/<fn>/<id>/<leaf>` → (`<app>/<fn>/<id>`, leaf).
fn call_key(path: &str) -> Option<(String, &str)> {
    let rest = path.strip_prefix("/apps/")?;
    let mut parts = rest.split('/');
    let app = parts.next()?;
    if parts.next()? != "sre" || parts.next()? != "calls" {
        return None;
    }
    let (function, id, leaf) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    Some((format!("{app}/{function}/{id}"), leaf))
}

impl Tally {
    /// Adds the request and response writes of `blocks` (consecutive, from `next_block`).
    pub fn add_blocks(&mut self, blocks: &[Block]) {
        for b in blocks {
            for (i, tx) in b.transactions.iter().enumerate() {
                let ok = b.tx_succeeded(i);
                for op in tx.tx_body.operation.ops() {
                    if op.op_type != OpType::SetValue {
                        continue;
                    }
                    let Some((key, leaf)) = call_key(&op.path) else {
                        continue;
                    };
                    let rec = self.calls.entry(key).or_default();
                    match (leaf, ok) {
                        ("request", true) => rec.requested = true,
                        ("response", true) => {
                            rec.responses += 1;
                            if rec.responses == 1 {
                                let v = op.value.as_ref();
                                rec.status =
                                    v.and_then(|v| v["status"].as_str()).map(str::to_owned);
                                rec.tier = v
                                    .and_then(|v| v["receipt"]["sandbox"].as_str())
                                    .map(str::to_owned);
                            }
                        }
                        ("response", false) => rec.refused += 1,
                        _ => {}
                    }
                }
            }
            self.next_block = self.next_block.max(b.number + 1);
        }
    }

    /// Counts over the calls made: those requested on chain plus those in `acked` (keys the
    /// clients saw accepted).
    pub fn counts(&self, acked: &HashSet<String>) -> CallCounts {
        let mut c = CallCounts::default();
        let made: HashSet<&String> = self
            .calls
            .iter()
            .filter(|(_, r)| r.requested)
            .map(|(k, _)| k)
            .chain(acked.iter())
            .collect();
        let none = CallRecord::default();
        for key in &made {
            let rec = self.calls.get(*key).unwrap_or(&none);
            c.made += 1;
            if acked.contains(*key) && !rec.requested {
                c.acked_not_in_chain += 1;
            }
            if rec.responses == 0 {
                c.lost += 1;
                if c.lost_examples.len() < 5 {
                    c.lost_examples.push((*key).clone());
                }
                continue;
            }
            c.answered += 1;
            if rec.responses > 1 {
                c.duplicates += 1;
            }
            c.refused_second_writes += u64::from(rec.refused);
            let function = key.rsplit_once('/').map_or("", |(f, _)| f).to_owned();
            let row = c.by_function.entry(function).or_default();
            row.answered += 1;
            *row.by_outcome
                .entry(format!(
                    "{} on {}",
                    rec.status.as_deref().unwrap_or("?"),
                    rec.tier.as_deref().unwrap_or("?")
                ))
                .or_default() += 1;
        }
        c
    }
}

/// Answers of one function (`<app>/<fn>`).
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct FunctionCounts {
    /// Calls answered.
    pub answered: u64,
    /// `"<status> on <tier>"` → count.
    pub by_outcome: BTreeMap<String, u64>,
}

/// The call figures of a soak.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct CallCounts {
    /// Calls whose request the chain accepted.
    pub made: u64,
    /// Calls with at least one accepted response.
    pub answered: u64,
    /// Calls with more than one accepted response (must be 0).
    pub duplicates: u64,
    /// Calls made with no accepted response after the drain (must be 0).
    pub lost: u64,
    /// Of the lost: acknowledged to the client but in no block.
    pub acked_not_in_chain: u64,
    /// Second answers the chain refused (a worker answering again after a restart): harmless.
    pub refused_second_writes: u64,
    /// A few lost call keys, for the report.
    pub lost_examples: Vec<String>,
    /// Answers by function.
    pub by_function: BTreeMap<String, FunctionCounts>,
}

/// RSS samples of one worker incarnation (one process, from spawn to its end).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Incarnation {
    /// Which worker (`process`, `container`).
    pub worker: String,
    /// Its pid.
    pub pid: u32,
    /// Seconds into the soak when it was started.
    pub started_s: f64,
    /// How it ended (`SIGKILL`, `SIGTERM`, `final SIGTERM`).
    pub ended_by: String,
    /// `(seconds since this incarnation started, RSS in KiB)`.
    pub samples: Vec<(f64, u64)>,
}

impl Incarnation {
    /// First, largest and last RSS sample in KiB (zeros without samples).
    pub fn start_max_end(&self) -> (u64, u64, u64) {
        let first = self.samples.first().map_or(0, |s| s.1);
        let last = self.samples.last().map_or(0, |s| s.1);
        let max = self.samples.iter().map(|s| s.1).max().unwrap_or(0);
        (first, max, last)
    }
}

/// The bound on a worker's RSS growth under steady load.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct RssBound {
    /// Samples younger than this (start-up, pools filling, catching up on the calls queued while
    /// the worker was down) are not judged.
    pub warmup_s: f64,
    /// Growth always allowed, KiB: allocator arenas and pools settle by a few MiB.
    pub slack_kb: u64,
    /// Growth allowed in proportion to the starting RSS.
    pub fraction: f64,
}

/// The flatness judgement of one incarnation.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RssJudgement {
    /// Median of the first judged samples, KiB.
    pub start_kb: u64,
    /// Median of the last judged samples, KiB.
    pub end_kb: u64,
    /// Allowed growth, KiB.
    pub allowed_kb: u64,
    /// Seconds between the two windows' first and last samples.
    pub span_s: f64,
    /// `end - start <= allowed`, with enough samples to tell.
    pub flat: bool,
    /// Why not flat, or why it could not be judged.
    pub note: String,
}

fn median(v: &mut [u64]) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// Judges `samples` (`(age s, KiB)`, in order): the median of the first five samples after the
/// warm-up against the median of the last five. Fewer than ten judged samples cannot tell a
/// trend from noise, so they fail (a soak too short to judge is not a pass).
pub fn judge_rss(samples: &[(f64, u64)], bound: &RssBound) -> RssJudgement {
    let judged: Vec<(f64, u64)> = samples
        .iter()
        .copied()
        .filter(|s| s.0 >= bound.warmup_s)
        .collect();
    if judged.len() < 10 {
        return RssJudgement {
            start_kb: 0,
            end_kb: 0,
            allowed_kb: 0,
            span_s: 0.0,
            flat: false,
            note: format!(
                "only {} samples after the {:.0} s warm-up; need 10",
                judged.len(),
                bound.warmup_s
            ),
        };
    }
    let mut head: Vec<u64> = judged[..5].iter().map(|s| s.1).collect();
    let mut tail: Vec<u64> = judged[judged.len() - 5..].iter().map(|s| s.1).collect();
    let (start_kb, end_kb) = (median(&mut head), median(&mut tail));
    let allowed_kb = bound
        .slack_kb
        .max((start_kb as f64 * bound.fraction) as u64);
    let growth = end_kb.saturating_sub(start_kb);
    let flat = growth <= allowed_kb;
    RssJudgement {
        start_kb,
        end_kb,
        allowed_kb,
        span_s: judged[judged.len() - 1].0 - judged[0].0,
        flat,
        note: if flat {
            String::new()
        } else {
            format!("grew {growth} KiB, more than the {allowed_kb} KiB allowed")
        },
    }
}

/// Sandboxes and host state left behind after the final worker shutdown.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Leaks {
    /// ain-sre-labelled containers created by a soak worker (`None`: Docker not reachable).
    pub containers: Option<Vec<String>>,
    /// Sandbox cgroups of a soak worker under the worker's cgroup parent.
    pub cgroups: Vec<String>,
    /// Processes left: a soak worker itself, jail helpers or guests in its cgroups, guests
    /// carrying a soak caller's `SRE_CALLER`.
    pub processes: Vec<String>,
    /// Network-namespace and sandbox-root mounts that appeared during the soak.
    pub mounts: Vec<String>,
}

impl Leaks {
    /// Everything found.
    pub fn total(&self) -> usize {
        self.containers.as_ref().map_or(0, Vec::len)
            + self.cgroups.len()
            + self.processes.len()
            + self.mounts.len()
    }
}

/// Why a soak failed: one line per broken promise (empty = clean).
pub fn failures(calls: &CallCounts, rss: &[(String, RssJudgement)], leaks: &Leaks) -> Vec<String> {
    let mut out = Vec::new();
    if calls.made == 0 {
        out.push("no call was made".to_owned());
    }
    if calls.duplicates > 0 {
        out.push(format!(
            "{} calls have more than one accepted response",
            calls.duplicates
        ));
    }
    if calls.lost > 0 {
        out.push(format!(
            "{} calls lost (no response after the drain), e.g. {:?}",
            calls.lost, calls.lost_examples
        ));
    }
    if leaks.total() > 0 {
        out.push(format!(
            "{} leaked sandboxes/host objects: {leaks:?}",
            leaks.total()
        ));
    }
    for (worker, j) in rss {
        if !j.flat {
            out.push(format!("{worker} worker RSS not flat: {}", j.note));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUND: RssBound = RssBound {
        warmup_s: 5.0,
        slack_kb: 8 * 1024,
        fraction: 0.15,
    };

    fn samples(f: impl Fn(f64) -> u64) -> Vec<(f64, u64)> {
        (0..60).map(|i| (i as f64, f(i as f64))).collect()
    }

    fn rec(requested: bool, responses: u32) -> CallRecord {
        CallRecord {
            requested,
            responses,
            status: Some("ok".into()),
            tier: Some("wasm".into()),
            ..CallRecord::default()
        }
    }

    #[test]
    fn call_paths_are_parsed() {
        assert_eq!(
            call_key("/apps/a/sre/calls/f/1-2/response"),
            Some(("a/f/1-2".to_owned(), "response"))
        );
        assert_eq!(call_key("/apps/a/sre/functions/f"), None);
        assert_eq!(call_key("/apps/a/sre/calls/f/1/response/x"), None);
    }

    #[test]
    fn a_clean_run_passes() {
        let mut t = Tally::default();
        t.calls.insert("a/f/1".into(), rec(true, 1));
        t.calls.insert("a/f/2".into(), rec(true, 1));
        let c = t.counts(&HashSet::from(["a/f/1".to_owned()]));
        assert_eq!((c.made, c.answered, c.duplicates, c.lost), (2, 2, 0, 0));
        let flat = judge_rss(&samples(|t| 40_000 + (t as u64 % 3) * 500), &BOUND);
        assert!(flat.flat, "{flat:?}");
        assert!(failures(&c, &[("w".into(), flat)], &Leaks::default()).is_empty());
    }

    #[test]
    fn a_duplicate_a_lost_call_and_a_leak_fail() {
        let mut t = Tally::default();
        t.calls.insert("a/f/dup".into(), rec(true, 2));
        t.calls.insert("a/f/none".into(), rec(true, 0));
        // Acknowledged to the client, never in a block: lost too.
        let c = t.counts(&HashSet::from(["a/f/vanished".to_owned()]));
        assert_eq!(
            (c.made, c.duplicates, c.lost, c.acked_not_in_chain),
            (3, 1, 2, 1)
        );
        let leaks = Leaks {
            cgroups: vec!["/sys/fs/cgroup/ain-sre/1-1".into()],
            ..Leaks::default()
        };
        let f = failures(&c, &[], &leaks);
        assert_eq!(f.len(), 3, "{f:?}");
        assert!(f[0].contains("more than one accepted response"));
        assert!(f[1].contains("2 calls lost"));
        assert!(f[2].contains("leaked"));
    }

    #[test]
    fn refused_second_writes_are_not_duplicates() {
        let mut t = Tally::default();
        let mut r = rec(true, 1);
        r.refused = 2;
        t.calls.insert("a/f/1".into(), r);
        let c = t.counts(&HashSet::new());
        assert_eq!((c.duplicates, c.refused_second_writes), (0, 2));
    }

    #[test]
    fn growing_rss_fails_and_warmup_is_ignored() {
        // 300 KiB a second: +16 MiB over the judged window.
        let growing = judge_rss(&samples(|t| 40_000 + (t * 300.0) as u64), &BOUND);
        assert!(!growing.flat, "{growing:?}");
        assert!(growing.note.contains("grew"));
        let f = failures(
            &CallCounts {
                made: 1,
                answered: 1,
                ..CallCounts::default()
            },
            &[("process".into(), growing)],
            &Leaks::default(),
        );
        assert_eq!(f.len(), 1);
        // A big start-up climb inside the warm-up is not growth.
        let warm = judge_rss(
            &samples(|t| {
                if t < 5.0 {
                    10_000 + t as u64 * 8000
                } else {
                    52_000
                }
            }),
            &BOUND,
        );
        assert!(warm.flat, "{warm:?}");
    }

    #[test]
    fn too_few_samples_cannot_pass() {
        let short: Vec<(f64, u64)> = (0..12).map(|i| (i as f64, 40_000)).collect();
        let j = judge_rss(&short, &BOUND);
        assert!(!j.flat);
        assert!(j.note.contains("need 10"));
    }
}
