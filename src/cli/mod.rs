//! The command line: one subcommand per job, each in its own module.
//!
//! Commands print their results on stdout and their logs on stderr, and return an exit code:
//! 0 for success, 1 for a failed command (a failed verification, a refused tx), 2 for bad usage.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod build;
mod call;
mod call_blobs;
mod calls;
mod common;
mod deploy;
mod deploy_ref;
mod dev;
mod dev_components;
mod devnet;
mod doctor;
mod egress_args;
mod follow;
mod forward;
mod functions;
mod invoke;
mod keygen;
mod new;
mod register;
mod run;
mod runtimes;
mod secrets;
pub mod shared;
mod workers;

/// ain-sre: the worker side of AI Network's blockchain for serverless computing.
///
/// It follows an AI Network node, runs the function calls recorded on chain in WASM, process or
/// container sandboxes, and posts each result back as a signed transaction.
#[derive(Debug, Parser)]
#[command(name = "ain-sre", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// The global log options.
    #[command(flatten)]
    pub log: shared::LogArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a worker key: prints its address and writes an encrypted V3 keystore.
    Keygen(keygen::KeygenArgs),
    /// Follow a node's finalized blocks and verify every one (hashes, parent link, every tx
    /// signature, proposer, 2/3 votes); prints each block and the verification rate, and exits 1
    /// naming the block and the failed check if one is invalid.
    Follow(follow::FollowArgs),
    /// Run a function locally, exactly as a worker would, with no chain: prints its output,
    /// status and resource usage (with --repeat, latency percentiles).
    Invoke(invoke::InvokeArgs),
    /// Run benchmarks and print their numbers (the README's figures come from here).
    // Both run `ain-sre-bench` (crate `sre-bench`) beside this binary: see `forward`.
    Bench(forward::ForwardArgs),
    /// Run the abuse suite (README, "Conformance") and the sandbox contract against every tier available here
    /// and print one table (checks x tiers). Exits 1 on any failure.
    Conformance(forward::ForwardArgs),
    /// Run the built-in AIN-compatible chain as a local node (JSON-RPC on 8081, events on 5100).
    Devnet(devnet::DevnetArgs),
    /// The whole system on this machine: the built-in chain, a worker and the example functions,
    /// self-checked, then serving calls until Ctrl-C.
    Dev(dev::DevArgs),
    /// Check what this host can run: each sandbox tier and why not, and which tier serves each
    /// runtime. Exits 1 when any check fails.
    Doctor(doctor::DoctorArgs),
    /// Run the worker daemon against a node.
    Run(run::RunArgs),
    /// List runtimes; build the container tier's runtime images offline from host files.
    Runtimes(runtimes::RuntimesArgs),
    /// Write a working function skeleton for a runtime (code and a README on how to invoke,
    /// deploy and call it).
    New(new::NewArgs),
    /// Deploy a function: create the app if needed, write its rules, upload the code.
    Deploy(deploy::DeployArgs),
    /// Package Python or JavaScript source into a WASI component for the WASM tier
    /// (`--runtime python3-wasm` / `nodejs-wasm`; needs componentize-py / componentize-js).
    Build(build::BuildArgs),
    /// Write this worker's registry entry in apps.
    Register(register::RegisterArgs),
    /// Call a function: sign a request and (with --wait) print the response and receipt.
    Call(call::CallArgs),
    /// An app's functions as the chain stores them: `list`, `show --fn F [--version N]`,
    /// `rm --fn F`.
    Functions(functions::FunctionsArgs),
    /// A function's recent calls: `list --fn F`, `show --fn F CALL_ID` (response, receipt,
    /// stderr tail).
    Calls(calls::CallsArgs),
    /// The app admin's list of approved workers: `list`, `add ADDR`, `remove ADDR`.
    Workers(workers::WorkersArgs),
    /// A function's secrets (admin key): `set --fn F NAME=value|NAME=@file`, `list`, `rm`,
    /// `sync`. Encrypted on chain to each approved worker; calls get `SRE_SECRET_<NAME>`.
    Secrets(secrets::SecretsArgs),
}

impl Cli {
    /// The log filter: `--log-level` / `$AIN_SRE_LOG` when given, else `warn` for `dev` (INFO
    /// lines would interleave with its self-check table on a terminal), else `info`.
    pub fn log_filter(&self) -> &str {
        match (&self.log.log_level, &self.command) {
            (Some(l), _) => l,
            (None, Command::Dev(_)) => "warn",
            (None, _) => "info",
        }
    }

    /// Runs the chosen command.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        match self.command {
            Command::Keygen(args) => keygen::run(args),
            Command::Follow(args) => follow::run(args).await,
            Command::Invoke(args) => invoke::run(args).await,
            Command::Bench(args) => forward::exec(
                "bench",
                args,
                self.log.log_format,
                self.log.log_level.as_deref(),
            ),
            Command::Conformance(args) => forward::exec(
                "conformance",
                args,
                self.log.log_format,
                self.log.log_level.as_deref(),
            ),
            Command::Devnet(args) => devnet::run(args).await,
            Command::Dev(args) => dev::run(args).await,
            Command::Doctor(args) => doctor::run(args).await,
            Command::Run(args) => run::run(args).await,
            Command::Runtimes(args) => runtimes::run(args).await,
            Command::New(args) => new::run(args).await,
            Command::Deploy(args) => deploy::run(args).await,
            Command::Build(args) => build::run(args).await,
            Command::Register(args) => register::run(args).await,
            Command::Call(args) => call::run(args).await,
            Command::Workers(args) => workers::run(args).await,
            Command::Secrets(args) => secrets::run(args).await,
            Command::Functions(args) => functions::run(args).await,
            Command::Calls(args) => calls::run(args).await,
        }
    }
}
