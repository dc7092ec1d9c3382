//! The built-in chain ("devnet"): a single-validator ledger that speaks the real AI Network node's
//! protocol (JSON-RPC and the WebSocket event handler), so `ain-sre dev` runs the whole system on
//! one machine and clients written for AI Network (ain-js) work against it unchanged.
//!
//! ```text
//!  JSON-RPC (server::rpc: protoVer, envelope) --> server::send / server::methods
//!        |                                                  | lock
//!        v                                                  v
//!  chain::Chain: pool + tracker + blocks, three states (finalized | tip | pending)
//!        |  exec (prechecks, ops, perm: rules + owners, native _createApp)   state (COW trees)
//!        v
//!  store::Persister (group commit, fsync) --> redb      events --> event_handler (WebSocket)
//! ```
//!
//! # Embedding
//!
//! [`Devnet::start`] with a [`DevnetConfig`] returns a [`DevnetHandle`] holding the bound
//! addresses (port 0 picks free ports), the genesis hash a follower should trust, and
//! [`DevnetHandle::shutdown`]. `ain-sre devnet` is a thin CLI over it (JSON-RPC on 8081 at
//! `/json-rpc`, events on 5100, as a local node).
//!
//! # JSON-RPC methods
//!
//! `ain_sendSignedTransaction`, `…Dryrun`, `…Batch`; `ain_get` (`GET_VALUE|RULE|FUNCTION|OWNER`,
//! `GET` with ≤ 50 ops, `is_shallow`, `is_final`); `ain_evalRule`, `ain_evalOwner`,
//! `ain_validateAppName`; `ain_getNonce`, `ain_getTimestamp` (`from: pending|committed`),
//! `ain_getBalance`, `ain_getAddress`, `ain_getStateUsage`; `ain_getLastBlock`, `ain_getLastBlockNumber`,
//! `ain_getBlockByNumber`, `ain_getBlockByHash`, `ain_getBlockList` (≤ 20, `to` exclusive),
//! `ain_getBlockHeadersList`, `ain_getBlockTransactionCountBy{Number,Hash}`,
//! `ain_getProposerBy{Number,Hash}`, `ain_getValidatorsBy{Number,Hash}`;
//! `ain_getTransactionByHash`, `ain_getTransactionByBlock{Number,Hash}AndIndex`,
//! `ain_getPendingTransactions`, `ain_getTransactionPoolSizeUtilization`;
//! `ain_getProtocolVersion`, `ain_checkProtocolVersion`; `net_getChainId`, `net_getNetworkId`,
//! `net_listening`, `net_syncing`, `net_peerCount`, `net_getEventHandlerNetworkInfo`.
//! Anything else is a JSON-RPC `-32601` error.
//!
//! # Persistence
//!
//! With a data directory the chain lives in one redb file ([`store`]). A tx is answered with its
//! hash only after its pool entry is committed with fsync (group commit: concurrent sends share
//! one fsync); a block becomes visible (served, events sent) only after it, the removal of its
//! txs from the pool and their tracker records are committed in one transaction. A kill -9
//! therefore loses no acknowledged tx and never shows a block that a restart would not have. On
//! start the chain is rebuilt from the latest state snapshot (every 1,000 blocks) and the blocks
//! after it, the pool is re-executed, and production continues on the stored tip. Without a data
//! directory the same code runs on an in-memory redb.
//!
//! # Deviations from ain-blockchain 1.6.0 (deliberate; each documented where it lives)
//!
//! - Consensus: one validator (default: the 1-node test key); block N is final once N+1 exists;
//!   blocks are made only while there is something to include or finalize (plus two blocks so
//!   the last tx block is final *and* proven by a served block) unless `empty_blocks` is set.
//!   Proposal and vote txs are built like the node's but not executed against `/consensus`.
//! - Genesis is the devnet's own ([`genesis`]): app management, plus (only when accounts are
//!   funded at genesis, [`DevnetConfig::genesis_balances`]) balances and the node's staking
//!   rule and `_stake`; no transfers, unstaking, checkin/checkout, escrow, payments or
//!   sharding. `util.*` rules of the base genesis outside the rule subset are rewritten in the
//!   subset with the same meaning. Its timestamp is the moment the chain is created unless
//!   `genesis_timestamp` is set, so each new chain has its own genesis hash (the node's comes
//!   from its genesis config).
//! - Rules: the subset of JS in [`rules`]; text outside it is refused at SET_RULE time (10503
//!   with the reason), never at write time. State rules (`max_children`, `max_height`,
//!   `max_size`, `max_bytes`) are enforced (12104), and their garbage collection
//!   (`gc_max_siblings`, `gc_num_siblings_deleted`) runs as on the node: at every non-null
//!   value write, oldest siblings first by insertion order, with `min_gc_num_siblings_deleted`
//!   100 until block 1 and 10 from block 2 (the node's bandages). Deviation: insertion serials
//!   are not stored in state snapshots; after a restart from a snapshot, children that were in
//!   it are ordered as a fresh write of the snapshot would order them (JS key order), and the
//!   replayed blocks after it add theirs in order.
//! - Functions: `_createApp`, `_saveLastTx`, `_eraseValue`, `_fail`, `_setOwnerConfig` run; REST
//!   functions are recorded as skipped (20000), no HTTP call; subtree functions are not fired.
//! - Gas: results have the node's shape; bandwidth amounts do not follow its accounting, state
//!   gas (`gas_amount_total.state`, the bytes each named app grew) does (see [`exec`]);
//!   no `/receipts` state records; `state_proof_hash` is a chained commitment
//!   (`hash([prev, transactions_hash, receipts_hash])`), not the node's radix proof hash, and
//!   `#state_ph` in shallow reads is a hash of the child's JSON.
//! - Events: as on the node, a failed `SET` has already emitted VALUE_CHANGED for the ops that
//!   ran before the failing one (at USER and again at BLOCK execution); a tx failing its
//!   precheck at block time is dropped with TX_STATE_CHANGED FAILED. The other "event, then
//!   failure" case is reproduced too: the state budget check (10905 and friends) runs after
//!   all ops, so their events are out when the tx fails ([`exec::budget`]).
//! - Pool limits default to dev-friendly values ([`PoolLimits`]; the node's are
//!   [`PoolLimits::node`]); the tracker keeps in-block txs forever (the node: 24 h), so a replay
//!   is refused (10701) however old the original.
//! - Limits: the state tree height limit (30, code 11101) is checked per write rather than over
//!   the whole tree after the tx. Tree bytes and state budgets are measured and enforced as the
//!   node does ([`exec::budget`]: 11103, 10901, 10902, 10905 free tier, 10907 staked share),
//!   with the budget parameters fixed by [`DevnetConfig::budgets`] (default: mainnet's) rather
//!   than read from `/blockchain_params`. State gas is reported as the node reports it, not
//!   charged.
//! - Transport: a non-JSON body gets a JSON-RPC `-32700` error with HTTP 200 and an oversize
//!   body HTTP 413 with a JSON-RPC `-32600` error (the node answers both with HTML pages).
//!
//! # Modules
//!
//! - [`server`]: `Devnet::start`, the JSON-RPC server, the producer task.
//! - [`chain`]: pool, tracker, block production, finalization, reload.
//! - [`exec`]: transaction execution (prechecks, ops, native functions, results).
//! - [`perm`]: rule and owner matching; [`configs`]: config tree validation and merging.
//! - [`state`]: the four state trees (values, rules, functions, owners), copy-on-write.
//! - [`rules`]: write-rule expressions, parsed once when a rule is set and evaluated per write.
//! - [`store`]: redb persistence and the group-commit writer.
//! - [`genesis`], [`config`], [`codes`]; [`event_handler`]: the WebSocket event-handler server.

#![forbid(unsafe_code)]

pub mod chain;
/// The node's result codes (shared with the JSON-RPC client).
pub use ain_ledger::codes;
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

pub use config::{DevnetConfig, PoolLimits, StateBudgets};
pub use server::{Devnet, DevnetError, DevnetHandle};
