//! The generator's operations (every op type, nested lists) and whole tx bodies and messages.

use rand::RngExt;
use rand::seq::IndexedRandom;
use serde_json::{Map, Value, json};

use super::Gen;
use crate::inputs::OP_TYPES;
use crate::inputs::corpus::body;

impl Gen {
    fn label(&mut self) -> String {
        if self.chance(0.15) {
            return self.key();
        }
        let len = self.rng.random_range(1..10);
        (0..len)
            .map(|_| {
                *b"abcdefghijklmnopqrstuvwxyz0123456789_"
                    .choose(&mut self.rng)
                    .unwrap() as char
            })
            .collect()
    }

    fn reference(&mut self) -> String {
        let mut r =
            String::from(["/apps", "/manage_app", "/transfer", "/accounts", ""][self.below(5)]);
        for _ in 0..self.rng.random_range(1..6) {
            r.push('/');
            r.push_str(&self.label());
        }
        r
    }

    fn address(&mut self) -> String {
        let k = ain_sre::ledger::crypto::PrivateKey::from_bytes(&self.key_bytes()).unwrap();
        k.address().to_string()
    }

    fn rule_expression(&mut self) -> String {
        let addr = self.address();
        let s = self.string();
        let quoted = serde_json::to_string(&s).unwrap();
        let templates = [
            format!("auth.addr === '{addr}'"),
            "newData !== null && util.isNumber(newData) && newData > data".to_owned(),
            format!(
                "getValue('/apps/' + $app + '/admin/' + auth.addr) === true || {quoted} === \"x\""
            ),
            "data === null && currentTime > 1700000000000 && blockNumber >= 0".to_owned(),
            format!(
                "util.isCksumAddr(auth.addr) && auth.fid !== '{}'",
                self.label()
            ),
            s,
            "true".to_owned(),
            "false".to_owned(),
        ];
        templates.choose(&mut self.rng).cloned().unwrap()
    }

    fn op_value(&mut self, op_type: &str) -> Value {
        match op_type {
            "INC_VALUE" | "DEC_VALUE" => self.number(),
            "SET_RULE" => {
                let mut rule = Map::new();
                rule.insert(
                    "write".into(),
                    if self.chance(0.9) {
                        Value::String(self.rule_expression())
                    } else {
                        Value::Bool(self.chance(0.5))
                    },
                );
                let mut v = Map::new();
                v.insert(".rule".into(), Value::Object(rule));
                if self.chance(0.3) {
                    v.insert(
                        "state".into(),
                        json!({"max_children": self.below(1000), "gc_max_siblings": self.below(100), "gc_num_siblings_deleted": self.below(10)}),
                    );
                }
                Value::Object(v)
            }
            "SET_FUNCTION" => {
                let fid = self.label();
                let info = match self.below(4) {
                    0 => Value::Null,
                    1 => json!({"function_type": "NATIVE", "function_id": "_transfer"}),
                    _ => json!({
                        "function_type": "REST",
                        "function_id": fid,
                        "function_url": format!("https://{}.example.com/{}?q={}", self.label(), self.label(), self.string()),
                    }),
                };
                let key = if self.chance(0.9) {
                    fid
                } else {
                    "_transfer".to_owned()
                };
                json!({".function": {key: info}})
            }
            "SET_OWNER" => {
                let mut owners = Map::new();
                for _ in 0..self.rng.random_range(1..4) {
                    let who = match self.below(3) {
                        0 => self.address(),
                        1 => "*".to_owned(),
                        _ => format!("fid:{}", self.label()),
                    };
                    owners.insert(
                        who,
                        json!({
                            "branch_owner": self.chance(0.5),
                            "write_function": self.chance(0.5),
                            "write_owner": self.chance(0.5),
                            "write_rule": self.chance(0.5),
                        }),
                    );
                }
                json!({".owner": {"owners": owners}})
            }
            _ => {
                let depth = self.rng.random_range(0..=5);
                self.value(depth)
            }
        }
    }

    fn simple_op(&mut self, op_type: &str, in_list: bool) -> Value {
        let mut op = Map::new();
        // Inside an op_list the type may be omitted (it defaults to SET_VALUE).
        if !(in_list && op_type == "SET_VALUE" && self.chance(0.4)) {
            op.insert("type".into(), json!(op_type));
        }
        op.insert("ref".into(), json!(self.reference()));
        op.insert("value".into(), self.op_value(op_type));
        if self.chance(0.15) {
            op.insert("is_global".into(), json!(self.chance(0.5)));
        }
        Value::Object(op)
    }

    /// An operation of the given type (`SET` gets an op_list of simple ops).
    pub(crate) fn operation(&mut self, op_type: &str) -> Value {
        if op_type != "SET" {
            return self.simple_op(op_type, false);
        }
        let n = self.rng.random_range(1..7);
        let list: Vec<Value> = (0..n)
            .map(|_| {
                let t = *OP_TYPES[..6].choose(&mut self.rng).unwrap();
                self.simple_op(t, true)
            })
            .collect();
        json!({"type": "SET", "op_list": list})
    }

    /// A random transaction body with the given operation; the optional fields vary.
    pub(crate) fn tx_body(&mut self, op_type: &str) -> Value {
        let nonce = match self.below(4) {
            0 => json!(-2),
            1 => json!(-1),
            2 => json!(self.below(1000)),
            _ => json!(self.rng.random_range(0u64..1 << 40)),
        };
        let timestamp = if self.chance(0.05) {
            self.number()
        } else {
            json!(
                self.rng
                    .random_range(1_600_000_000_000u64..1_800_000_000_000)
            )
        };
        let gas_price = self.chance(0.5).then(|| match self.below(4) {
            0 => json!(0),
            1 => json!(500),
            2 => json!(self.rng.random::<u32>()),
            _ => self.number(),
        });
        let billing = self
            .chance(0.3)
            .then(|| json!(format!("{}|{}", self.label(), self.string())));
        let parent = self.chance(0.3).then(|| {
            if self.chance(0.3) {
                json!("")
            } else {
                json!(format!("0x{}", hex::encode(self.rng.random::<[u8; 32]>())))
            }
        });
        body(
            self.operation(op_type),
            nonce,
            timestamp,
            gas_price,
            billing,
            parent,
        )
    }

    /// A random message for `hashMessage`: plain text, `0x`-hex of any length and case (odd
    /// lengths included), near-hex, and stable JSON text as the node hashes for blocks.
    pub(crate) fn message(&mut self) -> String {
        match self.below(10) {
            0..=3 => self.string(),
            4..=6 => {
                let len = self.below(100);
                let digits: String = (0..len)
                    .map(|_| *b"0123456789abcdefABCDEF".choose(&mut self.rng).unwrap() as char)
                    .collect();
                format!("0x{digits}")
            }
            7 => {
                let len = self.below(20);
                let digits: String = (0..len)
                    .map(|_| *b"0123456789abcdef".choose(&mut self.rng).unwrap() as char)
                    .collect();
                let junk = self.random_char();
                match self.below(3) {
                    0 => format!("0x{digits}{junk}"),
                    1 => format!("0X{digits}"),
                    _ => format!("{junk}0x{digits}"),
                }
            }
            _ => ain_sre::ledger::json::stable_stringify(&self.value(3)),
        }
    }
}
