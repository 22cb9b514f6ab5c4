// The PyTorch peer of the benchmark: PyTorch eager on one thread, float64 and float32, in a
// long-lived Python worker (bench/peers/pytorch.py, Debian's python3-torch under
// /usr/bin/python3) that this module starts and drives over JSON lines. The benchmark asks
// it for one timed sample at a time, so PyTorch's samples interleave with the in-process
// subjects' as fairly as a separate process allows: while one side samples, the other waits
// on the pipe, idle. Times are measured on the worker's side (the pipe's round trip is not
// in them): wall clock and CPU time per call, over as many calls as the warm-up says last
// the sample length.
//
// Buffers cross the pipe as base64 float64 little-endian bytes, so parameters, inputs and
// gradients arrive exactly (the float32 subjects round on the Python side, as adgen's
// float32 build does on ours).

import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import * as fs from "node:fs";
import { fileURLToPath } from "node:url";
import type { Labels } from "./shapes.js";

export type TorchDtype = "float64" | "float32";
export type TorchCall = "step" | "forward";

export interface TorchSetup {
  /** A name for the subject, unique per worker ("lenet_b32_float64"). */
  readonly key: string;
  readonly model: "lenet" | "mlp";
  readonly batch: number;
  readonly dtype: TorchDtype;
  /** Parameters in our layout (SPEC.md §4, which is PyTorch's), by name. */
  readonly params: Readonly<Record<string, Float64Array>>;
  readonly shapes: Readonly<Record<string, readonly number[]>>;
  /** The batch, [N, ...sample] row-major (N = 1 for batch 1). */
  readonly x: Float64Array;
  readonly labels: Labels;
}

export interface TorchSample {
  /** Wall-clock milliseconds per call (performance.now's counterpart: time.perf_counter). */
  readonly wallMs: number;
  /** CPU milliseconds per call, every thread of the worker (time.process_time). */
  readonly cpuMs: number;
}

export interface TorchWorker {
  /** PyTorch's version and its intra-op thread count (1). */
  readonly torch: string;
  readonly threads: number;
  /** Creates a subject and runs one step: its loss and every parameter gradient (float64). */
  setup(s: TorchSetup): Promise<{ loss: number; grads: Record<string, Float64Array> }>;
  /** Warm-up as the benchmark's (at least 3 calls and warmupMs); sets the calls per sample. */
  warmUp(key: string, what: TorchCall, warmupMs: number, sampleMs: number): Promise<{ reps: number; eachMs: number }>;
  /** One timed sample (after a GC and, when a sample repeats, one untimed call). */
  sample(key: string, what: TorchCall): Promise<TorchSample>;
  /** Ends the worker (and waits until it has exited). */
  close(): Promise<void>;
}

/** Where the worker's script is: beside this file, or (from dist/bench/peers) in the sources. */
function scriptPath(): string {
  const candidates = [
    new URL("./pytorch.py", import.meta.url),
    new URL("../../../bench/peers/pytorch.py", import.meta.url),
  ].map((u) => fileURLToPath(u));
  const found = candidates.find((p) => fs.existsSync(p));
  if (found === undefined) throw new Error(`bench/peers/pytorch.py not found (looked at ${candidates.join(", ")})`);
  return found;
}

const toBase64 = (a: Float64Array): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("base64");

function fromBase64(s: string): Float64Array {
  const bytes = Buffer.from(s, "base64");
  // copy into a buffer of its own: Buffer.from may return a slice of a shared, unaligned pool
  const out = new Float64Array(bytes.length / 8);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

interface Reply {
  readonly id?: number;
  readonly ok?: boolean;
  readonly error?: string;
  readonly trace?: string;
  readonly [k: string]: unknown;
}

/**
 * Starts the worker (`python`: default $ADGEN_PYTHON, else Debian's /usr/bin/python3;
 * `pythonArgs` go before the script). Resolves to the worker, or to `{ unavailable }` with
 * the reason when Python or `import torch` fails (the benchmark then skips PyTorch with that
 * note).
 */
export async function startTorchWorker(
  options: { readonly python?: string; readonly pythonArgs?: readonly string[] } = {},
): Promise<TorchWorker | { unavailable: string }> {
  const python = options.python ?? process.env.ADGEN_PYTHON ?? "/usr/bin/python3";
  let child: ChildProcessWithoutNullStreams;
  try {
    // one core: torch.set_num_threads(1) does not reach the BLAS Debian's torch links
    // (OpenBLAS starts a thread per core of its own), so its thread counts are set too
    const env = { ...process.env, OMP_NUM_THREADS: "1", OPENBLAS_NUM_THREADS: "1", MKL_NUM_THREADS: "1" };
    child = spawn(python, [...(options.pythonArgs ?? []), "-u", scriptPath()], { stdio: ["pipe", "pipe", "pipe"], env });
  } catch (e) {
    return { unavailable: `could not start ${python}: ${(e as Error).message}` };
  }
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (d: string) => {
    stderr += d;
  });

  // replies, in order: the worker answers one request at a time
  const waiting: { resolve: (r: Reply) => void; reject: (e: Error) => void }[] = [];
  let exited: Error | null = null;
  let buffered = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (d: string) => {
    buffered += d;
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (line.trim() === "") continue;
      const next = waiting.shift();
      if (next === undefined) continue;
      try {
        next.resolve(JSON.parse(line) as Reply);
      } catch {
        next.reject(new Error(`pytorch worker: not a JSON line: ${line.slice(0, 200)}`));
      }
    }
  });
  const failAll = (e: Error): void => {
    exited = e;
    for (const w of waiting.splice(0)) w.reject(e);
  };
  child.on("error", (e) => failAll(new Error(`pytorch worker: ${e.message}`)));
  // a write after the worker died fails with EPIPE: the pending request then fails on "close"
  child.stdin.on("error", () => {});
  const closed = new Promise<void>((resolve) => {
    child.on("close", (code, signal) => {
      failAll(new Error(`pytorch worker exited (${signal ?? `code ${code}`})${stderr ? `:\n${stderr.trim()}` : ""}`));
      resolve();
    });
  });
  const next = (): Promise<Reply> =>
    exited !== null ? Promise.reject(exited) : new Promise((resolve, reject) => waiting.push({ resolve, reject }));

  let ready: Reply;
  try {
    ready = await next();
  } catch (e) {
    return { unavailable: (e as Error).message };
  }
  if (ready.ready !== true) {
    await closed;
    return { unavailable: String(ready.error ?? "the worker did not start") };
  }

  let id = 0;
  const request = async (cmd: string, body: Record<string, unknown>): Promise<Reply> => {
    const n = ++id;
    const reply = next();
    child.stdin.write(`${JSON.stringify({ id: n, cmd, ...body })}\n`);
    const r = await reply;
    if (r.id !== n) throw new Error(`pytorch worker: reply ${String(r.id)} to request ${n}`);
    if (r.ok !== true) throw new Error(`pytorch worker, ${cmd}: ${r.error}\n${r.trace ?? ""}`);
    return r;
  };

  return {
    torch: String(ready.torch),
    threads: Number(ready.threads),
    async setup(s) {
      const params: Record<string, string> = {};
      for (const [k, v] of Object.entries(s.params)) params[k] = toBase64(v);
      const r = await request("setup", {
        key: s.key, model: s.model, batch: s.batch, dtype: s.dtype,
        params, shapes: s.shapes, x: toBase64(s.x), labels: Array.from(s.labels),
      });
      const grads: Record<string, Float64Array> = {};
      for (const [k, v] of Object.entries(r.grads as Record<string, string>)) grads[k] = fromBase64(v);
      return { loss: Number(r.loss), grads };
    },
    async warmUp(key, what, warmupMs, sampleMs) {
      const r = await request("warmup", { key, what, warmupMs, sampleMs });
      return { reps: Number(r.reps), eachMs: Number(r.eachMs) };
    },
    async sample(key, what) {
      const r = await request("sample", { key, what });
      return { wallMs: Number(r.wallMs), cpuMs: Number(r.cpuMs) };
    },
    async close() {
      if (exited === null) child.stdin.end(`${JSON.stringify({ cmd: "quit" })}\n`);
      await closed;
    },
  };
}

/** A subject the benchmark times in the worker: the counterpart of its in-process `Timed`. */
export interface RemoteTimed {
  warmUp(warmupMs: number, sampleMs: number): Promise<void>;
  /** Takes one sample; pushes its wall-clock and CPU milliseconds per call. */
  sample(): Promise<void>;
  readonly samples: number[];
  readonly cpuSamples: number[];
}

export function remoteTimed(worker: TorchWorker, key: string, what: TorchCall): RemoteTimed {
  const samples: number[] = [];
  const cpuSamples: number[] = [];
  return {
    samples,
    cpuSamples,
    async warmUp(warmupMs, sampleMs) {
      await worker.warmUp(key, what, warmupMs, sampleMs);
    },
    async sample() {
      const s = await worker.sample(key, what);
      samples.push(s.wallMs);
      cpuSamples.push(s.cpuMs);
    },
  };
}
