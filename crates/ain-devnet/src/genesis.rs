//! The devnet's own genesis: one `SET` transaction signed by the validator that sets up what
//! apps need from the base genesis (`blockchain-configs/base/genesis_*.json`): the root rule
//! `write: false`, the root owner (the validator), `/apps` owned by `fid:_createApp`, the
//! `/manage_app` rules and the `_createApp` function, and the validator as consensus admin.
//!
//! The base genesis writes some rules with `util.*` helpers outside the devnet's rule subset
//! (`util.isAppAdmin(...)`); they are written here with the same meaning in the subset
//! (`getValue('/manage_app/' + $app_name + '/config/admin/' + auth.addr) === true`). Staking,
//! transfers, checkin/checkout, escrow and payments are not part of the devnet's genesis.
//!
//! The genesis timestamp is a parameter: the node's (`1640995199999`, [`GENESIS_TIMESTAMP`])
//! makes a given validator key always give the same genesis block and hash; the devnet by default
//! uses the moment a chain is created, so each new chain has its own genesis hash and a worker can
//! tell a reset chain from the one its data dir was made for.

use serde_json::{Value, json};

use super::exec::execute_trusted;
use super::perm::RuleCache;
use super::state::State;
use ain_ledger::block::{Block, ValidatorInfo, Validators, hash_json};
use ain_ledger::crypto::{CryptoError, Hash, PrivateKey};
use ain_ledger::tx::{NONCE_UNORDERED, Operation, SimpleOp, TxBody};

/// The node's `genesis_timestamp`.
pub const GENESIS_TIMESTAMP: u64 = 1_640_995_199_999;

/// The genesis configuration a devnet is created with.
#[derive(Clone, Debug)]
pub struct GenesisParams {
    /// Chain id (signatures use it).
    pub chain_id: u64,
    /// Network id.
    pub network_id: u64,
    /// The validator's stake.
    pub stake: u64,
    /// `genesis_timestamp`, ms since the epoch (the genesis block's and tx's timestamp).
    pub timestamp: u64,
    /// Accounts funded at genesis. With any, the genesis also carries the base genesis's
    /// staking rule and `_stake` function (ain-node-semantics.md §1.3); with none it is the
    /// devnet's original genesis, byte for byte.
    pub balances: Vec<(String, u64)>,
}

/// The base genesis's stake rule (`genesis_rules.json:363`).
pub const STAKE_RULE: &str = "$user_addr === auth.addr && data === null && util.isNumber(newData) && newData >= 0 && getValue('/accounts/' + $user_addr + '/balance') >= newData";

fn all(b: bool) -> Value {
    json!({"branch_owner": b, "write_function": b, "write_owner": b, "write_rule": b})
}

/// The genesis operations for validator `v` (checksummed).
pub fn genesis_ops(v: &str, params: &GenesisParams) -> Vec<SimpleOp> {
    let values = json!({
        "consensus": {
            "proposer_whitelist": {v: true},
            "validator_whitelist": {v: true},
        },
        "manage_app": {"consensus": {"config": {"admin": {v: true}}}},
        "blockchain_params": {"genesis": {
            "genesis_addr": v,
            "genesis_timestamp": params.timestamp,
            "chain_id": params.chain_id,
            "network_id": params.network_id,
        }},
    });
    let functions = json!({
        "manage_app": {"$app_name": {"create": {"$record_id": {".function": {
            "_createApp": {"function_type": "NATIVE", "function_id": "_createApp"}
        }}}}}
    });
    let rules = json!({
        ".rule": {"write": false},
        "accounts": {"$user_addr": {"balance": {".rule": {"write": "auth.fid === '_transfer'"}}}},
        "manage_app": {"$app_name": {
            "config": {".rule": {"write":
                "auth.fid === '_createApp' || getValue('/manage_app/' + $app_name + '/config/admin/' + auth.addr) === true"}},
            "create": {"$record_id": {".rule": {"write":
                "data === null && getValue('/manage_app/' + $app_name + '/config') === null && util.isDict(newData)"}}},
        }},
    });
    let (mut values, mut functions, mut rules) = (values, functions, rules);
    if !params.balances.is_empty() {
        for (addr, amount) in &params.balances {
            values["accounts"][addr] = json!({"balance": amount});
        }
        // `/staking/$app_name/$user_addr/$staking_key/stake/$record_id`: gc 200/100 at the
        // record level and the stake rule on `value` (`genesis_rules.json:354-363`), `_stake`
        // on `value` (`genesis_functions.json:206`).
        rules["staking"] = json!({"$app_name": {"$user_addr": {"$staking_key": {"stake": {"$record_id": {
            ".rule": {"state": {"gc_max_siblings": 200, "gc_num_siblings_deleted": 100}},
            "value": {".rule": {"write": STAKE_RULE}},
        }}}}}});
        functions["staking"] = json!({"$app_name": {"$user_addr": {"$staking_key": {"stake": {"$record_id": {
            "value": {".function": {"_stake": {"function_type": "NATIVE", "function_id": "_stake"}}},
        }}}}}});
    }
    let mut root_owners = serde_json::Map::new();
    root_owners.insert(v.to_owned(), all(true));
    root_owners.insert("*".into(), all(false));
    let owners = json!({
        ".owner": {"owners": root_owners},
        "apps": {".owner": {"owners": {"fid:_createApp": {
            "branch_owner": true, "write_function": false, "write_owner": false, "write_rule": true
        }}}},
    });
    vec![
        SimpleOp::set_value("/", values),
        SimpleOp::set_function("/", functions),
        SimpleOp::set_rule("/", rules),
        SimpleOp::set_owner("/", owners),
    ]
}

/// Builds the genesis block and the state it leaves.
pub fn build_genesis(
    key: &PrivateKey,
    params: &GenesisParams,
) -> Result<(Block, State), CryptoError> {
    let v = key.address();
    let ops = genesis_ops(&v.to_checksum(), params);
    let mut state = State::default();
    let mut rules = RuleCache::default();
    let results = execute_trusted(&mut state, &mut rules, &ops, &v.to_checksum());
    let result_list: serde_json::Map<String, Value> = results
        .iter()
        .enumerate()
        .map(|(i, r)| (i.to_string(), json!({"code": r["code"]})))
        .collect();
    let body = TxBody::new(Operation::Set(ops), NONCE_UNORDERED, params.timestamp);
    let tx = body.sign(key, params.chain_id)?;
    let mut validators = Validators::new();
    validators.insert(
        v,
        ValidatorInfo {
            stake: params.stake,
            proposal_right: true,
        },
    );
    let zero = Hash([0; 32]);
    let mut block = Block {
        last_votes: Vec::new(),
        evidence: json!({}),
        transactions: vec![tx],
        receipts: vec![json!({"gas_cost_total": 0, "result_list": result_list})],
        last_hash: None,
        last_votes_hash: zero,
        evidence_hash: zero,
        transactions_hash: zero,
        receipts_hash: zero,
        number: 0,
        epoch: 0,
        timestamp: params.timestamp,
        state_proof_hash: Some(hash_json(&state.to_snapshot())),
        proposer: v,
        validators,
        gas_amount_total: 0.into(),
        gas_cost_total: 0.into(),
        hash: zero,
        size: None,
    };
    block.seal();
    Ok((block, state))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::TreeKind;
    use ain_ledger::follower::verify_genesis;

    #[test]
    fn genesis_verifies_and_sets_up_apps() {
        let key = PrivateKey::from_hex(
            "b22c95ffc4a5c096f7d7d0487ba963ce6ac945bdc91c79b64ce209de289bec96",
        )
        .unwrap();
        let params = GenesisParams {
            chain_id: 0,
            network_id: 0,
            stake: 10_000_000,
            timestamp: GENESIS_TIMESTAMP,
            balances: Vec::new(),
        };
        let (block, state) = build_genesis(&key, &params).unwrap();
        verify_genesis(&block, Some(&block.hash), 0).unwrap();
        assert_eq!(
            state.read(TreeKind::Rules, &[".rule", "write"]),
            json!(false)
        );
        assert!(
            state
                .read(
                    TreeKind::Owners,
                    &["apps", ".owner", "owners", "fid:_createApp"]
                )
                .is_object()
        );
        let (again, _) = build_genesis(&key, &params).unwrap();
        assert_eq!(again.hash, block.hash, "genesis is deterministic");
        let other = GenesisParams {
            timestamp: GENESIS_TIMESTAMP + 1,
            ..params
        };
        let (reset, _) = build_genesis(&key, &other).unwrap();
        assert_ne!(
            reset.hash, block.hash,
            "another genesis time, another chain"
        );
        assert!(
            block.receipts[0]["result_list"]
                .as_object()
                .unwrap()
                .values()
                .all(|r| r["code"] == 0)
        );
    }
}
