//! The frames between a node and its sandbox worker, read by both sides: a compromised
//! worker must not be able to hurt the node through them, nor the node the worker.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pws_node::sandbox::frame;
use pws_node::sandbox::worker::{WorkerInput, WorkerMessage};

fuzz_target!(|data: &[u8]| {
    let mut node_side = data;
    while let Ok(Some(_)) = frame::read::<WorkerMessage>(&mut node_side) {}
    let mut worker_side = data;
    while let Ok(Some(_)) = frame::read::<WorkerInput>(&mut worker_side) {}
});
