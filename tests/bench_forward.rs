//! `ain-sre bench` / `ain-sre conformance` exec `ain-sre-bench` from beside the `ain-sre`
//! executable (crate `sre-bench`, whose tests run them through this path). Without it, the
//! command says which build makes it.

use std::path::PathBuf;
use std::process::Command;

/// `ain-sre` alone in a directory (hard-linked: a link keeps the executable's own directory).
fn lone_ain_sre(name: &str) -> PathBuf {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join("ain-sre");
    if std::fs::hard_link(env!("CARGO_BIN_EXE_ain-sre"), &exe).is_err() {
        std::fs::copy(env!("CARGO_BIN_EXE_ain-sre"), &exe).unwrap();
    }
    exe
}

#[test]
fn without_the_helper_the_commands_name_the_build_that_makes_it() {
    let exe = lone_ain_sre("bench-forward");
    for command in ["bench", "conformance"] {
        let out = Command::new(&exe)
            .args([command, "--quick"])
            .env_remove("AIN_SRE_LOG_FORMAT")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{command}: {stderr}");
        assert!(
            stderr.contains("ain-sre-bench is not next to")
                && stderr.contains("cargo build --release -p sre-bench"),
            "{command}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{command}: {out:?}");
    }
    // `ain-sre --help` still lists both, with their one-line help.
    let help = Command::new(&exe).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("  bench        Run benchmarks"), "{text}");
    assert!(
        text.contains("  conformance  Run the abuse suite"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(exe.parent().unwrap());
}
