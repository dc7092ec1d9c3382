//! Transactions: typed bodies that hash exactly as signed, and signed transactions.
//!
//! A [`TxBody`] parses only what the node's format check (`isInStandardFormat`) accepts: the keys
//! `operation`, `nonce`, `timestamp`, `gas_price`, `billing`, `parent_tx_hash`, nothing `null`
//! where a value is expected, `nonce` an integer ≥ -2 and `gas_price` ≥ 0. Numbers stay JSON
//! numbers and values stay [`serde_json::Value`], so [`TxBody::hash`] — and equally
//! `hash_transaction(&serde_json::to_value(&body))` — reproduces the signer's hash.
//!
//! Execution-time rules (§1.2 labels and values, non-empty `op_list`, integer gas price) are not
//! format rules: a body breaking them can still be in a block as REVERTED. They are checked by
//! [`TxBody::validate`], which everything that *writes* transactions should call.

use std::fmt::Write as _;

use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Number, Value};

use super::crypto::{Address, CryptoError, Hash, PrivateKey, Signature, hash_stable_text};
use super::json::{write_js_number, write_js_string};

mod op;
pub mod state;

pub use op::{OpType, Operation, SimpleOp};

/// `nonce` value for unordered transactions (deduplicated only by hash; consensus txs use it).
pub const NONCE_UNORDERED: i64 = -1;
/// `nonce` value for transactions ordered by timestamp per account.
pub const NONCE_ORDERED: i64 = -2;

/// Why a transaction body is malformed or breaks the node's rules.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TxError {
    /// A required key is absent.
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    /// A key the node does not accept (`30303 Invalid transaction format`).
    #[error("unknown field `{0}`")]
    UnknownField(String),
    /// A key holds the wrong JSON type (including an explicit `null`).
    #[error("`{field}` must be {expected}")]
    WrongType {
        /// The offending key.
        field: &'static str,
        /// What the node expects there.
        expected: &'static str,
    },
    /// `type` names no write operation.
    #[error("unknown operation type {0:?}")]
    UnknownOpType(String),
    /// `nonce` is not an integer ≥ -2.
    #[error("invalid nonce: must be an integer >= -2")]
    InvalidNonce,
    /// `gas_price` is negative, or nonzero and not an integer.
    #[error("invalid gas_price: must be 0 or a positive integer")]
    InvalidGasPrice,
    /// A `SET` operation with no ops.
    #[error("SET operation with an empty op_list")]
    EmptyOpList,
    /// A top-level operation without `type` (only `op_list` entries may omit it).
    #[error("operation without `type` outside an op_list")]
    MissingOpType,
    /// A path with a label the node refuses.
    #[error("invalid state path {0:?}")]
    InvalidPath(String),
    /// A value the node cannot store (array, empty object, bad key), at `path`.
    #[error("invalid value for {op_path}: offending part at {path}")]
    InvalidValue {
        /// The op's path.
        op_path: String,
        /// The offending key or child inside the value.
        path: String,
    },
    /// A write op with no `value` key.
    #[error("operation on {0} has no value")]
    MissingValue(String),
}

impl TxError {
    pub(crate) fn wrong_type(field: &'static str, expected: &'static str) -> TxError {
        TxError::WrongType { field, expected }
    }
}

/// A transaction body. Optional fields are omitted when `None`, never written as `null`.
#[derive(Clone, Debug, PartialEq)]
pub struct TxBody {
    /// What to write.
    pub operation: Operation,
    /// `-1` unordered, `-2` ordered by timestamp, `n ≥ 0` the account's next nonce.
    pub nonce: i64,
    /// Milliseconds, kept as the JSON number that was signed.
    pub timestamp: Number,
    /// Gas price; ain-js and this crate's builder write `0`.
    pub gas_price: Option<Number>,
    /// `"<app_name>|<billing_id>"`.
    pub billing: Option<String>,
    /// Hash of a parent transaction.
    pub parent_tx_hash: Option<String>,
}

impl TxBody {
    /// A body with `gas_price: 0` (as ain-js writes it) and no billing or parent.
    pub fn new(operation: impl Into<Operation>, nonce: i64, timestamp_ms: u64) -> TxBody {
        TxBody {
            operation: operation.into(),
            nonce,
            timestamp: Number::from(timestamp_ms),
            gas_price: Some(Number::from(0u64)),
            billing: None,
            parent_tx_hash: None,
        }
    }

    /// Sets `gas_price`.
    pub fn with_gas_price(mut self, gas_price: u64) -> TxBody {
        self.gas_price = Some(Number::from(gas_price));
        self
    }

    /// Sets `billing` (`"<app_name>|<billing_id>"`).
    pub fn with_billing(mut self, billing: impl Into<String>) -> TxBody {
        self.billing = Some(billing.into());
        self
    }

    /// Sets `parent_tx_hash`.
    pub fn with_parent_tx_hash(mut self, hash: impl Into<String>) -> TxBody {
        self.parent_tx_hash = Some(hash.into());
        self
    }

    /// The timestamp as integer milliseconds, when it is one.
    pub fn timestamp_ms(&self) -> Option<u64> {
        self.timestamp.as_u64()
    }

    /// The stable JSON text ain-util hashes, byte-identical to
    /// `stable_stringify(&serde_json::to_value(self))`.
    pub fn stable_json(&self) -> String {
        let mut out = String::with_capacity(256);
        self.write_stable(&mut out);
        out
    }

    /// Appends [`TxBody::stable_json`] to `out` (keys in sorted order, written directly).
    pub fn write_stable(&self, out: &mut String) {
        out.push('{');
        if let Some(b) = &self.billing {
            out.push_str("\"billing\":");
            write_js_string(out, b);
            out.push(',');
        }
        if let Some(g) = &self.gas_price {
            out.push_str("\"gas_price\":");
            write_js_number(out, g);
            out.push(',');
        }
        out.push_str("\"nonce\":");
        let _ = write!(out, "{}", self.nonce);
        out.push_str(",\"operation\":");
        self.operation.write_stable(out);
        if let Some(p) = &self.parent_tx_hash {
            out.push_str(",\"parent_tx_hash\":");
            write_js_string(out, p);
        }
        out.push_str(",\"timestamp\":");
        write_js_number(out, &self.timestamp);
        out.push('}');
    }

    /// `hashTransaction`: the hash the signature must embed.
    pub fn hash(&self) -> Hash {
        hash_stable_text(&self.stable_json())
    }

    /// Signs the body (`ecSignTransaction`) and returns the 4-field signed transaction.
    pub fn sign(self, key: &PrivateKey, chain_id: u64) -> Result<SignedTx, CryptoError> {
        let hash = self.hash();
        let signature = key.sign_hash(&hash, chain_id)?;
        Ok(SignedTx {
            tx_body: self,
            signature: signature.to_string(),
            hash,
            address: key.address(),
            extra: None,
        })
    }

    /// Checks the node's execution-time rules (§1.2) that parsing deliberately does not: a typed
    /// top-level op, non-empty `op_list`, valid paths, storable values, numeric INC/DEC values,
    /// and a gas price of 0 or a positive integer.
    pub fn validate(&self) -> Result<(), TxError> {
        if let Some(g) = &self.gas_price {
            let ok = g.as_u64().is_some() || g.as_f64() == Some(0.0);
            if !ok {
                return Err(TxError::InvalidGasPrice);
            }
        }
        match &self.operation {
            Operation::Simple(op) if !op.type_present => return Err(TxError::MissingOpType),
            Operation::Set(ops) if ops.is_empty() => return Err(TxError::EmptyOpList),
            _ => {}
        }
        for op in self.operation.ops() {
            if !state::is_valid_path(&op.path) {
                return Err(TxError::InvalidPath(op.path.clone()));
            }
            let Some(value) = &op.value else {
                return Err(TxError::MissingValue(op.path.clone()));
            };
            match op.op_type {
                OpType::IncValue | OpType::DecValue if !value.is_number() => {
                    return Err(TxError::wrong_type("value", "a number"));
                }
                _ => state::check_state_value(value).map_err(|path| TxError::InvalidValue {
                    op_path: op.path.clone(),
                    path,
                })?,
            }
        }
        Ok(())
    }

    fn from_map(mut map: Map<String, Value>) -> Result<TxBody, TxError> {
        let operation = match map.remove("operation") {
            Some(Value::Object(m)) => Operation::from_map(m)?,
            Some(_) => return Err(TxError::wrong_type("operation", "an object")),
            None => return Err(TxError::MissingField("operation")),
        };
        let nonce = match map.remove("nonce") {
            Some(Value::Number(n)) => integer(&n)
                .filter(|&n| n >= -2)
                .ok_or(TxError::InvalidNonce)?,
            Some(_) => return Err(TxError::InvalidNonce),
            None => return Err(TxError::MissingField("nonce")),
        };
        let timestamp = match map.remove("timestamp") {
            Some(Value::Number(n)) => n,
            Some(_) => return Err(TxError::wrong_type("timestamp", "a number")),
            None => return Err(TxError::MissingField("timestamp")),
        };
        let gas_price = match map.remove("gas_price") {
            None => None,
            Some(Value::Number(n)) if n.as_f64().is_some_and(|x| x >= 0.0) => Some(n),
            Some(_) => return Err(TxError::InvalidGasPrice),
        };
        let billing = optional_string(&mut map, "billing")?;
        let parent_tx_hash = optional_string(&mut map, "parent_tx_hash")?;
        if let Some(k) = map.keys().next() {
            return Err(TxError::UnknownField(k.clone()));
        }
        Ok(TxBody {
            operation,
            nonce,
            timestamp,
            gas_price,
            billing,
            parent_tx_hash,
        })
    }
}

/// An integral JSON number as i64 (JS `Number.isInteger` also accepts `5.0`).
fn integer(n: &Number) -> Option<i64> {
    n.as_i64().or_else(|| {
        let x = n.as_f64()?;
        (x.fract() == 0.0 && x.abs() < 9.0e15).then_some(x as i64)
    })
}

fn optional_string(
    map: &mut Map<String, Value>,
    key: &'static str,
) -> Result<Option<String>, TxError> {
    match map.remove(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(TxError::wrong_type(key, "a string")),
    }
}

impl Serialize for TxBody {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("operation", &self.operation)?;
        m.serialize_entry("nonce", &self.nonce)?;
        m.serialize_entry("timestamp", &self.timestamp)?;
        if let Some(g) = &self.gas_price {
            m.serialize_entry("gas_price", g)?;
        }
        if let Some(b) = &self.billing {
            m.serialize_entry("billing", b)?;
        }
        if let Some(p) = &self.parent_tx_hash {
            m.serialize_entry("parent_tx_hash", p)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for TxBody {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<TxBody, D::Error> {
        let map = Map::<String, Value>::deserialize(d)?;
        TxBody::from_map(map).map_err(D::Error::custom)
    }
}

/// Why a signed transaction does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxVerifyError {
    /// The `hash` field, or the hash embedded in the signature, is not the body's hash.
    #[error("claimed hash {claimed} is not the body's hash {computed}")]
    Hash {
        /// The hash that was claimed.
        claimed: Hash,
        /// The hash of the body.
        computed: Hash,
    },
    /// The signature does not parse or no key can be recovered from it.
    #[error("bad signature: {0}")]
    Signature(CryptoError),
    /// The signature is valid but made by another key than `address`.
    #[error("signed by {recovered}, not by the claimed {claimed}")]
    Signer {
        /// The `address` field.
        claimed: Address,
        /// The address recovered from the signature.
        recovered: Address,
    },
}

/// A signed transaction as blocks carry it: `{tx_body, signature, hash, address}`.
///
/// API results sometimes add `extra` (node bookkeeping); it is accepted and kept, but never part
/// of any hash: block hashes cover the 4-field form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedTx {
    /// The signed body.
    pub tx_body: TxBody,
    /// `0x` ‖ hash ‖ r ‖ s ‖ v, kept as the exact text the node sent.
    pub signature: String,
    /// The transaction hash (the node takes it from the signature).
    pub hash: Hash,
    /// The signer's address as the node recovered it.
    pub address: Address,
    /// Node bookkeeping from some API results (`created_at`, `executed_at`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Value>,
}

impl SignedTx {
    /// Verifies the transaction as the node does: `hash` and the signature's embedded hash equal
    /// the body's hash, and the signature recovers (under `chain_id`) to `address`. Returns the
    /// signer.
    pub fn verify(&self, chain_id: u64) -> Result<Address, TxVerifyError> {
        self.verify_with_body_text(&self.tx_body.stable_json(), chain_id)
    }

    /// [`SignedTx::verify`] with the body's stable JSON already rendered, so block verification
    /// renders each body once for both the tx hash and the block's list hash.
    pub fn verify_with_body_text(
        &self,
        body_text: &str,
        chain_id: u64,
    ) -> Result<Address, TxVerifyError> {
        let computed = hash_stable_text(body_text);
        if self.hash != computed {
            return Err(TxVerifyError::Hash {
                claimed: self.hash,
                computed,
            });
        }
        let sig = Signature::parse(&self.signature).map_err(TxVerifyError::Signature)?;
        if sig.hash != computed {
            return Err(TxVerifyError::Hash {
                claimed: sig.hash,
                computed,
            });
        }
        let recovered = sig.recover(chain_id).map_err(TxVerifyError::Signature)?;
        if recovered != self.address {
            return Err(TxVerifyError::Signer {
                claimed: self.address,
                recovered,
            });
        }
        Ok(recovered)
    }

    /// Appends the stable JSON of the 4-field form, given the body's stable JSON.
    /// Sorted keys: `address`, `hash`, `signature`, `tx_body`.
    pub fn write_stable_with_body_text(&self, out: &mut String, body_text: &str) {
        out.push_str("{\"address\":\"");
        out.push_str(&self.address.to_checksum());
        out.push_str("\",\"hash\":\"");
        out.push_str(&self.hash.to_string());
        out.push_str("\",\"signature\":");
        write_js_string(out, &self.signature);
        out.push_str(",\"tx_body\":");
        out.push_str(body_text);
        out.push('}');
    }

    /// Appends the stable JSON of the 4-field form (what block hashes cover).
    pub fn write_stable(&self, out: &mut String) {
        let body = self.tx_body.stable_json();
        self.write_stable_with_body_text(out, &body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::hash_transaction;
    use crate::json::stable_stringify;
    use serde_json::json;

    const NODE_SK: &str = "b22c95ffc4a5c096f7d7d0487ba963ce6ac945bdc91c79b64ce209de289bec96";

    fn body(v: Value) -> Result<TxBody, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn protocol_vectors_hash_identically() {
        for (v, h) in [
            (
                json!({"operation":{"ref":"/afan","value":"HAHA","type":"SET_VALUE"},"nonce":10,"timestamp":123,"parent_tx_hash":""}),
                "0x8addddfc0a938dfcbe520e8b2fb42d5a9839fb1dc043b563770d8dd77191c83d",
            ),
            (
                json!({"operation":{"type":"SET_VALUE","ref":"/apps/test/value","value":"hello"},"nonce":-1,"timestamp":1700000000000u64,"gas_price":0}),
                "0x6e28525a717ffdcc098be7773c5046889555565c8f8b0495dd0815dde01bdd02",
            ),
        ] {
            let b = body(v.clone()).unwrap();
            assert_eq!(b.hash().to_string(), h);
            assert_eq!(b.stable_json(), stable_stringify(&v));
            assert_eq!(
                hash_transaction(&serde_json::to_value(&b).unwrap()).to_string(),
                h
            );
        }
    }

    #[test]
    fn format_strictness() {
        let op = json!({"type":"SET_VALUE","ref":"/a","value":1});
        let cases = [
            (
                json!({"operation":op,"nonce":-1,"timestamp":1,"foo":1}),
                "unknown field `foo`",
            ),
            (
                json!({"operation":op,"nonce":-1,"timestamp":1,"address":"0x"}),
                "unknown field `address`",
            ),
            (
                json!({"operation":op,"nonce":-3,"timestamp":1}),
                "invalid nonce",
            ),
            (
                json!({"operation":op,"nonce":1.5,"timestamp":1}),
                "invalid nonce",
            ),
            (
                json!({"operation":op,"nonce":"1","timestamp":1}),
                "invalid nonce",
            ),
            (
                json!({"operation":op,"timestamp":1}),
                "missing field `nonce`",
            ),
            (
                json!({"operation":op,"nonce":-1}),
                "missing field `timestamp`",
            ),
            (
                json!({"nonce":-1,"timestamp":1}),
                "missing field `operation`",
            ),
            (
                json!({"operation":op,"nonce":-1,"timestamp":null}),
                "`timestamp` must be",
            ),
            (
                json!({"operation":op,"nonce":-1,"timestamp":1,"gas_price":null}),
                "invalid gas_price",
            ),
            (
                json!({"operation":op,"nonce":-1,"timestamp":1,"gas_price":-1}),
                "invalid gas_price",
            ),
            (
                json!({"operation":op,"nonce":-1,"timestamp":1,"billing":null}),
                "`billing` must be",
            ),
            (
                json!({"operation":op,"nonce":-1,"timestamp":1,"parent_tx_hash":1}),
                "`parent_tx_hash` must be",
            ),
        ];
        for (v, want) in cases {
            let err = body(v.clone()).unwrap_err();
            assert!(err.contains(want), "{v}: {err}");
        }
        assert_eq!(
            body(json!({"operation":op,"nonce":5.0,"timestamp":1}))
                .unwrap()
                .nonce,
            5
        );
    }

    #[test]
    fn optional_fields_are_omitted_not_null() {
        let b = TxBody::new(
            SimpleOp::set_value("/apps/a/x", json!(1)),
            NONCE_UNORDERED,
            7,
        );
        assert_eq!(
            serde_json::to_value(&b).unwrap(),
            json!({"operation":{"type":"SET_VALUE","ref":"/apps/a/x","value":1},"nonce":-1,"timestamp":7,"gas_price":0})
        );
        let mut b = b.with_billing("a|0").with_parent_tx_hash("0x1");
        b.gas_price = None;
        let v = serde_json::to_value(&b).unwrap();
        assert_eq!(v["billing"], "a|0");
        assert!(v.get("gas_price").is_none());
        assert_eq!(b.stable_json(), stable_stringify(&v));
    }

    #[test]
    fn sign_verify_and_tamper() {
        let key = PrivateKey::from_hex(NODE_SK).unwrap();
        let b = TxBody::new(
            SimpleOp::set_value("/apps/test/value", json!("hello")),
            -1,
            1_700_000_000_000,
        );
        let tx = b.sign(&key, 0).unwrap();
        assert_eq!(
            tx.hash.to_string(),
            "0x6e28525a717ffdcc098be7773c5046889555565c8f8b0495dd0815dde01bdd02"
        );
        assert_eq!(tx.verify(0).unwrap(), key.address());
        assert!(matches!(tx.verify(1), Err(TxVerifyError::Signature(_))));

        let mut changed = tx.clone();
        changed.tx_body.nonce = 3;
        assert!(matches!(changed.verify(0), Err(TxVerifyError::Hash { .. })));

        let other = PrivateKey::generate();
        let mut forged = tx.clone();
        forged.signature = other.sign_hash(&tx.hash, 0).unwrap().to_string();
        assert!(matches!(
            forged.verify(0),
            Err(TxVerifyError::Signer { .. })
        ));

        let parsed: SignedTx = serde_json::from_value(json!({
            "tx_body": serde_json::to_value(&tx.tx_body).unwrap(),
            "signature": tx.signature, "hash": tx.hash, "address": tx.address,
            "extra": {"created_at": 1}
        }))
        .unwrap();
        assert!(parsed.extra.is_some());
        let mut s = String::new();
        parsed.write_stable(&mut s);
        let mut four = serde_json::to_value(&parsed).unwrap();
        four.as_object_mut().unwrap().remove("extra");
        assert_eq!(s, stable_stringify(&four));
    }

    #[test]
    fn validate_applies_execution_rules() {
        let ok = TxBody::new(SimpleOp::set_value("/apps/a/x", json!({"k": 1})), -1, 1);
        assert_eq!(ok.validate(), Ok(()));
        let arr = TxBody::new(SimpleOp::set_value("/apps/a/x", json!({"k": [1]})), -1, 1);
        assert!(matches!(arr.validate(), Err(TxError::InvalidValue { path, .. }) if path == "/k"));
        let bad_path = TxBody::new(SimpleOp::set_value("/apps/a.b", json!(1)), -1, 1);
        assert_eq!(
            bad_path.validate(),
            Err(TxError::InvalidPath("/apps/a.b".into()))
        );
        let empty = TxBody {
            operation: Operation::Set(vec![]),
            ..ok.clone()
        };
        assert_eq!(empty.validate(), Err(TxError::EmptyOpList));
        let untyped = TxBody::new(SimpleOp::set_value("/a", json!(1)).without_type(), -1, 1);
        assert_eq!(untyped.validate(), Err(TxError::MissingOpType));
        let fractional = TxBody {
            gas_price: Some(Number::from_f64(0.5).unwrap()),
            ..ok.clone()
        };
        assert_eq!(fractional.validate(), Err(TxError::InvalidGasPrice));
        let set = TxBody::new(
            Operation::set(vec![
                SimpleOp::set_value("/apps/a/x", json!(null)).without_type(),
                SimpleOp::set_rule("/apps/a/$user", json!({".rule": {"write": true}})),
            ])
            .unwrap(),
            0,
            1,
        );
        assert_eq!(set.validate(), Ok(()));
    }
}
