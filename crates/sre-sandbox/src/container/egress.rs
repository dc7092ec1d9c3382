//! Egress for a container: the worker's proxy listening on `127.0.0.1` inside the container's
//! own network namespace.
//!
//! Containers run with `--network none`: Docker gives each its own network namespace holding
//! only `lo`. For a call with egress the worker joins that namespace from a short-lived thread
//! (`setns` through `/proc/<pid>/ns/net` of the container's init, as host root), opens a listener
//! on its loopback and serves the proxy on it from the host side, the same code as the process
//! tier. Nothing inside the container takes part: no forwarder, no bind-mounted socket, no veth
//! or bridge, no host iptables. The guest's only route anywhere is that listener; its seccomp
//! profile allows TCP/UDP sockets for such calls (`seccomp::security_opt_egress`), which in that
//! namespace reach nothing else.
//!
//! The container's pid comes from the engine; after opening its namespace file the container is
//! inspected again, so a pid recycled in between (the container having exited) is caught.

use bollard::Docker;

use super::call::host_fault;
use crate::SandboxError;
use crate::egress::{EgressHandle, ServeGuard};

/// Opens and serves the call's proxy inside container `id`; returns the serving guard (dropping
/// it closes the proxy) and the guest's proxy environment.
pub(crate) async fn open(
    docker: &Docker,
    id: &str,
    egress: &EgressHandle,
) -> Result<(ServeGuard, Vec<(String, String)>), SandboxError> {
    let pid = running_pid(docker, id).await?;
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/net"))
        .map_err(|e| host_fault("opening the container's network namespace", e))?;
    if running_pid(docker, id).await? != pid {
        return Err(host_fault(
            "opening the container's network namespace",
            "the container restarted",
        ));
    }
    let listener = listen(ns).await?;
    let guard = egress
        .serve(listener)
        .map_err(|e| host_fault("serving the egress proxy", e))?;
    let env = egress.guest_env(guard.port());
    Ok((guard, env))
}

async fn running_pid(docker: &Docker, id: &str) -> Result<i64, SandboxError> {
    let state = docker
        .inspect_container(id, None)
        .await
        .map_err(|e| host_fault("inspecting a container", e))?
        .state
        .unwrap_or_default();
    match (state.running, state.pid) {
        (Some(true), Some(pid)) if pid > 0 => Ok(pid),
        _ => Err(host_fault(
            "opening the egress proxy",
            "the container is not running",
        )),
    }
}

#[cfg(target_os = "linux")]
async fn listen(ns: std::fs::File) -> Result<std::net::TcpListener, SandboxError> {
    tokio::task::spawn_blocking(move || crate::process::listen_in_netns(&ns))
        .await
        .map_err(|e| host_fault("opening the egress proxy", e))?
        .map_err(|e| host_fault("opening the egress proxy in the container", e))
}

#[cfg(not(target_os = "linux"))]
async fn listen(_ns: std::fs::File) -> Result<std::net::TcpListener, SandboxError> {
    Err(SandboxError::Rejected(
        "egress on the container tier needs Linux network namespaces".into(),
    ))
}
