//! Devnet configuration. Every default is written down here, with the real node's value where
//! the devnet deliberately differs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::event_handler::EventHandlerConfig;
pub use super::exec::StateBudgets;
use ain_ledger::crypto::PrivateKey;

/// The well-known key of `blockchain-configs/1-node` (address
/// `0x00ADEc28B6a845a085e03591bE7550dd68673C1C`): the default validator, so the devnet looks like
/// a local 1-node chain. Public; never use it for anything of value.
pub const DEFAULT_VALIDATOR_KEY: &str =
    "b22c95ffc4a5c096f7d7d0487ba963ce6ac945bdc91c79b64ce209de289bec96";

/// Transaction pool limits (`TX_POOL_SIZE_LIMIT`, `TX_POOL_SIZE_LIMIT_PER_ACCOUNT`,
/// `FREE_TX_POOL_SIZE_LIMIT_RATIO[_PER_ACCOUNT]`).
#[derive(Clone, Debug, PartialEq)]
pub struct PoolLimits {
    /// Transactions in the pool at once (10704 beyond). Default 10,000 (node: 1,000).
    pub max_txs: usize,
    /// Of which free (`gas_price` 0) ones (10715 beyond). Default 10,000 (node: 10% of 1,000).
    pub max_free_txs: usize,
    /// Per account (10705 beyond). Default 10,000 (node: 100).
    pub max_txs_per_account: usize,
    /// Free ones per account (10716 beyond). Default 10,000 (node: 10% of 100 = 10, which
    /// would stall a dev worker posting results with gas price 0 after ten calls per block).
    pub max_free_txs_per_account: usize,
}

impl Default for PoolLimits {
    fn default() -> PoolLimits {
        PoolLimits {
            max_txs: 10_000,
            max_free_txs: 10_000,
            max_txs_per_account: 10_000,
            max_free_txs_per_account: 10_000,
        }
    }
}

impl PoolLimits {
    /// The real node's limits.
    pub fn node() -> PoolLimits {
        PoolLimits {
            max_txs: 1000,
            max_free_txs: 100,
            max_txs_per_account: 100,
            max_free_txs_per_account: 10,
        }
    }
}

/// How a devnet runs. [`DevnetConfig::default`] is an in-memory chain on ephemeral ports.
#[derive(Clone, Debug)]
pub struct DevnetConfig {
    /// JSON-RPC listen address (`/json-rpc`). Default `127.0.0.1:0`; the CLI uses port 8081.
    pub rpc_addr: SocketAddr,
    /// Event-handler (WebSocket) listen address. Default `127.0.0.1:0`; the CLI uses port 5100.
    pub events_addr: SocketAddr,
    /// Directory of the redb store; `None` keeps the chain in memory (lost on exit).
    pub data_dir: Option<PathBuf>,
    /// Time between block production rounds. Default 100 ms (node: 1 s on 1-node configs).
    pub block_interval: Duration,
    /// Produce blocks even when there is nothing to finalize. Default false: blocks are made
    /// while the pool has txs and for two more rounds after the last block with txs, so every
    /// tx block is final *and* followed by a served block that proves it.
    pub empty_blocks: bool,
    /// The validator's (and genesis owner's) key. Default [`DEFAULT_VALIDATOR_KEY`].
    pub validator_key: Arc<PrivateKey>,
    /// The validator's stake. Default 10,000,000 (as the 1-node config).
    pub stake: u64,
    /// `genesis/chain_id`. Default 0.
    pub chain_id: u64,
    /// `genesis/network_id`. Default 0.
    pub network_id: u64,
    /// `resource/tx_bytes_limit`, measured with the node's `object-sizeof` on `tx_body`.
    /// Default 10,000.
    pub tx_bytes_limit: usize,
    /// Largest HTTP request body. Default 100 KiB (node: `REQUEST_BODY_SIZE_LIMIT` "100kb").
    pub max_request_bytes: usize,
    /// `resource/batch_tx_list_size_limit`. Default 50.
    pub batch_tx_list_size_limit: usize,
    /// `resource/set_op_list_size_limit`. Default 50 (mainnet; the 1-node config has 1500).
    pub set_op_list_size_limit: usize,
    /// `GET_OP_LIST_SIZE_LIMIT`. Default 50.
    pub get_op_list_size_limit: usize,
    /// `resource/min_gas_price` for non-zero gas prices. Default 1 (1-node config).
    pub min_gas_price: u64,
    /// Pool limits.
    pub pool: PoolLimits,
    /// Most txs put in one block. Default 1,000.
    pub max_txs_per_block: usize,
    /// A full state snapshot is stored every this many blocks, so a restart replays at most that
    /// many blocks. Default 1,000.
    pub snapshot_interval: u64,
    /// Event-handler limits (node defaults).
    pub events: EventHandlerConfig,
    /// Genesis timestamp of a new chain. Default `None`: the moment the chain is created, so
    /// every new chain (a non-persistent one at each start) has its own genesis hash and a
    /// worker refuses a data dir made for another one. `Some(GENESIS_TIMESTAMP)` gives the
    /// node's 1-node genesis time, and with a given key always the same genesis hash.
    pub genesis_timestamp: Option<u64>,
    /// State budgets (`/blockchain_params/resource`). Default: the base (mainnet) values, a
    /// 5,000,000,000-byte tree and a 25,000,000-byte free tier, so `ain-sre dev` stays
    /// comfortable; [`StateBudgets::with_limit`]`(20_000_000.0)` is the 1-node config
    /// (100,000-byte free tier).
    pub budgets: StateBudgets,
    /// Accounts funded at genesis (`/accounts/<addr>/balance`), so they can stake. Default
    /// none. When set, the genesis also carries the node's staking rule and `_stake` function
    /// (otherwise the genesis is the devnet's original one, hash unchanged).
    pub genesis_balances: Vec<(String, u64)>,
}

impl Default for DevnetConfig {
    fn default() -> DevnetConfig {
        let local = |port| SocketAddr::from(([127, 0, 0, 1], port));
        DevnetConfig {
            rpc_addr: local(0),
            events_addr: local(0),
            data_dir: None,
            block_interval: Duration::from_millis(100),
            empty_blocks: false,
            validator_key: Arc::new(
                PrivateKey::from_hex(DEFAULT_VALIDATOR_KEY)
                    .unwrap_or_else(|_| PrivateKey::generate()),
            ),
            stake: 10_000_000,
            chain_id: 0,
            network_id: 0,
            tx_bytes_limit: 10_000,
            max_request_bytes: 100 * 1024,
            batch_tx_list_size_limit: 50,
            set_op_list_size_limit: 50,
            get_op_list_size_limit: 50,
            min_gas_price: 1,
            pool: PoolLimits::default(),
            max_txs_per_block: 1000,
            snapshot_interval: 1000,
            events: EventHandlerConfig::default(),
            genesis_timestamp: None,
            budgets: StateBudgets::default(),
            genesis_balances: Vec::new(),
        }
    }
}
