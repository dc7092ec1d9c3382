//! e. Runtime and profile files (target `config_load`).

use std::path::Path;

use serde_json::{Map, Value, json};
use sre_sandbox::config::profiles::Profile;
use sre_sandbox::config::runtimes::Runtime;
use sre_sandbox::{NetworkPolicy, Tier};

/// The first byte picks the loader (even: runtime, odd: profile), the rest is the file text.
/// A refusal is an error naming the file; an accepted file meets every documented invariant and
/// renders back to TOML that loads to the same value.
pub fn config_load(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if selector.is_multiple_of(2) {
        match Runtime::parse("fuzz.toml", text) {
            Ok(rt) => check_runtime(&rt),
            Err(e) => assert!(e.to_string().contains("fuzz.toml"), "{e}"),
        }
    } else {
        match Profile::parse("fuzz.toml", text) {
            Ok(p) => check_profile(&p),
            Err(e) => assert!(e.to_string().contains("fuzz.toml"), "{e}"),
        }
    }
}

fn check_runtime(rt: &Runtime) {
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    };
    assert!(
        name_ok(&rt.name) && rt.aliases.iter().all(|a| name_ok(a)),
        "{rt:?}"
    );
    assert!(!rt.tiers.is_empty(), "{rt:?}");
    for (i, t) in rt.tiers.iter().enumerate() {
        assert!(!rt.tiers[..i].contains(t), "tier twice: {rt:?}");
    }
    assert!(
        !rt.source_file.is_empty()
            && !rt.source_file.contains('/')
            && !rt.source_file.starts_with('.'),
        "{rt:?}"
    );
    assert!(
        rt.process_binds
            .iter()
            .all(|b| b.is_absolute()
                && !b.components().any(|c| c == std::path::Component::ParentDir)),
        "{rt:?}"
    );
    if rt.tiers.contains(&Tier::Process) {
        assert!(rt.command.iter().any(|a| a.contains("{source}")), "{rt:?}");
    }
    let mut t = toml::Table::new();
    t.insert("name".into(), rt.name.clone().into());
    t.insert("aliases".into(), rt.aliases.clone().into());
    let tiers: Vec<String> = rt.tiers.iter().map(|t| t.as_str().to_owned()).collect();
    t.insert("tiers".into(), tiers.into());
    t.insert("source_file".into(), rt.source_file.clone().into());
    t.insert("command".into(), rt.command.clone().into());
    if !rt.process_binds.is_empty() || rt.tiers.contains(&Tier::Process) {
        let binds: Vec<String> = rt.process_binds.iter().map(|b| path_text(b)).collect();
        let mut p = toml::Table::new();
        p.insert("binds".into(), binds.into());
        t.insert("process".into(), p.into());
    }
    if let Some(image) = &rt.image {
        let mut c = toml::Table::new();
        c.insert("image".into(), image.clone().into());
        t.insert("container".into(), c.into());
    }
    let text = toml::to_string(&t).expect("a runtime renders");
    let back = Runtime::parse("fuzz.toml", &text)
        .unwrap_or_else(|e| panic!("a rendered runtime does not load ({e}):\n{text}"));
    assert_eq!(&back, rt, "runtime round trip:\n{text}");
}

fn path_text(p: &Path) -> String {
    p.to_str()
        .expect("a path read from TOML is UTF-8")
        .to_owned()
}

fn check_profile(p: &Profile) {
    let l = &p.limits;
    let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).expect("limits fit u64 ms");
    assert!((1..=3_600_000).contains(&ms(l.wall_time)), "{p:?}");
    assert!((1..=3_600_000).contains(&ms(l.cpu_time)), "{p:?}");
    assert!((1 << 20..=65_536 << 20).contains(&l.memory_bytes), "{p:?}");
    assert!((1..=4096).contains(&l.pids), "{p:?}");
    assert!((1..=64 << 20).contains(&l.output_bytes), "{p:?}");
    assert!(
        l.stderr_bytes <= 16 << 20 && l.tmpfs_bytes <= 65_536 << 20,
        "{p:?}"
    );
    assert_eq!(l.network, NetworkPolicy::None, "{p:?}");
    assert_ne!(l.fuel, Some(0), "{p:?}");
    let mut t = Map::new();
    t.insert("description".into(), json!(p.description));
    t.insert("wall_time_ms".into(), json!(ms(l.wall_time)));
    t.insert("cpu_time_ms".into(), json!(ms(l.cpu_time)));
    t.insert("memory_mb".into(), json!(l.memory_bytes >> 20));
    t.insert("pids".into(), json!(l.pids));
    t.insert("output_bytes".into(), json!(l.output_bytes));
    t.insert("stderr_bytes".into(), json!(l.stderr_bytes));
    t.insert("tmpfs_mb".into(), json!(l.tmpfs_bytes >> 20));
    t.insert("network".into(), json!("none"));
    if let Some(f) = l.fuel {
        // TOML integers are i64: a larger fuel cannot be written, so it cannot round-trip.
        if i64::try_from(f).is_err() {
            return;
        }
        t.insert("fuel".into(), json!(f));
    }
    let text = toml::to_string(&Value::Object(t)).expect("a profile renders");
    let back = Profile::parse("fuzz.toml", &text)
        .unwrap_or_else(|e| panic!("a rendered profile does not load ({e}):\n{text}"));
    assert_eq!(&back, p, "profile round trip:\n{text}");
}
