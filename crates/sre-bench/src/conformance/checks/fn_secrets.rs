//! Row 34: another function's secrets are unreachable. A worker hands a call only its own
//! function's secrets (`SRE_SECRET_<NAME>`, decrypted for that call); this row runs function A
//! with a secret and function B without, on the same tier, and B must not find A's value
//! anywhere: not in its environment (a worker that shared decrypted secrets across functions),
//! not in A's processes while A runs beside it (pid namespace, uid per call), not in files A
//! left in `/tmp` or `/dev/shm` (per-call file systems), during A's run or after it.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{
    Res, Target, Verdict, ensure, limits, probe_result, py, run_probe_with, stdout_ok, verdict,
    wat, wat_code,
};
use crate::sandbox::{Limits, Tier};

/// How long A stays alive so that B runs beside it.
const HOLD: Duration = Duration::from_secs(4);

/// Row 34.
pub(super) async fn other_functions_secrets(t: &Target<'_>) -> Verdict {
    verdict(check(t).await)
}

fn env(function: &str, secret: Option<&str>) -> Vec<(String, String)> {
    let mut env = vec![("SRE_FUNCTION".to_owned(), function.to_owned())];
    if let Some(s) = secret {
        env.push(("SRE_SECRET_API_KEY".to_owned(), s.to_owned()));
    }
    env
}

/// The `fn_secrets` probe run as `function` (given `secret`, if any); it must complete and
/// report no breach. Returns its `info`.
async fn probe_as(
    t: &Target<'_>,
    ctx: Value,
    l: Limits,
    function: &str,
    secret: Option<&str>,
) -> Result<Value, String> {
    let env = env(function, secret);
    probe_result(&run_probe_with(t, py!("fn_secrets"), ctx, l, env).await?)
}

async fn check(t: &Target<'_>) -> Res {
    let secret = format!("fn-a-secret-{:08x}", rand::random::<u32>());
    if t.tier == Tier::Wasm {
        // One store per call: B's environ is its own. A must have seen the value (or the row
        // proves nothing), B must not.
        let code = wat_code(wat!("environ"));
        let a = t
            .run_with(&code, b"", limits(), env("a", Some(&secret)))
            .await?;
        ensure(
            String::from_utf8_lossy(stdout_ok(&a)?).contains(&secret),
            || "function A did not get its own secret".into(),
        )?;
        let b = t.run_with(&code, b"", limits(), env("b", None)).await?;
        let text = String::from_utf8_lossy(stdout_ok(&b)?).into_owned();
        ensure(!text.contains(&secret), || {
            "function B's environment holds A's secret".into()
        })?;
        return Ok("B's environ holds none of A's secrets".into());
    }
    let mut l = limits();
    l.wall_time = HOLD * 4;
    let ctx = |phase: &str| json!({"phase": phase, "fn_secret": secret, "hold_s": HOLD.as_secs()});
    let a = probe_as(t, ctx("hold"), l.clone(), "a", Some(&secret));
    let b = async {
        // B starts once A is running (A names its process with the run's marker).
        let start = Instant::now();
        while t.host.marked_processes().is_empty() {
            if start.elapsed() > HOLD * 3 {
                return Err("function A never started".to_owned());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let info = probe_as(t, ctx("peek"), limits(), "b", None).await;
        let overlapped = !t.host.marked_processes().is_empty();
        info.map(|i| (i, overlapped))
    };
    let (a, b) = tokio::join!(a, b);
    let a = a.map_err(|e| format!("function A: {e}"))?;
    let (during, overlapped) = b.map_err(|e| format!("function B beside A: {e}"))?;
    ensure(a["has_secret"] == true, || {
        "function A did not get its own secret".into()
    })?;
    ensure(overlapped, || {
        "function A ended before B did: the two never ran side by side".into()
    })?;
    t.nothing_survives().await?;
    probe_as(t, ctx("peek"), limits(), "b", None)
        .await
        .map_err(|e| format!("function B after A: {e}"))?;
    Ok(format!(
        "B found none of A's secrets (env, {} processes visible, /tmp, /dev/shm, /run) beside A or after it",
        during["processes_seen"]
    ))
}
