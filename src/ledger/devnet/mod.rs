//! The devnet: ain-sre's built-in single-node chain, speaking the same protocol as an
//! ain-blockchain 1.6.0 node so functions can be developed and tested without a real network.
//!
//! - [`rules`]: write-rule expressions, parsed once when a rule is set and evaluated per write.

pub mod rules;
