//! The container tier against hostile and well-behaved functions (SECURITY.md's abuse rows that
//! apply to containers, each passing when the attack fails), the shipped runtimes' examples in
//! their offline-built images, bring-your-own images, and leftover removal.
//!
//! Needs a Docker engine: without one every test skips loudly, or fails in strict mode (CI).
//! Missing runtime images are built first, from host files, as `ain-sre runtimes build` does.
//! Every test uses its own instance label and checks at the end that none of its containers is
//! left.

#[path = "container_tier/abuse.rs"]
mod abuse;
mod common;
#[path = "container_tier/functional.rs"]
mod functional;
#[path = "container_tier/isolation.rs"]
mod isolation;
#[path = "container_tier/leftovers.rs"]
mod leftovers;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ain_sre::config::runtimes::RuntimeCatalog;
use ain_sre::sandbox::container::image::{self, BuildEvent};
use ain_sre::sandbox::container::spec::{LABEL, LABEL_HOST, LABEL_OWNER, LABEL_PROCESS};
use ain_sre::sandbox::container::{
    ContainerConfig, ContainerSandbox, Engine, GuestIds, ImagePolicy, ImageStatus, image_status,
};
use ain_sre::sandbox::{
    Failure, FunctionCode, Invocation, Limits, NetworkPolicy, Outcome, Reuse, Sandbox, SandboxError,
};

static IMAGES: tokio::sync::OnceCell<Result<(), String>> = tokio::sync::OnceCell::const_new();

/// Builds any missing shipped runtime image (once per test binary).
async fn ensure_images(engine: &Engine) -> Result<(), String> {
    IMAGES
        .get_or_init(|| async {
            let cat = RuntimeCatalog::shipped().map_err(|e| e.to_string())?;
            for name in image::buildable() {
                let rt = cat.resolve(name).map_err(|e| e.to_string())?;
                let tag = rt.image.clone().unwrap_or_default();
                let status = image_status(&engine.docker, &tag)
                    .await
                    .map_err(|e| e.to_string())?;
                if status != ImageStatus::Ready {
                    image::build(&engine.docker, &rt, |_: BuildEvent| {})
                        .await
                        .map_err(|e| format!("building {tag}: {e}"))?;
                }
            }
            Ok(())
        })
        .await
        .clone()
}

/// The tier for one test (`instance` = the test's name, so its containers can be counted), or
/// `None` after a loud skip (a failure in strict mode) when Docker is missing.
async fn tier(test: &str, pool_size: usize) -> Option<ContainerSandbox> {
    tier_with(test, pool_size, |_| {}).await
}

/// [`tier`], with `adjust` applied to the configuration.
async fn tier_with(
    test: &str,
    pool_size: usize,
    adjust: impl FnOnce(&mut ContainerConfig),
) -> Option<ContainerSandbox> {
    let engine = match Engine::connect().await {
        Ok(e) => e,
        Err(e) => {
            common::skip_or_fail(test, &format!("no Docker engine: {e}"));
            return None;
        }
    };
    ensure_images(&engine).await.expect("runtime images");
    let cfg = ContainerConfig {
        instance: test.to_owned(),
        pool_size,
        // The tests' own bring-your-own images, by name, and those labelled for the test.
        images: ImagePolicy {
            allow: vec![BYO_IMAGE.into(), VOLUME_IMAGE.into()],
            allow_label: Some(ALLOW_LABEL.into()),
        },
        ..ContainerConfig::default()
    };
    let mut cfg = cfg;
    adjust(&mut cfg);
    Some(ContainerSandbox::start(cfg).await.expect("container tier"))
}

/// The bring-your-own images the tests build and allow by name.
const BYO_IMAGE: &str = "ain-sre-test/byo:1";
const VOLUME_IMAGE: &str = "ain-sre-test/vol:1";
/// Held by the tests that create or count anonymous volumes: the volume list is host-wide, so a
/// test that checks nothing was left behind must not see another test's volume come and go.
static VOLUMES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
/// Images carrying this label are allowed too.
const ALLOW_LABEL: &str = "io.ain-sre.test-function=yes";

/// Imports an image assembled from the bash runtime's files, with a `/data` directory anyone
/// may write to, and Dockerfile `changes`.
async fn build_image(docker: &bollard::Docker, name: &str, changes: Vec<String>) {
    let tar = tokio::task::spawn_blocking(|| {
        image::assemble(&image::recipe("bash").unwrap(), "byo", &|_| {})
            .and_then(|t| image::add_open_dir(t, "data"))
    })
    .await
    .unwrap()
    .unwrap();
    image::import_tarball(docker, name, tar, changes, Arc::new(|_: BuildEvent| {}))
        .await
        .unwrap();
}

/// Names of the engine's volumes.
async fn volumes(sb: &ContainerSandbox) -> std::collections::BTreeSet<String> {
    sb.engine()
        .docker
        .list_volumes(None::<bollard::query_parameters::ListVolumesOptions>)
        .await
        .unwrap()
        .volumes
        .unwrap_or_default()
        .into_iter()
        .map(|v| v.name)
        .collect()
}

/// Containers (any state) labelled as created by `test`'s instance.
async fn containers_of(test: &str) -> usize {
    let engine = Engine::connect().await.unwrap();
    engine
        .labelled(&format!("{LABEL_OWNER}={test}"))
        .await
        .unwrap()
        .len()
}

/// Waits until none of `test`'s containers exists (bounded), and fails if one survives.
async fn assert_all_gone(test: &str) {
    let t = Instant::now();
    loop {
        let n = containers_of(test).await;
        if n == 0 {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "{test}: {n} containers still exist"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn finish(sb: ContainerSandbox, test: &str) {
    sb.shutdown().await;
    assert_all_gone(test).await;
}

fn limits() -> Limits {
    Limits {
        wall_time: Duration::from_secs(10),
        cpu_time: Duration::from_secs(10),
        ..Limits::default()
    }
}

fn call(input: &[u8], limits: Limits) -> Invocation {
    Invocation {
        input: Arc::<[u8]>::from(input).into(),
        env: vec![
            ("SRE_FUNCTION".into(), "f".into()),
            ("SRE_CALL_ID".into(), "c1".into()),
            ("HOME".into(), "/root".into()),
            ("AIN_SRE_PRIVATE_KEY".into(), "never-visible".into()),
        ],
        limits,
    }
}

async fn run(sb: &ContainerSandbox, runtime: &str, code: &str, input: &[u8], l: Limits) -> Outcome {
    let p = sb
        .prepare(&FunctionCode::new(runtime, code.as_bytes().to_vec()))
        .await
        .unwrap_or_else(|e| panic!("prepare: {e}"));
    sb.run(&p, call(input, l))
        .await
        .unwrap_or_else(|e| panic!("run: {e}"))
}

async fn py(sb: &ContainerSandbox, code: &str, l: Limits) -> Outcome {
    run(sb, "python3", code, b"", l).await
}

fn stdout_str(o: &Outcome) -> String {
    match o {
        Outcome::Completed {
            stdout,
            exit_code,
            stderr_tail,
            ..
        } => {
            assert_eq!(
                *exit_code,
                0,
                "stderr: {}",
                String::from_utf8_lossy(stderr_tail)
            );
            String::from_utf8_lossy(stdout).into_owned()
        }
        other => panic!("expected completion, got {other:?}"),
    }
}

fn example(rel: &str) -> String {
    let p = format!("{}/examples/functions/{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

async fn py_input(sb: &ContainerSandbox, code: &str, input: &[u8], l: Limits) -> Outcome {
    run(sb, "python3", code, input, l).await
}

/// A function that lists what earlier calls left in /tmp, leaves its own mark, and on request
/// sleeps past its deadline or blows its memory limit.
const RESIDUE: &str = r#"
import glob, sys
print(sorted(glob.glob('/tmp/*')))
open('/tmp/left-' + TAG, 'w').write('x')
sys.stdout.flush()
what = sys.stdin.read()
if what == 'sleep':
    import time; time.sleep(60)
if what == 'oom':
    x = b'a' * (512 << 20)
"#;

fn residue_fn(tag: &str) -> String {
    format!("TAG = '{tag}'\n{RESIDUE}")
}
