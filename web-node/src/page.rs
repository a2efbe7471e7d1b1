//! The node on the page: started and stopped by the page's switch, it runs the same work loop
//! as `pws-node` ([`pws_node::work`]) over a browser swarm, with a [`pool::WorkerPool`] as its
//! executor, and reports every milestone to the page as a small JSON object.

use std::time::Duration;

use futures::channel::oneshot;
use libp2p::Multiaddr;
use pws_net::peer::{self, PeerConfig};
use pws_net::swarm::Role;
use pws_net::transport::TransportKind;
use pws_node::work::{self, Report, ServeConfig};
use serde_json::json;
use wasm_bindgen::prelude::*;

use crate::join;
use crate::pool::{self, PoolConfig};

/// What the page passes to [`start`].
#[wasm_bindgen]
pub struct NodeOptions {
    relay: String,
    worker_url: String,
    slots: u32,
    max_time_ms: u32,
    max_memory_mib: u32,
    /// The node's key (libp2p protobuf encoding) kept by the page; none: a fresh one.
    key: Option<Vec<u8>>,
    /// The private network the relay introduces (its owner's peer id), and the node's grant.
    network: Option<String>,
    grant: Option<String>,
}

#[wasm_bindgen]
impl NodeOptions {
    /// `relay`: the relay's WebRTC-direct address (with `/certhash` and `/p2p`);
    /// `worker_url`: where `worker.js` is. Defaults: 1 slot, 30 s and 256 MiB per task.
    #[wasm_bindgen(constructor)]
    pub fn new(relay: String, worker_url: String) -> Self {
        Self {
            relay,
            worker_url,
            slots: 1,
            max_time_ms: 30_000,
            max_memory_mib: 256,
            key: None,
            network: None,
            grant: None,
        }
    }

    #[wasm_bindgen(setter)]
    pub fn set_key(&mut self, key: Vec<u8>) {
        self.key = Some(key);
    }

    #[wasm_bindgen(setter)]
    pub fn set_network(&mut self, owner: String) {
        self.network = Some(owner);
    }

    #[wasm_bindgen(setter)]
    pub fn set_grant(&mut self, grant: String) {
        self.grant = Some(grant);
    }

    #[wasm_bindgen(setter)]
    pub fn set_slots(&mut self, slots: u32) {
        self.slots = slots.max(1);
    }

    #[wasm_bindgen(setter)]
    pub fn set_max_time_ms(&mut self, ms: u32) {
        self.max_time_ms = ms.max(1);
    }

    #[wasm_bindgen(setter)]
    pub fn set_max_memory_mib(&mut self, mib: u32) {
        self.max_memory_mib = mib.max(1);
    }
}

/// A running node; `stop()` leaves the network cleanly.
#[wasm_bindgen]
pub struct NodeHandle {
    peer_id: String,
    key: Vec<u8>,
    stop: Option<oneshot::Sender<()>>,
}

#[wasm_bindgen]
impl NodeHandle {
    #[wasm_bindgen(getter)]
    pub fn peer_id(&self) -> String {
        self.peer_id.clone()
    }

    /// The node's key, for the page to keep (so the tab keeps its peer id across reloads).
    #[wasm_bindgen(getter)]
    pub fn key(&self) -> Vec<u8> {
        self.key.clone()
    }

    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Start a node; `on_event` receives its milestones as JSON objects:
/// `{event: "relay", connected}`, `{event: "listening", addr}`, `{event: "registered"}`,
/// `{event: "status", state, free_slots, total_slots, completed}`,
/// `{event: "finished", error, ms}` and finally `{event: "stopped", error}`.
#[wasm_bindgen]
pub fn start(options: NodeOptions, on_event: js_sys::Function) -> Result<NodeHandle, JsError> {
    join::init_logging();
    let relay: Multiaddr = options
        .relay
        .parse()
        .map_err(|e| JsError::new(&format!("bad relay address {}: {e}", options.relay)))?;
    let identity = join::identity_of(options.key.as_deref())?;
    let peer_id = identity.peer_id().to_string();
    let key = join::key_of(&identity)?;
    let access = join::access_of(options.network.as_deref(), options.grant.as_deref())?;
    let peer = peer::spawn(PeerConfig {
        role: Role::Node,
        identity,
        transports: vec![TransportKind::Webrtc],
        listen: Vec::new(),
        relays: vec![relay],
        access,
        metrics: None,
    })
    .map_err(join::to_js)?;
    let pool = pool::start(
        PoolConfig {
            worker_url: options.worker_url,
            max_memory_bytes: options.max_memory_mib as usize * 1024 * 1024,
        },
        Duration::from_millis(options.max_time_ms.into()),
        options.slots as usize,
    );
    let config = ServeConfig {
        slots: options.slots,
        browser: true,
    };
    let (stop, stopped) = oneshot::channel::<()>();
    wasm_bindgen_futures::spawn_local(async move {
        let emit = |event: serde_json::Value| {
            let _ = on_event.call1(&JsValue::NULL, &JsValue::from_str(&event.to_string()));
        };
        let shutdown = async {
            let _ = stopped.await;
        };
        let result = work::serve(peer, pool, config, shutdown, |report| {
            emit(describe(report))
        })
        .await;
        emit(json!({
            "event": "stopped",
            "error": result.err().map(|e| e.to_string()),
        }));
    });
    Ok(NodeHandle {
        peer_id,
        key,
        stop: Some(stop),
    })
}

fn describe(report: Report) -> serde_json::Value {
    match report {
        Report::Relay(connected) => json!({ "event": "relay", "connected": connected }),
        Report::Listening(addr) => json!({ "event": "listening", "addr": addr.to_string() }),
        Report::Registered => json!({ "event": "registered" }),
        Report::Status(status) => json!({
            "event": "status",
            "state": status.state,
            "free_slots": status.free_slots,
            "total_slots": status.total_slots,
            "completed": status.completed,
        }),
        Report::Finished { error, elapsed } => json!({
            "event": "finished",
            "error": error.map(|kind| kind.as_str()),
            "ms": elapsed.as_secs_f64() * 1000.0,
        }),
    }
}
