//! The helper's half: one linear set-up sequence, from new namespaces to `execve`.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::FromRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;

use super::super::proto::{self, Report, Run, Setup};
use super::{CTL_FD, GUEST_ID, check, cpath, cstr, mount};

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
    //    root of the new user namespace — host uid `uid_base`, no host privilege.
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
        let ro =
            libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV;
        if mount(None, &target, None, ro, None).is_err() {
            // The host mount is noexec: that flag is locked and must be kept.
            mount(None, &target, None, ro | libc::MS_NOEXEC, None)?;
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
        check(
            unsafe { libc::umount2(tmp.as_ptr(), libc::MNT_DETACH) },
            "umount /tmp",
        )?;
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

    // 15. New session: no controlling terminal to inject input into (TIOCSTI is also filtered).
    // SAFETY: plain syscall.
    check(unsafe { libc::setsid() }, "setsid")?;

    // 16. rlimits: no core dumps, bounded file size, descriptors and CPU seconds.
    let limits = [
        (libc::RLIMIT_CORE, 0),
        (libc::RLIMIT_FSIZE, run.fsize_bytes),
        (libc::RLIMIT_NOFILE, run.nofile),
        (libc::RLIMIT_STACK, 8 << 20),
        (libc::RLIMIT_CPU, run.cpu_secs),
    ];
    for (res, v) in limits {
        let r = libc::rlimit {
            rlim_cur: v,
            rlim_max: v,
        };
        // SAFETY: pointer to a live rlimit.
        check(unsafe { libc::setrlimit(res, &r) }, "setrlimit")?;
    }

    // 17. Capabilities: empty the bounding set while we still may, then become the guest uid
    //     (which clears permitted/effective), then clear everything explicitly.
    for cap in 0..=63 {
        // SAFETY: plain prctl; EINVAL past the last capability is expected and ignored.
        unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) };
    }
    check(
        // SAFETY: plain syscalls on integers.
        unsafe { libc::setresgid(GUEST_ID, GUEST_ID, GUEST_ID) },
        "setresgid guest",
    )?;
    check(
        // SAFETY: as above.
        unsafe { libc::setresuid(GUEST_ID, GUEST_ID, GUEST_ID) },
        "setresuid guest",
    )?;
    check(
        // SAFETY: plain prctl.
        unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL,
                0,
                0,
                0,
            )
        },
        "clear ambient caps",
    )?;
    drop_all_caps()?;
    // Credentials changed, which cleared the parent-death signal: set it again.
    check(
        // SAFETY: plain prctl.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) },
        "pdeathsig",
    )?;

    // 18. No privilege can be gained by exec (setuid bits, file capabilities) from here on.
    check(
        // SAFETY: plain prctl.
        unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) },
        "no_new_privs",
    )?;

    // 19. Prepare exec arguments before the filter (allocation after it is fine, but errors are
    //     easier to report now), then close every descriptor but stdio — the control socket too.
    let argv: Vec<CString> = run.argv.iter().map(|a| cstr(a)).collect::<Result<_, _>>()?;
    let envp: Vec<CString> = run
        .env
        .iter()
        .map(|(k, v)| cstr(&format!("{k}={v}")))
        .collect::<Result<_, _>>()?;
    let mut argv_p: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_p.push(std::ptr::null());
    let mut envp_p: Vec<*const libc::c_char> = envp.iter().map(|a| a.as_ptr()).collect();
    envp_p.push(std::ptr::null());
    let filter = super::super::policy::decode(&setup.bpf);
    check(
        // SAFETY: plain syscall; fds >= 3 are not used past this point (ctl is only dropped at exit).
        unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) } as libc::c_int,
        "close_range",
    )?;

    // 20. The seccomp allowlist, then exec. Failures from here on can only go to stderr.
    if let Err(e) = seccompiler::apply_filter(&filter) {
        let _ = writeln!(io::stderr(), "ain-sre-jail: seccomp: {e}");
        // SAFETY: immediate exit.
        unsafe { libc::_exit(126) }
    }
    // SAFETY: argv/envp are NULL-terminated arrays of live C strings.
    unsafe { libc::execve(argv_p[0], argv_p.as_ptr(), envp_p.as_ptr()) };
    let _ = writeln!(
        io::stderr(),
        "ain-sre-jail: exec {}: {}",
        run.argv[0],
        io::Error::last_os_error()
    );
    // SAFETY: immediate exit after a failed exec.
    unsafe { libc::_exit(127) }
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

/// capset(2) with empty sets (v3 header, two 32-bit data words).
fn drop_all_caps() -> Result<(), String> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut hdr = Header {
        version: 0x2008_0522,
        pid: 0,
    };
    let data = [Data {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: header and data are live, correctly laid out for _LINUX_CAPABILITY_VERSION_3.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut Header, data.as_ptr()) };
    check(rc as libc::c_int, "capset").map(|_| ())
}
