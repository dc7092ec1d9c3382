//! Options and helpers shared by the chain-facing commands.

use std::path::PathBuf;

use crate::ledger::crypto::PrivateKey;

/// Default JSON-RPC endpoint: the built-in chain's (`ain-sre dev` / `ain-sre devnet`).
pub(crate) const DEFAULT_NODE: &str = "http://127.0.0.1:8081/json-rpc";
/// Default event-handler endpoint.
pub(crate) const DEFAULT_EVENTS: &str = "ws://127.0.0.1:5100/";

/// Where the node is.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct NodeArgs {
    /// The node's JSON-RPC endpoint; a base URL without a path (`http://host:8081`, as ain-js
    /// takes it) gets `/json-rpc`.
    #[arg(long, default_value = DEFAULT_NODE, env = "AIN_SRE_NODE")]
    pub(crate) node: String,
}

/// Where the runtime and profile files beyond the shipped ones are.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct CatalogArgs {
    /// Extra runtime files (adding to or overriding the shipped `runtimes/`).
    #[arg(long)]
    pub(crate) runtimes_dir: Option<PathBuf>,
    /// Extra profile files (adding to or overriding the shipped `sandbox-profiles/`).
    #[arg(long)]
    pub(crate) profiles_dir: Option<PathBuf>,
}

impl CatalogArgs {
    /// Loads the catalogs these flags name.
    pub(crate) fn load(&self) -> anyhow::Result<crate::config::Catalogs> {
        Ok(crate::config::Catalogs::load(
            self.runtimes_dir.as_deref(),
            self.profiles_dir.as_deref(),
        )?)
    }
}

/// Which key signs.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct KeyArgs {
    /// V3 keystore holding the key (else `$AIN_SRE_PRIVATE_KEY`).
    #[arg(long)]
    pub(crate) keystore: Option<PathBuf>,
    /// File whose first line is the keystore password (else `$AIN_SRE_KEYSTORE_PASSWORD`, else
    /// a prompt).
    #[arg(long)]
    pub(crate) password_file: Option<PathBuf>,
}

impl KeyArgs {
    /// Loads the key; with `ephemeral`, a missing key is replaced by a fresh random one.
    pub(crate) fn load(&self, ephemeral: bool) -> anyhow::Result<PrivateKey> {
        let none =
            self.keystore.is_none() && std::env::var_os(crate::keyfile::PRIVATE_KEY_ENV).is_none();
        if none && ephemeral {
            return Ok(PrivateKey::generate());
        }
        crate::keyfile::load_key(self.keystore.as_deref(), self.password_file.as_deref())
    }
}

/// The registry entry of a worker whose sandboxes are `exec` (see [`crate::scheduler::capable::entry`]).
pub(crate) use crate::scheduler::capable::entry as worker_entry;

/// Resolves on Ctrl-C or SIGTERM.
pub(crate) async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
