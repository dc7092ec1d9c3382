//! The seam between the scheduler and the sandboxes: [`Executor`] picks a tier for a runtime,
//! prepares code and runs calls. [`Tiers`] implements it for real; `FakeSandbox` (feature `test-util`)
//! for pipeline tests.

use std::future::Future;

use crate::config::runtimes::Runtime;
use crate::sandbox::any::{AnyPrepared, Tiers};
#[cfg(any(test, feature = "test-util"))]
use crate::sandbox::fake::FakeSandbox;
#[cfg(any(test, feature = "test-util"))]
use crate::sandbox::Sandbox;
use crate::sandbox::{FunctionCode, Invocation, Outcome, SandboxError, Tier};

/// Runs functions for the scheduler.
pub trait Executor: Send + Sync + 'static {
    /// A prepared function, cached per code hash.
    type Prepared: Send + Sync + 'static;

    /// The tier that would run `runtime` here, or why none can.
    fn tier_for(&self, runtime: &Runtime) -> Result<Tier, SandboxError>;

    /// Prepares `code` on `tier`.
    fn prepare(
        &self,
        tier: Tier,
        code: &FunctionCode,
    ) -> impl Future<Output = Result<Self::Prepared, SandboxError>> + Send;

    /// Runs one call.
    fn run(
        &self,
        tier: Tier,
        prepared: &Self::Prepared,
        call: Invocation,
    ) -> impl Future<Output = Result<Outcome, SandboxError>> + Send;
}

impl Executor for Tiers {
    type Prepared = AnyPrepared;

    fn tier_for(&self, runtime: &Runtime) -> Result<Tier, SandboxError> {
        self.choose(runtime, None).map(|s| s.tier())
    }

    async fn prepare(&self, tier: Tier, code: &FunctionCode) -> Result<AnyPrepared, SandboxError> {
        self.get(tier)?.prepare(code).await
    }

    async fn run(
        &self,
        tier: Tier,
        prepared: &AnyPrepared,
        call: Invocation,
    ) -> Result<Outcome, SandboxError> {
        self.get(tier)?.run(prepared, call).await
    }
}

#[cfg(any(test, feature = "test-util"))]
impl Executor for FakeSandbox {
    type Prepared = FunctionCode;

    fn tier_for(&self, runtime: &Runtime) -> Result<Tier, SandboxError> {
        let t = Sandbox::tier(self);
        if runtime.tiers.contains(&t) {
            Ok(t)
        } else {
            Err(SandboxError::NoTier {
                runtime: runtime.name.clone(),
                why: format!("{t}: the fake only plays this tier"),
            })
        }
    }

    async fn prepare(
        &self,
        _tier: Tier,
        code: &FunctionCode,
    ) -> Result<FunctionCode, SandboxError> {
        Sandbox::prepare(self, code).await
    }

    async fn run(
        &self,
        _tier: Tier,
        prepared: &FunctionCode,
        call: Invocation,
    ) -> Result<Outcome, SandboxError> {
        Sandbox::run(self, prepared, call).await
    }
}
