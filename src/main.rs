//! The `ain-sre` binary: parse the command line, set up logging, run one command, map its outcome
//! to an exit code. Everything else lives in the library.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Before any thread: large call buffers get their own mappings, returned when freed.
    ain_sre::sandbox::memory::return_large_buffers_to_the_os();
    // The process tier's stem-cell helper, when no `ain-sre-jail` sits beside this binary (as
    // after `cargo run`, which builds only this package): the tier starts this executable under
    // that name (see `sandbox::process::find_jail_exe`). Still single-threaded here, as it must be.
    if std::env::args_os()
        .next()
        .is_some_and(|a| std::path::Path::new(&a).file_name() == Some("ain-sre-jail".as_ref()))
    {
        ain_sre::sandbox::process::jail_main()
    }
    // The WASM tier's compiler child (see `sandbox::wasm`): no CLI, no logging, no tokio.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == ain_sre::sandbox::wasm::COMPILE_CHILD_FLAG)
    {
        ain_sre::sandbox::wasm::compile_child_main()
    }
    ain_sre::telemetry::quiet_on_broken_pipe();
    let cli = ain_sre::cli::Cli::parse();
    ain_sre::telemetry::init(cli.log.log_format, cli.log_filter());
    ain_sre::telemetry::run_to_exit(cli.run())
}
