//! The submitter's side of moving WebAssembly modules: which node has which module. The
//! first request of a module to a node carries its bytes; requests to that node wait until
//! it has answered, then name the module by hash alone. A node that answers
//! `unknown-module` (it dropped the module) is sent the bytes again.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use futures::channel::oneshot;
use futures::future::Shared;
use libp2p::PeerId;

use crate::module::{ModuleHash, WasmModule};

/// Sends to one node with one module that may answer `unknown-module` before the bytes are
/// sent regardless.
const SENDS_BY_HASH: usize = 2;

#[derive(Clone, Default)]
pub struct Shipments {
    state: Arc<Mutex<HashMap<(PeerId, ModuleHash), Shipment>>>,
}

enum Shipment {
    /// A request carrying the bytes is on its way; resolves when it is answered.
    InFlight(Shared<oneshot::Receiver<()>>),
    Delivered,
}

/// What a request to a node should do with a module.
enum Claim {
    /// Carry the bytes; tell the courier when the node has them.
    Carry(Courier),
    /// Wait for the request that carries them, then claim again.
    Wait(Shared<oneshot::Receiver<()>>),
    /// The node has it: name it by hash.
    Known,
}

/// Marks a module in flight to a node; dropped without [`Courier::delivered`], the mark is
/// removed and the next request carries the bytes.
struct Courier {
    shipments: Shipments,
    key: (PeerId, ModuleHash),
    _arrived: oneshot::Sender<()>,
    delivered: bool,
}

impl Courier {
    fn delivered(mut self) {
        self.delivered = true;
        let mut state = self.shipments.state.lock().expect("shipments lock");
        state.insert(self.key, Shipment::Delivered);
    }
}

impl Drop for Courier {
    fn drop(&mut self) {
        if !self.delivered {
            let mut state = self.shipments.state.lock().expect("shipments lock");
            state.remove(&self.key);
        }
    }
}

impl Shipments {
    fn claim(&self, key: (PeerId, ModuleHash)) -> Claim {
        let mut state = self.state.lock().expect("shipments lock");
        match state.get(&key) {
            Some(Shipment::Delivered) => Claim::Known,
            Some(Shipment::InFlight(arrived)) => Claim::Wait(arrived.clone()),
            None => {
                let (arrived_tx, arrived) = oneshot::channel();
                state.insert(key, Shipment::InFlight(arrived.shared()));
                Claim::Carry(Courier {
                    shipments: self.clone(),
                    key,
                    _arrived: arrived_tx,
                    delivered: false,
                })
            }
        }
    }

    fn forget(&self, key: (PeerId, ModuleHash)) {
        let mut state = self.state.lock().expect("shipments lock");
        if matches!(state.get(&key), Some(Shipment::Delivered)) {
            state.remove(&key);
        }
    }

    /// Send a request with `module` to `node` through `send`, which puts the module it is
    /// given (with or without bytes) into the request. `unknown` tells an answer saying the
    /// node lacks the module; `Err` answers leave the module's state at the node unknown.
    pub async fn send<T, E, Fut>(
        &self,
        node: PeerId,
        module: &WasmModule,
        mut send: impl FnMut(WasmModule) -> Fut,
        unknown: impl Fn(&T) -> bool,
    ) -> Result<T, E>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        let key = (node, module.sha256);
        let mut sent_by_hash = 0;
        loop {
            let claim = if sent_by_hash >= SENDS_BY_HASH {
                None
            } else {
                Some(self.claim(key))
            };
            match claim {
                Some(Claim::Wait(arrived)) => {
                    let _ = arrived.await;
                }
                Some(Claim::Known) => {
                    let answer = send(module.by_hash()).await;
                    match &answer {
                        Ok(answer) if unknown(answer) => {
                            sent_by_hash += 1;
                            self.forget(key);
                        }
                        _ => return answer,
                    }
                }
                Some(Claim::Carry(courier)) => {
                    let answer = send(module.clone()).await;
                    if matches!(&answer, Ok(answer) if !unknown(answer)) {
                        courier.delivered();
                    }
                    return answer;
                }
                None => return send(module.clone()).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A node that keeps modules (or forgets them all when `forgetful`), counting the
    /// requests that carried bytes.
    #[derive(Default)]
    struct FakeNode {
        has: Mutex<bool>,
        carried: AtomicUsize,
        forgetful: bool,
    }

    impl FakeNode {
        /// Answers whether the node knew the module (`false`: `unknown-module`).
        async fn take(&self, module: WasmModule) -> Result<bool, ()> {
            tokio::task::yield_now().await;
            if module.bytes.is_some() {
                self.carried.fetch_add(1, Ordering::SeqCst);
                *self.has.lock().unwrap() = !self.forgetful;
                return Ok(true);
            }
            Ok(*self.has.lock().unwrap())
        }
    }

    async fn send_many(
        node: &FakeNode,
        shipments: &Shipments,
        peer: PeerId,
        requests: usize,
    ) -> Vec<bool> {
        let module = WasmModule::new(vec![0u8; 16]);
        let sends = (0..requests)
            .map(|_| shipments.send(peer, &module, |m| node.take(m), |known: &bool| !known));
        futures::future::join_all(sends)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect()
    }

    #[tokio::test]
    async fn concurrent_requests_carry_the_bytes_once() {
        let node = FakeNode::default();
        let answers = send_many(&node, &Shipments::default(), PeerId::random(), 50).await;
        assert!(answers.iter().all(|known| *known));
        assert_eq!(node.carried.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_node_that_forgot_is_sent_the_bytes_again() {
        let node = FakeNode {
            forgetful: true,
            ..FakeNode::default()
        };
        let (shipments, peer) = (Shipments::default(), PeerId::random());
        assert_eq!(send_many(&node, &shipments, peer, 1).await, vec![true]);
        // The second is answered unknown-module by hash, then carries the bytes again.
        assert_eq!(send_many(&node, &shipments, peer, 1).await, vec![true]);
        assert_eq!(node.carried.load(Ordering::SeqCst), 2);
    }
}
