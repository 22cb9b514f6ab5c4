// `--target wasm`: the same module, whose layer kernels run as WebAssembly SIMD.
// - every reference case (test/reference) on the wasm target: PyTorch's gradients to 1e-9,
//   the default target's to 1e-12 (float64 SIMD sums some products in another order), and
//   the default target's to the bit with the SIMD kernels turned off (`useSimd(false)`: the
//   TypeScript kernels are the same code);
// - LeNet-5 (batch 1 and 8) and the 784-128-10 MLP (batch 1 and 16) of the benchmark, in
//   float64 (to 1e-12 of the default target) and float32 (to float32 precision);
// - the fallback: with WebAssembly hidden the module runs its TypeScript kernels;
// - the module typechecks on its own (no DOM or Node types) and imports nothing;
// - the command line: `--target wasm` writes it, a bad target is a usage error;
// - the fuzzer's random programs that use linear or conv2d, against the default target.

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ts from "typescript";
import { afterEach, describe, expect, it } from "vitest";
import { lenet, mlp } from "../bench/models.js";
import { asArg, compileOrThrow, importCode, loadReference, maxRelErr, rng } from "./helpers.js";

const CASES = [
  "quiz1", "simple_cos", "logistic_regression", "nn_one_hidden", "mlp_softmax",
  "conv_basic", "maxpool_overlap", "seed_maxpool_ties", "seed_blur", "lenet5_digit7",
];

type Mod = Record<string, any>;

const fixture = (name: string): string => readFileSync(new URL(`./fixtures/${name}/model.ts`, import.meta.url), "utf8");

/** The entry point of a generated module (the function with a Forward form). */
const entryOf = (mod: Mod): string => Object.keys(mod).find((k) => typeof mod[k] === "function" && mod[`${k}Forward`])!;

/** Calls the gradient (or vector-Jacobian product) of the module's entry. */
function run(mod: Mod, args: unknown[], cotangent?: unknown): { value: any; grads: Record<string, Float64Array | Float32Array> } {
  const entry = entryOf(mod);
  return cotangent === undefined ? mod[`${entry}Grad`](...args) : mod[`${entry}Vjp`](...args, cotangent);
}

/**
 * The allocation-free gradient (`lossGradInto`, whose workspace lives in the Wasm kernels'
 * memory: no copies), called twice on new gradient buffers (the second call reuses the
 * workspace); both calls must give the same results.
 */
function runInto(mod: Mod, args: unknown[], dtype: "float64" | "float32"): { value: number; grads: Record<string, Float64Array | Float32Array> } {
  const entry = entryOf(mod);
  const shapes = mod[`${entry}Shapes`] as Record<string, readonly number[]>;
  const wrt = Object.keys(run(mod, args).grads);
  const fresh = (): Record<string, Float64Array | Float32Array> => Object.fromEntries(wrt.map((w) => {
    const n = shapes[w]!.reduce((a, b) => a * b, 1);
    return [w, dtype === "float32" ? new Float32Array(n).fill(7) : new Float64Array(n).fill(7)];
  }));
  const first = fresh();
  const value = mod[`${entry}GradInto`](...args, first);
  const second = fresh();
  expect(mod[`${entry}GradInto`](...args, second)).toBe(value);
  for (const w of wrt) expect(Array.from(second[w]!), `second call, gradient of ${w}`).toEqual(Array.from(first[w]!));
  return { value, grads: first };
}

describe.each(CASES)("reference %s on the wasm target", (name) => {
  it("matches PyTorch to 1e-9 and the default target to 1e-12 (to the bit without SIMD)", { timeout: 60_000 }, async () => {
    const ref = loadReference(name);
    const source = fixture(name);
    const wasm = await compileOrThrow(source, { fileName: `${name}/model.ts`, target: "wasm" });
    const plain = await compileOrThrow(source, { fileName: `${name}/model.ts` });
    const simdMod = await importCode<Mod>(wasm.code!);
    const plainMod = await importCode<Mod>(plain.code!);
    const args = Object.keys(plainMod[`${entryOf(plainMod)}Shapes`]).map((p) => asArg(ref.inputs[p]!));
    const cot = ref.cotangent ? asArg(ref.cotangent) : undefined;
    // (layers with a Wasm kernel: conv2d, linear, relu, 2x2 max-pooling of stride 2)
    const hasKernels = /\b(conv2d|linear|relu)\(/.test(source) || /maxpool2d\([^)]*size: 2, stride: 2 \}/.test(source);
    expect(wasm.code!.includes("WebAssembly SIMD kernels"), "the module has Wasm kernels").toBe(hasKernels);
    if (hasKernels) expect(simdMod.useSimd(true), "the SIMD kernels are in use").toBe(true);

    const got = run(simdMod, args, cot);
    const want = run(plainMod, args, cot);
    expect(maxRelErr(got.value, ref.output.data)).toBeLessThanOrEqual(1e-9);
    expect(maxRelErr(got.value, want.value)).toBeLessThanOrEqual(1e-12);
    for (const w of ref.wrt) {
      expect(maxRelErr(got.grads[w]!, ref.grads[w]!.data), `gradient of ${w} vs PyTorch`).toBeLessThanOrEqual(1e-9);
      expect(maxRelErr(got.grads[w]!, want.grads[w]!), `gradient of ${w} vs the default target`).toBeLessThanOrEqual(1e-12);
    }
    if (hasKernels) {
      expect(simdMod.useSimd(false)).toBe(false);
      const off = run(simdMod, args, cot);
      expect(off.value).toEqual(want.value);
      for (const w of ref.wrt) expect(off.grads[w], `gradient of ${w} without SIMD`).toEqual(want.grads[w]);
      simdMod.useSimd(true);
    }
  });
});

/** Random arguments for a module's entry: tensors in [-1, 1), labels in [0, 10). */
function randomArgs(mod: Mod, dtype: "float64" | "float32", seed: number): unknown[] {
  const r = rng(seed);
  const shapes = mod[`${entryOf(mod)}Shapes`] as Record<string, readonly number[]>;
  return Object.entries(shapes).map(([name, shape]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const label = name.startsWith("label");
    const data = Array.from({ length: n }, () => (label ? Math.floor(10 * r()) : 2 * r() - 1));
    if (shape.length === 0) return data[0];
    return dtype === "float32" ? Float32Array.from(data) : Float64Array.from(data);
  });
}

/** max |a - b| / max |b|: the error relative to the gradient's scale. */
function scaledErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return worst / Math.max(scale, 1e-30);
}

const MODELS = [lenet(1), lenet(8), mlp(1), mlp(16)];

describe.each(MODELS.map((m) => [`${m.name} batch ${m.batch}`, m] as const))("%s on the wasm target", (_, model) => {
  it("float64: the default target's gradient to 1e-12", { timeout: 60_000 }, async () => {
    const simdMod = await importCode<Mod>((await compileOrThrow(model.source, { target: "wasm" })).code!);
    const plainMod = await importCode<Mod>((await compileOrThrow(model.source)).code!);
    expect(simdMod.useSimd()).toBe(true);
    const args = randomArgs(plainMod, "float64", model.batch);
    const want = run(plainMod, args);
    // the split form (buffers copied to the kernels) and the allocation-free one (its
    // workspace in the kernels' memory)
    for (const got of [run(simdMod, args), runInto(simdMod, args, "float64")]) {
      expect(maxRelErr(got.value, want.value)).toBeLessThanOrEqual(1e-12);
      for (const [w, g] of Object.entries(want.grads)) {
        expect(maxRelErr(got.grads[w]!, g), `gradient of ${w}`).toBeLessThanOrEqual(1e-12);
        expect(scaledErr(got.grads[w]!, g), `gradient of ${w}`).toBeLessThanOrEqual(1e-12);
      }
    }
  });

  it("float32: the float64 gradient to float32 precision", { timeout: 60_000 }, async () => {
    const simdMod = await importCode<Mod>((await compileOrThrow(model.source, { target: "wasm", dtype: "float32" })).code!);
    const plainMod = await importCode<Mod>((await compileOrThrow(model.source)).code!);
    expect(simdMod.useSimd()).toBe(true);
    const args32 = randomArgs(plainMod, "float32", model.batch);
    const args64 = args32.map((a) => (a instanceof Float32Array ? Float64Array.from(a) : a));
    const want = run(plainMod, args64);
    for (const got of [run(simdMod, args32), runInto(simdMod, args32, "float32")]) {
      expect(Math.abs(got.value - want.value) / Math.max(1, Math.abs(want.value))).toBeLessThan(1e-5);
      for (const [w, g] of Object.entries(want.grads)) {
        expect(got.grads[w]).toBeInstanceOf(Float32Array);
        expect(scaledErr(got.grads[w]!, g), `gradient of ${w}`).toBeLessThan(1e-4);
      }
    }
  });
});

describe("the fallback where WebAssembly is unavailable", () => {
  const saved = globalThis.WebAssembly;
  afterEach(() => {
    (globalThis as { WebAssembly?: unknown }).WebAssembly = saved;
  });

  it("with WebAssembly hidden, the module runs its TypeScript kernels (same results as the default target)", { timeout: 60_000 }, async () => {
    const model = lenet(2);
    // a file name of its own: a freshly imported module, whose kernels were never instantiated
    const simdMod = await importCode<Mod>((await compileOrThrow(model.source, { target: "wasm", fileName: "hidden.ts" })).code!);
    const plainMod = await importCode<Mod>((await compileOrThrow(model.source)).code!);
    const args = randomArgs(plainMod, "float64", 7);
    (globalThis as { WebAssembly?: unknown }).WebAssembly = undefined;
    const got = run(simdMod, args);
    expect(simdMod.useSimd()).toBe(false);
    const want = run(plainMod, args);
    expect(got.value).toEqual(want.value);
    for (const [w, g] of Object.entries(want.grads)) expect(got.grads[w], w).toEqual(g);
  });

  it("where WebAssembly has no SIMD (validate fails), the module runs its TypeScript kernels", { timeout: 60_000 }, async () => {
    const model = mlp(4);
    const simdMod = await importCode<Mod>((await compileOrThrow(model.source, { target: "wasm", fileName: "nosimd.ts" })).code!);
    const plainMod = await importCode<Mod>((await compileOrThrow(model.source)).code!);
    const args = randomArgs(plainMod, "float64", 8);
    let validated = 0;
    (globalThis as { WebAssembly?: unknown }).WebAssembly = {
      ...saved,
      validate: () => {
        validated++;
        return false;
      },
      Module: saved.Module,
      Instance: saved.Instance,
    };
    const got = run(simdMod, args);
    expect(validated).toBe(1);
    expect(simdMod.useSimd()).toBe(false);
    const want = run(plainMod, args);
    expect(got.value).toEqual(want.value);
    for (const [w, g] of Object.entries(want.grads)) expect(got.grads[w], w).toEqual(g);
  });
});

it("the wasm target's module imports nothing and typechecks with only the ES2022 library", { timeout: 60_000 }, async () => {
  // LeNet-5 at batch 4 (a static memory with resident workspaces) and for any batch N (a
  // memory that grows), in both dtypes
  for (const [source, dtype] of [[lenet(4).source, "float64"], [lenet(4, true).source, "float32"]] as const) {
    const code = (await compileOrThrow(source, { target: "wasm", dtype })).code!;
    expect(code).not.toMatch(/^\s*import\b/m);
    expect(code).not.toMatch(/\brequire\(|\bBuffer\.|\batob\(/);
    const file = "/virtual/model.grad.ts";
    const options: ts.CompilerOptions = {
      strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ES2022,
      lib: ["lib.es2022.d.ts"], types: [], noUnusedParameters: false, skipLibCheck: true,
    };
    const host = ts.createCompilerHost(options);
    const read = host.getSourceFile.bind(host);
    host.getSourceFile = (name, lang) => (name === file ? ts.createSourceFile(name, code, lang) : read(name, lang));
    const program = ts.createProgram([file], options, host);
    const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
    expect(diagnostics).toEqual([]);
  }
});

it("odd sizes, strides and padding: the Wasm kernels agree with the TypeScript kernels", { timeout: 60_000 }, async () => {
  // a convolution with padding and a row stride (its input adjoint stays TypeScript), one
  // with padding [1, 2] whose input adjoint is a Wasm convolution (the padded rows left out)
  // and whose output rows (9) are not a multiple of the lanes, an unpadded one whose input
  // adjoint's rows are 9/7 border (Wasm in float32 only), and linear layers of odd sizes
  // (leftover blocks everywhere)
  const source = `import { type Tensor, conv2d, linear, flatten, relu, sum } from "adgen";
/** @wrt w1, b1, w2, w3, w4, b4 */
export function f(
  x: Tensor<[3, 2, 11, 9]>, w1: Tensor<[5, 2, 3, 3]>, b1: Tensor<[5]>, w2: Tensor<[3, 5, 3, 5]>, w3: Tensor<[4, 3, 3, 3]>,
  w4: Tensor<[7, 112]>, b4: Tensor<[7]>,
): number {
  const h1 = relu(conv2d(x, w1, b1, { padding: 1, stride: [2, 1] }));
  const h2 = relu(conv2d(h1, w2, undefined, { padding: [1, 2] }));
  const h3 = conv2d(h2, w3);
  return sum(relu(linear(flatten(h3, 1), w4, b4)));
}
`;
  const simd = await compileOrThrow(source, { target: "wasm" });
  for (const k of ["conv1", "conv2", "conv3", "conv2GradInput", "conv1GradWeight", "conv2GradWeight", "conv1GradBias", "linear", "linearGradInput", "linearGradWeight"]) {
    expect(simd.code!, `${k} calls its Wasm kernel`).toContain(`simd.${k}(`);
  }
  for (const k of ["conv3GradInput"]) expect(simd.code!, `${k} has no Wasm kernel`).not.toContain(`simd.${k}(`);
  expect(simd.code!, "lossGradInto's workspace is in the kernels' memory").toMatch(/ws = \(fWorkspace \?\?= \{[^}]*residentArray\(/);
  const simdMod = await importCode<Mod>(simd.code!);
  const plainMod = await importCode<Mod>((await compileOrThrow(source)).code!);
  const args = randomArgs(plainMod, "float64", 3);
  const want = run(plainMod, args);
  for (const got of [run(simdMod, args), runInto(simdMod, args, "float64")]) {
    expect(maxRelErr(got.value, want.value)).toBeLessThanOrEqual(1e-12);
    for (const [w, g] of Object.entries(want.grads)) {
      expect(maxRelErr(got.grads[w]!, g), w).toBeLessThanOrEqual(1e-12);
      expect(scaledErr(got.grads[w]!, g), w).toBeLessThanOrEqual(1e-12);
    }
  }
  // float32: rows of 9 and 7 outputs leave 1 and 3 elements past the last f32x4 vector
  const code32 = (await compileOrThrow(source, { target: "wasm", dtype: "float32" })).code!;
  for (const k of ["conv2GradInput", "conv3GradInput"]) expect(code32, `${k} calls its Wasm kernel (float32)`).toContain(`simd.${k}(`);
  const simd32 = await importCode<Mod>(code32);
  const args32 = randomArgs(plainMod, "float32", 3);
  const want32 = run(plainMod, args32.map((a) => (a instanceof Float32Array ? Float64Array.from(a) : a)));
  for (const got of [run(simd32, args32), runInto(simd32, args32, "float32")]) {
    for (const [w, g] of Object.entries(want32.grads)) expect(scaledErr(got.grads[w]!, g), w).toBeLessThan(1e-4);
  }
});

it("relu and its adjoint as Wasm kernels: NaN, infinities and zeros as the TypeScript loops, leftover elements", { timeout: 60_000 }, async () => {
  // y = b in every row (x and w zero), then relu: the values reach relu and its adjoint
  // through buffers in the kernels' memory (lossGradInto); 3 x 7 elements leave one past the
  // last vector in both dtypes
  const source = `import { type Tensor, linear, relu, sum } from "adgen";
/** @wrt w, b */
export function f(x: Tensor<[3, 5]>, w: Tensor<[7, 5]>, b: Tensor<[7]>): number {
  return sum(relu(linear(x, w, b)));
}
`;
  const b = [NaN, Infinity, -Infinity, 0, 1.5, -2, 3];
  for (const dtype of ["float64", "float32"] as const) {
    const A = dtype === "float32" ? Float32Array : Float64Array;
    const simd = await compileOrThrow(source, { target: "wasm", dtype });
    expect(simd.code!).toContain("reluLayer(");
    expect(simd.code!).toContain("reluGradLayer(");
    const simdMod = await importCode<Mod>(simd.code!);
    const plainMod = await importCode<Mod>((await compileOrThrow(source, { dtype })).code!);
    const args = [new A(15), new A(35), A.from(b)];
    const grads = (): Record<string, Float64Array | Float32Array> => ({ w: new A(35), b: new A(7) });
    const [got, want] = [grads(), grads()];
    const value = simdMod.fGradInto(...args, got);
    expect(value).toBeNaN();
    expect(plainMod.fGradInto(...args, want)).toBeNaN();
    // relu'(NaN) = 1 (the gradient passes, as in PyTorch), relu'(0) = 0
    expect(Array.from(got.b!)).toEqual([3, 3, 0, 0, 3, 0, 3]);
    expect(Array.from(got.b!)).toEqual(Array.from(want.b!));
    expect(Array.from(got.w!)).toEqual(Array.from(want.w!));
    // the forward: relu(-inf) = 0, relu(NaN) = NaN
    const y = simdMod.fGrad(...args);
    expect(y.value).toBeNaN();
  }
});

it("sigmoid as a Wasm kernel (its own exp): the TypeScript module's values and gradients, the edges, leftover elements", { timeout: 60_000 }, async () => {
  // y = b in every row (x and w zero), then sigmoid: the values reach the Wasm kernel
  // through buffers in its memory (lossGradInto); 3 x 7 elements leave one past the last
  // vector in both dtypes
  const source = `import { type Tensor, linear, sigmoid, sum, mul } from "adgen";
/** @wrt w, b */
export function f(x: Tensor<[3, 5]>, w: Tensor<[7, 5]>, b: Tensor<[7]>): number {
  const h = sigmoid(linear(x, w, b));
  return sum(mul(h, h));
}
`;
  const b = [-Infinity, 0, 2.5, -800, 30, -0.75, 1e-9];
  for (const dtype of ["float64", "float32"] as const) {
    const A = dtype === "float32" ? Float32Array : Float64Array;
    const simd = await compileOrThrow(source, { target: "wasm", dtype });
    expect(simd.code!).toContain("sigmoidLayer(");
    expect(simd.code!).toMatch(/simd\.sigmoidLayer\(/);
    const simdMod = await importCode<Mod>(simd.code!);
    const plainMod = await importCode<Mod>((await compileOrThrow(source, { dtype })).code!);
    const x = new A(15);
    for (let i = 0; i < 15; i++) x[i] = i % 2 ? 0 : 0.25 * i;
    const args = [x, new A(35).fill(0.125), A.from(b)];
    const grads = (): Record<string, Float64Array | Float32Array> => ({ w: new A(35), b: new A(7) });
    const [got, want] = [grads(), grads()];
    const tol = dtype === "float64" ? 1e-12 : 1e-6;
    const value = simdMod.fGradInto(...args, got);
    const wantValue = plainMod.fGradInto(...args, want);
    expect(Math.abs(value - wantValue) / Math.abs(wantValue)).toBeLessThanOrEqual(tol);
    expect(scaledErr(got.b!, want.b!)).toBeLessThanOrEqual(tol);
    expect(scaledErr(got.w!, want.w!)).toBeLessThanOrEqual(tol);
    // sigmoid(-inf) = 0 and sigmoid(-800) = 0: no gradient through those units
    expect(got.b![0]).toBe(0);
    expect(got.b![3]).toBe(0);
    expect(got.b!.some((v) => v !== 0)).toBe(true);
  }
});

it("max-pooling and its adjoint as Wasm kernels: first maximum on ties, NaN and infinities as the TypeScript kernels", { timeout: 60_000 }, async () => {
  // x goes through a 1x1 convolution of weight 1 (into a buffer of the kernels' memory), then
  // 2x2 pooling; rows of 5 windows leave one past the last vector in both dtypes. The adjoint
  // of x is the pooling's routing of the cotangent (times 1).
  const source = `import { type Tensor, conv2d, maxpool2d } from "adgen";
/** @wrt x */
export function f(x: Tensor<[2, 1, 6, 10]>, w: Tensor<[1, 1, 1, 1]>): Tensor<[2, 1, 3, 5]> {
  return maxpool2d(conv2d(x, w), { size: 2, stride: 2 });
}
`;
  const r = rng(5);
  const values = Array.from({ length: 120 }, () => Math.round(4 * r()) / 2);
  // ties everywhere (values in steps of 0.5), and NaN, +inf and -inf in some windows
  for (const [at, v] of [[0, NaN], [11, NaN], [12, NaN], [24, Infinity], [25, -Infinity], [46, Infinity], [47, Infinity], [58, NaN], [119, NaN], [108, Infinity]] as const) values[at] = v;
  for (const dtype of ["float64", "float32"] as const) {
    const A = dtype === "float32" ? Float32Array : Float64Array;
    const simd = await compileOrThrow(source, { target: "wasm", dtype });
    for (const k of ["maxpool", "maxpoolGrad"]) expect(simd.code!, k).toContain(`simd.${k}(`);
    const simdMod = await importCode<Mod>(simd.code!);
    const plainMod = await importCode<Mod>((await compileOrThrow(source, { dtype })).code!);
    const x = A.from(values);
    const w = A.from([1]);
    const cotangent = A.from(Array.from({ length: 30 }, (_, k) => k + 1));
    const results = [simdMod, plainMod].map((m) => {
      const out = new A(30);
      const grads = { x: new A(120) };
      m.fVjpInto(x, w, cotangent, out, grads);
      return { out: Array.from(out), dx: Array.from(grads.x) };
    });
    expect(results[0]!.out).toEqual(results[1]!.out);
    expect(results[0]!.dx).toEqual(results[1]!.dx);
    expect(results[0]!.out.filter((v) => v !== v).length, "windows with a NaN").toBe(4);
  }
});

describe("a batch N known only at run time: Wasm kernels that take N", () => {
  // LeNet-5 for any N, and an MLP for any N with odd sizes (leftover rows of every block size)
  const mlpAnyN = `import { type Tensor, linear, relu, crossEntropy } from "adgen";
/** @wrt w1, b1, w2, b2 */
export function loss<N extends number>(x: Tensor<[N, 37]>, labels: Tensor<[N]>, w1: Tensor<[13, 37]>, b1: Tensor<[13]>, w2: Tensor<[10, 13]>, b2: Tensor<[10]>): number {
  return crossEntropy(linear(relu(linear(x, w1, b1)), w2, b2), labels);
}
`;
  const argsAt = (mod: Mod, dtype: "float64" | "float32", N: number, seed: number): unknown[] => {
    const r = rng(seed);
    return Object.entries(mod.lossShapes as Record<string, readonly (number | string)[]>).map(([name, shape]) => {
      const n = shape.reduce<number>((a, d) => a * (typeof d === "number" ? d : N), 1);
      const data = Array.from({ length: n }, () => (name === "labels" ? Math.floor(10 * r()) : 2 * r() - 1));
      return dtype === "float32" ? Float32Array.from(data) : Float64Array.from(data);
    });
  };
  it.each([["LeNet-5", lenet(8, true).source], ["MLP", mlpAnyN]])("%s: the default target's gradients at N = 1, 3, 6, 9 (float64 to 1e-12, float32 to its precision)", { timeout: 120_000 }, async (_, source) => {
    const simd = await compileOrThrow(source, { target: "wasm" });
    expect(simd.code!).toContain("placeBuffers(");
    for (const k of ["linear1", "linear2GradInput", "linear1GradWeight"]) expect(simd.code!, k).toContain(`simd.${k}(`);
    if (source.includes("maxpool2d")) for (const k of ["conv1", "conv2GradWeight", "maxpool1", "maxpool2Grad"]) expect(simd.code!, k).toContain(`simd.${k}(`);
    const simdMod = await importCode<Mod>(simd.code!);
    const code32 = (await compileOrThrow(source, { target: "wasm", dtype: "float32" })).code!;
    // conv2 (16 channels, 150 taps): its adjoints as products in both dtypes, the forward
    // pass too in float32 (rows of 10 outputs waste f32x4 lanes), conv1 (25 taps) direct
    if (source.includes("maxpool2d")) {
      for (const [code, dtype] of [[code32, "f32x4"], [simd.code!, "f64x2"]] as const) {
        expect(code, dtype).toContain(`dx = col2im(wᵀ·dy) per image, ${dtype}`);
        expect(code, dtype).toContain(`dw = Σ dy·col(x)ᵀ over the images, ${dtype}`);
        expect(code, dtype).toContain("simd.conv2GradInput(");
        const kernelOf = (name: string) => new RegExp(`function ${name}\\([^]*?WebAssembly SIMD \\(([^,]*)`).exec(code)?.[1];
        expect(kernelOf("conv1"), dtype).toBe("the direct convolution");
        expect(kernelOf("conv2"), dtype).toBe(dtype === "f32x4" ? "y = w·col(x) + b per image" : "the direct convolution");
      }
    }
    const simd32 = await importCode<Mod>(code32);
    const plainMod = await importCode<Mod>((await compileOrThrow(source)).code!);
    // growing sizes and back (the memory grows for the larger batches)
    for (const N of [1, 9, 3, 6]) {
      const args = argsAt(plainMod, "float64", N, N);
      const want = run(plainMod, args);
      for (const got of [run(simdMod, args), runInto(simdMod, args, "float64")]) {
        expect(maxRelErr(got.value, want.value)).toBeLessThanOrEqual(1e-12);
        for (const [w, g] of Object.entries(want.grads)) expect(scaledErr(got.grads[w]!, g), `N = ${N}, ${w}`).toBeLessThanOrEqual(1e-12);
      }
      const args32 = argsAt(plainMod, "float32", N, N);
      const want32 = run(plainMod, args32.map((a) => Float64Array.from(a as Float32Array)));
      for (const got of [run(simd32, args32), runInto(simd32, args32, "float32")]) {
        for (const [w, g] of Object.entries(want32.grads)) expect(scaledErr(got.grads[w]!, g), `N = ${N}, ${w}`).toBeLessThan(1e-4);
      }
    }
  });
});

describe("adgen --target", () => {
  const CLI = new URL("../dist/compiler/cli.js", import.meta.url).pathname;
  const adgen = (args: string[], cwd: string) => spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", cwd });

  it("--target wasm writes the module with its Wasm kernels; a bad target is a usage error", { timeout: 60_000 }, () => {
    if (!existsSync(CLI)) spawnSync("npm", ["run", "build"], { stdio: "inherit" });
    const dir = mkdtempSync(join(tmpdir(), "adgen-wasm-"));
    try {
      writeFileSync(join(dir, "m.ts"), mlp(2).source);
      const r = adgen(["--target", "wasm", "m.ts"], dir);
      expect(r.status, r.stderr).toBe(0);
      const code = readFileSync(join(dir, "m.grad.ts"), "utf8");
      expect(code).toContain("export function useSimd(");
      expect(code).toContain("simd.linear1(");
      const help = adgen(["--help"], dir);
      expect(help.stdout).toContain("--target wasm");
      const bad = adgen(["--target", "wasm32", "m.ts"], dir);
      expect(bad.status).toBe(2);
      expect(bad.stderr).toContain("--target takes ts or wasm, not 'wasm32'");
      expect(bad.stderr).not.toMatch(/^\s+at /m);
      const plain = adgen(["m.ts", "-o", "plain.grad.ts"], dir);
      expect(plain.status, plain.stderr).toBe(0);
      expect(readFileSync(join(dir, "plain.grad.ts"), "utf8")).not.toContain("useSimd");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

it("an entry named useSimd is refused on the wasm target (it would collide with the export)", async () => {
  const { compile } = await import("../compiler/pipeline.js");
  const source = "export function useSimd(x: number): number {\n  return x * x;\n}\n";
  const r = await compile(source, { target: "wasm" });
  expect(r.diagnostics.map((d) => d.code)).toEqual(["ADG1020"]);
  expect(r.diagnostics[0]!.message).toContain("useSimd");
  expect((await compile(source)).diagnostics).toEqual([]);
});

describe("the fuzzer's programs on the wasm target", () => {
  // the property test's random programs (test/fuzz) that use linear or conv2d: their
  // gradients on the wasm target against the default target's
  it("gradients agree with the default target's to 1e-12 (relative to max(1, |g|))", { timeout: 240_000 }, async () => {
    const { generateProgram, printPrograms, entryOf: entryFn } = await import("./fuzz/generator.js");
    const { makeInputs } = await import("./fuzz/harness.js");
    let checked = 0;
    for (let seed = 1; seed <= 400 && checked < 12; seed++) {
      const p = generateProgram(seed);
      const source = printPrograms([p]);
      if (!/\b(linear|conv2d)\(/.test(source)) continue;
      // (programs at run-time sizes or with integer parameters need a size run: the property test checks those)
      if (entryFn(p).typeParams?.length || entryFn(p).params.some((q) => q.role === "int")) continue;
      const plain = await compileOrThrow(source);
      const simd = await compileOrThrow(source, { target: "wasm" });
      if (!simd.code!.includes("useSimd")) continue;
      const f = entryFn(p);
      const simdMod = await importCode<Mod>(simd.code!);
      const plainMod = await importCode<Mod>(plain.code!);
      expect(simdMod.useSimd()).toBe(true);
      const args = makeInputs(p, 0);
      const grad = f.ret.k === "ten" ? `${f.name}Vjp` : `${f.name}Grad`;
      const call = (m: Mod): { value: any; grads: Record<string, ArrayLike<number> | number> } => {
        if (f.ret.k !== "ten") return m[grad](...args);
        const size = (m[`${f.name}OutputShape`] as number[]).reduce((a, b) => a * b, 1);
        return m[grad](...args, Float64Array.from({ length: size }, (_, i) => 1 - (i % 3) / 2));
      };
      const want = call(plainMod);
      const got = call(simdMod);
      if (![want.value].flat().every(Number.isFinite)) continue;
      expect(maxRelErr(got.value, want.value), `seed ${seed} value`).toBeLessThanOrEqual(1e-12);
      for (const [w, g] of Object.entries(want.grads)) {
        expect(maxRelErr(got.grads[w] as ArrayLike<number>, g as ArrayLike<number>), `seed ${seed} gradient of ${w}`).toBeLessThanOrEqual(1e-12);
      }
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(5);
  });
});
