//! The seccomp policy of the process tier: an **allowlist** of the system calls interpreters and
//! static programs need, compiled once by the daemon with seccompiler and handed to every stem
//! cell. Everything else fails with `EPERM`; a foreign architecture (i386 `int 0x80`) kills the
//! process; x32 numbers (`| 0x40000000`) match no entry, so they fail too.
//!
//! Notably absent (each an abuse-suite row): `ptrace`, `process_vm_*`, `mount`, `umount2`,
//! `pivot_root`, `chroot`, `unshare`, `setns`, `bpf`, `perf_event_open`, `userfaultfd`,
//! `add_key`/`request_key`/`keyctl`, `io_uring_*`, `settimeofday`, `adjtimex`, `clock_adjtime`,
//! `clock_settime`, `kexec_*`, module loading, `mknod`, `personality`, `open_by_handle_at`,
//! `inotify_*` and `fanotify_*`: an inotify instance is a per-user kernel counter (128 per uid
//! by default, and every container guest is the same uid) and a watch on a bound runtime file
//! (a host inode) sees other sandboxes open and read it; interpreters need neither. `mq_open`
//! is absent too (`RLIMIT_MSGQUEUE` is 0 besides).
//! Filtered by argument: `clone` without namespace flags, `socket`/`socketpair` only `AF_UNIX`,
//! `ioctl` anything but `TIOCSTI`/`TIOCLINUX`. `clone3` (arguments in memory, unfilterable)
//! answers `ENOSYS` so libc falls back to `clone`.
//!
//! `flock` stays allowed although a guest can take an exclusive lock on a file of a read-only
//! bind (the kernel needs only a readable descriptor): programs lock their own scratch files with
//! it, a filter cannot tell a bound file's descriptor from a scratch file's, the lock is advisory
//! (reading, mapping and executing the file are unaffected, so it only delays a host program
//! that itself locks interpreter or library files: the dynamic loader does not, and dpkg locks
//! only its own lock files), and it ends with the call, when every guest process is dead. A
//! write lock through `fcntl` needs a writable descriptor, which a read-only bind never gives.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// `(name, number)` pairs from `libc::SYS_<name>` entries: the numbers for this tier's BPF
/// program, the names for the container tier's Docker seccomp profile (one policy, two tiers).
macro_rules! syscalls {
    ($(libc::$nr:ident),* $(,)?) => {
        &[$((stringify!($nr), libc::$nr)),*]
    };
}

/// Plain allowed calls (x86_64 numbers from libc), with their names (`SYS_` prefixed).
#[rustfmt::skip]
pub(crate) const ALLOWED: &[(&str, libc::c_long)] = syscalls![
    libc::SYS_read, libc::SYS_write, libc::SYS_open, libc::SYS_close, libc::SYS_stat,
    libc::SYS_fstat, libc::SYS_lstat, libc::SYS_poll, libc::SYS_lseek, libc::SYS_mmap,
    libc::SYS_mprotect, libc::SYS_munmap, libc::SYS_brk, libc::SYS_rt_sigaction,
    libc::SYS_rt_sigprocmask, libc::SYS_rt_sigreturn, libc::SYS_pread64, libc::SYS_pwrite64,
    libc::SYS_readv, libc::SYS_writev, libc::SYS_access, libc::SYS_pipe, libc::SYS_select,
    libc::SYS_sched_yield, libc::SYS_mremap, libc::SYS_msync, libc::SYS_mincore,
    libc::SYS_madvise, libc::SYS_dup, libc::SYS_dup2, libc::SYS_pause, libc::SYS_nanosleep,
    libc::SYS_getitimer, libc::SYS_alarm, libc::SYS_setitimer, libc::SYS_getpid,
    libc::SYS_sendfile, libc::SYS_connect, libc::SYS_accept, libc::SYS_sendto,
    libc::SYS_recvfrom, libc::SYS_sendmsg, libc::SYS_recvmsg, libc::SYS_shutdown,
    libc::SYS_bind, libc::SYS_listen, libc::SYS_getsockname, libc::SYS_getpeername,
    libc::SYS_setsockopt, libc::SYS_getsockopt, libc::SYS_fork, libc::SYS_vfork,
    libc::SYS_execve, libc::SYS_exit, libc::SYS_wait4, libc::SYS_kill, libc::SYS_uname,
    libc::SYS_fcntl, libc::SYS_flock, libc::SYS_fsync, libc::SYS_fdatasync, libc::SYS_truncate,
    libc::SYS_ftruncate, libc::SYS_getdents, libc::SYS_getcwd, libc::SYS_chdir,
    libc::SYS_fchdir, libc::SYS_rename, libc::SYS_mkdir, libc::SYS_rmdir, libc::SYS_creat,
    libc::SYS_link, libc::SYS_unlink, libc::SYS_symlink, libc::SYS_readlink, libc::SYS_chmod,
    libc::SYS_fchmod, libc::SYS_chown, libc::SYS_fchown, libc::SYS_lchown, libc::SYS_umask,
    libc::SYS_gettimeofday, libc::SYS_getrlimit, libc::SYS_getrusage, libc::SYS_sysinfo,
    libc::SYS_times, libc::SYS_getuid, libc::SYS_getgid, libc::SYS_geteuid, libc::SYS_getegid,
    libc::SYS_setpgid, libc::SYS_getppid, libc::SYS_getpgrp, libc::SYS_setsid,
    libc::SYS_getgroups, libc::SYS_getresuid, libc::SYS_getresgid, libc::SYS_getpgid,
    libc::SYS_getsid, libc::SYS_rt_sigpending, libc::SYS_rt_sigtimedwait,
    libc::SYS_rt_sigqueueinfo, libc::SYS_rt_sigsuspend, libc::SYS_sigaltstack, libc::SYS_utime,
    libc::SYS_statfs, libc::SYS_fstatfs, libc::SYS_getpriority, libc::SYS_sched_getparam,
    libc::SYS_sched_getscheduler, libc::SYS_sched_get_priority_max,
    libc::SYS_sched_get_priority_min, libc::SYS_sched_rr_get_interval, libc::SYS_mlock,
    libc::SYS_munlock, libc::SYS_prctl, libc::SYS_arch_prctl, libc::SYS_setrlimit,
    libc::SYS_sync, libc::SYS_gettid, libc::SYS_readahead, libc::SYS_time, libc::SYS_futex,
    libc::SYS_sched_setaffinity, libc::SYS_sched_getaffinity, libc::SYS_epoll_create,
    libc::SYS_getdents64, libc::SYS_set_tid_address, libc::SYS_restart_syscall,
    libc::SYS_fadvise64, libc::SYS_timer_create, libc::SYS_timer_settime,
    libc::SYS_timer_gettime, libc::SYS_timer_getoverrun, libc::SYS_timer_delete,
    libc::SYS_clock_gettime, libc::SYS_clock_getres, libc::SYS_clock_nanosleep,
    libc::SYS_exit_group, libc::SYS_epoll_wait, libc::SYS_epoll_ctl, libc::SYS_tgkill,
    libc::SYS_utimes, libc::SYS_waitid, libc::SYS_openat, libc::SYS_mkdirat,
    libc::SYS_fchownat, libc::SYS_futimesat, libc::SYS_newfstatat, libc::SYS_unlinkat,
    libc::SYS_renameat, libc::SYS_linkat, libc::SYS_symlinkat, libc::SYS_readlinkat,
    libc::SYS_fchmodat, libc::SYS_faccessat, libc::SYS_pselect6, libc::SYS_ppoll,
    libc::SYS_set_robust_list, libc::SYS_get_robust_list, libc::SYS_splice, libc::SYS_tee,
    libc::SYS_sync_file_range, libc::SYS_vmsplice, libc::SYS_utimensat, libc::SYS_epoll_pwait,
    libc::SYS_signalfd, libc::SYS_timerfd_create, libc::SYS_eventfd, libc::SYS_fallocate,
    libc::SYS_timerfd_settime, libc::SYS_timerfd_gettime, libc::SYS_accept4,
    libc::SYS_signalfd4, libc::SYS_eventfd2, libc::SYS_epoll_create1, libc::SYS_dup3,
    libc::SYS_pipe2, libc::SYS_preadv, libc::SYS_pwritev,
    libc::SYS_rt_tgsigqueueinfo, libc::SYS_recvmmsg, libc::SYS_prlimit64, libc::SYS_sendmmsg,
    libc::SYS_getcpu, libc::SYS_getrandom, libc::SYS_memfd_create, libc::SYS_statx,
    libc::SYS_rseq, libc::SYS_copy_file_range, libc::SYS_preadv2, libc::SYS_pwritev2,
    libc::SYS_close_range, libc::SYS_faccessat2, libc::SYS_epoll_pwait2, libc::SYS_membarrier,
    libc::SYS_mlock2, libc::SYS_munlockall, libc::SYS_sched_getattr, libc::SYS_renameat2,
    libc::SYS_execveat, libc::SYS_setresuid, libc::SYS_setresgid, libc::SYS_setuid,
    libc::SYS_setgid,
    // System V IPC: private to the sandbox's IPC namespace.
    libc::SYS_shmget, libc::SYS_shmat, libc::SYS_shmdt, libc::SYS_shmctl, libc::SYS_semget,
    libc::SYS_semop, libc::SYS_semctl, libc::SYS_semtimedop, libc::SYS_msgget, libc::SYS_msgsnd,
    libc::SYS_msgrcv, libc::SYS_msgctl,
];

/// Namespace flags `clone` may not carry.
pub(crate) const NS_FLAGS: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP
    | 0x80/* CLONE_NEWTIME */) as u64;

/// `ioctl` requests refused: TIOCSTI (CVE-2017-5226) and TIOCLINUX (same trick on a VT).
const DENIED_IOCTLS: [u64; 2] = [0x5412, 0x541C];

fn cond(arg: u8, op: SeccompCmpOp, value: u64) -> SeccompCondition {
    SeccompCondition::new(arg, SeccompCmpArgLen::Qword, op, value).expect("valid condition")
}

fn rule(conds: Vec<SeccompCondition>) -> SeccompRule {
    SeccompRule::new(conds).expect("valid rule")
}

/// Compiles the allowlist for x86_64. Fails only on a seccompiler bug or another architecture.
pub(crate) fn compile() -> Result<BpfProgram, String> {
    compile_with(false)
}

/// The allowlist of a call with egress: also TCP and UDP sockets (`AF_INET`/`AF_INET6`,
/// `SOCK_STREAM`/`SOCK_DGRAM`), which in the sandbox's empty network namespace reach only the
/// worker's proxy on its loopback. Raw, packet and netlink sockets stay refused.
pub(crate) fn compile_egress() -> Result<BpfProgram, String> {
    compile_with(true)
}

fn compile_with(inet: bool) -> Result<BpfProgram, String> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for &(_, nr) in ALLOWED {
        rules.insert(nr, vec![]);
    }
    // clone: only threads and plain processes, no new namespaces.
    rules.insert(
        libc::SYS_clone,
        vec![rule(vec![cond(0, SeccompCmpOp::MaskedEq(NS_FLAGS), 0)])],
    );
    // Sockets: Unix domain only (the network namespace is empty anyway; this also refuses raw,
    // packet and netlink sockets before the kernel sees them).
    let unix = libc::AF_UNIX as u64;
    let mut socket_rules = vec![rule(vec![cond(0, SeccompCmpOp::Eq, unix)])];
    if inet {
        for domain in [libc::AF_INET, libc::AF_INET6] {
            for ty in [libc::SOCK_STREAM, libc::SOCK_DGRAM] {
                socket_rules.push(rule(vec![
                    cond(0, SeccompCmpOp::Eq, domain as u64),
                    // The low bits are the type; SOCK_NONBLOCK/SOCK_CLOEXEC sit above them.
                    cond(1, SeccompCmpOp::MaskedEq(0xf), ty as u64),
                ]));
            }
        }
    }
    rules.insert(libc::SYS_socket, socket_rules);
    rules.insert(
        libc::SYS_socketpair,
        vec![rule(vec![cond(0, SeccompCmpOp::Eq, unix)])],
    );
    // ioctl: everything except terminal input injection. The request is a 32-bit value.
    let ioctl_ok = DENIED_IOCTLS
        .iter()
        .map(|&req| {
            SeccompCondition::new(1, SeccompCmpArgLen::Dword, SeccompCmpOp::Ne, req)
                .expect("valid condition")
        })
        .collect();
    rules.insert(libc::SYS_ioctl, vec![rule(ioctl_ok)]);
    let allow = SeccompFilter::new(
        rules,
        SeccompAction::Errno(libc::EPERM as u32),
        SeccompAction::Allow,
        TargetArch::x86_64,
    )
    .map_err(|e| format!("seccomp filter: {e}"))?;
    let mut prog: BpfProgram = allow
        .try_into()
        .map_err(|e| format!("seccomp compile: {e}"))?;
    // clone3 → ENOSYS: patch it in front of the allowlist, after the architecture check (the
    // first three instructions), as "nr == clone3 ? ENOSYS : continue".
    let nosys = libc::SECCOMP_RET_ERRNO | (libc::ENOSYS as u32 & libc::SECCOMP_RET_DATA);
    let extra = [
        bpf(0x20, 0, 0, 0),                       // ld [nr]
        bpf(0x15, 0, 1, libc::SYS_clone3 as u32), // jeq clone3, +0, +1
        bpf(0x06, 0, 0, nosys),                   // ret ENOSYS
    ];
    prog.splice(3..3, extra);
    Ok(prog)
}

fn bpf(code: u16, jt: u8, jf: u8, k: u32) -> seccompiler::sock_filter {
    seccompiler::sock_filter { code, jt, jf, k }
}

/// A program as plain integers for [`super::proto::Setup`].
pub(crate) fn encode(prog: &BpfProgram) -> Vec<u64> {
    prog.iter()
        .map(|f| {
            u64::from(f.code) | u64::from(f.jt) << 16 | u64::from(f.jf) << 24 | u64::from(f.k) << 32
        })
        .collect()
}

/// The inverse of [`encode`].
pub(crate) fn decode(words: &[u64]) -> BpfProgram {
    words
        .iter()
        .map(|&w| bpf(w as u16, (w >> 16) as u8, (w >> 24) as u8, (w >> 32) as u32))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiles_and_round_trips_and_leaves_out_the_dangerous_calls() {
        let prog = compile().unwrap();
        assert!(prog.len() > 100);
        let back = decode(&encode(&prog));
        assert_eq!(encode(&back), encode(&prog));
        for nr in [
            libc::SYS_ptrace,
            libc::SYS_mount,
            libc::SYS_unshare,
            libc::SYS_setns,
            libc::SYS_bpf,
            libc::SYS_perf_event_open,
            libc::SYS_userfaultfd,
            libc::SYS_keyctl,
            libc::SYS_add_key,
            libc::SYS_io_uring_setup,
            libc::SYS_settimeofday,
            libc::SYS_adjtimex,
            libc::SYS_clock_settime,
            libc::SYS_process_vm_readv,
            libc::SYS_pivot_root,
            libc::SYS_chroot,
            libc::SYS_mknod,
            libc::SYS_kexec_load,
            libc::SYS_inotify_init,
            libc::SYS_inotify_init1,
            libc::SYS_inotify_add_watch,
            libc::SYS_fanotify_init,
            libc::SYS_mq_open,
        ] {
            assert!(
                !ALLOWED.iter().any(|&(_, n)| n == nr),
                "{nr} must not be allowed"
            );
        }
    }
}
