//! The checks must be able to fail: each is run against the WASM tier as configured (it passes)
//! and against the same tier with one enforcement deliberately removed (it must fail).

use super::all;
use crate::conformance::{HostContext, Target, Verdict, Weakening, run_one};
use crate::sandbox::any::AnySandbox;
use crate::sandbox::wasm::{WasmConfig, WasmSandbox};

async fn strong_and_weak(id: &str, weakening: Weakening) -> (Verdict, Verdict) {
    strong_and_weak_as(id, weakening, false).await
}

async fn strong_and_weak_as(id: &str, weakening: Weakening, component: bool) -> (Verdict, Verdict) {
    let host = HostContext::new().unwrap();
    let sb = AnySandbox::Wasm(
        WasmSandbox::new(WasmConfig {
            max_concurrency: 4,
            ..WasmConfig::default()
        })
        .unwrap(),
    );
    let def = all().into_iter().find(|d| d.id == id).unwrap();
    let target = || {
        let t = Target::new(&sb, &host);
        if component { t.components() } else { t }
    };
    let strong = run_one(&def, &target()).await;
    let weak = run_one(&def, &target().weakened(weakening)).await;
    (strong, weak)
}

#[tokio::test]
async fn memory_checks_catch_a_tier_that_ignores_the_memory_limit() {
    for id in ["2", "C9"] {
        let (strong, weak) = strong_and_weak(id, Weakening::NoMemoryLimit).await;
        assert!(matches!(strong, Verdict::Pass(_)), "{id}: {strong:?}");
        assert!(
            matches!(&weak, Verdict::Fail(r) if r.contains("over the")),
            "{id}: {weak:?}"
        );
    }
}

#[tokio::test]
async fn cpu_burn_check_catches_a_late_deadline() {
    let (strong, weak) = strong_and_weak("3", Weakening::LateDeadline).await;
    assert!(matches!(strong, Verdict::Pass(_)), "{strong:?}");
    assert!(
        matches!(&weak, Verdict::Fail(r) if r.contains("killed after")),
        "{weak:?}"
    );
}

#[tokio::test]
async fn env_and_secret_checks_catch_a_tier_that_passes_host_variables() {
    for id in ["C6", "8"] {
        let (strong, weak) = strong_and_weak(id, Weakening::NoEnvFilter).await;
        assert!(matches!(strong, Verdict::Pass(_)), "{id}: {strong:?}");
        assert!(matches!(weak, Verdict::Fail(_)), "{id}: {weak:?}");
    }
}

/// The same checks fail on components when the tier does not enforce (the `wasm component`
/// column can fail).
#[tokio::test]
async fn the_checks_catch_a_weakened_tier_on_components_too() {
    for (id, weakening) in [
        ("C9", Weakening::NoMemoryLimit),
        ("3", Weakening::LateDeadline),
        ("C6", Weakening::NoEnvFilter),
    ] {
        let (strong, weak) = strong_and_weak_as(id, weakening, true).await;
        assert!(matches!(strong, Verdict::Pass(_)), "{id}: {strong:?}");
        assert!(matches!(weak, Verdict::Fail(_)), "{id}: {weak:?}");
    }
}

#[test]
fn ids_are_unique_and_cover_security_rows_1_to_24() {
    let defs = all();
    let mut ids: Vec<&str> = defs.iter().map(|d| d.id).collect();
    for n in 1..=24 {
        assert!(
            ids.contains(&n.to_string().as_str()),
            "row {n} has no check"
        );
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), defs.len());
}

#[tokio::test]
async fn secrets_check_catches_a_worker_that_shares_secrets_across_functions() {
    let (strong, weak) = strong_and_weak("34", Weakening::SharedSecrets).await;
    assert!(matches!(strong, Verdict::Pass(_)), "{strong:?}");
    assert!(
        matches!(&weak, Verdict::Fail(r) if r.contains("A's secret")),
        "{weak:?}"
    );
}
