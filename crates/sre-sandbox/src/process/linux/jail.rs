//! The helper's half: one linear set-up sequence, from new namespaces to `execve`.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::FromRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;

use super::super::proto::{self, Report, Run, Setup};
use super::sys::{RealSyscalls, lock_down};
use super::{CTL_FD, SIGPENDING_MAX, check, cpath, cstr, mount};

/// Entry point of the `ain-sre-jail` binary. Never returns.
pub fn jail_main() -> ! {
    // SAFETY: fd 3 is the control socket the daemon installed (spawn_helper); nothing else in
    // this fresh process owns it.
    let mut ctl = unsafe { UnixStream::from_raw_fd(CTL_FD) };
    let code = match jail(&mut ctl) {
        Ok(()) => 0,
        Err(why) => {
            let _ = proto::send(&mut ctl, &Report::Failed { why });
            125
        }
    };
    std::process::exit(code)
}

/// The whole set-up, in order. Returns only in the keeper (after the guest ended) or on error.
fn jail(ctl: &mut UnixStream) -> Result<(), String> {
    // 1. Nothing but stdio and the control socket may cross into the sandbox.
    check(
        // SAFETY: plain syscall on integers.
        unsafe { libc::syscall(libc::SYS_close_range, 4u32, u32::MAX, 0u32) } as libc::c_int,
        "close_range",
    )?;
    let setup: Setup = proto::recv(ctl).map_err(|e| format!("reading setup: {e}"))?;

    // 2. Drop the daemon's supplementary groups while still host root: with setgroups denied in
    //    the new user namespace they could never be shed, and they would grant host file access.
    // SAFETY: an empty group list.
    check(unsafe { libc::setgroups(0, std::ptr::null()) }, "setgroups")?;

    // 2a. Per-user kernel counters. The kernel charges a user namespace's queued signals,
    //     inotify instances, message-queue bytes and processes to the namespace's owner in
    //     the parent namespace too, so the namespace must not be created by host root: the
    //     helper becomes the slot's own host uid first (that uid is mapped to root inside, so
    //     nothing changes there). The limits set now are inherited by every process of the
    //     sandbox and become the namespace's own ceilings (taken from its creator's limits at
    //     creation); as soft = hard and without CAP_SYS_RESOURCE on the host, no guest can
    //     raise them. POSIX message queues (`mq_open` is not allowed either) get nothing.
    for (res, v) in [
        (libc::RLIMIT_SIGPENDING, SIGPENDING_MAX),
        (libc::RLIMIT_MSGQUEUE, 0),
    ] {
        let r = libc::rlimit {
            rlim_cur: v,
            rlim_max: v,
        };
        // SAFETY: pointer to a live rlimit.
        check(unsafe { libc::setrlimit(res, &r) }, "setrlimit")?;
    }
    let owner = setup.owner;
    // SAFETY: plain syscalls on integers; gid first, while we may still change it.
    check(unsafe { libc::setresgid(owner, owner, owner) }, "setresgid")?;
    // SAFETY: as above. Host root is gone from here on (the process is also non-dumpable now,
    // so its /proc entries stay root's).
    check(unsafe { libc::setresuid(owner, owner, owner) }, "setresuid")?;

    // 3. New user, mount, pid, ipc, uts, network and cgroup namespaces. The daemon already moved
    //    us into the sandbox's cgroup, so the cgroup namespace is rooted there; the network
    //    namespace is empty (lo down, no routes).
    let flags = libc::CLONE_NEWUSER
        | libc::CLONE_NEWNS
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWNET
        | libc::CLONE_NEWCGROUP;
    // SAFETY: plain syscall; the process is single-threaded, as CLONE_NEWUSER requires.
    check(unsafe { libc::unshare(flags) }, "unshare")?;

    // 4. The daemon writes our uid/gid maps (we cannot map host ids ourselves), then we become
    //    root of the new user namespace — host uid `owner`, no host privilege.
    proto::send(ctl, &Report::Unshared).map_err(|e| e.to_string())?;
    proto::read_frame(ctl).map_err(|e| format!("waiting for id maps: {e}"))?;
    // SAFETY: plain syscalls on integers.
    check(unsafe { libc::setresgid(0, 0, 0) }, "setresgid")?;
    // SAFETY: as above.
    check(unsafe { libc::setresuid(0, 0, 0) }, "setresuid")?;

    // 5. Fork: the child is pid 1 of the new pid namespace. When it ends, the kernel kills
    //    everything else in the namespace, so no guest process can outlive the call.
    // SAFETY: single-threaded process, so the child may run arbitrary code.
    let pid = check(unsafe { libc::fork() }, "fork")?;
    if pid > 0 {
        return keeper(ctl, pid);
    }
    let result = stem_cell(ctl, &setup);
    if let Err(why) = result {
        let _ = proto::send(ctl, &Report::Failed { why: why.clone() });
        let _ = writeln!(io::stderr(), "ain-sre-jail: {why}");
    }
    // SAFETY: leave without running atexit handlers or flushing the parent's buffers twice.
    unsafe { libc::_exit(125) }
}

/// Outside the sandbox's pid namespace: wait for pid 1 and report how it ended.
fn keeper(ctl: &mut UnixStream, pid: libc::pid_t) -> Result<(), String> {
    // The guest's stdio must reach EOF when the guest's tree is gone, so the keeper lets go.
    for fd in 0..3 {
        // SAFETY: closing our own stdio descriptors, never used again in this process.
        unsafe { libc::close(fd) };
    }
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid out-pointer.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc == pid {
            break;
        }
        if rc < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return Err(format!("waitpid: {}", io::Error::last_os_error()));
        }
    }
    let report = if libc::WIFEXITED(status) {
        Report::Exited {
            code: Some(libc::WEXITSTATUS(status)),
            signal: None,
        }
    } else {
        Report::Exited {
            code: None,
            signal: Some(libc::WTERMSIG(status)),
        }
    };
    proto::send(ctl, &report).map_err(|e| e.to_string())
}

/// Pid 1 of the sandbox: build the root, wait for one call, become the guest.
fn stem_cell(ctl: &mut UnixStream, setup: &Setup) -> Result<(), String> {
    // Die with the keeper (e.g. the daemon killed the whole cgroup).
    check(
        // SAFETY: plain prctl.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) },
        "pdeathsig",
    )?;

    // 6. Mounts made here never propagate back to the host.
    mount(
        None,
        Path::new("/"),
        None,
        libc::MS_REC | libc::MS_PRIVATE,
        None,
    )?;

    // 7. The new root: a small tmpfs holding only mount points.
    let root = &setup.root;
    mount(
        Some(Path::new("tmpfs")),
        root,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV,
        Some("size=1m,nr_inodes=4096,mode=0755"),
    )?;

    // 8. The runtime's files: read-only, nosuid, nodev binds at the same paths.
    for b in &setup.binds {
        let meta = match std::fs::metadata(b) {
            Ok(m) => m,
            Err(_) => continue, // reported by `ain-sre doctor`; the runtime may not need it
        };
        let target = root.join(b.strip_prefix("/").unwrap_or(b));
        make_mount_point(&target, meta.is_dir())?;
        mount(Some(b), &target, None, libc::MS_BIND | libc::MS_REC, None)?;
        // The bind is recursive (a runtime directory may span mounts), so every mount below
        // it must be made read-only too: a remount reaches only the top one, and a host tmpfs
        // or bind under a bound path would stay writable.
        if !read_only_tree(&target)? {
            // No mount_setattr (Linux < 5.12): bind only the top mount instead, so no
            // writable submount is reachable.
            let t = cpath(&target)?;
            check(
                // SAFETY: `t` is a valid NUL-terminated path that outlives the call.
                unsafe { libc::umount2(t.as_ptr(), libc::MNT_DETACH) },
                "umount",
            )?;
            mount(Some(b), &target, None, libc::MS_BIND, None)?;
            let ro = libc::MS_BIND
                | libc::MS_REMOUNT
                | libc::MS_RDONLY
                | libc::MS_NOSUID
                | libc::MS_NODEV;
            if mount(None, &target, None, ro, None).is_err() {
                // The host mount is noexec: that flag is locked and must be kept.
                mount(None, &target, None, ro | libc::MS_NOEXEC, None)?;
            }
        }
    }

    // 9. A minimal /dev: four harmless character devices bound from the host.
    for dev in ["null", "zero", "urandom", "full"] {
        let host = Path::new("/dev").join(dev);
        let target = root.join("dev").join(dev);
        make_mount_point(&target, false)?;
        mount(Some(&host), &target, None, libc::MS_BIND, None)?;
    }

    // 10. Mount points for /proc, /tmp (per call) and /sre (the code, per call).
    for d in ["proc", "tmp", "sre"] {
        make_mount_point(&root.join(d), true)?;
    }
    // The code's tmpfs (capped at the largest code accepted; filled per call) and a sized scratch
    // /tmp, fresh in every cell since a cell serves one call.
    mount(
        Some(Path::new("tmpfs")),
        &root.join("sre"),
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV,
        Some("size=17m,nr_inodes=16,mode=0755"),
    )?;
    if setup.tmpfs_bytes > 0 {
        let opts = format!(
            "size={},nr_inodes={},mode=1777",
            setup.tmpfs_bytes, setup.tmpfs_inodes
        );
        mount(
            Some(Path::new("tmpfs")),
            &root.join("tmp"),
            Some("tmpfs"),
            libc::MS_NOSUID | libc::MS_NODEV,
            Some(&opts),
        )?;
    }
    // A fresh procfs of the new pid namespace: other users' processes hidden, and only the
    // per-process part (no /proc/sys, kallsyms, kcore, sysrq-trigger) where the kernel can.
    let proc_flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    let proc_dir = root.join("proc");
    if mount(
        Some(Path::new("proc")),
        &proc_dir,
        Some("proc"),
        proc_flags,
        Some("hidepid=2,subset=pid"),
    )
    .is_err()
    {
        mount(
            Some(Path::new("proc")),
            &proc_dir,
            Some("proc"),
            proc_flags,
            Some("hidepid=2"),
        )?;
    }

    // 11. Switch roots and detach the host's: pivot_root(".", ".") stacks the old root on top of
    //     the new one, and a lazy unmount of "." removes it.
    let root_c = cpath(root)?;
    // SAFETY: valid path string.
    check(unsafe { libc::chdir(root_c.as_ptr()) }, "chdir new root")?;
    let dot = cstr(".")?;
    check(
        // SAFETY: valid path strings.
        unsafe { libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr()) } as libc::c_int,
        "pivot_root",
    )?;
    check(
        // SAFETY: valid path string.
        unsafe { libc::umount2(dot.as_ptr(), libc::MNT_DETACH) },
        "detach old root",
    )?;
    let slash = cstr("/")?;
    // SAFETY: valid path string.
    check(unsafe { libc::chdir(slash.as_ptr()) }, "chdir /")?;
    mount(
        None,
        Path::new("/"),
        None,
        libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV,
        None,
    )?;
    let host = b"sre";
    check(
        // SAFETY: pointer and length of a live buffer.
        unsafe { libc::sethostname(host.as_ptr().cast(), host.len()) },
        "sethostname",
    )?;

    // 12. The stem cell is ready; wait for exactly one call.
    proto::send(ctl, &Report::Ready).map_err(|e| e.to_string())?;
    let run: Run = proto::recv(ctl).map_err(|e| format!("waiting for a call: {e}"))?;
    let code = proto::read_frame(ctl).map_err(|e| format!("reading code: {e}"))?;

    // 13. The code, on its own tmpfs (mounted in step 10), then read-only.
    let src = Path::new("/sre").join(&run.source_file);
    std::fs::write(&src, &code).map_err(|e| format!("writing code: {e}"))?;
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o555))
        .map_err(|e| e.to_string())?;
    mount(
        None,
        Path::new("/sre"),
        None,
        libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV,
        None,
    )?;

    // 14. The scratch /tmp (mounted in step 10 with the expected size): resized or removed
    //     when this call's limits differ.
    if run.tmpfs_bytes == 0 {
        let tmp = cstr("/tmp")?;
        // SAFETY: valid path string.
        let rc = unsafe { libc::umount2(tmp.as_ptr(), libc::MNT_DETACH) };
        check(rc, "umount /tmp")?;
    } else if run.tmpfs_bytes != setup.tmpfs_bytes {
        let opts = format!("size={},nr_inodes={}", run.tmpfs_bytes, run.tmpfs_inodes);
        mount(
            None,
            Path::new("/tmp"),
            Some("tmpfs"),
            libc::MS_REMOUNT | libc::MS_NOSUID | libc::MS_NODEV,
            Some(&opts),
        )?;
    }
    let tmp = cstr("/tmp")?;
    // SAFETY: valid path string.
    check(unsafe { libc::chdir(tmp.as_ptr()) }, "chdir /tmp")?;

    // 15–20. Lock down and become the guest (a separate linear function, testable through the
    //        `Syscalls` seam). It returns only on failure.
    let err = lock_down(
        &mut RealSyscalls,
        &run,
        run.bpf.as_deref().unwrap_or(&setup.bpf),
    );
    if !err.after_close {
        return Err(err.why);
    }
    let _ = writeln!(io::stderr(), "ain-sre-jail: {}", err.why);
    // SAFETY: immediate exit; the control socket is already closed, so stderr is all we have.
    unsafe { libc::_exit(if err.exec { 127 } else { 126 }) }
}

/// `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Makes the mount at `target` and every mount below it read-only, `nosuid` and `nodev`
/// (flags it already has, such as a locked `noexec`, are kept). `Ok(false)`: the kernel has no
/// `mount_setattr`.
fn read_only_tree(target: &Path) -> Result<bool, String> {
    const MOUNT_ATTR_RDONLY: u64 = 0x1;
    const MOUNT_ATTR_NOSUID: u64 = 0x2;
    const MOUNT_ATTR_NODEV: u64 = 0x4;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let t = cpath(target)?;
    // SAFETY: a valid path string and a live `mount_attr` of the size passed.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::AT_RECURSIVE as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
        return Ok(false);
    }
    check(
        rc as libc::c_int,
        &format!("mount_setattr {}", target.display()),
    )?;
    Ok(true)
}

/// Creates an empty directory or file to mount over.
fn make_mount_point(target: &Path, dir: bool) -> Result<(), String> {
    let r = if dir {
        std::fs::create_dir_all(target)
    } else {
        if let Some(p) = target.parent() {
            std::fs::create_dir_all(p).map_err(|e| format!("mkdir {}: {e}", p.display()))?;
        }
        File::create(target).map(|_| ())
    };
    r.map_err(|e| format!("creating {}: {e}", target.display()))
}
