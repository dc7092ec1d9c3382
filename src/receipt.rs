//! The response a worker writes for a call, with its execution receipt (pure: no I/O).
//!
//! Shape, per DESIGN.md: `{status, output, stderr_tail?, error?, exit_code?, output_truncated?,
//! output_encoding?, receipt: {request_tx, worker, code_hash, runtime, sandbox, profile,
//! input_hash, output_hash, usage: {wall_us, cpu_us, mem_peak_kb}, started_at, finished_at,
//! queued_us}}`. `started_at`..`finished_at` spans the sandbox run; `queued_us` is how long the
//! call waited in this worker before it (finality, queue, code fetch, permits).
//!
//! The chain caps a transaction body at 10,000 "bytes" as npm `object-sizeof` counts them, so the
//! output, stderr tail and error text are shortened until the whole response tx fits. The
//! receipt's `output_hash` is always the SHA-256 of the *full* output, so a client holding the
//! output off-chain can still check it; `output_truncated: true` says the on-chain copy is cut.
//! Output that is not UTF-8 is stored base64-encoded with `output_encoding: "base64"`.
//! Additive fields for blobs (issue 20): when the worker stored the whole output as a blob the
//! response carries `output_ref: {sha256, size, url}` (`sha256` = `receipt.output_hash`); with an
//! `input_ref` request, `receipt.input_hash` is the reference's `sha256`.

use base64::Engine as _;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::blobs::worker::{Refs, input_digest};
use crate::ledger::crypto::{Address, Hash};
use crate::ledger::json::js_object_sizeof;
use crate::sandbox::{Failure, Outcome, Usage};

/// What the worker knows about a call when it answers it.
#[derive(Debug, Clone)]
pub struct CallFacts<'a> {
    /// Hash of the request transaction.
    pub request_tx: Hash,
    /// The answering worker's address.
    pub worker: Address,
    /// SHA-256 (hex) of the function code that ran (or was expected).
    pub code_hash: &'a str,
    /// Runtime name.
    pub runtime: &'a str,
    /// Tier that ran it, or `none` when nothing ran.
    pub sandbox: &'a str,
    /// Profile applied.
    pub profile: &'a str,
    /// The call's input bytes.
    pub input: &'a [u8],
    /// When the sandbox started (ms since the epoch); for a rejected call, the decision.
    pub started_at: u64,
    /// How long the call waited in the worker before `started_at`, µs.
    pub queued_us: u64,
    /// When it finished (ms since the epoch).
    pub finished_at: u64,
    /// For a timeout: which limit ran out, said in its error.
    pub timeout_limit: Option<&'a str>,
    /// The egress summary, for a call that had egress.
    pub egress: Option<&'a crate::egress::EgressSummary>,
    /// Blob references: with an `input_ref`, `input_hash` is its `sha256`; an `output_ref` is
    /// added to the response as is.
    pub refs: &'a Refs,
}

impl<'a> CallFacts<'a> {
    /// The facts of `answer`, answered by `worker`.
    pub fn of(answer: &'a crate::call::Answer, worker: Address) -> CallFacts<'a> {
        CallFacts {
            request_tx: answer.call.request_tx,
            worker,
            code_hash: &answer.code_hash,
            runtime: &answer.runtime,
            sandbox: &answer.sandbox,
            profile: &answer.profile,
            input: &answer.input,
            started_at: answer.started_at,
            queued_us: answer.queued_us,
            finished_at: answer.finished_at,
            timeout_limit: answer.timeout_limit.as_deref(),
            egress: answer.egress.as_ref(),
            refs: &answer.refs,
        }
    }
}

/// What happened to the call.
#[derive(Debug, Clone)]
pub enum CallResult {
    /// The function ran (successfully or not).
    Ran(Outcome),
    /// Nothing ran: bad code hash, unknown runtime, oversize input, forbidden imports, ...
    Rejected(String),
    /// The worker's host failed to run the call (a cgroup write, a container engine error):
    /// not the function's fault. Status `host_error`; the text is public (it goes on chain), so
    /// it names no host path: the details are in the worker's log.
    HostFault(String),
}

/// The `tx_body` size limit of real nodes (`tx_bytes_limit`).
pub const NODE_TX_BYTES_LIMIT: usize = 10_000;

/// Builds the response value, shortened so that a SET_VALUE tx writing it at `ref_path` measures
/// at most `tx_limit` (use [`NODE_TX_BYTES_LIMIT`] for real nodes).
pub fn build_response(
    facts: &CallFacts<'_>,
    result: &CallResult,
    ref_path: &str,
    tx_limit: usize,
) -> Value {
    /// Status, stdout, stderr tail, error, non-zero exit code, usage.
    type Reported<'a> = (
        &'a str,
        &'a [u8],
        &'a [u8],
        Option<String>,
        Option<i32>,
        Usage,
    );
    let (status, stdout, stderr, error, exit_code, usage): Reported<'_> = match result {
        CallResult::Rejected(why) => (
            "rejected",
            &[],
            &[],
            Some(why.clone()),
            None,
            Usage::default(),
        ),
        CallResult::HostFault(why) => (
            "host_error",
            &[],
            &[],
            Some(why.clone()),
            None,
            Usage::default(),
        ),
        CallResult::Ran(out) => match out {
            Outcome::Completed {
                exit_code,
                stdout,
                stderr_tail,
                usage,
            } => (
                out.status(),
                stdout,
                stderr_tail,
                None,
                (*exit_code != 0).then_some(*exit_code),
                *usage,
            ),
            Outcome::Failed {
                failure,
                stdout,
                stderr_tail,
                usage,
            } => {
                // The output is what the function wrote before it stopped (the partial output
                // of a timeout); `output_hash` covers exactly that.
                let partial = if stdout.is_empty() {
                    ""
                } else {
                    "; `output` holds what it wrote before"
                };
                let error = match failure {
                    Failure::Trap(msg) => Some(format!("{msg}{partial}")),
                    Failure::Timeout => Some(match facts.timeout_limit {
                        Some(limit) => format!("deadline exceeded: {limit}{partial}"),
                        None => format!(
                            "deadline exceeded (the profile's wall-time or CPU-time limit){partial}"
                        ),
                    }),
                    Failure::Oom => Some(format!("memory limit exceeded{partial}")),
                    Failure::OutputTooLarge => Some("output limit exceeded".to_owned()),
                };
                (
                    out.status(),
                    stdout.as_slice(),
                    stderr_tail,
                    error,
                    None,
                    *usage,
                )
            }
        },
    };
    let mut receipt = json!({
        "request_tx": facts.request_tx.to_string(),
        "worker": facts.worker.to_string(),
        "code_hash": facts.code_hash,
        "runtime": facts.runtime,
        "sandbox": facts.sandbox,
        "profile": facts.profile,
        "input_hash": input_digest(facts.refs, facts.input).to_string(),
        "output_hash": hex::encode(Sha256::digest(stdout)),
        "usage": {"wall_us": usage.wall_us, "cpu_us": usage.cpu_us, "mem_peak_kb": usage.mem_peak_kb},
        "started_at": facts.started_at,
        "finished_at": facts.finished_at,
        "queued_us": facts.queued_us,
    });
    // Only calls with egress carry the key, so receipts of other calls are unchanged.
    if let Some(e) = facts.egress {
        receipt["egress"] = serde_json::to_value(e).unwrap_or(Value::Null);
    }
    // Only a head that surely covers what fits is converted: a 16 MiB output is neither copied
    // nor base64-encoded whole to keep a few KB of it. The budget below is at most `tx_limit / 2`
    // UTF-16 units, which `2 × tx_limit` bytes of text (3-byte characters included) or their
    // base64 always exceed when cut.
    let head = &stdout[..stdout.len().min(tx_limit.saturating_mul(2))];
    let (output, encoding, full_len) = if std::str::from_utf8(stdout).is_ok() {
        let text = match std::str::from_utf8(head) {
            Ok(s) => s,
            // Cut inside a character: up to it (the whole output is valid UTF-8).
            Err(e) => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default(),
        };
        (text.to_owned(), None, stdout.len())
    } else {
        (
            base64::engine::general_purpose::STANDARD.encode(head),
            Some("base64"),
            stdout.len().div_ceil(3) * 4,
        )
    };
    let mut v = Map::new();
    v.insert("status".into(), json!(status));
    v.insert("receipt".into(), receipt);
    if let Some(code) = exit_code {
        v.insert("exit_code".into(), json!(code));
    }
    if let Some(enc) = encoding {
        v.insert("output_encoding".into(), json!(enc));
    }
    if let Some(r) = &facts.refs.output {
        // The whole output, off chain; `output` below keeps what fits, as before.
        v.insert("output_ref".into(), json!(r));
    }
    let stderr = String::from_utf8_lossy(stderr).into_owned();
    let error = error.unwrap_or_default();
    // Fixed part plus the tx envelope around the value; strings are then given what remains,
    // output first (it is the result), then the error, then stderr.
    let envelope = json!({"operation": {"type": "SET_VALUE", "ref": ref_path, "value": Value::Object(v.clone())},
                          "nonce": -1, "timestamp": 0, "gas_price": 0});
    // Keys of the optional fields and the flag that may be added.
    let reserve = js_object_sizeof(
        &json!({"output": "", "stderr_tail": "", "error": "", "output_truncated": true}),
    );
    let mut budget = tx_limit.saturating_sub(js_object_sizeof(&envelope) + reserve) / 2;
    let out = take_utf16(&output, &mut budget);
    let truncated = out.len() < full_len;
    v.insert("output".into(), json!(out));
    if truncated {
        v.insert("output_truncated".into(), json!(true));
    }
    if !error.is_empty() {
        v.insert("error".into(), json!(take_utf16(&error, &mut budget)));
    }
    if !stderr.is_empty() {
        // Keep the end of stderr: the last lines usually say what went wrong.
        let tail = take_utf16_tail(&stderr, &mut budget);
        if !tail.is_empty() {
            v.insert("stderr_tail".into(), json!(tail));
        }
    }
    Value::Object(v)
}

/// The longest prefix of `s` with at most `*budget` UTF-16 units; the budget is reduced.
fn take_utf16<'s>(s: &'s str, budget: &mut usize) -> &'s str {
    let mut units = 0;
    for (i, c) in s.char_indices() {
        if units + c.len_utf16() > *budget {
            *budget -= units;
            return &s[..i];
        }
        units += c.len_utf16();
    }
    *budget -= units;
    s
}

/// The longest suffix of `s` with at most `*budget` UTF-16 units; the budget is reduced.
fn take_utf16_tail<'s>(s: &'s str, budget: &mut usize) -> &'s str {
    let mut units = 0;
    for (i, c) in s.char_indices().rev() {
        if units + c.len_utf16() > *budget {
            *budget -= units;
            return &s[i + c.len_utf8()..];
        }
        units += c.len_utf16();
    }
    *budget -= units;
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(input: &[u8]) -> CallFacts<'_> {
        CallFacts {
            request_tx: Hash([7; 32]),
            worker: "0x00ADEc28B6a845a085e03591bE7550dd68673C1C"
                .parse()
                .unwrap(),
            code_hash: "ab".repeat(32).leak(),
            runtime: "wasm",
            sandbox: "wasm",
            profile: "default",
            input,
            started_at: 1_795_461_505_726,
            finished_at: 1_795_461_505_727,
            queued_us: 4_200,
            timeout_limit: None,
            egress: None,
            refs: &Refs::NONE,
        }
    }

    fn tx_size(v: &Value, path: &str) -> usize {
        js_object_sizeof(
            &json!({"operation": {"type": "SET_VALUE", "ref": path, "value": v},
                                 "nonce": -1, "timestamp": 1_795_461_505_727u64, "gas_price": 0}),
        )
    }

    const PATH: &str = "/apps/a/sre/calls/echo/c1/response";

    #[test]
    fn ok_response_carries_output_and_a_complete_receipt() {
        let out = Outcome::Completed {
            exit_code: 0,
            stdout: b"{\"x\":1}".to_vec(),
            stderr_tail: vec![],
            usage: Usage {
                wall_us: 10,
                cpu_us: 9,
                mem_peak_kb: 128,
            },
        };
        let v = build_response(
            &facts(b"{}"),
            &CallResult::Ran(out),
            PATH,
            NODE_TX_BYTES_LIMIT,
        );
        assert_eq!(v["status"], "ok");
        assert_eq!(v["output"], "{\"x\":1}");
        assert!(
            v.get("stderr_tail").is_none()
                && v.get("error").is_none()
                && v.get("output_truncated").is_none()
        );
        let r = &v["receipt"];
        assert_eq!(r["worker"], "0x00ADEc28B6a845a085e03591bE7550dd68673C1C");
        assert_eq!(
            r["input_hash"],
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(
            r["usage"],
            json!({"wall_us": 10, "cpu_us": 9, "mem_peak_kb": 128})
        );
        assert_eq!(r["request_tx"], format!("0x{}", "07".repeat(32)));
        assert_eq!(r["queued_us"], 4_200);
    }

    /// Only the head of a large output is converted, yet the on-chain copy is as long as the
    /// whole one would give: 3-byte characters, 4-byte characters and binary (base64).
    #[test]
    fn a_large_output_fills_the_budget_from_its_head_alone() {
        let whole = |stdout: Vec<u8>| {
            let out = Outcome::Completed {
                exit_code: 0,
                stdout,
                stderr_tail: vec![],
                usage: Usage::default(),
            };
            build_response(
                &facts(b""),
                &CallResult::Ran(out),
                PATH,
                NODE_TX_BYTES_LIMIT,
            )
        };
        let binary: Vec<u8> = (0..(4u32 << 20)).map(|i| (i % 256) as u8).collect();
        for (what, stdout) in [
            ("3-byte", "€".repeat(1 << 20).into_bytes()),
            ("4-byte", "😀".repeat(1 << 18).into_bytes()),
            ("binary", binary),
        ] {
            // Under 2 × the tx limit: converted whole, as before.
            let small = whole(stdout[..15_000].to_vec());
            let big = whole(stdout.clone());
            assert_eq!(big["output"], small["output"], "{what}");
            assert_eq!(big["output_truncated"], true, "{what}");
            assert!(tx_size(&big, PATH) > NODE_TX_BYTES_LIMIT - 200, "{what}");
            assert_eq!(
                big["receipt"]["output_hash"],
                hex::encode(Sha256::digest(&stdout)),
                "{what}"
            );
        }
    }

    #[test]
    fn the_egress_summary_is_in_the_receipt_only_when_the_call_had_egress() {
        let out = || {
            CallResult::Ran(Outcome::Completed {
                exit_code: 0,
                stdout: b"ok".to_vec(),
                stderr_tail: vec![],
                usage: Usage::default(),
            })
        };
        let v = build_response(&facts(b""), &out(), PATH, NODE_TX_BYTES_LIMIT);
        assert!(v["receipt"].get("egress").is_none());
        let summary = crate::egress::EgressSummary {
            connections: 1,
            refused: 1,
            bytes_out: 120,
            bytes_in: 4096,
            hosts: "api.example.com:443".into(),
            refused_hosts: "169.254.169.254:80".into(),
        };
        let mut f = facts(b"");
        f.egress = Some(&summary);
        let v = build_response(&f, &out(), PATH, NODE_TX_BYTES_LIMIT);
        assert_eq!(
            v["receipt"]["egress"],
            json!({"connections": 1, "refused": 1, "bytes_out": 120, "bytes_in": 4096,
                   "hosts": "api.example.com:443", "refused_hosts": "169.254.169.254:80"})
        );
    }

    #[test]
    fn huge_output_and_stderr_are_cut_to_fit_the_tx_limit() {
        let big = "é".repeat(50_000);
        let out = Outcome::Completed {
            exit_code: 2,
            stdout: big.clone().into_bytes(),
            stderr_tail: format!("{}END", "x".repeat(20_000)).into_bytes(),
            usage: Usage::default(),
        };
        let v = build_response(
            &facts(b""),
            &CallResult::Ran(out),
            PATH,
            NODE_TX_BYTES_LIMIT,
        );
        assert_eq!(v["status"], "error");
        assert_eq!(v["exit_code"], 2);
        assert_eq!(v["output_truncated"], true);
        assert!(big.starts_with(v["output"].as_str().unwrap()));
        assert_eq!(
            v["receipt"]["output_hash"],
            hex::encode(Sha256::digest(big.as_bytes()))
        );
        let size = tx_size(&v, PATH);
        assert!(size <= NODE_TX_BYTES_LIMIT, "{size}");
        assert!(
            size > NODE_TX_BYTES_LIMIT - 200,
            "the budget should be used, got {size}"
        );
    }

    #[test]
    fn stderr_keeps_its_end_and_binary_output_is_base64() {
        let stderr = "first line\n".repeat(40) + "last line";
        let out = Outcome::Completed {
            exit_code: 0,
            stdout: vec![0xff, 0x00, 0x80],
            stderr_tail: stderr.clone().into_bytes(),
            usage: Usage::default(),
        };
        let full = build_response(
            &facts(b""),
            &CallResult::Ran(out.clone()),
            PATH,
            NODE_TX_BYTES_LIMIT,
        );
        assert_eq!(full["output"], "/wCA");
        assert_eq!(full["output_encoding"], "base64");
        assert_eq!(full["stderr_tail"], stderr);
        // 200 "bytes" less room: the output stays whole, stderr loses its beginning, not its end.
        let limit = tx_size(&full, PATH) - 200;
        let v = build_response(&facts(b""), &CallResult::Ran(out), PATH, limit);
        assert_eq!(v["output"], "/wCA");
        let tail = v["stderr_tail"].as_str().unwrap();
        assert!(
            stderr.ends_with(tail) && tail.len() < stderr.len() && tail.ends_with("last line"),
            "{tail:?}"
        );
        assert!(tx_size(&v, PATH) <= limit);
    }

    #[test]
    fn failures_and_rejections_say_why() {
        let t = Outcome::Failed {
            failure: Failure::Timeout,
            stdout: vec![],
            stderr_tail: vec![],
            usage: Usage {
                wall_us: 5_000_000,
                ..Usage::default()
            },
        };
        let v = build_response(&facts(b""), &CallResult::Ran(t), PATH, NODE_TX_BYTES_LIMIT);
        assert_eq!(
            (
                v["status"].as_str(),
                v["error"].as_str(),
                v["output"].as_str()
            ),
            (
                Some("timeout"),
                Some("deadline exceeded (the profile's wall-time or CPU-time limit)"),
                Some("")
            )
        );
        // A timeout keeps what the function wrote before, and says so; the hash covers it.
        let t = Outcome::Failed {
            failure: Failure::Timeout,
            stdout: b"half".to_vec(),
            stderr_tail: vec![],
            usage: Usage::default(),
        };
        let v = build_response(&facts(b""), &CallResult::Ran(t), PATH, NODE_TX_BYTES_LIMIT);
        assert_eq!(v["output"], "half");
        assert!(
            v["error"]
                .as_str()
                .unwrap()
                .contains("holds what it wrote before")
        );
        assert_eq!(
            v["receipt"]["output_hash"],
            hex::encode(Sha256::digest(b"half"))
        );
        let v = build_response(
            &facts(b""),
            &CallResult::Rejected("code hash mismatch".into()),
            PATH,
            NODE_TX_BYTES_LIMIT,
        );
        assert_eq!(v["status"], "rejected");
        assert_eq!(v["error"], "code hash mismatch");
        assert_eq!(v["receipt"]["usage"]["wall_us"], 0);
    }
}
