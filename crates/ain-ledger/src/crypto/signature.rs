//! An AIN signature (`0x ‖ hash ‖ r ‖ s ‖ v`): parsed, its signer recovered (through the
//! [`super::recovered`] cache), a transaction's checked as `ecVerifySig` checks it, and the `v`
//! base of a chain id.

use std::fmt;

use secp256k1::Message;
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use serde_json::Value;

use super::recovered;
use super::{Address, CryptoError, Hash, hash_transaction};

/// An AIN signature: the signed hash followed by the recoverable ECDSA signature.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature {
    /// The hash that was signed (the node reads the tx hash from here).
    pub hash: Hash,
    /// ECDSA r.
    pub r: [u8; 32],
    /// ECDSA s (low form when produced by this crate).
    pub s: [u8; 32],
    /// Recovery byte, chain-id encoded.
    pub v: u8,
}

/// Half the secp256k1 group order: the largest `s` libsecp256k1's verify accepts.
const HALF_ORDER: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
];

impl Signature {
    /// Parses the `0x`-prefixed 97-byte signature string.
    pub fn parse(s: &str) -> Result<Signature, CryptoError> {
        let body = s.strip_prefix("0x").unwrap_or(s);
        let bytes = hex::decode(body).map_err(|e| CryptoError::Hex {
            what: "signature",
            why: e.to_string(),
        })?;
        if bytes.len() != 97 {
            return Err(CryptoError::SignatureLength(bytes.len()));
        }
        let mut sig = Signature {
            hash: Hash::default(),
            r: [0; 32],
            s: [0; 32],
            v: bytes[96],
        };
        sig.hash.0.copy_from_slice(&bytes[..32]);
        sig.r.copy_from_slice(&bytes[32..64]);
        sig.s.copy_from_slice(&bytes[64..96]);
        Ok(sig)
    }

    /// Recovers the signer's address, with ain-util's checks on `v` and libsecp256k1's low-s rule.
    /// Recovery is memoized per process ([`recovered`]): a signature recovered (or made) here
    /// before is answered from memory.
    pub fn recover(&self, chain_id: u64) -> Result<Address, CryptoError> {
        if let Some(address) = recovered::lookup(self, chain_id) {
            return Ok(address);
        }
        let address = self.recover_uncached(chain_id)?;
        recovered::remember(self, chain_id, address);
        Ok(address)
    }

    pub(super) fn recover_uncached(&self, chain_id: u64) -> Result<Address, CryptoError> {
        let base = v_base(chain_id)?;
        let recid = match self.v.checked_sub(base) {
            Some(0) => RecoveryId::Zero,
            Some(1) => RecoveryId::One,
            _ => {
                return Err(CryptoError::InvalidV {
                    v: self.v,
                    chain_id,
                });
            }
        };
        if self.s > HALF_ORDER {
            return Err(CryptoError::HighS);
        }
        let mut rs = [0u8; 64];
        rs[..32].copy_from_slice(&self.r);
        rs[32..].copy_from_slice(&self.s);
        let sig =
            RecoverableSignature::from_compact(&rs, recid).map_err(|_| CryptoError::Recovery)?;
        let pk = sig
            .recover_ecdsa(Message::from_digest(self.hash.0))
            .map_err(|_| CryptoError::Recovery)?;
        let full = pk.serialize_uncompressed();
        let mut pub64 = [0u8; 64];
        pub64.copy_from_slice(&full[1..]);
        Ok(Address::from_public_key_bytes(&pub64))
    }

    /// Checks that this signature covers `tx_body` and returns the signer (`ecVerifySig` for txs).
    pub fn verify_transaction(
        &self,
        tx_body: &Value,
        chain_id: u64,
    ) -> Result<Address, CryptoError> {
        let computed = hash_transaction(tx_body);
        if computed != self.hash {
            return Err(CryptoError::HashMismatch {
                embedded: self.hash,
                computed,
            });
        }
        self.recover(chain_id)
    }

    /// The 97 bytes `hash ‖ r ‖ s ‖ v`.
    pub fn to_bytes(&self) -> [u8; 97] {
        let mut out = [0u8; 97];
        out[..32].copy_from_slice(&self.hash.0);
        out[32..64].copy_from_slice(&self.r);
        out[64..96].copy_from_slice(&self.s);
        out[96] = self.v;
        out
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.to_bytes()))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

pub(super) fn v_base(chain_id: u64) -> Result<u8, CryptoError> {
    if chain_id == 0 {
        return Ok(27);
    }
    // v = recid + 35 + 2·chain_id must fit in one byte for recid 1.
    chain_id
        .checked_mul(2)
        .and_then(|x| x.checked_add(35))
        .filter(|&b| b < 255)
        .map(|b| b as u8)
        .ok_or(CryptoError::ChainIdTooLarge(chain_id))
}
