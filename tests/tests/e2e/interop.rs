//! Peers built unlike ours, as a js-libp2p client is: one whose Yamux sends data in frames as
//! large as the window it was granted (js-yamux does; rust-yamux splits at 16 KiB) gets its
//! largest requests answered, and sees the status addresses PROTOCOL.md describes.
//!
//! rust-yamux grows a stream's window when data comes in faster than its measured round trip.
//! On loopback that round trip is too short for it; across a real network, or from a peer that
//! answers late (a JS event loop), it is not. The test peer holds back its first writes, its
//! answer to the node's first ping among them, so the node measures such a round trip.

use std::future::Future;
use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures::{AsyncRead, AsyncWrite, StreamExt, future};
use libp2p::core::muxing::{StreamMuxer, StreamMuxerEvent};
use libp2p::core::upgrade::{InboundConnectionUpgrade, OutboundConnectionUpgrade, UpgradeInfo};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, ProtocolSupport, cbor};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, StreamProtocol, SwarmBuilder, noise, tcp};
use pws_net::protocol::{
    MAX_TASK_REQUEST_BYTES, MAX_TASK_RESPONSE_BYTES, NodeStatus, STATUS_PROTOCOL, StatusRequest,
    TASK_PROTOCOL, TaskRequest, TaskResponse,
};
use pws_tests::{Node, Relay};

/// Bound on one request, from dialing the node to its answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the test peer holds back its first writes: the round trip the node measures.
const ROUND_TRIP: Duration = Duration::from_millis(200);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_3_mib_request_sent_in_large_yamux_frames_is_answered() {
    let relay = Relay::start();
    let node = Node::start(&relay, &[]);
    let text = "x".repeat(3 * 1024 * 1024);
    let task = TaskRequest {
        input: Some(format!("\"{text}\"")),
        ..TaskRequest::new("s => s.length")
    };
    let answer = ask::<TaskRequest, TaskResponse>(&node, TASK_PROTOCOL, task).await;
    assert_eq!(
        answer.map_err(|e| e.to_string()),
        Ok(TaskResponse::ok(text.len().to_string())),
        "the node must read a request this size without closing the connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_addresses_are_direct_without_peer_id_or_full_circuits() {
    let relay = Relay::start();
    let mut node = Node::start(&relay, &[]);
    if !node.addrs.iter().any(|addr| addr.contains("/p2p-circuit")) {
        node.process
            .wait_for_line("a relayed address", |line| line.contains("/p2p-circuit"));
    }
    let status = ask::<StatusRequest, NodeStatus>(&node, STATUS_PROTOCOL, StatusRequest {})
        .await
        .expect("a status answer");
    let node_id: PeerId = node.peer_id.parse().unwrap();
    let relayed_via: Vec<Multiaddr> = relay
        .addrs
        .iter()
        .map(|relay_addr| {
            relay_addr
                .clone()
                .with(Protocol::P2pCircuit)
                .with(Protocol::P2p(node_id))
        })
        .collect();
    let (relayed, direct): (Vec<Multiaddr>, Vec<Multiaddr>) = status
        .addrs
        .iter()
        .map(|addr| addr.parse::<Multiaddr>().expect("addrs are multiaddrs"))
        .partition(|addr| addr.iter().any(|p| p == Protocol::P2pCircuit));
    assert!(!relayed.is_empty() && !direct.is_empty(), "{status:?}");
    for addr in &relayed {
        assert!(relayed_via.contains(addr), "{addr} is no full circuit");
    }
    for addr in &direct {
        assert!(
            !addr.iter().any(|p| matches!(p, Protocol::P2p(_))),
            "{addr} carries a peer id"
        );
        let printed = addr.clone().with(Protocol::P2p(node_id)).to_string();
        assert!(node.addrs.contains(&printed), "{addr} is no listen address");
    }
}

type CborCodec<Request, Response> = cbor::codec::Codec<Request, Response>;

/// Send one request on `protocol` from a fresh large-frame peer to `node` over TCP.
async fn ask<Request, Response>(
    node: &Node,
    protocol: StreamProtocol,
    request: Request,
) -> Result<Response, request_response::OutboundFailure>
where
    CborCodec<Request, Response>:
        request_response::Codec<Protocol = StreamProtocol, Request = Request, Response = Response>,
    CborCodec<Request, Response>: Clone + Send + 'static,
{
    let codec = CborCodec::default()
        .set_request_size_maximum(MAX_TASK_REQUEST_BYTES)
        .set_response_size_maximum(MAX_TASK_RESPONSE_BYTES);
    let mut swarm = SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(tcp::Config::default(), noise::Config::new, || {
            LargeFrameYamux
        })
        .unwrap()
        .with_behaviour(|_| {
            request_response::Behaviour::with_codec(
                codec,
                [(protocol, ProtocolSupport::Outbound)],
                request_response::Config::default().with_request_timeout(ANSWER_TIMEOUT),
            )
        })
        .unwrap()
        .build();
    let node_id: PeerId = node.peer_id.parse().unwrap();
    swarm.behaviour_mut().send_request_with_addresses(
        &node_id,
        request,
        vec![direct_tcp_addr(node)],
    );
    let answer = async {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::Behaviour(request_response::Event::Message {
                    message: request_response::Message::Response { response, .. },
                    ..
                }) => return Ok(response),
                SwarmEvent::Behaviour(request_response::Event::OutboundFailure {
                    error, ..
                }) => return Err(error),
                _ => {}
            }
        }
    };
    tokio::time::timeout(ANSWER_TIMEOUT, answer)
        .await
        .expect("the request ends within its timeout")
}

fn direct_tcp_addr(node: &Node) -> Multiaddr {
    node.addrs
        .iter()
        .find(|addr| addr.contains("/tcp/") && !addr.contains("/p2p-circuit"))
        .expect("node has a direct TCP address")
        .parse()
        .unwrap()
}

/// Yamux that writes each chunk of data as one frame, as large as the send window allows, on
/// a connection that starts [`ROUND_TRIP`] late.
#[derive(Debug, Clone, Copy)]
struct LargeFrameYamux;

type Upgraded<C> = future::Ready<std::io::Result<LargeFrames<C>>>;

impl LargeFrameYamux {
    fn connection<C: AsyncRead + AsyncWrite + Unpin>(io: C, mode: yamux::Mode) -> Upgraded<C> {
        let mut config = yamux::Config::default();
        config.set_split_send_size(usize::MAX);
        let io = LateWrites {
            io,
            from: Box::pin(tokio::time::sleep(ROUND_TRIP)),
        };
        future::ready(Ok(LargeFrames(yamux::Connection::new(io, config, mode))))
    }
}

impl UpgradeInfo for LargeFrameYamux {
    type Info = &'static str;
    type InfoIter = std::iter::Once<Self::Info>;

    fn protocol_info(&self) -> Self::InfoIter {
        std::iter::once("/yamux/1.0.0")
    }
}

impl<C: AsyncRead + AsyncWrite + Unpin> InboundConnectionUpgrade<C> for LargeFrameYamux {
    type Output = LargeFrames<C>;
    type Error = std::io::Error;
    type Future = Upgraded<C>;

    fn upgrade_inbound(self, io: C, _: Self::Info) -> Self::Future {
        Self::connection(io, yamux::Mode::Server)
    }
}

impl<C: AsyncRead + AsyncWrite + Unpin> OutboundConnectionUpgrade<C> for LargeFrameYamux {
    type Output = LargeFrames<C>;
    type Error = std::io::Error;
    type Future = Upgraded<C>;

    fn upgrade_outbound(self, io: C, _: Self::Info) -> Self::Future {
        Self::connection(io, yamux::Mode::Client)
    }
}

/// A Yamux connection that only opens streams: the node's own (identify, ping) are refused.
struct LargeFrames<C>(yamux::Connection<LateWrites<C>>);

impl<C: AsyncRead + AsyncWrite + Unpin> StreamMuxer for LargeFrames<C> {
    type Substream = yamux::Stream;
    type Error = yamux::ConnectionError;

    fn poll_inbound(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        Poll::Pending
    }

    fn poll_outbound(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        self.0.poll_new_outbound(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_close(cx)
    }

    /// Drives the connection; yamux makes progress only while inbound streams are polled.
    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<StreamMuxerEvent, Self::Error>> {
        loop {
            match ready!(self.0.poll_next_inbound(cx)) {
                Some(Ok(refused)) => drop(refused),
                Some(Err(e)) => return Poll::Ready(Err(e)),
                None => return Poll::Ready(Err(yamux::ConnectionError::Closed)),
            }
        }
    }
}

/// I/O whose writes wait until `from` has passed; reads are not held back.
struct LateWrites<C> {
    io: C,
    from: Pin<Box<tokio::time::Sleep>>,
}

impl<C> LateWrites<C> {
    fn poll_started(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.from.is_elapsed() {
            Poll::Ready(())
        } else {
            self.from.as_mut().poll(cx)
        }
    }
}

impl<C: AsyncRead + Unpin> AsyncRead for LateWrites<C> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<C: AsyncWrite + Unpin> AsyncWrite for LateWrites<C> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        ready!(self.poll_started(cx));
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        ready!(self.poll_started(cx));
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_close(cx)
    }
}
