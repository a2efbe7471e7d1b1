// The coordinator page: a submitter in this tab. It joins the network through the relay,
// shows the nodes as they announce themselves, and runs tasks and jobs on them.
import init, { connect, new_key, peer_id_of } from "../web_node.js";
import { cell, keepLinkedGrant, nodeRow, ownKey, relayInfo, show, stored } from "../shared.js";
import { Editor } from "./editor.js";

const $ = (id) => document.getElementById(id);
const REGISTRY_REFRESH_MS = 1000;
// The results table shows the newest ones; the download has them all.
const SHOWN_RESULTS = 500;
// When the page first showed a node, in ms since navigation started, for the benchmark.
window.pwsTimings = { firstNodeMs: null };

const editor = new Editor($("editor"));
let coordinator = null;
// A WebAssembly module loaded from an example or a file; null: the editor's JavaScript.
let module = null;
let taskName = "task";

function fail(message) {
  $("error").hidden = false;
  $("error").textContent = message;
}

function useJavaScript(name, code) {
  module = null;
  taskName = name;
  editor.readOnly = false;
  editor.value = code;
}

function useModule(name, bytes) {
  module = bytes;
  taskName = name;
  editor.readOnly = true;
  editor.value = `// ${name}: a WebAssembly module of ${bytes.length} bytes.\n` +
    "// It reads its input (JSON) on stdin and writes its result (JSON) on stdout.\n";
}

function useFile(name, bytes) {
  const wasm = bytes.length >= 4 && bytes[0] === 0 && bytes[1] === 0x61 && bytes[2] === 0x73 && bytes[3] === 0x6d;
  if (wasm) useModule(name, bytes);
  else useJavaScript(name, new TextDecoder().decode(bytes));
}

function taskBytes() {
  return module ?? new TextEncoder().encode(editor.value);
}

function strategy() {
  return $("strategy").value;
}

function timeoutMs() {
  const seconds = Number($("timeout").value);
  return $("timeout").value && seconds > 0 ? Math.round(seconds * 1000) : undefined;
}

function shortId(peer) {
  return peer ? `…${peer.slice(-8)}` : "–";
}

// ---- joining ------------------------------------------------------------------------

async function join() {
  const relay = await relayInfo(new URL("../", location.href));
  // The tab's key, kept across reloads: a private network's owner grants its peer id.
  const ownsKey = await ownKey("pws-coordinator-key");
  if (ownsKey) await keepLinkedGrant("coordinator");
  let key = ownsKey ? await stored("coordinator", "key") : undefined;
  if (!key) {
    key = new_key();
    if (ownsKey) await stored("coordinator", "key", key);
  }
  show("peer-id", peer_id_of(key));
  const grant = relay.network && ownsKey ? await stored("coordinator", "grant") : undefined;
  if (relay.network) {
    show("network", grant ? `private (${relay.network}), with a grant` : `private (${relay.network}): needs a grant`);
    $("grant-form").hidden = !ownsKey;
  } else {
    show("network", "open");
  }
  coordinator = await connect(relay.addr, key, relay.network ?? undefined, grant);
  show("connection", "connected", "connected");
  $("grant-form").hidden = true;
  $("run").disabled = false;
  $("start-job").disabled = false;
  // Ask the nodes there are now; later ones show as their announcements arrive.
  refreshNodes(() => coordinator.discover());
}

async function refreshNodes(list = () => coordinator.nodes()) {
  try {
    showNodes(JSON.parse(await list()));
  } catch (error) {
    fail(`the node list is unavailable: ${error.message}`);
  }
  setTimeout(refreshNodes, REGISTRY_REFRESH_MS);
}

function showNodes(nodes) {
  if (nodes.length > 0 && window.pwsTimings.firstNodeMs === null) {
    window.pwsTimings.firstNodeMs = performance.now();
  }
  const browsers = nodes.filter((node) => node.browser).length;
  $("node-count").textContent = nodes.length === 0
    ? "(none yet: open this relay's page on a device to make it a node)"
    : `(${nodes.length}: ${nodes.length - browsers} native, ${browsers} browser)`;
  $("nodes").replaceChildren(
    ...nodes.map(nodeRow),
  );
}

// ---- one task -----------------------------------------------------------------------

function describe(result) {
  return "ok" in result
    ? JSON.stringify(result.ok)
    : `${result.error.kind}: ${result.error.message}`;
}

function showOutcome(result) {
  $("outcome").hidden = false;
  show("result", describe(result), "ok" in result ? "connected" : "failed");
  show("result-node", result.node ?? "none");
  show("result-ms", `${result.ms.toFixed(1)} ms`);
  $("result-logs").hidden = !result.logs;
  $("result-logs").textContent = (result.logs ?? []).join("\n");
  const entry = document.createElement("li");
  entry.textContent = `${new Date().toLocaleTimeString()} ${taskName} → ${describe(result)}` +
    ` (${shortId(result.node)}, ${result.ms.toFixed(1)} ms)`;
  $("history").prepend(entry);
}

async function runOnce() {
  const input = $("input").value.trim() || undefined;
  $("run").disabled = true;
  $("task-progress").hidden = false;
  $("task-progress").value = 0;
  try {
    const answer = await coordinator.run(taskBytes(), input, strategy(), timeoutMs(), (fraction) => {
      $("task-progress").value = fraction;
    });
    showOutcome(JSON.parse(answer));
  } catch (error) {
    fail(error.message);
  } finally {
    $("run").disabled = false;
    $("task-progress").hidden = true;
  }
}

// ---- jobs ---------------------------------------------------------------------------

let job = null;

function startJob() {
  $("error").hidden = true;
  const byRange = document.querySelector("input[name=inputs]:checked").value === "range";
  const lines = [];
  const perNode = new Map();
  const pending = [];
  let started;
  let retriedSoFar = 0;
  let drawing = false;
  try {
    job = coordinator.map(
      taskBytes(),
      byRange ? $("range").value.trim() : undefined,
      byRange ? undefined : $("lines").value,
      strategy(),
      timeoutMs(),
      (line, running, retried, nodes) => {
        const result = JSON.parse(line);
        lines.push([result.index, line]);
        perNode.set(result.node, (perNode.get(result.node) ?? 0) + 1);
        pending.push(result);
        retriedSoFar = retried;
        show("job-counters", `${running} · ${retried} · ${nodes}`);
        if (!drawing) {
          drawing = true;
          requestAnimationFrame(() => {
            drawing = false;
            drawJob(lines.length, started, perNode, pending.splice(0));
          });
        }
      },
    );
  } catch (error) {
    fail(error.message);
    return;
  }
  $("results").replaceChildren();
  $("download").hidden = true;
  $("job-progress").max = Math.max(job.total, 1);
  $("job-progress").value = 0;
  show("job-done", `0 of ${job.total}`);
  show("job-state", "running", "connecting");
  $("start-job").hidden = true;
  $("cancel-job").hidden = false;
  started = performance.now();
  job.finished
    .then((summary) => {
      const end = JSON.parse(summary);
      const left = job.total - lines.length;
      const words = {
        complete: "complete",
        cancelled: `cancelled; ${left} tasks without a result`,
        "no-nodes": `no node was available for 10 s; ${left} tasks without a result`,
      };
      show("job-state", words[end.end], end.end === "complete" ? "connected" : "failed");
      if (end.left_out.length > 0) fail(`left out (failed repeatedly or misbehaved): ${end.left_out.join(", ")}`);
    })
    .catch((error) => {
      show("job-state", "failed", "failed");
      fail(error.message);
    })
    .finally(() => {
      drawJob(lines.length, started, perNode, pending.splice(0));
      show("job-counters", `0 · ${retriedSoFar} · 0`);
      offerDownload(lines);
      $("start-job").hidden = false;
      $("cancel-job").hidden = true;
      job = null;
    });
}

function drawJob(done, started, perNode, fresh) {
  const total = $("job-progress").max;
  $("job-progress").value = done;
  show("job-done", `${done} of ${total} (${Math.floor((100 * done) / total)}%)`);
  const seconds = (performance.now() - started) / 1000;
  show("job-rate", seconds > 0 ? (done / seconds).toFixed(1) : "–");
  $("per-node").replaceChildren(
    ...[...perNode].map(([node, count]) => {
      const row = document.createElement("tr");
      row.append(cell(node ?? "none"), cell(String(count)));
      return row;
    }),
  );
  const rows = fresh.map((result) => {
    const row = document.createElement("tr");
    const outcome = "ok" in result ? JSON.stringify(result.ok) : `${result.error.kind}: ${result.error.message}`;
    row.append(cell(String(result.index)), cell(JSON.stringify(result.input)), cell(outcome),
      cell(shortId(result.node)), cell(result.ms.toFixed(1)));
    return row;
  });
  $("results").prepend(...rows.reverse());
  while ($("results").rows.length > SHOWN_RESULTS) $("results").lastElementChild.remove();
}

// The results in input order, one JSON line each: what `pws-submit map` writes.
function offerDownload(lines) {
  if (lines.length === 0) return;
  lines.sort((a, b) => a[0] - b[0]);
  const blob = new Blob(lines.map(([, line]) => line + "\n"), { type: "application/jsonl" });
  const link = $("download");
  if (link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(blob);
  link.hidden = false;
}

// ---- wiring -------------------------------------------------------------------------

// The examples are the repository's own (`examples/`), copied beside the page.
async function loadExample(name) {
  const response = await fetch(`examples/${name}`);
  if (!response.ok) return fail(`the example ${name} is missing (${response.status})`);
  useFile(name, new Uint8Array(await response.arrayBuffer()));
}

for (const button of document.querySelectorAll("[data-example]")) {
  button.addEventListener("click", () => loadExample(button.dataset.example));
}

$("file").addEventListener("change", async () => {
  const file = $("file").files[0];
  if (file) useFile(file.name, new Uint8Array(await file.arrayBuffer()));
});

$("lines-file").addEventListener("change", async () => {
  const file = $("lines-file").files[0];
  if (!file) return;
  $("lines").value = await file.text();
  document.querySelector("input[name=inputs][value=lines]").checked = true;
});

// Code typed in the editor is the user's own task.
$("editor").addEventListener("input", () => {
  if (!module) taskName = "your task";
});

$("run").addEventListener("click", runOnce);
$("start-job").addEventListener("click", startJob);
$("cancel-job").addEventListener("click", () => {
  show("job-state", "cancelling", "connecting");
  job?.cancel();
});

$("grant-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  await stored("coordinator", "grant", $("grant").value.trim());
  location.reload();
});

await loadExample("math.js");
await init();
join().catch((error) => {
  show("connection", "failed", "failed");
  fail(error.message);
});
