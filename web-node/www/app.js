// The web-node page: starts a PWS node in this tab and shows what it does.
import init, { start, NodeOptions } from "./web_node.js";
import { keepLinkedGrant, ownKey, relayInfo, show, stored } from "./shared.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
let node = null;
let wakeLock = null;

function fail(message) {
  $("error").hidden = false;
  $("error").textContent = message;
  show("connection", "failed", "failed");
}

const ownsKey = await ownKey("pws-node-key");
if (ownsKey) await keepLinkedGrant("node");

function onEvent(json) {
  const event = JSON.parse(json);
  switch (event.event) {
    case "relay":
      show("connection", event.connected ? "connected to the relay" : "reconnecting", "connecting");
      break;
    case "registered":
      show("connection", "connected", "connected");
      break;
    case "status":
      show("state", `${event.state} (${event.total_slots - event.free_slots}/${event.total_slots} slots busy)`);
      show("completed", String(event.completed));
      break;
    case "finished": {
      const ms = event.ms.toFixed(1);
      show("last-task", event.error ? `${event.error} after ${ms} ms` : `ok in ${ms} ms`);
      break;
    }
    case "stopped":
      node = null;
      show("connection", "stopped", "stopped");
      show("state", "–");
      $("switch").textContent = "Start";
      if (event.error) fail(event.error);
      releaseWakeLock();
      break;
  }
}

async function startNode() {
  $("error").hidden = true;
  show("connection", "connecting", "connecting");
  const relay = await relayInfo(location.href);
  const options = new NodeOptions(relay.addr, new URL("worker.js", import.meta.url).href);
  // A private network's grant names the tab's key: keep it. In the open network each start
  // is a new node.
  const keeps = ownsKey && Boolean(relay.network);
  const key = keeps ? await stored("node", "key") : undefined;
  if (key) options.key = key;
  const grant = keeps ? await stored("node", "grant") : undefined;
  if (relay.network) {
    options.network = relay.network;
    if (grant) options.grant = grant;
    show("network", grant ? `private (${relay.network}), with a grant` : `private (${relay.network}): needs a grant`);
    $("grant-form").hidden = !ownsKey;
  } else {
    show("network", "open");
  }
  // A page someone else linked to must not ask for more than this device has.
  const cores = navigator.hardwareConcurrency || 1;
  if (params.has("slots")) options.slots = Math.min(Math.max(1, Math.floor(Number(params.get("slots"))) || 1), cores);
  // Memory per task in MiB: less than the default if asked, never more.
  if (params.has("memory")) options.max_memory_mib = Math.min(Math.max(16, Math.floor(Number(params.get("memory"))) || 256), 256);
  node = start(options, onEvent);
  if (keeps && !key) await stored("node", "key", node.key);
  show("peer-id", node.peer_id);
  $("switch").textContent = "Stop";
  await keepScreenOn();
}

// A phone left on a charger keeps serving only while its screen is on.
async function keepScreenOn() {
  if (!("wakeLock" in navigator)) {
    show("wake-lock", window.isSecureContext
      ? "this browser cannot keep the screen on; keep it on yourself"
      : "cannot keep the screen on over plain http (needs https or localhost); keep it on yourself");
    return;
  }
  try {
    wakeLock = await navigator.wakeLock.request("screen");
    show("wake-lock", "kept on while this tab is in front");
    wakeLock.addEventListener("release", () => { wakeLock = null; });
  } catch (error) {
    show("wake-lock", `cannot keep the screen on (${error.message}); keep it on yourself`);
  }
}

function releaseWakeLock() {
  if (wakeLock) wakeLock.release();
  wakeLock = null;
}

// The browser drops the wake lock when the tab is hidden; take it again on return.
document.addEventListener("visibilitychange", () => {
  if (node && !wakeLock && document.visibilityState === "visible") keepScreenOn();
});

// A pasted grant is kept, and the page starts again with it (a fresh page, so that no
// connection of the refused node lingers).
$("grant-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  await stored("node", "grant", $("grant").value.trim());
  location.reload();
});

$("switch").addEventListener("click", async () => {
  if (node) {
    $("switch").textContent = "Stopping…";
    node.stop();
  } else {
    startNode().catch((error) => fail(error.message));
  }
});

await init();
startNode().catch((error) => fail(error.message));
