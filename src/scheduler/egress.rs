//! What a call may reach off chain on this worker: its egress (the function's allow-list,
//! bounded by its profile, under the operator's final say) and its secrets.

use std::sync::Arc;

use crate::call::Call;
use crate::config::profiles::Profile;
use crate::egress::{EgressCall, OperatorEgress};
use crate::onchain::FunctionSpec;

/// Why a call with an allow-list cannot have it here.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refused {
    /// This worker's choice (its operator or its profile file): another worker may serve it.
    Unservable(String),
    /// The spec itself is malformed: no worker could.
    Invalid(String),
}

/// The call's [`EgressCall`] (`None` when its function declares no egress). The proxy's
/// `Idempotency-Key` is `<app>/<fn>/<call_id>`.
pub(super) fn for_call(
    call: &Call,
    spec: &FunctionSpec,
    profile: &Profile,
    operator: &Arc<OperatorEgress>,
) -> Result<Option<Arc<EgressCall>>, Refused> {
    let Some(e) = &spec.egress else {
        return Ok(None);
    };
    let policy = e
        .policy()
        .map_err(|e| Refused::Invalid(format!("the function's egress: {e}")))?;
    if operator.deny_all {
        return Err(Refused::Unservable(
            "the function needs egress and this worker's operator offers none".into(),
        ));
    }
    let bound = profile.egress.ok_or_else(|| {
        Refused::Unservable(format!(
            "the function needs egress and profile `{}` allows none here",
            profile.name
        ))
    })?;
    let key = format!("{}/{}/{}", call.app, call.function, call.call_id);
    Ok(Some(EgressCall::new(policy, operator.clone(), bound, key)))
}

/// The guest environment holding the function's secrets (`SRE_SECRET_<NAME>`), opened from
/// `stored` (this worker's copies) with `key`. An error (no key here, a listed name with no copy
/// for this worker, a copy it cannot open) leaves the call to a worker that holds them; it never
/// contains secret material.
pub(super) fn secret_env(
    spec: &FunctionSpec,
    stored: &serde_json::Value,
    key: Option<&crate::secrets::WorkerKey>,
) -> Result<Vec<(String, String)>, String> {
    let names: Vec<&str> = spec
        .secrets
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let key = key.ok_or("the function needs secrets and this worker holds no key for them")?;
    let env = crate::secrets::store::decrypt_env(stored, &key.0).map_err(|e| e.to_string())?;
    for n in names {
        let var = format!("SRE_SECRET_{n}");
        if !env.iter().any(|(k, _)| *k == var) {
            return Err(format!(
                "secret `{n}` is not encrypted for this worker (approve it, then `secrets sync`)"
            ));
        }
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::{WorkerKey, ecies};

    #[test]
    fn secrets_open_for_this_worker_or_say_which_is_missing() {
        let sk = secp256k1::SecretKey::from_secret_bytes([5; 32]).unwrap();
        let pk = secp256k1::PublicKey::from_secret_key(&sk);
        let key = WorkerKey(Arc::new(sk));
        let mut spec: FunctionSpec = serde_json::from_value(serde_json::json!({
            "runtime": "python3", "code_hash": "ab".repeat(32), "size": 1, "code": "x",
            "secrets": "API_KEY OTHER"
        }))
        .unwrap();
        let stored = serde_json::json!({"API_KEY": ecies::encrypt(&pk, b"v1")});
        let e = secret_env(&spec, &stored, Some(&key)).unwrap_err();
        assert!(
            e.contains("`OTHER` is not encrypted for this worker"),
            "{e}"
        );
        assert!(
            secret_env(&spec, &stored, None)
                .unwrap_err()
                .contains("no key")
        );
        spec.secrets = Some("API_KEY".into());
        let env = secret_env(&spec, &stored, Some(&key)).unwrap();
        assert_eq!(
            env,
            vec![("SRE_SECRET_API_KEY".to_owned(), "v1".to_owned())]
        );
        spec.secrets = None;
        assert!(
            secret_env(&spec, &serde_json::Value::Null, None)
                .unwrap()
                .is_empty()
        );
    }
}
