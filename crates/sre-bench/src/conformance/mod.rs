//! `ain-sre conformance`: the abuse suite of SECURITY.md and the functional contract of a sandbox,
//! run against every tier this host offers, as one table.
//!
//! Each check ([`checks::all`]) is one hostile or contract program and the assertion of its
//! expected outcome. The same Python programs (`conformance/py/`, embedded) run on the process and
//! container tiers; the WASM tier runs WebAssembly text modules (`conformance/wat/`) where the
//! attack has a WASM form, and reports "n/a" with the reason where it has none (a fork bomb in
//! WASI). Tiers are started exactly as the worker starts them ([`Tiers::start`]) and driven only
//! through [`AnySandbox`], so the table describes what a deployed worker enforces.
//!
//! A check can fail in three ways: the attack succeeded (the probe reports a breach), the outcome
//! is not the expected one (a memory bomb that ends as anything but `oom`), or the host misbehaved
//! (a sandbox error, a process that survived the call).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::runtimes::RuntimeCatalog;
use crate::sandbox::any::{AnySandbox, TierConfig, Tiers};
use crate::sandbox::container::{ContainerConfig, GuestIds, ImagePolicy};
use crate::sandbox::process::ProcessConfig;
use crate::sandbox::{FunctionCode, Invocation, Limits, Outcome, Sandbox, SandboxError, Tier};

pub mod checks;
pub mod component;
pub mod report;

pub use report::{Cell, Report, Row, Verdict};

/// Longest a single check may take before it is a failure (its calls have their own deadlines;
/// this bounds a host-side hang).
const CHECK_TIMEOUT: Duration = Duration::from_secs(120);

pub use crate::sandbox::strict_from_env;

/// The tier configuration the suite starts: the worker's defaults, with its own cgroup parent,
/// uid ranges, root directory and container owner label so it never touches a running worker's.
/// `runtimes` overrides the shipped runtime files on the process and container tiers (as
/// `ain-sre invoke --runtimes-dir` does).
pub fn tier_config(runtimes: Option<RuntimeCatalog>) -> TierConfig {
    TierConfig {
        container: ContainerConfig {
            instance: format!("conformance-{}", std::process::id()),
            runtimes: runtimes.clone(),
            // Row 27's image, and nothing else (row 29 checks that the rest is refused).
            images: ImagePolicy {
                allow: vec![checks::VOLUME_IMAGE.to_owned()],
                allow_label: None,
            },
            // Past the worker's default range (4,000,000 + 65,536).
            guest_ids: GuestIds {
                base: 4_100_000,
                count: 4096,
            },
            ..ContainerConfig::default()
        },
        process: ProcessConfig {
            cgroup_parent: "ain-sre-conformance".into(),
            uid_base: 3_000_000,
            uid_slots: 200,
            root_dir: PathBuf::from("/run/ain-sre-conformance/root"),
            runtimes,
            ..ProcessConfig::default()
        },
        ..TierConfig::default()
    }
}

/// What the host side of the checks shares: the marker that names guest processes, a planted
/// secret and the file holding it, the victim for signal attacks.
pub struct HostContext {
    /// Process name (`comm`, 15 bytes) every process of a marked probe carries.
    pub marker: String,
    /// A value that must never be visible to a guest (given in the call's env and in `key_file`).
    pub secret: String,
    /// A file on the host holding `secret`, like a worker's key file.
    pub key_file: PathBuf,
    dir: PathBuf,
}

impl Drop for HostContext {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl HostContext {
    /// Creates the run's marker, secret and key file.
    pub fn new() -> std::io::Result<HostContext> {
        let nonce: u32 = rand::random();
        let dir = std::env::temp_dir().join(format!("ain-sre-conformance-{nonce:08x}"));
        std::fs::create_dir_all(&dir)?;
        let key_file = dir.join("worker.key");
        let secret = format!("ain-conformance-secret-{nonce:08x}");
        std::fs::write(&key_file, &secret)?;
        Ok(HostContext {
            marker: format!("ainconf{nonce:08x}"),
            secret,
            key_file,
            dir,
        })
    }

    /// Host processes whose name is the marker (guest processes that outlived their call).
    pub fn marked_processes(&self) -> Vec<i32> {
        let mut out = Vec::new();
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return out;
        };
        for e in dir.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            if std::fs::read_to_string(e.path().join("comm"))
                .is_ok_and(|c| c.trim_end() == self.marker)
            {
                out.push(pid);
            }
        }
        out
    }
}

/// Deliberate weakenings of a tier, applied to every call: they exist so tests can show that
/// the checks catch a tier that does not enforce what it was asked to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weakening {
    /// The call's memory limit is not applied (the tier's own maximum is).
    NoMemoryLimit,
    /// The call's deadline is applied four times too late.
    LateDeadline,
    /// Every variable of the call reaches the guest, not only `SRE_*`.
    NoEnvFilter,
    /// Every call also gets the secrets handed to earlier calls of other functions (a worker
    /// that keeps decrypted secrets per app, not per function).
    SharedSecrets,
}

/// One tier under test.
pub struct Target<'a> {
    /// The tier.
    pub tier: Tier,
    sandbox: &'a AnySandbox,
    /// The run's host-side context.
    pub host: &'a HostContext,
    weakening: Option<Weakening>,
    /// WebAssembly modules run wrapped into components ([`component::wrap`]).
    component: bool,
    /// `SRE_SECRET_*` variables handed out so far (kept only under [`Weakening::SharedSecrets`]).
    given: std::sync::Mutex<Vec<(String, String)>>,
}

impl<'a> Target<'a> {
    /// A target running calls on `sandbox` as a worker would.
    pub fn new(sandbox: &'a AnySandbox, host: &'a HostContext) -> Target<'a> {
        Target {
            tier: sandbox.tier(),
            sandbox,
            host,
            weakening: None,
            component: false,
            given: Default::default(),
        }
    }

    /// The same target running its WASM test modules as components (the WASM tier's other
    /// path).
    pub fn components(mut self) -> Target<'a> {
        self.component = true;
        self
    }

    /// The code this target runs for `code`: wrapped into a component when it runs components.
    fn code(&self, code: &FunctionCode) -> FunctionCode {
        if self.component && self.tier == Tier::Wasm {
            component::wrap(code)
        } else {
            code.clone()
        }
    }

    /// The same target with one enforcement deliberately removed (for testing the checks).
    pub fn weakened(mut self, w: Weakening) -> Target<'a> {
        self.weakening = Some(w);
        self
    }

    /// The environment every call gets: the two `SRE_*` variables a worker passes, plus host
    /// variables (one of them the secret) that must be filtered out.
    fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("SRE_FUNCTION".to_owned(), "conformance".to_owned()),
            ("SRE_CALL_ID".to_owned(), "c1".to_owned()),
            ("HOME".to_owned(), "/root".to_owned()),
            ("AIN_SRE_PRIVATE_KEY".to_owned(), self.host.secret.clone()),
        ];
        if self.weakening == Some(Weakening::NoEnvFilter) {
            let leaked: Vec<_> = env
                .iter()
                .filter(|(k, _)| !k.starts_with("SRE_"))
                .map(|(k, v)| (format!("SRE_{k}"), v.clone()))
                .collect();
            env.extend(leaked);
        }
        env
    }

    /// Prepares and runs `code` once. A sandbox error (rejection or host fault) is `Err`.
    pub async fn run(
        &self,
        code: &FunctionCode,
        input: &[u8],
        limits: Limits,
    ) -> Result<Outcome, String> {
        self.run_with(code, input, limits, Vec::new()).await
    }

    /// [`Target::run`] with `extra` variables after the usual ones (later names win, as a
    /// worker's call-specific `SRE_FUNCTION` and `SRE_SECRET_*` do).
    pub async fn run_with(
        &self,
        code: &FunctionCode,
        input: &[u8],
        mut limits: Limits,
        extra: Vec<(String, String)>,
    ) -> Result<Outcome, String> {
        match self.weakening {
            Some(Weakening::NoMemoryLimit) => limits.memory_bytes = u64::MAX,
            Some(Weakening::LateDeadline) => limits.wall_time *= 4,
            _ => {}
        }
        let prepared = self
            .sandbox
            .prepare(&self.code(code))
            .await
            .map_err(|e| format!("prepare: {e}"))?;
        let mut env = self.env();
        if self.weakening == Some(Weakening::SharedSecrets) {
            let mut given = self.given.lock().expect("not poisoned");
            given.extend(
                extra
                    .iter()
                    .filter(|(k, _)| k.starts_with("SRE_SECRET_"))
                    .cloned(),
            );
            env.extend(given.iter().cloned());
        }
        env.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        env.extend(extra);
        let call = Invocation {
            input: Arc::<[u8]>::from(input).into(),
            env,
            limits,
        };
        self.sandbox
            .run(&prepared, call)
            .await
            .map_err(|e| format!("run: {e}"))
    }

    /// Only prepares `code`: `Ok` if the tier accepted it, `Err` with the rejection otherwise.
    pub async fn prepare(&self, code: &FunctionCode) -> Result<(), String> {
        self.sandbox
            .prepare(&self.code(code))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Waits (bounded) until no marked process is left; `Err` lists the survivors.
    pub async fn nothing_survives(&self) -> Result<(), String> {
        let t = Instant::now();
        loop {
            let left = self.host.marked_processes();
            if left.is_empty() {
                return Ok(());
            }
            if t.elapsed() > Duration::from_secs(5) {
                return Err(format!("guest processes outlived the call: pids {left:?}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Which tiers to test and how to treat a missing one.
#[derive(Debug, Clone)]
pub struct Options {
    /// Tiers to test, in column order.
    pub tiers: Vec<Tier>,
    /// An unavailable tier is a failure (CI), not a note.
    pub strict: bool,
    /// Print one progress line per check on stderr.
    pub progress: bool,
    /// Run only the checks with these ids (empty: all).
    pub only: Vec<String>,
    /// When the WASM tier is tested, run its rows on components too (a `wasm component`
    /// column).
    pub components: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            tiers: Tier::ALL.to_vec(),
            strict: strict_from_env(),
            progress: true,
            only: Vec::new(),
            components: true,
        }
    }
}

/// Runs every check against every requested tier of `tiers`.
pub async fn run(tiers: &Tiers, options: &Options) -> std::io::Result<Report> {
    let host = HostContext::new()?;
    let started = Instant::now();
    let mut defs = checks::all();
    if !options.only.is_empty() {
        defs.retain(|d| options.only.iter().any(|o| o.eq_ignore_ascii_case(d.id)));
    }
    let mut rows: Vec<Row> = defs
        .iter()
        .map(|d| Row {
            id: d.id.to_owned(),
            name: d.name.to_owned(),
            cells: Vec::new(),
            component: None,
        })
        .collect();
    for &tier in &options.tiers {
        let target = match tiers.get(tier) {
            Ok(sb) => match preflight(sb).await {
                Ok(()) => Ok(Target::new(sb, &host)),
                Err(why) => Err(why),
            },
            Err(SandboxError::Unavailable { why, .. }) => Err(why),
            Err(other) => Err(other.to_string()),
        };
        for (def, row) in defs.iter().zip(rows.iter_mut()) {
            let t = Instant::now();
            let verdict = match &target {
                Ok(target) => run_one(def, target).await,
                Err(why) if options.strict => Verdict::Fail(format!("tier unavailable: {why}")),
                Err(why) => Verdict::Unavailable(why.clone()),
            };
            let ms = t.elapsed().as_millis() as u64;
            if options.progress {
                eprintln!(
                    "conformance: {:<9} {:>3} {:<26} {} ({ms} ms)",
                    tier.as_str(),
                    def.id,
                    def.name,
                    verdict.short()
                );
            }
            row.cells.push(Cell { tier, verdict, ms });
        }
    }
    if options.components && options.tiers.contains(&Tier::Wasm) {
        run_components(tiers, options, &host, &defs, &mut rows).await;
    }
    Ok(Report {
        tiers: options.tiers.clone(),
        strict: options.strict,
        rows,
        wall_ms: started.elapsed().as_millis() as u64,
    })
}

/// The WASM rows again, their modules wrapped into components: the `wasm component` column.
async fn run_components(
    tiers: &Tiers,
    options: &Options,
    host: &HostContext,
    defs: &[checks::CheckDef],
    rows: &mut [Row],
) {
    let target = match tiers.get(Tier::Wasm) {
        Ok(sb) => Ok(Target::new(sb, host).components()),
        Err(e) => Err(e.to_string()),
    };
    for (def, row) in defs.iter().zip(rows.iter_mut()) {
        let t = Instant::now();
        let verdict = match (&target, component::module_only(def.id)) {
            (Ok(_), Some(why)) => Verdict::NotApplicable(why.to_owned()),
            (Ok(target), None) => run_one(def, target).await,
            (Err(why), _) if options.strict => Verdict::Fail(format!("tier unavailable: {why}")),
            (Err(why), _) => Verdict::Unavailable(why.clone()),
        };
        let ms = t.elapsed().as_millis() as u64;
        if options.progress {
            eprintln!(
                "conformance: {:<9} {:>3} {:<26} {} ({ms} ms)",
                "component",
                def.id,
                def.name,
                verdict.short()
            );
        }
        row.component = Some(Cell {
            tier: Tier::Wasm,
            verdict,
            ms,
        });
    }
}

/// A tier that starts but cannot prepare a trivial function (a Docker engine without this
/// build's runtime images) is unavailable, with the reason, rather than failing every check.
async fn preflight(sb: &AnySandbox) -> Result<(), String> {
    let code = match sb.tier() {
        Tier::Wasm => FunctionCode::new("wasm", checks::wat!("echo").as_bytes().to_vec()),
        _ => FunctionCode::new("python3", checks::py!("echo").as_bytes().to_vec()),
    };
    match sb.prepare(&code).await {
        Err(SandboxError::Unavailable { why, .. }) => Err(why),
        _ => Ok(()),
    }
}

/// Runs one check against one target, bounded by [`CHECK_TIMEOUT`].
pub async fn run_one(def: &checks::CheckDef, target: &Target<'_>) -> Verdict {
    match tokio::time::timeout(CHECK_TIMEOUT, (def.run)(target)).await {
        Ok(v) => v,
        Err(_) => Verdict::Fail(format!(
            "the check did not finish within {} s",
            CHECK_TIMEOUT.as_secs()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_process_carrying_the_marker_is_found() {
        let host = HostContext::new().unwrap();
        assert!(host.marked_processes().is_empty());
        // A process's name is its executable's file name: run `sleep` under the marker's name.
        let exe = host.dir.join(&host.marker);
        std::os::unix::fs::symlink("/bin/sleep", &exe).unwrap();
        let mut child = std::process::Command::new(&exe).arg("30").spawn().unwrap();
        // Until the child has exec'd, it carries this process's name: scan until found.
        let mut found = Vec::new();
        for _ in 0..100 {
            found = host.marked_processes();
            if !found.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(found, vec![child.id() as i32]);
        assert!(host.marked_processes().is_empty());
    }
}
