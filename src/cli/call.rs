//! `ain-sre call`: signs a request with a fresh call id and, with `--wait`, prints the response
//! and its receipt once a worker answers, after checking it (`verify`): the writer may answer,
//! the receipt names this request tx, this input's hash and the function's code hash as of the
//! request. A failed check is printed and the exit code is 1.

use std::process::ExitCode;

use std::time::{Duration, Instant};

use super::call_blobs;
use super::common::{KeyArgs, NodeArgs};
use serde_json::Value;

use crate::client::{AppWorkers, ChainClient, ClientError, wait_response};
use crate::node::get_value;
use crate::onchain::{AppPaths, FunctionSpec, WorkerEntry};
use crate::scheduler::assign::{Presence, candidates};
use crate::verify::CallCheck;

/// Arguments of `ain-sre call`.
#[derive(Debug, clap::Args)]
pub struct CallArgs {
    /// App name (default against a dev chain: `dev`, the app `ain-sre dev` serves).
    #[arg(long)]
    pub app: Option<String>,
    /// Function name.
    #[arg(long = "fn")]
    pub function: String,
    /// The input: text (usually JSON), or `@FILE`. Over 4,096 bytes, or not UTF-8, it is
    /// uploaded to the blob store (`--blobs`) and the request carries `input_ref`.
    #[arg(long, default_value = "")]
    pub input: String,
    /// Blob store for large inputs (`http://host:port`) [default on a dev chain: its store,
    /// port 8082 of the node's host].
    #[arg(long, value_name = "URL")]
    pub blobs: Option<String>,
    /// With `--wait`: write the whole output here (`-`: stdout, instead of the response),
    /// downloading and verifying an `output_ref`.
    #[arg(long, value_name = "FILE", requires = "wait")]
    pub output: Option<String>,
    /// Wait for the response and print it.
    #[arg(long)]
    pub wait: bool,
    /// How long to wait, in seconds (at least 1).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    #[command(flatten)]
    node: NodeArgs,
    /// Signing key (without one, a fresh throwaway key signs the request).
    #[command(flatten)]
    key: KeyArgs,
}

pub(crate) async fn run(args: CallArgs) -> anyhow::Result<ExitCode> {
    let input = call_blobs::input_bytes(&args.input)?;
    let key = args.key.load(true)?;
    let uploader = crate::ledger::crypto::PrivateKey::from_bytes(&key.secret_bytes())?;
    let client = match ChainClient::connect(&args.node.node, key).await {
        Ok(c) => c,
        // Without a store the input could not be sent anyway: say that, not the node's error.
        Err(_) if args.blobs.is_none() && call_blobs::needs_ref(&input) => {
            anyhow::bail!("{}", call_blobs::no_store(&input))
        }
        Err(e) => return Err(e.into()),
    };
    let dev_chain = (args.app.is_none()
        || (args.blobs.is_none() && input.len() > call_blobs::INLINE_INPUT_BYTES))
        && super::common::dev_chain_key(client.rpc()).await.is_some();
    let app = super::common::app_or_dev(args.app.clone(), dev_chain, &args.node.node)?;
    let t = Instant::now();
    // The code hash as of the request: read just before it is sent.
    let check = if args.wait {
        Some(CallCheck::before_request(client.rpc(), &app, &args.function).await?)
    } else {
        None
    };
    let base = call_blobs::blobs_base(args.blobs.as_deref(), &args.node.node, dev_chain);
    let sent = match call_blobs::prepare(input.clone(), base.as_deref(), &uploader).await? {
        call_blobs::Input::Inline(text) => client.call(&app, &args.function, &text).await,
        call_blobs::Input::Ref(r) => {
            Ok(call_blobs::send_ref(&client, &app, &args.function, &r).await?)
        }
    };
    let (call_id, tx) = match sent {
        Ok(r) => r,
        Err(
            e @ ClientError::Refused {
                code: Some(crate::ledger::rpc::codes::EVAL_RULE_FALSE_WRITE_RULE_EVAL),
                ..
            },
        ) => {
            // The chain's refusal is a raw rule; name the usual cause when the state shows it.
            let admins = get_value(client.rpc(), &AppPaths::new(&app)?.admin_config()).await;
            if matches!(admins, Ok(Value::Null)) {
                anyhow::bail!(
                    "app `{app}` does not exist on the chain at {} (ain-sre deploy DIR --app {app} --fn NAME creates it)",
                    args.node.node
                );
            }
            return Err(anyhow::Error::new(e).context(format!(
                "the chain's rules refused the request for {app}/{}: the function admits only its allowed callers (deploy --callers), and this key ({}) is not one",
                args.function,
                client.address()
            )));
        }
        Err(e) => return Err(e.into()),
    };
    println!("call:    {}/{}/{call_id}", app, args.function);
    println!("request: {tx} (from {})", client.address());
    let Some(check) = check else {
        return Ok(ExitCode::SUCCESS);
    };
    let resp = match wait_response(
        client.rpc(),
        &app,
        &args.function,
        &call_id,
        Duration::from_secs(args.timeout),
    )
    .await
    {
        Ok(r) => r,
        Err(ClientError::Timeout(d)) => {
            let why = why_no_response(client.rpc(), &app, &args.function).await;
            anyhow::bail!("no response within {} s: {why}", d.as_secs());
        }
        Err(e) => return Err(e.into()),
    };
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let to_stdout = args.output.as_deref() == Some("-");
    if to_stdout {
        eprintln!("{}", serde_json::to_string_pretty(&resp)?);
    } else {
        println!("{}", serde_json::to_string_pretty(&resp)?);
    }
    let status = resp["status"].as_str().unwrap_or("?");
    let failed = check.check(client.rpc(), &resp, tx, &input).await?;
    let mut output_failed = None;
    if let Some(dest) = &args.output {
        match call_blobs::whole_output(&resp).await {
            Ok(bytes) => {
                call_blobs::write_output(dest, &bytes)?;
                if !to_stdout {
                    println!(
                        "output: {} bytes written to {dest} (hash verified)",
                        bytes.len()
                    );
                }
            }
            Err(e) => output_failed = Some(format!("{e:#}")),
        }
    }
    // With the output on stdout, the summary goes to stderr.
    let say = |line: String| {
        if to_stdout {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    if let Some(e) = &output_failed {
        say(format!("OUTPUT NOT WRITTEN: {e}"));
    }
    if let Some(e) = resp["receipt"].get("egress") {
        match serde_json::from_value::<crate::egress::EgressSummary>(e.clone()) {
            Ok(e) => say(format!("egress: {}", e.line())),
            Err(_) => say(format!("egress: {e}")),
        }
    }
    if failed.is_empty() {
        say(format!(
            "status {status} in {ms:.1} ms; verified: writer {} is an approved worker, the receipt names the request tx, the input hash and the code hash {}",
            resp["receipt"]["worker"].as_str().unwrap_or("?"),
            check.code_hash().unwrap_or("(no function)")
        ));
    } else {
        say(format!(
            "status {status} in {ms:.1} ms; VERIFICATION FAILED, do not trust this response:"
        ));
        for m in &failed {
            say(format!("  - {m}"));
        }
    }
    Ok(
        if status == "ok" && failed.is_empty() && output_failed.is_none() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
}

/// Why a call got no response, as far as the chain tells: the function or the app is missing,
/// or no worker may answer it (see [`no_worker_reason`]); else that workers exist and the call
/// may only be slow.
pub(crate) async fn why_no_response(
    rpc: &crate::ledger::rpc::RpcClient,
    app: &str,
    function: &str,
) -> String {
    let Ok(paths) = AppPaths::new(app) else {
        return format!("`{app}` is not a valid app name");
    };
    let spec = match get_value(rpc, &paths.function(function)).await {
        Ok(Value::Null) => {
            return format!(
                "app `{app}` has no function `{function}` (ain-sre functions list --app {app})"
            );
        }
        Ok(v) => match FunctionSpec::from_value(&v) {
            Ok(s) => s,
            Err(e) => return format!("the function's spec is unreadable: {e}"),
        },
        Err(e) => return format!("cannot read the function's spec: {e}"),
    };
    let workers = match AppWorkers::fetch(rpc, app).await {
        Ok(w) => w,
        Err(e) => return format!("cannot read the app's workers: {e}"),
    };
    no_worker_reason(&workers, app, &spec.runtime, spec.profile(), crate::call::now_ms())
        .unwrap_or_else(|| {
            format!(
                "a live worker of app `{app}` serves runtime {} (profile {}); the call may be queued or slow: wait longer (--timeout) or look at the worker's log",
                spec.runtime,
                spec.profile()
            )
        })
}

/// Why no worker of the app `w` would answer a call of `runtime` under `profile` at `now_ms`,
/// or `None` when one would (the same test the fleet's ranking uses: approved or open, offers
/// the runtime and profile, heartbeat within its window, not draining).
pub(crate) fn no_worker_reason(
    w: &AppWorkers,
    app: &str,
    runtime: &str,
    profile: &str,
    now_ms: u64,
) -> Option<String> {
    if !candidates(w, runtime, profile, now_ms, |_| true).is_empty() {
        return None;
    }
    if w.registered.is_empty() {
        return Some(format!(
            "no worker is registered in app `{app}`: start one (ain-sre run --app {app}, with --register) and approve it (ain-sre workers add --app {app} 0xADDRESS)"
        ));
    }
    let allowed: Vec<_> = w
        .registered
        .iter()
        .filter(|(a, _)| w.may_answer(a))
        .collect();
    if allowed.is_empty() {
        return Some(format!(
            "none of the {} registered worker(s) of app `{app}` is approved: ain-sre workers list --app {app}, then ain-sre workers add --app {app} 0xADDRESS",
            w.registered.len()
        ));
    }
    let offering: Vec<_> = allowed
        .iter()
        .filter(|(_, v)| {
            serde_json::from_value::<WorkerEntry>((*v).clone())
                .is_ok_and(|e| e.offers(runtime, profile) && e.capacity > 0)
        })
        .collect();
    if offering.is_empty() {
        return Some(format!(
            "no approved worker of app `{app}` offers runtime {runtime} with profile {profile} (ain-sre workers list --app {app} shows what each offers; ain-sre doctor on a worker's host says why a tier is missing)"
        ));
    }
    let draining = offering
        .iter()
        .filter(|(_, v)| Presence::from_entry(v).draining)
        .count();
    if draining == offering.len() {
        return Some(format!(
            "every worker of app `{app}` that serves runtime {runtime} is draining (stopping)"
        ));
    }
    Some(format!(
        "no worker of app `{app}` that serves runtime {runtime} is live: none has written a heartbeat within its window (ain-sre workers list --app {app} shows when each was last seen)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onchain::WorkerPolicy;
    use serde_json::json;

    #[test]
    fn says_why_no_worker_answers() {
        let a: crate::ledger::crypto::Address = "0x00ADEc28B6a845a085e03591bE7550dd68673C1C"
            .parse()
            .unwrap();
        let now = 1_000_000;
        let entry = |extra: Value| {
            let mut v = json!({"runtimes": {"wasm": true}, "version": "x", "capacity": 4,
                               "last_seen": now - 1000, "heartbeat_ms": 1000});
            for (k, x) in extra.as_object().unwrap() {
                v[k] = x.clone();
            }
            v
        };
        let mut w = AppWorkers {
            policy: WorkerPolicy::Approved,
            ..Default::default()
        };
        let why = |w: &AppWorkers, rt: &str| no_worker_reason(w, "a", rt, "default", now);
        assert!(why(&w, "wasm").unwrap().contains("no worker is registered"));
        w.registered.insert(a, entry(json!({})));
        assert!(why(&w, "wasm").unwrap().contains("is approved"));
        w.approved.insert(a);
        assert_eq!(why(&w, "wasm"), None);
        assert!(
            why(&w, "python3")
                .unwrap()
                .contains("offers runtime python3")
        );
        w.registered.insert(a, entry(json!({"draining": true})));
        assert!(why(&w, "wasm").unwrap().contains("draining"));
        w.registered
            .insert(a, entry(json!({"last_seen": now - 60_000})));
        assert!(why(&w, "wasm").unwrap().contains("is live"));
    }
}
