//! The poison-tolerant lock, written once for the AIN crates and the worker (`sre-sandbox` has the
//! same trait: it does not depend on this crate, so that the jail links no crypto or HTTP client).
//!
//! A [`Mutex`] is poisoned when a thread panics while holding it, and every later `lock()` then
//! fails. ain-sre's locks guard maps, queues and counters that each critical section leaves
//! usable even when it stops half-way (a panic is a bug being reported, not a reason to stop
//! every other call or request), so they are taken with [`LockExt::lock_or_recover`]: the data
//! as it is, poisoned or not.

use std::sync::{Condvar, Mutex, MutexGuard};

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

/// [`Condvar::wait`] that recovers a poisoned lock instead of failing, for the same reason.
pub trait CondvarExt {
    /// Waits on `guard`'s lock, taking the data as it is if the lock was poisoned meanwhile.
    fn wait_or_recover<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T>;
}

impl CondvarExt for Condvar {
    fn wait_or_recover<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.wait(guard).unwrap_or_else(|p| p.into_inner())
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

    #[test]
    fn a_wait_on_a_poisoned_lock_still_gives_its_data() {
        let pair = std::sync::Arc::new((Mutex::new(false), Condvar::new()));
        // Locked before the thread starts: the thread can only take the lock once the wait below
        // has released it, so the wait is woken on a lock the thread poisons.
        let mut ready = pair.0.lock_or_recover();
        let p2 = pair.clone();
        let t = std::thread::spawn(move || {
            let mut ready = p2.0.lock().unwrap();
            *ready = true;
            p2.1.notify_all();
            panic!("poison it");
        });
        while !*ready {
            ready = pair.1.wait_or_recover(ready);
        }
        drop(ready);
        let _ = t.join();
        assert!(pair.0.lock().is_err(), "the lock is poisoned");
    }
}
