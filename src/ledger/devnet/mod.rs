//! The built-in chain ("devnet"): a single-validator ledger that speaks the real AI Network node's
//! protocol (JSON-RPC and the WebSocket event handler), so `ain-sre dev` runs the whole system on
//! one machine and clients written for AI Network (ain-js) work against it unchanged.
//!
//! - [`event_handler`]: the WebSocket event-handler server.
//! - [`rules`]: write-rule expressions, parsed once when a rule is set and evaluated per write.
//! - [`state`]: the four state trees (values, rules, functions, owners), copy-on-write.
//! - [`configs`], [`perm`]: config tree validation and merging; rule and owner matching.
//! - [`exec`]: transaction execution (prechecks, ops, native functions, results).
//! - [`codes`]: the node's result codes.

pub mod chain;
pub mod codes;
pub mod config;
pub mod configs;
pub mod event_handler;
pub mod exec;
pub mod genesis;
pub mod perm;
pub mod rules;
pub mod server;
pub mod state;
pub mod store;

pub use config::{DevnetConfig, PoolLimits};
pub use server::{Devnet, DevnetError, DevnetHandle};
