//! The egress a call gets on this worker: its function's allow-list, bounded by its profile,
//! under the operator's final say.

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
