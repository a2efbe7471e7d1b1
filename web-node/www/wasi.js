// WASI preview 1 for a task's WebAssembly module, in a task worker. stdin is the task's
// input; stdout and stderr are kept up to their caps; clocks and random work; sleeping waits
// (busily: a worker that is not cross-origin isolated cannot block); the only argument is the
// program name "task". Files, environment and sockets do not exist: every other call fails
// with ENOSYS, and there are no preopened directories.
//
// The module was rewritten by the page (module_cap.rs): its memory has the node's limit as
// maximum, and each memory.grow calls pws.memory_grow, which notes a refused growth.

const ESUCCESS = 0;
const EBADF = 8;
// What wasmtime answers to a buffer list it cannot read; the same here.
const ENOMEM = 48;
const EINVAL = 28;
const ENOSYS = 52;
const ESPIPE = 70;
const PROGRAM_NAME = new TextEncoder().encode("task\0");
const FILETYPE_CHARACTER_DEVICE = 2;
const SUBSCRIPTION_BYTES = 48;
const EVENT_BYTES = 32;
const EVENTTYPE_CLOCK = 0;
const SUBCLOCKFLAGS_ABSTIME = 1;

class Exit {
  constructor(code) {
    this.code = code;
  }
}

/**
 * Bytes written to stdout or stderr, up to a cap; what comes past it is dropped and noted.
 * One buffer, doubled as needed, so that many small writes cost no more than one large one.
 */
class Capture {
  constructor(cap) {
    this.cap = cap;
    this.buffer = new Uint8Array(Math.min(cap, 4096));
    this.length = 0;
    this.overflowed = false;
  }

  write(bytes) {
    const room = this.cap - this.length;
    if (bytes.length > room) this.overflowed = true;
    const kept = Math.min(bytes.length, room);
    if (this.length + kept > this.buffer.length) {
      const size = Math.max(this.length + kept, 2 * this.buffer.length);
      const grown = new Uint8Array(Math.min(this.cap, size));
      grown.set(this.buffer.subarray(0, this.length));
      this.buffer = grown;
    }
    this.buffer.set(bytes.subarray(0, kept), this.length);
    this.length += kept;
  }

  bytes() {
    return this.buffer.slice(0, this.length);
  }
}

/** Nanoseconds on a WASI clock (0 realtime; 1 monotonic; 2, 3 CPU time, told as monotonic). */
function now(clock) {
  const ms = clock === 0 ? performance.timeOrigin + performance.now() : performance.now();
  return BigInt(Math.round(ms * 1e6));
}

/**
 * Run a compiled module's `_start` with `input` on stdin.
 * Returns how it stopped ({ stop: "finished" | "exited" | "stack" | "trapped", code, message }),
 * whether a memory growth was refused, and what it wrote.
 */
export function runCommand(module, { input, maxResultBytes, maxLogBytes }) {
  const stdin = new TextEncoder().encode(input ?? "");
  let stdinRead = 0;
  const output = { 1: new Capture(maxResultBytes), 2: new Capture(maxLogBytes) };
  let memory = null;
  let refused = false;
  const view = () => new DataView(memory.buffer);
  const bytes = () => new Uint8Array(memory.buffer);
  // Whether an iovec array lies inside the memory. WebAssembly's i32 arrive signed: read as
  // unsigned, as WASI means them.
  const inMemory = (iovs, count) => (iovs >>> 0) + 8 * (count >>> 0) <= memory.buffer.byteLength;
  // Each (pointer, length) of an iovec array, read one at a time: the count is the
  // module's to choose, so no list of them is ever built.
  function* iovecs(iovs, count) {
    for (let i = 0; i < count; i++) {
      yield [view().getUint32(iovs + 8 * i, true), view().getUint32(iovs + 8 * i + 4, true)];
    }
  }

  const wasi = {
    args_sizes_get(argc, size) {
      view().setUint32(argc, 1, true);
      view().setUint32(size, PROGRAM_NAME.length, true);
      return ESUCCESS;
    },
    args_get(argv, buffer) {
      view().setUint32(argv, buffer, true);
      bytes().set(PROGRAM_NAME, buffer);
      return ESUCCESS;
    },
    environ_sizes_get(count, size) {
      view().setUint32(count, 0, true);
      view().setUint32(size, 0, true);
      return ESUCCESS;
    },
    environ_get() {
      return ESUCCESS;
    },
    clock_res_get(clock, resolution) {
      if (clock > 3) return EINVAL;
      view().setBigUint64(resolution, 1000n, true);
      return ESUCCESS;
    },
    clock_time_get(clock, _precision, time) {
      if (clock > 3) return EINVAL;
      view().setBigUint64(time, now(clock), true);
      return ESUCCESS;
    },
    random_get(buffer, length) {
      // getRandomValues fills at most 64 KiB at a time.
      for (let at = 0; at < length; at += 65536) {
        crypto.getRandomValues(bytes().subarray(buffer + at, buffer + Math.min(length, at + 65536)));
      }
      return ESUCCESS;
    },
    fd_write(fd, iovs, count, written) {
      const sink = output[fd];
      if (!sink) return EBADF;
      if (!inMemory(iovs, count)) return ENOMEM;
      let total = 0;
      for (const [pointer, length] of iovecs(iovs, count)) {
        const chunk = bytes().subarray(pointer, pointer + length);
        sink.write(chunk);
        total += chunk.length;
      }
      view().setUint32(written, total, true);
      return ESUCCESS;
    },
    fd_read(fd, iovs, count, read) {
      if (fd !== 0) return EBADF;
      if (!inMemory(iovs, count)) return ENOMEM;
      let total = 0;
      for (const [pointer, length] of iovecs(iovs, count)) {
        const chunk = stdin.subarray(stdinRead, stdinRead + length);
        bytes().set(chunk, pointer);
        stdinRead += chunk.length;
        total += chunk.length;
      }
      view().setUint32(read, total, true);
      return ESUCCESS;
    },
    fd_fdstat_get(fd, stat) {
      if (fd > 2) return EBADF;
      bytes().fill(0, stat, stat + 24);
      view().setUint8(stat, FILETYPE_CHARACTER_DEVICE);
      view().setBigUint64(stat + 8, 0xffffffffn, true);
      return ESUCCESS;
    },
    fd_close(fd) {
      return fd > 2 ? EBADF : ESUCCESS;
    },
    fd_seek(fd) {
      return fd > 2 ? EBADF : ESPIPE;
    },
    fd_prestat_get() {
      return EBADF;
    },
    fd_prestat_dir_name() {
      return EBADF;
    },
    sched_yield() {
      return ESUCCESS;
    },
    poll_oneoff(subscriptions, events, count, ready) {
      return pollOneoff(view, subscriptions, events, count, ready);
    },
    proc_exit(code) {
      throw new Exit(code);
    },
  };

  const imports = {
    wasi_snapshot_preview1: {},
    pws: {
      memory_grow(pages) {
        try {
          return memory.grow(pages);
        } catch (_) {
          refused = true;
          return -1;
        }
      },
    },
  };
  for (const { module: from, name, kind } of WebAssembly.Module.imports(module)) {
    if (from === "wasi_snapshot_preview1" && kind === "function") {
      imports[from][name] = wasi[name] ?? (() => ENOSYS);
    }
  }

  let stop;
  try {
    const instance = new WebAssembly.Instance(module, imports);
    memory = instance.exports["pws:memory"] ?? instance.exports.memory;
    if (typeof instance.exports._start !== "function") {
      throw new Error("the module has no _start function (it is not a WASI command)");
    }
    instance.exports._start();
    stop = { stop: "finished" };
  } catch (error) {
    if (error instanceof Exit) {
      stop = error.code === 0 ? { stop: "finished" } : { stop: "exited", code: error.code };
    } else if (error instanceof RangeError && /call stack/i.test(error.message)) {
      stop = { stop: "stack" };
    } else {
      stop = { stop: "trapped", message: `the module trapped: ${error}` };
    }
  }
  return {
    ...stop,
    refused,
    stdout: output[1].bytes(),
    stdoutCut: output[1].overflowed,
    stderr: output[2].bytes(),
    stderrCut: output[2].overflowed,
  };
}

/**
 * poll_oneoff: descriptors (stdin, stdout, stderr) are always ready; otherwise wait for the
 * earliest clock subscription.
 */
function pollOneoff(view, subscriptions, events, count, ready) {
  const clocks = [];
  const descriptors = [];
  for (let i = 0; i < count; i++) {
    const at = subscriptions + i * SUBSCRIPTION_BYTES;
    const subscription = { userdata: view().getBigUint64(at, true), tag: view().getUint8(at + 8) };
    if (subscription.tag === EVENTTYPE_CLOCK) {
      const clock = view().getUint32(at + 16, true);
      const timeout = view().getBigUint64(at + 24, true);
      const absolute = (view().getUint16(at + 40, true) & SUBCLOCKFLAGS_ABSTIME) !== 0;
      subscription.deadline = absolute ? timeout - now(clock) + now(1) : now(1) + timeout;
      clocks.push(subscription);
    } else {
      descriptors.push(subscription);
    }
  }
  let fired = descriptors;
  if (fired.length === 0 && clocks.length > 0) {
    const deadline = clocks.reduce((min, c) => (c.deadline < min ? c.deadline : min), clocks[0].deadline);
    while (now(1) < deadline) {
      // Nothing else can run in this worker while the task sleeps.
    }
    fired = clocks.filter((c) => c.deadline <= deadline);
  }
  fired.forEach((subscription, i) => {
    const at = events + i * EVENT_BYTES;
    new Uint8Array(view().buffer, at, EVENT_BYTES).fill(0);
    view().setBigUint64(at, subscription.userdata, true);
    view().setUint8(at + 10, subscription.tag);
  });
  view().setUint32(ready, fired.length, true);
  return ESUCCESS;
}
