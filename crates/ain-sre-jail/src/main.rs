//! `ain-sre-jail`: the process tier's stem-cell helper. Started only by the daemon, with its
//! control socket on fd 3; it never parses arguments and never runs tokio (it must stay
//! single-threaded to enter a new user namespace).
//!
//! One other mode: started with `--wasm-compile` by the WASM tier, it compiles one module under
//! CPU and memory limits, outside the worker (see `sandbox::wasm`).

#![forbid(unsafe_code)]

fn main() {
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == sre_sandbox::wasm::COMPILE_CHILD_FLAG)
    {
        sre_sandbox::wasm::compile_child_main()
    }
    sre_sandbox::process::jail_main()
}
