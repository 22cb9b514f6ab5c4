// Tests of the benchmark peers (bench/peers): the hand-written TypeScript
// LeNet-5 and MLP training steps, and their TensorFlow.js counterparts.
//  - hand-written LeNet-5 against the PyTorch float64 reference gradients
//    (test/reference/lenet5_digit7.json), at 1e-9 relative;
//  - batch 32 against the mean of 32 single-sample runs;
//  - hand-written MLP (and LeNet) against centered finite differences;
//  - tfjs LeNet-5 against the reference, and tfjs MLP against the
//    hand-written one, at float32 tolerance.

import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { createLeNetHandwritten, createMlpHandwritten } from "../bench/peers/handwritten.js";
import {
  LENET_SHAPES,
  MLP_SHAPES,
  type LeNetParams,
  allocBuffers,
  initParams,
  mulberry32,
  randomBatch,
} from "../bench/peers/shapes.js";
import { createLeNetTfjs, createMlpTfjs, initTfjs } from "../bench/peers/tfjs.js";
import { maxAbs, maxRelErr } from "./helpers.js";

// ---------------------------------------------------------------------------
// Reference data

interface RefTensor {
  shape: number[];
  data: number[];
}
interface RefCase {
  inputs: Record<string, RefTensor>;
  output: RefTensor;
  grads: Record<string, RefTensor>;
}

const ref = JSON.parse(
  readFileSync(new URL("./reference/lenet5_digit7.json", import.meta.url), "utf8"),
) as RefCase;

const PARAM_NAMES = Object.keys(LENET_SHAPES) as (keyof LeNetParams)[];
const MLP_NAMES = Object.keys(MLP_SHAPES) as (keyof typeof MLP_SHAPES)[];

function refParams(): LeNetParams {
  const p = allocBuffers(LENET_SHAPES);
  for (const k of PARAM_NAMES) {
    expect(ref.inputs[k]!.data.length).toBe(p[k].length);
    p[k].set(ref.inputs[k]!.data);
  }
  return p;
}
const refX = Float64Array.from(ref.inputs.x!.data);
const refLabel = Int32Array.of(ref.inputs.label!.data[0]!);
const refLoss = ref.output.data[0]!;


function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Σ over all buffers of g·d. */
function dotAll<K extends string>(names: K[], g: Record<K, Float64Array>, d: Record<K, Float64Array>): number {
  let s = 0;
  for (const k of names) for (let i = 0; i < g[k].length; i++) s += g[k][i]! * d[k][i]!;
  return s;
}

function randomDirection<S extends Record<string, readonly number[]>>(shapes: S, seed: number) {
  const rnd = mulberry32(seed);
  const d = allocBuffers(shapes);
  for (const k of Object.keys(shapes) as (keyof S)[]) for (let i = 0; i < d[k].length; i++) d[k][i] = 2 * rnd() - 1;
  return d;
}

/** p + t d, per buffer. */
function axpy<K extends string>(names: K[], p: Record<K, Float64Array>, t: number, d: Record<K, Float64Array>) {
  const out = {} as Record<K, Float64Array>;
  for (const k of names) {
    const b = new Float64Array(p[k].length);
    for (let i = 0; i < b.length; i++) b[i] = p[k][i]! + t * d[k][i]!;
    out[k] = b;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Hand-written LeNet-5

describe("hand-written LeNet-5", () => {
  it("matches the PyTorch reference (loss, every parameter gradient, input gradient) at 1e-9", () => {
    const m = createLeNetHandwritten(1);
    const p = refParams();
    const g = { ...allocBuffers(LENET_SHAPES), x: new Float64Array(784) };
    const loss = m.step(p, refX, refLabel, g);
    expect(Math.abs(loss - refLoss) / Math.max(1, Math.abs(refLoss))).toBeLessThanOrEqual(1e-9);
    expect(Math.abs(m.forward(p, refX, refLabel) - refLoss)).toBeLessThanOrEqual(1e-9);
    for (const k of [...PARAM_NAMES, "x" as const]) {
      const err = maxRelErr(g[k], ref.grads[k]!.data);
      expect(err, k).toBeLessThanOrEqual(1e-9);
    }
    // Float64Array labels, and a second step on the same instance, give the same result.
    const g2 = allocBuffers(LENET_SHAPES);
    expect(m.step(p, refX, Float64Array.of(refLabel[0]!), g2)).toBe(loss);
    for (const k of PARAM_NAMES) expect(maxRelErr(g2[k], g[k]), k).toBe(0);
  });

  it("batch 32 equals the mean of 32 single-sample runs (1e-12)", () => {
    const N = 32;
    const p = refParams();
    const { x, labels } = randomBatch(N, 784, 7);
    x.set(refX, 0); // first sample: the real digit
    labels[0] = refLabel[0]!;
    const mb = createLeNetHandwritten(N);
    const gb = { ...allocBuffers(LENET_SHAPES), x: new Float64Array(N * 784) };
    const lossB = mb.step(p, x, labels, gb);
    expect(mb.forward(p, x, labels)).toBe(lossB);

    const m1 = createLeNetHandwritten(1);
    const g1 = { ...allocBuffers(LENET_SHAPES), x: new Float64Array(784) };
    const mean = allocBuffers(LENET_SHAPES);
    let lossMean = 0;
    for (let n = 0; n < N; n++) {
      const xn = x.slice(n * 784, (n + 1) * 784);
      lossMean += m1.step(p, xn, labels.subarray(n, n + 1), g1) / N;
      for (const k of PARAM_NAMES) for (let i = 0; i < mean[k].length; i++) mean[k][i] += g1[k][i]! / N;
      // the input gradient of sample n is that of the single run, scaled by 1/N
      const gxn = gb.x.subarray(n * 784, (n + 1) * 784);
      expect(maxRelErr(gxn, g1.x.map((v) => v / N)), `x[${n}]`).toBeLessThanOrEqual(1e-12);
    }
    expect(Math.abs(lossB - lossMean) / Math.max(1, Math.abs(lossMean))).toBeLessThanOrEqual(1e-12);
    for (const k of PARAM_NAMES) expect(maxRelErr(gb[k], mean[k]), k).toBeLessThanOrEqual(1e-12);
  });

  it("agrees with centered finite differences along random directions (batch 3)", () => {
    const N = 3;
    const m = createLeNetHandwritten(N);
    const p = initParams(LENET_SHAPES, 5);
    const { x, labels } = randomBatch(N, 784, 9);
    const g = allocBuffers(LENET_SHAPES);
    m.step(p, x, labels, g);
    const eps = 1e-6;
    for (let trial = 0; trial < 3; trial++) {
      const d = randomDirection(LENET_SHAPES, 100 + trial);
      const fd =
        (m.forward(axpy(PARAM_NAMES, p, eps, d), x, labels) - m.forward(axpy(PARAM_NAMES, p, -eps, d), x, labels)) /
        (2 * eps);
      const an = dotAll(PARAM_NAMES, g, d);
      expect(Math.abs(fd - an) / Math.max(1, Math.abs(an))).toBeLessThanOrEqual(1e-6);
    }
  });

  it("rejects buffers of the wrong size", () => {
    const m = createLeNetHandwritten(2);
    expect(() => m.forward(refParams(), refX, Int32Array.of(1, 2))).toThrow(RangeError);
    expect(() => createLeNetHandwritten(0)).toThrow(RangeError);
  });
});

// ---------------------------------------------------------------------------
// Hand-written MLP

describe("hand-written MLP", () => {
  for (const N of [1, 5]) {
    it(`agrees with centered finite differences along random directions (batch ${N})`, () => {
      const m = createMlpHandwritten(N);
      const p = initParams(MLP_SHAPES, 3 + N);
      const { x, labels } = randomBatch(N, 784, 4 + N);
      const g = allocBuffers(MLP_SHAPES);
      const loss = m.step(p, x, labels, g);
      expect(m.forward(p, x, labels)).toBe(loss);
      const eps = 1e-6;
      for (let trial = 0; trial < 5; trial++) {
        const d = randomDirection(MLP_SHAPES, 200 + trial);
        const fd =
          (m.forward(axpy(MLP_NAMES, p, eps, d), x, labels) - m.forward(axpy(MLP_NAMES, p, -eps, d), x, labels)) /
          (2 * eps);
        const an = dotAll(MLP_NAMES, g, d);
        expect(Math.abs(fd - an) / Math.max(1, Math.abs(an))).toBeLessThanOrEqual(1e-6);
      }
      // and per parameter tensor, along directions supported on that tensor only
      for (const k of MLP_NAMES) {
        const d = randomDirection(MLP_SHAPES, 300);
        for (const other of MLP_NAMES) if (other !== k) d[other].fill(0);
        const fd =
          (m.forward(axpy(MLP_NAMES, p, eps, d), x, labels) - m.forward(axpy(MLP_NAMES, p, -eps, d), x, labels)) /
          (2 * eps);
        const an = dotAll(MLP_NAMES, g, d);
        expect(Math.abs(fd - an) / Math.max(1, Math.abs(an)), k).toBeLessThanOrEqual(1e-6);
      }
    });
  }

  it("batch 8 equals the mean of single-sample runs", () => {
    const N = 8;
    const p = initParams(MLP_SHAPES, 11);
    const { x, labels } = randomBatch(N, 784, 12);
    const gb = allocBuffers(MLP_SHAPES);
    const lossB = createMlpHandwritten(N).step(p, x, labels, gb);
    const m1 = createMlpHandwritten(1);
    const g1 = allocBuffers(MLP_SHAPES);
    const mean = allocBuffers(MLP_SHAPES);
    let lossMean = 0;
    for (let n = 0; n < N; n++) {
      lossMean += m1.step(p, x.slice(n * 784, (n + 1) * 784), labels.subarray(n, n + 1), g1) / N;
      for (const k of MLP_NAMES) for (let i = 0; i < mean[k].length; i++) mean[k][i] += g1[k][i]! / N;
    }
    expect(Math.abs(lossB - lossMean)).toBeLessThanOrEqual(1e-12 * Math.max(1, lossMean));
    for (const k of MLP_NAMES) expect(maxRelErr(gb[k], mean[k]), k).toBeLessThanOrEqual(1e-12);
  });

  it("is stable for large logits", () => {
    const m = createMlpHandwritten(1);
    const p = initParams(MLP_SHAPES, 1);
    p.b2.fill(0);
    p.b2[3] = 1000;
    p.b2[4] = 1000;
    const g = allocBuffers(MLP_SHAPES);
    const loss = m.step(p, new Float64Array(784), Int32Array.of(0), g);
    expect(Number.isFinite(loss)).toBe(true);
    for (const k of MLP_NAMES) expect(g[k].every(Number.isFinite), k).toBe(true);
  });
});

// ---------------------------------------------------------------------------
// TensorFlow.js (cpu, float32)

describe("tfjs peers", () => {
  beforeAll(async () => {
    await initTfjs();
  });

  it("LeNet-5 matches the PyTorch reference at float32 tolerance", () => {
    const m = createLeNetTfjs(1);
    try {
      const p = refParams();
      const g = allocBuffers(LENET_SHAPES);
      const loss = m.step(p, refX, refLabel, g);
      expect(Math.abs(loss - refLoss) / refLoss).toBeLessThanOrEqual(1e-4);
      expect(Math.abs(m.forward(p, refX, refLabel) - refLoss) / refLoss).toBeLessThanOrEqual(1e-4);
      for (const k of PARAM_NAMES) {
        const r = ref.grads[k]!.data;
        expect(maxAbsDiff(g[k], r), k).toBeLessThanOrEqual(1e-3 * maxAbs(r));
      }
      // setBatch + stepTimed + gradsInOurLayout is what step does, split
      m.setBatch(refX, refLabel);
      expect(Math.abs(m.stepTimed() - loss)).toBeLessThanOrEqual(1e-6);
      const g2 = m.gradsInOurLayout();
      for (const k of PARAM_NAMES) expect(maxAbsDiff(g2[k], g[k]), k).toBe(0);
      const b = m.prepareBatch(refX, refLabel);
      expect(Math.abs(m.stepTimed(b) - loss)).toBeLessThanOrEqual(1e-6);
      b.dispose();
    } finally {
      m.dispose();
    }
  });

  it("LeNet-5 batch 4 matches the hand-written peer at float32 tolerance", () => {
    const N = 4;
    const m = createLeNetTfjs(N);
    try {
      const p = initParams(LENET_SHAPES, 21);
      const { x, labels } = randomBatch(N, 784, 22);
      const g = allocBuffers(LENET_SHAPES);
      const gh = allocBuffers(LENET_SHAPES);
      const loss = m.step(p, x, labels, g);
      const lossH = createLeNetHandwritten(N).step(p, x, labels, gh);
      expect(Math.abs(loss - lossH) / lossH).toBeLessThanOrEqual(1e-4);
      for (const k of PARAM_NAMES) expect(maxAbsDiff(g[k], gh[k]), k).toBeLessThanOrEqual(1e-3 * maxAbs(gh[k]));
    } finally {
      m.dispose();
    }
  });

  it("MLP matches the hand-written peer at float32 tolerance", () => {
    const N = 4;
    const m = createMlpTfjs(N);
    try {
      const p = initParams(MLP_SHAPES, 31);
      const { x, labels } = randomBatch(N, 784, 32);
      const g = allocBuffers(MLP_SHAPES);
      const gh = allocBuffers(MLP_SHAPES);
      const loss = m.step(p, x, labels, g);
      const lossH = createMlpHandwritten(N).step(p, x, labels, gh);
      expect(Math.abs(loss - lossH) / lossH).toBeLessThanOrEqual(1e-4);
      for (const k of MLP_NAMES) expect(maxAbsDiff(g[k], gh[k]), k).toBeLessThanOrEqual(1e-3 * maxAbs(gh[k]));
    } finally {
      m.dispose();
    }
  });
});
