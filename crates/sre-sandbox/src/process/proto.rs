//! The messages between the daemon and a stem cell (the `ain-sre-jail` helper), on the helper's
//! fd 3, a Unix socket pair. Every frame is a little-endian `u32` length and that many bytes;
//! messages are JSON, the function's code travels as one raw frame after [`Run`].
//!
//! Order: daemon `Setup` → jail `Unshared` → daemon writes the id maps, sends `Mapped` → jail
//! `Ready` (the stem cell now waits) → daemon `Run` + code → keeper `Exited` (or `Failed`).

use std::io::{self, Read, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Frames larger than this are refused (code is capped well below it).
pub(crate) const MAX_FRAME: usize = 64 << 20;

/// What a new stem cell builds before it waits.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Setup {
    /// Where the helper mounts the new root's tmpfs (in its own mount namespace).
    pub(crate) root: PathBuf,
    /// Host paths bound read-only, `nosuid,nodev`, at the same path inside.
    pub(crate) binds: Vec<PathBuf>,
    /// The seccomp program, compiled by the daemon (see `policy`), one `sock_filter` per `u64`.
    pub(crate) bpf: Vec<u64>,
    /// Size of `/tmp` expected for the call (a call asking for another size remounts it).
    pub(crate) tmpfs_bytes: u64,
    /// Inodes of that `/tmp`.
    pub(crate) tmpfs_inodes: u64,
    /// The slot's host uid/gid (mapped to root of the sandbox's user namespace): the helper
    /// becomes it *before* creating the namespace, so the kernel charges the sandbox's per-user
    /// counters (queued signals, inotify instances, processes) to this uid, not to host root.
    pub(crate) owner: u32,
}

/// One call for a waiting stem cell. The code follows as a raw frame.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Run {
    /// argv; `argv[0]` is an absolute path inside the jail.
    pub(crate) argv: Vec<String>,
    /// The whole environment (`SRE_*` names, and the proxy variables of a call with egress).
    pub(crate) env: Vec<(String, String)>,
    /// File name of the code under `/sre`.
    pub(crate) source_file: String,
    /// Size of `/tmp` (0: no writable scratch space).
    pub(crate) tmpfs_bytes: u64,
    /// Inodes of `/tmp`.
    pub(crate) tmpfs_inodes: u64,
    /// `RLIMIT_FSIZE`.
    pub(crate) fsize_bytes: u64,
    /// `RLIMIT_NOFILE`.
    pub(crate) nofile: u64,
    /// `RLIMIT_CPU` in seconds (a backstop; the wall deadline and the cgroup quota rule).
    pub(crate) cpu_secs: u64,
    /// A seccomp program replacing the set-up one for this call (a call with egress may open
    /// TCP/UDP sockets); `None`: the set-up program.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) bpf: Option<Vec<u64>>,
}

/// What the jail says back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Report {
    /// The helper is in its new namespaces and waits for its uid/gid maps.
    Unshared,
    /// The root is built; the stem cell waits for a `Run`.
    Ready,
    /// Set-up failed before the guest started.
    Failed {
        /// Why.
        why: String,
    },
    /// The guest (pid 1 of the sandbox) ended.
    Exited {
        /// Exit status, when it exited.
        code: Option<i32>,
        /// The signal that killed it, when it was killed.
        signal: Option<i32>,
    },
}

/// Writes one frame (blocking).
pub(crate) fn write_frame(w: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    let len = u32::try_from(bytes.len()).map_err(|_| io::Error::other("frame too large"))?;
    let mut buf = Vec::with_capacity(4 + bytes.len());
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(bytes);
    w.write_all(&buf)
}

/// Reads one frame (blocking), reading exactly its bytes and nothing after them.
pub(crate) fn read_frame(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::other("frame too large"));
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf)?;
    Ok(buf)
}

/// Writes a message as a JSON frame (blocking).
pub(crate) fn send<T: Serialize>(w: &mut impl Write, msg: &T) -> io::Result<()> {
    write_frame(w, &serde_json::to_vec(msg).map_err(io::Error::other)?)
}

/// Reads a JSON frame (blocking).
pub(crate) fn recv<T: for<'de> Deserialize<'de>>(r: &mut impl Read) -> io::Result<T> {
    serde_json::from_slice(&read_frame(r)?).map_err(io::Error::other)
}

/// Async versions for the daemon side.
pub(crate) mod nonblocking {
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

    use super::*;

    /// Writes one frame.
    pub(crate) async fn write_frame(
        w: &mut (impl AsyncWrite + Unpin),
        bytes: &[u8],
    ) -> io::Result<()> {
        let len = u32::try_from(bytes.len()).map_err(|_| io::Error::other("frame too large"))?;
        let mut buf = Vec::with_capacity(4 + bytes.len());
        buf.extend_from_slice(&len.to_le_bytes());
        buf.extend_from_slice(bytes);
        w.write_all(&buf).await
    }

    /// Writes a message as a JSON frame.
    pub(crate) async fn send<T: Serialize>(
        w: &mut (impl AsyncWrite + Unpin),
        msg: &T,
    ) -> io::Result<()> {
        write_frame(w, &serde_json::to_vec(msg).map_err(io::Error::other)?).await
    }

    /// Reads a JSON frame.
    pub(crate) async fn recv<T: for<'de> Deserialize<'de>>(
        r: &mut (impl AsyncRead + Unpin),
    ) -> io::Result<T> {
        let mut len = [0u8; 4];
        r.read_exact(&mut len).await?;
        let len = u32::from_le_bytes(len) as usize;
        if len > MAX_FRAME {
            return Err(io::Error::other("frame too large"));
        }
        let mut buf = vec![0u8; len];
        r.read_exact(&mut buf).await?;
        serde_json::from_slice(&buf).map_err(io::Error::other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_read_exactly_one() {
        let mut buf = Vec::new();
        send(
            &mut buf,
            &Report::Exited {
                code: Some(3),
                signal: None,
            },
        )
        .unwrap();
        write_frame(&mut buf, b"code").unwrap();
        buf.extend_from_slice(b"rest");
        let mut r = &buf[..];
        let m: Report = recv(&mut r).unwrap();
        assert_eq!(
            m,
            Report::Exited {
                code: Some(3),
                signal: None
            }
        );
        assert_eq!(read_frame(&mut r).unwrap(), b"code");
        assert_eq!(r, b"rest");
    }
}
