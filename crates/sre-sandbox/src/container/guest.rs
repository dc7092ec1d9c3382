//! Per-container guest identities. The kernel keeps several counters per host uid, whatever the
//! namespace: queued signals (checked against `RLIMIT_SIGPENDING`), processes (`RLIMIT_NPROC`),
//! POSIX message queue bytes, inotify instances. Containers have no user namespace of their own,
//! so if every guest were the same uid (once `nobody`, 65534), one container holding its
//! `sigpending` allowance would leave every concurrent container with none (abuse row 26).
//! Instead each container gets its own uid (and the gid of the same number) from a range no host
//! account uses, held for the container's whole life (a kept container keeps it between calls)
//! and handed out again only after the container is removed.

use crate::sync::LockExt;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use crate::{SandboxError, Tier};

/// The host uids (and gids, the same numbers) containers' guests run as: `base .. base + count`.
/// The default, 4,000,000 + 65,536, is above every account a distribution creates (its
/// `/etc/login.defs` stops at 60,000; `nobody` is 65,534) and apart from the process tier's
/// ranges (1,000,000 upwards, 2 per cell). Two workers on one host should get disjoint ranges;
/// if they share one, a collision (each starts at a random point of the range) only means those
/// two guests share their per-uid counters, as every guest once did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestIds {
    /// First uid/gid of the range.
    pub base: u32,
    /// How many uids the range holds: at most that many containers exist at once.
    pub count: u32,
}

impl Default for GuestIds {
    fn default() -> Self {
        GuestIds {
            base: 4_000_000,
            count: 65_536,
        }
    }
}

/// Lowest uid a guest range may start at: below it are system and login accounts, and `nobody`.
pub const MIN_GUEST_ID: u32 = 65_536;

impl GuestIds {
    /// The range, or why it cannot be used: it must not reach down into host accounts (below
    /// [`MIN_GUEST_ID`]) nor up to `u32::MAX` (-1, "no id" to the kernel), and holds at least one.
    pub fn validate(self) -> Result<GuestIds, String> {
        if self.count == 0 {
            return Err("the container guest uid range is empty".into());
        }
        if self.base < MIN_GUEST_ID {
            return Err(format!(
                "container guest uids start at {}, below {MIN_GUEST_ID} (host accounts, nobody)",
                self.base
            ));
        }
        match self.base.checked_add(self.count) {
            Some(end) if end < u32::MAX => Ok(self),
            _ => Err(format!(
                "container guest uids {} + {} run past the largest uid",
                self.base, self.count
            )),
        }
    }
}

/// Hands out guest uids: a counter going round the range, skipping those held by live
/// containers of this worker.
#[derive(Debug)]
pub(crate) struct Allocator {
    ids: GuestIds,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Offset in the range to try next.
    next: u32,
    /// Uids held by containers that exist.
    held: HashSet<u32>,
}

impl Allocator {
    /// An allocator over `ids` (already validated), starting at a random point of the range so
    /// that workers sharing a range rarely collide.
    pub(crate) fn new(ids: GuestIds) -> Arc<Allocator> {
        Allocator::starting_at(ids, rand::random::<u32>() % ids.count.max(1))
    }

    fn starting_at(ids: GuestIds, next: u32) -> Arc<Allocator> {
        Arc::new(Allocator {
            ids,
            state: Mutex::new(State {
                next,
                held: HashSet::new(),
            }),
        })
    }

    /// The next free uid, held until the lease is dropped (after its container is removed).
    pub(crate) fn lease(self: &Arc<Self>) -> Result<Lease, SandboxError> {
        let mut s = self.state.lock_or_recover();
        for _ in 0..self.ids.count {
            let uid = self.ids.base + s.next;
            s.next = (s.next + 1) % self.ids.count;
            if s.held.insert(uid) {
                return Ok(Lease {
                    uid,
                    from: self.clone(),
                });
            }
        }
        Err(SandboxError::Unavailable {
            tier: Tier::Container,
            why: format!(
                "all {} container guest uids are in use (raise the range)",
                self.ids.count
            ),
        })
    }

    /// Uids held right now.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.state.lock().unwrap().held.len()
    }
}

/// One container's guest uid (and gid), returned to the range on drop.
#[derive(Debug)]
pub(crate) struct Lease {
    uid: u32,
    from: Arc<Allocator>,
}

impl Lease {
    /// The uid, also the gid.
    pub(crate) fn uid(&self) -> u32 {
        self.uid
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut s = self.from.state.lock_or_recover();
        s.held.remove(&self.uid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_are_distinct_skip_held_ids_and_come_back_on_drop() {
        let a = Allocator::starting_at(
            GuestIds {
                base: 100_000,
                count: 3,
            },
            2,
        );
        let x = a.lease().unwrap();
        let y = a.lease().unwrap();
        assert_eq!((x.uid(), y.uid()), (100_002, 100_000), "round the range");
        let z = a.lease().unwrap();
        assert_eq!(z.uid(), 100_001);
        assert!(matches!(a.lease(), Err(SandboxError::Unavailable { .. })));
        drop(y);
        assert_eq!(a.held(), 2);
        // The counter is at 100_002 (held): skipped, then 100_000 (free again).
        assert_eq!(a.lease().unwrap().uid(), 100_000);
        drop((x, z));
        assert_eq!(a.held(), 0);
    }

    #[test]
    fn ranges_are_validated() {
        assert!(GuestIds::default().validate().is_ok());
        let bad = |base, count| GuestIds { base, count }.validate().is_err();
        assert!(bad(4_000_000, 0));
        assert!(bad(65_534, 10), "nobody and host accounts");
        assert!(bad(u32::MAX - 10, 10), "-1 is no uid");
        assert!(!bad(65_536, 1));
    }
}
