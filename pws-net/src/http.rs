//! The accept loop of an HTTP server that faces the internet: a connection must send its
//! request headers within [`HEADER_READ_TIMEOUT`], at most [`MAX_CONNECTIONS`] are served at
//! once (more are closed as they come), and errors name no paths. The relay's web server and
//! a node's metrics endpoint both run on it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::connect_info::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// A connection's request headers must arrive within this time (a browser sends them at once).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once; more are closed as they come.
pub const MAX_CONNECTIONS: usize = 256;

/// The address of our side of an HTTP connection: the address the client reached us at.
/// Handlers read it as `ConnectInfo<ServerAddr>`.
#[derive(Clone, Copy, Debug)]
pub struct ServerAddr(pub SocketAddr);

/// Serve `app` on `listener` in the background; `what` names the server in the log if it
/// ever stops.
pub fn spawn(listener: TcpListener, app: Router, what: &'static str) {
    tokio::spawn(async move {
        if let Err(e) = serve(listener, app).await {
            tracing::error!("{what} stopped: {e}");
        }
    });
}

/// Accept connections until the listener fails, each served under the header deadline and
/// the connection cap.
async fn serve(listener: TcpListener, app: Router) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of file descriptors and the like: this connection is lost, not the server.
            Err(e) => {
                tracing::debug!("web server: accept failed: {e}");
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let app = app.clone();
        tokio::spawn(async move {
            serve_connection(stream, app).await;
            drop(slot);
        });
    }
}

async fn serve_connection(stream: TcpStream, app: Router) {
    let Ok(local) = stream.local_addr() else {
        return;
    };
    let app = app.layer(axum::Extension(ConnectInfo(ServerAddr(local))));
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app))
        .await;
    if let Err(e) = served {
        tracing::debug!("web server: connection ended: {e}");
    }
}
