//! The namespaced-process tier: interpreters (python3, nodejs, bash, perl) and static binaries
//! run as ordinary host processes inside fresh Linux namespaces, a per-sandbox cgroup and a
//! seccomp allowlist, with no external sandbox binary.
//!
//! Sandboxes are **stem cells** created ahead of demand, per runtime ([`cell::StemCell`]): the
//! `ain-sre-jail` helper (a separate single-threaded executable, so nothing forks the
//! multi-threaded daemon into namespaces) is already in its user, pid, mount, ipc, uts, network
//! and cgroup namespaces, inside its own cgroup, with its root built, when a call arrives; the
//! call only sends the code and input. Each cell serves exactly one call and is then destroyed,
//! so no state passes between calls; the pool refills in the background. Each cell's empty
//! network namespace is created with it, off the call's path, so the cell pool is also the
//! network-namespace pool.
//!
//! Network policy `Proxy` (egress): the worker's proxy listens on `127.0.0.1` inside the cell's
//! own network namespace (`linux/netns.rs`), the only endpoint there; see `crate::egress`.
//!
//! Files: `linux/` (the jail, the only `unsafe` code: `host.rs` daemon side, `jail.rs` helper side), `policy.rs` (seccomp), `cgroup.rs`
//! (v1/v2), `cell.rs` (one stem cell, one call), `proto.rs` (daemon ↔ jail messages),
//! `doctor.rs` (host checks), `elf.rs` (what a `native` function must be). Non-Linux builds get a stub that reports the tier unavailable.

#[cfg(all(target_os = "linux", feature = "process"))]
mod cell;
#[cfg(all(target_os = "linux", feature = "process"))]
pub mod cgroup;
#[cfg(all(target_os = "linux", feature = "process"))]
mod doctor;
#[cfg(all(target_os = "linux", feature = "process"))]
mod elf;
#[cfg(all(target_os = "linux", feature = "process"))]
mod linux;
// The container tier's seccomp profile is derived from the process tier's policy (which part it
// uses is not the whole: the rest is dead in a container-only build).
#[cfg(all(target_os = "linux", any(feature = "process", feature = "container")))]
#[cfg_attr(not(feature = "process"), allow(dead_code))]
pub(crate) mod policy;
#[cfg(all(target_os = "linux", feature = "process"))]
mod proto;
pub mod samples;
#[cfg(all(target_os = "linux", feature = "process"))]
mod sandbox;
#[cfg(not(all(target_os = "linux", feature = "process")))]
mod stub;

#[cfg(all(target_os = "linux", feature = "process"))]
pub use doctor::doctor;
#[cfg(all(target_os = "linux", feature = "process"))]
pub use linux::host_counters_usable;
#[cfg(all(target_os = "linux", feature = "process"))]
pub use linux::jail_main;
/// Opens the egress proxy's listener on `127.0.0.1` inside another network namespace (the
/// container tier uses it for a container's own namespace).
#[cfg(all(target_os = "linux", feature = "container"))]
pub(crate) use linux::listen_in as listen_in_netns;
#[cfg(all(target_os = "linux", feature = "process"))]
pub(crate) use sandbox::Shared;
#[cfg(all(target_os = "linux", feature = "process"))]
pub use sandbox::{PreparedProcess, ProcessSandbox};
#[cfg(not(all(target_os = "linux", feature = "process")))]
pub use stub::host_counters_usable;
#[cfg(not(all(target_os = "linux", feature = "process")))]
pub use stub::{PreparedProcess, ProcessSandbox, doctor, jail_main};

use std::path::PathBuf;

use crate::config::runtimes::RuntimeCatalog;

/// How the process tier starts. Every field has a working default.
#[derive(Debug, Clone)]
pub struct ProcessConfig {
    /// The `ain-sre-jail` helper; default: `$AIN_SRE_JAIL`, else next to the running executable
    /// (or one directory up, for test binaries in `target/*/deps`), else the running `ain-sre`
    /// itself (it has the helper's mode when started under that name).
    pub jail_exe: Option<PathBuf>,
    /// Stem cells kept ready per runtime.
    pub pool_size: usize,
    /// Runtimes whose pools are filled at start-up (others fill after their first call).
    pub prewarm: Vec<String>,
    /// Parent of the sandboxes' cgroups, relative to each hierarchy's root.
    pub cgroup_parent: String,
    /// Where the cgroup filesystems are mounted.
    pub cgroup_mount: PathBuf,
    /// Force cgroup v1 or v2 (default: v2 when it has memory, cpu and pids; else v1).
    pub cgroup_version: Option<cgroup_version::CgroupVersionArg>,
    /// First host uid/gid for sandboxes; each cell uses two (set-up root, guest).
    pub uid_base: u32,
    /// How many distinct uid pairs to cycle through from `uid_base`.
    pub uid_slots: u64,
    /// An empty host directory used as the mount point of each sandbox's new root (in the
    /// sandbox's own mount namespace; nothing is ever mounted there on the host).
    pub root_dir: PathBuf,
    /// Runtimes (binds and commands); default: the shipped ones.
    pub runtimes: Option<RuntimeCatalog>,
}

impl Default for ProcessConfig {
    fn default() -> ProcessConfig {
        ProcessConfig {
            jail_exe: None,
            pool_size: 2,
            prewarm: Vec::new(),
            cgroup_parent: "ain-sre".into(),
            cgroup_mount: PathBuf::from("/sys/fs/cgroup"),
            cgroup_version: None,
            uid_base: 1_000_000,
            uid_slots: 1000,
            root_dir: PathBuf::from("/run/ain-sre/root"),
            runtimes: None,
        }
    }
}

/// The cgroup version choice as a platform-independent value.
pub mod cgroup_version {
    /// Which cgroup interface to force.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum CgroupVersionArg {
        /// Legacy hierarchies.
        V1,
        /// Unified hierarchy.
        V2,
    }
}

/// Finds the jail helper (see [`ProcessConfig::jail_exe`]).
pub fn find_jail_exe(config: &ProcessConfig) -> Result<PathBuf, String> {
    let given = config
        .jail_exe
        .clone()
        .or_else(|| std::env::var_os("AIN_SRE_JAIL").map(PathBuf::from));
    if let Some(p) = given {
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("the jail helper {} does not exist", p.display()))
        };
    }
    let exe = std::env::current_exe().map_err(|e| format!("current executable: {e}"))?;
    // The `ain-sre` binary has the helper's mode too (started as `ain-sre-jail`): `cargo run`
    // builds only the `ain-sre` package, so the helper crate's binary may be missing beside it.
    jail_beside(&exe)
        .or_else(|| (exe.file_name().is_some_and(|n| n == "ain-sre")).then(|| exe.clone()))
        .ok_or_else(|| {
            format!(
                "the ain-sre-jail helper is not next to {} (build it, or set AIN_SRE_JAIL)",
                exe.display()
            )
        })
}

/// `ain-sre-jail` in the directory of `exe` or the one above it (where `cargo test` binaries,
/// built into `target/*/deps/`, find the helper built into `target/*/`).
pub(crate) fn jail_beside(exe: &std::path::Path) -> Option<PathBuf> {
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|d| d.join("ain-sre-jail"))
        .find(|cand| cand.is_file())
}
