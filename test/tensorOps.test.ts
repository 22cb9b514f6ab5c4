// Tests of the tensor-primitive emitters (compiler/codegen/tensorOps.ts): the emitted code is
// run as JavaScript on random inputs and compared with naive reference implementations
// (forward ops) and with centered finite differences of the emitted forward ops (every
// *Grad op, as vector-Jacobian products). The emitted code is also type-checked with tsc.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { OpEmitContext, OpEmitter } from "../compiler/codegen/kernels/context.js";
import { OPS, inferType } from "../compiler/ops/index.js";
import { AttrsOf, Dim, F64, SimpleInstr, SimpleOp, Type, Value, ValueId, literalSize, tensorType } from "../compiler/ir/types.js";

/** Every shape here is literal. */
const sizeOf = (shape: readonly Dim[]): number => literalSize(shape);

/** Every op the table computes with a kernel, and its emitter. */
const TENSOR_OP_EMITTERS = Object.fromEntries(
  Object.entries(OPS).flatMap(([op, def]) => (def.emit !== "structural" && "kernel" in def.emit ? [[op, def.emit.kernel]] : [])),
) as Record<string, OpEmitter>;
type TensorPrimitive = SimpleOp;

// ---------------------------------------------------------------------------------------
// Harness

/** A runtime argument: a tensor (flat data and shape) or a number. */
type Arg = { readonly data: Float64Array; readonly shape: readonly number[] } | number;

const T = (shape: readonly number[], data: ArrayLike<number>): Arg => {
  expect(data.length).toBe(sizeOf(shape));
  return { data: Float64Array.from(data), shape };
};

function typeOfArg(a: Arg): Type {
  return typeof a === "number" ? F64 : tensorType(a.shape);
}

interface Compiled {
  readonly op: TensorPrimitive;
  readonly argTypes: readonly Type[];
  readonly resultType: Type;
  readonly lines: readonly string[];
  /** The kernel's scratch buffers (module-level variables in a generated module). */
  readonly scratch: readonly { readonly name: string; readonly type: string }[];
  readonly fn: (...args: unknown[]) => unknown;
}

const ARG_NAMES = ["x", "w", "b", "y"];
const RESULT = "out";
/** Every compiled instance, for the type-check test at the end. */
const compiledAll: Compiled[] = [];
const cache = new Map<string, Compiled>();

function compile<K extends TensorPrimitive>(op: K, argTypes: readonly Type[], attrs: AttrsOf<K>): Compiled {
  const key = JSON.stringify([op, argTypes, attrs]);
  const hit = cache.get(key);
  if (hit) return hit;
  const resultType = inferType(op, argTypes, attrs);
  if (typeof resultType === "string") throw new Error(resultType);
  const args: Value[] = argTypes.map((type, i) => ({ id: i as ValueId, type }));
  const instr: SimpleInstr<K> = {
    op, attrs, args, result: { id: 100 as ValueId, type: resultType }, loc: { line: 1, col: 1 },
  };
  const argNames = ARG_NAMES.slice(0, argTypes.length);
  // The argument names are taken, so fresh() must steer around them (x, w, b, y, out).
  const used = new Set<string>([...argNames, RESULT]);
  const scratch: { name: string; type: string }[] = [];
  const ctx: OpEmitContext = {
    instr: instr as SimpleInstr,
    args: argNames,
    argTypes,
    result: RESULT,
    resultType,
    dim: (d) => {
      if (typeof d !== "number") throw new Error("tensorOps.test: literal shapes only");
      return d;
    },
    fresh(hint) {
      let name = hint;
      for (let k = 2; used.has(name); k++) name = `${hint}${k}`;
      used.add(name);
      return name;
    },
    scratch(n, hint, kind = "float") {
      const name = this.fresh(`scratch_${hint}`);
      const type = kind === "int32" ? "Int32Array" : "Float64Array";
      scratch.push({ name, type });
      return `(${name} ??= new ${type}(${n}))`;
    },
  };
  const lines = TENSOR_OP_EMITTERS[op](ctx);
  const body = resultType.kind === "tensor"
    ? lines.join("\n")
    : `let ${RESULT} = NaN;\n${lines.join("\n")}\nreturn ${RESULT};`;
  const params = resultType.kind === "tensor" ? [...argNames, RESULT] : argNames;
  // As in a generated module: the scratch variables live outside the function, so they
  // persist (with the previous call's contents) from one call to the next.
  const fn = new Function(`${scratch.map((s) => `let ${s.name};`).join("\n")}\nreturn function (${params.join(", ")}) {\n${body}\n};`)() as
    (...args: unknown[]) => unknown;
  const c: Compiled = { op, argTypes, resultType, lines, scratch, fn };
  cache.set(key, c);
  compiledAll.push(c);
  return c;
}

/** Runs an op's emitted code; the result buffer starts filled with `fill` (NaN: garbage). */
function run<K extends TensorPrimitive>(op: K, args: readonly Arg[], attrs: AttrsOf<K>, fill = NaN): Float64Array | number {
  const c = compile(op, args.map(typeOfArg), attrs);
  const values = args.map((a) => (typeof a === "number" ? a : a.data));
  if (c.resultType.kind !== "tensor") return c.fn(...values) as number;
  const out = new Float64Array(sizeOf(c.resultType.shape)).fill(fill);
  c.fn(...values, out);
  return out;
}

function runT<K extends TensorPrimitive>(op: K, args: readonly Arg[], attrs: AttrsOf<K>): Float64Array {
  const r = run(op, args, attrs);
  if (typeof r === "number") throw new Error(`${op} returned a number`);
  return r;
}

function runN<K extends TensorPrimitive>(op: K, args: readonly Arg[], attrs: AttrsOf<K>): number {
  const r = run(op, args, attrs);
  if (typeof r !== "number") throw new Error(`${op} returned a tensor`);
  return r;
}

// Deterministic random numbers (mulberry32).
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
let rand = rng(12345);
const randn = (): number => 2 * rand() - 1;
const randT = (shape: readonly number[], scale = 1): Arg =>
  T(shape, Array.from({ length: sizeOf(shape) }, () => scale * randn()));

function shapeOf(a: Arg): readonly number[] {
  if (typeof a === "number") throw new Error("not a tensor");
  return a.shape;
}

function data(a: Arg): Float64Array {
  if (typeof a === "number") throw new Error("not a tensor");
  return a.data;
}

function expectClose(actual: ArrayLike<number> | number, expected: ArrayLike<number> | number, tol = 1e-12): void {
  const a = typeof actual === "number" ? [actual] : Array.from(actual);
  const e = typeof expected === "number" ? [expected] : Array.from(expected);
  expect(a.length).toBe(e.length);
  let scale = 0;
  for (const v of e) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < a.length; i++) {
    const diff = Math.abs(a[i]! - e[i]!);
    if (!(diff <= tol * Math.max(1, scale))) {
      throw new Error(`element ${i}: got ${a[i]}, expected ${e[i]} (diff ${diff})`);
    }
  }
}

function dotArrays(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/**
 * Checks a vector-Jacobian product: for random directions d,
 * dot(cot, (f(x + eps d) - f(x - eps d)) / 2 eps) ≈ dot(grad, d), where x = args[wrt].
 */
function checkVjp(
  f: (args: Arg[]) => Float64Array | number,
  args: Arg[],
  wrt: number,
  cot: Float64Array | number,
  grad: Float64Array | number,
  directions = 3,
): void {
  const eps = 1e-6;
  const x = args[wrt]!;
  const shift = (d: Float64Array | number, s: number): Arg[] => {
    const copy = [...args];
    if (typeof x === "number") copy[wrt] = x + s * (d as number);
    else copy[wrt] = { shape: x.shape, data: x.data.map((v, i) => v + s * (d as Float64Array)[i]!) };
    return copy;
  };
  const project = (v: Float64Array | number): number =>
    typeof v === "number" ? v * (cot as number) : dotArrays(v, cot as Float64Array);
  for (let t = 0; t < directions; t++) {
    const d: Float64Array | number = typeof x === "number" ? randn() : x.data.map(() => randn());
    const plus = project(f(shift(d, eps)));
    const minus = project(f(shift(d, -eps)));
    const fd = (plus - minus) / (2 * eps);
    const analytic = typeof grad === "number" ? grad * (d as number) : dotArrays(grad, d as Float64Array);
    const tol = 1e-6 * Math.max(Math.abs(fd), Math.abs(analytic), 1e-3);
    if (!(Math.abs(fd - analytic) <= tol)) {
      throw new Error(`VJP mismatch: finite differences ${fd}, analytic ${analytic}`);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Naive references (nested index arithmetic written out, no cleverness)

function linearRef(x: Arg, w: Arg, b: Arg | undefined): Float64Array {
  const xs = shapeOf(x);
  const [nOut, nIn] = shapeOf(w) as [number, number];
  const N = xs.length === 2 ? xs[0]! : 1;
  const y = new Float64Array(N * nOut);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < nOut; o++) {
      let s = b === undefined ? 0 : data(b)[o]!;
      for (let i = 0; i < nIn; i++) s += data(w)[o * nIn + i]! * data(x)[n * nIn + i]!;
      y[n * nOut + o] = s;
    }
  }
  return y;
}

function conv2dRef(x: Arg, w: Arg, b: Arg | undefined, stride: [number, number], padding: [number, number]): Float64Array {
  const xs = shapeOf(x);
  const [N, C, H, W] = xs.length === 4 ? xs : [1, ...xs];
  const [O, , KH, KW] = shapeOf(w) as [number, number, number, number];
  const OH = Math.floor((H! + 2 * padding[0] - KH) / stride[0]) + 1;
  const OW = Math.floor((W! + 2 * padding[1] - KW) / stride[1]) + 1;
  const X = (n: number, c: number, h: number, ww: number): number =>
    h < 0 || h >= H! || ww < 0 || ww >= W! ? 0 : data(x)[((n * C! + c) * H! + h) * W! + ww]!;
  const Wt = (o: number, c: number, i: number, j: number): number => data(w)[((o * C! + c) * KH + i) * KW + j]!;
  const y = new Float64Array(N! * O * OH * OW);
  for (let n = 0; n < N!; n++)
    for (let o = 0; o < O; o++)
      for (let i = 0; i < OH; i++)
        for (let j = 0; j < OW; j++) {
          let s = b === undefined ? 0 : data(b)[o]!;
          for (let c = 0; c < C!; c++)
            for (let ki = 0; ki < KH; ki++)
              for (let kj = 0; kj < KW; kj++)
                s += X(n, c, i * stride[0] + ki - padding[0], j * stride[1] + kj - padding[1]) * Wt(o, c, ki, kj);
          y[((n * O + o) * OH + i) * OW + j] = s;
        }
  return y;
}

/** The adjoints of conv2dRef: dx and dw for the cotangent dy (the sums written out). */
function conv2dVjpRef(
  x: Arg, w: Arg, dy: Float64Array, stride: [number, number], padding: [number, number],
): { dx: Float64Array; dw: Float64Array } {
  const xs = shapeOf(x);
  const [N, C, H, W] = (xs.length === 4 ? xs : [1, ...xs]) as [number, number, number, number];
  const [O, , KH, KW] = shapeOf(w) as [number, number, number, number];
  const OH = Math.floor((H + 2 * padding[0] - KH) / stride[0]) + 1;
  const OW = Math.floor((W + 2 * padding[1] - KW) / stride[1]) + 1;
  const dx = new Float64Array(data(x).length);
  const dw = new Float64Array(data(w).length);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++)
      for (let i = 0; i < OH; i++)
        for (let j = 0; j < OW; j++) {
          const g = dy[((n * O + o) * OH + i) * OW + j]!;
          for (let c = 0; c < C; c++)
            for (let ki = 0; ki < KH; ki++)
              for (let kj = 0; kj < KW; kj++) {
                const h = i * stride[0] + ki - padding[0];
                const ww = j * stride[1] + kj - padding[1];
                if (h < 0 || h >= H || ww < 0 || ww >= W) continue;
                const xAt = ((n * C + c) * H + h) * W + ww;
                const wAt = ((o * C + c) * KH + ki) * KW + kj;
                dx[xAt] += g * data(w)[wAt]!;
                dw[wAt] += g * data(x)[xAt]!;
              }
        }
  return { dx, dw };
}

/** A tensor of random values where a fraction `zeros` of the entries is exactly 0. */
function sparseT(shape: readonly number[], zeros: number): Arg {
  return T(shape, Array.from({ length: sizeOf(shape) }, () => (rand() < zeros ? 0 : randn())));
}

/** Pooling reference; `grad` given: max-pool's gradient (first maximum, strict >). */
function poolRef(
  kind: "max" | "avg", x: Arg, size: [number, number], stride: [number, number], dy?: Float64Array,
): Float64Array {
  const xs = shapeOf(x);
  const H = xs[xs.length - 2]!;
  const W = xs[xs.length - 1]!;
  const P = sizeOf(xs.slice(0, -2));
  const OH = Math.floor((H - size[0]) / stride[0]) + 1;
  const OW = Math.floor((W - size[1]) / stride[1]) + 1;
  const y = new Float64Array(P * OH * OW);
  const dx = new Float64Array(P * H * W);
  for (let p = 0; p < P; p++)
    for (let i = 0; i < OH; i++)
      for (let j = 0; j < OW; j++) {
        let m = -Infinity;
        let arg = (p * H + i * stride[0]) * W + j * stride[1];
        let s = 0;
        for (let ki = 0; ki < size[0]; ki++)
          for (let kj = 0; kj < size[1]; kj++) {
            const at = (p * H + i * stride[0] + ki) * W + j * stride[1] + kj;
            const v = data(x)[at]!;
            s += v;
            if (v > m) {
              m = v;
              arg = at;
            }
          }
        y[(p * OH + i) * OW + j] = kind === "max" ? m : s / (size[0] * size[1]);
        if (dy) dx[arg] += dy[(p * OH + i) * OW + j]!;
      }
  return dy ? dx : y;
}

/** Max-pool with PyTorch's NaN rule (a NaN is the maximum; the first NaN takes the gradient). */
function poolRefNaN(
  x: Arg, kh: number, kw: number, sh: number, sw: number, dy?: Float64Array,
): { y: Float64Array; dx: Float64Array } {
  const xs = shapeOf(x);
  const H = xs[xs.length - 2]!;
  const W = xs[xs.length - 1]!;
  const P = sizeOf(xs.slice(0, -2));
  const OH = Math.floor((H - kh) / sh) + 1;
  const OW = Math.floor((W - kw) / sw) + 1;
  const y = new Float64Array(P * OH * OW);
  const dx = new Float64Array(P * H * W);
  for (let p = 0; p < P; p++)
    for (let i = 0; i < OH; i++)
      for (let j = 0; j < OW; j++) {
        let m = -Infinity;
        let arg = (p * H + i * sh) * W + j * sw;
        for (let ki = 0; ki < kh; ki++)
          for (let kj = 0; kj < kw; kj++) {
            const at = (p * H + i * sh + ki) * W + j * sw + kj;
            const v = data(x)[at]!;
            if (v > m || (Number.isNaN(v) && !Number.isNaN(m))) {
              m = v;
              arg = at;
            }
          }
        y[(p * OH + i) * OW + j] = m;
        if (dy) dx[arg] += dy[(p * OH + i) * OW + j]!;
      }
  return { y, dx };
}

function softmaxRef(x: Arg, log: boolean): Float64Array {
  const xs = shapeOf(x);
  const K = xs[xs.length - 1]!;
  const y = new Float64Array(data(x).length);
  for (let r = 0; r < data(x).length / K; r++) {
    const row = Array.from(data(x).subarray(r * K, (r + 1) * K));
    const m = Math.max(...row);
    const s = row.reduce((acc, v) => acc + Math.exp(v - m), 0);
    row.forEach((v, k) => (y[r * K + k] = log ? v - m - Math.log(s) : Math.exp(v - m) / s));
  }
  return y;
}

function crossEntropyRef(logits: Arg, label: Arg): number {
  const ls = softmaxRef(logits, true);
  const xs = shapeOf(logits);
  const K = xs[xs.length - 1]!;
  if (typeof label === "number") return -ls[label]!;
  let total = 0;
  for (let n = 0; n < xs[0]!; n++) total -= ls[n * K + data(label)[n]!]!;
  return total / xs[0]!;
}

// ---------------------------------------------------------------------------------------
// Tests

describe("reductions", () => {
  it("sum, mean, dot", () => {
    const a = randT([3, 4, 5]);
    const b = randT([3, 4, 5]);
    const s = Array.from(data(a)).reduce((x, y) => x + y, 0);
    expectClose(runN("sum", [a], {}), s);
    expectClose(runN("mean", [a], {}), s / 60);
    expectClose(runN("dot", [a, b], {}), dotArrays(data(a), data(b)));
    expect(runN("sum", [T([1], [7])], {})).toBe(7);
  });
});

describe("linear", () => {
  it("matches the reference, unbatched and batched, with and without bias", () => {
    const w = randT([3, 5]);
    const b = randT([3]);
    for (const x of [randT([5]), randT([4, 5])]) {
      expectClose(runT("linear", [x, w, b], {}), linearRef(x, w, b));
      expectClose(runT("linear", [x, w], {}), linearRef(x, w, undefined));
    }
  });

  it("gradients match finite differences", () => {
    const w = randT([3, 5]);
    const b = randT([3]);
    for (const x of [randT([5]), randT([4, 5])]) {
      const f = (args: Arg[]): Float64Array => runT("linear", args, {});
      const y = f([x, w, b]);
      const dy = T(shapeOf(x).length === 2 ? [4, 3] : [3], y.map(() => randn()));
      checkVjp(f, [x, w, b], 0, data(dy), runT("linearGradInput", [dy, w], {}));
      checkVjp(f, [x, w, b], 1, data(dy), runT("linearGradWeight", [dy, x], {}));
      checkVjp(f, [x, w, b], 2, data(dy), runT("linearGradBias", [dy], {}));
    }
  });
});

interface ConvCase {
  readonly name: string;
  readonly x: readonly number[];
  readonly w: readonly number[];
  readonly stride: [number, number];
  readonly padding: [number, number];
}

const CONV_CASES: ConvCase[] = [
  { name: "unbatched, stride 1, no padding", x: [2, 7, 6], w: [3, 2, 3, 2], stride: [1, 1], padding: [0, 0] },
  { name: "batched, stride 2, padding 1", x: [2, 3, 8, 7], w: [4, 3, 3, 3], stride: [2, 2], padding: [1, 1] },
  { name: "non-square kernel, stride [2,1], padding [2,1]", x: [3, 9, 8], w: [2, 3, 5, 3], stride: [2, 1], padding: [2, 1] },
  { name: "stride [2,3], padding [0,2], window past the right edge", x: [1, 2, 7, 8], w: [2, 2, 3, 2], stride: [2, 3], padding: [0, 2] },
  { name: "unused last input row and column", x: [2, 8, 8], w: [2, 2, 3, 3], stride: [2, 2], padding: [0, 0] },
  { name: "LeNet-like 5x5 kernel, padding 2", x: [1, 12, 12], w: [2, 1, 5, 5], stride: [1, 1], padding: [2, 2] },
  { name: "kernel larger than the input with padding", x: [2, 1, 2, 3], w: [1, 1, 4, 4], stride: [1, 2], padding: [2, 2] },
];

describe("conv2d", () => {
  for (const cc of CONV_CASES) {
    it(`matches the reference: ${cc.name}`, () => {
      const x = randT(cc.x);
      const w = randT(cc.w);
      const b = randT([cc.w[0]!]);
      const attrs = { stride: cc.stride, padding: cc.padding };
      expectClose(runT("conv2d", [x, w, b], attrs), conv2dRef(x, w, b, cc.stride, cc.padding));
      expectClose(runT("conv2d", [x, w], attrs), conv2dRef(x, w, undefined, cc.stride, cc.padding));
    });

    it(`gradients match finite differences: ${cc.name}`, () => {
      const x = randT(cc.x);
      const w = randT(cc.w);
      const b = randT([cc.w[0]!]);
      const attrs = { stride: cc.stride, padding: cc.padding };
      const f = (args: Arg[]): Float64Array => runT("conv2d", args, attrs);
      const yType = inferType("conv2d", [x, w, b].map(typeOfArg), attrs) as Type & { shape: number[] };
      const dy = randT(yType.shape);
      const dx = runT("conv2dGradInput", [dy, w], { ...attrs, inputShape: cc.x });
      const dw = runT("conv2dGradWeight", [dy, x], { ...attrs, weightShape: cc.w });
      const db = runT("conv2dGradBias", [dy], {});
      checkVjp(f, [x, w, b], 0, data(dy), dx);
      checkVjp(f, [x, w, b], 1, data(dy), dw);
      checkVjp(f, [x, w, b], 2, data(dy), db);
    });
  }
});


describe("conv2d over strides 1-3, paddings 0-2, batch none, 1 and 3, odd sizes", () => {
  // odd channel counts and extents leave leftover rows and columns in every register block
  const cases: ConvCase[] = [];
  for (const s of [1, 2, 3])
    for (const p of [0, 1, 2])
      for (const batch of [null, 1, 3]) {
        const img = [3, 7 + s, 9 - s];
        cases.push({
          name: `stride ${s}, padding ${p}, ${batch === null ? "unbatched" : `batch ${batch}`}`,
          x: batch === null ? img : [batch, ...img],
          w: [5, 3, 3, 2 + (s % 2)],
          stride: [s, s === 3 ? 1 : s],
          padding: [p, 2 - p],
        });
      }
  for (const cc of cases) {
    it(cc.name, () => {
      const x = randT(cc.x);
      const w = randT(cc.w);
      const b = randT([cc.w[0]!]);
      const attrs = { stride: cc.stride, padding: cc.padding };
      expectClose(runT("conv2d", [x, w, b], attrs), conv2dRef(x, w, b, cc.stride, cc.padding));
      const yType = inferType("conv2d", [x, w].map(typeOfArg), attrs) as Type & { shape: number[] };
      // a dense dy takes the blocked products, a mostly-zero one the lists of nonzeros
      for (const dy of [randT(yType.shape), sparseT(yType.shape, 0.8), sparseT(yType.shape, 1)]) {
        const ref = conv2dVjpRef(x, w, data(dy), cc.stride, cc.padding);
        expectClose(runT("conv2dGradInput", [dy, w], { ...attrs, inputShape: cc.x }), ref.dx);
        expectClose(runT("conv2dGradWeight", [dy, x], { ...attrs, weightShape: cc.w }), ref.dw);
      }
    });
  }

  it("1x1 kernels, a single output row, and kernels as large as the padded input", () => {
    const cases: ConvCase[] = [
      { name: "1x1", x: [2, 4, 5, 3], w: [3, 4, 1, 1], stride: [1, 1], padding: [0, 0] },
      { name: "1x1 strided, padded", x: [4, 5, 3], w: [3, 4, 1, 1], stride: [2, 2], padding: [1, 0] },
      { name: "one output row", x: [2, 3, 9], w: [6, 2, 3, 4], stride: [1, 1], padding: [0, 0] },
      { name: "whole padded input", x: [1, 2, 3], w: [7, 1, 4, 5], stride: [1, 1], padding: [1, 1] },
      // every product has a contraction of length 1 (outer products), batched
      { name: "single pixels", x: [2, 1, 1, 1], w: [1, 1, 1, 1], stride: [1, 1], padding: [0, 0] },
      { name: "single pixels, three filters", x: [3, 1, 2, 2], w: [3, 1, 2, 2], stride: [1, 1], padding: [0, 0] },
      // a kernel row too long to unroll: the forward pass takes the product form
      { name: "1x17 kernel", x: [2, 3, 21], w: [3, 2, 2, 17], stride: [1, 1], padding: [0, 1] },
    ];
    for (const cc of cases) {
      const x = randT(cc.x);
      const w = randT(cc.w);
      const attrs = { stride: cc.stride, padding: cc.padding };
      expectClose(runT("conv2d", [x, w], attrs), conv2dRef(x, w, undefined, cc.stride, cc.padding));
      const yType = inferType("conv2d", [x, w].map(typeOfArg), attrs) as Type & { shape: number[] };
      for (const dy of [randT(yType.shape), sparseT(yType.shape, 0.9)]) {
        const ref = conv2dVjpRef(x, w, data(dy), cc.stride, cc.padding);
        expectClose(runT("conv2dGradInput", [dy, w], { ...attrs, inputShape: cc.x }), ref.dx);
        expectClose(runT("conv2dGradWeight", [dy, x], { ...attrs, weightShape: cc.w }), ref.dw);
      }
    }
  });

  it("an infinite or NaN input or weight gives NaN gradients, however sparse dy is", () => {
    const attrs = { stride: [1, 1] as [number, number], padding: [1, 1] as [number, number] };
    const xs = [2, 2, 5, 5];
    const ws = [3, 2, 3, 3];
    for (const bad of [Infinity, NaN]) {
      for (const zeros of [0, 0.9]) {
        const x = randT(xs);
        const w = randT(ws);
        data(x)[7] = bad;
        data(w)[4] = bad;
        const dy = sparseT([2, 3, 5, 5], zeros);
        const ref = conv2dVjpRef(x, w, data(dy), attrs.stride, attrs.padding);
        const dx = runT("conv2dGradInput", [dy, w], { ...attrs, inputShape: xs });
        const dw = runT("conv2dGradWeight", [dy, x], { ...attrs, weightShape: ws });
        expect(Array.from(dx).map(Number.isNaN)).toEqual(Array.from(ref.dx).map(Number.isNaN));
        expect(Array.from(dw).map(Number.isNaN)).toEqual(Array.from(ref.dw).map(Number.isNaN));
      }
    }
  });

  it("LeNet's layers at batch 1 and 3, with the sparse dy a relu and 2x2 max-pool leave", () => {
    for (const [xs, ws, p] of [[[1, 28, 28], [6, 1, 5, 5], 2], [[3, 6, 14, 14], [16, 6, 5, 5], 0]] as const) {
      const x = randT(xs);
      const w = randT(ws);
      const attrs = { stride: [1, 1] as [number, number], padding: [p, p] as [number, number] };
      const yType = inferType("conv2d", [x, w].map(typeOfArg), attrs) as Type & { shape: number[] };
      expectClose(runT("conv2d", [x, w], attrs), conv2dRef(x, w, undefined, attrs.stride, attrs.padding));
      for (const dy of [randT(yType.shape), sparseT(yType.shape, 0.85)]) {
        const ref = conv2dVjpRef(x, w, data(dy), attrs.stride, attrs.padding);
        expectClose(runT("conv2dGradInput", [dy, w], { ...attrs, inputShape: xs }), ref.dx);
        expectClose(runT("conv2dGradWeight", [dy, x], { ...attrs, weightShape: ws }), ref.dw);
      }
    }
  });
});

describe("linear with leftover rows and columns in its register blocks", () => {
  for (const [nOut, nIn] of [[1, 1], [7, 5], [9, 11], [13, 3], [16, 8], [10, 84]] as const) {
    for (const batch of [null, 1, 3, 6]) {
      it(`[${nOut}, ${nIn}], ${batch === null ? "unbatched" : `batch ${batch}`}`, () => {
        const xShape = batch === null ? [nIn] : [batch, nIn];
        const yShape = batch === null ? [nOut] : [batch, nOut];
        const x = randT(xShape);
        const w = randT([nOut, nIn]);
        const b = randT([nOut]);
        expectClose(runT("linear", [x, w, b], {}), linearRef(x, w, b));
        const dy = randT(yShape);
        const N = batch ?? 1;
        const dx = new Float64Array(N * nIn);
        const dw = new Float64Array(nOut * nIn);
        const db = new Float64Array(nOut);
        for (let n = 0; n < N; n++)
          for (let o = 0; o < nOut; o++) {
            const g = data(dy)[n * nOut + o]!;
            db[o] += g;
            for (let i = 0; i < nIn; i++) {
              dx[n * nIn + i] += g * data(w)[o * nIn + i]!;
              dw[o * nIn + i] += g * data(x)[n * nIn + i]!;
            }
          }
        expectClose(runT("linearGradInput", [dy, w], {}), dx);
        expectClose(runT("linearGradWeight", [dy, x], {}), dw);
        expectClose(runT("linearGradBias", [dy], {}), db);
      });
    }
  }
});

interface PoolCase {
  readonly name: string;
  readonly x: readonly number[];
  readonly size: [number, number];
  readonly stride: [number, number];
}

const POOL_CASES: PoolCase[] = [
  { name: "[H,W] 2x2 stride 2", x: [6, 6], size: [2, 2], stride: [2, 2] },
  { name: "[C,H,W] 3x3 stride 2 (overlapping)", x: [2, 7, 7], size: [3, 3], stride: [2, 2] },
  { name: "[N,C,H,W] 2x3 stride [1,2] (overlapping rows)", x: [2, 3, 6, 5], size: [2, 3], stride: [1, 2] },
  { name: "[C,H,W] 2x2 stride 3 (gaps, floor sizes)", x: [2, 8, 7], size: [2, 2], stride: [3, 3] },
  { name: "[C,H,W] 2x2 stride [2,1] (overlapping columns only)", x: [2, 6, 5], size: [2, 2], stride: [2, 1] },
  { name: "[N,C,H,W] 2x2 stride 2, exact tiling (LeNet)", x: [3, 2, 10, 10], size: [2, 2], stride: [2, 2] },
  { name: "[C,H,W] 3x2 stride [3,2] (tiling, non-square)", x: [2, 9, 8], size: [3, 2], stride: [3, 2] },
  { name: "[C,H,W] 1x1 stride 2", x: [2, 5, 5], size: [1, 1], stride: [2, 2] },
  { name: "[C,H,W] 5x4 stride 2 (a window too large to unroll)", x: [2, 11, 10], size: [5, 4], stride: [2, 2] },
  { name: "[C,H,W] 5x4 stride [5,4] (large tiling windows)", x: [1, 10, 8], size: [5, 4], stride: [5, 4] },
];

describe("pooling", () => {
  for (const pc of POOL_CASES) {
    const attrs = { size: pc.size, stride: pc.stride };
    it(`forward matches the reference: ${pc.name}`, () => {
      const x = randT(pc.x);
      expectClose(runT("maxpool2d", [x], attrs), poolRef("max", x, pc.size, pc.stride), 0);
      expectClose(runT("avgpool2d", [x], attrs), poolRef("avg", x, pc.size, pc.stride));
    });

    it(`gradients match finite differences: ${pc.name}`, () => {
      const x = randT(pc.x);
      const yType = inferType("maxpool2d", [typeOfArg(x)], attrs) as Type & { shape: number[] };
      const dy = randT(yType.shape);
      checkVjp((a) => runT("maxpool2d", a, attrs), [x], 0, data(dy), runT("maxpool2dGrad", [x, dy], attrs));
      checkVjp((a) => runT("avgpool2d", a, attrs), [x], 0, data(dy),
        runT("avgpool2dGrad", [dy], { ...attrs, inputShape: pc.x }));
    });

    it(`max-pool gradient goes to the first maximum under ties: ${pc.name}`, () => {
      // small integers: many ties, including all-equal windows
      const x = T(pc.x, Array.from({ length: sizeOf(pc.x) }, () => Math.floor(3 * rand()) - 2));
      const yType = inferType("maxpool2d", [typeOfArg(x)], attrs) as Type & { shape: number[] };
      const dy = randT(yType.shape);
      expectClose(runT("maxpool2dGrad", [x, dy], attrs), poolRef("max", x, pc.size, pc.stride, data(dy)), 0);
    });
  }

  it("routes each all-equal or all-negative window to its first element, accumulating overlaps", () => {
    const attrs = { size: [2, 2] as [number, number], stride: [1, 1] as [number, number] };
    const dy = randT([3, 3]);
    for (const v of [1, 0, -5, -Infinity]) {
      const x = T([4, 4], new Array(16).fill(v));
      const dx = runT("maxpool2dGrad", [x, dy], attrs);
      const expected = new Float64Array(16);
      for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) expected[i * 4 + j] = data(dy)[i * 3 + j]!;
      expect(Array.from(dx)).toEqual(Array.from(expected));
      expect(Array.from(runT("maxpool2d", [x], attrs))).toEqual(new Array(9).fill(v));
    }
    // a later, equal maximum does not take the gradient; a strictly larger one does
    const x = T([2, 3], [1, 3, 3, 3, 2, 4]);
    const dx = runT("maxpool2dGrad", [x, T([1, 1], [10])], { size: [2, 3], stride: [1, 1] });
    expect(Array.from(dx)).toEqual([0, 0, 0, 0, 0, 10]);
    const dx2 = runT("maxpool2dGrad", [T([2, 3], [1, 3, 3, 3, 2, 3]), T([1, 1], [10])], { size: [2, 3], stride: [1, 1] });
    expect(Array.from(dx2)).toEqual([0, 10, 0, 0, 0, 0]);
  });

  it("handles NaN and infinities in every window position, unrolled or not", () => {
    // the unrolled windows find the maximum without branches and fall back to the exact rule
    // when a window holds a NaN (or +∞ beside -∞): compare with the reference on each pattern
    const specials = [NaN, Infinity, -Infinity, 0, -0, 1, 1];
    for (const [size, shape] of [[[2, 2], [2, 4, 6]], [[3, 3], [1, 6, 6]], [[5, 4], [1, 5, 8]]] as const) {
      const attrs = { size: size as unknown as [number, number], stride: size as unknown as [number, number] };
      for (let trial = 0; trial < 20; trial++) {
        const x = T(shape, Array.from({ length: sizeOf(shape) }, () =>
          rand() < 0.3 ? specials[Math.floor(rand() * specials.length)]! : randn()));
        const yType = inferType("maxpool2d", [typeOfArg(x)], attrs) as Type & { shape: number[] };
        const dy = randT(yType.shape);
        const y = runT("maxpool2d", [x], attrs);
        const yRef = poolRefNaN(x, size[0], size[1], size[0], size[1]);
        expect(Array.from(y).map(String)).toEqual(Array.from(yRef.y).map(String));
        const dx = runT("maxpool2dGrad", [x, dy], attrs);
        expect(Array.from(dx)).toEqual(Array.from(poolRefNaN(x, size[0], size[1], size[0], size[1], data(dy)).dx));
      }
    }
  });

  it("propagates NaN like PyTorch: the max is NaN and the gradient goes to the first NaN", () => {
    const attrs = { size: [2, 2] as [number, number], stride: [2, 2] as [number, number] };
    const x = T([2, 4], [1, NaN, 5, 2, 9, NaN, 3, 4]);
    const y = runT("maxpool2d", [x], attrs);
    expect(Number.isNaN(y[0])).toBe(true);
    expect(y[1]).toBe(5);
    const dx = runT("maxpool2dGrad", [x, T([1, 2], [10, 20])], attrs);
    expect(Array.from(dx)).toEqual([0, 10, 20, 0, 0, 0, 0, 0]);
  });

  it("avg-pool gradient spreads dy / (kh * kw) over overlapping windows", () => {
    const attrs = { size: [2, 2] as [number, number], stride: [1, 1] as [number, number], inputShape: [3, 3] };
    const dx = runT("avgpool2dGrad", [T([2, 2], [4, 4, 4, 4])], attrs);
    expect(Array.from(dx)).toEqual([1, 2, 1, 2, 4, 2, 1, 2, 1]);
  });
});

describe("softmax family", () => {
  for (const shape of [[5], [3, 6], [1, 1]]) {
    it(`softmax and logSoftmax match the reference and finite differences: [${shape}]`, () => {
      const x = randT(shape, 3);
      const y = runT("softmax", [x], {});
      const ly = runT("logSoftmax", [x], {});
      expectClose(y, softmaxRef(x, false));
      expectClose(ly, softmaxRef(x, true));
      const dy = randT(shape);
      checkVjp((a) => runT("softmax", a, {}), [x], 0, data(dy), runT("softmaxGrad", [T(shape, y), dy], {}));
      checkVjp((a) => runT("logSoftmax", a, {}), [x], 0, data(dy), runT("logSoftmaxGrad", [T(shape, ly), dy], {}));
    });
  }

  it("is stable for logits of 1000", () => {
    const x = T([2, 3], [1000, 999, -1000, 1000, 1000, 1000]);
    const y = runT("softmax", [x], {});
    const ly = runT("logSoftmax", [x], {});
    expect(Array.from(y).every(Number.isFinite)).toBe(true);
    expect(Array.from(ly).every(Number.isFinite)).toBe(true);
    expectClose(y, softmaxRef(T([2, 3], [0, -1, -2000, 0, 0, 0]), false));
    expectClose(ly, softmaxRef(T([2, 3], [0, -1, -2000, 0, 0, 0]), true));
  });
});

describe("crossEntropy", () => {
  it("matches the reference, unbatched and batched", () => {
    const x = randT([5], 3);
    expectClose(runN("crossEntropy", [x, 2], {}), crossEntropyRef(x, 2));
    const xs = randT([4, 6], 3);
    const labels = T([4], [0, 5, 2, 2]);
    expectClose(runN("crossEntropy", [xs, labels], {}), crossEntropyRef(xs, labels));
  });

  it("gradient matches finite differences", () => {
    const x = randT([5], 3);
    checkVjp((a) => runN("crossEntropy", a, {}), [x, 3], 0, 0.7, runT("crossEntropyGrad", [x, 3, 0.7], {}));
    const xs = randT([4, 6], 3);
    const labels = T([4], [1, 0, 5, 1]);
    checkVjp((a) => runN("crossEntropy", a, {}), [xs, labels], 0, -1.3,
      runT("crossEntropyGrad", [xs, labels, -1.3], {}));
  });

  it("is stable for logits of 1000", () => {
    const x = T([3], [1000, 0, -1000]);
    expectClose(runN("crossEntropy", [x, 0], {}), Math.log(1 + Math.exp(-1000) + Math.exp(-2000)));
    expectClose(runN("crossEntropy", [x, 1], {}), 1000);
    const g = runT("crossEntropyGrad", [x, 1, 1], {});
    expectClose(g, [1, -1, 0]);
    const xs = T([2, 2], [1000, 1000, -1000, 1000]);
    expectClose(runN("crossEntropy", [xs, T([2], [0, 0])], {}), (Math.log(2) + 2000) / 2);
    expectClose(runT("crossEntropyGrad", [xs, T([2], [0, 0]), 1], {}), [-0.25, 0.25, -0.5, 0.5]);
  });
});

describe("reluGrad", () => {
  it("passes dy where x > 0 and 0 elsewhere (relu'(0) = 0)", () => {
    expect(runN("reluGrad", [2, 5], {})).toBe(5);
    expect(runN("reluGrad", [0, 5], {})).toBe(0);
    expect(runN("reluGrad", [-1, 5], {})).toBe(0);
    const x = T([2, 3], [1, 0, -0, -2, 3, 1e-300]);
    const dy = T([2, 3], [1, 2, 3, 4, 5, 6]);
    expect(Array.from(runT("reluGrad", [x, dy], {}))).toEqual([1, 0, 0, 0, 5, 6]);
  });

  it("matches finite differences of relu", () => {
    const relu = (a: Arg[]): Float64Array => data(a[0]!).map((v) => Math.max(0, v));
    const x = randT([3, 4]);
    const dy = randT([3, 4]);
    checkVjp(relu, [x], 0, data(dy), runT("reluGrad", [x, dy], {}));
    const reluN = (a: Arg[]): number => Math.max(0, a[0] as number);
    checkVjp(reluN, [0.3], 0, 1.7, runN("reluGrad", [0.3, 1.7], {}));
  });
});

describe("every op", () => {
  it("ignores the result buffer's previous contents", () => {
    // Re-run every compiled instance with a result buffer full of other garbage.
    rand = rng(777);
    let checked = 0;
    for (const c of [...compiledAll]) {
      if (c.resultType.kind !== "tensor") continue;
      const values = c.argTypes.map((t, i) => {
        if (t.kind !== "tensor") return c.op === "crossEntropyGrad" && i === 1 ? 1 : randn();
        const v = Float64Array.from({ length: sizeOf(t.shape) }, () => randn());
        // labels must be valid class indices
        if (c.op === "crossEntropyGrad" && i === 1) v.fill(0);
        return v;
      });
      const outs = [NaN, 1e300, -7].map((fill) => {
        const out = new Float64Array(sizeOf(c.resultType.kind === "tensor" ? c.resultType.shape : [])).fill(fill);
        c.fn(...values, out);
        return out;
      });
      expect(outs[0]!.some(Number.isNaN)).toBe(false);
      expect(Array.from(outs[1]!)).toEqual(Array.from(outs[0]!));
      expect(Array.from(outs[2]!)).toEqual(Array.from(outs[0]!));
      checked++;
    }
    expect(checked).toBeGreaterThan(40);
  });

  it("emits code that type-checks under tsc --strict", () => {
    const ops = new Set(compiledAll.map((c) => c.op));
    expect([...ops].sort()).toEqual(Object.keys(TENSOR_OP_EMITTERS).sort());
    const source = compiledAll.map((c, k) => {
      const params = c.argTypes.map((t, i) =>
        `${ARG_NAMES[i]}: ${t.kind === "tensor" ? "Float64Array | Float32Array" : "number"}`);
      const indent = (lines: readonly string[]): string => lines.map((l) => `    ${l}`).join("\n");
      // each kernel with its scratch variables in a closure, as module-level state would be
      const scratch = c.scratch.map((s) => `  let ${s.name}: ${s.type} | undefined;\n`).join("");
      if (c.resultType.kind === "tensor") {
        return `export const ${c.op}${k} = (() => {\n${scratch}` +
          `  return function (${[...params, `${RESULT}: Float64Array`].join(", ")}): void {\n` +
          `${indent(c.lines)}\n  };\n})();\n`;
      }
      return `export const ${c.op}${k} = (() => {\n${scratch}` +
        `  return function (${params.join(", ")}): number {\n    let ${RESULT}: number;\n` +
        `${indent(c.lines)}\n    return ${RESULT};\n  };\n})();\n`;
    }).join("\n");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "adgen-tensorops-"));
    const file = path.join(dir, "emitted.ts");
    fs.writeFileSync(file, source);
    try {
      const program = ts.createProgram([file], {
        strict: true,
        noEmit: true,
        target: ts.ScriptTarget.ES2022,
        lib: ["lib.es2022.d.ts"],
        types: [],
        noUnusedLocals: true,
        noImplicitReturns: true,
        noFallthroughCasesInSwitch: true,
      });
      const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => {
        const where = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : undefined;
        const line = where ? source.split("\n")[where.line] : "";
        return `${where ? `${where.line + 1}:${where.character + 1} ` : ""}${ts.flattenDiagnosticMessageText(d.messageText, "\n")}\n  ${line}`;
      });
      expect(diagnostics).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
