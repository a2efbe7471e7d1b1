//! A node's status, as every peer decodes it from gossip and from status answers.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pws_net::protocol::{NodeStatus, from_cbor};

fuzz_target!(|data: &[u8]| {
    if let Ok(status) = from_cbor::<NodeStatus>(data) {
        let _ = status.has_free_slot();
    }
});
