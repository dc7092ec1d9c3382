//! Which runtimes a worker offers in its registry entry follows which tiers its host runs
//! (`scheduler::capable::entry` over `sandbox::any::Tiers`): moved here from `sre-sandbox`'s unit
//! tests when the sandbox became its own crate (the scheduler is above it).

use ain_sre::config::runtimes::{Runtime, RuntimeCatalog};
use ain_sre::sandbox::any::{TierConfig, Tiers};
use ain_sre::sandbox::{Sandbox, Tier};

fn ghost_runtime() -> Runtime {
    Runtime::parse(
        "ghost.toml",
        "name = \"ghost\"\ntiers = [\"process\"]\nsource_file = \"main.gh\"\n\
         command = [\"/nonexistent/ain-sre-ghost\", \"{source}\"]\n[process]\nbinds = []\n",
    )
    .unwrap()
}

#[tokio::test]
async fn a_runtime_whose_interpreter_is_missing_is_not_served_or_advertised() {
    let tiers = Tiers::start(TierConfig {
        disabled: vec![Tier::Container],
        ..TierConfig::default()
    })
    .await;
    if let Err(e) = tiers.get(Tier::Process) {
        let why = format!("the process tier is not available here: {e}");
        assert!(!ain_sre::sandbox::strict_from_env(), "strict mode: {why}");
        eprintln!(
            "SKIPPED a_runtime_whose_interpreter_is_missing_is_not_served_or_advertised: {why}"
        );
        return;
    }
    let ghost = ghost_runtime();
    let err = tiers.choose(&ghost, None).err().unwrap().to_string();
    assert!(
        err.contains("process: /nonexistent/ain-sre-ghost is not installed"),
        "{err}"
    );
    let err = tiers
        .choose(&ghost, Some(Tier::Process))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("is not installed"), "{err}");
    // `native` still is served on the process tier.
    let cat = RuntimeCatalog::shipped().unwrap();
    assert_eq!(
        tiers
            .choose(&cat.resolve("native").unwrap(), None)
            .unwrap()
            .tier(),
        Tier::Process
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ghost.toml"),
        "name = \"ghost\"\ntiers = [\"process\"]\nsource_file = \"main.gh\"\n\
         command = [\"/nonexistent/ain-sre-ghost\", \"{source}\"]\n[process]\nbinds = []\n",
    )
    .unwrap();
    let entry = ain_sre::scheduler::capable::entry(
        &tiers,
        &RuntimeCatalog::load(Some(dir.path())).unwrap(),
        &ain_sre::config::profiles::ProfileCatalog::shipped().unwrap(),
        1,
        true,
    );
    assert!(!entry.runtimes.contains_key("ghost"), "{entry:?}");
    assert_eq!(entry.runtimes.get("native"), Some(&true), "{entry:?}");
    tiers.shutdown().await;
}

#[tokio::test]
async fn disabled_tiers_are_unavailable_and_left_out_of_the_registry_entry() {
    let tiers = Tiers::start(TierConfig {
        disabled: vec![Tier::Wasm, Tier::Container, Tier::Process],
        ..TierConfig::default()
    })
    .await;
    let err = tiers.get(Tier::Wasm).err().unwrap().to_string();
    assert!(err.contains("disabled by the operator"), "{err}");
    let entry = ain_sre::scheduler::capable::entry(
        &tiers,
        &RuntimeCatalog::shipped().unwrap(),
        &ain_sre::config::profiles::ProfileCatalog::shipped().unwrap(),
        1,
        true,
    );
    assert!(entry.runtimes.is_empty(), "{entry:?}");
    assert_eq!(entry.profiles.get("default"), Some(&true));
}
