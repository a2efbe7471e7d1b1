//! A WebAssembly task's stdout and stderr: memory with a cap. What is written past the cap
//! is dropped and remembered, so the answer can say the result was too large or the log was
//! cut, instead of the task failing on a full pipe.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

use super::answer::Captured;

#[derive(Clone)]
pub struct CappedPipe {
    inner: Arc<Mutex<Pipe>>,
}

#[derive(Default)]
struct Pipe {
    bytes: Vec<u8>,
    cap: usize,
    overflowed: bool,
}

impl CappedPipe {
    pub fn new(cap: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Pipe {
                cap,
                ..Pipe::default()
            })),
        }
    }

    /// What was written, up to the cap, and whether more was.
    pub fn take(&self) -> Captured {
        let mut captured = self.inner.lock().expect("pipe lock");
        Captured {
            bytes: std::mem::take(&mut captured.bytes),
            overflowed: captured.overflowed,
        }
    }
}

impl IsTerminal for CappedPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedPipe {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for CappedPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut captured = self.inner.lock().expect("pipe lock");
        let room = captured.cap.saturating_sub(captured.bytes.len());
        if buf.len() > room {
            captured.overflowed = true;
        }
        captured
            .bytes
            .extend_from_slice(&buf[..buf.len().min(room)]);
        // All of it is taken: a writer told otherwise would retry forever.
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
