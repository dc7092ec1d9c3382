//! Content-addressed blobs: large inputs and outputs travel off chain, their SHA-256 and size on
//! chain (issue 20).
//!
//! The protocol is plain HTTP, so any object store that serves bytes fits a request's `url`:
//!
//! - `GET /blobs/<sha256>` (and `HEAD`): the bytes, `Content-Length` set; 404 when absent.
//! - `PUT /blobs/<sha256>`: the bytes, with two headers:
//!   - `x-ain-blob-size: <bytes>`
//!   - `x-ain-blob-signature: 0x…`: ain-util's `ecSignMessage` (any chain id; ain-js:
//!     `ain.wallet.sign(message)`) of [`upload_message`], `ain-sre-blob:<sha256>:<size>`.
//!
//!   The server recovers the signer from the signature, charges the blob to that key's quota,
//!   checks the total quota, then streams the body to a temporary file hashing it as it goes; a
//!   body longer than the declared size is cut off at once, and a hash or size mismatch is
//!   refused (422) without storing anything. `201` when stored, `200` when it was already there
//!   (idempotent; the body is not read). A signature only authorises storing those exact bytes,
//!   so a replayed one re-stores the same blob and charges the same key.
//!
//! [`store`] keeps the blobs on disk; [`server`] serves them; [`fetch`] is the worker's side of
//! a request's `input_ref` (address rules, streaming verification, size caps); [`client`] is
//! `call`'s side (upload, download and verify); [`worker`] is what the scheduler does around a
//! call (fetch the input, store a large output).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ledger::crypto::{Address, PrivateKey, Signature, hash_message};

pub mod client;
pub mod fetch;
pub mod server;
pub mod settings;
pub mod store;
pub mod worker;

#[cfg(test)]
mod tests;

/// The header carrying the declared size of an upload.
pub const SIZE_HEADER: &str = "x-ain-blob-size";
/// The header carrying the uploader's signature.
pub const SIGNATURE_HEADER: &str = "x-ain-blob-signature";

/// A SHA-256 digest, written as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256Hex(pub [u8; 32]);

impl Sha256Hex {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Sha256Hex {
        use sha2::Digest;
        Sha256Hex(sha2::Sha256::digest(bytes).into())
    }
}

impl fmt::Display for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a string is not a SHA-256 in hex.
#[derive(Debug, thiserror::Error)]
#[error("not a SHA-256 in hex (64 hex digits): {0:?}")]
pub struct BadDigest(pub String);

impl FromStr for Sha256Hex {
    type Err = BadDigest;
    fn from_str(s: &str) -> Result<Sha256Hex, BadDigest> {
        let body = s.strip_prefix("0x").unwrap_or(s);
        let mut out = [0u8; 32];
        if body.len() != 64 || hex::decode_to_slice(body, &mut out).is_err() {
            return Err(BadDigest(s.chars().take(80).collect()));
        }
        Ok(Sha256Hex(out))
    }
}

impl Serialize for Sha256Hex {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Sha256Hex {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Sha256Hex, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A reference to a blob, as requests (`input_ref`) and responses (`output_ref`) carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobRef {
    /// SHA-256 of the bytes.
    pub sha256: Sha256Hex,
    /// Length of the bytes.
    pub size: u64,
    /// Where to fetch them; any HTTP(S) URL (the hash makes the source irrelevant to trust).
    /// Absent in a request: the worker's configured default blob store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The text an uploader signs: `ain-sre-blob:<sha256>:<size>`.
pub fn upload_message(sha: &Sha256Hex, size: u64) -> String {
    format!("ain-sre-blob:{sha}:{size}")
}

/// Signs an upload of `size` bytes hashing to `sha` (ain-util `ecSignMessage`, chain id 0; the
/// store accepts any chain id the signature's `v` encodes).
pub fn sign_upload(key: &PrivateKey, sha: &Sha256Hex, size: u64) -> Signature {
    // Chain id 0 is always valid for v; the only error sign_hash has is a bad chain id.
    key.sign_message(&upload_message(sha, size), 0)
        .expect("chain id 0 is always valid")
}

/// Why an upload's signature was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No signature header.
    #[error(
        "unsigned upload: a PUT needs the header {SIGNATURE_HEADER} (an AIN key's signature of `ain-sre-blob:<sha256>:<size>`)"
    )]
    Missing,
    /// The signature does not parse or recover.
    #[error("bad upload signature: {0}")]
    Bad(String),
    /// The signature covers another message.
    #[error("the upload signature does not cover `{0}`")]
    WrongMessage(String),
}

/// Checks an upload's signature and returns its signer.
pub fn verify_upload(signature: &str, sha: &Sha256Hex, size: u64) -> Result<Address, AuthError> {
    let sig = Signature::parse(signature.trim()).map_err(|e| AuthError::Bad(e.to_string()))?;
    let message = upload_message(sha, size);
    if sig.hash != hash_message(&message) {
        return Err(AuthError::WrongMessage(message));
    }
    // Any chain id, as `v` encodes it (27/28: chain id 0; 35 + 2·id + recid otherwise): ain-js's
    // `wallet.sign` signs with its own chain id. The message names the blob, so a signature made
    // for another chain only stores the same bytes again.
    let chain_id = if sig.v >= 35 {
        u64::from(sig.v - 35) / 2
    } else {
        0
    };
    sig.recover(chain_id)
        .map_err(|e| AuthError::Bad(e.to_string()))
}
