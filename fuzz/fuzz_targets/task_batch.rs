//! A batch, as a node decodes it and expands it into tasks: both must stay bounded.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pws_net::protocol::{TaskBatch, from_cbor};

fuzz_target!(|data: &[u8]| {
    if let Ok(batch) = from_cbor::<TaskBatch>(data) {
        for input in &batch.inputs {
            drop(batch.task(input.clone()));
        }
    }
});
