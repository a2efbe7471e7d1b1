//! A task request, as a node decodes it from a submitter's stream.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pws_net::protocol::{TaskRequest, from_cbor};

fuzz_target!(|data: &[u8]| {
    let _ = from_cbor::<TaskRequest>(data);
});
