//! Where secrets live on chain and how each side handles them.
//!
//! `/apps/<app>/sre/secrets/<fn>/<holder>/<NAME>` holds `NAME`'s value encrypted to `holder`'s
//! key ([`Encrypted`], ain-util's format): one copy per registered approved worker, and one for
//! the admin who wrote it (so `workers add` can re-encrypt for a new worker without asking for
//! the value again). Only the app's admins may write there (`onchain::rules::app_rules`).
//! Workers publish the public key to encrypt to in their registry entry (`public_key`, 64 bytes
//! of hex, checked against the entry's address).

use std::collections::BTreeMap;

use secp256k1::{PublicKey, SecretKey};
use serde_json::Value;

use super::ecies::{self, Encrypted};
use crate::ledger::crypto::Address;
use crate::onchain::AppPaths;

/// Names a secret may have: the env variable is `SRE_SECRET_<NAME>`.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "secret name {name:?}: use 1–64 of A–Z, 0–9 and _, not starting with a digit (it becomes SRE_SECRET_<NAME>)"
        ))
    }
}

/// `/apps/<app>/sre/secrets`.
pub fn root(app: &AppPaths) -> String {
    format!("{}/secrets", app.root())
}

/// `/apps/<app>/sre/secrets/<fn>/<holder>`: every secret of `function` encrypted to `holder`.
pub fn holder_path(app: &AppPaths, function: &str, holder: &Address) -> String {
    format!("{}/{function}/{holder}", root(app))
}

/// The public key a registry entry (raw JSON) publishes, if it matches `address`.
pub fn entry_key(entry: &Value, address: &Address) -> Option<PublicKey> {
    let hex_key = entry.get("public_key")?.as_str()?;
    let mut bytes = vec![4u8];
    bytes.extend(hex::decode(hex_key.trim_start_matches("0x")).ok()?);
    let key = PublicKey::from_slice(&bytes).ok()?;
    (address_of(&key) == *address).then_some(key)
}

/// The AIN address of a public key (the ledger's derivation: keccak-256 of the 64-byte key,
/// last 20 bytes).
pub fn address_of(key: &PublicKey) -> Address {
    let full = key.serialize_uncompressed();
    let mut pub64 = [0u8; 64];
    pub64.copy_from_slice(&full[1..]);
    Address::from_public_key_bytes(&pub64)
}

/// What `public_key` in a registry entry holds for `key`.
pub fn entry_value(key: &PublicKey) -> String {
    hex::encode(&key.serialize_uncompressed()[1..])
}

/// Encrypts `value` to every holder.
pub fn encrypt_for(holders: &[(Address, PublicKey)], value: &str) -> Vec<(Address, Encrypted)> {
    holders
        .iter()
        .map(|(a, k)| (*a, ecies::encrypt(k, value.as_bytes())))
        .collect()
}

/// Why a worker cannot hand a secret to a call. Never carries secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("secret `{name}`: {why}")]
pub struct SecretError {
    /// The secret's name.
    pub name: String,
    /// What went wrong.
    pub why: String,
}

/// The guest environment for a call: every secret stored for this worker (`stored` is the
/// value at [`holder_path`]; null when the function has none), decrypted with `key`.
pub fn decrypt_env(stored: &Value, key: &SecretKey) -> Result<Vec<(String, String)>, SecretError> {
    let Some(map) = stored.as_object() else {
        return Ok(Vec::new());
    };
    let mut env = BTreeMap::new();
    for (name, v) in map {
        let err = |why: &str| SecretError {
            name: name.clone(),
            why: why.to_owned(),
        };
        check_name(name).map_err(|_| err("not a valid secret name"))?;
        let enc: Encrypted = serde_json::from_value(v.clone())
            .map_err(|_| err("the stored value is not a ciphertext"))?;
        let plain = ecies::decrypt(key, &enc).map_err(|e| {
            err(&format!(
                "this worker cannot decrypt it ({e}); re-run `secrets set`"
            ))
        })?;
        let text = String::from_utf8(plain).map_err(|_| err("the value is not UTF-8"))?;
        if text.contains('\0') {
            return Err(err("the value contains a NUL byte"));
        }
        env.insert(format!("SRE_SECRET_{name}"), text);
    }
    Ok(env.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keys_and_the_env_a_worker_builds() {
        assert!(check_name("API_KEY").is_ok());
        for bad in ["", "api_key", "1X", "A-B", &"A".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        let sk = SecretKey::from_secret_bytes([3; 32]).unwrap();
        let pk = PublicKey::from_secret_key(&sk);
        let addr = address_of(&pk);
        let entry = serde_json::json!({"public_key": entry_value(&pk)});
        assert_eq!(entry_key(&entry, &addr), Some(pk));
        assert_eq!(
            entry_key(&entry, &Address([1; 20])),
            None,
            "a key must match its address"
        );
        let stored: serde_json::Map<String, Value> = encrypt_for(&[(addr, pk)], "s3cret")
            .into_iter()
            .map(|(_, e)| ("API_KEY".to_owned(), serde_json::to_value(e).unwrap()))
            .collect();
        let env = decrypt_env(&Value::Object(stored.clone()), &sk).unwrap();
        assert_eq!(
            env,
            vec![("SRE_SECRET_API_KEY".to_owned(), "s3cret".to_owned())]
        );
        let other = SecretKey::from_secret_bytes([4; 32]).unwrap();
        let e = decrypt_env(&Value::Object(stored), &other).unwrap_err();
        assert!(
            e.to_string().contains("API_KEY") && !e.to_string().contains("s3cret"),
            "{e}"
        );
        assert!(decrypt_env(&Value::Null, &sk).unwrap().is_empty());
    }
}
