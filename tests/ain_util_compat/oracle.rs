//! Running the ain-util oracle (`tests/js/ain_util_oracle.js`) under Node.js; the JS
//! dependencies are installed by `tests/common/js.rs`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

/// A ready-to-run oracle: the node binary and the script, with dependencies installed.
pub(crate) struct Oracle {
    node: PathBuf,
    script: PathBuf,
}

fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js")
}

/// The oracle, or `None` after a loud skip (a panic in strict mode) when node, npm or the npm
/// registry is unavailable.
#[track_caller]
pub(crate) fn oracle(test: &str) -> Option<Oracle> {
    let node = crate::common::js::node_with_peers(test)?;
    Some(Oracle {
        node,
        script: js_dir().join("ain_util_oracle.js"),
    })
}

impl Oracle {
    /// Runs one job and returns the oracle's answer. On any failure the job directory is kept and
    /// its path is in the error, so the job can be replayed with
    /// `node tests/js/ain_util_oracle.js <dir>/job.json -`.
    pub(crate) fn run(&self, job: &Value, timeout: Duration) -> Result<Value, String> {
        let dir = tempfile::Builder::new()
            .prefix("ain-util-oracle-")
            .tempdir()
            .map_err(|e| format!("tempdir: {e}"))?;
        let job_path = dir.path().join("job.json");
        let out_path = dir.path().join("out.json");
        let text = serde_json::to_string(job).map_err(|e| format!("serialize job: {e}"))?;
        fs::write(&job_path, text).map_err(|e| format!("write job: {e}"))?;
        let mut cmd = Command::new(&self.node);
        cmd.arg(&self.script).arg(&job_path).arg(&out_path);
        let result = crate::common::js::run_bounded(cmd, timeout, dir.path()).and_then(|out| {
            if !out.success {
                return Err(format!(
                    "node failed:\n{}",
                    crate::common::js::tail(&out.stderr, 3000)
                ));
            }
            let text = fs::read_to_string(&out_path).map_err(|e| format!("read output: {e}"))?;
            serde_json::from_str(&text).map_err(|e| format!("oracle output is not JSON: {e}"))
        });
        result.map_err(|e| format!("{e}\n(job kept in {})", dir.keep().display()))
    }
}
