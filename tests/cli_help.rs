//! Every subcommand's `--help`, checked against `tests/snapshots/help/`, so help text cannot
//! change (or lose a default, an environment variable, an explanation) without a reviewed diff.
//! After an intended change: `AIN_SRE_UPDATE_SNAPSHOTS=1 cargo test --test cli_help`, then
//! review the changed files.

use std::path::PathBuf;

use clap::CommandFactory;

/// Subcommands `ain-sre` passes to `ain-sre-bench`: their help is that binary's, and
/// `crates/sre-bench/tests/cli_help.rs` checks it against the same snapshot files.
const FORWARDED: &[&str] = &["ain-sre-bench", "ain-sre-conformance"];

#[path = "common/help_text.rs"]
mod help_text;
use help_text::without_env_values;

fn collect(cmd: &mut clap::Command, path: &str, out: &mut Vec<(String, String)>) {
    let help = cmd.render_long_help().to_string();
    out.push((path.to_owned(), without_env_values(&help)));
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .filter(|n| n != "help")
        .collect();
    for name in names {
        let sub = cmd.find_subcommand_mut(&name).expect("listed");
        let sub_path = format!("{path}-{name}");
        if !FORWARDED.contains(&sub_path.as_str()) {
            collect(sub, &sub_path, out);
        }
    }
}

#[test]
fn every_subcommands_help_matches_its_snapshot() {
    let mut cmd = ain_sre::cli::Cli::command();
    cmd.build();
    let mut helps = Vec::new();
    collect(&mut cmd, "ain-sre", &mut helps);
    assert!(helps.len() > 15, "{} help texts", helps.len());
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/help");
    let update = std::env::var_os("AIN_SRE_UPDATE_SNAPSHOTS").is_some();
    if update {
        std::fs::create_dir_all(&dir).unwrap();
    }
    let mut changed = Vec::new();
    for (name, help) in &helps {
        let file = dir.join(format!("{name}.txt"));
        if update {
            std::fs::write(&file, help).unwrap();
            continue;
        }
        match std::fs::read_to_string(&file) {
            Ok(want) if want == *help => {}
            Ok(want) => changed.push(format!(
                "{name}: differs from {}\n--- snapshot\n{want}\n--- now\n{help}",
                file.display()
            )),
            Err(_) => changed.push(format!("{name}: no snapshot at {}", file.display())),
        }
    }
    // A snapshot whose subcommand is gone.
    if !update && let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let n = e
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".txt")
                .to_owned();
            if !helps.iter().any(|(h, _)| *h == n) && !FORWARDED.contains(&n.as_str()) {
                changed.push(format!(
                    "{n}: snapshot of a subcommand that no longer exists"
                ));
            }
        }
    }
    assert!(
        changed.is_empty(),
        "help text changed (if intended: AIN_SRE_UPDATE_SNAPSHOTS=1 cargo test --test cli_help, then review):\n\n{}",
        changed.join("\n\n")
    );
}
