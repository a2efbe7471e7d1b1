//! The command line as a newcomer meets it: `--local`, and clear errors.

use pws_tests::{Relay, example, parse_json_line, submit};

#[test]
fn local_mode_runs_the_main_job_with_no_setup() {
    let output = submit(&["--local", "3", "run", &example("sum.js")]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "499500");
}

#[test]
fn local_mode_lists_its_nodes() {
    let output = submit(&["--local", "2", "nodes", "--json"]);
    assert!(output.status.success());
    assert_eq!(parse_json_line(&output).as_array().unwrap().len(), 2);
}

#[test]
fn usage_mistakes_exit_2_with_a_message() {
    let no_network = submit(&["run", &example("sum.js")]);
    assert_eq!(no_network.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_network.stderr).contains("--relay"));

    let bad_input = submit(&[
        "--local",
        "1",
        "run",
        &example("sum.js"),
        "--input",
        "{nope",
    ]);
    assert_eq!(bad_input.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_input.stderr).contains("--input is not valid JSON"));

    let missing = submit(&["--local", "1", "run", "/no/such/task.js"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/no/such/task.js"));
}

#[test]
fn no_nodes_and_no_relay_are_clear_failures() {
    let relay = Relay::start();
    let output = submit(&[
        "--relay",
        &relay.tcp(),
        "--wait",
        "0.5",
        "run",
        "--json",
        &example("sum.js"),
    ]);
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(parse_json_line(&output)["error"]["kind"], "no-nodes");

    let dead_relay = relay
        .tcp()
        .replace(&relay.tcp().split('/').nth(4).unwrap().to_string(), "1");
    let output = submit(&["--relay", &dead_relay, "run", &example("sum.js")]);
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot reach the relay"));
}
