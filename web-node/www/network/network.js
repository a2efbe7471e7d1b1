// The network page: what the relay knows of its nodes (api/nodes) and what it measures
// (metrics), refreshed every two seconds, with a chart of the tasks completed.
import { nodeRow } from "../shared.js";

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 2000;
const WINDOW_MS = 5 * 60 * 1000;
// [time in ms, tasks completed by the nodes known then, tasks completed in all].
const history = [];
let total = 0;
let lastByNode = new Map();

// One sample of Prometheus' text format, e.g. `pws_connections 3`; 0 when absent.
function sample(text, name) {
  const line = text.split("\n").find((line) => line.startsWith(name + " "));
  return line ? Number(line.slice(name.length + 1)) : 0;
}

// Tasks completed since the last refresh: each node's count only grows while it is known,
// so nodes that leave (or restart) take nothing away from the total.
function countCompleted(nodes) {
  const byNode = new Map(nodes.map((node) => [node.peer_id, node.completed]));
  for (const [peer, completed] of byNode) {
    total += Math.max(0, completed - (lastByNode.get(peer) ?? completed));
  }
  if (history.length === 0) total = nodes.reduce((sum, node) => sum + node.completed, 0);
  lastByNode = byNode;
  return total;
}

function showNodes(nodes) {
  const browsers = nodes.filter((node) => node.browser).length;
  $("nodes").textContent = `${nodes.length} (${nodes.length - browsers} native, ${browsers} browser)`;
  const idle = nodes.filter((node) => node.state === "idle").length;
  $("states").textContent = `${idle} / ${nodes.length - idle}`;
  const free = nodes.reduce((sum, node) => sum + node.free_slots, 0);
  const slots = nodes.reduce((sum, node) => sum + node.total_slots, 0);
  $("slots").textContent = `${free} of ${slots}`;
  $("table").replaceChildren(
    ...nodes.map(nodeRow),
  );
}

function showRate(now, completed) {
  history.push([now, completed]);
  while (history.length > 1 && now - history[0][0] > WINDOW_MS) history.shift();
  $("completed").textContent = String(completed);
  const previous = history.at(-2);
  if (previous) {
    const perSecond = (completed - previous[1]) / ((now - previous[0]) / 1000);
    $("rate").textContent = perSecond.toFixed(1);
  }
  drawChart(now);
}

function drawChart(now) {
  const canvas = $("chart");
  const context = canvas.getContext("2d");
  const { width, height } = canvas;
  context.clearRect(0, 0, width, height);
  const first = history[0][1];
  const span = Math.max(1, history.at(-1)[1] - first);
  context.strokeStyle = "#0969da";
  context.lineWidth = 2;
  context.beginPath();
  history.forEach(([time, completed], index) => {
    const x = width - ((now - time) / WINDOW_MS) * width;
    const y = height - 4 - ((completed - first) / span) * (height - 8);
    if (index === 0) context.moveTo(x, y);
    else context.lineTo(x, y);
  });
  context.stroke();
}

function showMetrics(text) {
  $("connections").textContent = String(sample(text, "pws_connections"));
  $("relayed").textContent =
    `${sample(text, "pws_relay_reservations")} / ${sample(text, "pws_relay_circuits")}`;
}

async function fetchOk(path, as) {
  const response = await fetch(path);
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return as === "json" ? response.json() : response.text();
}

async function refresh() {
  try {
    const [nodes, metrics] = await Promise.all([
      fetchOk("../api/nodes", "json"),
      fetchOk("../metrics", "text"),
    ]);
    showNodes(nodes);
    showMetrics(metrics);
    showRate(Date.now(), countCompleted(nodes));
    $("error").hidden = true;
  } catch (error) {
    $("error").hidden = false;
    $("error").textContent = `Cannot reach the relay: ${error.message}`;
  }
}

refresh();
setInterval(refresh, REFRESH_MS);
