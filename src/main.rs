//! The `ain-sre` binary: parse the command line, set up logging, run one command, map its outcome
//! to an exit code. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // The WASM tier's compiler child (see `sandbox::wasm`): no CLI, no logging, no tokio.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == ain_sre::sandbox::wasm::COMPILE_CHILD_FLAG)
    {
        ain_sre::sandbox::wasm::compile_child_main()
    }
    let cli = ain_sre::cli::Cli::parse();
    ain_sre::telemetry::init(cli.log_format, &cli.log_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(cli.run()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
