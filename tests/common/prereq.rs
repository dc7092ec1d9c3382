//! Strict mode for integration tests, shared by the root crate's `tests/common` and
//! `crates/sre-bench/tests/common` (included there by path): `AIN_SRE_STRICT=1`, or `CI=true` as
//! CI sets it, turns every "cannot run here" into a failure; outside it such a test prints a
//! loud SKIP line and returns.

/// True when missing prerequisites must fail tests instead of skipping them.
pub fn strict() -> bool {
    let on = |k: &str| std::env::var(k).is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
    on("AIN_SRE_STRICT") || on("CI")
}

/// Skips (loudly) or fails (in strict mode) a test whose prerequisite is missing.
#[track_caller]
pub fn skip_or_fail(test: &str, why: &str) {
    if strict() {
        panic!("{test}: prerequisite missing in strict mode: {why}");
    }
    eprintln!("\n*** SKIP {test}: {why} (set AIN_SRE_STRICT=1 to make this a failure) ***\n");
}
