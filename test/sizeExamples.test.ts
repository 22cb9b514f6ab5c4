// The size-generic examples (examples/lse, llsq, ode, gmm, lstm, mnist-any-batch): each model is
// compiled once and run at two sizes, and its gradient is checked against centered finite
// differences (relative error ≤ 1e-6) and against PyTorch float64 (relative error ≤ 1e-9)
// from the fixtures scripts/torch-size-refs.py writes to test/fixtures-sizes/.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { type Arg, type RefTensor, compileModule, directionalCheck, maxRelErr } from "./helpers.js";

interface SizeCase {
  sizes: Record<string, number>;
  inputs: Record<string, RefTensor & { formula?: string }>;
  wrt: string[];
  output: RefTensor;
  grads: Record<string, RefTensor & { stride?: number; projection?: { value: number } }>;
  solution?: RefTensor;
}

const FD_TOLERANCE = 1e-6;
const TORCH_TOLERANCE = 1e-9;

type Entry = (...args: Arg[]) => number;
type GradEntry = (...args: Arg[]) => { value: number; grads: Record<string, Float64Array> };

function loadCases(example: string): SizeCase[] {
  const url = new URL(`./fixtures-sizes/${example}.json`, import.meta.url);
  return (JSON.parse(readFileSync(url, "utf8")) as { cases: SizeCase[] }).cases;
}

async function loadModel(example: string): Promise<Record<string, unknown>> {
  const source = readFileSync(new URL(`../examples/${example}/model.ts`, import.meta.url), "utf8");
  return compileModule(source, { fileName: "model.ts" });
}

/** scale · sin(a i + b) (or cos) for i < n: the mnist-any-batch inputs, as torch-size-refs.py makes them. */
function wave(n: number, a: number, b: number, scale: number, fn: (v: number) => number = Math.sin): Float64Array {
  return Float64Array.from({ length: n }, (_, i) => scale * fn(a * i + b));
}

function mnistInputs(n: number): Record<string, Arg> {
  return {
    x: wave(n * 784, 0.731, n, 1.2),
    labels: Float64Array.from({ length: n }, (_, i) => (7 * i + 3) % 10),
    w1: wave(64 * 784, 0.377, 1, 0.05),
    b1: wave(64, 1.3, 0, 0.1, Math.cos),
    w2: wave(10 * 64, 0.91, 2, 0.15),
    b2: wave(10, 0.7, 1, 0.1, Math.cos),
  };
}

/** The case's inputs in the order of the entry's parameters (its `…Shapes` object). */
function argsOf(example: string, c: SizeCase, shapes: Record<string, readonly unknown[]>): Arg[] {
  const named: Record<string, Arg> =
    example === "mnist-any-batch"
      ? mnistInputs(c.sizes.N!)
      : Object.fromEntries(Object.entries(c.inputs).map(([k, t]) => [k, t.shape.length === 0 ? t.data[0]! : Float64Array.from(t.data)]));
  return Object.keys(shapes).map((k) => {
    if (!(k in named)) throw new Error(`${example}: the fixture has no input ${k}`);
    return named[k]!;
  });
}

/** The worst relative error of adgen's gradient against the fixture's (sampled or whole). */
function gradError(got: Float64Array, want: SizeCase["grads"][string]): number {
  if (want.stride === undefined) return maxRelErr(got, want.data);
  const sampled = Float64Array.from(want.data, (_, k) => got[k * want.stride!]!);
  let err = maxRelErr(sampled, want.data);
  if (want.projection) {
    const direction = wave(got.length, 0.113, 0.5, 1, Math.cos);
    const projection = got.reduce((s, g, i) => s + g * direction[i]!, 0);
    err = Math.max(err, maxRelErr(projection, want.projection.value));
  }
  return err;
}

// mnist-any-batch uses a finite-difference step of 1e-7: at N = 32 one of its 2,048 relu inputs
// is 1.5e-5 from 0, and a step of 1e-6 along a random direction of all 50,176 w1 entries
// moves it across the kink (error 5.7e-6 there; 3.5e-11 at 1e-7, where no relu flips).
const EXAMPLES: { example: string; entry: string; eps?: number }[] = [
  { example: "lse", entry: "lse" },
  { example: "llsq", entry: "llsq" },
  { example: "ode", entry: "odeLast" },
  { example: "gmm", entry: "gmm" },
  { example: "lstm", entry: "lstm" },
  { example: "mnist-any-batch", entry: "loss", eps: 1e-7 },
];

describe.each(EXAMPLES)("size-generic example $example", ({ example, entry, eps }) => {
  const cases = loadCases(example);

  it("has fixtures at two different sizes", () => {
    expect(cases.length).toBeGreaterThanOrEqual(2);
    expect(new Set(cases.map((c) => JSON.stringify(c.sizes))).size).toBe(cases.length);
  });

  it.each(cases.map((c) => [JSON.stringify(c.sizes), c] as const))(
    "at %s: gradient matches finite differences and PyTorch",
    { timeout: 60_000 },
    async (_, c) => {
      const m = await loadModel(example);
      const f = m[entry] as Entry;
      const grad = m[`${entry}Grad`] as GradEntry;
      const shapes = m[`${entry}Shapes`] as Record<string, readonly unknown[]>;
      const args = argsOf(example, c, shapes);
      const names = Object.keys(shapes);
      const { value, grads } = grad(...args);

      // The plain function and the gradient's forward pass agree.
      expect(f(...args)).toBe(value);

      // Finite differences along random directions of every differentiated input.
      const fdErr = directionalCheck((a) => f(...a), args, names.map((k) => grads[k]), { directions: 4, eps });
      expect(fdErr, `vs finite differences`).toBeLessThanOrEqual(FD_TOLERANCE);

      // PyTorch float64.
      expect(Object.keys(grads).sort()).toEqual([...c.wrt].sort());
      expect(maxRelErr(value, c.output.data[0]!), "value vs PyTorch").toBeLessThanOrEqual(TORCH_TOLERANCE);
      for (const k of c.wrt) {
        expect(gradError(grads[k]!, c.grads[k]!), `d${k} vs PyTorch`).toBeLessThanOrEqual(TORCH_TOLERANCE);
      }
      if (c.solution) {
        const solve = m.ode as (...a: Arg[]) => Float64Array;
        expect(maxRelErr(solve(...args), c.solution.data), "y(2) vs PyTorch").toBeLessThanOrEqual(TORCH_TOLERANCE);
      }
    },
  );
});

describe("size-generic examples: one compiled module, sizes changing from call to call", () => {
  it("mnist-any-batch: lossGradInto at N = 32, 17, 32 into the same buffers equals lossGrad", { timeout: 60_000 }, async () => {
    const m = await loadModel("mnist-any-batch");
    const lossGrad = m.lossGrad as GradEntry;
    const lossGradInto = m.lossGradInto as (...a: unknown[]) => number;
    const g = { w1: new Float64Array(64 * 784), b1: new Float64Array(64), w2: new Float64Array(640), b2: new Float64Array(10) };
    for (const n of [32, 17, 32]) {
      const i = mnistInputs(n);
      const args = [i.x, i.labels, i.w1, i.b1, i.w2, i.b2];
      const want = lossGrad(...args);
      expect(lossGradInto(...args, g)).toBe(want.value);
      for (const k of Object.keys(g) as (keyof typeof g)[]) expect(g[k]).toEqual(want.grads[k]);
    }
  });

  it("gmm: gmmGradInto at two sizes in turn equals gmmGrad", { timeout: 60_000 }, async () => {
    const m = await loadModel("gmm");
    const gmmGrad = m.gmmGrad as GradEntry;
    const gmmGradInto = m.gmmGradInto as (...a: unknown[]) => number;
    for (const c of [...loadCases("gmm"), ...loadCases("gmm").reverse()]) {
      const args = argsOf("gmm", c, m.gmmShapes as Record<string, readonly unknown[]>);
      const want = gmmGrad(...args);
      const g = Object.fromEntries(Object.entries(want.grads).map(([k, v]) => [k, new Float64Array(v.length)]));
      expect(gmmGradInto(...args, g)).toBe(want.value);
      for (const k of Object.keys(g)) expect(g[k]).toEqual(want.grads[k]);
    }
  });
});

describe("size-generic examples: inputs that do not fit are refused", () => {
  const z = (n: number) => new Float64Array(n).fill(0.1);
  it("llsq: n must be a non-negative integer", async () => {
    const llsq = (await loadModel("llsq")).llsq as Entry;
    expect(() => llsq(z(3), 2.5)).toThrow(/llsq: n must be a non-negative integer, got 2\.5/);
    expect(() => llsq(z(3), -1)).toThrow(RangeError);
  });
  it("gmm: q must be k x d, m an integer, l long enough", async () => {
    const gmm = (await loadModel("gmm")).gmm as Entry;
    // d = 3, k = 2, n = 3: L = 3.
    expect(gmm(z(2), z(6), z(6), z(6), z(9), 1, 0)).toBeTypeOf("number");
    expect(() => gmm(z(2), z(6), z(5), z(6), z(9), 1, 0)).toThrow(/q has 5 elements, but its shape \[K, D\] needs D\*K = 6/);
    expect(() => gmm(z(2), z(6), z(6), z(6), z(9), 1, 1.5)).toThrow(/m must be a non-negative integer/);
    expect(() => gmm(z(2), z(6), z(6), z(4), z(9), 1, 0)).toThrow(/dimension 1 of shape \[K, L\]/);
  });
  it("mnist-any-batch: labels must match the batch of x", async () => {
    const lossGrad = (await loadModel("mnist-any-batch")).lossGrad as GradEntry;
    expect(() => lossGrad(z(784 * 3), z(2), z(64 * 784), z(64), z(640), z(10))).toThrow(/labels has 2 elements, but its shape \[N\] needs N = 3/);
  });
});
