//! A task's answer, as a submitter decodes it from a node.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pws_net::protocol::{TaskResponse, from_cbor};

fuzz_target!(|data: &[u8]| {
    let _ = from_cbor::<TaskResponse>(data);
});
