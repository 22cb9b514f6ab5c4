// The WebAssembly SIMD kernel prototypes (compiler/codegen/wasm/kernels/) against the
// TypeScript kernels adgen generates (which the rest of the suite checks against PyTorch and
// finite differences), and against plain loops on shapes with every kind of leftover:
// - every layer kernel of LeNet-5 and the MLP (bench/kernelCases.ts) at batch 1, 32 and 128:
//   float64 bit-identical where the sum runs in the TypeScript order (conv2d, the "columns"
//   products), else within 1e-12 (relative, infinity norm); float32 within 1e-5;
// - products of every mode (columns, dot, scalar) with leftover rows, columns and k's, row
//   and column biases, accumulation and several block sizes;
// - convolutions with asymmetric padding, a row stride, output rows that are not a multiple
//   of the vector width, no bias, several blocks, the unrolled kernel row;
// - the convolution and both its adjoints as products (im2col / col2im) on such shapes;
// - sigmoid (with its own exp) against the TypeScript formula, at the edges and in between.

import { describe, expect, it } from "vitest";
import { type KernelCase, type KernelOp, allCases, difference, tsKernel, wasmRun } from "../bench/kernelCases.js";
import { mulberry32 } from "../bench/peers/shapes.js";
import { encodeModule } from "../compiler/codegen/wasm/encoder.js";
import { type ConvBlock, type ConvSpec, conv2dKernel, convGeometry } from "../compiler/codegen/wasm/kernels/conv2d.js";
import { type ConvGemmSpec, conv2dGemmKernel, conv2dGradInputGemmKernel, conv2dGradWeightGemmKernel, convGemmGeometry } from "../compiler/codegen/wasm/kernels/convGemm.js";
import { type GemmBlock, type GemmSpec, gemmKernel, gemmMode } from "../compiler/codegen/wasm/kernels/gemm.js";
import type { Dtype } from "../compiler/codegen/wasm/kernels/lanes.js";
import { sigmoidKernel } from "../compiler/codegen/wasm/kernels/sigmoid.js";
import { OPS } from "../compiler/ops/index.js";

function random(n: number, seed: number, dtype: Dtype): Float64Array | Float32Array {
  const rnd = mulberry32(seed);
  const a = dtype === "float64" ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = 2 * rnd() - 1;
  return a;
}

const TOL = { float64: 1e-12, float32: 1e-5 } as const;

function expectAgreement(c: KernelCase): void {
  const r = c.results();
  const d = difference(r.wasm, r.ts);
  const what = `${c.dtype} batch ${c.batch} ${c.layer.layer} ${c.op} (${c.mode})`;
  if (c.dtype === "float64" && c.mode !== "dot") expect(d.identical, `${what}: ${d.relative}`).toBe(true);
  else expect(d.relative, what).toBeLessThanOrEqual(TOL[c.dtype]);
  // a kernel that computed nothing would agree with nothing but zeros
  expect(r.wasm.some((v) => v !== 0), what).toBe(true);
}

describe("the layer kernels of LeNet-5 and the MLP agree with the TypeScript kernels", () => {
  for (const dtype of ["float64", "float32"] as const) {
    for (const batch of [1, 32, 128]) {
      it(`${dtype}, batch ${batch}`, () => {
        const cases = allCases(batch, dtype);
        expect(cases).toHaveLength(2 + 5 * 3);
        for (const c of cases) expectAgreement(c);
      });
    }
  }
});

// ---------------------------------------------------------------------------------------
// Products on awkward shapes, against plain loops

/** C = A·B (+ bias) (or C += A·B), in double, on the views of a GemmSpec. */
function referenceGemm(g: GemmSpec, a: ArrayLike<number>, b: ArrayLike<number>, c0: ArrayLike<number>, bias: ArrayLike<number>): number[] {
  const out = Array.from(c0);
  for (let i = 0; i < g.M; i++) {
    for (let j = 0; j < g.N; j++) {
      let s = g.accumulate || g.bias === undefined ? 0 : bias[g.bias === "row" ? i : j]!;
      for (let k = 0; k < g.K; k++) s += a[i * g.a.rs + k * g.a.cs]! * b[k * g.b.rs + j * g.b.cs]!;
      const at = i * g.c.rs + j * g.c.cs;
      out[at] = g.accumulate ? out[at]! + s : s;
    }
  }
  return out;
}

function runGemm(g: GemmSpec): { wasm: ArrayLike<number>; ref: number[] } {
  const extent = (v: { rs: number; cs: number }, rows: number, cols: number) => (rows - 1) * v.rs + (cols - 1) * v.cs + 1;
  const sizes = [extent(g.a, g.M, g.K), extent(g.b, g.K, g.N), extent(g.c, g.M, g.N), g.bias === "row" ? g.M : g.N];
  const inputs = sizes.map((n, k) => random(n, 100 + k, g.dtype));
  const w = wasmRun(gemmKernel(g), g.dtype, g.bias === undefined ? sizes.slice(0, 3) : sizes);
  w.views.forEach((v, k) => (v as Float64Array).set(inputs[k]! as Float64Array));
  w.run();
  return { wasm: w.views[2]!, ref: referenceGemm(g, inputs[0]!, inputs[1]!, inputs[2]!, inputs[3]!) };
}

describe("wasm gemm on awkward shapes", () => {
  const shapes: [number, number, number][] = [[1, 1, 1], [1, 7, 5], [5, 7, 3], [6, 9, 11], [3, 17, 1], [9, 4, 13], [2, 33, 8]];
  const blocks: (Partial<GemmBlock> | undefined)[] = [undefined, { mr: 1, nr: 1, ku: 1 }, { mr: 3, nr: 2, ku: 3 }, { mr: 2, nr: 5, ku: 2 }];
  for (const dtype of ["float64", "float32"] as const) {
    it(`${dtype}: columns, dot and scalar modes, biases, accumulation, blocks`, () => {
      const seen = new Set<string>();
      for (const [M, N, K] of shapes) {
        const layouts: Pick<GemmSpec, "a" | "b" | "c">[] = [
          { a: { rs: K, cs: 1 }, b: { rs: N, cs: 1 }, c: { rs: N, cs: 1 } }, // row-major A·B: columns (or dot/scalar when narrow)
          { a: { rs: K, cs: 1 }, b: { rs: 1, cs: K }, c: { rs: N, cs: 1 } }, // A·Bᵀ: dot
          { a: { rs: 1, cs: M }, b: { rs: N, cs: 1 }, c: { rs: N + 3, cs: 1 } }, // Aᵀ·B into a padded C: columns
          { a: { rs: 2 * K, cs: 2 }, b: { rs: 1, cs: 3 * K }, c: { rs: 1, cs: M } }, // strided everything: scalar
        ];
        for (const layout of layouts) {
          for (const extra of [{}, { bias: "row" as const }, { bias: "col" as const }, { accumulate: true }]) {
            for (const block of blocks) {
              const g: GemmSpec = { name: "g", dtype, M, N, K, ...layout, ...extra, ...(block ? { block } : {}) };
              seen.add(gemmMode(g));
              const { wasm, ref } = runGemm(g);
              const d = difference(wasm, ref);
              const what = `${dtype} ${M}x${N}x${K} ${JSON.stringify(layout)} ${JSON.stringify(extra)} ${JSON.stringify(block)}`;
              expect(d.relative, what).toBeLessThanOrEqual(dtype === "float64" ? 1e-14 : 1e-5);
            }
          }
        }
      }
      expect([...seen].sort()).toEqual(["columns", "dot", "scalar"]);
    });
  }

  it("rejects bad shapes and blocks, and encodes deterministically", () => {
    const g: GemmSpec = { name: "g", dtype: "float64", M: 4, N: 4, K: 4, a: { rs: 4, cs: 1 }, b: { rs: 4, cs: 1 }, c: { rs: 4, cs: 1 } };
    expect(() => gemmKernel({ ...g, K: 0 })).toThrow(/K must be a positive integer/);
    expect(() => gemmKernel({ ...g, block: { mr: 0 } })).toThrow(/bad block/);
    const bytes = () => encodeModule({ memory: { pages: 1, exportAs: "memory" }, functions: [gemmKernel(g)] });
    expect(Buffer.from(bytes()).equals(Buffer.from(bytes()))).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------
// Convolutions on awkward shapes, against the TypeScript kernel

function convAgainstTs(spec: ConvSpec & { readonly batch: number }): void {
  const g = convGeometry(spec);
  const batched = spec.batch > 1;
  const xShape = batched ? [spec.batch, spec.C, spec.H, spec.W] : [spec.C, spec.H, spec.W];
  const yShape = batched ? [spec.batch, spec.O, g.OH, g.OW] : [spec.O, g.OH, g.OW];
  const wShape = [spec.O, spec.C, spec.KH, spec.KW];
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  const x = random(size(xShape), 1, spec.dtype);
  const w = random(size(wShape), 2, spec.dtype);
  const b = random(spec.O, 3, spec.dtype);
  const args = spec.bias ? [x, w, b] : [x, w];
  const ts = tsKernel("conv2d", spec.bias ? [xShape, wShape, [spec.O]] : [xShape, wShape], yShape,
    { stride: spec.stride, padding: spec.padding }, spec.dtype);
  const yTs = spec.dtype === "float64" ? new Float64Array(size(yShape)) : new Float32Array(size(yShape));
  ts(...args, yTs);
  const run = wasmRun(conv2dKernel(spec), spec.dtype, [...args.map((a) => a.length), yTs.length, Math.max(1, g.scratch)]);
  args.forEach((a, k) => (run.views[k] as Float64Array).set(a as Float64Array));
  run.views[args.length]!.fill(NaN); // every output must be written
  run.run();
  // twice: the zero border of the scratch buffer must not depend on an earlier call
  run.run();
  const d = difference(run.views[args.length]!, yTs);
  const what = JSON.stringify(spec);
  if (spec.dtype === "float64") expect(d.identical, `${what}: ${d.relative}`).toBe(true);
  else expect(d.relative, what).toBeLessThanOrEqual(1e-5);
}

describe("wasm conv2d on awkward shapes", () => {
  const base = { name: "conv", batch: 2, C: 3, H: 9, W: 11, O: 5, KH: 3, KW: 2, padding: [0, 0], stride: [1, 1], bias: true } as const;
  const variants: Partial<ConvSpec>[] = [
    {},
    { padding: [1, 2] }, // asymmetric padding
    { stride: [2, 1], padding: [1, 1] }, // a row stride
    { bias: false },
    { batch: 1, C: 1, O: 1 },
    { W: 7, KW: 3 }, // OW = 5: one full vector and an overlapping one (f64: 2 + 2 + overlap)
    { W: 4, KW: 1, O: 7 }, // OW = 4 = the float32 vector exactly
    // the padding's rows left out (clampRows): with a column border (scratch), without one
    // (read in place), and padding past the kernel (rows that only get the bias)
    { padding: [2, 1], clampRows: true },
    { padding: [1, 0], clampRows: true },
    { padding: [3, 1], KH: 2, clampRows: true },
  ];
  const blocks: (Partial<ConvBlock> | undefined)[] = [undefined, { mo: 1, nv: 1 }, { mo: 3, nv: 2 }, { mo: 2, nv: 3, kw: 99 }];
  for (const dtype of ["float64", "float32"] as const) {
    it(`${dtype}: padding, strides, leftover channels and columns, blocks`, () => {
      for (const v of variants) for (const block of blocks) convAgainstTs({ ...base, ...v, dtype, ...(block ? { block } : {}) } as ConvSpec & { readonly batch: number });
    });
  }

  it("rejects a column stride, rows shorter than a vector, clamped rows with a row stride", () => {
    expect(() => conv2dKernel({ ...base, dtype: "float64", stride: [1, 2] })).toThrow(/column stride/);
    expect(() => conv2dKernel({ ...base, dtype: "float32", W: 4, KW: 2 })).toThrow(/shorter than a vector/);
    expect(() => conv2dKernel({ ...base, dtype: "float64", padding: [1, 1], stride: [2, 1], clampRows: true })).toThrow(/row stride 1/);
  });
});

// ---------------------------------------------------------------------------------------
// Convolutions as products (im2col / col2im), against the TypeScript kernels

describe("wasm conv2d and its adjoints as products, on awkward shapes", () => {
  const base: ConvGemmSpec = { name: "k", dtype: "float64", batch: 2, C: 3, H: 9, W: 11, O: 5, KH: 3, KW: 2, padding: [0, 0], stride: [1, 1] };
  const variants: Partial<ConvGemmSpec>[] = [
    {},
    { padding: [1, 2] }, // asymmetric padding: taps with rows and columns outside x
    { stride: [2, 1], padding: [1, 1] }, // a row stride
    { padding: [3, 1], KH: 2 }, // padding past the kernel: output rows no tap reaches
    { batch: 1, C: 1, O: 1 },
    { W: 7, KW: 3, O: 9 }, // OW = 5: a vector and one element (f32), leftover rows of the products
    { H: 6, W: 6, KH: 5, KW: 5, padding: [2, 2], C: 2, O: 4 }, // segments shorter than a vector
  ];
  const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
  const TS = (op: string, args: number[][], result: number[], attrs: Record<string, unknown>, dtype: Dtype) =>
    tsKernel(op as KernelOp, args, result, attrs, dtype);

  function check(spec: ConvGemmSpec, which: "forward" | "weight" | "input", bias: boolean): void {
    const g = convGemmGeometry(spec);
    const xShape = [spec.batch as number, spec.C, spec.H, spec.W];
    const yShape = [spec.batch as number, spec.O, g.OH, g.OW];
    const wShape = [spec.O, spec.C, spec.KH, spec.KW];
    const attrs = { stride: spec.stride, padding: spec.padding };
    const x = random(size(xShape), 1, spec.dtype);
    const w = random(size(wShape), 2, spec.dtype);
    const b = random(spec.O, 3, spec.dtype);
    const dy = random(size(yShape), 4, spec.dtype);
    const F = spec.dtype === "float64" ? Float64Array : Float32Array;
    let args: (Float64Array | Float32Array)[];
    let want: Float64Array | Float32Array;
    let fn;
    if (which === "forward") {
      args = bias ? [x, w, b] : [x, w];
      want = new F(size(yShape));
      TS("conv2d", bias ? [xShape, wShape, [spec.O]] : [xShape, wShape], yShape, attrs, spec.dtype)(...args, want);
      fn = conv2dGemmKernel({ ...spec, bias });
    } else if (which === "weight") {
      args = [dy, x];
      want = new F(size(wShape));
      TS("conv2dGradWeight", [yShape, xShape], wShape, { ...attrs, weightShape: wShape }, spec.dtype)(...args, want);
      fn = conv2dGradWeightGemmKernel(spec);
    } else {
      args = [dy, w];
      want = new F(size(xShape));
      TS("conv2dGradInput", [yShape, wShape], xShape, { ...attrs, inputShape: xShape }, spec.dtype)(...args, want);
      fn = conv2dGradInputGemmKernel(spec);
    }
    const run = wasmRun(fn, spec.dtype, [...args.map((a) => a.length), want.length, g.scratch]);
    args.forEach((a, k) => (run.views[k] as Float64Array).set(a as Float64Array));
    run.views[args.length]!.fill(NaN); // every output must be written
    run.views[args.length + 1]!.fill(NaN); // and the scratch's padding zeroed by the kernel
    run.run();
    run.run(); // twice: nothing may depend on what an earlier call left
    const d = difference(run.views[args.length]!, want);
    const what = `${which} ${bias ? "with bias " : ""}${JSON.stringify(spec)}`;
    // the forward products sum in the direct kernels' order (bias, then c, ki, kj)
    if (spec.dtype === "float64" && which === "forward") expect(d.identical, `${what}: ${d.relative}`).toBe(true);
    else expect(d.relative, what).toBeLessThanOrEqual(TOL[spec.dtype]);
    expect(run.views[args.length]!.some((v) => v !== 0), what).toBe(true);
  }

  for (const dtype of ["float64", "float32"] as const) {
    it(`${dtype}: forward (with and without bias), weight and input adjoints`, () => {
      for (const v of variants) {
        const spec = { ...base, ...v, dtype };
        check(spec, "forward", true);
        check(spec, "forward", false);
        check(spec, "weight", false);
        check(spec, "input", false);
      }
    });
  }

  it("rejects a column stride", () => {
    expect(() => conv2dGemmKernel({ ...base, stride: [1, 2], bias: false })).toThrow(/column stride/);
  });
});

// ---------------------------------------------------------------------------------------
// sigmoid, whose exp is computed in the kernel (Wasm has no exp instruction)

describe("wasm sigmoid against the TypeScript formula (Math.exp)", () => {
  const formula = OPS.sigmoid.eval as (x: number) => number;
  const edges = [
    0, -0, Infinity, -Infinity, NaN, 1e-300, -1e-300, 1e-40, -1e-40, 0.5, -0.5, Math.LN2 / 2, -Math.LN2 / 2,
    17, -17, 36.7, -36.7, 87.3, -87.3, 88, -88, 103, -103, 104, -104, 110, -110,
    700, -700, 708.4, -708.4, 709.8, -709.8, 745, -745, 745.2, -745.2, 746, -746, 800, -800, 1e308, -1e308,
  ];
  const run = (dtype: Dtype, xs: readonly number[], n: number): { x: Float64Array | Float32Array; y: Float64Array | Float32Array } => {
    const E = dtype === "float64" ? 8 : 4;
    const F = dtype === "float64" ? Float64Array : Float32Array;
    const yAt = 64 + Math.ceil((xs.length * E) / 64) * 64;
    const bytes = encodeModule({
      memory: { pages: Math.ceil((yAt + xs.length * E) / 65536), exportAs: "memory" },
      functions: [sigmoidKernel("sigmoid", dtype)],
    });
    const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes));
    const mem = inst.exports.memory as WebAssembly.Memory;
    const x = new F(mem.buffer, 64, xs.length);
    const y = new F(mem.buffer, yAt, xs.length);
    x.set(xs);
    y.fill(-1);
    (inst.exports.sigmoid as (x: number, y: number, n: number) => void)(x.byteOffset, y.byteOffset, n);
    return { x, y };
  };
  for (const dtype of ["float64", "float32"] as const) {
    it(`${dtype}: within 2 ulp on 20,000 points and the edges, a leftover of every length, nothing past n`, () => {
      const rnd = mulberry32(7);
      const xs = [...edges];
      for (let i = 0; i < 20000; i++) xs.push((2 * rnd() - 1) * [2, 40, 800][i % 3]!);
      // float32: the smallest normal (below it a subnormal has fewer bits); float64: 2 ulp
      const smallest = dtype === "float64" ? 2.2250738585072014e-308 : 1.1754943508222875e-38;
      const tol = dtype === "float64" ? 4.5e-16 : 2.5e-7;
      // every n mod 8: pairs of vectors, one vector left, and 0-3 elements past the vectors
      for (const n of Array.from({ length: 8 }, (_, k) => xs.length - k)) {
        const { x, y } = run(dtype, xs, n);
        let worst = 0;
        for (let i = 0; i < n; i++) {
          const want = dtype === "float64" ? formula(x[i]!) : Math.fround(formula(x[i]!));
          const got = y[i]!;
          if (Number.isNaN(want) || want === 0 || want === 1 || Math.abs(want) < smallest) {
            // NaN, the saturated ends, and subnormals (float32: to within the smallest subnormal)
            if (Number.isNaN(want)) expect(got, `x = ${x[i]}`).toBeNaN();
            else if (dtype === "float64" || Math.abs(want) >= smallest || want === 0 || want === 1) {
              expect(Math.abs(got - want), `x = ${x[i]}`).toBeLessThanOrEqual(dtype === "float64" ? 5e-324 : 0);
            } else expect(Math.abs(got - want), `x = ${x[i]}`).toBeLessThanOrEqual(1.5e-45);
            continue;
          }
          worst = Math.max(worst, Math.abs(got - want) / want);
        }
        expect(worst, `${dtype}, n = ${n}`).toBeLessThanOrEqual(tol);
        expect(worst, `${dtype}, n = ${n}: the kernel computes something of its own`).toBeGreaterThan(0);
        for (let i = n; i < xs.length; i++) expect(y[i], `y[${i}] past n`).toBe(-1);
      }
      // the edges exactly where the formula is exact
      const { y } = run(dtype, [0, -0, Infinity, -Infinity, NaN], 5);
      expect(Array.from(y.subarray(0, 4))).toEqual([0.5, 0.5, 1, 0]);
      expect(y[4]).toBeNaN();
    });
  }
});
