// The benchmark: one training step (forward, loss, every parameter gradient) and one forward
// pass of LeNet-5 and of a 784-128-10 MLP, at batch 1, 32 and 128, for
//   - adgen's generated code (the allocation-free lossGradInto, and loss), float64 and float32,
//     compiled at start-up from bench/models.ts through the compiler API, for the default
//     target (TypeScript kernels) and `--target wasm` (WebAssembly SIMD layer kernels);
//   - the hand-written TypeScript of bench/peers/handwritten.ts (im2col + blocked GEMM);
//   - TensorFlow.js (bench/peers/tfjs.ts, cpu backend, float32);
//   - PyTorch eager on one thread, float64 and float32 (bench/peers/pytorch.ts: a Python
//     worker process that times its samples on request; skipped with a note when
//     `import torch` fails).
// Beside them, adgen's other derivatives of the same float64 modules (TypeScript kernels):
// lossJvp (forward mode) against loss, and lossHvp (forward over reverse) against lossGrad,
// the allocating gradient (and lossGradInto), with the targets JVP <= 3x forward and
// HVP <= 4x gradient.
// Everything but PyTorch runs in one process, and all is measured interleaved: after a
// warm-up, each round takes one sample of every subject, in a shuffled order (a sample times
// enough repetitions to last ~15 ms), and the figures are medians over the rounds. Also the
// cold-start time of the adgen CLI on LeNet-5.
//
//   npm run bench                       (builds, then node --expose-gc dist/bench/run.js)
//   node --expose-gc dist/bench/run.js --rounds 40 --keep   (more samples; keep the generated files)
//   node --expose-gc dist/bench/run.js --only mlp --batch 1  (one model, one batch size)

import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as tf from "@tensorflow/tfjs";
import ts from "typescript";
import { compile } from "../compiler/pipeline.js";
import { type BenchModel, lenet, mlp } from "./models.js";
import { createLeNetHandwritten, createMlpHandwritten } from "./peers/handwritten.js";
import {
  type Labels,
  type PeerModel,
  LENET_SHAPES,
  MLP_SHAPES,
  allocBuffers,
  initParams,
  mulberry32,
  randomBatch,
  sizeOf,
} from "./peers/shapes.js";
import { type TfjsBatch, type TfjsPeer, createLeNetTfjs, createMlpTfjs, initTfjs } from "./peers/tfjs.js";
import { type LoopSubject, loopSubjects } from "./loops.js";
import { compileScale } from "./compileScale.js";
import { type RemoteTimed, type TorchWorker, remoteTimed, startTorchWorker } from "./peers/pytorch.js";

const here = path.dirname(fileURLToPath(import.meta.url));

// ---------------------------------------------------------------------------------------
// Options

const argv = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : fallback;
};
const ROUNDS = option("--rounds", 25);
const SAMPLE_MS = option("--sample-ms", 15);
const WARMUP_MS = option("--warmup-ms", 600);
const CLI_RUNS = option("--cli-runs", 5);
const KEEP = argv.includes("--keep");
/** `--only mlp` / `--only lenet`: one model only; `--batch 1`: one batch size only. */
const ONLY = argv.includes("--only") ? argv[argv.indexOf("--only") + 1]! : "";
const BATCHES = argv.includes("--batch") ? [option("--batch", 1)] : [1, 32, 128];
/** `--no-scale`: skip the compile-time-against-size table (it compiles a 60,000-statement program). */
const SCALE = !argv.includes("--no-scale") && !ONLY;

// ---------------------------------------------------------------------------------------
// adgen's generated modules

/** The exports of a generated module that the benchmark calls (entry `loss`). */
interface Generated {
  readonly lossShapes: Readonly<Record<string, readonly number[]>>;
  loss(...args: unknown[]): number;
  lossGradInto(...args: unknown[]): number;
  lossGrad(...args: unknown[]): { value: number; grads: Record<string, Float64Array | Float32Array> };
  /** args..., tangents (keyed and shaped as the gradients) */
  lossJvp(...args: unknown[]): { value: number; tangent: number };
  /** args..., direction (keyed and shaped as the gradients) */
  lossHvp(...args: unknown[]): { value: number; grads: Record<string, Float64Array | Float32Array>; hvp: Record<string, Float64Array | Float32Array> };
}

/** Compiles a model with the compiler API, writes the module as .ts, transpiles it and imports it. */
async function generate(model: BenchModel, dtype: "float64" | "float32", dir: string, target: "ts" | "wasm" = "ts"): Promise<Generated> {
  const base = `${model.name.split(" ")[0]!.toLowerCase().replace(/[^a-z0-9]/g, "")}_b${model.batch}${model.symbolic ? "_anyN" : ""}_${dtype}${target === "wasm" ? "_wasm" : ""}`;
  const result = await compile(model.source, { fileName: `${base}.ts`, dtype, target });
  if (result.code === undefined) {
    throw new Error(`adgen could not compile ${base}:\n${result.diagnostics.map((d) => d.message).join("\n")}`);
  }
  fs.writeFileSync(path.join(dir, `${base}.ts`), model.source);
  fs.writeFileSync(path.join(dir, `${base}.grad.ts`), result.code);
  const js = ts.transpileModule(result.code, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  }).outputText;
  const file = path.join(dir, `${base}.grad.mjs`);
  fs.writeFileSync(file, js);
  return (await import(pathToFileURL(file).href)) as Generated;
}

/** Calls of a generated module on the benchmark's buffers (converted to the module's dtype). */
function adgenSubject(
  m: Generated, params: Record<string, Float64Array>, x: Float64Array, labels: Labels, f32: boolean,
): {
  step: () => number; forward: () => number; grads: Record<string, Float64Array | Float32Array>;
  modes: () => ModeCalls;
} {
  const conv = (a: Float64Array): Float64Array | Float32Array => (f32 ? Float32Array.from(a) : a);
  const args = Object.keys(m.lossShapes).map((k) => {
    if (k === "x") return conv(x);
    if (k === "label") return labels[0]!;
    if (k === "labels") return conv(Float64Array.from(labels));
    const p = params[k];
    if (p === undefined) throw new Error(`the generated loss takes ${k}, which the peers do not have`);
    return conv(p);
  });
  const grads: Record<string, Float64Array | Float32Array> = {};
  for (const k of Object.keys(params)) grads[k] = f32 ? new Float32Array(params[k]!.length) : new Float64Array(params[k]!.length);
  return {
    step: () => m.lossGradInto(...args, grads),
    forward: () => m.loss(...args),
    grads,
    modes: () => {
      // one tangent / direction per differentiated parameter, allocated once (not timed)
      const random = mulberry32(99);
      const direction: Record<string, Float64Array | Float32Array> = {};
      for (const k of Object.keys(params)) {
        const d = f32 ? new Float32Array(params[k]!.length) : new Float64Array(params[k]!.length);
        for (let i = 0; i < d.length; i++) d[i] = 2 * random() - 1;
        direction[k] = d;
      }
      const first = Object.keys(params)[0]!;
      // the JVP's tangent is the gradient's dot product with the direction
      const { grads: g } = m.lossGrad(...args);
      let dot = 0;
      let scale = 0;
      for (const k of Object.keys(params)) {
        for (let i = 0; i < g[k]!.length; i++) {
          dot += g[k]![i]! * direction[k]![i]!;
          scale += Math.abs(g[k]![i]! * direction[k]![i]!);
        }
      }
      const jvpDiff = Math.abs(m.lossJvp(...args, direction).tangent - dot) / Math.max(1, scale);
      return {
        jvp: () => m.lossJvp(...args, direction).tangent,
        hvp: () => m.lossHvp(...args, direction).hvp[first]![0]!,
        grad: () => m.lossGrad(...args).grads[first]![0]!,
        jvpDiff,
      };
    },
  };
}

/** adgen's forward-mode and Hessian-vector calls of one module, on one fixed direction. */
interface ModeCalls {
  readonly jvp: () => number;
  readonly hvp: () => number;
  /** the allocating lossGrad */
  readonly grad: () => number;
  /** |lossJvp's tangent - lossGrad · direction|, relative to max(1, sum of |terms|) */
  readonly jvpDiff: number;
}

// ---------------------------------------------------------------------------------------
// TensorFlow.js forward passes: the peers' losses (bench/peers/tfjs.ts) on their variables,
// written out again here because the peers expose only the training step.

function lenetTfjsLoss(v: TfjsPeer<Record<keyof typeof LENET_SHAPES, Float64Array>>["variables"], b: TfjsBatch, batch: number): tf.Scalar {
  let h = b.x as tf.Tensor4D;
  h = tf.maxPool(tf.relu(tf.add(tf.conv2d(h, v.c1w as tf.Tensor4D, 1, "same"), v.c1b)), 2, 2, "valid");
  h = tf.maxPool(tf.relu(tf.add(tf.conv2d(h, v.c2w as tf.Tensor4D, 1, "valid"), v.c2b)), 2, 2, "valid");
  let f: tf.Tensor2D = tf.reshape(h, [batch, 400]);
  f = tf.relu(tf.add(tf.matMul(f, v.f1w as tf.Tensor2D), v.f1b));
  f = tf.relu(tf.add(tf.matMul(f, v.f2w as tf.Tensor2D), v.f2b));
  const logits = tf.add(tf.matMul(f, v.f3w as tf.Tensor2D), v.f3b);
  return tf.losses.softmaxCrossEntropy(b.labels, logits) as tf.Scalar;
}

function mlpTfjsLoss(v: TfjsPeer<Record<keyof typeof MLP_SHAPES, Float64Array>>["variables"], b: TfjsBatch): tf.Scalar {
  const h = tf.sigmoid(tf.add(tf.matMul(b.x as tf.Tensor2D, v.w1 as tf.Tensor2D), v.b1));
  const logits = tf.add(tf.matMul(h, v.w2 as tf.Tensor2D), v.b2);
  return tf.losses.softmaxCrossEntropy(b.labels, logits) as tf.Scalar;
}

// ---------------------------------------------------------------------------------------
// Timing

interface Timed {
  readonly fn: () => number;
  reps: number;
  readonly samples: number[];
}

let sink = 0;

function timed(fn: () => number): Timed {
  return { fn, reps: 1, samples: [] };
}

/** Runs fn for WARMUP_MS (at least 3 calls), then sets the repetitions per sample. */
function warmUp(t: Timed): void {
  const t0 = performance.now();
  let n = 0;
  do {
    sink += t.fn();
    n++;
  } while (n < 3 || performance.now() - t0 < WARMUP_MS);
  const each = (performance.now() - t0) / n;
  t.reps = Math.max(1, Math.round(SAMPLE_MS / each));
}

/**
 * One sample: after a full GC and, for a subject that repeats within a sample, one untimed
 * call (caches warm again after the previous subject, which may have been TensorFlow.js
 * churning memory), `reps` timed calls.
 */
function sample(t: Timed): void {
  (globalThis as { gc?: () => void }).gc?.();
  if (t.reps > 1) sink += t.fn();
  const t0 = performance.now();
  for (let r = 0; r < t.reps; r++) sink += t.fn();
  t.samples.push((performance.now() - t0) / t.reps);
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

// ---------------------------------------------------------------------------------------
// Subjects

const PEERS = ["adgen (float64)", "adgen any N (f64)", "adgen (float32)", "adgen wasm (f64)", "adgen wasm (f32)", "hand-written", "TensorFlow.js", "PyTorch (float64)", "PyTorch (float32)"] as const;
type Peer = (typeof PEERS)[number];

/** A subject timed in this process, or in the PyTorch worker. */
type Subject = Timed | RemoteTimed;

interface Case {
  readonly model: BenchModel;
  readonly subjects: Map<Peer, { step: Subject; forward: Subject }>;
  /** lossJvp, lossHvp and lossGrad of the adgen (float64) module, beside its loss and lossGradInto */
  readonly modes: { jvp: Timed; hvp: Timed; grad: Timed; jvpDiff: number };
  /** Largest |difference| of the gradients, relative to max(1, |reference|), vs adgen float64. */
  readonly agreement: Map<Peer, number>;
}

function maxRelDiff(a: Record<string, ArrayLike<number>>, b: Record<string, ArrayLike<number>>): number {
  let worst = 0;
  for (const k of Object.keys(a)) {
    const x = a[k]!;
    const y = b[k]!;
    for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!) / Math.max(1, Math.abs(x[i]!)));
  }
  return worst;
}

async function makeCase(
  model: BenchModel, dir: string,
  shapes: Record<string, readonly number[]>, sampleShape: readonly number[],
  handwritten: (batch: number) => PeerModel<Record<string, Float64Array>>,
  tfjsPeer: (batch: number) => TfjsPeer<Record<string, Float64Array>>,
  tfjsLoss: (v: TfjsPeer<Record<string, Float64Array>>["variables"], b: TfjsBatch) => tf.Scalar,
  torch: TorchWorker | null,
): Promise<Case> {
  const params = initParams(shapes, 1) as Record<string, Float64Array>;
  const { x, labels } = randomBatch(model.batch, sizeOf(sampleShape), 7 + model.batch);
  const subjects = new Map<Peer, { step: Subject; forward: Subject }>();
  const agreement = new Map<Peer, number>();

  const g64 = adgenSubject(await generate(model, "float64", dir), params, x, labels, false);
  const g32 = adgenSubject(await generate(model, "float32", dir), params, x, labels, true);
  g64.step();
  g32.step();
  subjects.set("adgen (float64)", { step: timed(g64.step), forward: timed(g64.forward) });
  subjects.set("adgen (float32)", { step: timed(g32.step), forward: timed(g32.forward) });
  agreement.set("adgen (float32)", maxRelDiff(g64.grads, g32.grads));
  const calls = g64.modes();
  const modes = { jvp: timed(calls.jvp), hvp: timed(calls.hvp), grad: timed(calls.grad), jvpDiff: calls.jvpDiff };
  // --target wasm: the same modules with WebAssembly SIMD layer kernels
  const w64 = adgenSubject(await generate(model, "float64", dir, "wasm"), params, x, labels, false);
  const w32 = adgenSubject(await generate(model, "float32", dir, "wasm"), params, x, labels, true);
  w64.step();
  w32.step();
  subjects.set("adgen wasm (f64)", { step: timed(w64.step), forward: timed(w64.forward) });
  subjects.set("adgen wasm (f32)", { step: timed(w32.step), forward: timed(w32.forward) });
  agreement.set("adgen wasm (f64)", maxRelDiff(g64.grads, w64.grads));
  agreement.set("adgen wasm (f32)", maxRelDiff(g64.grads, w32.grads));
  if (model.name.startsWith("LeNet")) {
    // the same network written once for any batch N (one generated file for every size)
    const gN = adgenSubject(await generate(lenet(model.batch, true), "float64", dir), params, x, labels, false);
    gN.step();
    subjects.set("adgen any N (f64)", { step: timed(gN.step), forward: timed(gN.forward) });
    agreement.set("adgen any N (f64)", maxRelDiff(g64.grads, gN.grads));
  }

  const hw = handwritten(model.batch);
  const hwGrads = allocBuffers(shapes) as Record<string, Float64Array>;
  hw.step(params, x, labels, hwGrads);
  subjects.set("hand-written", {
    step: timed(() => hw.step(params, x, labels, hwGrads)),
    forward: timed(() => hw.forward(params, x, labels)),
  });
  agreement.set("hand-written", maxRelDiff(g64.grads, hwGrads));

  const t = tfjsPeer(model.batch);
  t.setParams(params);
  const batch = t.prepareBatch(x, labels);
  t.stepTimed(batch);
  agreement.set("TensorFlow.js", maxRelDiff(g64.grads, t.gradsInOurLayout()));
  subjects.set("TensorFlow.js", {
    step: timed(() => t.stepTimed(batch)),
    forward: timed(() => {
      const v = tf.tidy(() => tfjsLoss(t.variables, batch));
      const l = v.dataSync()[0]!;
      v.dispose();
      return l;
    }),
  });
  if (torch !== null) await addTorchSubjects(torch, model, shapes, params, x, labels, g64.grads, subjects, agreement);
  return { model, subjects, modes, agreement };
}

/** PyTorch float64 and float32 in the worker, on the same parameters and batch. */
async function addTorchSubjects(
  torch: TorchWorker, model: BenchModel, shapes: Record<string, readonly number[]>,
  params: Record<string, Float64Array>, x: Float64Array, labels: Labels,
  reference: Record<string, Float64Array | Float32Array>,
  subjects: Map<Peer, { step: Subject; forward: Subject }>, agreement: Map<Peer, number>,
): Promise<void> {
  for (const dtype of ["float64", "float32"] as const) {
    const key = `${model.name.split(" ")[0]!.toLowerCase().replace(/[^a-z0-9]/g, "")}_b${model.batch}_${dtype}`;
    const peer: Peer = dtype === "float64" ? "PyTorch (float64)" : "PyTorch (float32)";
    const { grads } = await torch.setup({
      key, model: model.name.startsWith("LeNet") ? "lenet" : "mlp", batch: model.batch, dtype, params, shapes, x, labels,
    });
    agreement.set(peer, maxRelDiff(reference, grads));
    subjects.set(peer, { step: remoteTimed(torch, key, "step"), forward: remoteTimed(torch, key, "forward") });
  }
}

// ---------------------------------------------------------------------------------------
// The adgen CLI from a cold start

function cliCompileTimes(dir: string): number[] {
  const cli = path.join(here, "../compiler/cli.js");
  const model = path.join(dir, "cli_lenet.ts");
  fs.writeFileSync(model, lenet(1).source);
  const times: number[] = [];
  for (let r = 0; r < CLI_RUNS; r++) {
    const t0 = performance.now();
    const run = spawnSync(process.execPath, [cli, model, "-o", path.join(dir, "cli_lenet.grad.ts")], { encoding: "utf8" });
    times.push(performance.now() - t0);
    if (run.status !== 0) throw new Error(`adgen CLI failed: ${run.stderr}`);
  }
  return times;
}

// ---------------------------------------------------------------------------------------
// Report

const fmt = (ms: number): string => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms >= 1 ? ms.toFixed(2) : ms.toFixed(3));
const pad = (s: string, n: number): string => s.padStart(n);

function report(cases: readonly Case[], cliTimes: readonly number[], seconds: number, torchNote: string): void {
  const cpus = os.cpus();
  console.log(`Machine: ${cpus[0]?.model ?? "unknown CPU"} (${cpus.length} logical CPUs), ${os.platform()} ${os.arch()}, Node ${process.version}`);
  console.log(`Load average at the end: ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`);
  console.log(`Wall-clock medians of ${ROUNDS} interleaved samples (each ~${SAMPLE_MS} ms of repetitions), after ${WARMUP_MS} ms of warm-up; ${seconds.toFixed(0)} s in all.`);
  console.log(`GFLOP/s counts 2 FLOPs per multiply-add of the conv and linear layers (dense, whatever a peer skips).`);
  console.log("");
  const header = `${"model".padEnd(16)}${pad("batch", 6)}  ${"peer".padEnd(17)}${pad("step ms", 10)}${pad("fwd ms", 10)}${pad("step/fwd", 10)}${pad("GFLOP/s", 9)}${pad("vs hand", 9)}${pad("tfjs/it", 9)}${pad("grad diff", 11)}`;
  console.log(header);
  console.log("-".repeat(header.length));
  for (const c of cases) {
    const med = (p: Peer): { step: number; forward: number } => {
      const s = c.subjects.get(p)!;
      return { step: median(s.step.samples), forward: median(s.forward.samples) };
    };
    const hand = med("hand-written");
    const tfjs = med("TensorFlow.js");
    for (const p of PEERS.filter((q) => c.subjects.has(q))) {
      const m = med(p);
      const diff = c.agreement.get(p);
      console.log(
        `${c.model.name.padEnd(16)}${pad(String(c.model.batch), 6)}  ${p.padEnd(17)}` +
        `${pad(fmt(m.step), 10)}${pad(fmt(m.forward), 10)}${pad((m.step / m.forward).toFixed(2), 10)}` +
        `${pad((c.model.stepFlops / m.step / 1e6).toFixed(2), 9)}` +
        `${pad(p === "hand-written" ? "" : `${(m.step / hand.step).toFixed(2)}x`, 9)}` +
        `${pad(p === "TensorFlow.js" ? "" : `${(tfjs.step / m.step).toFixed(1)}x`, 9)}` +
        `${pad(diff === undefined ? "" : diff.toExponential(0), 11)}`,
      );
    }
    console.log("");
  }
  console.log("step/fwd: the training step's time over the forward pass's. vs hand: step time over the hand-written");
  console.log("step's. tfjs/it: TensorFlow.js's step time over this peer's. grad diff: the largest gradient");
  console.log("difference from adgen float64, relative to max(1, |gradient|) (float32 peers differ at ~1e-6).");
  console.log("");
  console.log(`Summary (adgen float64):`);
  for (const c of cases) {
    const a = c.subjects.get("adgen (float64)")!;
    const h = c.subjects.get("hand-written")!;
    const t = c.subjects.get("TensorFlow.js")!;
    const as = median(a.step.samples);
    const af = median(a.forward.samples);
    console.log(
      `  ${c.model.name} batch ${c.model.batch}: step ${fmt(as)} ms (${(as / median(h.step.samples)).toFixed(2)}x hand-written, ` +
      `tfjs ${(median(t.step.samples) / as).toFixed(1)}x slower), forward ${fmt(af)} ms ` +
      `(${(af / median(h.forward.samples)).toFixed(2)}x hand-written), step/forward ${(as / af).toFixed(2)}`,
    );
  }
  for (const c of cases) {
    const n = c.subjects.get("adgen any N (f64)");
    if (!n) continue;
    const a = c.subjects.get("adgen (float64)")!;
    console.log(
      `  ${c.model.name} written for any batch N, called at N = ${c.model.batch}: step ${fmt(median(n.step.samples))} ms, ` +
      `${(median(n.step.samples) / median(a.step.samples)).toFixed(2)}x the literal-shape build; forward ` +
      `${(median(n.forward.samples) / median(a.forward.samples)).toFixed(2)}x`,
    );
  }
  for (const c of cases) {
    const parts = (["float64", "float32"] as const).map((dtype) => {
      const plain = c.subjects.get(`adgen (${dtype})`)!;
      const wasm = c.subjects.get(`adgen wasm (${dtype === "float64" ? "f64" : "f32"})`)!;
      const [p, w] = [median(plain.step.samples), median(wasm.step.samples)];
      return `${dtype} ${fmt(w)} ms (${(p / w).toFixed(2)}x faster than the TypeScript kernels' ${fmt(p)} ms)`;
    });
    console.log(`  ${c.model.name} batch ${c.model.batch}, --target wasm step: ${parts.join(", ")}`);
  }
  console.log("");
  reportModes(cases);
  console.log("");
  reportTorch(cases, torchNote);
  console.log("");
  console.log(`adgen CLI on LeNet-5 from a cold start (node dist/compiler/cli.js, ${cliTimes.length} runs): median ${fmt(median(cliTimes))} ms ` +
    `(min ${fmt(Math.min(...cliTimes))}, max ${fmt(Math.max(...cliTimes))})`);
}

/** lossJvp over loss and lossHvp over lossGrad (and lossGradInto), adgen float64, against the targets. */
function reportModes(cases: readonly Case[]): void {
  const JVP_TARGET = 3;
  const HVP_TARGET = 4;
  console.log(`Forward mode and Hessian-vector products (adgen float64, TypeScript kernels; medians, interleaved with the rows above):`);
  const header = `${"model".padEnd(16)}${pad("batch", 6)}${pad("fwd ms", 9)}${pad("jvp ms", 9)}${pad("jvp/fwd", 9)}${pad("target", 8)}` +
    `${pad("grad ms", 9)}${pad("into ms", 9)}${pad("hvp ms", 9)}${pad("hvp/grad", 10)}${pad("target", 8)}${pad("hvp/into", 10)}${pad("jvp diff", 10)}`;
  console.log(header);
  console.log("-".repeat(header.length));
  const mark = (ratio: number, target: number): string => `${ratio.toFixed(2)}${ratio > target ? "!" : " "}`;
  for (const c of cases) {
    const a = c.subjects.get("adgen (float64)")!;
    const [fwd, into] = [median(a.forward.samples), median(a.step.samples)];
    const [jvp, hvp, grad] = [c.modes.jvp, c.modes.hvp, c.modes.grad].map((t) => median(t.samples)) as [number, number, number];
    console.log(
      `${c.model.name.padEnd(16)}${pad(String(c.model.batch), 6)}${pad(fmt(fwd), 9)}${pad(fmt(jvp), 9)}${pad(mark(jvp / fwd, JVP_TARGET), 9)}${pad(`<= ${JVP_TARGET}`, 8)}` +
      `${pad(fmt(grad), 9)}${pad(fmt(into), 9)}${pad(fmt(hvp), 9)}${pad(mark(hvp / grad, HVP_TARGET), 10)}${pad(`<= ${HVP_TARGET}`, 8)}` +
      `${pad((hvp / into).toFixed(2), 10)}${pad(c.modes.jvpDiff.toExponential(0), 10)}`,
    );
  }
  console.log("fwd: loss; jvp: lossJvp(args..., tangents); grad: lossGrad (allocating, as lossJvp and lossHvp are);");
  console.log("into: lossGradInto (the step above); hvp: lossHvp(args..., direction). One random direction per");
  console.log("case, allocated once outside the timing. !: over the target. jvp diff: |lossJvp's tangent - lossGrad's");
  console.log("gradient . direction|, relative to max(1, sum of |terms|).");
}

/** adgen (each target) against PyTorch of the same dtype, and PyTorch's CPU time (one thread: ~ its wall time). */
function reportTorch(cases: readonly Case[], torchNote: string): void {
  console.log(`adgen vs PyTorch eager, same dtype (${torchNote}):`);
  if (!cases.some((c) => c.subjects.has("PyTorch (float64)"))) return;
  console.log("adgen's time over PyTorch's (below 1: adgen is faster), per target (ts: TypeScript kernels; wasm:");
  console.log("WebAssembly SIMD layer kernels); PyTorch's own CPU time over its wall time.");
  const header = `${"model".padEnd(16)}${pad("batch", 6)}  ${"dtype".padEnd(8)}${"target".padEnd(7)}${pad("adgen step", 11)}${pad("torch step", 11)}${pad("ratio", 7)}` +
    `${pad("adgen fwd", 10)}${pad("torch fwd", 10)}${pad("ratio", 7)}${pad("torch GFLOP/s", 14)}${pad("cpu/wall", 9)}${pad("grad diff", 11)}`;
  console.log(header);
  console.log("-".repeat(header.length));
  let disagree = false;
  for (const c of cases) {
    for (const dtype of ["float64", "float32"] as const) {
      const t = c.subjects.get(`PyTorch (${dtype})`);
      if (t === undefined || !("cpuSamples" in t.step)) continue;
      for (const target of ["ts", "wasm"] as const) {
        const a = c.subjects.get(target === "ts" ? `adgen (${dtype})` : `adgen wasm (${dtype === "float64" ? "f64" : "f32"})`);
        if (a === undefined) continue;
        const [aStep, aFwd, tStep, tFwd] = [a.step, a.forward, t.step, t.forward].map((x) => median(x.samples)) as [number, number, number, number];
        const diff = c.agreement.get(`PyTorch (${dtype})`)!;
        // float64 gradients must agree to 1e-9 (as the reference tests' PyTorch gradients do)
        const bad = dtype === "float64" && !(diff <= 1e-9);
        disagree ||= bad;
        console.log(
          `${c.model.name.padEnd(16)}${pad(String(c.model.batch), 6)}  ${dtype.padEnd(8)}${target.padEnd(7)}${pad(fmt(aStep), 11)}${pad(fmt(tStep), 11)}${pad(`${(aStep / tStep).toFixed(2)}x`, 7)}` +
          `${pad(fmt(aFwd), 10)}${pad(fmt(tFwd), 10)}${pad(`${(aFwd / tFwd).toFixed(2)}x`, 7)}${pad((c.model.stepFlops / tStep / 1e6).toFixed(2), 14)}` +
          `${pad((median(t.step.cpuSamples) / tStep).toFixed(2), 9)}${pad(`${diff.toExponential(0)}${bad ? " (!)" : ""}`, 11)}`,
        );
      }
    }
  }
  if (disagree) console.log("(!) PyTorch's float64 gradients differ from adgen's by more than 1e-9.");
}

// ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const start = performance.now();
  let torch: TorchWorker | null = null;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "adgen-bench-"));
  try {
    await initTfjs();
    const started = await startTorchWorker();
    torch = "unavailable" in started ? null : started;
    const torchNote = "unavailable" in started
      ? `PyTorch skipped: ${started.unavailable}`
      : `PyTorch ${started.torch}, ${started.threads} thread, /usr/bin/python3, timed in its worker process`;
    if (torch === null) process.stderr.write(`${torchNote}\n`);
    const cases: Case[] = [];
    for (const batch of ONLY === "mlp" ? [] : BATCHES) {
      cases.push(await makeCase(lenet(batch), dir, LENET_SHAPES, [1, 28, 28],
        createLeNetHandwritten as (b: number) => PeerModel<Record<string, Float64Array>>,
        createLeNetTfjs as (b: number) => TfjsPeer<Record<string, Float64Array>>,
        (v, b) => lenetTfjsLoss(v as never, b, batch), torch));
    }
    for (const batch of ONLY === "lenet" ? [] : BATCHES) {
      cases.push(await makeCase(mlp(batch), dir, MLP_SHAPES, [784],
        createMlpHandwritten as (b: number) => PeerModel<Record<string, Float64Array>>,
        createMlpTfjs as (b: number) => TfjsPeer<Record<string, Float64Array>>,
        (v, b) => mlpTfjsLoss(v as never, b), torch));
    }
    const loops: { subject: LoopSubject; grad: Timed; into: Timed }[] = ONLY ? [] :
      (await loopSubjects(dir)).map((subject) => ({ subject, grad: timed(subject.grad), into: timed(subject.gradInto) }));
    const all = [
      ...cases.flatMap((c) => [...c.subjects.values()].flatMap((s) => [s.step, s.forward])),
      ...cases.flatMap((c) => [c.modes.jvp, c.modes.hvp, c.modes.grad]),
      ...loops.flatMap((l) => [l.grad, l.into]),
    ];
    process.stderr.write(`warming up ${all.length} subjects... `);
    for (const t of all) {
      if ("cpuSamples" in t) await t.warmUp(WARMUP_MS, SAMPLE_MS);
      else warmUp(t);
    }
    process.stderr.write(`sampling ${ROUNDS} rounds`);
    // each round visits the subjects in a new order, so none always runs after the same one
    const random = mulberry32(12345);
    for (let r = 0; r < ROUNDS; r++) {
      const order = [...all];
      for (let i = order.length - 1; i > 0; i--) {
        const k = Math.floor(random() * (i + 1));
        [order[i], order[k]] = [order[k]!, order[i]!];
      }
      for (const t of order) {
        if ("cpuSamples" in t) await t.sample();
        else sample(t);
      }
      process.stderr.write(".");
    }
    process.stderr.write("\ncompiling LeNet-5 with the CLI...\n");
    const cliTimes = cliCompileTimes(dir);
    if (!Number.isFinite(sink)) throw new Error("a loss was not finite");
    report(cases, cliTimes, (performance.now() - start) / 1000, torchNote);
    if (loops.length) {
      console.log("\nLoops written out in the DSL: the allocation-free fGradInto against fGrad (medians, target ratio <= 1.0)\n");
      console.log("| program | fGrad | fGradInto | GradInto / Grad |\n| --- | ---: | ---: | ---: |");
      for (const l of loops) {
        const [g, i] = [median(l.grad.samples), median(l.into.samples)];
        console.log(`| ${l.subject.name} | ${g.toFixed(3)} ms | ${i.toFixed(3)} ms | ${(i / g).toFixed(2)} |`);
      }
    }
    if (SCALE) {
      process.stderr.write("compiling straight-line programs of 1,000, 10,000 and 60,000 statements...\n");
      const rows = await compileScale([1000, 10000, 60000]);
      console.log("\nCompile time against program size (one entry of n straight-line statements, compiler API)\n");
      console.log("| statements | compile | per 1,000 statements | generated |\n| ---: | ---: | ---: | ---: |");
      for (const r of rows) console.log(`| ${r.n.toLocaleString("en")} | ${(r.ms / 1000).toFixed(1)} s | ${((r.ms / r.n) * 1000).toFixed(0)} ms | ${(r.bytes / 1e6).toFixed(1)} MB |`);
    }
    if (KEEP) console.log(`\nGenerated modules kept in ${dir}`);
  } finally {
    await torch?.close();
    if (!KEEP) fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
