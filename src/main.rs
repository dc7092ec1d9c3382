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
    quiet_on_broken_pipe();
    let cli = ain_sre::cli::Cli::parse();
    ain_sre::telemetry::init(cli.log_format, cli.log_filter());
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
            ain_sre::telemetry::error(&error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// `ain-sre call ... | head -1`: once the reader has gone, `println!` panics ("failed printing to
/// stdout: Broken pipe"). The reader chose to stop reading: exit 0 quietly, as a command killed
/// by SIGPIPE would have stopped (Rust ignores SIGPIPE, and the daemon's sockets need it
/// ignored). Every other panic still goes to the default hook.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// The error and its causes, `: `-joined, leaving out a cause whose text the message already
/// holds (an error that prints its source would otherwise show it twice).
fn error_chain(e: &anyhow::Error) -> String {
    let mut message = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !message.contains(&cause) {
            message.push_str(": ");
            message.push_str(&cause);
        }
    }
    message
}
