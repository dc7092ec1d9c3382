//! The seeded generator: numbers, characters, strings, keys and JSON values (its operations and
//! tx bodies are in `ops.rs`).

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{RngExt, SeedableRng};
use serde_json::{Map, Value, json};

use super::{edge_keys, edge_numbers, edge_strings};

#[path = "ops.rs"]
mod ops;

/// The seeded source of random inputs.
pub(crate) struct Gen {
    rng: StdRng,
}

impl Gen {
    /// A generator for one named stream of `seed`; each test gets its own stream so adding inputs
    /// to one test does not change the inputs of the others.
    pub(crate) fn new(seed: u64, stream: &str) -> Gen {
        let tag = stream.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        Gen {
            rng: StdRng::seed_from_u64(seed ^ tag),
        }
    }

    /// 32 random bytes that form a valid secp256k1 key (retrying the ~2^-128 invalid cases).
    pub(crate) fn key_bytes(&mut self) -> [u8; 32] {
        loop {
            let k: [u8; 32] = self.rng.random();
            if ain_sre::ledger::crypto::PrivateKey::from_bytes(&k).is_ok() {
                return k;
            }
        }
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    /// A uniform index below `n`.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        self.rng.random_range(0..n)
    }

    /// A random finite number, JSON-typed as integer or float in the ways JSON text can hold it.
    pub(crate) fn number(&mut self) -> Value {
        match self.below(20) {
            0..=5 => edge_numbers().choose(&mut self.rng).cloned().unwrap(),
            6..=8 => json!(self.rng.random_range(-1000i64..=1000)),
            9 | 10 => json!(self.rng.random::<i64>() >> self.below(64)),
            11 => json!(self.rng.random::<u64>()),
            12 | 13 => loop {
                // Any bit pattern: covers subnormals and every exponent.
                let x = f64::from_bits(self.rng.random());
                if x.is_finite() {
                    break json!(x);
                }
            },
            14 | 15 => {
                // Decimal-looking values with many digits, at every magnitude around the
                // exponent-notation thresholds.
                let mantissa = self.rng.random_range(1i64..=999_999_999_999_999_999) as f64;
                let exp = self.rng.random_range(-40i32..=40);
                let x = mantissa * 10f64.powi(exp);
                json!(if self.chance(0.5) { -x } else { x })
            }
            16 => json!(self.rng.random_range(-1e6..1e6f64)),
            17 => {
                // Integer-valued floats, including beyond 2^53 and around 1e21.
                let x = (self.rng.random::<i64>() >> self.below(60)) as f64;
                json!(x * [1.0, 1e3, 1e6, 1e9][self.below(4)])
            }
            _ => json!(self.rng.random_range(0u64..10_000_000_000_000)),
        }
    }

    fn char_from(&mut self, class: usize) -> char {
        let r = |g: &mut Self, lo: u32, hi: u32| char::from_u32(g.rng.random_range(lo..=hi));
        let c = match class {
            0 => r(self, 0x20, 0x7e),
            1 => ['"', '\\', '\u{8}', '\u{c}', '\n', '\r', '\t', '/']
                .choose(&mut self.rng)
                .copied(),
            2 => {
                if self.chance(0.1) {
                    Some('\u{7f}')
                } else {
                    r(self, 0, 0x1f)
                }
            }
            3 => r(self, 0x80, 0x52f),
            4 => r(self, 0x4e00, 0x9fff),
            5 => r(self, 0x300, 0x36f),
            6 => {
                if self.chance(0.5) {
                    r(self, 0x1f300, 0x1faff)
                } else {
                    r(self, 0x10000, 0x10ffff)
                }
            }
            7 => r(self, 0xe000, 0xffff),
            8 => {
                if self.chance(0.5) {
                    r(self, 0x5d0, 0x5ea)
                } else {
                    r(self, 0x627, 0x64a)
                }
            }
            9 => [
                '\u{2028}', '\u{2029}', '\u{feff}', '\u{200b}', '\u{200d}', '\u{200f}', '\u{202e}',
            ]
            .choose(&mut self.rng)
            .copied(),
            10 => r(self, 0x800, 0xd7ff),
            _ => r(self, 0xac00, 0xd7a3),
        };
        c.unwrap_or('?')
    }

    fn random_char(&mut self) -> char {
        const WEIGHTS: [(usize, u32); 12] = [
            (0, 40),
            (1, 10),
            (2, 5),
            (3, 6),
            (4, 6),
            (5, 5),
            (6, 8),
            (7, 5),
            (8, 5),
            (9, 3),
            (10, 4),
            (11, 3),
        ];
        let total: u32 = WEIGHTS.iter().map(|w| w.1).sum();
        let mut pick = self.rng.random_range(0..total);
        for (class, w) in WEIGHTS {
            if pick < w {
                return self.char_from(class);
            }
            pick -= w;
        }
        unreachable!()
    }

    /// A random string: usually short, sometimes empty, occasionally a few thousand characters.
    pub(crate) fn string(&mut self) -> String {
        if self.chance(0.08) {
            return edge_strings().choose(&mut self.rng).cloned().unwrap();
        }
        let len = match self.below(40) {
            0 => 0,
            1 => self.rng.random_range(200..3000),
            _ => self.rng.random_range(1..24),
        };
        (0..len).map(|_| self.random_char()).collect()
    }

    fn key(&mut self) -> String {
        match self.below(10) {
            0..=2 => edge_keys().choose(&mut self.rng).cloned().unwrap(),
            3..=5 => {
                let len = self.rng.random_range(1..12);
                (0..len)
                    .map(|_| {
                        *b"abcdefghijklmnopqrstuvwxyz_0123456789"
                            .choose(&mut self.rng)
                            .unwrap() as char
                    })
                    .collect()
            }
            _ => {
                let len = self.rng.random_range(0..8);
                (0..len).map(|_| self.random_char()).collect()
            }
        }
    }

    /// A random JSON value nested at most `depth` more levels.
    pub(crate) fn value(&mut self, depth: u32) -> Value {
        let leaf = depth == 0 || self.chance(0.45);
        match (leaf, self.below(20)) {
            (_, 0) => Value::Null,
            (_, 1 | 2) => Value::Bool(self.chance(0.5)),
            (true, 3..=10) | (false, 3..=6) => self.number(),
            (true, _) | (false, 7..=10) => Value::String(self.string()),
            (false, 11) => {
                let n = self.below(5);
                Value::Array((0..n).map(|_| self.value(depth - 1)).collect())
            }
            (false, _) => self.object(depth),
        }
    }

    fn object(&mut self, depth: u32) -> Value {
        let mut m = Map::new();
        let n = if self.chance(0.03) {
            0
        } else {
            self.rng.random_range(1..6)
        };
        for _ in 0..n {
            let k = self.key();
            let v = self.value(depth - 1);
            m.insert(k, v);
        }
        if self.chance(0.2) {
            // Same prefix, then a U+E000..U+FFFF char vs an astral one: code-point order puts
            // the astral key last, UTF-16 order puts it first.
            let prefix: String = (0..self.below(3)).map(|_| self.random_char()).collect();
            let bmp = self.char_from(7);
            let astral = self.char_from(6);
            m.insert(format!("{prefix}{bmp}"), self.value(0));
            m.insert(format!("{prefix}{astral}"), self.value(0));
        }
        Value::Object(m)
    }
}
