//! How many calls of a function the chain keeps in state (`deploy --keep`): the node prunes them
//! itself through `gc_max_siblings` rule state.

use std::fmt;

use super::ConventionError;

/// How many calls of a function the chain keeps in state (`deploy --keep`). Results stay in
/// the blocks forever; only state is pruned, by the node itself, through the
/// `gc_max_siblings` rule state on `calls/<fn>/$call_id` (ain-node-semantics.md §2).
///
/// `Keep(n)` writes `gc_max_siblings = n` and `gc_num_siblings_deleted = max(10, n / 10)`:
/// when a new call makes `n + 1` entries, the node deletes that many of the oldest at once, so
/// state holds between `n + 1 − batch` and `n` calls. The node refuses a batch below
/// `min_gc_num_siblings_deleted` (10 on every network today) or above `n`, hence `n ≥ 10`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retention {
    /// Keep at most this many calls.
    Keep(u64),
    /// No limit (the rule state is removed).
    Unbounded,
}

impl Retention {
    /// `deploy`'s default: 1,000 calls.
    pub const DEFAULT: Retention = Retention::Keep(1000);
    /// The node's `min_gc_num_siblings_deleted` after its bandages (ain-node-semantics.md §2.1).
    pub const MIN_BATCH: u64 = 10;

    /// `--keep N`: 0 means no limit; 1..=9 is refused (see the type's docs).
    pub fn from_keep(n: u64) -> Result<Retention, ConventionError> {
        match n {
            0 => Ok(Retention::Unbounded),
            n if n < Self::MIN_BATCH => Err(ConventionError::Value {
                what: "retention",
                why: format!(
                    "--keep {n} is below {}: the node prunes at least min_gc_num_siblings_deleted ({}) calls at a time and never more than gc_max_siblings, so the smallest retention is {}",
                    Self::MIN_BATCH,
                    Self::MIN_BATCH,
                    Self::MIN_BATCH
                ),
            }),
            n => Ok(Retention::Keep(n)),
        }
    }

    /// Calls the node deletes at once for `Keep(n)`.
    pub fn batch(n: u64) -> u64 {
        (n / 10).max(Self::MIN_BATCH).min(n)
    }

    /// The least number of calls state holds right after a prune (`n + 1 − batch`).
    pub fn low_water(n: u64) -> u64 {
        n + 1 - Self::batch(n)
    }
}

impl fmt::Display for Retention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Retention::Keep(n) => write!(
                f,
                "the last {n} calls in state (the oldest {} pruned by the node when a call makes {}); all results stay in the blocks",
                Retention::batch(*n),
                n + 1
            ),
            Retention::Unbounded => write!(f, "every call in state (no limit)"),
        }
    }
}
