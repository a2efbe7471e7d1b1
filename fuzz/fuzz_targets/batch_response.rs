//! A batch's answers, as a submitter decodes them from a node.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pws_net::protocol::{BatchResponse, from_cbor};

fuzz_target!(|data: &[u8]| {
    let _ = from_cbor::<BatchResponse>(data);
});
