//! The admin's side of secrets: `secrets set|list|rm|sync` on top of [`ChainClient`].

use std::collections::{BTreeMap, BTreeSet};

use secp256k1::PublicKey;
use serde_json::Value;

use super::ecies::{self, Encrypted};
use super::store::{self, check_name, holder_path};
use crate::client::{ChainClient, ClientError};
use crate::ledger::crypto::Address;
use crate::ledger::tx::SimpleOp;
use crate::node::get_value;
use crate::onchain::{AppPaths, rules};

/// A failure of a secrets command (never carries a secret's value).
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// The chain refused or could not be reached.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Bad input (a name, an unknown function).
    #[error("{0}")]
    Invalid(String),
}

impl From<crate::ledger::rpc::RpcError> for SecretsError {
    fn from(e: crate::ledger::rpc::RpcError) -> SecretsError {
        SecretsError::Client(e.into())
    }
}

/// Who gets a copy: every approved, registered worker publishing a key that matches its
/// address, and the admin writing (so `sync` can re-encrypt later).
pub async fn holders(
    client: &ChainClient,
    app: &AppPaths,
) -> Result<Vec<(Address, PublicKey)>, SecretsError> {
    let rpc = client.rpc();
    let allowed = get_value(rpc, &app.allowed_workers()).await?;
    let entries = get_value(rpc, &app.workers()).await?;
    let mut out = BTreeMap::new();
    if let Value::Object(m) = entries {
        for (addr, entry) in m {
            let Ok(a) = addr.parse::<Address>() else {
                continue;
            };
            if allowed.get(&addr) != Some(&Value::Bool(true)) {
                continue;
            }
            if let Some(k) = store::entry_key(&entry, &a) {
                out.insert(a, k);
            }
        }
    }
    let mut own = vec![4u8];
    own.extend(client.public_key());
    let own = PublicKey::from_slice(&own).expect("a valid key");
    out.insert(client.address(), own);
    Ok(out.into_iter().collect())
}

async fn names(
    client: &ChainClient,
    app: &AppPaths,
    function: &str,
) -> Result<BTreeSet<String>, SecretsError> {
    let spec = get_value(client.rpc(), &app.function(function)).await?;
    if spec.is_null() {
        return Err(SecretsError::Invalid(format!(
            "no function `{function}` in app `{}`: deploy it first",
            app.app()
        )));
    }
    Ok(spec
        .get("secrets")
        .and_then(Value::as_str)
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_owned)
        .collect())
}

/// Encrypts each `(NAME, value)` to every holder and records the names in the spec. Returns
/// the holders written for.
pub async fn set(
    client: &ChainClient,
    app: &AppPaths,
    function: &str,
    pairs: &[(String, String)],
) -> Result<Vec<Address>, SecretsError> {
    for (n, _) in pairs {
        check_name(n).map_err(SecretsError::Invalid)?;
    }
    let mut all = names(client, app, function).await?;
    let holders = holders(client, app).await?;
    // The rule first (apps deployed before secrets existed lack it), admin-only like config.
    client
        .send(vec![SimpleOp::set_rule(
            store::root(app),
            rules::rule_value(&rules::admin_only(app)),
        )])
        .await?;
    for (addr, key) in &holders {
        let ops = pairs
            .iter()
            .map(|(n, v)| {
                let enc = ecies::encrypt(key, v.as_bytes());
                SimpleOp::set_value(
                    format!("{}/{n}", holder_path(app, function, addr)),
                    serde_json::to_value(enc).unwrap_or(Value::Null),
                )
            })
            .collect();
        client.send(ops).await?;
    }
    all.extend(pairs.iter().map(|(n, _)| n.clone()));
    write_names(client, app, function, &all).await?;
    Ok(holders.into_iter().map(|(a, _)| a).collect())
}

async fn write_names(
    client: &ChainClient,
    app: &AppPaths,
    function: &str,
    names: &BTreeSet<String>,
) -> Result<(), SecretsError> {
    let v = if names.is_empty() {
        Value::Null
    } else {
        Value::from(names.iter().cloned().collect::<Vec<_>>().join(" "))
    };
    client
        .send(vec![SimpleOp::set_value(
            format!("{}/secrets", app.function(function)),
            v,
        )])
        .await?;
    Ok(())
}

/// The function's secret names, and which holders have a copy of each.
pub async fn list(
    client: &ChainClient,
    app: &AppPaths,
    function: &str,
) -> Result<BTreeMap<String, Vec<Address>>, SecretsError> {
    let mut out: BTreeMap<String, Vec<Address>> = names(client, app, function)
        .await?
        .into_iter()
        .map(|n| (n, Vec::new()))
        .collect();
    let stored = get_value(client.rpc(), &format!("{}/{function}", store::root(app))).await?;
    if let Value::Object(m) = stored {
        for (holder, secrets) in m {
            let Ok(a) = holder.parse::<Address>() else {
                continue;
            };
            if let Value::Object(s) = secrets {
                for name in s.keys() {
                    out.entry(name.clone()).or_default().push(a);
                }
            }
        }
    }
    Ok(out)
}

/// Deletes `name` for every holder and from the spec.
pub async fn rm(
    client: &ChainClient,
    app: &AppPaths,
    function: &str,
    name: &str,
) -> Result<(), SecretsError> {
    check_name(name).map_err(SecretsError::Invalid)?;
    let listed = list(client, app, function).await?;
    let Some(holders) = listed.get(name) else {
        return Err(SecretsError::Invalid(format!(
            "function `{function}` has no secret `{name}`"
        )));
    };
    let ops: Vec<SimpleOp> = holders
        .iter()
        .map(|a| {
            SimpleOp::set_value(
                format!("{}/{name}", holder_path(app, function, a)),
                Value::Null,
            )
        })
        .collect();
    if !ops.is_empty() {
        client.send(ops).await?;
    }
    let mut names: BTreeSet<String> = listed.into_keys().collect();
    names.remove(name);
    write_names(client, app, function, &names).await
}

/// Re-encrypts every function's secrets from the admin's own copies for holders that lack them
/// (a worker approved and registered after `secrets set`). Returns the copies written.
pub async fn sync(client: &ChainClient, app: &AppPaths) -> Result<usize, SecretsError> {
    let holders = holders(client, app).await?;
    let key = client.secret_key();
    let me = client.address();
    let all = get_value(client.rpc(), &store::root(app)).await?;
    let mut written = 0;
    let Value::Object(functions) = all else {
        return Ok(0);
    };
    for (function, by_holder) in functions {
        let Some(mine) = by_holder.get(me.to_string()).and_then(Value::as_object) else {
            continue;
        };
        for (addr, pk) in &holders {
            let theirs = by_holder.get(addr.to_string()).and_then(Value::as_object);
            let mut ops = Vec::new();
            for (name, enc) in mine {
                if theirs.is_some_and(|t| t.contains_key(name)) {
                    continue;
                }
                let enc: Encrypted = serde_json::from_value(enc.clone()).map_err(|_| {
                    SecretsError::Invalid(format!("secret `{name}`: malformed admin copy"))
                })?;
                let plain = ecies::decrypt(&key, &enc)
                    .map_err(|e| SecretsError::Invalid(format!("secret `{name}`: {e}")))?;
                ops.push(SimpleOp::set_value(
                    format!("{}/{name}", holder_path(app, &function, addr)),
                    serde_json::to_value(ecies::encrypt(pk, &plain)).unwrap_or(Value::Null),
                ));
            }
            written += ops.len();
            if !ops.is_empty() {
                client.send(ops).await?;
            }
        }
    }
    Ok(written)
}
