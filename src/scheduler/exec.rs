//! The seam between the scheduler and the sandboxes: [`Executor`] picks a tier for a runtime and
//! hands out the [`Sandbox`] serving it, which prepares code and runs calls. [`Tiers`] implements
//! it for real; `FakeSandbox` (feature `test-util`) for pipeline tests.

use crate::config::runtimes::Runtime;
use crate::sandbox::any::{AnySandbox, Tiers};
#[cfg(any(test, feature = "test-util"))]
use crate::sandbox::fake::FakeSandbox;
use crate::sandbox::{Sandbox, SandboxError, Tier};

/// Runs functions for the scheduler: picks the tier for a runtime and hands out the [`Sandbox`]
/// serving it. Preparing and running are the sandbox's own methods, not repeated here.
pub trait Executor: Send + Sync + 'static {
    /// The sandbox type serving every tier ([`AnySandbox`] for real).
    type Sandbox: Sandbox;

    /// The tier that would run `runtime` here, or why none can.
    fn tier_for(&self, runtime: &Runtime) -> Result<Tier, SandboxError>;

    /// The sandbox serving `tier`, or why it is unavailable.
    fn sandbox(&self, tier: Tier) -> Result<&Self::Sandbox, SandboxError>;
}

/// What executor `E`'s sandbox prepares (cached per code hash by the scheduler).
pub type PreparedOf<E> = <<E as Executor>::Sandbox as Sandbox>::Prepared;

impl Executor for Tiers {
    type Sandbox = AnySandbox;

    fn tier_for(&self, runtime: &Runtime) -> Result<Tier, SandboxError> {
        self.choose(runtime, None).map(|s| s.tier())
    }

    fn sandbox(&self, tier: Tier) -> Result<&AnySandbox, SandboxError> {
        self.get(tier)
    }
}

#[cfg(any(test, feature = "test-util"))]
impl Executor for FakeSandbox {
    type Sandbox = FakeSandbox;

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

    fn sandbox(&self, _tier: Tier) -> Result<&FakeSandbox, SandboxError> {
        Ok(self)
    }
}
