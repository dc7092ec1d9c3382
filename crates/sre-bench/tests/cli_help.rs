//! `ain-sre bench --help` and `ain-sre conformance --help` are this binary's help (`ain-sre`
//! passes them on): checked against the root's `tests/snapshots/help/`, like every other
//! subcommand's (`tests/cli_help.rs`, which leaves these two to this test). After an intended
//! change: `AIN_SRE_UPDATE_SNAPSHOTS=1 cargo test -p sre-bench --test cli_help`, then review.

use std::path::PathBuf;

use clap::CommandFactory;

#[path = "../../../tests/common/help_text.rs"]
mod help_text;
use help_text::without_env_values;

#[test]
fn bench_and_conformance_help_match_their_snapshots() {
    let mut cmd = sre_bench::cli::Cli::command();
    cmd.build();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/snapshots/help");
    let update = std::env::var_os("AIN_SRE_UPDATE_SNAPSHOTS").is_some();
    let mut changed = Vec::new();
    for name in ["bench", "conformance"] {
        let sub = cmd.find_subcommand_mut(name).expect("a subcommand");
        let help = without_env_values(&sub.render_long_help().to_string());
        let file = dir.join(format!("ain-sre-{name}.txt"));
        if update {
            std::fs::write(&file, &help).unwrap();
            continue;
        }
        match std::fs::read_to_string(&file) {
            Ok(want) if want == help => {}
            Ok(want) => changed.push(format!(
                "{name}: differs from {}\n--- snapshot\n{want}\n--- now\n{help}",
                file.display()
            )),
            Err(_) => changed.push(format!("{name}: no snapshot at {}", file.display())),
        }
    }
    assert!(
        changed.is_empty(),
        "help text changed (if intended: AIN_SRE_UPDATE_SNAPSHOTS=1 cargo test -p sre-bench --test cli_help, then review):\n\n{}",
        changed.join("\n\n")
    );
}
