//! Logging set-up: human-readable or JSON lines on stderr, filtered by `RUST_LOG` or `--log-level`.
//!
//! Stdout is kept for command results (tables, addresses, JSON), so logs never mix with them.

use std::sync::atomic::{AtomicBool, Ordering};

use tracing_subscriber::EnvFilter;

/// Set when logs are JSON lines: then every line a command writes on stderr must be one too.
static JSON: AtomicBool = AtomicBool::new(false);

/// How log lines are rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Compact human-readable lines.
    Human,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Directives appended to the default filter: wasmtime-wasi opens an INFO span around every WASI
/// call, and formatting those fields would cost more than the guest's whole run.
const QUIET_DEPENDENCIES: &str = "wasmtime_wasi=warn,wasmtime=warn,cranelift_codegen=warn";

/// Installs the global subscriber. `RUST_LOG` wins over `default_level` when set.
pub fn init(format: LogFormat, default_level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{default_level},{QUIET_DEPENDENCIES}")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    JSON.store(format == LogFormat::Json, Ordering::Relaxed);
    let result = match format {
        LogFormat::Human => builder.compact().try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
    // A second init (tests calling run twice) keeps the first subscriber; that is fine.
    drop(result);
}

/// A status line for the operator on stderr: plain text, or a JSON log line (`INFO`) when logs
/// are JSON, so that every line on stderr parses.
pub fn status(message: &str) {
    if JSON.load(Ordering::Relaxed) {
        tracing::info!("{message}");
    } else {
        eprintln!("{message}");
    }
}

/// An error line on stderr (`error: ...`, or a JSON log line at `ERROR` when logs are JSON).
pub fn error(message: &str) {
    if JSON.load(Ordering::Relaxed) {
        tracing::error!("{message}");
    } else {
        eprintln!("error: {message}");
    }
}

/// `ain-sre call ... | head -1`: once the reader has gone, `println!` panics ("failed printing to
/// stdout: Broken pipe"). The reader chose to stop reading: exit 0 quietly, as a command killed
/// by SIGPIPE would have stopped (Rust ignores SIGPIPE, and the daemon's sockets need it
/// ignored). Every other panic still goes to the default hook.
pub fn quiet_on_broken_pipe() {
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

/// Runs a command's future on a multi-threaded runtime and turns its result into the exit
/// status, printing an error chain: the common end of `ain-sre`'s and `ain-sre-bench`'s `main`.
pub fn run_to_exit(
    command: impl std::future::Future<Output = anyhow::Result<std::process::ExitCode>>,
) -> std::process::ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match runtime.block_on(command) {
        Ok(code) => code,
        Err(e) => {
            error(&error_chain(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The error and its causes, `: `-joined, leaving out a cause whose text the message already
/// holds (an error that prints its source would otherwise show it twice).
pub fn error_chain(e: &anyhow::Error) -> String {
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
