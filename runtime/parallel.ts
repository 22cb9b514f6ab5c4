/**
 * `adgen/parallel`: one minibatch's gradient over several worker threads.
 *
 * A generated entry written for any batch size (`loss<N extends number>(x: Tensor<[N, ...]>,
 * labels: Tensor<[N]>, ...)`) takes a shard of the batch as it takes the whole batch: a
 * subarray. A pool of W workers (Node `worker_threads` or browser module Web Workers) each
 * imports the generated module; a step copies the tensors into shared memory (or uses them
 * in place when they already live in a `SharedArrayBuffer`), each worker calls the entry's
 * `GradInto` on its rows of the batch and writes into its own shared gradient buffers, and
 * the calling thread combines them: weighted by shard size / N for a loss that is a mean
 * over the batch (`reduction: "mean"`), summed for a sum (`reduction: "sum"`).
 *
 * Main side: {@link createGradPool}. Worker side: {@link serveGradients} (the pool's
 * built-in worker calls it for you when you give it the module's URL). The generated module
 * itself imports nothing and is not changed. docs/parallel.md has the whole story.
 *
 * This file imports nothing statically: Node's modules are imported dynamically, only
 * where there is no `Worker` global (Node), so the file bundles for browsers as is.
 */

// ---------------------------------------------------------------------------------------
// Types

/** The exports of a generated module that the pool uses (for entry `loss`: `lossGradInto`, `lossShapes`). */
export type GeneratedModule = Readonly<Record<string, unknown>>;

/** A tensor argument or gradient: a generated module's float64 or float32 tensors. */
export type FloatArray = Float64Array<ArrayBufferLike> | Float32Array<ArrayBufferLike>;

/** The part of a worker (Node's `Worker` or a browser's `Worker`) the pool talks to. */
export interface WorkerLike {
  postMessage(message: unknown): void;
  terminate(): unknown;
}

export interface GradPoolOptions {
  /**
   * The entry point's name as in the DSL file (`"loss"`: the pool calls `lossGradInto` and
   * reads `lossShapes`).
   */
  entry: string;
  /** How many workers (an integer from 1 to 256). */
  workers: number;
  /**
   * How shard results combine into the batch's: `"mean"` for a loss that is a mean over
   * the batch (`crossEntropy`, `mseLoss`, `mean(...)`: each shard's value and gradients are
   * weighted by its size / N), `"sum"` for a sum over the batch (added as they are).
   * There is no default: the pool cannot tell which your loss is.
   */
  reduction: "mean" | "sum";
  /**
   * The generated module, as a URL (or, in Node, a file path) of JavaScript a worker can
   * import: the pool's own worker script imports it. Give this or `worker`, not both.
   */
  module?: string | URL;
  /**
   * Starts one worker whose script calls {@link serveGradients} with the generated module:
   * for bundlers, which follow `new Worker(new URL("./grad.worker.ts", import.meta.url),
   * { type: "module" })` only when it is written out in your code.
   */
  worker?: () => WorkerLike | Promise<WorkerLike>;
  /**
   * How the threads tell each other a shard is ready or done: `"atomics"` (`Atomics.wait`/
   * `notify` on shared memory; the workers block between steps) or `"message"`
   * (`postMessage`). The default is `"atomics"` where `Atomics.waitAsync` exists (which
   * `gradInto` needs for it), else `"message"`.
   */
  signal?: "atomics" | "message";
  /**
   * The generated module itself, imported in the calling thread: the calling thread then
   * computes one shard too (of W + 1), on your own arrays, while the workers compute theirs.
   * With as many workers as cores less one, no core waits for the others to hand over work.
   * In a browser this blocks the page's thread for the shard's time.
   */
  local?: GeneratedModule;
  /**
   * The name of the batch size in the entry's shapes (`"N"` for `x: Tensor<[N, 784]>`).
   * By default the one size name that leads a parameter's shape; give it when several do.
   */
  batch?: string;
}

/** A pool of workers computing one entry's gradient on shards of a batch. */
export interface GradPool<F extends (...args: any[]) => number = (...args: any[]) => number> {
  /** The number of workers. */
  readonly workers: number;
  /** The entry's parameter shapes (its `<entry>Shapes`), as the workers read them. */
  readonly shapes: Readonly<Record<string, readonly (number | string)[]>>;
  /** The parameters split along the batch, in order (`["x", "labels"]`). */
  readonly sharded: readonly string[];
  /** How the threads signal (options.signal, or the default chosen here). */
  readonly signal: "atomics" | "message";
  /**
   * The entry's `GradInto` over the pool: the same arguments (the gradient buffers last),
   * the same value and gradients up to the order of summation. Resolves when `grads` holds
   * the batch's gradients. One call at a time: await it before the next.
   */
  gradInto(...args: Parameters<F>): Promise<number>;
  /**
   * The same, blocking the calling thread until the workers are done (`Atomics.wait`): for
   * Node's main thread and for workers, with `signal: "atomics"`. A browser's main thread
   * cannot block: use `gradInto` there.
   */
  gradIntoSync(...args: Parameters<F>): number;
  /** Stops the workers. The pool cannot be used afterwards. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------
// Shared layout

// the control words of a worker (Int32Array on a SharedArrayBuffer)
const SEQ = 0; // bumped by the main thread: a command is waiting
const DONE = 1; // set by the worker to the SEQ it has finished
const GEN = 2; // the bindings generation the command needs
const CMD = 3; // RUN or STOP
const START = 4; // first row of the shard
const COUNT = 5; // rows of the shard
const STATUS = 6; // 0 ok, 1 error (name and message in the error bytes)
const ERRLEN = 7;
const CONTROL_WORDS = 8;
const RUN = 1;
const STOP = 2;
const ERROR_BYTES = 4096;

/** Where a worker finds one argument of the entry, or one gradient. */
type Binding =
  | { readonly kind: "number"; readonly slot: number }
  | {
      readonly kind: "tensor";
      readonly f32: boolean;
      readonly buffer: SharedArrayBuffer;
      readonly byteOffset: number;
      /** Sharded: elements per row of the batch (the view is rows [start, start + count)); else -1. */
      readonly row: number;
      /** Not sharded: the length of the view. */
      readonly length: number;
    };

interface GradBinding {
  readonly key: string;
  readonly binding: Binding;
}

/** Messages to a worker. */
type ToWorker =
  | {
      readonly t: "init";
      readonly entry: string;
      readonly module?: string;
      readonly signal: "atomics" | "message";
      readonly control: SharedArrayBuffer;
      readonly errors: SharedArrayBuffer;
    }
  | {
      readonly t: "bind";
      readonly gen: number;
      readonly args: readonly Binding[];
      readonly grads: readonly GradBinding[];
      /** Number arguments (read) and, after them, this worker's value and number gradients (written). */
      readonly scalars: SharedArrayBuffer;
      readonly out: SharedArrayBuffer;
    }
  | { readonly t: "run" }
  | { readonly t: "stop" };

/** Messages from a worker. */
type FromWorker =
  | { readonly t: "ready"; readonly shapes: Record<string, readonly (number | string)[]> }
  | { readonly t: "init-error"; readonly name: string; readonly message: string }
  | { readonly t: "done" };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function writeError(control: Int32Array<ArrayBufferLike>, bytes: Uint8Array<ArrayBufferLike>, e: unknown): void {
  const err = e instanceof Error ? e : new Error(String(e));
  const text = encoder.encode(`${err.name}\n${err.message}`);
  const n = Math.min(text.length, bytes.length);
  bytes.set(text.subarray(0, n));
  control[ERRLEN] = n;
  control[STATUS] = 1;
}

const ERRORS: Record<string, new (message: string) => Error> = { RangeError, TypeError, Error };

function readError(control: Int32Array<ArrayBufferLike>, bytes: Uint8Array<ArrayBufferLike>, worker: number): Error {
  // TextDecoder does not decode views on shared memory: copy first
  const text = decoder.decode(bytes.slice(0, control[ERRLEN]!));
  const cut = text.indexOf("\n");
  const name = text.slice(0, cut);
  const Kind = ERRORS[name] ?? Error;
  return new Kind(`${text.slice(cut + 1)} (in worker ${worker})`);
}

const isShared = (a: FloatArray): boolean =>
  typeof SharedArrayBuffer !== "undefined" && a.buffer instanceof SharedArrayBuffer;

/** A float view on shared memory (`length` elements from `byteOffset`). */
const floats = (f32: boolean, buffer: SharedArrayBuffer, byteOffset: number, length: number): FloatArray =>
  f32 ? new Float32Array(buffer, byteOffset, length) : new Float64Array(buffer, byteOffset, length);

/** A fresh zeroed float array of `length` elements on its own shared memory. */
const sharedFloats = (f32: boolean, length: number): FloatArray =>
  floats(f32, new SharedArrayBuffer(Math.max(1, length) * (f32 ? 4 : 8)), 0, length);

function view(b: Binding & { kind: "tensor" }, start: number, count: number): FloatArray {
  return b.row >= 0
    ? floats(b.f32, b.buffer, b.byteOffset + start * b.row * (b.f32 ? 4 : 8), count * b.row)
    : floats(b.f32, b.buffer, b.byteOffset, b.length);
}

const sameBinding = (a: Binding | undefined, b: Binding): boolean =>
  a !== undefined && a.kind === b.kind &&
  (a.kind === "number" ||
    (b.kind === "tensor" && a.f32 === b.f32 && a.buffer === b.buffer && a.byteOffset === b.byteOffset && a.row === b.row && a.length === b.length));

// ---------------------------------------------------------------------------------------
// Environment

/** Node's worker_threads, or undefined where there is a Worker global (browsers, Deno). */
async function nodeWorkers(): Promise<typeof import("node:worker_threads") | undefined> {
  if (typeof (globalThis as { Worker?: unknown }).Worker === "function") return undefined;
  return (await import(/* @vite-ignore */ /* webpackIgnore: true */ "node:worker_threads")) as typeof import("node:worker_threads");
}

/** Listens to a worker of either kind: its messages, and its failure (an error, or its thread exiting). */
function listen(w: WorkerLike, onMessage: (m: FromWorker) => void, onError: (e: unknown) => void): void {
  const any = w as unknown as {
    on?: (ev: string, f: (x: unknown) => void) => void;
    addEventListener?: (ev: string, f: (x: unknown) => void) => void;
  };
  if (typeof any.on === "function") {
    // Node
    any.on("message", (m) => onMessage(m as FromWorker));
    any.on("error", onError);
    any.on("exit", (code) => onError(new Error(`the worker exited (code ${String(code)})`)));
  } else if (typeof any.addEventListener === "function") {
    any.addEventListener("message", (ev) => onMessage((ev as { data: FromWorker }).data));
    any.addEventListener("error", (ev) => {
      const e = ev as { message?: string; preventDefault?: () => void };
      e.preventDefault?.();
      onError(new Error(`the worker failed: ${e.message ?? "an error while loading or running its script"}`));
    });
    any.addEventListener("messageerror", () => onError(new Error("a message from the worker could not be read")));
  } else {
    throw new TypeError("createGradPool: options.worker must return a Worker (Node's worker_threads Worker or a Web Worker)");
  }
}

let blocking: boolean | undefined;
/** May this thread block in Atomics.wait? (Not a browser page's main thread.) */
function canBlock(): boolean {
  if (blocking === undefined) {
    try {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
      blocking = true;
    } catch {
      blocking = false;
    }
  }
  return blocking;
}

type WaitAsync = (a: Int32Array<ArrayBufferLike>, index: number, value: number) => { async: boolean; value: Promise<string> | string };
const waitAsync: WaitAsync | undefined = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;

// ---------------------------------------------------------------------------------------
// Main side

/**
 * Starts a pool of `options.workers` workers for entry `options.entry` of a generated
 * module and resolves when every worker has loaded it. Throws a RangeError for bad
 * options, and rejects when a worker cannot load the module or the module has no
 * `<entry>GradInto` written for any batch size.
 *
 * ```ts
 * const pool = await createGradPool<typeof lossGradInto>({
 *   module: new URL("./model.grad.js", import.meta.url), entry: "loss", workers: 2, reduction: "mean",
 * });
 * const value = await pool.gradInto(x, labels, w1, b1, w2, b2, grads); // as lossGradInto
 * await pool.close();
 * ```
 */
export async function createGradPool<F extends (...args: any[]) => number = (...args: any[]) => number>(
  options: GradPoolOptions,
): Promise<GradPool<F>> {
  const o = options as Partial<GradPoolOptions> | undefined;
  if (o === null || typeof o !== "object") throw new TypeError("createGradPool: options must be an object");
  const W = o.workers as number;
  if (typeof W !== "number" || !Number.isInteger(W) || W < 1 || W > 256) {
    throw new RangeError(`createGradPool: workers must be an integer from 1 to 256, got ${String(W)}`);
  }
  if (typeof o.entry !== "string" || o.entry === "") {
    throw new RangeError(`createGradPool: entry must be the entry point's name (as "loss" for lossGradInto), got ${String(o.entry)}`);
  }
  if (o.reduction !== "mean" && o.reduction !== "sum") {
    throw new RangeError(
      `createGradPool: reduction must be "mean" (a loss that is a mean over the batch: shards weighted by size / N) or "sum" (shards added), got ${String(o.reduction)}`,
    );
  }
  const signal = o.signal ?? (waitAsync !== undefined ? "atomics" : "message");
  if (signal !== "atomics" && signal !== "message") {
    throw new RangeError(`createGradPool: signal must be "atomics" or "message", got ${String(o.signal)}`);
  }
  if ((o.module === undefined) === (o.worker === undefined)) {
    throw new RangeError("createGradPool: give either module (the generated module's URL) or worker (a function starting a worker that calls serveGradients), and only one");
  }
  if (o.worker !== undefined && typeof o.worker !== "function") {
    throw new RangeError("createGradPool: worker must be a function that returns a new Worker");
  }
  if (typeof SharedArrayBuffer === "undefined") {
    throw new Error(
      "createGradPool: SharedArrayBuffer is not available. In a browser the page must be cross-origin isolated (served with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)",
    );
  }
  const entry = o.entry;
  const reduction = o.reduction;
  let localGradInto: ((...a: unknown[]) => number) | undefined;
  if (o.local !== undefined) {
    const f = o.local === null || typeof o.local !== "object" ? undefined : o.local[`${entry}GradInto`];
    if (typeof f !== "function") throw new RangeError(`createGradPool: local must be the generated module (import * as model from "./model.grad.js"), with ${entry}GradInto`);
    localGradInto = f as (...a: unknown[]) => number;
  }
  const node = await nodeWorkers();

  // the module's URL, for the built-in worker
  let moduleUrl: string | undefined;
  if (o.module !== undefined) {
    const m = o.module;
    if (m instanceof URL) moduleUrl = m.href;
    else if (typeof m === "string" && /^[a-z][a-z0-9+.-]+:/i.test(m) && !/^[a-z]:[\\/]/i.test(m)) moduleUrl = m;
    else if (typeof m === "string" && node !== undefined) {
      const { pathToFileURL } = (await import(/* @vite-ignore */ /* webpackIgnore: true */ "node:url")) as typeof import("node:url");
      const { resolve } = (await import(/* @vite-ignore */ /* webpackIgnore: true */ "node:path")) as typeof import("node:path");
      moduleUrl = pathToFileURL(resolve(m)).href;
    } else {
      throw new RangeError(`createGradPool: module must be a URL${node !== undefined ? " or a file path" : ""}, got ${String(m)}`);
    }
  }
  const builtIn = new URL("./parallelWorker.js", import.meta.url);
  const start = async (): Promise<WorkerLike> => {
    if (o.worker !== undefined) return await o.worker();
    if (node !== undefined) return new node.Worker(builtIn) as unknown as WorkerLike;
    const WebWorker = (globalThis as unknown as { Worker: new (url: URL, o: { type: "module" }) => WorkerLike }).Worker;
    return new WebWorker(builtIn, { type: "module" });
  };

  interface Slot {
    readonly w: WorkerLike;
    readonly control: Int32Array<ArrayBufferLike>;
    readonly errors: Uint8Array<ArrayBufferLike>;
    /** This worker's value and number gradients (after the number arguments). */
    out: Float64Array<ArrayBufferLike>;
    /** Its gradient buffers: key to shared array (the sharded gradients are the pool's). */
    grads: Map<string, FloatArray>;
    /** Waiting for a message: resolve, reject. */
    waiting?: { resolve: () => void; reject: (e: unknown) => void };
    failed?: unknown;
  }
  const slots: Slot[] = [];
  /** Set by close() and by a failed start: workers exiting then are no error. */
  let stopping = false;
  let shapes: Record<string, readonly (number | string)[]> | undefined;
  const stopAll = async () => {
    stopping = true;
    await Promise.all(slots.map(async (s) => {
      try {
        await s.w.terminate();
      } catch {
        // already gone
      }
    }));
  };
  const unref = (s: Slot, on: boolean) => {
    const w = s.w as unknown as { ref?: () => void; unref?: () => void };
    if (on) w.ref?.();
    else w.unref?.();
  };

  try {
    const ready: Promise<void>[] = [];
    for (let k = 0; k < W; k++) {
      const w = await start();
      const slot: Slot = {
        w,
        control: new Int32Array(new SharedArrayBuffer(CONTROL_WORDS * 4)),
        errors: new Uint8Array(new SharedArrayBuffer(ERROR_BYTES)),
        out: new Float64Array(0),
        grads: new Map(),
      };
      slots.push(slot);
      ready.push(new Promise<void>((resolve, reject) => {
        slot.waiting = { resolve, reject };
        listen(w, (m) => {
          const waiting = slot.waiting;
          slot.waiting = undefined;
          if (m.t === "ready") {
            shapes ??= m.shapes;
            waiting?.resolve();
          } else if (m.t === "init-error") {
            const Kind = ERRORS[m.name] ?? Error;
            waiting?.reject(new Kind(m.message));
          } else {
            waiting?.resolve();
          }
        }, (e) => {
          if (stopping) return;
          slot.failed ??= e;
          // a step waiting on this worker's DONE word (gradInto) wakes up to the error
          writeError(slot.control, slot.errors, new Error(`${entry}GradInto (parallel): ${e instanceof Error ? e.message : String(e)}`));
          Atomics.store(slot.control, DONE, Atomics.load(slot.control, SEQ));
          Atomics.notify(slot.control, DONE);
          const waiting = slot.waiting;
          slot.waiting = undefined;
          waiting?.reject(e);
        });
      }));
      const init: ToWorker = { t: "init", entry, signal, ...(moduleUrl !== undefined ? { module: moduleUrl } : {}), control: slot.control.buffer as SharedArrayBuffer, errors: slot.errors.buffer as SharedArrayBuffer };
      w.postMessage(init);
    }
    await Promise.all(ready);
  } catch (e) {
    await stopAll();
    throw e;
  }
  for (const s of slots) unref(s, false);

  // which parameters split along the batch
  const names = Object.keys(shapes!);
  const leading = new Set(names.map((n) => shapes![n]![0]).filter((d): d is string => typeof d === "string"));
  let batchName = o.batch;
  if (batchName === undefined) {
    if (leading.size !== 1) {
      await stopAll();
      throw new Error(
        leading.size === 0
          ? `createGradPool: no parameter of ${entry} has a batch size known only at run time as its first dimension (shapes ${JSON.stringify(shapes)}): write the entry for any batch size (${entry}<N extends number>(x: Tensor<[N, ...]>, ...)) to split its batch`
          : `createGradPool: several size names lead ${entry}'s parameter shapes (${[...leading].join(", ")}): say which is the batch with options.batch`,
      );
    }
    batchName = [...leading][0]!;
  } else if (!leading.has(batchName)) {
    await stopAll();
    throw new RangeError(`createGradPool: batch ${JSON.stringify(batchName)} is not the first dimension of any parameter of ${entry} (shapes ${JSON.stringify(shapes)})`);
  }
  const sharded = names.filter((n) => shapes![n]![0] === batchName);
  for (const n of names) {
    const at = shapes![n]!.indexOf(batchName, sharded.includes(n) ? 1 : 0);
    if (at >= 0) {
      await stopAll();
      throw new Error(`createGradPool: ${entry}'s parameter ${n} has shape [${shapes![n]!.join(", ")}], with the batch size ${batchName} at dimension ${at}: only the first dimension can be split`);
    }
  }
  /** Elements per row of each sharded parameter when its other dimensions are all numbers, else -1. */
  const fixedRow = sharded.map((n) => {
    const rest = shapes![n]!.slice(1);
    return rest.every((d) => typeof d === "number") ? (rest as number[]).reduce((a, b) => a * b, 1) : -1;
  });
  const shardedIndex = new Map(sharded.map((n, i) => [n, i]));
  const fn = `${entry}GradInto`;

  // state of the bindings the workers hold
  let gen = 0;
  let boundArgs: Binding[] = [];
  let boundGrads: GradBinding[] = [];
  let scalars: Float64Array<ArrayBufferLike> = new Float64Array(0);
  const staging: (FloatArray | undefined)[] = names.map(() => undefined);
  const shardedGrads = new Map<string, FloatArray>();
  let busy = false;
  let closed = false;

  const stage = (i: number, a: FloatArray): FloatArray => {
    if (isShared(a)) return a;
    const f32 = a instanceof Float32Array;
    let s = staging[i];
    if (s === undefined || s.length < a.length || (s instanceof Float32Array) !== f32) s = staging[i] = sharedFloats(f32, a.length);
    const v = s.length === a.length ? s : s.subarray(0, a.length);
    v.set(a);
    return v;
  };
  const sharedLike = (a: FloatArray, length: number): FloatArray => sharedFloats(a instanceof Float32Array, length);
  const tensorBinding = (a: FloatArray, row: number): Binding => ({
    kind: "tensor", f32: a instanceof Float32Array, buffer: a.buffer as SharedArrayBuffer, byteOffset: a.byteOffset, row, length: row >= 0 ? -1 : a.length,
  });

  /** Checks the arguments, copies them into shared memory and (re)binds; returns N and the workers' shards. */
  function prepare(all: unknown[]): { N: number; shards: { start: number; count: number }[]; rows: number[]; keys: string[]; grads: Record<string, FloatArray | number> } {
    if (closed) throw new Error(`${fn} (parallel): the pool is closed`);
    if (busy) throw new Error(`${fn} (parallel): a call is still running; await it before the next (the pool is not reentrant)`);
    if (all.length !== names.length + 1) {
      throw new RangeError(`${fn} (parallel): expected ${names.length + 1} arguments (${names.join(", ")}, grads), got ${all.length}`);
    }
    const grads = all[names.length] as Record<string, FloatArray | number>;
    if (grads === null || typeof grads !== "object") throw new TypeError(`${fn} (parallel): grads must be an object of gradient buffers`);
    // the batch size
    let N = -1;
    for (let j = 0; j < sharded.length; j++) {
      const a = all[names.indexOf(sharded[j]!)];
      if (!(a instanceof Float64Array || a instanceof Float32Array)) {
        throw new TypeError(`${fn} (parallel): ${sharded[j]} must be a Float64Array or Float32Array`);
      }
      const row = fixedRow[j]!;
      if (row < 0) continue;
      const n = row === 0 ? 0 : a.length / row;
      if (N < 0) {
        if (!Number.isInteger(n)) {
          throw new RangeError(`${fn} (parallel): ${sharded[j]} has ${a.length} elements, which is not ${batchName}*${row} for an integer ${batchName} (shape [${shapes![sharded[j]!]!.join(", ")}])`);
        }
        N = n;
      } else if (a.length !== N * row) {
        throw new RangeError(`${fn} (parallel): ${sharded[j]} has ${a.length} elements, but its shape [${shapes![sharded[j]!]!.join(", ")}] needs ${N * row} (${batchName} = ${N})`);
      }
    }
    if (N < 0) throw new Error(`${fn} (parallel): the batch size cannot be read off any of ${sharded.join(", ")} (each has another size known only at run time)`);
    const rows = sharded.map((n, j) => {
      if (fixedRow[j]! >= 0) return fixedRow[j]!;
      const len = (all[names.indexOf(n)] as FloatArray).length;
      const r = N === 0 ? 0 : len / N;
      if (!Number.isInteger(r)) throw new RangeError(`${fn} (parallel): ${n} has ${len} elements, which is not a multiple of ${batchName} = ${N}`);
      return r;
    });
    // the arguments
    const args: Binding[] = [];
    const numbers: number[] = [];
    for (let i = 0; i < names.length; i++) {
      const a = all[i];
      const j = shardedIndex.get(names[i]!);
      if (typeof a === "number") {
        if (j !== undefined) throw new TypeError(`${fn} (parallel): ${names[i]} must be a Float64Array or Float32Array`);
        args.push({ kind: "number", slot: numbers.length });
        numbers.push(a);
      } else if (a instanceof Float64Array || a instanceof Float32Array) {
        args.push(tensorBinding(stage(i, a), j === undefined ? -1 : rows[j]!));
      } else {
        throw new TypeError(`${fn} (parallel): ${names[i]} must be a number, a Float64Array or a Float32Array, got ${a === null ? "null" : typeof a}`);
      }
    }
    // the gradients: per worker for the others, one shared buffer for the sharded (rows)
    const keys = Object.keys(grads);
    let rebind = args.length !== boundArgs.length || args.some((b, i) => !sameBinding(boundArgs[i], b)) || keys.length !== boundGrads.length;
    const gradBindings: GradBinding[][] = slots.map(() => []);
    let numberGrads = 0;
    for (let q = 0; q < keys.length; q++) {
      const key = keys[q]!;
      const g = grads[key];
      const j = shardedIndex.get(key);
      if (typeof g === "number") {
        const b: Binding = { kind: "number", slot: 1 + numberGrads++ };
        for (const list of gradBindings) list.push({ key, binding: b });
      } else if (g instanceof Float64Array || g instanceof Float32Array) {
        if (j !== undefined) {
          let s = shardedGrads.get(key);
          if (s === undefined || s.length !== g.length || (s instanceof Float32Array) !== (g instanceof Float32Array)) {
            s = sharedLike(g, g.length);
            shardedGrads.set(key, s);
          }
          if (g.length !== N * rows[j]!) {
            throw new RangeError(`${fn} (parallel): grads.${key} has ${g.length} elements, but its shape [${shapes![key]!.join(", ")}] needs ${N * rows[j]!} (${batchName} = ${N})`);
          }
          const b = tensorBinding(s, rows[j]!);
          for (const list of gradBindings) list.push({ key, binding: b });
        } else {
          slots.forEach((slot, k) => {
            let s = slot.grads.get(key);
            if (s === undefined || s.length !== g.length || (s instanceof Float32Array) !== (g instanceof Float32Array)) {
              s = sharedLike(g, g.length);
              slot.grads.set(key, s);
            }
            gradBindings[k]!.push({ key, binding: tensorBinding(s, -1) });
          });
        }
      } else {
        throw new TypeError(`${fn} (parallel): grads.${key} must be a number, a Float64Array or a Float32Array`);
      }
      const was = boundGrads[q];
      const now = gradBindings[0]![q]!;
      if (was === undefined || was.key !== key || !sameBinding(was.binding, now.binding)) rebind = true;
    }
    for (const slot of slots) for (const key of [...slot.grads.keys()]) if (!(key in grads) || shardedIndex.has(key)) slot.grads.delete(key);
    if (rebind || scalars.length !== numbers.length || slots[0]!.out.length !== 1 + numberGrads) {
      gen++;
      scalars = new Float64Array(new SharedArrayBuffer(Math.max(1, numbers.length) * 8), 0, numbers.length);
      slots.forEach((slot, k) => {
        slot.out = new Float64Array(new SharedArrayBuffer((1 + numberGrads) * 8));
        const msg: ToWorker = { t: "bind", gen, args, grads: gradBindings[k]!, scalars: scalars.buffer as SharedArrayBuffer, out: slot.out.buffer as SharedArrayBuffer };
        slot.w.postMessage(msg);
      });
      boundArgs = args;
      boundGrads = gradBindings[0]!;
    }
    scalars.set(numbers);
    // the shards: as even as can be, the larger first; empty ones are skipped (a batch of 0
    // goes to the first worker, so that the value is the entry's own for an empty batch)
    const shards: { start: number; count: number }[] = [];
    const parts = W + (localGradInto !== undefined ? 1 : 0);
    const base = Math.floor(N / parts);
    const extra = N % parts;
    let at = 0;
    for (let k = 0; k < parts; k++) {
      const count = base + (k < extra ? 1 : 0);
      shards.push({ start: at, count });
      at += count;
    }
    return { N, shards, rows, keys, grads };
  }

  function dispatch(shards: { start: number; count: number }[], N: number): number[] {
    const active: number[] = [];
    for (let k = 0; k < W; k++) if (shards[k]!.count > 0 || (N === 0 && k === 0)) active.push(k);
    // every worker of the step alive, or none is asked
    for (const k of active) if (slots[k]!.failed !== undefined) throw new Error(`${fn} (parallel): worker ${k} has failed: ${String(slots[k]!.failed)}`);
    for (const k of active) {
      const slot = slots[k]!;
      const c = slot.control;
      c[GEN] = gen;
      c[CMD] = RUN;
      c[START] = shards[k]!.start;
      c[COUNT] = shards[k]!.count;
      c[STATUS] = 0;
      if (signal === "atomics") {
        Atomics.add(c, SEQ, 1);
        Atomics.notify(c, SEQ);
      } else {
        slot.w.postMessage({ t: "run" } satisfies ToWorker);
      }
    }
    return active;
  }

  /** One shard's results: a worker's (shared buffers) or this thread's own. */
  interface Source {
    readonly shard: { start: number; count: number };
    readonly value: number;
    /** A number gradient by its slot (1, 2, ... in the order of the grads' keys). */
    number(slot: number): number;
    /** A gradient of a parameter that is not split. */
    tensor(key: string): FloatArray;
  }

  const workerSource = (k: number, shard: { start: number; count: number }): Source => {
    const slot = slots[k]!;
    if (slot.control[STATUS] !== 0) throw readError(slot.control, slot.errors, k);
    return { shard, value: slot.out[0]!, number: (q) => slot.out[q]!, tensor: (key) => slot.grads.get(key)! };
  };

  function combine(sources: Source[], N: number, keys: string[], grads: Record<string, FloatArray | number>): number {
    const weight = sources.map((src) => (reduction === "sum" || N === 0 ? 1 : src.shard.count / N));
    let value = 0;
    for (let a = 0; a < sources.length; a++) value += weight[a]! * sources[a]!.value;
    let numberSlot = 1;
    for (const key of keys) {
      const g = grads[key]!;
      if (typeof g === "number") {
        let sum = 0;
        for (let a = 0; a < sources.length; a++) sum += weight[a]! * sources[a]!.number(numberSlot);
        grads[key] = sum;
        numberSlot++;
        continue;
      }
      const s = shardedGrads.get(key);
      if (s !== undefined) {
        // rows of the sharded parameter: each shard's, times its weight
        const row = N === 0 ? 0 : g.length / N;
        for (let a = 0; a < sources.length; a++) {
          const { start: s0, count } = sources[a]!.shard;
          const w = weight[a]!;
          for (let i = s0 * row, end = (s0 + count) * row; i < end; i++) g[i] = w * s[i]!;
        }
        if (sources.length === 0) g.fill(0);
        continue;
      }
      const n = g.length;
      if (sources.length === 1) {
        const s0 = sources[0]!.tensor(key);
        const w0 = weight[0]!;
        if (w0 === 1) g.set(s0);
        else for (let i = 0; i < n; i++) g[i] = w0 * s0[i]!;
      } else if (sources.length === 2) {
        const s0 = sources[0]!.tensor(key);
        const s1 = sources[1]!.tensor(key);
        const w0 = weight[0]!, w1 = weight[1]!;
        for (let i = 0; i < n; i++) g[i] = w0 * s0[i]! + w1 * s1[i]!;
      } else {
        const s0 = sources[0]!.tensor(key);
        const w0 = weight[0]!;
        for (let i = 0; i < n; i++) g[i] = w0 * s0[i]!;
        for (let a = 1; a < sources.length; a++) {
          const sa = sources[a]!.tensor(key);
          const wa = weight[a]!;
          for (let i = 0; i < n; i++) g[i] += wa * sa[i]!;
        }
      }
    }
    return value;
  }

  // this thread's shard (options.local): the caller's own arrays, its own gradient buffers
  const localGrads = new Map<string, FloatArray>();
  const localObject: Record<string, FloatArray | number> = {};
  function runLocal(all: unknown[], shard: { start: number; count: number }, rows: number[], keys: string[], grads: Record<string, FloatArray | number>): Source {
    const call = names.map((n, i) => {
      const j = shardedIndex.get(n);
      const a = all[i] as FloatArray | number;
      return j === undefined ? a : (a as FloatArray).subarray(shard.start * rows[j]!, (shard.start + shard.count) * rows[j]!);
    });
    for (const k of Object.keys(localObject)) if (!(k in grads)) delete localObject[k];
    for (const key of keys) {
      const g = grads[key]!;
      const j = shardedIndex.get(key);
      if (typeof g === "number") localObject[key] = 0;
      else if (j !== undefined) localObject[key] = shardedGrads.get(key)!.subarray(shard.start * rows[j]!, (shard.start + shard.count) * rows[j]!);
      else {
        let b = localGrads.get(key);
        if (b === undefined || b.length !== g.length || (b instanceof Float32Array) !== (g instanceof Float32Array)) {
          b = g instanceof Float32Array ? new Float32Array(g.length) : new Float64Array(g.length);
          localGrads.set(key, b);
        }
        localObject[key] = b;
      }
    }
    const value = localGradInto!(...call, localObject);
    const numbers = keys.filter((k) => typeof grads[k] === "number").map((k) => localObject[k] as number);
    return { shard, value, number: (q) => numbers[q - 1]!, tensor: (key) => localGrads.get(key)! };
  }

  /** This thread's shard, if it has one; an error is kept until the workers are done. */
  function runLocalSafely(all: unknown[], shards: { start: number; count: number }[], rows: number[], keys: string[], grads: Record<string, FloatArray | number>): Source | { error: unknown } | undefined {
    if (localGradInto === undefined || shards[W]!.count === 0) return undefined;
    try {
      return runLocal(all, shards[W]!, rows, keys, grads);
    } catch (error) {
      return { error };
    }
  }

  function finish(active: number[], local: Source | { error: unknown } | undefined, shards: { start: number; count: number }[], N: number, keys: string[], grads: Record<string, FloatArray | number>): number {
    if (local !== undefined && "error" in local) throw local.error;
    const sources = active.map((k) => workerSource(k, shards[k]!));
    if (local !== undefined) sources.push(local);
    return combine(sources, N, keys, grads);
  }

  const waitMessage = (slot: Slot): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      if (slot.failed !== undefined) reject(slot.failed);
      else slot.waiting = { resolve, reject };
    });

  const pool: GradPool<F> = {
    workers: W,
    shapes: shapes!,
    sharded,
    signal,
    async gradInto(...all: Parameters<F>): Promise<number> {
      if (signal === "atomics" && waitAsync === undefined) {
        throw new Error(`${fn} (parallel): Atomics.waitAsync is missing here: create the pool with signal: "message" (or call gradIntoSync off a browser's main thread)`);
      }
      const { N, shards, rows, keys, grads } = prepare(all);
      busy = true;
      for (const s of slots) unref(s, true);
      try {
        const seqs = slots.map((s) => s.control[SEQ]!);
        const active = dispatch(shards, N);
        // (the replies come through the event loop: after these waits are set)
        const waits = signal === "message" ? active.map((k) => waitMessage(slots[k]!)) : [];
        const local = runLocalSafely(all, shards, rows, keys, grads);
        if (signal === "message") {
          for (const w of waits) await w;
        } else {
          for (const k of active) {
            const c = slots[k]!.control;
            // wait on the value just compared: loading DONE again for the wait could see the
            // worker's final store and then wait for a change that never comes
            for (let d = Atomics.load(c, DONE); d !== seqs[k]! + 1; d = Atomics.load(c, DONE)) {
              const r = waitAsync!(c, DONE, d);
              if (r.async) await r.value;
            }
          }
        }
        return finish(active, local, shards, N, keys, grads);
      } finally {
        // a message a skipped worker would have sent never comes: forget the wait
        if (signal === "message") for (const s of slots) s.waiting = undefined;
        for (const s of slots) unref(s, false);
        busy = false;
      }
    },
    gradIntoSync(...all: Parameters<F>): number {
      if (signal !== "atomics") throw new Error(`${fn} (parallel): gradIntoSync needs signal: "atomics" (a thread that blocks cannot receive messages)`);
      if (!canBlock()) throw new Error(`${fn} (parallel): gradIntoSync cannot block this thread (Atomics.wait is not allowed here: a browser page's main thread); await gradInto instead`);
      const { N, shards, rows, keys, grads } = prepare(all);
      busy = true;
      try {
        const seqs = slots.map((s) => s.control[SEQ]!);
        const active = dispatch(shards, N);
        const local = runLocalSafely(all, shards, rows, keys, grads);
        for (const k of active) {
          const c = slots[k]!.control;
          for (let d = Atomics.load(c, DONE); d !== seqs[k]! + 1; d = Atomics.load(c, DONE)) Atomics.wait(c, DONE, d);
        }
        return finish(active, local, shards, N, keys, grads);
      } finally {
        busy = false;
      }
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      for (const s of slots) {
        if (signal === "atomics") {
          s.control[CMD] = STOP;
          Atomics.add(s.control, SEQ, 1);
          Atomics.notify(s.control, SEQ);
        } else {
          s.w.postMessage({ t: "stop" } satisfies ToWorker);
        }
      }
      await stopAll();
    },
  };
  return pool;
}

// ---------------------------------------------------------------------------------------
// Worker side

interface Port {
  post(m: FromWorker): void;
  onMessage(f: (m: ToWorker) => void): void;
  close(): void;
}

async function workerPort(): Promise<Port> {
  const g = globalThis as unknown as {
    WorkerGlobalScope?: unknown;
    postMessage?: (m: unknown) => void;
    addEventListener?: (ev: string, f: (e: { data: unknown }) => void) => void;
    close?: () => void;
  };
  if (g.WorkerGlobalScope !== undefined && typeof g.postMessage === "function") {
    return {
      post: (m) => g.postMessage!(m),
      onMessage: (f) => g.addEventListener!("message", (e) => f(e.data as ToWorker)),
      close: () => g.close?.(),
    };
  }
  const { parentPort } = (await import(/* @vite-ignore */ /* webpackIgnore: true */ "node:worker_threads")) as typeof import("node:worker_threads");
  if (parentPort === null) throw new Error("serveGradients: not running in a worker (call it from the script a pool's worker runs)");
  return {
    post: (m) => parentPort.postMessage(m),
    onMessage: (f) => parentPort.on("message", (m) => f(m as ToWorker)),
    close: () => parentPort.close(),
  };
}

/**
 * The worker side of {@link createGradPool}: call it in the script of the workers that
 * `options.worker` starts, with the generated module (or a function that imports it from
 * the URL the pool was given). It answers the pool's requests until the pool closes.
 *
 * ```ts
 * // grad.worker.ts
 * import { serveGradients } from "adgen/parallel";
 * import * as model from "./model.grad.js";
 * serveGradients(model);
 * ```
 */
export function serveGradients(module: GeneratedModule | ((url: string) => Promise<GeneratedModule>)): void {
  void serve(module);
}

async function serve(module: GeneratedModule | ((url: string) => Promise<GeneratedModule>)): Promise<void> {
  const port = await workerPort();
  let control: Int32Array<ArrayBufferLike> = new Int32Array(0);
  let errors: Uint8Array<ArrayBufferLike> = new Uint8Array(0);
  let gradInto: ((...a: unknown[]) => number) | undefined;
  let signal: "atomics" | "message" | undefined;
  let boundGen = 0;
  let args: Binding[] = [];
  let grads: GradBinding[] = [];
  let scalars: Float64Array<ArrayBufferLike> = new Float64Array(0);
  let out: Float64Array<ArrayBufferLike> = new Float64Array(0);
  let lastSeq = 0;
  const gradObject: Record<string, FloatArray | number> = {};

  const run = (): void => {
    control[STATUS] = 0;
    try {
      const start = control[START]!, count = control[COUNT]!;
      const call: unknown[] = args.map((b) => (b.kind === "number" ? scalars[b.slot]! : view(b, start, count)));
      for (const { key, binding } of grads) gradObject[key] = binding.kind === "number" ? 0 : view(binding, start, count);
      call.push(gradObject);
      out[0] = gradInto!(...call);
      for (const { key, binding } of grads) if (binding.kind === "number") out[binding.slot] = gradObject[key] as number;
    } catch (e) {
      writeError(control, errors, e);
    }
  };

  /** Atomics mode: serve commands until one needs bindings not received yet (or STOP). */
  const loop = (): void => {
    for (;;) {
      const seq = Atomics.load(control, SEQ);
      if (seq === lastSeq) {
        Atomics.wait(control, SEQ, seq);
        continue;
      }
      if (control[CMD] === STOP) {
        port.close();
        return;
      }
      if (control[GEN]! > boundGen) return; // back to the event loop: the bind message is queued
      run();
      lastSeq = seq;
      Atomics.store(control, DONE, seq);
      Atomics.notify(control, DONE);
    }
  };

  port.onMessage((m) => {
    void (async () => {
      if (m.t === "init") {
        try {
          control = new Int32Array(m.control);
          signal = m.signal;
          errors = new Uint8Array(m.errors);
          let mod: GeneratedModule;
          if (typeof module === "function") {
            if (m.module === undefined) throw new Error("serveGradients: the pool gave no module URL to import");
            mod = await module(m.module);
          } else {
            mod = module;
          }
          const f = mod[`${m.entry}GradInto`];
          const shapes = mod[`${m.entry}Shapes`];
          if (typeof f !== "function" || shapes === null || typeof shapes !== "object") {
            const entries = Object.keys(mod).filter((k) => k.endsWith("GradInto")).map((k) => k.slice(0, -"GradInto".length));
            throw new Error(
              `the generated module has no ${m.entry}GradInto and ${m.entry}Shapes (entry ${JSON.stringify(m.entry)}); its entries with a gradient: ${entries.length > 0 ? entries.join(", ") : "none"}`,
            );
          }
          gradInto = f as (...a: unknown[]) => number;
          port.post({ t: "ready", shapes: shapes as Record<string, readonly (number | string)[]> });
        } catch (e) {
          const err = e instanceof Error ? e : new Error(String(e));
          port.post({ t: "init-error", name: err.name, message: `createGradPool: ${err.message}` });
        }
      } else if (m.t === "bind") {
        args = [...m.args];
        grads = [...m.grads];
        for (const k of Object.keys(gradObject)) delete gradObject[k];
        scalars = new Float64Array(m.scalars);
        out = new Float64Array(m.out);
        boundGen = m.gen;
        if (signal === "atomics") loop();
      } else if (m.t === "run") {
        run();
        port.post({ t: "done" });
      } else if (m.t === "stop") {
        port.close();
      }
    })();
  });
}
