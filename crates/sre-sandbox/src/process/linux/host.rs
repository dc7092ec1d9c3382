//! The daemon's half of the jail: start the helper, write its id maps.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::{CTL_FD, GUEST_ID};

/// Starts the helper: stdin/stdout/stderr are pipes, `ctl` becomes its fd 3.
pub(crate) fn spawn_helper(exe: &Path, ctl: OwnedFd) -> io::Result<tokio::process::Child> {
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg0("ain-sre-jail")
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let fd = ctl.as_raw_fd();
    // SAFETY: the closure runs between fork and exec and only calls dup2/fcntl, which are
    // async-signal-safe; `fd` stays open in the parent until spawn returns.
    unsafe {
        cmd.pre_exec(move || {
            if fd == CTL_FD {
                // dup2 onto itself would keep FD_CLOEXEC.
                if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                    return Err(io::Error::last_os_error());
                }
            } else if libc::dup2(fd, CTL_FD) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn();
    drop(ctl);
    child
}

/// Opens `/proc/<pid>` of our own unreaped child: a directory fd that keeps naming that process
/// (it doubles as a pidfd), so the id maps below cannot land in a recycled pid.
pub(crate) fn open_proc_dir(pid: u32) -> io::Result<OwnedFd> {
    let path = CString::new(format!("/proc/{pid}")).expect("no NUL");
    // SAFETY: a valid path string; the returned fd is checked and then owned.
    let fd = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_DIRECTORY | libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Maps ns root → host `uid_base` (the helper's own set-up identity) and ns [`GUEST_ID`] →
/// host `uid_base + 1` (the guest), same for gids; `setgroups` is denied first.
pub(crate) fn write_id_maps(proc_dir: &OwnedFd, uid_base: u32) -> io::Result<()> {
    let base = PathBuf::from(format!("/proc/self/fd/{}", proc_dir.as_raw_fd()));
    let map = format!("0 {uid_base} 1\n{GUEST_ID} {} 1\n", uid_base + 1);
    std::fs::write(base.join("setgroups"), "deny")?;
    std::fs::write(base.join("uid_map"), &map)?;
    std::fs::write(base.join("gid_map"), &map)
}

/// Whether this process can still take the per-user kernel resources a guest could exhaust
/// if the kernel charged it to our uid: an inotify instance and a POSIX timer (whose signal
/// queue entry counts against `RLIMIT_SIGPENDING`). Both are released at once. Used by the
/// conformance suite (as host root) while a guest hoards them.
pub fn host_counters_usable() -> Result<(), String> {
    // SAFETY: plain syscall; the fd is closed right away.
    let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
    if fd < 0 {
        return Err(format!("inotify_init1: {}", io::Error::last_os_error()));
    }
    // SAFETY: `fd` was just opened and is ours.
    drop(unsafe { OwnedFd::from_raw_fd(fd) });
    // SAFETY: an all-zero sigevent is valid; SIGEV_NONE delivers nothing.
    let mut sev: libc::sigevent = unsafe { std::mem::zeroed() };
    sev.sigev_notify = libc::SIGEV_NONE;
    let mut timer: libc::timer_t = std::ptr::null_mut();
    // SAFETY: live sigevent and out-pointer.
    if unsafe { libc::timer_create(libc::CLOCK_MONOTONIC, &mut sev, &mut timer) } < 0 {
        return Err(format!("timer_create: {}", io::Error::last_os_error()));
    }
    // SAFETY: the timer just created.
    unsafe { libc::timer_delete(timer) };
    Ok(())
}
