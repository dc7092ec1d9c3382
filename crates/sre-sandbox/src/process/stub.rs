//! The process tier off Linux: it compiles and reports itself unavailable.

use super::ProcessConfig;
use crate::doctor::Check;
use crate::{FunctionCode, Invocation, Outcome, Sandbox, SandboxError, Tier};

/// Never constructed off Linux.
#[derive(Debug, Clone)]
pub struct ProcessSandbox(());

/// Never constructed off Linux.
#[derive(Debug)]
pub struct PreparedProcess(());

fn unsupported() -> SandboxError {
    SandboxError::Unavailable {
        tier: Tier::Process,
        why: "Unsupported: the process tier needs Linux and the `process` feature".into(),
    }
}

impl ProcessSandbox {
    /// Always fails: Unsupported.
    pub async fn start(_: ProcessConfig) -> Result<ProcessSandbox, String> {
        Err(unsupported().to_string())
    }
    /// Nothing to release.
    pub async fn shutdown(&self) {}
}

impl Sandbox for ProcessSandbox {
    type Prepared = PreparedProcess;
    fn tier(&self) -> Tier {
        Tier::Process
    }
    async fn prepare(&self, _: &FunctionCode) -> Result<PreparedProcess, SandboxError> {
        Err(unsupported())
    }
    async fn run(&self, _: &PreparedProcess, _: Invocation) -> Result<Outcome, SandboxError> {
        Err(unsupported())
    }
}

/// One failing check.
pub fn doctor(_: &ProcessConfig) -> Vec<Check> {
    vec![Check::fail(
        "process",
        "platform",
        "Unsupported: the process tier needs Linux and the `process` feature",
    )]
}

/// The helper cannot run off Linux.
pub fn jail_main() -> ! {
    eprintln!("ain-sre-jail: Unsupported: the process tier needs Linux and the `process` feature");
    std::process::exit(125)
}

/// Off Linux there are no such counters to check.
pub fn host_counters_usable() -> Result<(), String> {
    Err("Unsupported: the process tier needs Linux and the `process` feature".into())
}
