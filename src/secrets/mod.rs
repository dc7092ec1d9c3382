//! Function secrets: values encrypted on chain to each approved worker's key, decrypted by the
//! worker at call time and handed to the sandbox as `SRE_SECRET_<NAME>`.
//!
//! The encryption is ECIES on secp256k1 exactly as ain-util's `encryptWithPublicKey` does it
//! ([`ecies`]), so any AIN tool can write or read them.

pub mod ecies;
