//! The `ain-sre-bench` binary: `bench` and `conformance` (see the library's `cli`). `ain-sre bench`
//! and `ain-sre conformance` exec this binary, found beside `ain-sre`.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // As in `ain-sre`: the benchmarks measure the sandboxes as the worker runs them.
    ain_sre::sandbox::memory::return_large_buffers_to_the_os();
    ain_sre::telemetry::quiet_on_broken_pipe();
    let cli = sre_bench::cli::Cli::parse();
    ain_sre::telemetry::init(cli.log.log_format, cli.log_filter());
    ain_sre::telemetry::run_to_exit(cli.run())
}
