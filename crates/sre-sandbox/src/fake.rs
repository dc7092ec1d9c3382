//! A scripted sandbox for pipeline tests: it runs nothing, returns what its script says, and
//! records every call so tests can assert what reached the sandbox layer.

use std::sync::{Arc, Mutex};

use super::{FunctionCode, Invocation, Outcome, Sandbox, SandboxError, Tier, Usage};

/// The behaviour of a [`FakeSandbox`] for one call.
pub type Script = dyn Fn(&FunctionCode, &Invocation) -> Result<Outcome, SandboxError> + Send + Sync;

/// A test double implementing [`Sandbox`] with a closure.
#[derive(Clone)]
pub struct FakeSandbox {
    tier: Tier,
    script: Arc<Script>,
    calls: Arc<Mutex<Vec<Invocation>>>,
}

impl FakeSandbox {
    /// A fake of `tier` whose calls are answered by `script`.
    pub fn new(
        tier: Tier,
        script: impl Fn(&FunctionCode, &Invocation) -> Result<Outcome, SandboxError>
        + Send
        + Sync
        + 'static,
    ) -> FakeSandbox {
        FakeSandbox {
            tier,
            script: Arc::new(script),
            calls: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// A fake that echoes its input as output with exit code 0.
    pub fn echo(tier: Tier) -> FakeSandbox {
        FakeSandbox::new(tier, |_, call| {
            Ok(Outcome::Completed {
                exit_code: 0,
                stdout: call
                    .input
                    .to_vec_blocking()
                    .map_err(|e| SandboxError::Host {
                        tier: Tier::Wasm,
                        why: e.to_string(),
                    })?,
                stderr_tail: Vec::new(),
                usage: Usage {
                    wall_us: 1,
                    cpu_us: 1,
                    mem_peak_kb: 1,
                },
            })
        })
    }

    /// Every invocation run so far, in order.
    pub fn calls(&self) -> Vec<Invocation> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

impl Sandbox for FakeSandbox {
    type Prepared = FunctionCode;

    fn tier(&self) -> Tier {
        self.tier
    }

    async fn prepare(&self, code: &FunctionCode) -> Result<FunctionCode, SandboxError> {
        Ok(code.clone())
    }

    async fn run(
        &self,
        prepared: &FunctionCode,
        call: Invocation,
    ) -> Result<Outcome, SandboxError> {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(call.clone());
        }
        (self.script)(prepared, &call)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Failure, Limits};

    const EXPECTED_MODULE_SHA256: &str =
        "1885772b94ca41b360d9bd07535547f4c8ef16cbe7e49d2c8e9780247e26c4de";

    #[tokio::test]
    async fn echo_records_calls_and_statuses_map() {
        let fake = FakeSandbox::echo(Tier::Wasm);
        let code = FunctionCode::new("wasm", b"(module)".to_vec());
        let prepared = fake.prepare(&code).await.unwrap();
        let call = Invocation {
            input: b"{\"x\":1}"[..].into(),
            env: vec![
                ("SRE_CALL_ID".into(), "c1".into()),
                ("HOME".into(), "/root".into()),
            ],
            limits: Limits::default(),
        };
        let out = fake.run(&prepared, call.clone()).await.unwrap();
        assert_eq!(out.status(), "ok");
        assert_eq!(fake.calls().len(), 1);
        assert_eq!(
            call.guest_env().collect::<Vec<_>>(),
            vec![("SRE_CALL_ID", "c1")]
        );
        let failed = Outcome::Failed {
            failure: Failure::Oom,
            stdout: vec![],
            stderr_tail: vec![],
            usage: Usage::default(),
        };
        assert_eq!(failed.status(), "oom");
        // sha256("(module)"), computed independently with sha256sum.
        assert_eq!(code.hash_hex(), EXPECTED_MODULE_SHA256);
    }
}
