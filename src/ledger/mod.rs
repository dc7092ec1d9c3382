//! The AI Network ledger library: everything ain-sre knows about the chain, and nothing else.
//!
//! `ledger` imports nothing from the rest of the crate, so it can be read, tested and reused alone.
//!
//! - [`json`]: stable JSON text, byte-identical to what ain-util hashes;
//! - [`crypto`]: keys, addresses, tx/message hashes, signatures, V3 keystores;
//! - [`rpc`]: the JSON-RPC client (send signed txs, reads, blocks, tx lookups, typed node errors);
//! - [`events`]: the event-handler WebSocket client (filters, keepalive, reconnect, typed events);
//! - [`devnet`]: the built-in AIN-compatible chain.

pub mod crypto;
pub mod devnet;
pub mod events;
pub mod json;
pub mod rpc;
