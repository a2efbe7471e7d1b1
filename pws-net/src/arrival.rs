//! A request must arrive within seconds. libp2p's request-response timeout bounds the whole
//! exchange of an inbound request — its arrival, the node's answer (a task may run for
//! minutes) and writing the answer out — so it cannot also stop a peer that opens streams
//! and writes their requests ever so slowly. This codec wrapper puts the read of each
//! inbound request under a deadline of its own.

use std::io;
use std::time::Duration;

use futures::future::{Either, select};
use futures::{AsyncRead, AsyncWrite};
use futures_timer::Delay;
use libp2p::StreamProtocol;
use libp2p::request_response::Codec;

/// `C`, with every inbound request read under `deadline`.
#[derive(Debug, Clone)]
pub struct ArrivalDeadline<C> {
    inner: C,
    deadline: Duration,
}

impl<C> ArrivalDeadline<C> {
    pub fn new(inner: C, deadline: Duration) -> Self {
        Self { inner, deadline }
    }
}

impl<C: Codec<Protocol = StreamProtocol> + Send> Codec for ArrivalDeadline<C> {
    type Protocol = StreamProtocol;
    type Request = C::Request;
    type Response = C::Response;

    async fn read_request<T>(
        &mut self,
        protocol: &Self::Protocol,
        io: &mut T,
    ) -> io::Result<C::Request>
    where
        T: AsyncRead + Unpin + Send,
    {
        let deadline = self.deadline;
        let read = std::pin::pin!(self.inner.read_request(protocol, io));
        match select(read, Delay::new(deadline)).await {
            Either::Left((request, _)) => request,
            Either::Right(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the request did not arrive within {deadline:?}"),
            )),
        }
    }

    async fn read_response<T>(
        &mut self,
        protocol: &Self::Protocol,
        io: &mut T,
    ) -> io::Result<C::Response>
    where
        T: AsyncRead + Unpin + Send,
    {
        self.inner.read_response(protocol, io).await
    }

    async fn write_request<T>(
        &mut self,
        protocol: &Self::Protocol,
        io: &mut T,
        request: C::Request,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        self.inner.write_request(protocol, io, request).await
    }

    async fn write_response<T>(
        &mut self,
        protocol: &Self::Protocol,
        io: &mut T,
        response: C::Response,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        self.inner.write_response(protocol, io, response).await
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use libp2p::request_response::cbor;

    use super::*;
    use crate::protocol::{TASK_PROTOCOL, TaskRequest, TaskResponse, to_cbor};

    /// A stream that delivers `prefix` and then nothing, never ending: a half-written request.
    struct Stalled {
        prefix: Vec<u8>,
    }

    impl AsyncRead for Stalled {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            if self.prefix.is_empty() {
                return Poll::Pending;
            }
            let n = buf.len().min(self.prefix.len());
            buf[..n].copy_from_slice(&self.prefix[..n]);
            self.prefix.drain(..n);
            Poll::Ready(Ok(n))
        }
    }

    fn codec(deadline: Duration) -> ArrivalDeadline<cbor::codec::Codec<TaskRequest, TaskResponse>> {
        ArrivalDeadline::new(cbor::codec::Codec::default(), deadline)
    }

    const PROTOCOL: StreamProtocol = TASK_PROTOCOL;

    #[test]
    fn a_stalled_request_fails_at_its_deadline() {
        let mut half = to_cbor(&TaskRequest::new("1 + 1"));
        half.truncate(half.len() / 2);
        let mut stream = Stalled { prefix: half };
        let started = std::time::Instant::now();
        let error = futures::executor::block_on(
            codec(Duration::from_millis(100)).read_request(&PROTOCOL, &mut stream),
        )
        .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_request_that_arrives_in_time_is_read() {
        let bytes = to_cbor(&TaskRequest::new("1 + 1"));
        let request = futures::executor::block_on(
            codec(Duration::from_secs(10)).read_request(&PROTOCOL, &mut &bytes[..]),
        )
        .unwrap();
        assert_eq!(request, TaskRequest::new("1 + 1"));
    }
}
