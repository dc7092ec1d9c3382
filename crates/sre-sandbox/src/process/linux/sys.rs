//! The last stretch of the jail — from a built root to `execve` — written against a
//! [`Syscalls`] seam, so the order of the lock-down steps (which matters: capabilities before
//! the uid change, `NO_NEW_PRIVS` and closed descriptors before seccomp, seccomp right before
//! exec) is unit-tested with a recording double, without root.

use std::ffi::CString;

use super::super::proto::Run;
use super::{GUEST_ID, check, cstr};

/// Resource limits the jail sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rlimit {
    Core,
    Fsize,
    Nofile,
    Stack,
    Cpu,
}

/// The system calls of the lock-down, one method per step.
pub(crate) trait Syscalls {
    fn setsid(&mut self) -> Result<(), String>;
    fn setrlimit(&mut self, which: Rlimit, value: u64) -> Result<(), String>;
    /// Empties the capability bounding set.
    fn drop_bounding_set(&mut self);
    /// `setresgid` then `setresuid` to `id`.
    fn become_user(&mut self, id: u32) -> Result<(), String>;
    /// Clears the ambient set and the effective/permitted/inheritable sets.
    fn clear_capabilities(&mut self) -> Result<(), String>;
    fn set_parent_death_signal(&mut self) -> Result<(), String>;
    fn set_no_new_privs(&mut self) -> Result<(), String>;
    /// Closes every descriptor from `first` up.
    fn close_from(&mut self, first: u32) -> Result<(), String>;
    fn install_seccomp(&mut self, program: &[u64]) -> Result<(), String>;
    /// Replaces the process; returns only with the reason it could not.
    fn exec(&mut self, argv: &[CString], envp: &[CString]) -> String;
}

/// Why the lock-down stopped.
#[derive(Debug)]
pub(crate) struct LockdownError {
    /// The control socket is already closed (report on stderr, not to the daemon).
    pub(crate) after_close: bool,
    /// It was `execve` that failed.
    pub(crate) exec: bool,
    /// What failed.
    pub(crate) why: String,
}

/// Steps 15–20 of the jail, in order. Returns only on failure.
pub(crate) fn lock_down(sys: &mut impl Syscalls, run: &Run, bpf: &[u64]) -> LockdownError {
    let early = |why: String| LockdownError {
        after_close: false,
        exec: false,
        why,
    };
    // Arguments first: a NUL byte is reported to the daemon, not to the guest's stderr.
    let argv: Result<Vec<CString>, String> = run.argv.iter().map(|a| cstr(a)).collect();
    let envp: Result<Vec<CString>, String> = run
        .env
        .iter()
        .map(|(k, v)| cstr(&format!("{k}={v}")))
        .collect();
    let (argv, envp) = match (argv, envp) {
        (Ok(a), Ok(e)) if !a.is_empty() => (a, e),
        (Err(e), _) | (_, Err(e)) => return early(e),
        _ => return early("empty argv".into()),
    };
    let mut steps = || -> Result<(), String> {
        // 15. New session: no controlling terminal to inject input into (TIOCSTI is filtered too).
        sys.setsid()?;
        // 16. rlimits: no core dumps, bounded file size, descriptors, stack and CPU seconds.
        for (which, v) in [
            (Rlimit::Core, 0),
            (Rlimit::Fsize, run.fsize_bytes),
            (Rlimit::Nofile, run.nofile),
            (Rlimit::Stack, 8 << 20),
            (Rlimit::Cpu, run.cpu_secs),
        ] {
            sys.setrlimit(which, v)?;
        }
        // 17. Capabilities: empty the bounding set while we still may, become the guest uid
        //     (which clears permitted/effective), then clear everything explicitly. The uid
        //     change cleared the parent-death signal: set it again.
        sys.drop_bounding_set();
        sys.become_user(GUEST_ID)?;
        sys.clear_capabilities()?;
        sys.set_parent_death_signal()?;
        // 18. No privilege can be gained by exec (setuid bits, file capabilities) from here on.
        sys.set_no_new_privs()
    };
    if let Err(why) = steps() {
        return early(why);
    }
    // 19. Every descriptor but stdio goes — the control socket too.
    if let Err(why) = sys.close_from(3) {
        return early(why);
    }
    // 20. The seccomp allowlist, then exec.
    if let Err(why) = sys.install_seccomp(bpf) {
        return LockdownError {
            after_close: true,
            exec: false,
            why,
        };
    }
    let why = sys.exec(&argv, &envp);
    LockdownError {
        after_close: true,
        exec: true,
        why: format!("exec {}: {why}", run.argv[0]),
    }
}

/// The real system calls.
pub(crate) struct RealSyscalls;

impl Syscalls for RealSyscalls {
    fn setsid(&mut self) -> Result<(), String> {
        // SAFETY: plain syscall.
        check(unsafe { libc::setsid() }, "setsid").map(drop)
    }

    fn setrlimit(&mut self, which: Rlimit, value: u64) -> Result<(), String> {
        let res = match which {
            Rlimit::Core => libc::RLIMIT_CORE,
            Rlimit::Fsize => libc::RLIMIT_FSIZE,
            Rlimit::Nofile => libc::RLIMIT_NOFILE,
            Rlimit::Stack => libc::RLIMIT_STACK,
            Rlimit::Cpu => libc::RLIMIT_CPU,
        };
        let r = libc::rlimit {
            rlim_cur: value,
            rlim_max: value,
        };
        // SAFETY: pointer to a live rlimit.
        check(unsafe { libc::setrlimit(res, &r) }, "setrlimit").map(drop)
    }

    fn drop_bounding_set(&mut self) {
        for cap in 0..=63 {
            // SAFETY: plain prctl; EINVAL past the last capability is expected and ignored.
            unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) };
        }
    }

    fn become_user(&mut self, id: u32) -> Result<(), String> {
        // SAFETY: plain syscall on integers.
        check(unsafe { libc::setresgid(id, id, id) }, "setresgid")?;
        // SAFETY: plain syscall on integers.
        check(unsafe { libc::setresuid(id, id, id) }, "setresuid").map(drop)
    }

    fn clear_capabilities(&mut self) -> Result<(), String> {
        let clear = libc::PR_CAP_AMBIENT_CLEAR_ALL;
        // SAFETY: plain prctl.
        let rc = unsafe { libc::prctl(libc::PR_CAP_AMBIENT, clear, 0, 0, 0) };
        check(rc, "ambient")?;
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
        // SAFETY: header and data are live and laid out for _LINUX_CAPABILITY_VERSION_3.
        let rc = unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut Header, data.as_ptr()) };
        check(rc as libc::c_int, "capset").map(drop)
    }

    fn set_parent_death_signal(&mut self) -> Result<(), String> {
        // SAFETY: plain prctl.
        let rc = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
        check(rc, "pdeathsig").map(drop)
    }

    fn set_no_new_privs(&mut self) -> Result<(), String> {
        // SAFETY: plain prctl.
        check(
            unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) },
            "no_new_privs",
        )
        .map(drop)
    }

    fn close_from(&mut self, first: u32) -> Result<(), String> {
        // SAFETY: plain syscall; no descriptor >= `first` is used after this.
        let rc = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0u32) };
        check(rc as libc::c_int, "close_range").map(drop)
    }

    fn install_seccomp(&mut self, program: &[u64]) -> Result<(), String> {
        let filter = super::super::policy::decode(program);
        seccompiler::apply_filter(&filter).map_err(|e| format!("seccomp: {e}"))
    }

    fn exec(&mut self, argv: &[CString], envp: &[CString]) -> String {
        let mut argv_p: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        argv_p.push(std::ptr::null());
        let mut envp_p: Vec<*const libc::c_char> = envp.iter().map(|a| a.as_ptr()).collect();
        envp_p.push(std::ptr::null());
        // SAFETY: argv/envp are NULL-terminated arrays of live C strings; argv is not empty.
        unsafe { libc::execve(argv_p[0], argv_p.as_ptr(), envp_p.as_ptr()) };
        std::io::Error::last_os_error().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records each step; fails the one named in `fail`.
    #[derive(Default)]
    struct Recorder {
        steps: Vec<String>,
        fail: Option<&'static str>,
    }

    impl Recorder {
        fn step(&mut self, name: &str) -> Result<(), String> {
            self.steps.push(name.to_owned());
            if self.fail == Some(name) {
                Err(format!("{name} failed"))
            } else {
                Ok(())
            }
        }
    }

    impl Syscalls for Recorder {
        fn setsid(&mut self) -> Result<(), String> {
            self.step("setsid")
        }
        fn setrlimit(&mut self, which: Rlimit, value: u64) -> Result<(), String> {
            self.step(&format!("rlimit {which:?}={value}"))
        }
        fn drop_bounding_set(&mut self) {
            let _ = self.step("drop bounding set");
        }
        fn become_user(&mut self, id: u32) -> Result<(), String> {
            self.step(&format!("become {id}"))
        }
        fn clear_capabilities(&mut self) -> Result<(), String> {
            self.step("clear caps")
        }
        fn set_parent_death_signal(&mut self) -> Result<(), String> {
            self.step("pdeathsig")
        }
        fn set_no_new_privs(&mut self) -> Result<(), String> {
            self.step("no_new_privs")
        }
        fn close_from(&mut self, first: u32) -> Result<(), String> {
            self.step(&format!("close from {first}"))
        }
        fn install_seccomp(&mut self, program: &[u64]) -> Result<(), String> {
            self.step(&format!("seccomp {}", program.len()))
        }
        fn exec(&mut self, argv: &[CString], envp: &[CString]) -> String {
            let _ = self.step(&format!("exec {argv:?} {envp:?}"));
            "recorded".into()
        }
    }

    fn run() -> Run {
        Run {
            argv: vec!["/usr/bin/python3".into(), "/sre/main.py".into()],
            env: vec![("SRE_CALL_ID".into(), "c1".into())],
            source_file: "main.py".into(),
            tmpfs_bytes: 1 << 20,
            tmpfs_inodes: 64,
            fsize_bytes: 1 << 20,
            nofile: 256,
            cpu_secs: 5,
            bpf: None,
        }
    }

    #[test]
    fn lock_down_runs_every_step_in_order_and_execs_last() {
        let mut r = Recorder::default();
        let err = lock_down(&mut r, &run(), &[1, 2, 3]);
        assert!(err.after_close && err.exec, "{err:?}");
        assert_eq!(
            r.steps,
            [
                "setsid",
                "rlimit Core=0",
                "rlimit Fsize=1048576",
                "rlimit Nofile=256",
                "rlimit Stack=8388608",
                "rlimit Cpu=5",
                "drop bounding set",
                "become 1000",
                "clear caps",
                "pdeathsig",
                "no_new_privs",
                "close from 3",
                "seccomp 3",
                "exec [\"/usr/bin/python3\", \"/sre/main.py\"] [\"SRE_CALL_ID=c1\"]",
            ]
        );
    }

    #[test]
    fn a_failed_step_stops_before_exec_and_is_reported_to_the_daemon() {
        for (fail, after_close) in [
            ("become 1000", false),
            ("no_new_privs", false),
            ("seccomp 3", true),
        ] {
            let mut r = Recorder {
                fail: Some(fail),
                ..Recorder::default()
            };
            let err = lock_down(&mut r, &run(), &[1, 2, 3]);
            assert_eq!(err.after_close, after_close, "{fail}");
            assert!(!err.exec && err.why.contains(fail), "{fail}: {err:?}");
            assert_eq!(r.steps.last().map(String::as_str), Some(fail));
        }
        let mut bad = run();
        bad.argv[0] = "/bin/\0x".into();
        let mut r = Recorder::default();
        let err = lock_down(&mut r, &bad, &[]);
        assert!(!err.after_close && r.steps.is_empty(), "{err:?}");
    }
}
