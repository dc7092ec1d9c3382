//! `invoke`: every `new` template runs with it, a Rust project directory is taken, and so is
//! `--timeout` from the deploy.

use super::*;

/// Each template `new` writes runs with `invoke` and sees its `--fn` as SRE_FUNCTION.
#[test]
fn every_new_template_runs_with_invoke() {
    let tmp = tempfile::tempdir().unwrap();
    let root = nix::unistd::Uid::effective().is_root();
    for (runtime, program) in [
        ("wasm", None),
        ("python3", Some("python3")),
        ("nodejs", Some("node")),
        ("bash", Some("bash")),
        ("perl", Some("perl")),
        ("native", Some("gcc")),
    ] {
        let dir = tmp.path().join(runtime);
        let d = dir.to_str().unwrap();
        ok(&["new", "tpl", "--runtime", runtime, "--dir", d]);
        assert!(dir.join("README.md").is_file());
        if runtime != "wasm" {
            // Process-tier runtimes need root (namespaces, cgroups).
            if !root {
                common::skip_or_fail(
                    "every_new_template_runs_with_invoke",
                    &format!("{runtime} needs root"),
                );
                continue;
            }
            if common::require_program("every_new_template_runs_with_invoke", program.unwrap())
                .is_none()
            {
                continue;
            }
        }
        if runtime == "native" {
            let built = Command::new("gcc")
                .args(["-static", "-O2", "-o"])
                .arg(dir.join("main"))
                .arg(dir.join("main.c"))
                .status()
                .unwrap();
            if !built.success() {
                common::skip_or_fail(
                    "every_new_template_runs_with_invoke",
                    "gcc -static failed (no static libc)",
                );
                continue;
            }
        }
        let out = ok(&["invoke", d, "--fn", "greet", "--input", r#"{"name":"ain"}"#]);
        if runtime == "wasm" {
            assert_eq!(out.trim(), r#"{"name":"ain"}"#, "{runtime}");
        } else {
            assert!(
                out.contains(r#""function":"greet""#) || out.contains(r#""function": "greet""#),
                "{runtime}: {out}"
            );
        }
    }
}

/// `invoke DIR` on a Rust project uses its built module, and says how to build it when there is
/// none.
#[test]
fn invoke_takes_a_rust_project_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let proj = tmp.path().join("wc");
    std::fs::create_dir_all(proj.join("src")).unwrap();
    std::fs::write(proj.join("Cargo.toml"), "[package]\nname = \"wc\"\n").unwrap();
    let p = proj.to_str().unwrap();
    let (success, _, err) = run(&["invoke", p]);
    assert!(!success && err.contains("wasm32-wasip1"), "{err}");
    let release = proj.join("target/wasm32-wasip1/release");
    std::fs::create_dir_all(&release).unwrap();
    std::fs::write(release.join("wc.wasm"), V2_WAT).unwrap();
    assert_eq!(ok(&["invoke", p]).trim(), "v2");
    // The README's example directory, when built (examples/functions/build.sh).
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/functions/rust-wordcount");
    let (_, _, err) = run(&["invoke", example.to_str().unwrap(), "--input", "a b"]);
    assert!(!err.contains("holds no runtime's source file"), "{err}");
}

/// `invoke --timeout-ms` caps the profile's wall deadline as `deploy --timeout-ms` does on chain.
#[test]
fn invoke_takes_deploys_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let spin = tmp.path().join("spin.wat");
    std::fs::write(
        &spin,
        r#"(module (memory (export "memory") 1) (func (export "_start") (loop (br 0))))"#,
    )
    .unwrap();
    let (success, _, err) = run(&["invoke", spin.to_str().unwrap(), "--timeout-ms", "200"]);
    assert!(!success && err.contains("status timeout"), "{err}");
    // The default profile's deadline is 5,000 ms: the call ran out of the 200 ms given instead.
    let wall_us: u64 = err
        .split("wall ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("wall time");
    assert!(wall_us < 5_000_000, "{err}");
    let (success, _, err) = run(&["invoke", spin.to_str().unwrap(), "--timeout-ms", "0"]);
    assert!(
        !success && err.contains("--timeout-ms must be at least 1"),
        "{err}"
    );
}
