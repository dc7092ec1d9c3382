//! Shared set-up for the process-tier tests: a sandbox with its own cgroup parent and uid range,
//! and the check that nothing of it survives.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use ain_sre::config::runtimes::RuntimeCatalog;
use ain_sre::sandbox::process::{ProcessConfig, ProcessSandbox};
use ain_sre::sandbox::{FunctionCode, Invocation, Limits, Outcome, Sandbox};

use crate::common::skip_or_fail;

/// A process-tier sandbox for one test.
pub struct Jail {
    pub sb: ProcessSandbox,
    pub cgroup_parent: String,
    pub uid_base: u32,
}

impl Jail {
    /// `None` after a loud skip (a failure in strict mode) when not root or the tier cannot start.
    pub async fn new(test: &str, pool_size: usize) -> Option<Jail> {
        Jail::with_runtimes(test, pool_size, None).await
    }

    /// As [`Jail::new`], with `runtimes` instead of the shipped runtime files.
    pub async fn with_runtimes(
        test: &str,
        pool_size: usize,
        runtimes: Option<RuntimeCatalog>,
    ) -> Option<Jail> {
        if !nix::unistd::geteuid().is_root() {
            skip_or_fail(test, "the process tier needs root");
            return None;
        }
        // A distinct uid range per test, so survivors can be looked up by uid.
        let h = test
            .bytes()
            .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
        let uid_base = 2_000_000 + (h % 1000) * 1000;
        let cgroup_parent = format!("ain-sre-test-{test}");
        let config = ProcessConfig {
            jail_exe: Some(
                std::path::Path::new(env!("CARGO_BIN_EXE_ain-sre")).with_file_name("ain-sre-jail"),
            ),
            pool_size,
            cgroup_parent: cgroup_parent.clone(),
            uid_base,
            uid_slots: 100,
            root_dir: format!("/run/ain-sre-test/{test}").into(),
            runtimes,
            ..ProcessConfig::default()
        };
        match ProcessSandbox::start(config).await {
            Ok(sb) => Some(Jail {
                sb,
                cgroup_parent,
                uid_base,
            }),
            Err(e) => {
                skip_or_fail(test, &format!("process tier unavailable: {e}"));
                None
            }
        }
    }

    /// Runs `code` in `runtime` with `input`.
    pub async fn run(&self, runtime: &str, code: &[u8], input: &[u8], limits: Limits) -> Outcome {
        self.run_input(runtime, code, Arc::<[u8]>::from(input).into(), limits)
            .await
    }

    /// Runs `code` in `runtime` with `input` (bytes or an open file).
    #[allow(dead_code)]
    pub async fn run_input(
        &self,
        runtime: &str,
        code: &[u8],
        input: ain_sre::sandbox::Input,
        limits: Limits,
    ) -> Outcome {
        let p = self
            .sb
            .prepare(&FunctionCode::new(runtime, code.to_vec()))
            .await
            .expect("prepare");
        let call = Invocation {
            input,
            env: vec![
                ("SRE_FUNCTION".into(), "t".into()),
                ("SRE_CALL_ID".into(), "c1".into()),
                ("HOME".into(), "/root".into()),
                ("AIN_SRE_PRIVATE_KEY".into(), "never-visible".into()),
            ],
            limits,
        };
        let out = self.sb.run(&p, call).await.expect("run");
        self.assert_nothing_survives().await;
        out
    }

    /// Runs a python3 script with empty input.
    pub async fn py(&self, src: &str, limits: Limits) -> Outcome {
        self.run("python3", src.as_bytes(), b"", limits).await
    }

    /// No host process runs under this sandbox's uids, and every call's cgroup is gone (apart
    /// from waiting stem cells).
    pub async fn assert_nothing_survives(&self) {
        let lo = self.uid_base + 1;
        let hi = self.uid_base + 2 * 100;
        // Cgroup removal happens off the call's path: give it a moment.
        for _ in 0..200 {
            if guest_pids(lo, hi).is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let left = guest_pids(lo, hi);
        assert!(
            left.is_empty(),
            "guest processes survived the call: {left:?}"
        );
    }

    /// Shuts the pools down and checks the cgroup parent is empty, then removes it.
    pub async fn finish(self) {
        self.sb.shutdown().await;
        for c in ["memory", "pids", "cpu", "cpuacct", "freezer", ""] {
            let dir = std::path::Path::new("/sys/fs/cgroup")
                .join(c)
                .join(&self.cgroup_parent);
            if !dir.is_dir() {
                continue;
            }
            let mut subdirs = Vec::new();
            for _ in 0..200 {
                subdirs = std::fs::read_dir(&dir)
                    .unwrap()
                    .filter_map(|e| e.ok())
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.file_name())
                    .collect();
                if subdirs.is_empty() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert!(
                subdirs.is_empty(),
                "cgroups left in {}: {subdirs:?}",
                dir.display()
            );
            let _ = std::fs::remove_dir(&dir);
        }
    }
}

/// Host pids whose real uid is in `lo..=hi` — but only guests: odd offsets are guest uids,
/// even ones the set-up root (the keeper, which exits right after the guest).
pub fn guest_pids(lo: u32, hi: u32) -> Vec<(i32, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(e.path().join("status")) else {
            continue;
        };
        let uid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().next()?.parse::<u32>().ok());
        if uid.is_some_and(|u| (lo..=hi).contains(&u) && (u - lo).is_multiple_of(2)) {
            let name = status.lines().next().unwrap_or("").to_owned();
            out.push((pid, name));
        }
    }
    out
}

/// The stdout of a completed call.
pub fn stdout_of(o: &Outcome) -> &[u8] {
    match o {
        Outcome::Completed { stdout, .. } => stdout,
        other => panic!("expected completion, got {other:?}"),
    }
}

/// The stdout of a completed call as text, trimmed.
pub fn text_of(o: &Outcome) -> String {
    String::from_utf8_lossy(stdout_of(o)).trim().to_owned()
}
