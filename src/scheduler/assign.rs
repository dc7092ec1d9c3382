//! Which worker of a fleet runs a call, decided by every worker alone from chain state it already
//! reads: no coordinator, no extra transaction per call (DESIGN.md, "Fleets and pairing").
//!
//! **Candidates.** The app's workers that may answer (approved, or registered in an open app),
//! whose registry entry offers the function's runtime and profile, that are live (a `last_seen`
//! heartbeat within [`LIVENESS_BEATS`] of their own `heartbeat_ms`) and not draining. The worker
//! deciding applies the same test to its own entry, so that it sees the ranking the others see;
//! when its entry does not pass (its first heartbeat has not landed, its entry is stale), it
//! ranks itself after every candidate ([`rank_of`]): a last resort, never a second rank 1.
//!
//! **Ranking.** Weighted rendezvous hashing: each candidate's score for a call is
//! `-w / ln(u)`, with `u` in (0, 1) from SHA-256 of (call key, worker address) and `w` the
//! capacity in its entry. The highest score is rank 1. Each worker's chance of rank 1 is its
//! weight over the total, and when a worker leaves only its calls move.
//!
//! **Turns.** Rank 1 runs at once. Rank k starts at [`start_after`]: not before (k−1) × the
//! function's failover delay, and not while rank k−1 (live, or it would not be ranked) could still
//! be inside the call's wall-time limit plus a posting slack. A slow call on a live worker is
//! therefore never run twice; a dead or stalled worker's calls move. Every rank checks the chain
//! for a response before it starts, and the write-once response rule catches what slips through.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::client::AppWorkers;
use crate::ledger::crypto::Address;
use crate::onchain::WorkerEntry;

/// Failover delay of a function whose spec sets none (`failover_ms`).
pub const DEFAULT_FAILOVER: Duration = Duration::from_millis(2000);
/// A worker is live while its `last_seen` is at most this many of its heartbeat intervals old:
/// one missed beat (a slow block, a retried tx) is not a death.
pub const LIVENESS_BEATS: u64 = 3;
/// Heartbeat interval assumed for an entry that carries `last_seen` but no `heartbeat_ms`.
pub const DEFAULT_HEARTBEAT_MS: u64 = 10_000;

/// The liveness fields a running worker keeps in its registry entry (`workers/<address>`),
/// beside the [`WorkerEntry`] fields that `register` writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Presence {
    /// The worker's clock at its last heartbeat, ms since the epoch.
    pub last_seen: Option<u64>,
    /// Its heartbeat interval, ms.
    pub heartbeat_ms: Option<u64>,
    /// Set when it stops (SIGTERM): it takes no new calls.
    pub draining: bool,
    /// The address of the node it follows (`ain_getAddress`).
    pub paired_with: Option<String>,
}

impl Presence {
    /// Reads the liveness fields of a registry entry (missing ones stay `None`/false).
    pub fn from_entry(v: &Value) -> Presence {
        Presence {
            last_seen: v["last_seen"].as_u64(),
            heartbeat_ms: v["heartbeat_ms"].as_u64(),
            draining: v["draining"].as_bool().unwrap_or(false),
            paired_with: v["paired_with"].as_str().map(str::to_owned),
        }
    }

    /// How long after `last_seen` the worker stops counting as live.
    pub fn window(&self) -> Duration {
        let beat = self.heartbeat_ms.unwrap_or(DEFAULT_HEARTBEAT_MS).max(100);
        Duration::from_millis(beat.saturating_mul(LIVENESS_BEATS))
    }

    /// Live at `now_ms`: it heartbeated within [`Presence::window`]. An entry without a heartbeat
    /// (a worker that registered and never ran, or an older version) is not live.
    pub fn live(&self, now_ms: u64) -> bool {
        self.last_seen
            .is_some_and(|t| now_ms.saturating_sub(t) <= self.window().as_millis() as u64)
    }
}

/// A worker that may be ranked for a call, with its weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Its address.
    pub address: Address,
    /// Its advertised capacity (the rendezvous weight).
    pub weight: u64,
}

/// The candidates for a call of `runtime` under `profile` in the app whose workers are `w`, seen
/// at `now_ms` (see the module docs: the worker deciding is ranked by the same test as the
/// others, and [`rank_of`] places it last when it does not pass). `egress` is the hook for functions that
/// need network egress: a predicate on the entry, `true` for every entry until egress exists.
pub fn candidates(
    w: &AppWorkers,
    runtime: &str,
    profile: &str,
    now_ms: u64,
    egress: impl Fn(&Value) -> bool,
) -> Vec<Candidate> {
    w.registered
        .iter()
        .filter(|(a, _)| w.may_answer(a))
        .filter_map(|(a, v)| {
            // Read in place: ranking runs for every call, over every entry of the app.
            let entry = WorkerEntry::deserialize(v).ok()?;
            let p = Presence::from_entry(v);
            (entry.offers(runtime, profile)
                && entry.capacity > 0
                && p.live(now_ms)
                && !p.draining
                && egress(v))
            .then_some(Candidate {
                address: *a,
                weight: entry.capacity,
            })
        })
        .collect()
}

/// The weighted rendezvous score of `worker` for the call `call_key` (`<app>/<fn>/<call_id>`).
pub fn score(call_key: &str, worker: &Address, weight: u64) -> f64 {
    let mut h = Sha256::new();
    h.update(call_key.as_bytes());
    h.update([0u8]);
    h.update(worker.0);
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    // 53 bits make an f64 in (0, 1) exactly; never 0 or 1, so ln(u) is finite and negative.
    let u = ((u64::from_be_bytes(b) >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    -(weight as f64) / u.ln()
}

/// The candidates in rank order for `call_key` (rank 1 first); ties (practically impossible)
/// go to the lower address so every worker agrees.
pub fn ranking(call_key: &str, candidates: &[Candidate]) -> Vec<Address> {
    let mut scored: Vec<(f64, Address)> = candidates
        .iter()
        .map(|c| (score(call_key, &c.address, c.weight), c.address))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.0.cmp(&b.1.0)));
    scored.into_iter().map(|(_, a)| a).collect()
}

/// `me`'s rank (1-based) for `call_key` among `candidates`; `candidates.len() + 1` when `me` is
/// not among them (see the module docs: the others do not rank it either).
pub fn rank_of(me: &Address, call_key: &str, candidates: &[Candidate]) -> usize {
    ranking(call_key, candidates)
        .iter()
        .position(|a| a == me)
        .map_or(candidates.len() + 1, |i| i + 1)
}

/// How long after the call was seen rank `rank` may start it: 0 for rank 1; for rank k,
/// `max((k−1) × failover, start(k−1) + wall + slack)`, so it neither comes before its turn nor
/// while rank k−1 (which started at its own turn) may still be running or posting the call.
pub fn start_after(rank: usize, failover: Duration, wall: Duration, slack: Duration) -> Duration {
    let mut start = Duration::ZERO;
    for k in 2..=rank.max(1) {
        // Saturating: `failover_ms` comes from the chain and may be absurd.
        let turn = failover.saturating_mul(u32::try_from(k - 1).unwrap_or(u32::MAX));
        start = turn.max(start.saturating_add(wall).saturating_add(slack));
    }
    start
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onchain::WorkerPolicy;
    use serde_json::json;

    const NOW: u64 = 1_700_000_000_000;

    fn addr(b: u8) -> Address {
        Address([b; 20])
    }

    fn entry(runtimes: &[&str], capacity: u64, last_seen: Option<u64>, draining: bool) -> Value {
        let m: serde_json::Map<String, Value> = runtimes
            .iter()
            .map(|r| (r.to_string(), json!(true)))
            .collect();
        let mut e = json!({"runtimes": m, "version": "t", "capacity": capacity,
                           "heartbeat_ms": 1000, "draining": draining});
        if let Some(t) = last_seen {
            e["last_seen"] = json!(t);
        }
        e
    }

    fn fleet(list: &[(u8, Value)]) -> AppWorkers {
        AppWorkers {
            policy: WorkerPolicy::Approved,
            approved: list.iter().map(|(b, _)| addr(*b)).collect(),
            registered: list.iter().map(|(b, e)| (addr(*b), e.clone())).collect(),
        }
    }

    fn addrs(c: &[Candidate]) -> Vec<Address> {
        let mut v: Vec<Address> = c.iter().map(|c| c.address).collect();
        v.sort_by_key(|a| a.0);
        v
    }

    #[test]
    fn a_worker_without_the_runtime_is_never_ranked() {
        let w = fleet(&[
            (1, entry(&["wasm"], 8, Some(NOW), false)),
            (2, entry(&["wasm", "python3"], 8, Some(NOW), false)),
            (3, entry(&["wasm", "python3"], 8, Some(NOW), false)),
        ]);
        let c = candidates(&w, "python3", "default", NOW, |_| true);
        assert_eq!(addrs(&c), vec![addr(2), addr(3)]);
        // Worker 1 asked about a python3 call is not a candidate, so it comes last.
        let c1 = candidates(&w, "python3", "default", NOW, |_| true);
        assert_eq!(rank_of(&addr(1), "a/f/c0", &c1), 3);
        for i in 0..1000 {
            let key = format!("a/f/c{i}");
            assert!(!ranking(&key, &c).contains(&addr(1)));
        }
        // For wasm calls it is ranked.
        let c = candidates(&w, "wasm", "default", NOW, |_| true);
        assert_eq!(addrs(&c), vec![addr(1), addr(2), addr(3)]);
    }

    #[test]
    fn stale_draining_unapproved_and_unregistered_workers_are_not_ranked() {
        let mut w = fleet(&[
            (1, entry(&["wasm"], 8, Some(NOW - 3_001), false)), // 3 beats of 1 s missed
            (2, entry(&["wasm"], 8, Some(NOW - 2_999), false)), // still live
            (3, entry(&["wasm"], 8, Some(NOW), true)),          // draining
            (4, entry(&["wasm"], 8, None, false)),              // never heartbeated
            (5, entry(&["wasm"], 8, Some(NOW), false)),         // not approved, below
            (6, json!({"last_seen": NOW})),                     // not a registration
        ]);
        w.approved.remove(&addr(5));
        let c = candidates(&w, "wasm", "default", NOW, |_| true);
        assert_eq!(addrs(&c), vec![addr(2)], "{c:?}");
        // A worker that does not pass its own test (here 1, stale) ranks itself last.
        assert_eq!(rank_of(&addr(1), "a/f/x", &c), 2);
        // The egress hook can exclude entries.
        let c = candidates(&w, "wasm", "default", NOW, |_| false);
        assert!(c.is_empty());
        assert_eq!(rank_of(&addr(9), "a/f/x", &c), 1);
        // One that comes back (a fresh heartbeat) rejoins.
        w.registered
            .insert(addr(1), entry(&["wasm"], 8, Some(NOW), false));
        let c = candidates(&w, "wasm", "default", NOW, |_| true);
        assert_eq!(addrs(&c), vec![addr(1), addr(2)]);
    }

    /// Over 1,000 calls a weight-2 worker is rank 1 for about twice as many as a weight-1 worker.
    /// Expected shares 2/3 and 1/3 (667 / 333); the binomial standard deviation is ~15, so the
    /// tolerance of ±60 calls (4 σ) holds for any fixed key set unless the weighting is wrong
    /// (equal weights give ~500, which is 11 σ away).
    #[test]
    fn rank_one_shares_follow_the_weights() {
        let c = [
            Candidate {
                address: addr(1),
                weight: 2,
            },
            Candidate {
                address: addr(2),
                weight: 1,
            },
        ];
        let heavy = (0..1000)
            .filter(|i| ranking(&format!("app/f/{i}"), &c)[0] == addr(1))
            .count();
        eprintln!("weight 2 vs 1: rank 1 for {heavy} of 1000");
        assert!((607..=727).contains(&heavy), "weight-2 worker got {heavy}");
        // Four equal workers share evenly, and removing one only moves its own calls.
        let four: Vec<Candidate> = (1..=4)
            .map(|b| Candidate {
                address: addr(b),
                weight: 8,
            })
            .collect();
        let mut moved = 0;
        for i in 0..1000 {
            let key = format!("app/f/{i}");
            let before = ranking(&key, &four)[0];
            let after = ranking(&key, &four[..3])[0];
            if before != addr(4) {
                assert_eq!(before, after, "a call not on the removed worker moved");
            } else {
                moved += 1;
                // Its new rank 1 was its rank 2 before.
                assert_eq!(after, ranking(&key, &four)[1]);
            }
        }
        eprintln!("one of 4 removed: {moved} of 1000 calls moved");
        assert!((190..=310).contains(&moved), "{moved} of 1000 on one of 4");
    }

    #[test]
    fn every_worker_computes_the_same_ranking() {
        let w = fleet(&[
            (1, entry(&["wasm"], 4, Some(NOW), false)),
            (2, entry(&["wasm"], 8, Some(NOW), false)),
            (3, entry(&["wasm"], 8, Some(NOW), false)),
        ]);
        for i in 0..200 {
            let key = format!("a/f/{i}");
            let ranks: Vec<usize> = (1..=3)
                .map(|b| {
                    let c = candidates(&w, "wasm", "default", NOW, |_| true);
                    rank_of(&addr(b), &key, &c)
                })
                .collect();
            let mut sorted = ranks.clone();
            sorted.sort();
            assert_eq!(sorted, vec![1, 2, 3], "{key}: {ranks:?}");
        }
    }

    #[test]
    fn later_ranks_wait_for_the_delay_and_for_the_previous_ranks_limit() {
        let ms = Duration::from_millis;
        assert_eq!(start_after(1, ms(2000), ms(5000), ms(1000)), ms(0));
        // The wall limit plus slack dominates a short failover delay: a slow call is not run twice.
        assert_eq!(start_after(2, ms(2000), ms(5000), ms(1000)), ms(6000));
        assert_eq!(start_after(3, ms(2000), ms(5000), ms(1000)), ms(12000));
        // A function whose limit is under the delay fails over at (k − 1) × delay.
        assert_eq!(start_after(2, ms(2000), ms(500), ms(1000)), ms(2000));
        assert_eq!(start_after(3, ms(2000), ms(500), ms(1000)), ms(4000));
        assert_eq!(
            start_after(3, Duration::MAX, ms(500), ms(1000)),
            Duration::MAX
        );
    }

    #[test]
    fn presence_fields_and_the_liveness_window() {
        let p = Presence::from_entry(&json!({"last_seen": NOW, "heartbeat_ms": 10_000,
                                             "draining": true, "paired_with": "0xab"}));
        assert!(p.draining && p.paired_with.as_deref() == Some("0xab"));
        assert_eq!(p.window(), Duration::from_secs(30));
        assert!(p.live(NOW + 30_000) && !p.live(NOW + 30_001));
        assert!(!Presence::from_entry(&json!({"capacity": 1})).live(NOW));
    }
}
