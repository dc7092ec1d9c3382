//! `ain-sre conformance` against every tier of this host: the whole suite in-process (no check
//! may fail; in strict mode every tier must be available), then the CLI once with `--json`
//! (`ain-sre conformance`, which runs `ain-sre-bench conformance`).

mod common;

use std::time::Instant;

use ain_sre::config::runtimes::RuntimeCatalog;
use ain_sre::sandbox::Tier;
use ain_sre::sandbox::any::Tiers;
use sre_bench::conformance::{self, Options, Verdict};

/// The in-process run and the CLI run use the same cgroup parent and uid range: one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Failures known on this branch, each with its reason. A known failure that starts passing
/// fails this test, so the entry is removed when the fix lands.
const KNOWN: &[(&str, Tier, &str)] = &[];

fn known(id: &str, tier: Tier) -> Option<&'static str> {
    KNOWN
        .iter()
        .find(|(i, t, _)| *i == id && *t == tier)
        .map(|(_, _, why)| *why)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_available_tier_passes_every_check() {
    let _one = ONE_AT_A_TIME.lock().await;
    // AIN_SRE_RUNTIMES_DIR: runtime files overriding the shipped ones (runtime images under a
    // private tag when several builds share one Docker engine).
    let runtimes = std::env::var_os("AIN_SRE_RUNTIMES_DIR")
        .map(|d| RuntimeCatalog::load(Some(std::path::Path::new(&d))).unwrap());
    let mut config = conformance::tier_config(runtimes);
    config.process.jail_exe = Some(common::bench_exe().with_file_name("ain-sre-jail"));
    let tiers = Tiers::start(config).await;
    let mut options = Options {
        strict: common::strict(),
        ..Options::default()
    };
    for t in options.tiers.clone() {
        if let Err(e) = tiers.get(t) {
            common::skip_or_fail("conformance", &format!("{t} tier: {e}"));
            options.tiers.retain(|x| *x != t);
        }
    }
    let started = Instant::now();
    let report = conformance::run(&tiers, &options).await;
    tiers.shutdown().await;
    let report = report.unwrap();
    eprintln!("{}", report.table());
    eprintln!("conformance wall time: {:?}", started.elapsed());
    let mut unexpected = Vec::new();
    for row in &report.rows {
        // The WASM rows run on components too (the `wasm component` column).
        assert_eq!(
            row.component.is_some(),
            options.tiers.contains(&Tier::Wasm),
            "{}",
            row.id
        );
        for cell in row.cells.iter().chain(&row.component) {
            match (&cell.verdict, known(&row.id, cell.tier)) {
                (Verdict::Fail(why), None) => {
                    unexpected.push(format!("{} {} on {}: {why}", row.id, row.name, cell.tier))
                }
                (Verdict::Pass(_), Some(why)) => unexpected.push(format!(
                    "{} on {} passes now: remove it from KNOWN ({why})",
                    row.id, cell.tier
                )),
                _ => {}
            }
            if let Verdict::Unavailable(why) = &cell.verdict {
                common::skip_or_fail("conformance", &format!("{} tier: {why}", cell.tier));
                break;
            }
            // Only the checks that state why may be n/a.
            if let Verdict::NotApplicable(why) = &cell.verdict {
                assert!(!why.is_empty(), "{} on {}", row.id, cell.tier);
            }
        }
    }
    assert!(unexpected.is_empty(), "{}", unexpected.join("\n"));
    // Every SECURITY.md row and the contract checks were run on every tested tier.
    assert_eq!(report.rows.len(), conformance::checks::all().len());
    assert!(
        report
            .rows
            .iter()
            .all(|r| r.cells.len() == options.tiers.len())
    );
}

#[tokio::test]
async fn the_cli_prints_the_same_report_as_json() {
    let _one = ONE_AT_A_TIME.lock().await;
    // The WASM tier needs no privileges, so this runs everywhere; the tiers above cover the rest.
    // Through `ain-sre`, which execs `ain-sre-bench`: its stdout, stderr and exit status are
    // this command's.
    let Some(ain_sre) = common::ain_sre("the_cli_prints_the_same_report_as_json") else {
        return;
    };
    let out = tokio::process::Command::new(ain_sre)
        .args(["conformance", "--tier", "wasm", "--json"])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{stderr}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(v["tiers"], serde_json::json!(["wasm"]));
    let checks = v["checks"].as_array().unwrap();
    assert_eq!(checks.len(), conformance::checks::all().len());
    let mut failed = 0;
    for c in checks {
        let cell = &c["cells"]["wasm"];
        let result = cell["result"].as_str().unwrap();
        let id = c["id"].as_str().unwrap();
        if result == "FAIL" {
            failed += 1;
        }
        let want: &[&str] = match known(id, Tier::Wasm) {
            Some(_) => &["FAIL"],
            None => &["pass", "n/a"],
        };
        assert!(want.contains(&result), "{c}");
        assert!(cell["ms"].is_u64() && cell["reason"].is_string(), "{c}");
        // The same row with its module run as a component.
        let component = c["cells"]["wasm-component"]["result"]
            .as_str()
            .unwrap_or("missing");
        if component == "FAIL" {
            failed += 1;
        }
        assert!(["pass", "n/a"].contains(&component), "{c}");
        // The contract holds on components as on modules.
        if id.starts_with('C') {
            assert_eq!(component, "pass", "{c}");
        }
    }
    assert_eq!(v["failures"], failed);
    // Exit status 1 exactly when a check failed.
    assert_eq!(
        out.status.success(),
        failed == 0,
        "{:?}: {stderr}",
        out.status
    );
    // The memory bomb has a WASM form; the fork bomb has none.
    let cell = |id: &str| {
        checks.iter().find(|c| c["id"] == id).unwrap()["cells"]["wasm"]["result"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(cell("2"), "pass");
    assert_eq!(cell("1"), "n/a");
    // One progress line per check on stderr.
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.starts_with("conformance: wasm"))
            .count(),
        checks.len(),
        "{stderr}"
    );
}
