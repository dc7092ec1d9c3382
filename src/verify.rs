//! What a client checks before it believes a response: [`check_response`], pure and reusable,
//! and [`CallCheck`], which gathers what it needs from a node.
//!
//! The chain already refuses a response from a worker the app admin did not approve, a second
//! response, one for a missing request, and one whose `receipt.worker` is not its signer (the
//! rules `deploy` writes). What the chain cannot know is what the client sent, so the client
//! compares the receipt with its own facts:
//!
//! | check | against |
//! |---|---|
//! | `receipt.worker` may answer (approved; in an open app, registered) | the app's `config/workers`, `allowed_workers`, `workers` when checked |
//! | `receipt.request_tx` | the hash of the request tx the client signed |
//! | `receipt.input_hash` | SHA-256 (hex) of the input bytes the client sent |
//! | `output_ref.sha256` (when present) | `receipt.output_hash` (the download is then checked against it) |
//! | `receipt.code_hash` | the function's `code_hash` read just before the request (`""` and status `rejected` when there was no function) |
//!
//! A response that passes was written by a worker the admin trusts, for this request, over this
//! input and this code. Whether that worker ran the code honestly is the admin's trust in it;
//! the receipt is its signed claim (the response tx is signed with the worker's key).
//!
//! For ain-js clients the same checks are a few lines: keep the tx hash `ain.sendTransaction`
//! returns and the SHA-256 of the input, read `/apps/<app>/sre/functions/<fn>/code_hash` before
//! sending, and on the response compare `receipt.request_tx`, `receipt.input_hash`,
//! `receipt.code_hash`, and look `receipt.worker` up under `allowed_workers` (or `workers` when
//! `config/workers` is `any`).

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::client::{AppWorkers, ClientError};
use crate::ledger::crypto::{Address, Hash};
use crate::node::{Node, get_value};
use crate::onchain::AppPaths;

/// What the client knows about its call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// Hash of the request tx the client signed.
    pub request_tx: Hash,
    /// SHA-256 (hex) of the input bytes sent.
    pub input_hash: String,
    /// The function's `code_hash` as of the request; `None` when no function was deployed.
    pub code_hash: Option<String>,
}

impl Expected {
    /// The facts of a call that sent `input` in tx `request_tx` to a function whose code hash
    /// was `code_hash` at the time.
    pub fn new(request_tx: Hash, input: &[u8], code_hash: Option<String>) -> Expected {
        Expected {
            request_tx,
            input_hash: hex::encode(Sha256::digest(input)),
            code_hash,
        }
    }
}

/// One failed check; the text says what was expected and what the response holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    /// The response has no `receipt` object, or a receipt field is not a string.
    #[error("the response has no receipt field `{0}`")]
    Missing(&'static str),
    /// The writer is not a worker the app's rules let answer.
    #[error("writer {0} is not an approved worker of the app")]
    Writer(String),
    /// The receipt names another request tx.
    #[error("receipt.request_tx is {got}, the request tx is {expected}")]
    RequestTx {
        /// The request tx the client signed.
        expected: String,
        /// What the receipt says.
        got: String,
    },
    /// The worker did not hash the input the client sent.
    #[error("receipt.input_hash is {got}, the input sent hashes to {expected}")]
    InputHash {
        /// SHA-256 of the input sent.
        expected: String,
        /// What the receipt says.
        got: String,
    },
    /// The worker names other code than the function's at the request.
    #[error(
        "receipt.code_hash is {got:?}, the function's code hash at the request was {expected:?}"
    )]
    CodeHash {
        /// The function's code hash (`""` when none was deployed).
        expected: String,
        /// What the receipt says.
        got: String,
    },
    /// The response's `output_ref` names other bytes than its receipt's `output_hash`.
    #[error("output_ref.sha256 is {got}, the receipt's output_hash is {expected}")]
    OutputRef {
        /// `receipt.output_hash`.
        expected: String,
        /// `output_ref.sha256`.
        got: String,
    },
    /// A non-`rejected` answer for a function that did not exist.
    #[error(
        "status {0:?} for a function that was not deployed at the request (only `rejected` fits)"
    )]
    NoFunction(String),
}

/// Checks `response` against what the client knows and who may answer. Returns every failed
/// check (empty when the response is what the client asked for).
pub fn check_response(
    response: &Value,
    expected: &Expected,
    workers: &AppWorkers,
) -> Vec<Mismatch> {
    let r = &response["receipt"];
    let field = |name: &'static str| r[name].as_str().ok_or(Mismatch::Missing(name));
    let mut out = Vec::new();
    match field("worker") {
        Ok(w) => {
            if !w.parse::<Address>().is_ok_and(|a| workers.may_answer(&a)) {
                out.push(Mismatch::Writer(w.to_owned()));
            }
        }
        Err(e) => out.push(e),
    }
    let want_tx = expected.request_tx.to_string();
    match field("request_tx") {
        Ok(got) if got.eq_ignore_ascii_case(&want_tx) => {}
        Ok(got) => out.push(Mismatch::RequestTx {
            expected: want_tx,
            got: got.to_owned(),
        }),
        Err(e) => out.push(e),
    }
    match field("input_hash") {
        Ok(got) if got == expected.input_hash => {}
        Ok(got) => out.push(Mismatch::InputHash {
            expected: expected.input_hash.clone(),
            got: got.to_owned(),
        }),
        Err(e) => out.push(e),
    }
    let want_code = expected.code_hash.clone().unwrap_or_default();
    match field("code_hash") {
        Ok(got) if got == want_code => {}
        Ok(got) => out.push(Mismatch::CodeHash {
            expected: want_code,
            got: got.to_owned(),
        }),
        Err(e) => out.push(e),
    }
    // Additive (issue 20): the stored output is the one the receipt hashes.
    if let Some(output_ref) = response.get("output_ref").filter(|o| !o.is_null()) {
        let got = output_ref["sha256"].as_str().unwrap_or_default();
        let want = r["output_hash"].as_str().unwrap_or_default();
        if !got.eq_ignore_ascii_case(want) {
            out.push(Mismatch::OutputRef {
                expected: want.to_owned(),
                got: got.to_owned(),
            });
        }
    }
    let status = response["status"].as_str().unwrap_or_default();
    if expected.code_hash.is_none() && status != "rejected" {
        out.push(Mismatch::NoFunction(status.to_owned()));
    }
    out
}

/// A call being checked: the facts taken before the request, then [`CallCheck::check`] on the
/// response.
#[derive(Debug, Clone)]
pub struct CallCheck {
    app: String,
    code_hash: Option<String>,
}

impl CallCheck {
    /// Reads the function's code hash; call it just before sending the request.
    pub async fn before_request<N: Node>(
        node: &N,
        app: &str,
        function: &str,
    ) -> Result<CallCheck, ClientError> {
        let spec = get_value(node, &AppPaths::new(app)?.function(function)).await?;
        Ok(CallCheck {
            app: app.to_owned(),
            code_hash: spec["code_hash"].as_str().map(str::to_owned),
        })
    }

    /// The function's code hash as read before the request (`None`: no function).
    pub fn code_hash(&self) -> Option<&str> {
        self.code_hash.as_deref()
    }

    /// Checks `response` to the request `request_tx` that sent `input`, reading the app's
    /// workers now.
    pub async fn check<N: Node>(
        &self,
        node: &N,
        response: &Value,
        request_tx: Hash,
        input: &[u8],
    ) -> Result<Vec<Mismatch>, ClientError> {
        let workers = AppWorkers::fetch(node, &self.app).await?;
        let expected = Expected::new(request_tx, input, self.code_hash.clone());
        Ok(check_response(response, &expected, &workers))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ledger::crypto::PrivateKey;
    use crate::onchain::WorkerPolicy;

    fn setup() -> (Value, Expected, AppWorkers, Address) {
        let w = PrivateKey::generate().address();
        let tx = Hash([7; 32]);
        let exp = Expected::new(tx, b"hi", Some("ab".repeat(32)));
        let resp = json!({"status": "ok", "output": "hi", "receipt": {
            "worker": w.to_string(), "request_tx": tx.to_string(),
            "input_hash": exp.input_hash, "code_hash": "ab".repeat(32)}});
        let workers = AppWorkers {
            approved: [w].into_iter().collect(),
            ..AppWorkers::default()
        };
        (resp, exp, workers, w)
    }

    #[test]
    fn an_output_ref_must_name_the_hashed_output() {
        let (mut resp, exp, workers, _) = setup();
        resp["receipt"]["output_hash"] = json!("cd".repeat(32));
        resp["output_ref"] =
            json!({"sha256": "cd".repeat(32), "size": 9, "url": "http://x/blobs/cd"});
        assert_eq!(check_response(&resp, &exp, &workers), vec![]);
        resp["output_ref"]["sha256"] = json!("ef".repeat(32));
        assert!(matches!(
            check_response(&resp, &exp, &workers)[..],
            [Mismatch::OutputRef { .. }]
        ));
    }

    #[test]
    fn an_honest_response_passes() {
        let (resp, exp, workers, _) = setup();
        assert_eq!(check_response(&resp, &exp, &workers), vec![]);
    }

    #[test]
    fn each_forgery_is_named() {
        let (resp, exp, workers, _) = setup();
        let stranger = PrivateKey::generate().address().to_string();
        /// The receipt field forged, its forged value, and the mismatch expected.
        type Case = (&'static str, Value, fn(&Mismatch) -> bool);
        let cases: [Case; 5] = [
            ("worker", json!(stranger), |m| {
                matches!(m, Mismatch::Writer(_))
            }),
            ("request_tx", json!(Hash([8; 32]).to_string()), |m| {
                matches!(m, Mismatch::RequestTx { .. })
            }),
            ("input_hash", json!("00".repeat(32)), |m| {
                matches!(m, Mismatch::InputHash { .. })
            }),
            ("code_hash", json!("cd".repeat(32)), |m| {
                matches!(m, Mismatch::CodeHash { .. })
            }),
            ("code_hash", json!(7), |m| {
                *m == Mismatch::Missing("code_hash")
            }),
        ];
        for (field, value, want) in cases {
            let mut forged = resp.clone();
            forged["receipt"][field] = value;
            let got = check_response(&forged, &exp, &workers);
            assert!(got.len() == 1 && want(&got[0]), "{field}: {got:?}");
        }
        let got = check_response(&json!({"status": "ok"}), &exp, &workers);
        assert_eq!(got.len(), 4, "{got:?}");
    }

    #[test]
    fn open_apps_take_registered_workers_and_missing_functions_only_rejections() {
        let (resp, exp, mut workers, w) = setup();
        workers.approved.clear();
        assert_eq!(check_response(&resp, &exp, &workers).len(), 1);
        workers.registered.insert(w, json!({}));
        assert_eq!(
            check_response(&resp, &exp, &workers).len(),
            1,
            "closed: registration is not approval"
        );
        workers.policy = WorkerPolicy::Any;
        assert_eq!(check_response(&resp, &exp, &workers), vec![]);

        let none = Expected {
            code_hash: None,
            ..exp
        };
        let mut r = resp.clone();
        r["receipt"]["code_hash"] = json!("");
        assert_eq!(
            check_response(&r, &none, &workers),
            vec![Mismatch::NoFunction("ok".into())]
        );
        r["status"] = json!("rejected");
        assert_eq!(check_response(&r, &none, &workers), vec![]);
    }
}
