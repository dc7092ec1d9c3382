//! Loading the worker key: keystore files, passwords, and the `AIN_SRE_PRIVATE_KEY` environment
//! variable. Nothing here ever prints or logs key material or passwords.

use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, bail};
use zeroize::Zeroizing;

use crate::ledger::crypto::PrivateKey;
use crate::ledger::crypto::keystore;

/// Environment variable holding the keystore password.
pub const PASSWORD_ENV: &str = "AIN_SRE_KEYSTORE_PASSWORD";
/// Environment variable holding a raw hex private key (for containers and CI; prefer keystores).
pub const PRIVATE_KEY_ENV: &str = "AIN_SRE_PRIVATE_KEY";

/// Reads a password from `file` (first line), else `$AIN_SRE_KEYSTORE_PASSWORD`, else the terminal.
pub fn read_password(file: Option<&Path>, confirm: bool) -> anyhow::Result<Zeroizing<String>> {
    if let Some(f) = file {
        let text = Zeroizing::new(
            std::fs::read_to_string(f)
                .with_context(|| format!("reading password file {}", f.display()))?,
        );
        return Ok(Zeroizing::new(text.lines().next().unwrap_or("").to_owned()));
    }
    if let Ok(p) = std::env::var(PASSWORD_ENV) {
        return Ok(Zeroizing::new(p));
    }
    if !std::io::stdin().is_terminal() {
        bail!("no keystore password: pass --password-file or set {PASSWORD_ENV}");
    }
    let first = Zeroizing::new(rpassword::prompt_password("keystore password: ")?);
    if confirm {
        let second = Zeroizing::new(rpassword::prompt_password("repeat password: ")?);
        if *first != *second {
            bail!("the two passwords differ");
        }
    }
    Ok(first)
}

/// Loads the worker key from a keystore file (with a password as [`read_password`] finds it), or
/// from `$AIN_SRE_PRIVATE_KEY` when no keystore is given.
pub fn load_key(
    keystore_path: Option<&Path>,
    password_file: Option<&Path>,
) -> anyhow::Result<PrivateKey> {
    match keystore_path {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("reading keystore {}", p.display()))?;
            let password = read_password(password_file, false)?;
            keystore::decrypt(&text, &password)
                .with_context(|| format!("opening keystore {}", p.display()))
        }
        None => match std::env::var(PRIVATE_KEY_ENV) {
            Ok(hex) => {
                let hex = Zeroizing::new(hex);
                PrivateKey::from_hex(&hex).with_context(|| format!("parsing {PRIVATE_KEY_ENV}"))
            }
            Err(_) => bail!("no worker key: pass --keystore FILE or set {PRIVATE_KEY_ENV}"),
        },
    }
}

/// Writes `bytes` to `path` readable by the owner only, via a temporary file and rename.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("key")
    ));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
