//! Function secrets: values encrypted on chain to each approved worker's key, decrypted by the
//! worker at call time and handed to the sandbox as `SRE_SECRET_<NAME>`.
//!
//! The encryption is ECIES on secp256k1 exactly as ain-util's `encryptWithPublicKey` does it
//! ([`ecies`]), so any AIN tool can write or read them.

pub mod client;
pub mod ecies;
pub mod store;

/// The worker's key as the scheduler holds it to open secrets; never printed.
#[derive(Clone)]
pub struct WorkerKey(pub std::sync::Arc<secp256k1::SecretKey>);

impl std::fmt::Debug for WorkerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WorkerKey(..)")
    }
}
