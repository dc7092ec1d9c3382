//! `ain-sre keygen` end to end: the printed address matches the keystore, the file is private,
//! an existing file is never overwritten by accident, and no secret reaches stdout or stderr.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use ain_sre::ledger::crypto::keystore;

fn keygen(dir: &std::path::Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ain-sre"))
        .args(["keygen", "--light", "--out"])
        .arg(dir.join("ks.json"))
        .args(extra)
        .env("AIN_SRE_KEYSTORE_PASSWORD", "correct horse")
        .output()
        .expect("run ain-sre")
}

#[test]
fn keygen_writes_a_private_keystore_matching_the_printed_address() {
    let dir = tempfile::tempdir().unwrap();
    let out = keygen(dir.path(), &[]);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    let address = printed.trim();
    assert!(
        ain_sre::ledger::crypto::is_checksum_address(address),
        "not a checksum address: {address}"
    );

    let path = dir.path().join("ks.json");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "keystore must be owner-only");
    let text = std::fs::read_to_string(&path).unwrap();
    let key = keystore::decrypt(&text, "correct horse").unwrap();
    assert_eq!(key.address().to_string(), address);
    let secret = hex::encode(*key.secret_bytes());
    assert!(!String::from_utf8_lossy(&out.stderr).contains(&secret));
    assert!(!printed.contains(&secret));

    // A second run refuses to overwrite; --force replaces the key.
    let again = keygen(dir.path(), &[]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    let forced = keygen(dir.path(), &["--force"]);
    assert!(forced.status.success());
    assert_ne!(String::from_utf8(forced.stdout).unwrap().trim(), address);
}

#[test]
fn keygen_without_a_password_source_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ain-sre"))
        .args(["keygen", "--light", "--out"])
        .arg(dir.path().join("ks.json"))
        .env_remove("AIN_SRE_KEYSTORE_PASSWORD")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("AIN_SRE_KEYSTORE_PASSWORD"));
    assert!(!dir.path().join("ks.json").exists());
}
