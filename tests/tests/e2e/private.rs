//! Private networks: every peer names itself with `id`, a network's owner signs grants that
//! any peer checks on its own, and the network's nodes serve its members only.

use std::collections::HashSet;

use libp2p::PeerId;
use pws_net::grant::{Role, SignedGrant, unix_now};
use pws_net::protocol::{ErrorKind, Outcome, TASK_PROTOCOL, TaskRequest, TaskResponse};
use pws_net::protocol::{from_cbor, to_cbor};
use pws_tests::{
    Node, Relay, SubmitterDir, example, json_lines, parse_json_line, path_of, peer_id_in, task_file,
};

use pws_tests::private::{grant, granted_node, member_runs, submitter_id};

use crate::wire::{exchange_on, raw_peer};

#[test]
fn every_peer_prints_its_id_and_the_owner_signs_grants() {
    for binary in ["pws-node", "relay"] {
        let dir = tempfile::tempdir().unwrap();
        let first = peer_id_in(binary, dir.path());
        assert_eq!(
            first,
            peer_id_in(binary, dir.path()),
            "{binary}: a lasting id"
        );
    }
    let owner = SubmitterDir::new();
    let owner_id = submitter_id(&owner);
    assert_eq!(submitter_id(&owner), owner_id);

    let node_dir = tempfile::tempdir().unwrap();
    let node_id = peer_id_in("pws-node", node_dir.path());
    let printed = owner
        .submit()
        .args(["grant", &node_id, "--role", "node", "--expires", "2d"])
        .args(["--name", "kitchen laptop"])
        .expect_success()
        .stdout;
    assert_eq!(printed.lines().count(), 1, "{printed:?}");
    let grant: SignedGrant = printed.trim().parse().expect("a grant");
    let now = unix_now();
    let network: PeerId = owner_id.parse().unwrap();
    let verified = grant
        .verify(network, node_id.parse().unwrap(), Role::Node, now)
        .expect("the owner's grant for the node");
    assert_eq!(verified.name, "kitchen laptop");
    assert!(verified.expires.abs_diff(now + 2 * 24 * 3600) < 60);
    // Given to the node, the grant is worth nothing to anyone else.
    assert!(
        grant
            .verify(network, PeerId::random(), Role::Node, now)
            .is_err()
    );

    let wrong_role = owner
        .submit()
        .args(["grant", &node_id, "--role", "admin"])
        .expect_code(2);
    assert!(wrong_role.stderr.contains("admin"), "{}", wrong_role.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_network_serves_its_members_and_no_one_else() {
    let relay = Relay::start();
    let owner = SubmitterDir::new();
    let network = submitter_id(&owner);
    // A member the nodes deny, grant or not.
    let denied = SubmitterDir::new();
    let denied_id = submitter_id(&denied);
    let deny = ["--deny", denied_id.as_str()];
    let a = granted_node(&relay, &owner, &network, "node a", &deny);
    let b = granted_node(&relay, &owner, &network, "node b", &deny);
    // In the network's namespace, but never admitted by the owner.
    let _ungranted = Node::start(&relay, &["--network", &network]);
    let members: HashSet<&str> = [a.peer_id.as_str(), b.peer_id.as_str()].into();

    let member = SubmitterDir::new();
    let member_grant = grant(&owner, &submitter_id(&member), "submit", "member");
    let private = ["--relay", &relay.tcp(), "--network", &network];
    let as_member = || {
        member
            .submit()
            .args(private)
            .args(["--grant", &member_grant])
    };

    // Only the granted nodes are listed, with the names the owner gave them.
    let listed = parse_json_line(&as_member().args(["nodes", "--json"]).expect_success());
    let names: HashSet<(&str, &str)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["peer_id"].as_str().unwrap(), n["name"].as_str().unwrap()))
        .collect();
    let expected: HashSet<(&str, &str)> = [
        (a.peer_id.as_str(), "node a"),
        (b.peer_id.as_str(), "node b"),
    ]
    .into();
    assert_eq!(names, expected);

    // A job runs on the granted nodes only.
    let task = task_file("function(n) { return n * 3; }");
    let job = as_member()
        .args(["map", path_of(&task), "--range", "0..40", "--quiet"])
        .expect_success();
    for line in json_lines(&job.stdout) {
        assert_eq!(line["ok"], line["index"].as_u64().unwrap() * 3, "{line}");
        assert!(members.contains(line["node"].as_str().unwrap()), "{line}");
    }

    // The owner needs no grant.
    let by_owner = owner
        .submit()
        .args(private)
        .args(["run", &example("math.js")])
        .expect_success();
    assert_eq!(by_owner.stdout.trim(), "4");

    // A stranger in the network's namespace, one whose grant has expired, and a denied one:
    // refused.
    let stranger = SubmitterDir::new();
    let expired = SubmitterDir::new();
    let expired_grant = owner
        .submit()
        .args(["grant", &submitter_id(&expired), "--role", "submit"])
        .args(["--expires", "0s"])
        .expect_success()
        .stdout;
    let denied_grant = grant(&owner, &denied_id, "submit", "denied");
    for (who, extra) in [
        (&stranger, Vec::new()),
        (&expired, vec!["--grant", expired_grant.trim()]),
        (&denied, vec!["--grant", denied_grant.as_str()]),
    ] {
        let refused = who
            .submit()
            .args(private)
            .args(extra)
            .args(["run", "--json", &example("math.js")])
            .expect_code(1);
        let result = parse_json_line(&refused);
        assert_eq!(result["error"]["kind"], "unauthorized", "{result}");
    }

    // A peer that dials a granted node directly, outside any network, gets a typed refusal.
    let (mut control, node_id) = raw_peer(&a);
    let answer = exchange_on(
        TASK_PROTOCOL,
        &mut control,
        node_id,
        &to_cbor(&TaskRequest::new("1 + 1")),
    )
    .await
    .expect("an answer");
    let response: TaskResponse = from_cbor(&answer).unwrap();
    assert!(
        matches!(&response.outcome, Outcome::Error(e) if e.kind == ErrorKind::Unauthorized),
        "{response:?}"
    );
}

#[test]
fn a_private_relay_introduces_members_only() {
    let owner = SubmitterDir::new();
    let network = submitter_id(&owner);
    let denied = SubmitterDir::new();
    let denied_id = submitter_id(&denied);
    let relay = Relay::start_with(&["--network", &network, "--deny", &denied_id]);
    let member_node = granted_node(&relay, &owner, &network, "node a", &[]);

    // A node of the network without a grant is not admitted: it never registers.
    let mut ungranted = std::process::Command::new(pws_tests::bin("pws-node"));
    let ungranted_dir = tempfile::tempdir().unwrap();
    ungranted
        .args(["--relay", &relay.tcp(), "--network", &network])
        .args(["--listen", "/ip4/127.0.0.1/tcp/0", "--data-dir"])
        .arg(ungranted_dir.path());
    let mut ungranted = pws_tests::Process::spawn("pws-node", &mut ungranted);
    let refusal = ungranted.wait_for_stderr_line("the relay's refusal", |line| {
        line.contains("does not admit this peer")
    });
    assert!(refusal.contains("no grant"), "{refusal}");

    // A member runs its tasks on the member node.
    let result = member_runs(&relay.tcp(), &owner, &network, &example("math.js"));
    assert_eq!(result["node"], member_node.peer_id.as_str(), "{result}");

    // A stranger is refused by the relay itself: nothing ran (exit 3), and it is told why.
    let stranger = SubmitterDir::new()
        .submit()
        .args(["--relay", &relay.tcp(), "--network", &network])
        .args(["run", &example("math.js")])
        .expect_code(3);
    assert!(
        stranger.stderr.contains("relay refused this peer"),
        "{}",
        stranger.stderr
    );
    let denied_grant = grant(&owner, &denied_id, "submit", "denied");
    let refused = denied
        .submit()
        .args(["--relay", &relay.tcp(), "--network", &network])
        .args(["--grant", &denied_grant, "run", &example("math.js")])
        .expect_code(3);
    assert!(refused.stderr.contains("is denied"), "{}", refused.stderr);
    assert!(
        !ungranted.seen().iter().any(|line| line == "registered"),
        "the ungranted node registered"
    );
}

#[test]
fn replicas_run_on_granted_nodes_only_while_liars_announce_themselves() {
    let relay = Relay::start();
    let owner = SubmitterDir::new();
    let network = submitter_id(&owner);
    let granted: Vec<Node> = ["a", "b", "c"]
        .map(|name| granted_node(&relay, &owner, &network, name, &[]))
        .into();
    let liars: Vec<(pws_tests::Process, String)> = (0..3)
        .map(|_| {
            let mut command = std::process::Command::new(pws_tests::bin("dishonest-node"));
            command.args([relay.tcp().as_str(), "666", network.as_str()]);
            let mut liar = pws_tests::Process::spawn("dishonest-node", &mut command);
            let id = liar.wait_for_line("its peer id", |line| line.starts_with("12D3"));
            liar.wait_for_line("registered", |line| line == "registered");
            (liar, id)
        })
        .collect();

    let member = SubmitterDir::new();
    let member_grant = grant(&owner, &submitter_id(&member), "submit", "member");
    let task = task_file("function(n) { return {square: n * n}; }");
    let job = member
        .submit()
        .args(["--relay", &relay.tcp(), "--network", &network])
        .args([
            "--grant",
            &member_grant,
            "map",
            path_of(&task),
            "--range",
            "0..20",
        ])
        .args(["--replicas", "3", "--quorum", "2", "--quiet"])
        .expect_success();
    let results = json_lines(&job.stdout);
    assert_eq!(results.len(), 20);
    for line in &results {
        let n = line["index"].as_u64().unwrap();
        assert_eq!(line["ok"]["square"], n * n, "{line}");
    }
    for (_, liar) in &liars {
        assert!(!job.stdout.contains(liar.as_str()), "a liar got a task");
        assert!(!job.stderr.contains(liar.as_str()), "a liar was tried");
    }
    let granted_ids: Vec<&str> = granted.iter().map(|n| n.peer_id.as_str()).collect();
    assert!(
        results
            .iter()
            .all(|line| granted_ids.contains(&line["node"].as_str().unwrap_or_default())),
        "{results:?}"
    );
}
