// adgen/parallel: one minibatch's gradient over a pool of worker threads (Node worker_threads).
// The pool is the package's built entry (`adgen/parallel`, dist/runtime/parallel.js: its
// workers run plain JavaScript), the generated modules are compiled here and transpiled to
// .mjs so that a worker can import them. Every gradient is compared with the same module's
// single-thread lossGradInto on the same batch: they may differ only by the order of
// summation, so per gradient max|pool - single| / max|single| <= 1e-12, and the values too.

import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GradPool, GradPoolOptions } from "../runtime/parallel.js";
import { lenet, mlp } from "../bench/models.js";
import { compileOrThrow, rng } from "./helpers.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DIR = join(ROOT, "test/.generated/parallel");
// the built entry, as a user imports it (npm test builds first)
const { createGradPool } = (await import(pathToFileURL(join(ROOT, "dist/runtime/parallel.js")).href)) as typeof import("../runtime/parallel.js");

type Module = Record<string, any>;
type Buffers = Record<string, Float64Array | Float32Array | number>;

/** Compiles a DSL source, writes NAME.grad.mjs, imports it; returns the module and its file. */
async function build(name: string, source: string, dtype: "float64" | "float32" = "float64", target: "ts" | "wasm" = "ts"): Promise<{ m: Module; file: string }> {
  const r = await compileOrThrow(source, { fileName: `${name}.ts`, dtype, target });
  const js = ts.transpileModule(r.code!, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
  const file = join(DIR, `${name}.grad.mjs`);
  writeFileSync(file, js);
  return { m: (await import(pathToFileURL(file).href)) as Module, file };
}

const SUM_MODEL = `import { type Tensor, linear, tanh, sum } from "adgen";

/** A sum over the batch, with gradients for the batch itself and a number. @wrt x, w, b, s */
export function loss<N extends number>(x: Tensor<[N, 3]>, w: Tensor<[2, 3]>, b: Tensor<[2]>, s: number): number {
  return s * sum(tanh(linear(x, w, b)));
}
`;

let lenetM: { m: Module; file: string };
let mlpM: { m: Module; file: string };
let mlp32M: { m: Module; file: string };
let sumM: { m: Module; file: string };
let mlpF32: { m: Module; file: string };
let lenetWasm: { m: Module; file: string };
const pools: GradPool[] = [];

beforeAll(async () => {
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  lenetM = await build("lenet", lenet(32, true).source);
  mlpM = await build("mlp", mlp(32, true).source);
  mlp32M = await build("mlp32", mlp(32).source);
  sumM = await build("sum", SUM_MODEL);
  mlpF32 = await build("mlp_f32", mlp(32, true).source, "float32");
  lenetWasm = await build("lenet_wasm", lenet(32, true).source, "float64", "wasm");
}, 120_000);

afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
});

async function pool(options: Partial<GradPoolOptions> & { module?: string | URL }): Promise<GradPool> {
  const p = await createGradPool({ entry: "loss", workers: 2, reduction: "mean", ...options } as GradPoolOptions);
  pools.push(p);
  return p;
}

const sizeOf = (shape: readonly (number | string)[], n: number) => shape.reduce<number>((a, d) => a * (typeof d === "number" ? d : n), 1);

/** Random arguments of a module's loss at batch n (labels 0-9), and zeroed gradient buffers for `wrt`. */
function inputs(m: Module, n: number, wrt: readonly string[], seed: number, f32 = false): { args: (Float64Array | Float32Array | number)[]; grads: () => Buffers } {
  const random = rng(seed);
  const Arr = f32 ? Float32Array : Float64Array;
  const shapes = m.lossShapes as Record<string, readonly (number | string)[]>;
  const args = Object.entries(shapes).map(([k, shape]) => {
    if (shape.length === 0) return 0.5 + random();
    const len = sizeOf(shape, n);
    // pixels in [-0.5, 0.5), weights in [-0.1, 0.1): losses of order 1, not saturated
    const scale = k === "x" ? 1 : 0.2;
    const a = new Arr(len);
    for (let i = 0; i < len; i++) a[i] = k === "labels" ? (i * 7 + seed) % 10 : scale * (random() - 0.5);
    return a;
  });
  const grads = () => Object.fromEntries(wrt.map((k) => {
    const shape = shapes[k]!;
    return [k, shape.length === 0 ? 0 : new Arr(sizeOf(shape, n))];
  })) as Buffers;
  return { args, grads };
}

/** Per gradient, max|a - b| / max|b| (the values compared the same way). */
function worst(a: Buffers, b: Buffers): number {
  let w = 0;
  for (const k of Object.keys(b)) {
    const x = a[k]!, y = b[k]!;
    if (typeof y === "number") {
      w = Math.max(w, Math.abs((x as number) - y) / Math.max(Math.abs(y), 1e-300));
      continue;
    }
    const xs = x as Float64Array;
    let d = 0, m = 0;
    for (let i = 0; i < y.length; i++) {
      d = Math.max(d, Math.abs(xs[i]! - y[i]!));
      m = Math.max(m, Math.abs(y[i]!));
    }
    w = Math.max(w, m === 0 ? d : d / m);
  }
  return w;
}

const LENET_WRT = ["c1w", "c1b", "c2w", "c2b", "f1w", "f1b", "f2w", "f2b", "f3w", "f3b"];
const MLP_WRT = ["w1", "b1", "w2", "b2"];

/** The pool's value and gradients against the module's own lossGradInto on the same batch. */
async function agree(p: GradPool, m: Module, n: number, wrt: readonly string[], seed: number, sync = false): Promise<number> {
  const { args, grads } = inputs(m, n, wrt, seed);
  const single = grads();
  const want = m.lossGradInto(...args, single) as number;
  const got = grads();
  // garbage in the buffers first: the pool must overwrite every element
  for (const g of Object.values(got)) if (typeof g !== "number") g.fill(123);
  const value = sync ? p.gradIntoSync(...args, got) : await p.gradInto(...args, got);
  expect(Number.isFinite(want) && want > 0.1).toBe(true);
  expect(Math.abs(value - want) / Math.abs(want)).toBeLessThanOrEqual(1e-12);
  const err = worst(got, single);
  expect(err).toBeLessThanOrEqual(1e-12);
  return err;
}

describe("the pool's gradient is the single-thread gradient (up to summation order)", () => {
  for (const signal of ["atomics", "message"] as const) {
    it(`MLP 784-128-10 at batch 32 and 17 over 2 and 3 workers, and a batch of 1 (an empty shard), ${signal}`, async () => {
      for (const workers of [2, 3]) {
        const p = await pool({ module: mlpM.file, workers, signal });
        expect(p.sharded).toEqual(["x", "labels"]);
        expect(p.signal).toBe(signal);
        for (const [n, seed] of [[32, 1], [17, 2], [1, 3], [32, 4], [2, 5]] as const) await agree(p, mlpM.m, n, MLP_WRT, seed);
        await p.close();
      }
    });
  }

  it("LeNet-5 (any batch) at batch 32 over 2 workers and 17 over 3", async () => {
    const two = await pool({ module: lenetM.file, workers: 2 });
    await agree(two, lenetM.m, 32, LENET_WRT, 11);
    await agree(two, lenetM.m, 17, LENET_WRT, 12);
    const three = await pool({ module: pathToFileURL(lenetM.file), workers: 3, signal: "message" });
    await agree(three, lenetM.m, 17, LENET_WRT, 13);
    await agree(three, lenetM.m, 1, LENET_WRT, 14);
  });

  it("options.local: this thread computes one shard too (W + 1 shards), sync and async, both signals", async () => {
    for (const [workers, signal] of [[1, "atomics"], [2, "message"]] as const) {
      const p = await pool({ module: mlpM.file, workers, signal, local: mlpM.m });
      for (const [n, seed] of [[32, 91], [17, 92], [1, 93], [3, 94]] as const) {
        await agree(p, mlpM.m, n, MLP_WRT, seed, signal === "atomics");
        await agree(p, mlpM.m, n, MLP_WRT, seed + 10);
      }
    }
    const l = await pool({ module: lenetM.file, workers: 1, local: lenetM.m });
    await agree(l, lenetM.m, 17, LENET_WRT, 95, true);
    // with the batch's own gradient and a number gradient (the sum model)
    const s = await pool({ module: sumM.file, workers: 1, reduction: "sum", local: sumM.m });
    const { args, grads } = inputs(sumM.m, 5, ["x", "w", "b", "s"], 96);
    const single = grads(), got = grads();
    const want = sumM.m.lossGradInto(...args, single) as number;
    expect(Math.abs(s.gradIntoSync(...args, got) - want) / Math.abs(want)).toBeLessThanOrEqual(1e-12);
    expect(worst(got, single)).toBeLessThanOrEqual(1e-12);
  });

  it("--target wasm modules (LeNet-5): each worker instantiates the module's WebAssembly kernels", async () => {
    const p = await pool({ module: lenetWasm.file, workers: 3 });
    await agree(p, lenetWasm.m, 17, LENET_WRT, 15);
    await agree(p, lenetWasm.m, 32, LENET_WRT, 16);
  });

  it("gradIntoSync blocks the calling thread and gives the same", async () => {
    const p = await pool({ module: mlpM.file, workers: 2 });
    await agree(p, mlpM.m, 32, MLP_WRT, 21, true);
    await agree(p, mlpM.m, 17, MLP_WRT, 22, true);
    await agree(p, mlpM.m, 17, MLP_WRT, 23, false);
    const m = await pool({ module: mlpM.file, workers: 2, signal: "message" });
    const { args, grads } = inputs(mlpM.m, 4, MLP_WRT, 1);
    expect(() => m.gradIntoSync(...args, grads())).toThrow(/gradIntoSync needs signal: "atomics"/);
  });

  it("a worker that finishes between the step's check of its DONE word and the wait still ends the step", async () => {
    // The first load of each worker's DONE word (index 1 of its 8 shared control words)
    // waits until the worker has finished and then gives the value from before the step,
    // as if it had read just before the worker's store: a wait on a value loaded again
    // after that check would wait for a change that never comes.
    const p = await pool({ module: sumM.file, workers: 2, reduction: "sum", signal: "atomics" });
    const { args, grads } = inputs(sumM.m, 6, ["x", "w", "b", "s"], 41);
    const want = sumM.m.lossGradInto(...args, grads()) as number;
    const load = Atomics.load;
    const held = new Set<Int32Array>();
    Atomics.load = ((a: Int32Array, i: number) => {
      if (i !== 1 || a.length !== 8 || !(a.buffer instanceof SharedArrayBuffer) || held.has(a)) return load(a, i);
      held.add(a);
      const before = load(a, 0) - 1; // DONE before the step: the SEQ it bumped, minus one
      for (const until = performance.now() + 2_000; load(a, i) === before && performance.now() < until; );
      return before;
    }) as typeof Atomics.load;
    try {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<string>((resolve) => (timer = setTimeout(() => resolve("the step never ended"), 5_000)));
      const value = await Promise.race([p.gradInto(...args, grads()), late]);
      clearTimeout(timer);
      expect(value).not.toBe("the step never ended");
      expect(held.size).toBe(2);
      expect(Math.abs((value as number) - want) / Math.abs(want)).toBeLessThanOrEqual(1e-12);
    } finally {
      Atomics.load = load;
    }
  });

  it("one worker: the shard is the batch, bit for bit", async () => {
    const p = await pool({ module: mlpM.file, workers: 1 });
    const { args, grads } = inputs(mlpM.m, 17, MLP_WRT, 31);
    const a = grads(), b = grads();
    expect(await p.gradInto(...args, a)).toBe(mlpM.m.lossGradInto(...args, b));
    expect(worst(a, b)).toBe(0);
  });

  it('reduction "sum": shards added; the batch\'s own gradient (x) row by row; a number argument and gradient', async () => {
    const wrong = await pool({ module: sumM.file, workers: 3, reduction: "mean" });
    const p = await pool({ module: sumM.file, workers: 3, reduction: "sum" });
    for (const [n, seed] of [[17, 41], [2, 42], [3, 43]] as const) {
      const { args, grads } = inputs(sumM.m, n, ["x", "w", "b", "s"], seed);
      const single = grads();
      const want = sumM.m.lossGradInto(...args, single) as number;
      const got = grads();
      (got.x as Float64Array).fill(5);
      const value = await p.gradInto(...args, got);
      expect(Math.abs(value - want) / Math.abs(want)).toBeLessThanOrEqual(1e-12);
      expect(worst(got, single)).toBeLessThanOrEqual(1e-12);
      expect(typeof got.s).toBe("number");
      // the mean of shard sums is not the sum: the reduction matters (the test can fail)
      const meanGrads = grads();
      const meanValue = await wrong.gradInto(...args, meanGrads);
      expect(Math.abs(meanValue - want)).toBeGreaterThan(1e-3 * Math.abs(want));
    }
  });

  it("tensors already in shared memory are used in place, and changes to them between steps are seen", async () => {
    const p = await pool({ module: mlpM.file, workers: 2 });
    const { args, grads } = inputs(mlpM.m, 32, MLP_WRT, 51);
    const shared = args.map((a) => {
      if (typeof a === "number") return a;
      const s = new Float64Array(new SharedArrayBuffer(8 * (a.length + 3)), 8 * 3, a.length); // at an offset
      s.set(a);
      return s;
    });
    for (let step = 0; step < 3; step++) {
      const single = grads(), got = grads();
      const want = mlpM.m.lossGradInto(...shared, single) as number;
      expect(Math.abs((await p.gradInto(...shared, got)) - want) / want).toBeLessThanOrEqual(1e-12);
      expect(worst(got, single)).toBeLessThanOrEqual(1e-12);
      // an SGD step on the shared parameters
      for (const k of MLP_WRT) {
        const w = shared[Object.keys(mlpM.m.lossShapes).indexOf(k)] as Float64Array;
        const g = single[k] as Float64Array;
        for (let i = 0; i < w.length; i++) w[i]! -= 0.5 * g[i]!;
      }
    }
  });

  it("float32 modules: Float32Array arguments and gradients, as accurate as float32 allows", async () => {
    const p = await pool({ module: mlpF32.file, workers: 2 });
    const { args, grads } = inputs(mlpF32.m, 17, MLP_WRT, 61, true);
    const single = grads(), got = grads();
    const want = mlpF32.m.lossGradInto(...args, single) as number;
    expect(Math.abs((await p.gradInto(...args, got)) - want) / want).toBeLessThan(1e-5);
    expect(got.w1).toBeInstanceOf(Float32Array);
    expect(worst(got, single)).toBeLessThan(1e-5);
  });

  it("options.worker: the user's own worker script calling serveGradients", async () => {
    const script = join(DIR, "grad.worker.mjs");
    writeFileSync(script, `import { serveGradients } from "adgen/parallel";\nimport * as model from "./mlp.grad.mjs";\nserveGradients(model);\n`);
    const { Worker } = await import("node:worker_threads");
    const p = await pool({ worker: () => new Worker(script), workers: 2 });
    await agree(p, mlpM.m, 17, MLP_WRT, 71);
  });
});

describe("errors", () => {
  it("bad options are a RangeError naming the option", async () => {
    const bad: [Partial<GradPoolOptions>, RegExp][] = [
      [{ workers: 0 }, /workers must be an integer from 1 to 256, got 0/],
      [{ workers: 1.5 }, /workers must be an integer/],
      [{ workers: "2" as unknown as number }, /workers must be an integer/],
      [{ reduction: undefined }, /reduction must be "mean" .* or "sum"/],
      [{ reduction: "avg" as "mean" }, /reduction must be/],
      [{ entry: "" }, /entry must be the entry point's name/],
      [{ signal: "poll" as "atomics" }, /signal must be "atomics" or "message"/],
      [{ module: undefined }, /give either module .* or worker/],
      [{ worker: () => { throw new Error("unreachable"); } }, /give either module .* or worker .* only one/],
      [{ local: {} }, /local must be the generated module .* with lossGradInto/],
    ];
    for (const [o, message] of bad) {
      await expect(createGradPool({ entry: "loss", workers: 2, reduction: "mean", module: mlpM.file, ...o } as GradPoolOptions)).rejects.toThrow(RangeError);
      await expect(createGradPool({ entry: "loss", workers: 2, reduction: "mean", module: mlpM.file, ...o } as GradPoolOptions)).rejects.toThrow(message);
    }
  });

  it("a module without the entry, or whose batch cannot be split, is an Error (and its workers are stopped)", async () => {
    await expect(createGradPool({ module: mlpM.file, entry: "logits", workers: 2, reduction: "mean" })).rejects.toThrow(
      /createGradPool: the generated module has no logitsGradInto and logitsShapes \(entry "logits"\); its entries with a gradient: loss/,
    );
    await expect(createGradPool({ module: mlp32M.file, entry: "loss", workers: 2, reduction: "mean" })).rejects.toThrow(
      /no parameter of loss has a batch size known only at run time as its first dimension .* write the entry for any batch size/,
    );
    await expect(createGradPool({ module: mlpM.file, entry: "loss", workers: 2, reduction: "mean", batch: "M" })).rejects.toThrow(
      /batch "M" is not the first dimension of any parameter of loss/,
    );
    await expect(createGradPool({ module: join(DIR, "missing.grad.mjs"), entry: "loss", workers: 1, reduction: "mean" })).rejects.toThrow();
  });

  it("bad arguments of a step: RangeError before the workers run, or the worker's own RangeError", async () => {
    const p = await pool({ module: mlpM.file, workers: 2 });
    const { args, grads } = inputs(mlpM.m, 8, MLP_WRT, 81);
    await expect(p.gradInto(...args.slice(1), grads())).rejects.toThrow(/expected 7 arguments \(x, labels, w1, b1, w2, b2, grads\), got 6/);
    const short = [...args];
    short[0] = (args[0] as Float64Array).subarray(0, 700);
    await expect(p.gradInto(...short, grads())).rejects.toThrow(/x has 700 elements, which is not N\*784 for an integer N/);
    const labels = [...args];
    labels[1] = new Float64Array(5);
    await expect(p.gradInto(...labels, grads())).rejects.toThrow(/labels has 5 elements, but its shape \[N\] needs 8 \(N = 8\)/);
    const w1 = [...args];
    w1[2] = new Float64Array(10);
    await expect(p.gradInto(...w1, grads())).rejects.toThrow(RangeError);
    await expect(p.gradInto(...w1, grads())).rejects.toThrow(/lossGradInto: w1 must have 100352 elements .* \(in worker 0\)/);
    // the pool still works afterwards
    await agree(p, mlpM.m, 8, MLP_WRT, 81);
    // one call at a time
    const g = grads();
    const first = p.gradInto(...args, g);
    await expect(p.gradInto(...args, grads())).rejects.toThrow(/a call is still running; await it/);
    await first;
    await p.close();
    await expect(p.gradInto(...args, grads())).rejects.toThrow(/the pool is closed/);
  });

  it("a worker that dies during a step rejects the step (both signals), and the pool says so afterwards", async () => {
    // a hand-written stand-in for a generated module: its worker thread exits on a 99
    const file = join(DIR, "dies.mjs");
    writeFileSync(file, `export const lossShapes = { x: ["N", 2] };
export function lossGradInto(x, grads) { if (x[0] === 99) process.exit(3); grads.x.set(x); return x.length; }
`);
    for (const signal of ["atomics", "message"] as const) {
      const p = await pool({ module: file, workers: 2, reduction: "sum", signal });
      const x = Float64Array.from([1, 2, 3, 4]);
      const g = { x: new Float64Array(4) };
      expect(await p.gradInto(x, g)).toBe(4);
      expect(Array.from(g.x)).toEqual([1, 2, 3, 4]);
      x[0] = 99;
      await expect(p.gradInto(x, g)).rejects.toThrow(/the worker exited \(code 3\)/);
      x[0] = 1;
      await expect(p.gradInto(x, g)).rejects.toThrow(/worker 0 has failed/);
    }
  });
});

describe("shutdown", () => {
  it("a process whose pool was never closed still exits (idle workers do not hold it)", () => {
    const script = join(DIR, "forgotten.mjs");
    writeFileSync(script, `import { createGradPool } from "adgen/parallel";
const pool = await createGradPool({ module: new URL("./mlp.grad.mjs", import.meta.url), entry: "loss", workers: 2, reduction: "mean" });
const x = new Float64Array(4 * 784), labels = new Float64Array(4);
const p = [128 * 784, 128, 10 * 128, 10].map((n) => new Float64Array(n).fill(0.01));
const grads = { w1: new Float64Array(128 * 784), b1: new Float64Array(128), w2: new Float64Array(1280), b2: new Float64Array(10) };
console.log((await pool.gradInto(x, labels, ...p, grads)).toFixed(6));
`);
    const r = spawnSync(process.execPath, [script], { encoding: "utf8", timeout: 30_000 });
    expect(r.error, "the process did not exit").toBeUndefined();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(Math.log(10).toFixed(6));
  });
});
