//! Command-line pieces both binaries use (`ain-sre` and `ain-sre-bench`, whose commands users
//! reach as `ain-sre bench` / `ain-sre conformance`): the global log options and the tier names.

use crate::sandbox::Tier;
use crate::telemetry::LogFormat;

/// The global log options, word for word the same in both binaries (`ain-sre` passes them on
/// to `ain-sre-bench` through their environment variables).
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// Log line format on stderr.
    // Global options come after each subcommand's own in its help.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human, env = "AIN_SRE_LOG_FORMAT", display_order = 900)]
    pub log_format: LogFormat,
    /// Default log filter (RUST_LOG overrides it), e.g. `info`, `ain_sre=debug`. Default `info`;
    /// `warn` for `dev`, whose self-check table and hints go to the terminal uninterrupted.
    #[arg(long, global = true, env = "AIN_SRE_LOG", display_order = 901)]
    pub log_level: Option<String>,
}

/// A sandbox tier, as `--tier` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TierArg {
    /// WebAssembly (wasmtime).
    Wasm,
    /// Namespaced process.
    Process,
    /// Docker container.
    Container,
}

impl From<TierArg> for Tier {
    fn from(t: TierArg) -> Tier {
        match t {
            TierArg::Wasm => Tier::Wasm,
            TierArg::Process => Tier::Process,
            TierArg::Container => Tier::Container,
        }
    }
}
