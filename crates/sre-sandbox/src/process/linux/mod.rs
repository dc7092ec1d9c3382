//! The jail: everything in the process tier that needs raw system calls, and the only module of
//! the crate allowed `unsafe`.
//!
//! Two halves. The daemon side starts the `ain-sre-jail` helper with the control socket on fd 3
//! ([`spawn_helper`]) and writes its uid/gid maps through a `/proc/<pid>` directory fd opened
//! while the helper is our unreaped child, so the pid cannot have been reused ([`write_id_maps`]).
//! The helper side, [`jail_main`], runs in a freshly exec'd single-threaded process (forking the
//! multi-threaded daemon into namespaces would be hazardous) and is one linear sequence: new
//! namespaces, a keeper outside the new pid namespace that reports the guest's exit, and pid 1 of
//! the sandbox that builds the root, waits for code and input, locks itself down and execs.
#![allow(
    unsafe_code,
    reason = "namespaces, mounts, seccomp and exec need raw system calls"
)]

use std::ffi::CString;
use std::io;
use std::os::fd::RawFd;
use std::path::Path;

mod host;
mod jail;
mod netns;
mod sys;

pub use host::host_counters_usable;
pub(crate) use host::{open_proc_dir, spawn_helper, write_id_maps};
pub use jail::jail_main;
#[cfg(feature = "container")]
pub(crate) use netns::listen_in;
pub(crate) use netns::listen_in_netns;

/// Uid and gid of the guest inside its user namespace (host: `uid_base + 1`).
pub(crate) const GUEST_ID: u32 = 1000;

/// `RLIMIT_SIGPENDING` of a sandbox: how many signals its processes may have queued at once.
/// Interpreters queue none; host root (which the kernel used to charge) has ~96,000.
pub(crate) const SIGPENDING_MAX: u64 = 64;

/// The control fd number in the helper.
pub(super) const CTL_FD: RawFd = 3;

pub(super) fn check(rc: libc::c_int, what: &str) -> Result<libc::c_int, String> {
    if rc < 0 {
        Err(format!("{what}: {}", io::Error::last_os_error()))
    } else {
        Ok(rc)
    }
}

pub(super) fn cstr(s: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("{s:?} contains a NUL byte"))
}

pub(super) fn cpath(p: &Path) -> Result<CString, String> {
    cstr(
        p.to_str()
            .ok_or_else(|| format!("{} is not UTF-8", p.display()))?,
    )
}

/// `mount(2)` with optional source, fstype and data.
pub(super) fn mount(
    src: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> Result<(), String> {
    let src_c = src.map(cpath).transpose()?;
    let target_c = cpath(target)?;
    let fstype_c = fstype.map(cstr).transpose()?;
    let data_c = data.map(cstr).transpose()?;
    let ptr = |c: &Option<CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: every pointer is a NUL-terminated string that outlives the call, or null where the
    // kernel accepts null.
    let rc = unsafe {
        libc::mount(
            ptr(&src_c),
            target_c.as_ptr(),
            ptr(&fstype_c),
            flags,
            ptr(&data_c).cast(),
        )
    };
    check(
        rc,
        &format!(
            "mount {:?} on {}",
            src.map(Path::display)
                .map(|d| d.to_string())
                .or(fstype.map(str::to_owned)),
            target.display()
        ),
    )
    .map(|_| ())
}
