//! AI Network cryptography, byte-compatible with `@ainblockchain/ain-util`.
//!
//! Keys are secp256k1; addresses are Ethereum addresses with EIP-55 checksums; a transaction hash
//! is `keccak256(keccak256(stable_json(tx_body)))`; a signature string is
//! `0x ‖ hash(32) ‖ r(32) ‖ s(32) ‖ v(1)` with `v = recid + 27` on chain 0 and
//! `recid + 35 + 2·chain_id` otherwise. Verification mirrors `ecVerifySig`: the embedded hash must
//! equal the recomputed one, `v` must give recovery id 0 or 1, and `s` must be low (libsecp256k1's
//! verify, which ain-util calls after recovery, rejects high-s signatures).
//!
//! A [`PrivateKey`] never prints its secret: `Debug` is redacted and the bytes are erased on drop.

use std::fmt;
use std::str::FromStr;

use secp256k1::ecdsa::RecoverableSignature;
use secp256k1::{Message, PublicKey as SecpPublicKey, SecretKey};
use serde_json::Value;
use sha3::{Digest, Keccak256};
use zeroize::Zeroizing;

use super::json::stable_stringify;

pub mod keystore;
mod recovered;
mod signature;

pub use signature::Signature;
use signature::v_base;

/// Errors of key handling, signature parsing and recovery.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// Text that should be hex is not, or has the wrong length.
    #[error("invalid hex for {what}: {why}")]
    Hex {
        /// What was being parsed.
        what: &'static str,
        /// Why it was refused.
        why: String,
    },
    /// The 32 bytes are not a valid secp256k1 secret key (zero or ≥ the group order).
    #[error("invalid secp256k1 private key")]
    InvalidPrivateKey,
    /// The signature string is not 97 bytes of `hash ‖ r ‖ s ‖ v`.
    #[error("invalid signature length: {0} bytes, expected 97 (hash, r, s, v)")]
    SignatureLength(usize),
    /// `v` does not give recovery id 0 or 1 under the chain id.
    #[error("invalid signature v value {v} for chain id {chain_id}")]
    InvalidV {
        /// The `v` byte.
        v: u8,
        /// The chain id used to interpret it.
        chain_id: u64,
    },
    /// A chain id so large that `v` no longer fits in one byte.
    #[error("chain id {0} is too large: v must fit in one byte")]
    ChainIdTooLarge(u64),
    /// The hash embedded in the signature differs from the hash of the signed data.
    #[error("signature hash {embedded} does not match the data's hash {computed}")]
    HashMismatch {
        /// Hash carried in the signature.
        embedded: Hash,
        /// Hash recomputed from the data.
        computed: Hash,
    },
    /// `s` is in the upper half of the group order (malleable form libsecp256k1 refuses).
    #[error("signature s value is not low (malleable form)")]
    HighS,
    /// Public key recovery failed: r/s out of range or no curve point.
    #[error("public key recovery failed")]
    Recovery,
}

/// A 32-byte hash (transaction hash, block hash, message hash), shown as `0x` + 64 lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; 32]);

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Hash {
    type Err = CryptoError;
    fn from_str(s: &str) -> Result<Self, CryptoError> {
        Ok(Hash(decode_fixed::<32>(s, "hash")?))
    }
}

impl serde::Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A 20-byte account address. Displays with the EIP-55 checksum; parses any case.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address(pub [u8; 20]);

impl Address {
    /// Derives the address of an uncompressed public key (64 bytes, without the `0x04` prefix).
    pub fn from_public_key_bytes(pub64: &[u8; 64]) -> Address {
        let h = keccak256(pub64);
        let mut a = [0u8; 20];
        a.copy_from_slice(&h[12..]);
        Address(a)
    }

    /// The EIP-55 checksummed form, as ain-util's `toChecksumAddress` prints it.
    pub fn to_checksum(&self) -> String {
        let lower = hex::encode(self.0);
        let h = keccak256(lower.as_bytes());
        let mut out = String::with_capacity(42);
        out.push_str("0x");
        for (i, c) in lower.chars().enumerate() {
            let nibble = (h[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 0xf;
            out.push(if c.is_ascii_alphabetic() && nibble >= 8 {
                c.to_ascii_uppercase()
            } else {
                c
            });
        }
        out
    }
}

/// True when `s` is exactly the EIP-55 checksummed form of an address (ain-util `isCksumAddr`).
pub fn is_checksum_address(s: &str) -> bool {
    s.parse::<Address>().is_ok_and(|a| a.to_checksum() == s)
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_checksum())
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_checksum())
    }
}

impl FromStr for Address {
    type Err = CryptoError;
    /// Accepts `0x` + 40 hex digits in any case (ain-util `isValidAddress`).
    fn from_str(s: &str) -> Result<Self, CryptoError> {
        if !s.starts_with("0x") {
            return Err(CryptoError::Hex {
                what: "address",
                why: "missing 0x prefix".into(),
            });
        }
        Ok(Address(decode_fixed::<20>(s, "address")?))
    }
}

impl serde::Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

fn public_key_of(secret: &SecretKey) -> [u8; 64] {
    let full = SecpPublicKey::from_secret_key(secret).serialize_uncompressed();
    let mut out = [0u8; 64];
    out.copy_from_slice(&full[1..]);
    out
}

/// A secp256k1 private key. Never displayed; erased from memory on drop.
pub struct PrivateKey {
    inner: SecretKey,
    /// Derived once at import: deriving it is a full elliptic-curve multiplication, as costly
    /// as a signature, and every signed tx names its signer.
    address: Address,
}

impl PrivateKey {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> PrivateKey {
        loop {
            let bytes = Zeroizing::new(rand::random::<[u8; 32]>());
            if let Ok(k) = PrivateKey::from_bytes(&bytes) {
                return k;
            }
        }
    }

    /// Imports 32 raw bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<PrivateKey, CryptoError> {
        let inner =
            SecretKey::from_secret_bytes(*bytes).map_err(|_| CryptoError::InvalidPrivateKey)?;
        let address = Address::from_public_key_bytes(&public_key_of(&inner));
        Ok(PrivateKey { inner, address })
    }

    /// Imports 64 hex digits, with or without `0x`. The error never echoes the input.
    pub fn from_hex(s: &str) -> Result<PrivateKey, CryptoError> {
        let bytes = Zeroizing::new(decode_fixed::<32>(s.trim(), "private key")?);
        PrivateKey::from_bytes(&bytes)
    }

    /// The secret as 32 bytes, wrapped so the copy is erased when dropped. For keystores only.
    pub fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.inner.to_secret_bytes())
    }

    /// The uncompressed public key without its `0x04` prefix.
    pub fn public_key(&self) -> [u8; 64] {
        public_key_of(&self.inner)
    }

    /// The account address of this key.
    pub fn address(&self) -> Address {
        self.address
    }

    /// Signs a 32-byte hash (RFC 6979, low-s) and returns it in AIN signature form.
    pub fn sign_hash(&self, hash: &Hash, chain_id: u64) -> Result<Signature, CryptoError> {
        let base = v_base(chain_id)?;
        let sig =
            RecoverableSignature::sign_ecdsa_recoverable(Message::from_digest(hash.0), &self.inner);
        let (recid, rs) = sig.serialize_compact();
        let mut r = [0u8; 32];
        let mut s = [0u8; 32];
        r.copy_from_slice(&rs[..32]);
        s.copy_from_slice(&rs[32..]);
        let signature = Signature {
            hash: *hash,
            r,
            s,
            v: base + u8::from(recid),
        };
        // It recovers to this key by construction; when the signed tx comes back in a block,
        // checking it costs no recovery. The assertion keeps sign-then-verify tests honest: their
        // verification is answered from the memo, so recovery itself is checked here.
        debug_assert_eq!(
            signature.recover_uncached(chain_id).ok(),
            Some(self.address)
        );
        recovered::remember(&signature, chain_id, self.address);
        Ok(signature)
    }

    /// `ecSignTransaction`: hashes the body and signs it.
    pub fn sign_transaction(
        &self,
        tx_body: &Value,
        chain_id: u64,
    ) -> Result<Signature, CryptoError> {
        self.sign_hash(&hash_transaction(tx_body), chain_id)
    }

    /// `ecSignMessage`: signs `hashMessage(message)`.
    pub fn sign_message(&self, message: &str, chain_id: u64) -> Result<Signature, CryptoError> {
        self.sign_hash(&hash_message(message), chain_id)
    }
}

impl Drop for PrivateKey {
    fn drop(&mut self) {
        self.inner.non_secure_erase();
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({}, secret redacted)", self.address())
    }
}

/// Keccak-256 (the original Keccak padding, as Ethereum and AIN use, not SHA3-256).
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    Keccak256::digest(data).into()
}

/// `hashTransaction`: double Keccak-256 of the stable JSON text of the body.
pub fn hash_transaction(tx_body: &Value) -> Hash {
    hash_stable_text(&stable_stringify(tx_body))
}

/// Double Keccak-256 of already-rendered stable JSON text.
pub fn hash_stable_text(text: &str) -> Hash {
    Hash(keccak256(&keccak256(text.as_bytes())))
}

/// `hashMessage` (the node's `hashString`): double Keccak-256 over
/// `varint(26) ‖ "AINetwork Signed Message:\n" ‖ varint(len) ‖ bytes`.
///
/// As in ain-util, `len` is the JS string length (UTF-16 units) while `bytes` is the UTF-8 text,
/// except that a string of the form `0x` + hex digits is hex-decoded.
pub fn hash_message(message: &str) -> Hash {
    const PREFIX: &[u8] = b"AINetwork Signed Message:\n";
    let hexish = message.len() >= 2
        && message.starts_with("0x")
        && message[2..].bytes().all(|b| b.is_ascii_hexdigit());
    let bytes: Vec<u8> = if hexish {
        let digits = &message[2..];
        let padded = if digits.len() % 2 == 1 {
            format!("0{digits}")
        } else {
            digits.to_owned()
        };
        hex::decode(padded).unwrap_or_default()
    } else {
        message.as_bytes().to_vec()
    };
    let mut data = Vec::with_capacity(PREFIX.len() + bytes.len() + 10);
    push_varint(&mut data, PREFIX.len() as u64);
    data.extend_from_slice(PREFIX);
    push_varint(&mut data, message.encode_utf16().count() as u64);
    data.extend_from_slice(&bytes);
    Hash(keccak256(&keccak256(&data)))
}

/// Bitcoin's variable-length integer, as the `varuint-bitcoin` package encodes it.
fn push_varint(out: &mut Vec<u8>, n: u64) {
    match n {
        0..0xfd => out.push(n as u8),
        0xfd..=0xffff => {
            out.push(0xfd);
            out.extend_from_slice(&(n as u16).to_le_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(0xfe);
            out.extend_from_slice(&(n as u32).to_le_bytes());
        }
        _ => {
            out.push(0xff);
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
}

fn decode_fixed<const N: usize>(s: &str, what: &'static str) -> Result<[u8; N], CryptoError> {
    let body = s.strip_prefix("0x").unwrap_or(s);
    if body.len() != 2 * N {
        return Err(CryptoError::Hex {
            what,
            why: format!("expected {} hex digits, got {}", 2 * N, body.len()),
        });
    }
    let mut out = [0u8; N];
    // The error message deliberately omits the input: it may be a secret.
    hex::decode_to_slice(body, &mut out).map_err(|_| CryptoError::Hex {
        what,
        why: "not hexadecimal".into(),
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SK: &str = "cef602325bc0882591e5768e94cd94a326947e8ee5d3b02fb29d1b89a9334d99";
    const NODE_SK: &str = "b22c95ffc4a5c096f7d7d0487ba963ce6ac945bdc91c79b64ce209de289bec96";

    #[test]
    fn key_to_public_and_address() {
        let k = PrivateKey::from_hex(SK).unwrap();
        assert_eq!(
            hex::encode(k.public_key()),
            "cf0ba8241cd1452c282c4dfa33d48e43ca34e60f5da9a2422293aa34ac14b018991d0cbc42089e4dcf3b3cc2907d51f06baed00cad7f855182572c77cbfad2b3"
        );
        assert_eq!(
            k.address().to_string(),
            "0xCAcD898dBaEdBD9037aCd25b82417587E972838d"
        );
        let node = PrivateKey::from_hex(&format!("0x{NODE_SK}")).unwrap();
        assert_eq!(
            node.address().to_string(),
            "0x00ADEc28B6a845a085e03591bE7550dd68673C1C"
        );
    }

    #[test]
    fn checksum_examples() {
        for a in [
            "0x21fE266480080535b0CCe687669e5DBe13f42559",
            "0x32F9c01ab1247C9366C8A22B6929eB0A905dBBd1",
            "0x5C102a82543448d75FEe35EdA1Fff7cD24D9D02F",
        ] {
            let parsed: Address = a.to_lowercase().parse().unwrap();
            assert_eq!(parsed.to_string(), a);
            assert!(is_checksum_address(a));
            assert!(!is_checksum_address(&a.to_lowercase()));
        }
        assert!(!is_checksum_address("0x123"));
    }

    #[test]
    fn message_hash_and_signature() {
        assert_eq!(
            hash_message("Hello world").to_string(),
            "0x14894951ffca216088cba18b434a31fe88cd706886c5f64e0582711d57757ed6"
        );
        let k = PrivateKey::from_hex(SK).unwrap();
        let sig = k.sign_message("Hello world", 0).unwrap();
        assert_eq!(
            sig.to_string(),
            "0x14894951ffca216088cba18b434a31fe88cd706886c5f64e0582711d57757ed6f2ecce39370e9ef5da08db891b88d6966245c5f52ce4144661c0015e9a8e97c467bb0a872d0f298f8ab948b882e7c0cbb8070f1067e8b42e34ada2314ae9df221c"
        );
        assert_eq!(sig.recover(0).unwrap(), k.address());
    }

    #[test]
    fn empty_list_and_object_hashes() {
        assert_eq!(
            hash_message("[]").to_string(),
            "0x853fb99c831d4952ff90b897bd7d7c5c2f3747e8eda8ad13e7359b731eadc299"
        );
        assert_eq!(
            hash_message("{}").to_string(),
            "0xd35126dcb36a3c4b4ef04c4eff63edecbc9eacff867d1c348c1abaf82567a8f8"
        );
    }

    #[test]
    fn transaction_vectors_chain_0_and_1() {
        let tx = json!({"operation":{"ref":"/afan","value":"HAHA","type":"SET_VALUE"},
                        "nonce":10,"timestamp":123,"parent_tx_hash":""});
        let text = stable_stringify(&tx);
        assert_eq!(
            format!("0x{}", hex::encode(keccak256(text.as_bytes()))),
            "0xdef20a9cc6abb25163213dcd3f47d736e06b209cf8a620f7df75ed319230b833"
        );
        assert_eq!(
            hash_transaction(&tx).to_string(),
            "0x8addddfc0a938dfcbe520e8b2fb42d5a9839fb1dc043b563770d8dd77191c83d"
        );
        let k = PrivateKey::from_hex(SK).unwrap();
        let s0 = k.sign_transaction(&tx, 0).unwrap();
        assert_eq!(
            s0.to_string(),
            "0x8addddfc0a938dfcbe520e8b2fb42d5a9839fb1dc043b563770d8dd77191c83d58a8ebffd2427558c2732ec6687ca561146e7874d707874a1032fb1b074e6b3c7046a64706428410a81a4e78d5b3fd05a9b9e7f916ff33daa5a16e8c477edb771b"
        );
        let s1 = k.sign_transaction(&tx, 1).unwrap();
        let mut expect1 = s0.to_bytes();
        expect1[96] = 0x25;
        assert_eq!(s1.to_bytes(), expect1);
        assert_eq!(s1.verify_transaction(&tx, 1).unwrap(), k.address());
        // A chain-0 signature does not recover to the signer on chain 1.
        assert!(s0.verify_transaction(&tx, 1).is_err());
    }

    #[test]
    fn node_key_vector() {
        let tx = json!({"operation":{"type":"SET_VALUE","ref":"/apps/test/value","value":"hello"},
                        "nonce":-1,"timestamp":1700000000000u64,"gas_price":0});
        assert_eq!(
            hash_transaction(&tx).to_string(),
            "0x6e28525a717ffdcc098be7773c5046889555565c8f8b0495dd0815dde01bdd02"
        );
        let k = PrivateKey::from_hex(NODE_SK).unwrap();
        assert_eq!(
            k.sign_transaction(&tx, 0).unwrap().to_string(),
            "0x6e28525a717ffdcc098be7773c5046889555565c8f8b0495dd0815dde01bdd02cb0adb3c66d7e12755b22a3d54334cabce4caffca3dfe0ca81071e2991854b457bef7a1479240ae8e1a7e8495b0a8242a399bad175522eb3f341b403dc560b1d1b"
        );
    }

    #[test]
    fn real_signed_tx_from_json_rpc_docs_recovers() {
        let tx = json!({"operation":{"type":"SET_VALUE","ref":"/transfer/0xb16DF4D61Aa206096FE2E705497B91951852989F/0xEfa713E7f2C0cE5f89ae746e91DD476979967EBD/1706853750720/value","value":10},"gas_price":500,"timestamp":1706853750720u64,"nonce":-1});
        assert_eq!(
            hash_transaction(&tx).to_string(),
            "0x40a183b409b54a6d0cb7a68853a05c41af0b9fccf442b9249fde64ff62bc6e54"
        );
    }

    #[test]
    fn tampering_is_detected() {
        let k = PrivateKey::generate();
        let tx =
            json!({"operation":{"type":"SET_VALUE","ref":"/a","value":1},"nonce":-1,"timestamp":1});
        let sig = k.sign_transaction(&tx, 0).unwrap();
        let other =
            json!({"operation":{"type":"SET_VALUE","ref":"/a","value":2},"nonce":-1,"timestamp":1});
        assert!(matches!(
            sig.verify_transaction(&other, 0),
            Err(CryptoError::HashMismatch { .. })
        ));
        let mut bad_v = sig;
        bad_v.v = 29;
        assert!(matches!(
            bad_v.recover(0),
            Err(CryptoError::InvalidV { .. })
        ));
        let mut flipped = sig;
        flipped.r[5] ^= 1;
        assert_ne!(flipped.recover(0).ok(), Some(k.address()));
        assert_eq!(
            Signature::parse(&format!("0x{}", "00".repeat(96))).unwrap_err(),
            CryptoError::SignatureLength(96)
        );
    }

    #[test]
    fn secrets_never_print() {
        let k = PrivateKey::from_hex(SK).unwrap();
        assert!(!format!("{k:?}").contains("cef6"));
        let err = PrivateKey::from_hex(&format!("{}zz", &SK[..62])).unwrap_err();
        assert!(!err.to_string().contains("cef6"));
    }
}
