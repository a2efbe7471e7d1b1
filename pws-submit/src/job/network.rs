//! The network as the scheduler sees it: nodes to look for, a registry to read, batches to
//! send. A [`Session`] is the real one.

use std::future::Future;

use libp2p::PeerId;
use pws_net::client::NetResult;
use pws_net::protocol::{BatchResponse, TaskBatch};
use pws_net::status::NodeInfo;

use crate::session::Session;

pub trait Network {
    /// Look for nodes and ask each for its status; the nodes that answered, soon after the
    /// first answer (see [`Session::refresh_for_work`]).
    fn refresh(&self) -> impl Future<Output = anyhow::Result<Vec<NodeInfo>>>;
    /// The nodes known now that answered a status request, ordered by peer id.
    fn registry(&self) -> impl Future<Output = NetResult<Vec<NodeInfo>>>;
    /// Send `node` a batch of tasks; its answers come back together.
    fn send_batch(
        &self,
        node: PeerId,
        batch: TaskBatch,
    ) -> impl Future<Output = NetResult<BatchResponse>>;
}

impl Network for Session {
    async fn refresh(&self) -> anyhow::Result<Vec<NodeInfo>> {
        Session::refresh_for_work(self).await
    }

    async fn registry(&self) -> NetResult<Vec<NodeInfo>> {
        Session::registry(self).await
    }

    async fn send_batch(&self, node: PeerId, batch: TaskBatch) -> NetResult<BatchResponse> {
        self.client.send_batch(node, batch).await
    }
}
