//! Ethereum V3 keystores, as ain-util's `privateToV3Keystore` / `v3KeystoreToPrivate` write and read them.
//!
//! The key is encrypted with AES-128-CTR under the first half of a scrypt or PBKDF2-HMAC-SHA256
//! derived key; the MAC is `keccak256(dk[16..32] ‖ ciphertext)`. Every field is lowercase hex, because
//! ain-util lowercases the whole JSON text before parsing it. KDF parameters read from a file are
//! bounded so a hostile keystore cannot make the worker allocate gigabytes or spin for hours.
//!
//! Write scrypt keystores for JavaScript users: ain-util 1.3.0 cannot open PBKDF2 keystores at all
//! (its `pbkdf2` import is not callable, so both directions throw; `tests/ain_util_compat.rs`
//! records this). PBKDF2 is supported here for keystores made by other Ethereum tools.

use aes::cipher::{KeyIvInit, StreamCipher};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{Address, PrivateKey, keccak256};

/// Errors reading or writing a keystore. None of them carries key material or the password.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    /// The text is not a V3 keystore.
    #[error("not a V3 keystore: {0}")]
    Format(String),
    /// The KDF or cipher is not one ain-util supports.
    #[error("unsupported keystore {0}")]
    Unsupported(String),
    /// KDF parameters beyond the bounds this reader accepts.
    #[error("keystore KDF parameters out of bounds: {0}")]
    Bounds(String),
    /// MAC mismatch: almost always a wrong password.
    #[error("keystore MAC mismatch: wrong password or corrupted file")]
    WrongPassword,
    /// The decrypted bytes are not a valid secp256k1 key.
    #[error("keystore holds an invalid private key")]
    InvalidKey,
}

/// Key-derivation choice for a new keystore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kdf {
    /// scrypt with `n = 2^log_n`, `r`, `p` (ain-util default: 2^18, 8, 1).
    Scrypt {
        /// log2 of the CPU/memory cost.
        log_n: u8,
        /// Block size.
        r: u32,
        /// Parallelism.
        p: u32,
    },
    /// PBKDF2-HMAC-SHA256 with `c` rounds. Not readable by ain-util 1.3.0 (see the module docs).
    Pbkdf2 {
        /// Iteration count.
        c: u32,
    },
}

impl Kdf {
    /// ain-util's default: scrypt n=262144, r=8, p=1 (≈256 MiB, ≈1 s).
    pub const STANDARD: Kdf = Kdf::Scrypt {
        log_n: 18,
        r: 8,
        p: 1,
    };
    /// A fast profile for tests and throwaway dev keys: scrypt n=4096, r=8, p=1.
    pub const LIGHT: Kdf = Kdf::Scrypt {
        log_n: 12,
        r: 8,
        p: 1,
    };
}

/// The on-disk JSON document.
#[derive(Debug, Serialize, Deserialize)]
pub struct V3Keystore {
    /// Always 3.
    pub version: u32,
    /// A random UUID v4.
    pub id: String,
    /// Lowercase address without `0x` (optional when reading, as in the Web3 spec vectors).
    #[serde(default)]
    pub address: String,
    /// The encrypted key and how to decrypt it.
    pub crypto: CryptoSection,
}

/// The `crypto` member of a keystore.
#[derive(Debug, Serialize, Deserialize)]
pub struct CryptoSection {
    /// Encrypted key, hex.
    pub ciphertext: String,
    /// Cipher parameters.
    pub cipherparams: CipherParams,
    /// Always `aes-128-ctr`.
    pub cipher: String,
    /// `scrypt` or `pbkdf2`.
    pub kdf: String,
    /// KDF parameters (shape depends on `kdf`).
    pub kdfparams: KdfParams,
    /// `keccak256(dk[16..32] ‖ ciphertext)`, hex.
    pub mac: String,
}

/// `cipherparams`.
#[derive(Debug, Serialize, Deserialize)]
pub struct CipherParams {
    /// 16-byte IV, hex.
    pub iv: String,
}

/// `kdfparams` for either KDF; fields of the other KDF are absent.
#[derive(Debug, Serialize, Deserialize)]
pub struct KdfParams {
    /// Derived key length (32).
    pub dklen: u32,
    /// Salt, hex.
    pub salt: String,
    /// scrypt cost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<u64>,
    /// scrypt block size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r: Option<u32>,
    /// scrypt parallelism.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p: Option<u32>,
    /// PBKDF2 rounds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub c: Option<u32>,
    /// PBKDF2 PRF (`hmac-sha256`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prf: Option<String>,
}

/// Largest scrypt memory (128·n·r·p bytes) a keystore may demand: 1 GiB.
const MAX_SCRYPT_BYTES: u128 = 1 << 30;
/// Largest PBKDF2 round count accepted: 10 million (≈ 10 s).
const MAX_PBKDF2_ROUNDS: u32 = 10_000_000;

/// Encrypts `key` under `password` into a keystore that ain-util and ain-js can open.
pub fn encrypt(key: &PrivateKey, password: &str, kdf: Kdf) -> V3Keystore {
    let salt: [u8; 32] = rand::random();
    let iv: [u8; 16] = rand::random();
    let params = match kdf {
        Kdf::Scrypt { log_n, r, p } => KdfParams {
            dklen: 32,
            salt: hex::encode(salt),
            n: Some(1u64 << log_n),
            r: Some(r),
            p: Some(p),
            c: None,
            prf: None,
        },
        Kdf::Pbkdf2 { c } => KdfParams {
            dklen: 32,
            salt: hex::encode(salt),
            n: None,
            r: None,
            p: None,
            c: Some(c),
            prf: Some("hmac-sha256".into()),
        },
    };
    let dk = derive(kdf, password, &salt).expect("parameters chosen by the caller are valid");
    let mut ciphertext = key.secret_bytes().to_vec();
    ctr::Ctr128BE::<aes::Aes128>::new_from_slices(&dk[..16], &iv)
        .expect("16-byte key and iv")
        .apply_keystream(&mut ciphertext);
    let mac = mac_of(&dk, &ciphertext);
    let mut uuid: [u8; 16] = rand::random();
    uuid[6] = (uuid[6] & 0x0f) | 0x40;
    uuid[8] = (uuid[8] & 0x3f) | 0x80;
    let u = hex::encode(uuid);
    V3Keystore {
        version: 3,
        id: format!(
            "{}-{}-{}-{}-{}",
            &u[..8],
            &u[8..12],
            &u[12..16],
            &u[16..20],
            &u[20..]
        ),
        address: hex::encode(key.address().0),
        crypto: CryptoSection {
            ciphertext: hex::encode(&ciphertext),
            cipherparams: CipherParams {
                iv: hex::encode(iv),
            },
            cipher: "aes-128-ctr".into(),
            kdf: match kdf {
                Kdf::Scrypt { .. } => "scrypt".into(),
                Kdf::Pbkdf2 { .. } => "pbkdf2".into(),
            },
            kdfparams: params,
            mac,
        },
    }
}

/// Decrypts a keystore document (JSON text) with `password`.
pub fn decrypt(json_text: &str, password: &str) -> Result<PrivateKey, KeystoreError> {
    // ain-util lowercases the whole text before parsing; do the same so its files and ours agree.
    let ks: V3Keystore = serde_json::from_str(&json_text.to_lowercase())
        .map_err(|e| KeystoreError::Format(e.to_string()))?;
    if ks.version != 3 {
        return Err(KeystoreError::Format(format!("version {}", ks.version)));
    }
    if ks.crypto.cipher != "aes-128-ctr" {
        return Err(KeystoreError::Unsupported(format!(
            "cipher {}",
            ks.crypto.cipher
        )));
    }
    let kp = &ks.crypto.kdfparams;
    if kp.dklen != 32 {
        return Err(KeystoreError::Unsupported(format!("dklen {}", kp.dklen)));
    }
    let kdf = match ks.crypto.kdf.as_str() {
        "scrypt" => {
            let (n, r, p) = match (kp.n, kp.r, kp.p) {
                (Some(n), Some(r), Some(p)) => (n, r, p),
                _ => return Err(KeystoreError::Format("scrypt needs n, r and p".into())),
            };
            if !n.is_power_of_two() || n < 2 {
                return Err(KeystoreError::Bounds(format!(
                    "scrypt n={n} is not a power of two"
                )));
            }
            let mem = 128u128 * n as u128 * r as u128 * p.max(1) as u128;
            if mem > MAX_SCRYPT_BYTES || p == 0 || r == 0 {
                return Err(KeystoreError::Bounds(format!("scrypt n={n} r={r} p={p}")));
            }
            Kdf::Scrypt {
                log_n: n.trailing_zeros() as u8,
                r,
                p,
            }
        }
        "pbkdf2" => {
            if kp.prf.as_deref() != Some("hmac-sha256") {
                return Err(KeystoreError::Unsupported(format!(
                    "pbkdf2 prf {:?}",
                    kp.prf
                )));
            }
            let c =
                kp.c.ok_or_else(|| KeystoreError::Format("pbkdf2 needs c".into()))?;
            if c == 0 || c > MAX_PBKDF2_ROUNDS {
                return Err(KeystoreError::Bounds(format!("pbkdf2 c={c}")));
            }
            Kdf::Pbkdf2 { c }
        }
        other => return Err(KeystoreError::Unsupported(format!("kdf {other}"))),
    };
    let salt = hex::decode(&kp.salt).map_err(|e| KeystoreError::Format(format!("salt: {e}")))?;
    let iv = hex::decode(&ks.crypto.cipherparams.iv)
        .map_err(|e| KeystoreError::Format(format!("iv: {e}")))?;
    if iv.len() != 16 {
        return Err(KeystoreError::Format(format!(
            "iv has {} bytes, expected 16",
            iv.len()
        )));
    }
    let ciphertext = hex::decode(&ks.crypto.ciphertext)
        .map_err(|e| KeystoreError::Format(format!("ciphertext: {e}")))?;
    if ciphertext.len() != 32 {
        return Err(KeystoreError::Format(format!(
            "ciphertext has {} bytes, expected 32",
            ciphertext.len()
        )));
    }
    let dk = derive(kdf, password, &salt)?;
    if mac_of(&dk, &ciphertext) != ks.crypto.mac {
        return Err(KeystoreError::WrongPassword);
    }
    let mut plain = Zeroizing::new([0u8; 32]);
    plain.copy_from_slice(&ciphertext);
    ctr::Ctr128BE::<aes::Aes128>::new_from_slices(&dk[..16], &iv)
        .expect("16-byte key and iv")
        .apply_keystream(plain.as_mut_slice());
    let key = PrivateKey::from_bytes(&plain).map_err(|_| KeystoreError::InvalidKey)?;
    if !ks.address.is_empty()
        && ks
            .address
            .trim_start_matches("0x")
            .parse::<AddressHex>()
            .is_ok_and(|a| a.0 != key.address())
    {
        return Err(KeystoreError::Format(
            "address does not match the decrypted key".into(),
        ));
    }
    Ok(key)
}

/// Lowercase 40-hex-digit address as stored in the `address` field.
struct AddressHex(Address);

impl std::str::FromStr for AddressHex {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        format!("0x{s}")
            .parse::<Address>()
            .map(AddressHex)
            .map_err(|_| ())
    }
}

fn derive(kdf: Kdf, password: &str, salt: &[u8]) -> Result<Zeroizing<[u8; 32]>, KeystoreError> {
    let mut dk = Zeroizing::new([0u8; 32]);
    match kdf {
        Kdf::Scrypt { log_n, r, p } => {
            let params = scrypt::Params::new(log_n, r, p)
                .map_err(|_| KeystoreError::Bounds(format!("scrypt log_n={log_n} r={r} p={p}")))?;
            scrypt::scrypt(password.as_bytes(), salt, &params, dk.as_mut_slice())
                .map_err(|_| KeystoreError::Bounds("scrypt output length".into()))?;
        }
        Kdf::Pbkdf2 { c } => {
            pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), salt, c, dk.as_mut_slice());
        }
    }
    Ok(dk)
}

fn mac_of(dk: &[u8; 32], ciphertext: &[u8]) -> String {
    let mut buf = Vec::with_capacity(16 + ciphertext.len());
    buf.extend_from_slice(&dk[16..]);
    buf.extend_from_slice(ciphertext);
    hex::encode(keccak256(&buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_scrypt_and_pbkdf2() {
        let key = PrivateKey::generate();
        for kdf in [Kdf::LIGHT, Kdf::Pbkdf2 { c: 1024 }] {
            let ks = encrypt(&key, "pw ü", kdf);
            let text = serde_json::to_string(&ks).unwrap();
            let back = decrypt(&text, "pw ü").unwrap();
            assert_eq!(back.address(), key.address());
            assert!(matches!(
                decrypt(&text, "wrong"),
                Err(KeystoreError::WrongPassword)
            ));
        }
    }

    /// The scrypt test vector of the Web3 Secret Storage definition (password "testpassword").
    #[test]
    fn web3_spec_scrypt_vector() {
        let text = r#"{"crypto":{"cipher":"aes-128-ctr","cipherparams":{"iv":"83dbcc02d8ccb40e466191a123791e0e"},"ciphertext":"d172bf743a674da9cdad04534d56926ef8358534d458fffccd4e6ad2fbde479c","kdf":"scrypt","kdfparams":{"dklen":32,"n":262144,"p":8,"r":1,"salt":"ab0c7876052600dd703518d6fc3fe8984592145b591fc8fb5c6d43190334ba19"},"mac":"2103ac29920d71da29f15d75b4a16dbe95cfd7ff8faea1056c33131d846e3097"},"id":"3198bc9c-6672-5ab3-d995-4942343ae5b6","version":3}"#;
        let key = decrypt(text, "testpassword").unwrap();
        assert_eq!(
            hex::encode(*key.secret_bytes()),
            "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d"
        );
    }

    #[test]
    fn hostile_parameters_are_bounded() {
        let key = PrivateKey::generate();
        let mut ks = encrypt(&key, "p", Kdf::LIGHT);
        ks.crypto.kdfparams.n = Some(1 << 30);
        let text = serde_json::to_string(&ks).unwrap();
        assert!(matches!(decrypt(&text, "p"), Err(KeystoreError::Bounds(_))));
        assert!(matches!(decrypt("{}", "p"), Err(KeystoreError::Format(_))));
    }
}
