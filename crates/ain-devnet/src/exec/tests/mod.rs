use serde_json::{Value, json};

use super::*;
use crate::genesis::{GenesisParams, build_genesis};
use ain_ledger::crypto::PrivateKey;
use ain_ledger::tx::TxBody;
mod gc;
mod state_budget;
mod writes;

const SK: &str = "b22c95ffc4a5c096f7d7d0487ba963ce6ac945bdc91c79b64ce209de289bec96";
const SK2: &str = "d36d9bd96fc4d28d1c282bfdc71656e1d40fabcb0cccb7fb7b0a127a0a574d5e";

struct T {
    state: State,
    rules: RuleCache,
    params: ExecParams,
    ts: u64,
    block: u64,
}

impl T {
    fn new() -> T {
        let key = PrivateKey::from_hex(SK).unwrap();
        let (_, state) = build_genesis(
            &key,
            &GenesisParams {
                chain_id: 0,
                network_id: 0,
                stake: 1,
                timestamp: crate::genesis::GENESIS_TIMESTAMP,
                balances: vec![(addr(SK), 1000)],
            },
        )
        .unwrap();
        T {
            state,
            rules: RuleCache::default(),
            params: ExecParams {
                min_gas_price: 1,
                set_op_list_size_limit: 50,
                budgets: Default::default(),
            },
            ts: 1_700_000_000_000,
            block: 1,
        }
    }

    fn run(&mut self, sk: &str, op: Operation, nonce: i64) -> Executed {
        self.ts += 1;
        let key = PrivateKey::from_hex(sk).unwrap();
        let tx = TxBody::new(op, nonce, self.ts).sign(&key, 0).unwrap();
        let env = TxEnv {
            block_number: self.block,
            block_time: 0,
            source: Some("USER"),
        };
        execute_tx(
            &mut self.state,
            &mut self.rules,
            &self.params,
            &tx,
            &crate::event_handler::EventTx::None,
            env,
        )
    }

    fn ok(&mut self, sk: &str, op: impl Into<Operation>) -> Executed {
        let e = self.run(sk, op.into(), -1);
        assert!(!codes::is_failed_tx(&e.result), "{}", e.result);
        e
    }
}

fn addr(sk: &str) -> String {
    PrivateKey::from_hex(sk).unwrap().address().to_checksum()
}

fn create_app(t: &mut T) {
    let a = addr(SK);
    let e = t.ok(
        SK,
        SimpleOp::set_value(
            "/manage_app/demo/create/1",
            json!({"admin": {a.clone(): true}}),
        ),
    );
    assert_eq!(e.result["func_results"]["_createApp"]["code"], 0);
}
