//! # ain-sre
//!
//! The worker side of AI Network's "blockchain for serverless computing". The chain is a ledger of
//! calls between clients and workers; ain-sre follows a node, runs each call off-chain in a sandbox
//! chosen by the function's language, and posts the result back as a signed transaction.
//!
//! ```text
//!  node (WS event handler) --VALUE_CHANGED--> trigger --Call--> scheduler --Job--> sandbox
//!         ^                                                                          |
//!         |                                                                   Outcome v
//!  node (JSON-RPC) <---- ain_sendSignedTransaction ---- poster <---- signer (receipt + tx)
//!         |
//!         +--blocks--> ledger::follower (verifies hashes, signatures, 2/3 votes; cursor)
//! ```
//!
//! ## Module map
//!
//! The workspace's other crates are re-exported under the paths this crate always used:
//!
//! - [`ledger`] (crate `ain-ledger`): the AI Network library (stable JSON, crypto, keystores,
//!   typed transactions and blocks, the verifying block follower). It depends on no workspace crate.
//!   [`ledger::devnet`] (crate `ain-devnet`, on `ain-ledger` only): the built-in chain.
//! - [`sandbox`] (crate `sre-sandbox`): the contract every sandbox tier implements (`Sandbox`,
//!   `Limits`, `Outcome`) and the tiers, each a feature; [`config`] (same crate):
//!   `runtimes/*.toml` and `sandbox-profiles/*.toml`, parsed strictly and validated.
//!
//! This crate (the worker pipeline and its CLI):
//!
//! - [`receipt`]: the response and execution receipt a worker writes for a call (pure).
//! - [`recent`]: the bounded window of recently seen keys (finished calls, final txs).
//! - [`journal`]: crash-safe per-call state (seen → running → signed → posted → confirmed).
//! - [`onchain`]: the paths, values and rules under `/apps/<app>/sre/`; [`client`]: deploy,
//!   register and call on top of them; [`verify`]: what a client checks before it believes a
//!   response.
//! - [`trigger`] → [`scheduler`] → [`poster`]: the worker's stages, passing [`call`] types over
//!   bounded channels (the trigger feeds the [`finality`] gate the scheduler waits on); [`daemon`] wires and supervises them; [`node`] is their view of a node;
//!   [`observe`] serves `/metrics` and `/healthz`.
//! - [`blobs`]: the content-addressed blob store (large inputs and outputs off chain) and its
//!   client; [`netrules`]: which addresses the worker may fetch from for a client.
//! - [`keyfile`]: loading the worker key from a keystore or the environment, without ever showing it.
//! - [`cli`]: the `ain-sre` subcommands; [`telemetry`]: logging set-up; [`stats`]: latency
//!   percentiles of repeated calls.
//!
//! The benchmarks and the conformance suite are not in this library: they are crate `sre-bench`
//! (binary `ain-sre-bench`, which `ain-sre bench` and `ain-sre conformance` run).

#![forbid(unsafe_code)]

pub mod blobs;
pub mod call;
pub mod cli;
pub mod client;
pub mod daemon;
pub mod finality;
pub mod journal;
pub mod keyfile;
pub mod node;
pub mod observe;
pub mod onchain;
pub mod poster;
pub mod presence;
pub mod receipt;
pub mod recent;
pub mod scheduler;
pub mod secrets;
pub mod stats;
pub mod telemetry;
pub mod trigger;
pub mod verify;

/// The AI Network library (crate `ain-ledger`), with the built-in chain (crate `ain-devnet`) as
/// [`ledger::devnet`]: the paths the worker and its tests have always used.
pub mod ledger {
    pub use ain_devnet as devnet;
    pub use ain_ledger::*;
}
/// The sandbox contract and tiers (crate `sre-sandbox`).
pub use sre_sandbox as sandbox;
/// The runtime and profile catalogs (in crate `sre-sandbox`, next to the tiers that read them).
pub use sre_sandbox::config;
/// Egress policy and proxy (in crate `sre-sandbox`: the sandbox's only way out).
pub use sre_sandbox::egress;
/// Address rules after DNS resolution (in crate `sre-sandbox`, used by egress and blob fetches).
pub use sre_sandbox::netrules;
