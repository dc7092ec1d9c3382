//! Bounded capture of a guest's stdout and stderr.
//!
//! Stdout keeps its first `cap` bytes and refuses writes past them (the guest sees a write error,
//! and the call is reported as `output_too_large`); stderr keeps its last `cap` bytes and never
//! refuses, so a chatty guest cannot fail because of its diagnostics. Both are plain in-memory
//! buffers: the host never follows anything the guest names.

use crate::sync::LockExt;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

#[derive(Debug)]
struct Shared {
    buf: Mutex<Vec<u8>>,
    cap: usize,
    keep_tail: bool,
    overflowed: AtomicBool,
}

/// An in-memory output stream with a hard byte cap.
#[derive(Debug, Clone)]
pub(crate) struct Capture(Arc<Shared>);

impl Capture {
    /// Keeps the first `cap` bytes; further writes fail.
    pub(crate) fn head(cap: usize) -> Capture {
        Capture::new(cap, false)
    }

    /// Reserves room for `n` more bytes (at most the cap): a large output then fills one
    /// allocation instead of copying itself at every doubling. Untouched, the room costs no
    /// resident memory.
    pub(crate) fn reserve(&self, n: usize) {
        let mut buf = self.0.buf.lock_or_recover();
        buf.reserve(n.min(self.0.cap));
    }

    /// Keeps the last `cap` bytes; writes never fail.
    pub(crate) fn tail(cap: usize) -> Capture {
        Capture::new(cap, true)
    }

    fn new(cap: usize, keep_tail: bool) -> Capture {
        Capture(Arc::new(Shared {
            // Grows with what the guest writes; most functions print a few hundred bytes.
            buf: Mutex::new(Vec::new()),
            cap,
            keep_tail,
            overflowed: AtomicBool::new(false),
        }))
    }

    /// True once a write did not fit (head mode) or bytes were dropped (tail mode).
    pub(crate) fn overflowed(&self) -> bool {
        self.0.overflowed.load(Ordering::Relaxed)
    }

    /// The captured bytes, without spare capacity: outcomes wait in queues for the poster, and
    /// a grown buffer's slack would ride along with each.
    pub(crate) fn take(&self) -> Vec<u8> {
        let mut out = std::mem::take(&mut *self.0.buf.lock_or_recover());
        out.shrink_to_fit();
        out
    }

    fn write(&self, data: &[u8]) -> io::Result<usize> {
        let s = &self.0;
        let mut buf = s.buf.lock_or_recover();
        if s.keep_tail {
            if data.len() >= s.cap {
                if data.len() > s.cap || !buf.is_empty() {
                    s.overflowed.store(true, Ordering::Relaxed);
                }
                buf.clear();
                buf.extend_from_slice(&data[data.len() - s.cap..]);
            } else {
                let excess = (buf.len() + data.len()).saturating_sub(s.cap);
                if excess > 0 {
                    buf.drain(..excess);
                    s.overflowed.store(true, Ordering::Relaxed);
                }
                buf.extend_from_slice(data);
            }
            return Ok(data.len());
        }
        if buf.len() + data.len() > s.cap {
            // Keep what fits so the partial output is still inspectable, then refuse.
            let room = s.cap - buf.len();
            buf.extend_from_slice(&data[..room]);
            s.overflowed.store(true, Ordering::Relaxed);
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "output limit reached",
            ));
        }
        buf.extend_from_slice(data);
        Ok(data.len())
    }
}

impl AsyncWrite for Capture {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(self.write(data))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    /// The stream WASI writes through. Implemented directly (not via the default adapter, which
    /// spawns a background task per stream) so a write lands in the buffer synchronously.
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Capture {
    async fn ready(&mut self) {}
}

#[wasmtime_wasi::async_trait]
impl OutputStream for Capture {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        Capture::write(self, &bytes)
            .map(drop)
            .map_err(|e| StreamError::LastOperationFailed(wasmtime::Error::msg(e.to_string())))
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    /// How much the guest may write next. Guests treat stdout as blocking: a component's libc
    /// writes what this permits and drops the rest of a larger write (a Python component's 3 MiB
    /// `write` came out as its first 1 MiB, status ok, when this offered 1 MiB). So stdout
    /// permits all that is left of the cap, plus one byte; the host's copy of one write is
    /// bounded by the same cap. Stderr, whose tail alone is kept, permits 1 MiB per write.
    fn check_write(&mut self) -> StreamResult<usize> {
        const STDERR_CHUNK: usize = 1 << 20;
        let s = &self.0;
        if s.keep_tail {
            return Ok(STDERR_CHUNK);
        }
        if s.overflowed.load(Ordering::Relaxed) {
            return Err(StreamError::Closed);
        }
        let used = s.buf.lock().map(|b| b.len()).unwrap_or(s.cap);
        // One byte more than fits: a guest writing past the cap must be seen doing so, otherwise
        // its output would be silently truncated at exactly the cap.
        Ok(s.cap - used + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_refuses_past_the_cap_and_keeps_what_fits() {
        let c = Capture::head(5);
        assert_eq!(c.write(b"abc").unwrap(), 3);
        assert!(c.write(b"defg").is_err());
        assert!(c.overflowed());
        assert_eq!(c.take(), b"abcde");
    }

    #[test]
    fn tail_keeps_the_last_bytes() {
        let c = Capture::tail(4);
        c.write(b"ab").unwrap();
        assert!(!c.overflowed());
        c.write(b"cdef").unwrap();
        assert!(c.overflowed());
        assert_eq!(c.take(), b"cdef");
        c.write(b"0123456789").unwrap();
        assert_eq!(c.take(), b"6789");
    }
}
