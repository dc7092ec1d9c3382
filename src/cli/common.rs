//! Options and helpers shared by the chain-facing commands.

use std::path::PathBuf;

use crate::ledger::crypto::PrivateKey;
use crate::ledger::devnet::config::DEFAULT_VALIDATOR_KEY;
use crate::ledger::rpc::RpcClient;

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
    /// True when the command line or the environment names a key.
    pub(crate) fn given(&self) -> bool {
        self.keystore.is_some() || std::env::var_os(crate::keyfile::PRIVATE_KEY_ENV).is_some()
    }

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

/// The app `ain-sre dev` deploys its examples to and serves: the default `--app` against a dev
/// chain.
pub(crate) const DEV_APP: &str = "dev";

/// The admin key of a dev chain, when the node at `rpc` is one.
///
/// A dev chain is a node that signs its blocks with the public key of `blockchain-configs/1-node`
/// ([`DEFAULT_VALIDATOR_KEY`]): the built-in chain (`ain-sre dev`, `ain-sre devnet`) does, and so
/// does a real node started from that config. That node answers `ain_getAddress` with the key's
/// address. Its key is public, so nothing on such a chain is of value, and `dev` creates app `dev`
/// with that key as admin: `deploy` and `call` may use it without being given a key.
pub(crate) async fn dev_chain_key(rpc: &RpcClient) -> Option<PrivateKey> {
    let key = PrivateKey::from_hex(DEFAULT_VALIDATOR_KEY).ok()?;
    match rpc.get_address().await {
        Ok(Some(addr)) if addr == key.address() => Some(key),
        _ => None,
    }
}

/// What a command that writes as an app admin says when it has no key and the node is not a dev
/// chain.
pub(crate) fn no_admin_key(node: &str, what: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "no signing key: {what} is signed by the app's admin key. Give one with --keystore FILE (create it with `ain-sre keygen --out FILE`; on a public network fund its address first) or set {}=<hex private key>. Only against a dev chain (`ain-sre dev`, whose admin key is public) is no key needed, and the node at {node} is not one: it does not sign with the public dev key {}.",
        crate::keyfile::PRIVATE_KEY_ENV,
        PrivateKey::from_hex(DEFAULT_VALIDATOR_KEY)
            .map(|k| k.address().to_string())
            .unwrap_or_default()
    )
}

/// `--app` when it was given; else `dev` against a dev chain; else an error naming the flag.
pub(crate) fn app_or_dev(
    app: Option<String>,
    dev_chain: bool,
    node: &str,
) -> anyhow::Result<String> {
    match app {
        Some(a) => Ok(a),
        None if dev_chain => Ok(DEV_APP.to_owned()),
        None => Err(anyhow::anyhow!(
            "--app is missing: name the app (e.g. --app myapp). Only against a dev chain (`ain-sre dev`) does it default to `{DEV_APP}`, and the node at {node} is not one."
        )),
    }
}
