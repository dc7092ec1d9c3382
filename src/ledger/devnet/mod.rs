//! The built-in chain ("devnet"): a single-validator ledger that speaks the real AI Network node's
//! protocol (JSON-RPC and the WebSocket event handler), so `ain-sre dev` runs the whole system on
//! one machine and clients written for AI Network (ain-js) work against it unchanged.
//!
//! - [`event_handler`]: the WebSocket event-handler server;
//! - [`rules`]: write-rule expressions, parsed once when a rule is set and evaluated per write.

pub mod event_handler;
pub mod rules;
