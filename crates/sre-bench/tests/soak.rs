//! A short soak (about 75 s of load): mixed calls on every available tier while the workers are
//! killed and restarted and the chain is restarted; no duplicate, no lost call, no leak, flat
//! worker memory. The judgement itself is unit-tested (`bench::soak::tally`) with reports that
//! must fail.

mod common;

use std::time::Duration;

use sre_bench::bench::soak::{SoakConfig, render, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_soak_is_clean() {
    let Some(exe) = common::ain_sre("short_soak_is_clean") else {
        return;
    };
    let mut cfg = SoakConfig::for_duration(Duration::from_secs(75));
    cfg.exe = Some(exe);
    // Debug-build workers on a shared 2-core host: a lighter load than the CLI's default.
    cfg.rate = 12.0;
    cfg.drain = Duration::from_secs(45);
    let report = run(cfg).await.expect("the soak runs");
    eprintln!("{}", render(&report));
    if common::strict() {
        assert!(
            report.notes.is_empty(),
            "a tier was not exercised: {:?}",
            report.notes
        );
        for f in ["soak/echo", "soak/py", "soak/sh", "soakc/py"] {
            let row = report.calls.by_function.get(f);
            assert!(
                row.is_some_and(|r| r.by_outcome.keys().any(|k| k.starts_with("ok on "))),
                "{f} was never answered `ok`: {:?}",
                report.calls.by_function
            );
        }
    } else if !report.notes.is_empty() {
        common::skip_or_fail(
            "short_soak_is_clean (container part)",
            &report.notes.join("; "),
        );
    }
    assert!(report.worker_restarts >= 3, "{}", report.worker_restarts);
    assert!(report.chain_restarts >= 1, "{}", report.chain_restarts);
    assert!(report.failures.is_empty(), "{:?}", report.failures);
}
