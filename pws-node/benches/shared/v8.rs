//! The CPU task set in `node` (V8), timed on the same machine as what it is compared with.

use std::process::Command;

use super::cpu_set::CPU_SET;

/// The set's tasks in `node`, each inside a function, best of three, in ms; `None` without
/// node.
pub fn node_times() -> Option<Vec<f64>> {
    let functions: Vec<String> = CPU_SET
        .iter()
        .map(|(_, body)| format!("function() {{ {body} }}"))
        .collect();
    let script = format!(
        "const tasks = [{}];\n\
         const times = tasks.map(f => {{ let best = Infinity; for (let r = 0; r < 3; r++) {{ \
         const t = process.hrtime.bigint(); f(); best = Math.min(best, Number(process.hrtime.bigint() - t) / 1e6); }} return best; }});\n\
         console.log(JSON.stringify(times));",
        functions.join(",\n")
    );
    let output = Command::new("node").arg("-e").arg(script).output().ok()?;
    if !output.status.success() {
        return None;
    }
    serde_json::from_slice(&output.stdout).ok()
}
