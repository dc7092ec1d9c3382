//! A call's input: bytes in memory, or an open file the sandbox reads in bounded chunks.
//!
//! A large input (an `input_ref` blob of many megabytes) is handed to the sandbox as an open,
//! already-verified file instead of a buffer, so the worker does not hold it in memory while
//! the guest reads it. The file is an open descriptor, not a path: a store's retention deleting
//! the path mid-call cannot break it, and an unlinked temporary file stays readable until the
//! last reader drops it. Reads are positional (`pread`), so concurrent readers of the same
//! input (a retry, a test) never share an offset.

use std::fmt;
use std::io;
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, ReadBuf};
use tokio::task::JoinHandle;

/// How much of a file input is read at a time (and held, per reader, while the guest reads it).
const CHUNK: usize = 256 << 10;

/// What a call receives on stdin.
#[derive(Clone)]
pub enum Input {
    /// Bytes in memory (inline inputs, tests).
    Bytes(Arc<[u8]>),
    /// An open file whose first `len` bytes are the input, already verified by whoever opened it.
    File {
        /// The open file (its path may be gone).
        file: Arc<std::fs::File>,
        /// The input's length in bytes.
        len: u64,
    },
}

impl Input {
    /// The input's length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Input::Bytes(b) => b.len(),
            Input::File { len, .. } => *len as usize,
        }
    }

    /// True for an empty input.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes, when they are in memory.
    pub fn as_bytes(&self) -> Option<&Arc<[u8]>> {
        match self {
            Input::Bytes(b) => Some(b),
            Input::File { .. } => None,
        }
    }

    /// A reader over the input from its start; a file is read `CHUNK` bytes at a time on
    /// Tokio's blocking pool (so this must be polled inside a Tokio runtime).
    pub fn reader(&self) -> InputReader {
        match self {
            Input::Bytes(b) => InputReader::Bytes(io::Cursor::new(b.clone())),
            Input::File { file, len } => InputReader::File {
                file: file.clone(),
                pos: 0,
                len: *len,
                buf: Vec::new(),
                off: 0,
                pending: None,
            },
        }
    }

    /// The whole input in memory: for the tiers whose guests do not live in the worker's
    /// memory and whose plumbing wants one buffer (the container tier's framed stdin). A file
    /// is read on the blocking pool.
    pub async fn to_bytes(&self) -> io::Result<Arc<[u8]>> {
        match self {
            Input::Bytes(b) => Ok(b.clone()),
            Input::File { file, len } => {
                let (file, len) = (file.clone(), *len);
                tokio::task::spawn_blocking(move || read_all(&file, len))
                    .await
                    .map_err(io::Error::other)?
                    .map(Arc::from)
            }
        }
    }

    /// The whole input in memory, read on the calling thread (tests and fakes).
    pub fn to_vec_blocking(&self) -> io::Result<Vec<u8>> {
        match self {
            Input::Bytes(b) => Ok(b.to_vec()),
            Input::File { file, len } => read_all(file, *len),
        }
    }
}

fn read_all(file: &std::fs::File, len: u64) -> io::Result<Vec<u8>> {
    let mut out = vec![0u8; len as usize];
    file.read_exact_at(&mut out, 0)?;
    Ok(out)
}

impl fmt::Debug for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Input::Bytes(b) => write!(f, "Input::Bytes({} bytes)", b.len()),
            Input::File { len, .. } => write!(f, "Input::File({len} bytes)"),
        }
    }
}

impl From<Arc<[u8]>> for Input {
    fn from(b: Arc<[u8]>) -> Input {
        Input::Bytes(b)
    }
}

impl From<Vec<u8>> for Input {
    fn from(b: Vec<u8>) -> Input {
        Input::Bytes(b.into())
    }
}

impl From<&[u8]> for Input {
    fn from(b: &[u8]) -> Input {
        Input::Bytes(b.into())
    }
}

/// An [`AsyncRead`] over an [`Input`] (see [`Input::reader`]).
pub enum InputReader {
    /// Over bytes in memory.
    Bytes(io::Cursor<Arc<[u8]>>),
    /// Over a file, one chunk at a time.
    File {
        /// The file.
        file: Arc<std::fs::File>,
        /// The offset of the next chunk to read.
        pos: u64,
        /// The input's length.
        len: u64,
        /// The chunk being handed out.
        buf: Vec<u8>,
        /// How much of `buf` was handed out.
        off: usize,
        /// The chunk being read on the blocking pool.
        pending: Option<JoinHandle<io::Result<Vec<u8>>>>,
    },
}

impl AsyncRead for InputReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            InputReader::Bytes(c) => Pin::new(c).poll_read(cx, out),
            InputReader::File {
                file,
                pos,
                len,
                buf,
                off,
                pending,
            } => loop {
                if *off < buf.len() {
                    let n = (buf.len() - *off).min(out.remaining());
                    out.put_slice(&buf[*off..*off + n]);
                    *off += n;
                    return Poll::Ready(Ok(()));
                }
                if *pos >= *len {
                    return Poll::Ready(Ok(()));
                }
                let task = pending.get_or_insert_with(|| {
                    let (file, at) = (file.clone(), *pos);
                    let n = (*len - at).min(CHUNK as u64) as usize;
                    // The previous chunk's buffer is not reused: it is at most CHUNK bytes.
                    tokio::task::spawn_blocking(move || {
                        let mut chunk = vec![0u8; n];
                        // The file was verified at its full length: a short read means it
                        // changed under us, an error rather than a silently shorter input.
                        file.read_exact_at(&mut chunk, at)?;
                        Ok(chunk)
                    })
                });
                let got = ready!(Pin::new(task).poll(cx));
                *pending = None;
                let chunk = got.map_err(io::Error::other)??;
                *pos += chunk.len() as u64;
                *buf = chunk;
                *off = 0;
            },
        }
    }
}

impl Drop for InputReader {
    fn drop(&mut self) {
        if let InputReader::File {
            pending: Some(t), ..
        } = self
        {
            t.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    fn file_with(bytes: &[u8]) -> Input {
        let mut f = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut f, bytes).unwrap();
        Input::File {
            file: Arc::new(f),
            len: bytes.len() as u64,
        }
    }

    #[tokio::test]
    async fn file_input_reads_back_whole_and_readers_do_not_share_an_offset() {
        let bytes: Vec<u8> = (0..(CHUNK * 3 + 17)).map(|i| (i * 7 % 251) as u8).collect();
        let input = file_with(&bytes);
        assert_eq!(input.len(), bytes.len());
        let (mut a, mut b) = (input.reader(), input.reader());
        let mut first = vec![0u8; 1000];
        a.read_exact(&mut first).await.unwrap();
        let mut all_b = Vec::new();
        b.read_to_end(&mut all_b).await.unwrap();
        let mut rest_a = Vec::new();
        a.read_to_end(&mut rest_a).await.unwrap();
        first.extend_from_slice(&rest_a);
        assert!(first == bytes, "reader a");
        assert!(all_b == bytes, "reader b");
        assert!(*input.to_bytes().await.unwrap() == bytes[..]);
        assert!(input.to_vec_blocking().unwrap() == bytes);
    }

    #[tokio::test]
    async fn a_file_shorter_than_its_length_is_an_error_not_a_short_input() {
        let mut input = file_with(b"abc");
        if let Input::File { len, .. } = &mut input {
            *len = 10;
        }
        let mut out = Vec::new();
        assert!(input.reader().read_to_end(&mut out).await.is_err());
    }
}
