//! `ain-sre keygen`: a new secp256k1 key, written as an ain-util compatible V3 keystore.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::ledger::crypto::PrivateKey;
use crate::ledger::crypto::keystore::{self, Kdf};

/// Arguments of `ain-sre keygen`.
#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// Where to write the keystore (JSON). Refuses to overwrite unless --force.
    #[arg(long, short, default_value = "worker-keystore.json")]
    pub out: PathBuf,
    /// Read the keystore password from this file (first line). Otherwise from the environment
    /// variable AIN_SRE_KEYSTORE_PASSWORD, otherwise asked for on the terminal.
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// Use fast scrypt parameters (n=4096) instead of ain-util's default (n=262144, ~256 MiB).
    /// Only for throwaway development keys.
    #[arg(long)]
    pub light: bool,
    /// Overwrite an existing file at --out.
    #[arg(long)]
    pub force: bool,
}

/// Generates the key, writes the keystore with mode 0600, prints the address.
pub(crate) fn run(args: KeygenArgs) -> anyhow::Result<ExitCode> {
    if args.out.exists() && !args.force {
        bail!(
            "{} already exists; pass --force to overwrite it",
            args.out.display()
        );
    }
    let password = crate::keyfile::read_password(args.password_file.as_deref(), true)?;
    let key = PrivateKey::generate();
    let kdf = if args.light {
        Kdf::LIGHT
    } else {
        Kdf::STANDARD
    };
    let ks = keystore::encrypt(&key, &password, kdf);
    let text = serde_json::to_string_pretty(&ks)?;
    crate::keyfile::write_private(&args.out, text.as_bytes())
        .with_context(|| format!("writing {}", args.out.display()))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", key.address())?;
    eprintln!("keystore written to {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}
