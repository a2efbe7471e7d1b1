//! The static aarch64 build of `pws-node` (`scripts/build-aarch64`, what a Raspberry Pi or
//! Termux on an Android phone runs) joins a native relay under qemu-user and answers tasks,
//! its sandbox workers included (the kernel starts them through qemu's binfmt handler).

use std::path::PathBuf;

use pws_tests::{Node, Relay, example, run_json};
use serde_json::json;

const TARGET: &str = "aarch64-unknown-linux-musl";

fn aarch64_node_binary() -> PathBuf {
    let binary = pws_tests::bin_dir()
        .join("..")
        .join(TARGET)
        .join("release/pws-node");
    assert!(
        binary.exists(),
        "no aarch64 pws-node at {}: build it with `scripts/build-aarch64 -p pws-node` \
         (scripts/test does)",
        binary.display()
    );
    let registered = std::path::Path::new("/proc/sys/fs/binfmt_misc/qemu-aarch64");
    assert!(
        registered.exists(),
        "the kernel cannot run aarch64 programs: install qemu-user and register its binfmt \
         handler (scripts/test does)"
    );
    binary
}

#[test]
fn an_aarch64_node_under_qemu_answers_tasks() {
    let binary = aarch64_node_binary();
    let relay = Relay::start();
    let node = Node::start_binary(&relay, &binary, &["--slots", "1"]);
    for (file, expected) in [("sum.js", json!(499500)), ("primes.wasm", json!(9592))] {
        let result = run_json(&relay.tcp(), &[], &example(file));
        assert_eq!(result["ok"], expected, "{file} on aarch64: {result}");
        assert_eq!(result["node"], json!(node.peer_id), "{file}: {result}");
    }
    let listed = pws_tests::list_nodes(&relay.tcp());
    let engine = &listed[0]["engine"];
    assert!(
        engine
            .as_str()
            .is_some_and(|engine| engine.starts_with("boa")),
        "{listed}"
    );
}
