//! What the node page and the coordinator page share to join a network: the peer's key,
//! which the page keeps across reloads, and the network's access (open, or a private network
//! with the page's grant).

use std::sync::Once;

use libp2p::identity::Keypair;
use pws_net::grant::SignedGrant;
use pws_net::identity::Identity;
use pws_net::peer::Access;
use wasm_bindgen::JsError;

/// The identity of a stored key (libp2p protobuf encoding), or a fresh one.
pub fn identity_of(key: Option<&[u8]>) -> Result<Identity, JsError> {
    match key {
        Some(key) => Ok(Identity {
            keypair: Keypair::from_protobuf_encoding(key)
                .map_err(|e| JsError::new(&format!("the stored key is unusable: {e}")))?,
        }),
        None => Identity::ephemeral().map_err(to_js),
    }
}

/// `identity`'s key, for the page to keep.
pub fn key_of(identity: &Identity) -> Result<Vec<u8>, JsError> {
    identity
        .keypair
        .to_protobuf_encoding()
        .map_err(|e| JsError::new(&format!("cannot keep the key: {e}")))
}

/// The open network, or the private network of `network` (its owner's peer id) with `grant`.
pub fn access_of(network: Option<&str>, grant: Option<&str>) -> Result<Access, JsError> {
    let Some(owner) = network else {
        return Ok(Access::open());
    };
    let owner = owner
        .parse()
        .map_err(|e| JsError::new(&format!("bad network owner {owner}: {e}")))?;
    let grant = grant
        .map(str::parse::<SignedGrant>)
        .transpose()
        .map_err(|e| JsError::new(&format!("that is not a grant: {e}")))?;
    Ok(Access::private(owner, grant, Default::default()))
}

/// Panics and logs go to the browser's console.
pub fn init_logging() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        console_error_panic_hook::set_once();
        tracing_wasm::set_as_global_default_with_config(
            tracing_wasm::WASMLayerConfigBuilder::new()
                .set_max_level(tracing::Level::INFO)
                .build(),
        );
    });
}

pub fn to_js(error: anyhow::Error) -> JsError {
    JsError::new(&format!("{error:#}"))
}
