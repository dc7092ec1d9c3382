//! ECIES on secp256k1, byte-compatible with ain-util's `encryptWithPublicKey` /
//! `decryptWithPrivateKey` (which use `eccrypto` 1.1.6; on Node without its native module, as in
//! ain-util's installs, its `browser.js` code path).
//!
//! Encrypting `m` to public key `P`: a fresh ephemeral key `e` (public `E`, 65-byte uncompressed),
//! `Px` = the x coordinate of `e·P` **without leading zero bytes** (eccrypto takes
//! `BN.toArray()`, which drops them: one secret in 256 hashes 31 bytes), `h = SHA-512(Px)`,
//! `c = AES-256-CBC(key h[..32], random iv, PKCS#7)`, `mac = HMAC-SHA256(h[32..], iv ‖ E ‖ c)`.
//! The value ain-util returns, and that is stored, is `{iv, ephemPublicKey, ciphertext, mac}` in
//! hex.

use aes::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use hmac::Mac;
use secp256k1::{PublicKey, SecretKey};
use serde::{Deserialize, Serialize};
use sha2::Digest;

/// A ciphertext as ain-util's `encryptWithPublicKey` returns it (all hex, no `0x`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Encrypted {
    /// 16-byte AES-CBC IV.
    pub iv: String,
    /// The ephemeral public key, 65 bytes uncompressed (33 compressed also accepted).
    pub ephem_public_key: String,
    /// AES-256-CBC ciphertext.
    pub ciphertext: String,
    /// HMAC-SHA256 over iv ‖ ephemPublicKey ‖ ciphertext.
    pub mac: String,
}

/// Why a ciphertext could not be opened (never says anything about the plaintext).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EciesError {
    /// A field is not hex or has the wrong length.
    #[error("malformed ciphertext: {0}")]
    Malformed(&'static str),
    /// The MAC does not match: another key, or a tampered ciphertext.
    #[error("the ciphertext is not for this key (MAC mismatch)")]
    BadMac,
}

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// `SHA-512(Px)` with eccrypto's leading-zero stripping.
fn keys(point: &PublicKey, scalar: &SecretKey) -> [u8; 64] {
    let xy = secp256k1::ecdh::shared_secret_point(point, scalar);
    let x = &xy[..32];
    let first = x.iter().position(|b| *b != 0).unwrap_or(31);
    sha2::Sha512::digest(&x[first..]).into()
}

fn mac(key: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    let mut m = <HmacSha256 as KeyInit>::new_from_slice(key).expect("any key length");
    for p in parts {
        m.update(p);
    }
    m
}

/// Encrypts `msg` to `to` with a fresh ephemeral key and IV.
pub fn encrypt(to: &PublicKey, msg: &[u8]) -> Encrypted {
    let ephem = loop {
        if let Ok(k) = SecretKey::from_secret_bytes(rand::random::<[u8; 32]>()) {
            break k;
        }
    };
    encrypt_with(to, msg, &ephem, rand::random())
}

/// [`encrypt`] with a given ephemeral key and IV (deterministic, for tests).
pub fn encrypt_with(to: &PublicKey, msg: &[u8], ephem: &SecretKey, iv: [u8; 16]) -> Encrypted {
    let h = keys(to, ephem);
    let cipher = aes::Aes256::new_from_slice(&h[..32]).expect("32-byte key");
    // PKCS#7: always 1..=16 bytes of padding.
    let pad = 16 - msg.len() % 16;
    let mut data = msg.to_vec();
    data.extend(std::iter::repeat_n(pad as u8, pad));
    let mut prev = iv;
    for chunk in data.chunks_mut(16) {
        for (b, p) in chunk.iter_mut().zip(prev) {
            *b ^= p;
        }
        let block: &mut [u8; 16] = chunk.try_into().expect("16 bytes");
        cipher.encrypt_block(block.into());
        prev = *block;
    }
    let e = PublicKey::from_secret_key(ephem).serialize_uncompressed();
    let tag = mac(&h[32..], &[&iv, &e, &data]).finalize().into_bytes();
    Encrypted {
        iv: hex::encode(iv),
        ephem_public_key: hex::encode(e),
        ciphertext: hex::encode(&data),
        mac: hex::encode(tag),
    }
}

/// Decrypts what [`encrypt`] or ain-util's `encryptWithPublicKey` wrote for `key`.
pub fn decrypt(key: &SecretKey, enc: &Encrypted) -> Result<Vec<u8>, EciesError> {
    let unhex = |s: &str, what| hex::decode(s).map_err(|_| EciesError::Malformed(what));
    let iv: [u8; 16] = unhex(&enc.iv, "iv")?
        .try_into()
        .map_err(|_| EciesError::Malformed("iv length"))?;
    let e = unhex(&enc.ephem_public_key, "ephemPublicKey")?;
    let point = PublicKey::from_slice(&e).map_err(|_| EciesError::Malformed("ephemPublicKey"))?;
    let mut data = unhex(&enc.ciphertext, "ciphertext")?;
    let tag = unhex(&enc.mac, "mac")?;
    if data.is_empty() || data.len() % 16 != 0 {
        return Err(EciesError::Malformed("ciphertext length"));
    }
    let h = keys(&point, key);
    mac(&h[32..], &[&iv, &e, &data])
        .verify_slice(&tag)
        .map_err(|_| EciesError::BadMac)?;
    let cipher = aes::Aes256::new_from_slice(&h[..32]).expect("32-byte key");
    let mut prev = iv;
    for chunk in data.chunks_mut(16) {
        let block: &mut [u8; 16] = chunk.try_into().expect("16 bytes");
        let this = *block;
        cipher.decrypt_block(block.into());
        for (b, p) in block.iter_mut().zip(prev) {
            *b ^= p;
        }
        prev = this;
    }
    let pad = *data.last().expect("non-empty") as usize;
    if !(1..=16).contains(&pad) || !data[data.len() - pad..].iter().all(|b| *b as usize == pad) {
        return Err(EciesError::Malformed("padding"));
    }
    data.truncate(data.len() - pad);
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> SecretKey {
        SecretKey::from_secret_bytes([b; 32]).unwrap()
    }

    #[test]
    fn round_trips_every_length_and_refuses_other_keys_and_tampering() {
        let k = key(7);
        let p = PublicKey::from_secret_key(&k);
        for len in [0, 1, 15, 16, 17, 100] {
            let msg = vec![b'a'; len];
            let enc = encrypt(&p, &msg);
            assert_eq!(enc.ciphertext.len(), 2 * 16 * (len / 16 + 1));
            assert_eq!(decrypt(&k, &enc).unwrap(), msg);
            assert_eq!(decrypt(&key(8), &enc), Err(EciesError::BadMac));
            let mut t = enc.clone();
            t.ciphertext.replace_range(
                0..2,
                if &t.ciphertext[..2] == "00" {
                    "01"
                } else {
                    "00"
                },
            );
            assert_eq!(decrypt(&k, &t), Err(EciesError::BadMac));
        }
    }

    #[test]
    fn deterministic_with_a_given_ephemeral_key_and_iv() {
        let p = PublicKey::from_secret_key(&key(7));
        let a = encrypt_with(&p, b"x", &key(9), [1; 16]);
        let b = encrypt_with(&p, b"x", &key(9), [1; 16]);
        assert_eq!(a, b);
        assert_eq!(a.ephem_public_key.len(), 130);
        assert_eq!(a.mac.len(), 64);
        let v = serde_json::to_value(&a).unwrap();
        assert!(v.get("ephemPublicKey").is_some(), "{v}");
    }
}
