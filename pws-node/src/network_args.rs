//! The command-line flags that put a node or a submitter in a private network, shared by
//! `pws-node` and `pws-submit` so that both read them the same way.

use std::collections::HashSet;

use anyhow::{Context, Result};
use clap::Args;
use libp2p::PeerId;
use pws_net::grant::SignedGrant;
use pws_net::peer::Access;

#[derive(Args, Debug, Clone)]
pub struct PrivateNetworkArgs {
    /// Join the private network of this owner (a peer id, e.g. the owner's `pws-submit id`)
    /// instead of the open network.
    #[arg(long, global = true, env = "PWS_NETWORK", value_name = "OWNER")]
    pub network: Option<PeerId>,
    /// This peer's grant of the private network (as `pws-submit grant` printed it), or
    /// `@FILE` to read it from a file. The owner needs none.
    #[arg(long, global = true, env = "PWS_GRANT", requires = "network")]
    pub grant: Option<String>,
    /// Refuse this peer whatever grant it shows (repeatable).
    #[arg(long, global = true, value_name = "PEER_ID", requires = "network")]
    pub deny: Vec<PeerId>,
}

impl PrivateNetworkArgs {
    /// The network these flags name: open without `--network`.
    pub fn access(&self) -> Result<Access> {
        let Some(owner) = self.network else {
            return Ok(Access::open());
        };
        let grant = self.grant.as_deref().map(read_grant).transpose()?;
        let deny: HashSet<PeerId> = self.deny.iter().copied().collect();
        Ok(Access::private(owner, grant, deny))
    }
}

/// A grant given on the command line: its text, or `@FILE`.
fn read_grant(given: &str) -> Result<SignedGrant> {
    let text = match given.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the grant in {path}"))?,
        None => given.to_string(),
    };
    text.parse()
        .with_context(|| "--grant is not a grant (it starts with pwsgrant1.)".to_string())
}
