//! The poison-tolerant lock (the same trait as `ain_ledger::sync`, which this crate does not depend on).
//!
//! A [`Mutex`] is poisoned when a thread panics while holding it, and every later `lock()` then
//! fails. ain-sre's locks guard maps, queues and counters that each critical section leaves
//! usable even when it stops half-way (a panic is a bug being reported, not a reason to stop
//! every other call or request), so they are taken with [`LockExt::lock_or_recover`]: the data
//! as it is, poisoned or not.

use std::sync::{Mutex, MutexGuard};

/// [`Mutex::lock`] that recovers a poisoned lock instead of failing.
pub trait LockExt<T: ?Sized> {
    /// Locks, taking the data as the panicking holder left it if the lock is poisoned.
    fn lock_or_recover(&self) -> MutexGuard<'_, T>;
}

impl<T: ?Sized> LockExt<T> for Mutex<T> {
    fn lock_or_recover(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_lock_still_gives_its_data() {
        let m = std::sync::Arc::new(Mutex::new(vec![1]));
        let m2 = m.clone();
        let _ = std::thread::spawn(move || {
            let mut v = m2.lock().unwrap();
            v.push(2);
            panic!("poison it");
        })
        .join();
        assert!(m.lock().is_err(), "the lock is poisoned");
        assert_eq!(*m.lock_or_recover(), [1, 2]);
    }
}
