//! Child `ain-sre` processes for the CLI-level tests: a free loopback port, the binary with the
//! caller's `AIN_SRE_*` settings removed, and a server handle stopped (SIGTERM) when dropped.

use std::process::{Child, Command};

/// A port nobody listens on right now (bound, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A spawned server (`ain-sre dev`, `devnet`, `run`), stopped with SIGTERM and reaped on drop.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.0.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.0.wait();
    }
}

/// The `ain-sre` binary under test, without the caller's key, node, password or log settings.
pub fn ain_sre() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ain-sre"));
    for k in [
        "AIN_SRE_PRIVATE_KEY",
        "AIN_SRE_NODE",
        "AIN_SRE_KEYSTORE_PASSWORD",
        "AIN_SRE_LOG",
        "RUST_LOG",
    ] {
        c.env_remove(k);
    }
    c
}
