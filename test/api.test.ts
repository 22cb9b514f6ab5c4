// The generated module's API: the allocation-free form agrees with the allocating one
// (also on a second call, when the workspace is reused), the forward/backward split agrees
// with fGrad, the shapes are exported as data, and a training loop on the allocation-free
// form runs without garbage collection.

import { literalSize } from "../compiler/ir/types.js";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { compileOrThrow, importCode, rng } from "./helpers.js";

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}/model.ts`, import.meta.url), "utf8");

function randomArgs(shapes: Record<string, readonly number[]>, seed: number): (number | Float64Array)[] {
  const random = rng(seed);
  // (a class label must be a class index)
  return Object.entries(shapes).map(([name, s]) =>
    s.length === 0 ? (name === "label" ? 7 : random() + 1.5) : Float64Array.from({ length: s.reduce((a, b) => a * b, 1) }, () => random() - 0.5),
  );
}

function zerosLike(grads: Record<string, number | Float64Array>): Record<string, number | Float64Array> {
  return Object.fromEntries(Object.entries(grads).map(([k, v]) => [k, typeof v === "number" ? 0 : new Float64Array(v.length).fill(NaN)]));
}

describe.each(["lenet5_digit7", "seed_blur", "logistic_regression", "conv_basic", "maxpool_overlap"])("API of %s", (name) => {
  it("GradInto/VjpInto equal Grad/Vjp, twice in a row; Forward+Backward equal Grad", async () => {
    const r = await compileOrThrow(fixture(name));
    const m = await importCode<Record<string, any>>(r.code!);
    const { entry } = r.entries[0]!;
    const f = entry.name;
    expect(m[`${f}Shapes`]).toEqual(Object.fromEntries(entry.params.map((p) => [p.name, p.type.kind === "tensor" ? p.type.shape : []])));
    for (const seed of [1, 2]) {
      const args = randomArgs(m[`${f}Shapes`], seed);
      if (entry.result.kind === "tensor") {
        const cot = Float64Array.from({ length: literalSize(entry.result.shape) }, (_, i) => Math.sin(i + seed));
        const ref = m[`${f}Vjp`](...args, cot);
        const out = new Float64Array(ref.value.length);
        const grads = zerosLike(ref.grads);
        m[`${f}VjpInto`](...args, cot, out, grads);
        expect(out).toEqual(ref.value);
        expect(grads).toEqual(ref.grads);
        const tape = m[`${f}Forward`](...args);
        expect(m[`${f}Backward`](tape, cot)).toEqual(ref.grads);
      } else {
        const ref = m[`${f}Grad`](...args);
        const grads = zerosLike(ref.grads);
        expect(m[`${f}GradInto`](...args, grads)).toEqual(ref.value);
        expect(grads).toEqual(ref.grads);
        const tape = m[`${f}Forward`](...args);
        expect(tape.value).toEqual(ref.value);
        expect(m[`${f}Backward`](tape)).toEqual(ref.grads);
      }
    }
  });
});

it("a training loop on the allocation-free form allocates nothing per step (no garbage collection)", async () => {
  const r = await compileOrThrow(fixture("lenet5_digit7"));
  const js = ts.transpileModule(r.code!, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext } }).outputText;
  const dir = mkdtempSync(join(tmpdir(), "adgen-gc-"));
  writeFileSync(join(dir, "lenet.mjs"), js);
  writeFileSync(
    join(dir, "main.mjs"),
    `import * as m from "./lenet.mjs";
import { PerformanceObserver } from "node:perf_hooks";
const shapes = m.lossShapes;
const args = Object.values(shapes).map((s, k) => s.length === 0 ? 7 : Float64Array.from({ length: s.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i * 7 + k) * 0.1));
const grads = {};
for (const [k, s] of Object.entries(shapes)) if (k !== "label") grads[k] = new Float64Array(s.reduce((a, b) => a * b, 1));
const [a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11] = args;
// no spread in the calls: a spread allocates an array per call
const step = () => m.lossGradInto(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, grads);
// the training loop lives in a function so that the JIT optimizes it (top-level module code
// is interpreted and would allocate numbers itself)
function train(steps) {
  let sum = 0;
  const w = grads.f3w;
  for (let i = 0; i < steps; i++) {
    sum += step();
    for (let k = 0; k < w.length; k++) a10[k] -= 1e-9 * w[k]; // SGD on one layer, in place
  }
  return sum;
}
// warm up long enough that train() and every kernel reach their optimised code before we
// measure (the JIT recompiling a function mid-run would run it interpreted, which allocates)
train(3000);
// Empty the young generation first (a collection must not be merely the warm-up's leftovers),
// then count collections over 300 steps and measure how the heap grows. A step that allocated
// its buffers (LeNet-5: about 100 KB) would grow it by tens of megabytes and collect often.
gc();
const before = process.memoryUsage();
let gcs = 0;
const obs = new PerformanceObserver((list) => { gcs += list.getEntries().length; });
obs.observe({ entryTypes: ["gc"] });
const sum = train(300);
const after = process.memoryUsage();
// typed arrays keep their elements outside the JavaScript heap: count both
const grown = after.heapUsed - before.heapUsed;
const arrays = after.arrayBuffers - before.arrayBuffers;
obs.disconnect();
console.log(JSON.stringify({ bytesPerStep: grown / 300, arrayBytesPerStep: arrays / 300, gcs, finite: Number.isFinite(sum) }));
`,
  );
  const run = spawnSync(process.execPath, ["--expose-gc", join(dir, "main.mjs")], { encoding: "utf8" });
  expect(run.status, run.stderr).toBe(0);
  const measured = JSON.parse(run.stdout.trim()) as { bytesPerStep: number; arrayBytesPerStep: number; gcs: number; finite: boolean };
  expect(measured.finite).toBe(true);
  expect(measured.gcs, run.stdout).toBe(0);
  // (what the heap still grows by is the JIT's own late work, not the step's buffers)
  expect(measured.bytesPerStep, run.stdout).toBeLessThan(8192);
  // no typed array is allocated per step (the allocating lossGrad: about 400 KB per step)
  expect(measured.arrayBytesPerStep, run.stdout).toBeLessThan(64);
}, 60_000);

it("--dtype float32 generates Float32Array code whose LeNet-5 gradient agrees with PyTorch to float32 precision", async () => {
  const { loadReference } = await import("./helpers.js");
  const ref = loadReference("lenet5_digit7");
  const r = await compileOrThrow(fixture("lenet5_digit7"), { dtype: "float32" });
  expect(r.code).not.toContain("Float64Array");
  const m = await importCode<Record<string, any>>(r.code!);
  const args = Object.keys(m.lossShapes).map((k) => {
    const t = ref.inputs[k]!;
    return t.shape.length ? Float32Array.from(t.data) : t.data[0];
  });
  const res = m.lossGrad(...args);
  expect(Math.abs(res.value - ref.output.data[0]!)).toBeLessThan(1e-5);
  for (const w of ref.wrt) {
    const want = ref.grads[w]!.data;
    const scale = Math.max(...want.map(Math.abs));
    const got: Float32Array = res.grads[w];
    expect(got).toBeInstanceOf(Float32Array);
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / scale);
    expect(worst, w).toBeLessThan(1e-5);
  }
});
