//! Rows 25 and 31: costs a module imposes on the host before or beside its own limits — the
//! compiler's time and memory (row 25) and WASI's host-side tables (row 31). Both are WASM-only:
//! on the process and container tiers the interpreter compiles and allocates inside the guest,
//! under the call's own CPU, memory and time limits (rows 2–4).

use std::time::{Duration, Instant};

use super::{clip, describe, ensure, limits, rejected, verdict, wat};
use crate::conformance::{Target, Verdict};
use crate::sandbox::wasm::shape::bombs;
use crate::sandbox::{FunctionCode, Outcome, Tier};

/// Not applicable outside the WASM tier, with the reason.
fn only_wasm(t: &Target<'_>, why: &str) -> Option<Verdict> {
    (t.tier != Tier::Wasm).then(|| Verdict::NotApplicable(why.to_owned()))
}

/// How long a refusal may take: the shape check is one linear pass over a small module.
const PROMPT: Duration = Duration::from_secs(2);

/// Row 25: compile bombs are refused, naming the limit, without compiling them; a refused
/// module is answered from memory the second time.
pub(super) async fn compile_bombs(t: &Target<'_>) -> Verdict {
    if let Some(v) = only_wasm(
        t,
        "the interpreter compiles inside the guest, under the call's own CPU, memory and time \
         limits (rows 2-4)",
    ) {
        return v;
    }
    verdict(
        async {
            let mut seen = Vec::new();
            // Issue 14's bombs: 96 KB of nested loops x locals (minutes at gigabytes when it
            // reached the compiler), 26 KB of the same (94 s / 584 MB), 200,000 functions.
            let bombs = [
                (
                    "4,096 loops x 20,000 locals",
                    bombs::nested_loops(4096, 20_000),
                    "limit",
                ),
                (
                    "2,048 loops x 5,000 locals",
                    bombs::nested_loops(2048, 5_000),
                    "limit",
                ),
                (
                    "1,024 loops x 2,000 locals",
                    bombs::nested_loops(1024, 2_000),
                    "limit",
                ),
                ("200,000 functions", bombs::many_functions(200_000), "limit"),
            ];
            for (what, module, want) in bombs {
                let code = FunctionCode::new("wasm", module);
                let started = Instant::now();
                rejected(t, &code, want)
                    .await
                    .map_err(|e| format!("{what}: {e}"))?;
                let took = started.elapsed();
                ensure(took < PROMPT, || format!("refusing {what} took {took:?}"))?;
                seen.push(format!("{what} in {} ms", took.as_millis()));
            }
            let forbidden = FunctionCode::new("wasm", wat!("forbidden_import").as_bytes().to_vec());
            let started = Instant::now();
            rejected(t, &forbidden, "path_open").await?;
            let first = started.elapsed();
            let started = Instant::now();
            rejected(t, &forbidden, "path_open").await?;
            let second = started.elapsed();
            ensure(second < Duration::from_millis(50), || {
                format!("a refused module took {second:?} to refuse again")
            })?;
            Ok(format!(
                "refused naming the limit: {}; forbidden import refused in {} ms, again in {} us",
                seen.join(", "),
                first.as_millis(),
                second.as_micros()
            ))
        }
        .await,
    )
}

/// Resident set of this process in KiB (the WASM tier runs in it).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * 4)
        .unwrap_or(0)
}

/// Row 31: one `poll_oneoff` with 500,000 subscriptions must fail (EINVAL) or trap, not make
/// the host allocate for every one of them.
pub(super) async fn host_tables(t: &Target<'_>) -> Verdict {
    if let Some(v) = only_wasm(
        t,
        "the guest's host-side objects are its own kernel and interpreter memory, inside the \
         call's memory limit (row 2)",
    ) {
        return v;
    }
    verdict(
        async {
            let code = FunctionCode::new("wasm", wat!("poll_flood").as_bytes().to_vec());
            let before = rss_kib();
            let out = t.run(&code, b"", limits()).await?;
            let grew = rss_kib().saturating_sub(before) / 1024;
            match &out {
                // 28 is WASI's EINVAL: refused before the host allocated anything.
                Outcome::Completed { exit_code: 28, .. } => Ok(format!(
                    "500,000 subscriptions refused with EINVAL (worker RSS +{grew} MB)"
                )),
                Outcome::Failed { .. } => Ok(format!(
                    "500,000 subscriptions failed the call: {} (worker RSS +{grew} MB)",
                    clip(&describe(&out), 100)
                )),
                other => Err(format!(
                    "500,000 subscriptions were polled ({}), worker RSS +{grew} MB",
                    describe(other)
                )),
            }
        }
        .await,
    )
}
