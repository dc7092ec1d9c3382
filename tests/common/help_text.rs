//! Help text as the snapshots keep it: shared by `tests/cli_help.rs` and
//! `crates/sre-bench/tests/cli_help.rs`, which check the same snapshot files.
#![allow(unreachable_pub)]

/// `[env: NAME=value]` shows the variable's current value: keep the name only.
pub fn without_env_values(help: &str) -> String {
    let mut out = String::with_capacity(help.len());
    let mut rest = help;
    while let Some(i) = rest.find("[env: ") {
        let (head, tail) = rest.split_at(i + "[env: ".len());
        out.push_str(head);
        let end = tail.find(']').unwrap_or(tail.len());
        let inner = &tail[..end];
        out.push_str(inner.split('=').next().unwrap_or(inner));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}
