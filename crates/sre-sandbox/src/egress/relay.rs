//! The data phase of a proxied connection: one direction relayed until it ends, every read
//! bounded by what the call's cap leaves, so a cap stops the stream exactly at the cap and
//! never past it.
//!
//! Two ways to move the bytes, both driven by tokio's readiness (`readable`/`writable` +
//! `try_io`), so a relay holds no thread while it waits: a 256 KiB user-space buffer (the
//! default), or on Linux socket → pipe → socket with `splice(2)`, where the proxy never copies
//! payload through user space. Measured on loopback (README, egress bench) splice moved no more
//! bytes and used more CPU (more context switches): the copies were ~10 % of the proxy's cycles,
//! the two extra TCP traversals and wake-ups the rest. So the copy path is what calls use; the
//! splice path is kept and tested (`EgressCall`'s `zero_copy`) for a host where the copy is
//! what limits, which a measurement there would have to show first.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::AsyncWriteExt;
#[cfg(all(target_os = "linux", feature = "process"))]
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::EgressCall;

/// Bytes moved per step (the pipe's size on the splice path, the buffer's on the copy path).
/// Host memory per call is bounded by the connection cap × 2 × this.
pub(super) const STEP: usize = 256 << 10;

/// Where the bytes of one step wait between the two sockets.
enum Stage {
    /// A kernel pipe (Linux): payload never enters user space.
    #[cfg(all(target_os = "linux", feature = "process"))]
    Splice(splice::Pipe),
    /// A user-space buffer and the range of it not yet written.
    Copy { buf: Box<[u8]>, at: usize },
}

impl Stage {
    /// A pipe when `zero_copy` and one can be made, else a buffer.
    fn new(zero_copy: bool) -> Stage {
        #[cfg(all(target_os = "linux", feature = "process"))]
        if zero_copy && let Ok(p) = splice::Pipe::new(STEP) {
            return Stage::Splice(p);
        }
        let _ = zero_copy;
        Stage::Copy {
            buf: vec![0u8; STEP].into_boxed_slice(),
            at: 0,
        }
    }

    /// Moves up to `max` bytes from `from` into the stage (empty when called). `Ok(0)` is EOF.
    fn fill(&mut self, from: &TcpStream, max: usize) -> io::Result<usize> {
        match self {
            #[cfg(all(target_os = "linux", feature = "process"))]
            Stage::Splice(p) => from.try_io(Interest::READABLE, || p.fill_from(from, max)),
            Stage::Copy { buf, at } => {
                *at = 0;
                from.try_read(&mut buf[..max])
            }
        }
    }

    /// Writes up to `left` staged bytes to `to`; returns how many went.
    fn drain(&mut self, to: &TcpStream, left: usize) -> io::Result<usize> {
        match self {
            #[cfg(all(target_os = "linux", feature = "process"))]
            Stage::Splice(p) => to.try_io(Interest::WRITABLE, || p.drain_to(to, left)),
            Stage::Copy { buf, at } => {
                let k = to.try_write(&buf[*at..*at + left])?;
                *at += k;
                Ok(k)
            }
        }
    }
}

/// How a [`EgressCall::pump`] ended without error.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Pumped {
    /// The sender closed (or reset) its side, or the receiver went away.
    Eof,
    /// The requested number of bytes went through.
    Done,
}

impl EgressCall {
    /// Relays one direction until EOF (then half-closes the other side: the other direction
    /// goes on) or until more bytes arrive than the call's cap leaves (then `Err`, which ends
    /// the connection). `delivered` counts the bytes written to `to`.
    pub(super) async fn relay(
        &self,
        outbound: bool,
        from: OwnedReadHalf,
        mut to: OwnedWriteHalf,
        delivered: &AtomicU64,
    ) -> Result<(), String> {
        self.pump(outbound, from.as_ref(), to.as_ref(), None, delivered)
            .await?;
        let _ = to.shutdown().await;
        Ok(())
    }

    /// Moves bytes from `src` to `dst` until EOF, or until `limit` bytes went when given (a
    /// message body of known length), within the call's cap.
    pub(super) async fn pump(
        &self,
        outbound: bool,
        src: &TcpStream,
        dst: &TcpStream,
        limit: Option<u64>,
        delivered: &AtomicU64,
    ) -> Result<Pumped, String> {
        let mut stage = Stage::new(self.zero_copy);
        let mut remaining = limit.unwrap_or(u64::MAX);
        loop {
            if remaining == 0 {
                return Ok(Pumped::Done);
            }
            let want = usize::try_from(remaining).unwrap_or(usize::MAX).min(STEP);
            // The cap is consulted only once bytes are waiting, for one non-blocking call.
            let got = loop {
                if let Err(e) = src.readable().await {
                    break Err(e);
                }
                let Some(r) = self.within_cap(outbound, want, |max| stage.fill(src, max)) else {
                    // The cap is used up. A peer that sends exactly the cap and closes is not cut.
                    let mut one = [0u8; 1];
                    return match src.peek(&mut one).await {
                        Ok(1..) => Err(self.cap_why(outbound)),
                        _ => Ok(Pumped::Eof),
                    };
                };
                match r {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    r => break r,
                }
            };
            // EOF or a reset: the other side learns the guest (or server) is done sending.
            let n = got.unwrap_or(0);
            if n == 0 {
                return Ok(Pumped::Eof);
            }
            remaining -= n as u64;
            let mut left = n;
            while left > 0 {
                if dst.writable().await.is_err() {
                    return Ok(Pumped::Eof);
                }
                match stage.drain(dst, left) {
                    Ok(k) => {
                        left -= k;
                        delivered.fetch_add(k as u64, Ordering::Relaxed);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    // The receiver went away; the other direction ends on its own.
                    Err(_) => return Ok(Pumped::Eof),
                }
            }
        }
    }
}

#[cfg(all(target_os = "linux", feature = "process"))]
mod splice {
    //! `splice(2)` through a pipe of our own: socket → pipe, pipe → socket.

    use std::io;
    use std::os::fd::{AsFd, OwnedFd};

    use nix::fcntl::{FcntlArg, OFlag, SpliceFFlags, fcntl, splice};
    use tokio::net::TcpStream;

    /// A non-blocking pipe (empty between steps).
    pub(super) struct Pipe {
        read: OwnedFd,
        write: OwnedFd,
    }

    impl Pipe {
        /// A pipe sized for `size` bytes (the kernel keeps its default if it refuses).
        pub(super) fn new(size: usize) -> io::Result<Pipe> {
            let (read, write) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)?;
            let _ = fcntl(&write, FcntlArg::F_SETPIPE_SZ(size as i32));
            Ok(Pipe { read, write })
        }

        /// Splices up to `max` bytes from `from` into the pipe.
        pub(super) fn fill_from(&self, from: &TcpStream, max: usize) -> io::Result<usize> {
            move_bytes(from, &self.write, max)
        }

        /// Splices up to `max` bytes from the pipe into `to`.
        pub(super) fn drain_to(&self, to: &TcpStream, max: usize) -> io::Result<usize> {
            move_bytes(&self.read, to, max)
        }
    }

    fn move_bytes(from: impl AsFd, to: impl AsFd, max: usize) -> io::Result<usize> {
        let flags = SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK;
        Ok(splice(from, None, to, None, max, flags)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(all(target_os = "linux", feature = "process"))]
    #[test]
    fn linux_relays_through_a_pipe_unless_told_not_to() {
        assert!(matches!(Stage::new(true), Stage::Splice(_)));
        assert!(matches!(Stage::new(false), Stage::Copy { .. }));
    }
}
