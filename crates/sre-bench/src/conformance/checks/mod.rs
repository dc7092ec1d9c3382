//! The checks: SECURITY.md's abuse suite (rows 1–24: `resources` and `isolation`; 25 and 31:
//! `wasm_host`; 26 and 30: `counters`; 27–29: `supervisor`) and the functional contract
//! (`contract`); 32: `egress`; 34: `fn_secrets`, each an async function from a
//! [`Target`] to a [`Verdict`].
//!
//! Programs are embedded from `conformance/py/` (process and container tiers; probes get
//! `prelude.py` prepended and a JSON context on stdin) and `conformance/wat/` (WASM tier).

use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use serde_json::{Value, json};

use super::{Target, Verdict};
use crate::sandbox::{FunctionCode, Limits, Outcome, Tier};

mod contract;
mod counters;
mod egress;
mod fn_secrets;
mod isolation;
mod resources;
mod supervisor;
mod wasm_host;

pub use supervisor::{PRIVATE_IMAGE, VOLUME_IMAGE};

/// A Python program of `conformance/py/`.
macro_rules! py {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/conformance/py/",
            $name,
            ".py"
        ))
    };
}

/// A WebAssembly text module of `conformance/wat/`.
macro_rules! wat {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/conformance/wat/",
            $name,
            ".wat"
        ))
    };
}

pub(crate) use {py, wat};

/// What a check runs.
pub type CheckFn = for<'a> fn(&'a Target<'a>) -> LocalBoxFuture<'a, Verdict>;

/// One check: its table row and its code.
pub struct CheckDef {
    /// SECURITY.md row number, or `C<n>` for the contract.
    pub id: &'static str,
    /// Short name.
    pub name: &'static str,
    /// Runs the check on one tier.
    pub run: CheckFn,
}

macro_rules! defs {
    ($($id:literal $name:literal => $f:path),* $(,)?) => {
        vec![$(CheckDef { id: $id, name: $name, run: |t| Box::pin($f(t)) }),*]
    };
}

/// Every check, in table order.
pub fn all() -> Vec<CheckDef> {
    defs![
        "1" "fork and thread bomb" => resources::fork_bomb,
        "2" "memory bomb" => resources::memory_bomb,
        "3" "CPU burn" => resources::cpu_burn,
        "4" "escape the deadline" => resources::time_bomb,
        "5" "disk fill" => resources::disk_fill,
        "6" "huge output" => resources::huge_output,
        "7" "network egress" => isolation::egress,
        "8" "host secrets" => isolation::secrets,
        "9" "ptrace" => isolation::ptrace,
        "10" "mount/unshare/setns" => isolation::namespaces,
        "11" "raw sockets" => isolation::raw_sockets,
        "12" "/proc and /sys" => isolation::proc_sys,
        "13" "privilege escalation" => isolation::privileges,
        "14" "kernel keyring" => isolation::keyring,
        "15" "io_uring" => isolation::io_uring,
        "16" "kernel attack surface" => isolation::kernel,
        "17" "terminal injection" => isolation::tty,
        "18" "signals to others" => isolation::signals,
        "19" "cross-call residue" => isolation::residue,
        "20" "output collection" => isolation::output_links,
        "21" "devices" => isolation::devices,
        "22" "clock manipulation" => isolation::clock,
        "23" "side channels" => isolation::side_channels,
        "24" "malformed code" => resources::malformed,
        "25" "compile-time bombs" => wasm_host::compile_bombs,
        "26" "host-wide kernel counters" => counters::host_counters,
        "27" "image-declared volumes" => supervisor::image_volumes,
        "28" "reaching the supervisor" => supervisor::supervisor,
        "29" "resources the function does not own" => supervisor::not_owned,
        "30" "submounts below read-only binds" => counters::submounts,
        "31" "host memory outside the limit" => wasm_host::host_tables,
        "32" "egress beyond the allow-list" => egress::egress_proxy,
        "34" "another function's secrets" => fn_secrets::other_functions_secrets,
        "C1" "stdin to stdout" => contract::stdin_stdout,
        "C2" "exit codes" => contract::exit_codes,
        "C3" "output cap" => contract::output_cap,
        "C4" "stderr tail" => contract::stderr_tail,
        "C5" "usage reporting" => contract::usage,
        "C6" "env isolation" => contract::env,
        "C7" "fresh state per call" => contract::fresh_state,
        "C8" "timeout" => contract::timeout,
        "C9" "out of memory" => contract::oom,
        "C10" "guest crash" => contract::crash,
    ]
}

/// Result of a check body: `Ok(observation)` passes, `Err(reason)` fails.
type Res = Result<String, String>;

/// The verdict of a check body.
fn verdict(r: Res) -> Verdict {
    r.into()
}

/// Fails with `why` unless `cond`.
fn ensure(cond: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if cond { Ok(()) } else { Err(why()) }
}

/// The limits most calls use: the default profile, with room for a cold container start.
fn limits() -> Limits {
    Limits {
        wall_time: Duration::from_secs(10),
        cpu_time: Duration::from_secs(10),
        ..Limits::default()
    }
}

/// Python source run as-is.
fn py_code(src: &str) -> FunctionCode {
    FunctionCode::new("python3", src.as_bytes().to_vec())
}

/// A WebAssembly text module.
fn wat_code(src: &str) -> FunctionCode {
    FunctionCode::new("wasm", src.as_bytes().to_vec())
}

/// The program for this tier: Python on process/container, WAT on WASM.
fn pick(t: &Target<'_>, py: &str, wat: &str) -> FunctionCode {
    match t.tier {
        Tier::Wasm => wat_code(wat),
        _ => py_code(py),
    }
}

/// A short description of an outcome for failure messages.
fn describe(o: &Outcome) -> String {
    let (stderr, exit) = match o {
        Outcome::Completed {
            exit_code,
            stderr_tail,
            ..
        } => (stderr_tail, format!(" exit {exit_code}")),
        Outcome::Failed {
            failure,
            stderr_tail,
            ..
        } => (stderr_tail, format!(" ({failure:?})")),
    };
    let text = String::from_utf8_lossy(stderr);
    let last = text.trim_end().lines().last().unwrap_or("").to_owned();
    let mut s = format!("status {}{exit}", o.status());
    if !last.is_empty() {
        s.push_str(&format!(", stderr: {}", clip(&last, 160)));
    }
    s
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        s.chars().take(n).collect::<String>() + "…"
    }
}

/// Stdout of a call that completed with exit code 0.
fn stdout_ok(o: &Outcome) -> Result<&[u8], String> {
    match o {
        Outcome::Completed {
            exit_code: 0,
            stdout,
            ..
        } => Ok(stdout),
        other => Err(format!("expected a clean exit, got {}", describe(other))),
    }
}

/// Runs a probe (prelude + `src`) with the host context plus `extra` on stdin; the probe must
/// complete and report no breach. Returns its `info`.
async fn probe(t: &Target<'_>, src: &str, extra: Value, l: Limits) -> Result<Value, String> {
    probe_result(&run_probe(t, src, extra, l).await?)
}

/// Runs a probe and returns its outcome, whatever it is.
async fn run_probe(t: &Target<'_>, src: &str, extra: Value, l: Limits) -> Result<Outcome, String> {
    run_probe_with(t, src, extra, l, Vec::new()).await
}

/// [`run_probe`] with call-specific variables (`SRE_FUNCTION`, `SRE_SECRET_*`) in its
/// environment.
async fn run_probe_with(
    t: &Target<'_>,
    src: &str,
    extra: Value,
    l: Limits,
    env: Vec<(String, String)>,
) -> Result<Outcome, String> {
    let mut ctx = json!({
        "marker": t.host.marker,
        "secret": t.host.secret,
        "key": t.host.key_file,
        "daemon": std::process::id(),
    });
    if let (Some(c), Value::Object(e)) = (ctx.as_object_mut(), extra) {
        c.extend(e);
    }
    let code = py_code(&format!("{}\n{src}", py!("prelude")));
    t.run_with(&code, ctx.to_string().as_bytes(), l, env).await
}

/// The `info` of a probe that completed without breaches.
fn probe_result(out: &Outcome) -> Result<Value, String> {
    let stdout = stdout_ok(out)?;
    let v: Value = serde_json::from_slice(stdout).map_err(|e| {
        format!(
            "probe output is not its report ({e}): {}",
            clip(&String::from_utf8_lossy(stdout), 200)
        )
    })?;
    match v["breaches"].as_array() {
        Some(b) if b.is_empty() => Ok(v["info"].clone()),
        Some(b) => Err(format!(
            "breached: {}",
            b.iter()
                .map(|x| x.as_str().unwrap_or("?"))
                .collect::<Vec<_>>()
                .join("; ")
        )),
        None => Err("probe report has no breach list".into()),
    }
}

/// Not applicable on the WASM tier, with the reason.
fn wasm_na(t: &Target<'_>, why: &str) -> Option<Verdict> {
    (t.tier == Tier::Wasm).then(|| Verdict::NotApplicable(why.to_owned()))
}

/// The module must be refused at prepare time with a message containing `want`.
async fn rejected(t: &Target<'_>, code: &FunctionCode, want: &str) -> Res {
    match t.prepare(code).await {
        Ok(()) => Err("the module was accepted".into()),
        Err(e) if e.contains(want) => Ok(format!("refused at prepare: {}", clip(&e, 120))),
        Err(e) => Err(format!("refused for another reason: {e}")),
    }
}

#[cfg(test)]
mod tests;
