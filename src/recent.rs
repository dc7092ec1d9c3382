//! A bounded window of recently seen keys: a set that forgets its oldest entry once it holds
//! `cap`. The registry keeps finished calls in one (as key digests) and the finality gate the
//! txs of final blocks (as tx hashes); both only need "was this seen lately", with memory that
//! does not grow with the worker's age.

use std::collections::{HashSet, VecDeque};
use std::hash::Hash;

/// The last `cap` distinct keys inserted, oldest forgotten first.
#[derive(Debug)]
pub struct Recent<K> {
    set: HashSet<K>,
    order: VecDeque<K>,
    cap: usize,
}

impl<K: Hash + Eq + Copy> Recent<K> {
    /// A window of `cap` keys (at least one).
    pub fn new(cap: usize) -> Recent<K> {
        Recent {
            set: HashSet::new(),
            order: VecDeque::new(),
            cap: cap.max(1),
        }
    }

    /// Remembers `key`, forgetting the oldest key if the window is full. A key already in the
    /// window keeps its place (a repeat sighting does not extend its stay).
    pub fn insert(&mut self, key: K) {
        if !self.set.insert(key) {
            return;
        }
        self.order.push_back(key);
        if self.order.len() > self.cap
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
    }

    /// True when `key` is in the window.
    pub fn contains(&self, key: &K) -> bool {
        self.set.contains(key)
    }

    /// Keys in the window.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when no key was inserted yet.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_the_oldest_first_and_ignores_repeats() {
        let mut r = Recent::new(2);
        assert!(r.is_empty());
        r.insert(1);
        r.insert(2);
        r.insert(1); // a repeat: 1 stays the oldest
        assert_eq!(r.len(), 2);
        r.insert(3);
        assert!(!r.contains(&1), "the oldest is forgotten");
        assert!(r.contains(&2) && r.contains(&3));
        assert_eq!(r.len(), 2);
        let mut one = Recent::new(0);
        one.insert(7);
        assert!(one.contains(&7), "a window holds at least one key");
    }
}
