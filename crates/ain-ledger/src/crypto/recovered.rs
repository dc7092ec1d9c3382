//! A memo of recovered signers, so a signature this process has already recovered (or made) is
//! not recovered again.
//!
//! A worker meets every request tx twice (in its trigger event, then in the block its follower
//! verifies) and every response tx it signs once more (in the block): three recoveries a call,
//! two of them repeats. Public-key recovery is the most expensive step of a check (~36 µs in
//! `bench ledger`), and a profile of `bench e2e` showed it at a fifth of the worker's CPU.
//!
//! The key is a Keccak-256 digest of everything recovery reads (signed hash, `r`, `s`, `v`, chain
//! id), so a hit returns exactly what recovery would, unless Keccak-256 has a collision, which the
//! tx hashes themselves already rule out: the memo changes no answer, only how fast it comes. Two
//! generations of at most [`GENERATION`] entries each bound its memory (~0.5 MB full).

use crate::sync::LockExt;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use sha3::{Digest, Keccak256};

use super::{Address, Signature};

/// Entries per generation. A tx is met again within a few blocks of its first sighting, i.e. a
/// few thousand txs later at most at the rates the worker is built for.
pub(super) const GENERATION: usize = 2048;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Key([u8; 32]);

impl Key {
    fn of(sig: &Signature, chain_id: u64) -> Key {
        let mut h = Keccak256::new();
        h.update(sig.hash.0);
        h.update(sig.r);
        h.update(sig.s);
        h.update([sig.v]);
        h.update(chain_id.to_be_bytes());
        Key(h.finalize().into())
    }
}

/// Two generations: lookups read both; when the current one is full it becomes the previous one
/// and the old previous one is dropped.
#[derive(Default)]
pub(super) struct Memo {
    current: HashMap<Key, Address>,
    previous: HashMap<Key, Address>,
}

impl Memo {
    fn get(&self, key: &Key) -> Option<Address> {
        self.current
            .get(key)
            .or_else(|| self.previous.get(key))
            .copied()
    }

    fn insert(&mut self, key: Key, address: Address) {
        if self.current.len() >= GENERATION {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(key, address);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }
}

fn memo() -> std::sync::MutexGuard<'static, Memo> {
    static MEMO: OnceLock<Mutex<Memo>> = OnceLock::new();
    MEMO.get_or_init(Mutex::default).lock_or_recover()
}

/// The signer already recovered from `sig` on `chain_id`, if the memo holds it.
pub(super) fn lookup(sig: &Signature, chain_id: u64) -> Option<Address> {
    memo().get(&Key::of(sig, chain_id))
}

/// Remembers that `sig` on `chain_id` recovers to `address`. Only recovery itself and signing
/// (whose signature recovers to the signing key's address by construction) call this.
pub(super) fn remember(sig: &Signature, chain_id: u64, address: Address) {
    memo().insert(Key::of(sig, chain_id), address);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{Hash, PrivateKey};

    #[test]
    fn generations_bound_the_memo() {
        let mut m = Memo::default();
        let key = PrivateKey::generate();
        let sig = key.sign_hash(&Hash([7; 32]), 0).unwrap();
        let k = |i: usize| Key(crate::crypto::keccak256(&i.to_be_bytes()));
        m.insert(Key::of(&sig, 0), key.address());
        for i in 0..GENERATION - 1 {
            m.insert(k(i), key.address());
        }
        // Full: the next insert starts a new generation; the oldest entry is still found.
        m.insert(k(GENERATION), key.address());
        assert_eq!(m.get(&Key::of(&sig, 0)), Some(key.address()));
        for i in GENERATION + 1..2 * GENERATION {
            m.insert(k(i), key.address());
        }
        // Two generations later the first entry is gone; the memo never holds more than two.
        m.insert(k(3 * GENERATION), key.address());
        assert_eq!(m.get(&Key::of(&sig, 0)), None);
        assert!(m.len() <= 2 * GENERATION);
    }

    #[test]
    fn the_key_is_every_input_of_recovery() {
        let key = PrivateKey::generate();
        let sig = key.sign_hash(&Hash([9; 32]), 0).unwrap();
        let mut m = Memo::default();
        m.insert(Key::of(&sig, 0), key.address());
        assert_eq!(m.get(&Key::of(&sig, 0)), Some(key.address()));
        assert_eq!(m.get(&Key::of(&sig, 1)), None, "chain id");
        let mut other = sig;
        other.hash.0[0] ^= 1;
        assert_eq!(m.get(&Key::of(&other, 0)), None, "hash");
        let mut other = sig;
        other.s[31] ^= 1;
        assert_eq!(m.get(&Key::of(&other, 0)), None, "s");
        let mut other = sig;
        other.r[0] ^= 1;
        assert_eq!(m.get(&Key::of(&other, 0)), None, "r");
        let mut other = sig;
        other.v ^= 1;
        assert_eq!(m.get(&Key::of(&other, 0)), None, "v");
    }
}
