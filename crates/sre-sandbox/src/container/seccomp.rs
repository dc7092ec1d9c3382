//! The seccomp profile every container gets, generated from the process tier's allowlist
//! (`sandbox::process::policy`): one policy for both tiers. Docker's default profile allows
//! `ptrace` and `process_vm_readv`/`writev` on kernels ≥ 4.8, and the stem cell and the guest run
//! as the same user in the container, so under the default profile a guest can attach to the
//! stem cell (pid 1) or read its memory (abuse row 9). This profile is an allowlist: anything
//! not on it, those calls included, fails with `EPERM`.
//!
//! Rendered as Docker's JSON format (the Engine API takes the text in `SecurityOpt`
//! `seccomp=<json>`), with the process tier's argument filters: `clone` without namespace flags,
//! `socket`/`socketpair` for `AF_UNIX` only, `clone3` answering `ENOSYS` so libc falls back to
//! `clone`. `ioctl` is allowed unfiltered here: a container has no terminal (`tty` is off), so
//! the process tier's TIOCSTI/TIOCLINUX filter has nothing to protect, and libseccomp cannot
//! express "not equal" on a 32-bit argument safely.
//!
//! `/proc/<pid>/mem` is the file-system door to the same memory: it is closed by masking
//! `/proc/1/mem` (see [`MASKED_PATHS`]), since no system-call filter can tell paths apart.

use std::sync::OnceLock;

/// Docker's default masked paths (kept: a custom list replaces them) plus the stem cell's
/// memory files, so a guest cannot read pid 1's memory through procfs either.
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
    "/proc/1/mem",
    "/proc/1/task/1/mem",
    // The stem cell's other per-process files (abuse row 28). The stem cell runs as another
    // user than the guest, which already makes them unreadable (they are ptrace-checked); the
    // masks are a second door shut. `/proc/1/fd` is not masked: runc lists `/proc/self/fd` in
    // the container's pid 1 after masking to mark its own descriptors close-on-exec, and an
    // empty directory there would leak them into the container.
    "/proc/1/environ",
    "/proc/1/maps",
    "/proc/1/syscall",
    "/proc/1/task/1/environ",
    "/proc/1/task/1/maps",
    "/proc/1/task/1/syscall",
    // Host-wide information no namespace hides (abuse row 12): the kernel command line, the
    // boot id, host memory, CPU, disk, interrupt, lock and pressure counters, block devices.
    "/proc/cmdline",
    "/proc/sys/kernel/random/boot_id",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/diskstats",
    "/proc/partitions",
    "/proc/swaps",
    "/proc/interrupts",
    "/proc/softirqs",
    "/proc/loadavg",
    "/proc/locks",
    "/proc/vmstat",
    "/proc/zoneinfo",
    "/proc/buddyinfo",
    "/proc/pagetypeinfo",
    "/proc/pressure",
    "/sys/block",
    "/sys/class/block",
    "/sys/dev/block",
    // POSIX message queues: opening a file under the mqueue mount creates a queue, which the
    // seccomp allowlist (no `mq_open`) does not see. No function has a use for them.
    "/dev/mqueue",
];

/// The `SecurityOpt` entry carrying the profile (`seccomp=<json>`), or `None` where the process
/// tier's policy does not exist (not Linux on x86_64): Docker's default profile applies there.
pub fn security_opt() -> Option<&'static str> {
    static OPT: OnceLock<Option<String>> = OnceLock::new();
    OPT.get_or_init(|| profile(false).map(|p| format!("seccomp={p}")))
        .as_deref()
}

/// The same profile for a container with egress: `socket` also for `AF_INET`/`AF_INET6` with
/// `SOCK_STREAM`/`SOCK_DGRAM` (raw, packet and netlink sockets stay refused). The container's
/// network namespace (`--network none`) holds nothing but the proxy's listener on `lo`.
pub fn security_opt_egress() -> Option<&'static str> {
    static OPT: OnceLock<Option<String>> = OnceLock::new();
    OPT.get_or_init(|| profile(true).map(|p| format!("seccomp={p}")))
        .as_deref()
}

/// Calls the container profile allows beyond the process tier's list (for the stem cell's `setpriv`).
pub const CONTAINER_ONLY: &[&str] = &["setgroups", "capget", "capset"];

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn profile(inet: bool) -> Option<String> {
    use crate::process::policy::{ALLOWED, NS_FLAGS};
    use serde_json::json;

    let names: Vec<&str> = ALLOWED
        .iter()
        .map(|(n, _)| n.strip_prefix("SYS_").unwrap_or(n))
        .collect();
    let mut p = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            { "names": names, "action": "SCMP_ACT_ALLOW" },
            {
                "names": ["clone"],
                "action": "SCMP_ACT_ALLOW",
                "args": [{ "index": 0, "value": NS_FLAGS, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ" }]
            },
            {
                "names": ["socket", "socketpair"],
                "action": "SCMP_ACT_ALLOW",
                "args": [{ "index": 0, "value": libc::AF_UNIX, "valueTwo": 0, "op": "SCMP_CMP_EQ" }]
            },
            { "names": ["ioctl"], "action": "SCMP_ACT_ALLOW" },
            // The stem cell (root in the container) drops the guest to its uid with `setpriv`,
            // which clears supplementary groups and the inheritable set (reading the sets with
            // `capget` first). Harmless for the guest: without CAP_SETGID `setgroups` fails, and
            // `capset` can only lower its (empty) sets.
            { "names": CONTAINER_ONLY, "action": "SCMP_ACT_ALLOW" },
            { "names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOSYS }
        ]
    });
    if inet && let Some(rules) = p["syscalls"].as_array_mut() {
        for domain in [libc::AF_INET, libc::AF_INET6] {
            for ty in [libc::SOCK_STREAM, libc::SOCK_DGRAM] {
                rules.push(json!({
                    "names": ["socket"],
                    "action": "SCMP_ACT_ALLOW",
                    "args": [
                        { "index": 0, "value": domain, "valueTwo": 0, "op": "SCMP_CMP_EQ" },
                        // The low bits are the type; SOCK_NONBLOCK/SOCK_CLOEXEC sit above them.
                        { "index": 1, "value": 0xf, "valueTwo": ty, "op": "SCMP_CMP_MASKED_EQ" }
                    ]
                }));
            }
        }
    }
    Some(p.to_string())
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
fn profile(_inet: bool) -> Option<String> {
    None
}

#[cfg(all(test, target_os = "linux", target_arch = "x86_64"))]
mod tests {
    use super::*;

    #[test]
    fn profile_is_an_allowlist_without_ptrace() {
        let opt = security_opt().unwrap();
        let json: serde_json::Value =
            serde_json::from_str(opt.strip_prefix("seccomp=").unwrap()).unwrap();
        assert_eq!(json["defaultAction"], "SCMP_ACT_ERRNO");
        let allowed: Vec<&str> = json["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["action"] == "SCMP_ACT_ALLOW")
            .flat_map(|r| r["names"].as_array().unwrap())
            .map(|n| n.as_str().unwrap())
            .collect();
        for n in ["read", "execve", "wait4", "clone", "futex"] {
            assert!(allowed.contains(&n), "{n} missing");
        }
        for n in [
            "ptrace",
            "process_vm_readv",
            "process_vm_writev",
            "mount",
            "unshare",
            "setns",
            "bpf",
            "keyctl",
            "add_key",
            "io_uring_setup",
            "userfaultfd",
            "perf_event_open",
            "clone3",
        ] {
            assert!(!allowed.contains(&n), "{n} must not be allowed");
        }
        assert!(MASKED_PATHS.contains(&"/proc/1/mem"));
    }
}
