//! What the soak calls: the functions under load with their code and shares of the calls, and
//! whether the container target can run on this host.

const ECHO_WAT: &str = include_str!("../../../../../examples/functions/echo.wat");
const PY: &str = include_str!("../../../../../examples/functions/python3/main.py");
const SH: &str = include_str!("../../../../../examples/functions/bash/main.sh");
pub(super) const PYTHON_IMAGE: &str = "ain-sre/python3:6";

/// One function under load.
pub(super) struct Target {
    pub(super) app: &'static str,
    pub(super) function: &'static str,
    pub(super) runtime: &'static str,
    pub(super) code: &'static str,
    pub(super) input: &'static str,
    /// Share of the calls.
    pub(super) weight: u32,
}

pub(super) const PROCESS_TARGETS: &[Target] = &[
    Target {
        app: "soak",
        function: "echo",
        runtime: "wasm",
        code: ECHO_WAT,
        input: "{\"n\":1}",
        weight: 4,
    },
    Target {
        app: "soak",
        function: "py",
        runtime: "python3",
        code: PY,
        input: "{\"name\":\"soak\"}",
        weight: 2,
    },
    Target {
        app: "soak",
        function: "sh",
        runtime: "bash",
        code: SH,
        input: "soak\n",
        weight: 2,
    },
];

pub(super) const CONTAINER_TARGET: Target = Target {
    app: "soakc",
    function: "py",
    runtime: "python3",
    code: PY,
    input: "{\"name\":\"soak\"}",
    weight: 1,
};

/// Whether Docker answers and has the python3 runtime image.
pub(super) async fn container_tier_here() -> bool {
    let Ok(engine) = crate::sandbox::container::Engine::connect().await else {
        return false;
    };
    matches!(
        crate::sandbox::container::image_status(&engine.docker, PYTHON_IMAGE).await,
        Ok(crate::sandbox::container::ImageStatus::Ready)
    )
}
