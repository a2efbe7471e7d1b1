// What the pages share: the relay's address, a key (and grant) kept in IndexedDB across
// reloads by one tab at a time, and how text and nodes are shown.

// The relay gives its WebRTC-direct address as seen from this page's host, so the page
// works from any device that can load it, and the private network it introduces, if any.
export async function relayInfo(base) {
  const response = await fetch(new URL("api/relay", base));
  if (!response.ok) throw new Error(`the relay did not give its address (${response.status})`);
  return await response.json();
}

const STORES = ["node", "coordinator"];

function database() {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open("pws", 2);
    open.onupgradeneeded = () => {
      for (const name of STORES) {
        if (!open.result.objectStoreNames.contains(name)) open.result.createObjectStore(name);
      }
    };
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
}

// Read `name` from `store`, or (with a value) write it.
export async function stored(store, name, value) {
  const db = await database();
  return new Promise((resolve, reject) => {
    const objects = db.transaction(store, "readwrite").objectStore(store);
    const request = value === undefined ? objects.get(name) : objects.put(value, name);
    request.onsuccess = () => resolve(value === undefined ? request.result : value);
    request.onerror = () => reject(request.error);
  });
}

// One tab at a time uses a stored key: two tabs must never share a peer id. Others run
// with a fresh key (and no grant). A page that just reloaded waits a moment for its previous
// self to let go of the key.
export function ownKey(lock) {
  return new Promise((resolve) => {
    if (!navigator.locks) return resolve(true);
    const options = { signal: AbortSignal.timeout(5000) };
    navigator.locks
      .request(lock, options, () => {
        resolve(true);
        return new Promise(() => {});
      })
      .catch(() => resolve(false));
  });
}

// A grant given in the link (#grant=…) is kept like a pasted one.
export async function keepLinkedGrant(store) {
  if (!location.hash.startsWith("#grant=")) return;
  await stored(store, "grant", decodeURIComponent(location.hash.slice("#grant=".length)));
  history.replaceState(null, "", location.pathname + location.search);
}

// Show `text` in the element `id`, with `state` (a colour) if given.
export function show(id, text, state) {
  const element = document.getElementById(id);
  element.textContent = text;
  if (state) element.dataset.state = state;
}

export function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

// A row of a node table: peer id (or the name a private network gave it), kind, state,
// free / total slots, tasks completed, engines.
export function nodeRow(node) {
  const row = document.createElement("tr");
  row.dataset.peer = node.peer_id;
  row.append(
    cell(node.name ?? node.peer_id),
    cell(node.browser ? "browser" : "native"),
    cell(node.state),
    cell(`${node.free_slots} / ${node.total_slots}`),
    cell(String(node.completed)),
    cell(node.wasm ? `${node.engine}, ${node.wasm}` : node.engine),
  );
  return row;
}
