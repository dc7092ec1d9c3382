//! End to end on the built-in chain: deploy, call, response with a correct receipt (wasm tier,
//! inline and chunked code, both finalities), bad input answered `rejected`, permissioned callers
//! refused by the chain, two workers answering each call once, a worker without a tier leaving
//! the call to one with it, an outage of the chain and its WebSocket channel mid-burst, and a
//! reset chain refused (and orphan journaled responses never sent).

#[path = "worker_e2e/calls.rs"]
mod calls;
mod common;
#[path = "worker_e2e/resilience.rs"]
mod resilience;
mod worker_support;

use std::time::Duration;

use ain_sre::client::{ChainClient, ClientError};
use ain_sre::ledger::crypto::PrivateKey;
use ain_sre::ledger::tx::SimpleOp;
use ain_sre::onchain::{AppPaths, Callers, Finality};
use futures_util::StreamExt;
use serde_json::json;
use sha2::{Digest, Sha256};
use worker_support::*;

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// The echo module with a 12 KB data segment: too large to store inline, so it goes in blobs.
fn big_echo() -> String {
    let end = ECHO_WAT.rfind(')').unwrap();
    format!(
        "{}\n  (data (i32.const 65536) \"{}\"))\n",
        &ECHO_WAT[..end],
        "ab".repeat(6000)
    )
}
