//! Tiers left out of the build: `sre-sandbox` built without the `wasm` or `container` feature
//! (the process tier has its own stub, `process/stub.rs`, shared with non-Linux builds). The
//! [`any`](crate::any) registry then reports the tier unavailable, with the reason, exactly as it
//! reports a tier the host cannot run.

use crate::{FunctionCode, Invocation, Outcome, Sandbox, SandboxError, Tier};

fn not_built(tier: Tier) -> SandboxError {
    SandboxError::Unavailable {
        tier,
        why: format!(
            "this build of ain-sre has no {tier} tier (the `{tier}` feature of sre-sandbox is off)"
        ),
    }
}

/// The WASM tier, not built.
#[cfg(not(feature = "wasm"))]
pub mod wasm {
    use super::*;

    /// The WASM tier's configuration (nothing to configure in a build without it).
    #[derive(Debug, Clone, Default)]
    pub struct WasmConfig {}

    /// Never constructed: [`WasmSandbox::new`] always fails.
    #[derive(Clone)]
    pub struct WasmSandbox(());

    /// Never constructed.
    #[derive(Debug)]
    pub struct PreparedWasm(());

    impl WasmSandbox {
        /// Always fails: the tier is not in this build.
        pub fn new(_: WasmConfig) -> Result<WasmSandbox, SandboxError> {
            Err(not_built(Tier::Wasm))
        }
    }

    impl Sandbox for WasmSandbox {
        type Prepared = std::sync::Arc<PreparedWasm>;
        fn tier(&self) -> Tier {
            Tier::Wasm
        }
        async fn prepare(&self, _: &FunctionCode) -> Result<Self::Prepared, SandboxError> {
            Err(not_built(Tier::Wasm))
        }
        async fn run(&self, _: &Self::Prepared, _: Invocation) -> Result<Outcome, SandboxError> {
            Err(not_built(Tier::Wasm))
        }
    }
}

/// The container tier, not built.
#[cfg(not(feature = "container"))]
pub mod container {
    use super::*;
    use crate::config::runtimes::RuntimeCatalog;
    use crate::doctor::Check;

    /// The container tier's configuration (only what the registry sets, in a build without it).
    #[derive(Debug, Clone, Default)]
    pub struct ContainerConfig {
        /// Runtimes (images and commands); default: the shipped ones.
        pub runtimes: Option<RuntimeCatalog>,
    }

    /// Never constructed: [`ContainerSandbox::start`] always fails.
    #[derive(Clone)]
    pub struct ContainerSandbox(());

    /// Never constructed.
    #[derive(Debug)]
    pub struct PreparedContainer(());

    impl ContainerSandbox {
        /// Always fails: the tier is not in this build.
        pub async fn start(_: ContainerConfig) -> Result<ContainerSandbox, SandboxError> {
            Err(not_built(Tier::Container))
        }
        /// No findings.
        pub async fn doctor(&self) -> Vec<Check> {
            Vec::new()
        }
        /// Nothing to release.
        pub async fn shutdown(&self) {}
    }

    impl Sandbox for ContainerSandbox {
        type Prepared = std::sync::Arc<PreparedContainer>;
        fn tier(&self) -> Tier {
            Tier::Container
        }
        async fn prepare(&self, _: &FunctionCode) -> Result<Self::Prepared, SandboxError> {
            Err(not_built(Tier::Container))
        }
        async fn run(&self, _: &Self::Prepared, _: Invocation) -> Result<Outcome, SandboxError> {
            Err(not_built(Tier::Container))
        }
    }
}
