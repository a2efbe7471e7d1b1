//! The relay's web server: it serves the browser node's page (built by `web-node/build.sh`)
//! and tells the page the relay's WebRTC-direct address as seen from the page's side, so a
//! phone that opened `http://<relay host>:8080/` dials the relay at that same host. It also
//! serves the network page (`/network/`, built on `/api/nodes`: the nodes the relay knows)
//! and the relay's metrics at `/metrics` (Prometheus' text format).
//!
//! It faces the internet: it runs on the hardened accept loop of [`pws_net::http`], errors
//! name no paths, and every response forbids framing the page (another site must not enlist
//! its visitors as nodes) and loading anything from elsewhere.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::State;
use axum::extract::connect_info::ConnectInfo;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use pws_net::client::Client;
use pws_net::http::ServerAddr;
use pws_net::metrics::SharedRegistry;
use pws_net::transport::TransportKind;
use tokio::net::TcpListener;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// The page's own files only: scripts and WebAssembly from this origin, no inline code, no
/// plugins, and no framing by any site.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' \
    'wasm-unsafe-eval'; worker-src 'self'; connect-src 'self'; img-src 'self' data:; \
    style-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

/// The relay's WebRTC-direct addresses (full, with `/certhash` and `/p2p`), as it learns them.
#[derive(Clone, Default)]
pub struct WebrtcAddrs(Arc<Mutex<Vec<Multiaddr>>>);

impl WebrtcAddrs {
    /// Keep `addr` if it is a WebRTC-direct address.
    pub fn learn(&self, addr: &Multiaddr) {
        if TransportKind::of(addr) == Some(TransportKind::Webrtc) {
            self.0.lock().expect("addrs lock").push(addr.clone());
        }
    }

    /// The address to give a page that reached us at `host`: the one on that IP if we listen
    /// there, else the first one moved to that IP (the page can only reach us where it did).
    fn for_host(&self, host: IpAddr) -> Option<Multiaddr> {
        let addrs = self.0.lock().expect("addrs lock");
        if let Some(exact) = addrs.iter().find(|addr| ip_of(addr) == Some(host)) {
            return Some(exact.clone());
        }
        let first = addrs.first()?;
        Some(
            first
                .iter()
                .map(|protocol| match protocol {
                    Protocol::Ip4(_) | Protocol::Ip6(_) => Protocol::from(host),
                    other => other,
                })
                .collect(),
        )
    }
}

fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|protocol| match protocol {
        Protocol::Ip4(ip) => Some(IpAddr::from(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::from(ip)),
        _ => None,
    })
}

/// The directory of the built page: `web` next to the relay's executable (an installed
/// relay), else `web-node/dist` of this source tree (a relay run from a checkout).
pub fn default_web_dir() -> PathBuf {
    let beside_exe = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("web")));
    let in_tree = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web-node/dist");
    beside_exe
        .filter(|dir| dir.join("index.html").exists())
        .unwrap_or(in_tree)
}

/// Bind the web server on `addr` and serve in the background; returns the bound address.
pub async fn start(
    addr: SocketAddr,
    web_dir: PathBuf,
    webrtc: WebrtcAddrs,
    network: Option<PeerId>,
    client: Client,
    metrics: SharedRegistry,
) -> Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await.with_context(|| {
        format!("cannot serve the web node page on {addr} (pass --http <addr> or --no-http)")
    })?;
    let bound = listener.local_addr()?;
    if !web_dir.join("index.html").exists() {
        tracing::warn!(
            "the web node page is not built ({} has no index.html): run web-node/build.sh",
            web_dir.display()
        );
    }
    let header = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value))
    };
    let app = Router::new()
        .route("/api/relay", get(relay_address))
        .route("/api/nodes", get(nodes))
        .with_state(PageState {
            webrtc,
            network,
            client,
        })
        .merge(pws_net::metrics::route(metrics))
        .fallback_service(ServeDir::new(&web_dir).fallback(get(not_found)))
        .layer(header(
            header::CONTENT_SECURITY_POLICY,
            CONTENT_SECURITY_POLICY,
        ))
        .layer(header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    pws_net::http::spawn(listener, app, "the web server");
    Ok(bound)
}

/// What the page asks the relay: where to dial it, and which network it introduces.
#[derive(Clone)]
struct PageState {
    webrtc: WebrtcAddrs,
    /// The owner of the private network the relay introduces; none: the open network.
    network: Option<PeerId>,
    /// The relay's network event loop, which keeps the registry of nodes.
    client: Client,
}

/// `{"addr": <the relay's WebRTC-direct address as seen from the page's host>, "network":
/// <owner peer id or null>}`.
async fn relay_address(
    State(PageState {
        webrtc, network, ..
    }): State<PageState>,
    ConnectInfo(ServerAddr(server)): ConnectInfo<ServerAddr>,
) -> Response {
    let host = match server.ip() {
        IpAddr::V6(ip) => ip.to_ipv4_mapped().map_or(IpAddr::V6(ip), IpAddr::V4),
        ip => ip,
    };
    match webrtc.for_host(host) {
        Some(addr) => axum::Json(serde_json::json!({
            "addr": addr.to_string(),
            "network": network.map(|owner| owner.to_string()),
        }))
        .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the relay is not listening on WebRTC-direct yet (or at all: see --listen)",
        )
            .into_response(),
    }
}

/// How long the registry may take to come from the event loop.
const REGISTRY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The nodes registered at the relay, as `pws-submit nodes --json` lists them but without
/// their addresses: anyone may read this page. A private network's nodes are its members'
/// business: they list them with `pws-submit nodes`.
async fn nodes(State(state): State<PageState>) -> Response {
    if state.network.is_some() {
        return (
            StatusCode::FORBIDDEN,
            "this relay introduces a private network: its members list its nodes with \
             `pws-submit nodes`",
        )
            .into_response();
    }
    match tokio::time::timeout(REGISTRY_TIMEOUT, state.client.registry()).await {
        Ok(Ok(mut nodes)) => {
            for node in &mut nodes {
                node.status.addrs.clear();
            }
            axum::Json(nodes).into_response()
        }
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the relay's network loop did not answer",
        )
            .into_response(),
    }
}

/// Not found, without saying where we looked (the relay's log says it at start).
async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        "Not found. If you expected the web node page: the relay's operator has to build it \
         (web-node/build.sh).",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_gets_the_address_on_the_host_it_used() {
        let addrs = WebrtcAddrs::default();
        let on = |ip: &str| -> Multiaddr {
            format!("/ip4/{ip}/udp/4002/webrtc-direct/certhash/uEiDDq4_xNyDorZBH3TlGazyJdOWSwvo4PUo5YHFMrvDE8g/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN")
                .parse()
                .unwrap()
        };
        addrs.learn(&"/ip4/127.0.0.1/tcp/4001".parse().unwrap());
        addrs.learn(&on("127.0.0.1"));
        addrs.learn(&on("192.168.1.20"));
        let lan: IpAddr = "192.168.1.20".parse().unwrap();
        assert_eq!(addrs.for_host(lan), Some(on("192.168.1.20")));
        let other: IpAddr = "10.0.0.5".parse().unwrap();
        assert_eq!(addrs.for_host(other), Some(on("10.0.0.5")));
    }
}
