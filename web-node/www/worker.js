// A task worker: one Boa engine (wasm) running the page's JavaScript tasks one at a time, and
// the browser's WebAssembly engine running its WebAssembly tasks (wasi.js), with the last few
// compiled modules kept by hash.
// Messages in: { maxMemory } once; then a JavaScript task as CBOR bytes, or a WebAssembly task
// as { wasm: { hash, input, maxResultBytes, maxLogBytes } }, followed (when asked for) by
// { module: bytes } (or { module: null }: the page could not send it; forget the task).
// Messages out: { ready }, { progress }, { done: bytes }, { trapped: message, oom },
// { needModule }, { ended: ... } (how a WebAssembly task ended) or { notCompiled: message }.
import init, { worker_init, worker_run, worker_prepare, worker_memory_refused } from "./web_node.js";
import { runCommand } from "./wasi.js";

const KEPT_MODULES = 8;
const modules = new Map();
let waitingForModule = null;

const queued = [];
let handle = (data) => queued.push(data);
self.onmessage = (event) => handle(event.data);

await init();
handle = (data) => {
  if (data.maxMemory !== undefined) {
    worker_init(data.maxMemory);
    self.postMessage({ ready: true });
  } else if (data.wasm !== undefined) {
    runWasm(data.wasm);
  } else if (data.module !== undefined) {
    const task = waitingForModule;
    waitingForModule = null;
    if (data.module !== null) compileThenRun(task, data.module);
  } else {
    runJavaScript(data);
  }
};
for (const data of queued.splice(0)) handle(data);

function runJavaScript(request) {
  let answer;
  try {
    answer = worker_run(request, (fraction) => self.postMessage({ progress: fraction }));
  } catch (error) {
    let oom = false;
    try { oom = worker_memory_refused(); } catch (_) { /* the heap is gone too */ }
    self.postMessage({ trapped: String(error), oom });
    self.close();
    return;
  }
  self.postMessage({ done: answer }, [answer.buffer]);
  worker_prepare();
}

function runWasm(task) {
  const module = modules.get(task.hash);
  if (module === undefined) {
    waitingForModule = task;
    self.postMessage({ needModule: true });
    return;
  }
  // Most recently used last: the first entry is the next to go.
  modules.delete(task.hash);
  modules.set(task.hash, module);
  const ended = runCommand(module, task);
  self.postMessage({ ended }, [ended.stdout.buffer, ended.stderr.buffer]);
}

function compileThenRun(task, bytes) {
  let module;
  try {
    module = new WebAssembly.Module(bytes);
  } catch (error) {
    self.postMessage({ notCompiled: String(error) });
    return;
  }
  modules.set(task.hash, module);
  if (modules.size > KEPT_MODULES) modules.delete(modules.keys().next().value);
  runWasm(task);
}
