// A task worker: one Boa engine (wasm) running the page's tasks one at a time.
// Messages in: { maxMemory } once, then task requests as CBOR bytes.
// Messages out: { ready }, { progress }, { done: bytes } or { trapped: message, oom }.
import init, { worker_init, worker_run, worker_prepare, worker_memory_refused } from "./web_node.js";

const queued = [];
let handle = (data) => queued.push(data);
self.onmessage = (event) => handle(event.data);

await init();
handle = (data) => {
  if (data.maxMemory !== undefined) {
    worker_init(data.maxMemory);
    self.postMessage({ ready: true });
    return;
  }
  let answer;
  try {
    answer = worker_run(data, (fraction) => self.postMessage({ progress: fraction }));
  } catch (error) {
    let oom = false;
    try { oom = worker_memory_refused(); } catch (_) { /* the heap is gone too */ }
    self.postMessage({ trapped: String(error), oom });
    self.close();
    return;
  }
  self.postMessage({ done: answer }, [answer.buffer]);
  worker_prepare();
};
for (const data of queued.splice(0)) handle(data);
