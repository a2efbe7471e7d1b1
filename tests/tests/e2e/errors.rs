//! Task errors come back typed, and the node keeps serving afterwards.

use pws_tests::{Node, Relay, Submit, example, path_of, run_json, task_file};
use serde_json::json;

#[test]
fn failing_tasks_are_reported_and_the_node_keeps_serving() {
    let relay = Relay::start();
    let _node = Node::start(&relay, &["--max-loop-iterations", "1000000"]);
    let relay_addr = relay.tcp();

    let cases = [
        (
            "function() { throw new Error('kaboom'); }",
            "thrown",
            "kaboom",
        ),
        ("throw 42", "thrown", "42"),
        ("function( { return 1; }", "syntax", ""),
        ("while (true) {}", "timeout", "loop"),
        (
            "try { for (;;) {} } catch (e) {} 'swallowed'",
            "timeout",
            "loop",
        ),
        ("function f() { return f(); }; f()", "stack", ""),
        ("10n", "invalid-value", "bigint"),
    ];
    for (code, kind, message_part) in cases {
        let file = task_file(code);
        let result = run_json(&relay_addr, &[], path_of(&file));
        assert_eq!(result["error"]["kind"], kind, "{code}: {result}");
        let message = result["error"]["message"].as_str().expect("message");
        assert!(message.contains(message_part), "{code}: {message}");
        // The same node answers a normal task right after.
        let next = run_json(&relay_addr, &[], &example("math.js"));
        assert_eq!(next["ok"], json!(4), "after {code}: {next}");
    }
}

#[test]
fn a_task_error_exits_non_zero_with_the_message_on_stderr() {
    let relay = Relay::start();
    let _node = Node::start(&relay, &[]);
    let file = task_file("function() { throw new Error('visible'); }");
    let output = Submit::new()
        .args(["--relay", &relay.tcp(), "run", path_of(&file)])
        .expect_code(1);
    assert!(output.stdout.is_empty());
    assert!(output.stderr.contains("visible"));
}

#[test]
fn input_reaches_the_function_and_stdin_works() {
    let relay = Relay::start();
    let _node = Node::start(&relay, &[]);
    let output = Submit::new()
        .args([
            "--relay",
            &relay.tcp(),
            "run",
            "-",
            "--input",
            r#"{"n": 20}"#,
        ])
        .stdin("function(x) { return { doubled: x.n * 2 }; }")
        .expect_success();
    assert_eq!(output.stdout.trim(), r#"{"doubled":40}"#);
}

#[test]
fn progress_reports_reach_the_submitter() {
    let relay = Relay::start();
    let _node = Node::start(&relay, &[]);
    // Each step lasts longer than the worker's 100 ms report interval.
    let file = task_file(
        "function() { for (let i = 1; i <= 4; i++) { const t = Date.now(); \
         while (Date.now() - t < 150) {} progress(i / 4); } return 'done'; }",
    );
    let output = Submit::new()
        .args(["--relay", &relay.tcp(), "run", path_of(&file)])
        .env("RUST_LOG", "pws_submit=debug")
        .expect_success();
    assert_eq!(output.stdout.trim(), r#""done""#);
    let stderr = &output.stderr;
    for fraction in ["0.25", "0.5", "0.75"] {
        assert!(stderr.contains(&format!("progress {fraction}")), "{stderr}");
    }
}

#[test]
fn control_characters_from_a_task_never_reach_the_terminal_raw() {
    let relay = Relay::start();
    let _node = Node::start(&relay, &[]);
    let run = |code: &str| {
        let file = task_file(code);
        Submit::new()
            .args(["--relay", &relay.tcp(), "run", path_of(&file)])
            .run()
    };
    let logged = run(
        r#"function() { console.log("\u001b]0;owned\u0007\u001b[2J"); return "\u001b[31m\u009b"; }"#,
    );
    let thrown = run(r#"function() { throw new Error("\u001b[2Jgone"); }"#);
    for output in [&logged, &thrown] {
        let shown = format!("{}{}", output.stdout, output.stderr);
        assert!(
            !shown.chars().any(|c| c.is_control() && c != '\n'),
            "raw control characters: {shown:?}"
        );
    }
    assert!(
        logged.stderr.contains(r"\u{1b}]0;owned\u{7}"),
        "{}",
        logged.stderr
    );
    assert_eq!(logged.stdout.trim(), r#""\u001b[31m\u009b""#);
    assert!(
        thrown.stderr.contains(r"\u{1b}[2Jgone"),
        "{}",
        thrown.stderr
    );
}
