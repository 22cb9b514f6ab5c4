// The derivative table, tested op by op. The test is driven by the op table itself (compiler/ops/index.ts): every key of
// the table must have an entry in CASES below, so that adding an op without a gradient test
// fails this file.
//
// - a rule op: its cases are compiled, and at several seeded random points the generated
//   gradient (fGrad, or fVjp with a random cotangent) is compared with centered finite
//   differences along random directions (directionalCheck). At least one case must contain
//   the op in its (simplified) primal IR, so the rule really runs.
// - a "nondiff" op: the same, and the gradient of the inputs that reach the output only
//   through the op is exactly 0.
// - an "adjointOnly" op: it has no rule of its own; its entry names the forward op whose
//   rule emits it, and one of that op's cases must contain it in its reverse-mode IR (the
//   numbers are checked by the forward op's cases).
// - a "region" op (if/for): cases with branches and loops carrying state.
//
// Some ops (select, broadcast) are never produced by the front end from DSL source: `?:`
// lowers to an `if` region and `add(x, s)` broadcasts inside the elementwise op. Their rules
// are tested on hand-built IR, through the same reverse mode, simplification and code
// generation the compiler uses.
//
// All DSL cases are compiled as one module (one TypeScript program) to keep the file fast; if
// that fails, every case is compiled on its own so that the failure names the case.

import { beforeAll, describe, expect, it } from "vitest";
import { OPS } from "../compiler/ops/index.js";
import { reverseMode } from "../compiler/ad/reverseMode.js";
import { hvpOf, jvpOf } from "../compiler/ad/forwardMode.js";
import { emitModule } from "../compiler/codegen/emitModule.js";
import type { LoweredEntry } from "../compiler/frontend/lowerModule.js";
import { Builder, createBuilder, makeBlock } from "../compiler/ir/builder.js";
import { Block, F64, Func, GradFunc, Loc, OpKind, Value, tensorType } from "../compiler/ir/types.js";
import { simplify } from "../compiler/pipeline.js";
import { Arg, compileOrThrow, directionalCheck, importCode, maxRelErr, rng } from "./helpers.js";

// ---------------------------------------------------------------------------------------
// Case descriptions

type Rand = () => number;
type Grads = Record<string, number | Float64Array | undefined>;

interface Exact {
  /** The inputs, in parameter order. */
  args: Arg[];
  /** The expected gradients, compared with === (an absent key is not checked). */
  grads: Record<string, number | number[]>;
  value?: number;
  /** The cotangent, for a tensor-valued entry. */
  cotangent?: number[];
}

interface CaseBase {
  /** A short description, shown in failures. */
  label: string;
  /** Random inputs in parameter order (tensors flat). Choose domains away from kinks. */
  inputs: (r: Rand) => Arg[];
  /** Random points to check (default 4). */
  points?: number;
  eps?: number;
  tol?: number;
  /** Tolerance of fHvp against differences of the gradient (default 1e-5). */
  hvpTol?: number;
  /** Parameters whose gradient must be exactly 0 at every point (reached only through a nondiff op). */
  exactZero?: string[];
  /** Parameters that must get no gradient (labels). */
  noGrad?: string[];
  /** The value computed with plain Math in the test, for the scalar-valued entries. */
  plain?: (args: Arg[]) => number;
  /** Points with exactly known gradients (ties, kinks). */
  exact?: Exact[];
}

interface DslCase extends CaseBase {
  /** One `export function f(...)` (helpers, if any, must have names unique in this file). */
  src: string;
}

interface IrCase extends CaseBase {
  /** Parameters: name and shape ([] for a number). */
  params: [string, number[]][];
  /** Builds the body and returns the result. */
  build: (b: Builder, p: Value[]) => Value;
  wrt?: string[];
}

type Case = DslCase | IrCase;
type Entry = Case[] | { via: OpKind };

// ---------------------------------------------------------------------------------------
// Input generators

const U = (r: Rand, lo: number, hi: number): number => lo + (hi - lo) * r();
/** |x| in [lo, hi] with a random sign. */
const away = (r: Rand, lo: number, hi: number): number => (r() < 0.5 ? -1 : 1) * U(r, lo, hi);
const T = (r: Rand, n: number, lo = -1, hi = 1): Float64Array => Float64Array.from({ length: n }, () => U(r, lo, hi));
const Taway = (r: Rand, n: number, lo: number, hi: number): Float64Array => Float64Array.from({ length: n }, () => away(r, lo, hi));
/** Non-integers at least 0.1 from an integer (and from a half-integer when `half`). */
const offGrid = (r: Rand, half = false): number => {
  const k = Math.floor(U(r, -3, 3));
  const frac = half ? (r() < 0.5 ? U(r, 0.1, 0.4) : U(r, 0.6, 0.9)) : U(r, 0.1, 0.9);
  return k + frac;
};
/** Two numbers at least 0.1 apart, in random order. */
const apart = (r: Rand): [number, number] => {
  const a = U(r, -2, 2);
  return [a, a + away(r, 0.1, 1)];
};
const labels = (r: Rand, n: number, k: number): Float64Array => Float64Array.from({ length: n }, () => Math.floor(r() * k));
const num = (a: Arg): number => a as number;
const arr = (a: Arg): Float64Array => a as Float64Array;

// ---------------------------------------------------------------------------------------
// Scalar elementwise ops: y * OP(x), so that the rule sees an adjoint other than 1.

const UNARY: [OpKind, string, (x: number) => number, (r: Rand) => number][] = [
  ["neg", "-x", (x) => -x, (r) => U(r, -2, 2)],
  ["exp", "Math.exp(x)", Math.exp, (r) => U(r, -2, 2)],
  ["log", "Math.log(x)", Math.log, (r) => U(r, 0.2, 3)],
  ["sin", "Math.sin(x)", Math.sin, (r) => U(r, -3, 3)],
  ["cos", "Math.cos(x)", Math.cos, (r) => U(r, -3, 3)],
  ["tan", "Math.tan(x)", Math.tan, (r) => U(r, -1.2, 1.2)],
  ["tanh", "Math.tanh(x)", Math.tanh, (r) => U(r, -2, 2)],
  ["sqrt", "Math.sqrt(x)", Math.sqrt, (r) => U(r, 0.2, 3)],
  ["abs", "Math.abs(x)", Math.abs, (r) => away(r, 0.1, 2)],
  ["asin", "Math.asin(x)", Math.asin, (r) => U(r, -0.9, 0.9)],
  ["acos", "Math.acos(x)", Math.acos, (r) => U(r, -0.9, 0.9)],
  ["atan", "Math.atan(x)", Math.atan, (r) => U(r, -3, 3)],
  ["sinh", "Math.sinh(x)", Math.sinh, (r) => U(r, -2, 2)],
  ["cosh", "Math.cosh(x)", Math.cosh, (r) => U(r, -2, 2)],
  ["asinh", "Math.asinh(x)", Math.asinh, (r) => U(r, -3, 3)],
  ["acosh", "Math.acosh(x)", Math.acosh, (r) => U(r, 1.2, 4)],
  ["atanh", "Math.atanh(x)", Math.atanh, (r) => U(r, -0.9, 0.9)],
  ["log1p", "Math.log1p(x)", Math.log1p, (r) => U(r, -0.8, 3)],
  ["expm1", "Math.expm1(x)", Math.expm1, (r) => U(r, -2, 2)],
  ["log2", "Math.log2(x)", Math.log2, (r) => U(r, 0.2, 3)],
  ["log10", "Math.log10(x)", Math.log10, (r) => U(r, 0.2, 3)],
  ["cbrt", "Math.cbrt(x)", Math.cbrt, (r) => away(r, 0.2, 3)],
  ["sigmoid", "sigmoid(x)", (x) => 1 / (1 + Math.exp(-x)), (r) => U(r, -4, 4)],
  ["relu", "relu(x)", (x) => Math.max(0, x), (r) => away(r, 0.1, 2)],
];

const unaryCase = ([, expr, fn, dom]: (typeof UNARY)[number]): DslCase => ({
  label: `y * ${expr}`,
  src: `export function f(x: number, y: number): number { return y * ${expr}; }`,
  inputs: (r) => [dom(r), U(r, -2, 2)],
  plain: ([x, y]) => num(y) * fn(num(x)),
});

/** The adgen elementwise functions on a tensor, as a tensor-valued entry (checked through fVjp). */
const tensorUnary = (fn: string, dom: (r: Rand, n: number) => Float64Array): DslCase => ({
  label: `${fn}(x) on [2, 3]`,
  src: `export function f(x: Tensor<[2, 3]>): Tensor<[2, 3]> { return ${fn}(x); }`,
  inputs: (r) => [dom(r, 6)],
});

/** Scalar binary op, and the three tensor forms of the adgen function (tensor-tensor, tensor-number, number-tensor). */
function binaryCases(op: "add" | "sub" | "mul" | "div", sym: string, den: (r: Rand) => number): DslCase[] {
  const tden = (r: Rand, n: number): Float64Array => Float64Array.from({ length: n }, () => den(r));
  return [
    {
      label: `w * (x ${sym} y)`,
      src: `export function f(x: number, y: number, w: number): number { return w * (x ${sym} y); }`,
      inputs: (r) => [U(r, -2, 2), den(r), U(r, -2, 2)],
      plain: ([x, y, w]) => num(w) * { add: (a: number, b: number) => a + b, sub: (a: number, b: number) => a - b, mul: (a: number, b: number) => a * b, div: (a: number, b: number) => a / b }[op](num(x), num(y)),
    },
    {
      label: `${op}(tensor, tensor)`,
      src: `export function f(a: Tensor<[2, 3]>, b: Tensor<[2, 3]>): Tensor<[2, 3]> { return ${op}(a, b); }`,
      inputs: (r) => [T(r, 6, -2, 2), tden(r, 6)],
    },
    {
      label: `${op}(tensor, number)`,
      src: `export function f(a: Tensor<[2, 3]>, s: number): Tensor<[2, 3]> { return ${op}(a, s); }`,
      inputs: (r) => [T(r, 6, -2, 2), den(r)],
    },
    {
      label: `${op}(number, tensor)`,
      src: `export function f(s: number, a: Tensor<[2, 3]>): Tensor<[2, 3]> { return ${op}(s, a); }`,
      inputs: (r) => [U(r, -2, 2), tden(r, 6)],
    },
    {
      label: `${op} of a number and a tensor inside a sum (the number's gradient is a reduction)`,
      src: `export function f(s: number, a: Tensor<[4]>): number { return sum(${op}(${op}(s, a), mul(a, s))); }`,
      inputs: (r) => [den(r), tden(r, 4)],
    },
  ];
}

/** A nondiff scalar op: y * OP(x), with the gradient of x exactly 0. */
const piecewiseConstant = (fn: string, dom: (r: Rand) => number, at: number[]): DslCase => ({
  label: `y * ${fn}(x)`,
  src: `/** @wrt x, y */\nexport function f(x: number, y: number): number { return y * ${fn}(x) + y; }`,
  inputs: (r) => [dom(r), U(r, -2, 2)],
  exactZero: ["x"],
  exact: at.map((x) => ({ args: [x, 1.5], grads: { x: 0 } })),
});

/** A comparison in ?: : the compared numbers get exactly zero gradient. */
const comparison = (sym: string): DslCase => ({
  label: `x ${sym} y ? a * a : 2 * b`,
  src: `/** @wrt x, y, a, b */\nexport function f(x: number, y: number, a: number, b: number): number { return x ${sym} y ? a * a : 2 * b; }`,
  inputs: (r) => [...apart(r), U(r, -2, 2), U(r, -2, 2)],
  exactZero: ["x", "y"],
  // at a tie (where le, ge, eq and ne differ from lt, gt) finite differences do not apply
  exact: [{ args: [0.5, 0.5, 1.5, 2], grads: { x: 0, y: 0, ...(["<=", ">=", "==="].includes(sym) ? { a: 3, b: 0 } : { a: 0, b: 2 }) } }],
});

const loc: Loc = { line: 1, col: 1 };

// ---------------------------------------------------------------------------------------
// The cases, keyed by op kind. Entries for adjoint-only ops name the op whose rule emits them.

const CASES: Record<string, Entry> = {
  ...Object.fromEntries(UNARY.map((u) => [u[0], [unaryCase(u)]])),

  // ---- unary ops with tensor forms and kinks
  exp: [unaryCase(UNARY.find((u) => u[0] === "exp")!), tensorUnary("exp", (r, n) => T(r, n, -2, 2))],
  log: [unaryCase(UNARY.find((u) => u[0] === "log")!), tensorUnary("log", (r, n) => T(r, n, 0.2, 3))],
  tanh: [unaryCase(UNARY.find((u) => u[0] === "tanh")!), tensorUnary("tanh", (r, n) => T(r, n, -2, 2)),
    { ...unaryCase(UNARY.find((u) => u[0] === "tanh")!), label: "y * tanh(x) (adgen's)", src: `export function f(x: number, y: number): number { return y * tanh(x); }` }],
  sigmoid: [unaryCase(UNARY.find((u) => u[0] === "sigmoid")!), tensorUnary("sigmoid", (r, n) => T(r, n, -4, 4))],
  relu: [
    unaryCase(UNARY.find((u) => u[0] === "relu")!),
    tensorUnary("relu", (r, n) => Taway(r, n, 0.1, 2)),
    {
      label: "relu'(0) = 0, scalar and tensor",
      src: `export function f(x: number, v: Tensor<[3]>): number { return relu(x) + sum(relu(v)); }`,
      inputs: (r) => [away(r, 0.1, 2), Taway(r, 3, 0.1, 2)],
      exact: [{ args: [0, Float64Array.of(0, 1, -1)], grads: { x: 0, v: [0, 1, 0] }, value: 1 }],
    },
  ],
  abs: [
    unaryCase(UNARY.find((u) => u[0] === "abs")!),
    {
      label: "abs'(0) = 0",
      src: `export function f(x: number): number { return Math.abs(x); }`,
      inputs: (r) => [away(r, 0.1, 2)],
      exact: [{ args: [0], grads: { x: 0 }, value: 0 }, { args: [-0.5], grads: { x: -1 } }],
    },
  ],

  // ---- nondiff scalar ops
  sign: [piecewiseConstant("Math.sign", (r) => away(r, 0.1, 2), [-1.5, 0, 2])],
  floor: [piecewiseConstant("Math.floor", (r) => offGrid(r), [-1.5, 0, 2])],
  ceil: [piecewiseConstant("Math.ceil", (r) => offGrid(r), [-1.5, 0, 2])],
  round: [piecewiseConstant("Math.round", (r) => offGrid(r, true), [-1.25, 0, 2.5])],
  trunc: [piecewiseConstant("Math.trunc", (r) => offGrid(r), [-1.5, 0, 2])],

  // ---- binary ops
  add: binaryCases("add", "+", (r) => U(r, -2, 2)),
  sub: binaryCases("sub", "-", (r) => U(r, -2, 2)),
  mul: binaryCases("mul", "*", (r) => U(r, -2, 2)),
  div: [
    ...binaryCases("div", "/", (r) => away(r, 0.5, 2)),
    {
      label: "the quiz: exp(xz) + xz / log(x) + sin(log(x)) / (xz)",
      src: `export function f(x: number, z: number): number {
  const xz = x * z;
  const lx = Math.log(x);
  return Math.exp(xz) + xz / lx + Math.sin(lx) / xz;
}`,
      inputs: (r) => [U(r, 1.5, 2.5), U(r, 0.5, 1.5)],
      plain: ([x, z]) => {
        const xz = num(x) * num(z);
        const lx = Math.log(num(x));
        return Math.exp(xz) + xz / lx + Math.sin(lx) / xz;
      },
      exact: [{ args: [2, 3], grads: {}, value: Math.exp(6) + 6 / Math.LN2 + Math.sin(Math.LN2) / 6 }],
    },
  ],
  pow: [
    {
      label: "x ** 3 (exponent inactive)",
      src: `export function f(x: number): number { return x ** 3; }`,
      inputs: (r) => [U(r, -2, 2)],
      plain: ([x]) => num(x) ** 3,
    },
    {
      label: "Math.pow(x, 2.5) (exponent inactive, positive base)",
      src: `export function f(x: number): number { return Math.pow(x, 2.5); }`,
      inputs: (r) => [U(r, 0.2, 3)],
    },
    {
      label: "w * x ** y (exponent active, positive base)",
      src: `export function f(x: number, y: number, w: number): number { return w * x ** y; }`,
      inputs: (r) => [U(r, 0.3, 2.5), U(r, -2, 2), U(r, -2, 2)],
      plain: ([x, y, w]) => num(w) * num(x) ** num(y),
    },
    {
      label: "Math.pow(x, y) at base 0: the exponent's gradient is 0, not NaN",
      src: `export function f(x: number, y: number): number { return Math.pow(x, y); }`,
      inputs: (r) => [U(r, 0.3, 2.5), U(r, -2, 2)],
      exact: [
        { args: [0, 2], grads: { x: 0, y: 0 }, value: 0 },
        { args: [0, 3.5], grads: { x: 0, y: 0 }, value: 0 },
        { args: [2, 3], grads: { x: 12, y: 8 * Math.LN2 }, value: 8 },
      ],
    },
  ],
  mod: [
    {
      label: "w * (x % y), positive and negative x, between the jumps",
      src: `export function f(x: number, y: number, w: number): number { return w * (x % y) + (-x % y); }`,
      inputs: (r) => [U(r, 2.2, 2.8) * (r() < 0.5 ? -1 : 1), U(r, 1, 1.05), U(r, -2, 2)],
      plain: ([x, y, w]) => num(w) * (num(x) % num(y)) + (-num(x) % num(y)),
      exact: [
        { args: [5.5, 2, 3], grads: { x: 2, y: -4, w: 1.5 }, value: 3 },
        { args: [-5.5, 2, 2], grads: { x: 1, y: 2, w: -1.5 }, value: -1.5 },
      ],
    },
    {
      label: "i % 2 and Math.floor(i / 2) on a loop counter pick terms",
      src: `export function f(x: Tensor<[4]>): number {
  let s = 0;
  for (let i = 0; i < 8; i++) {
    s += i % 2 === 0 ? x[Math.floor(i / 2)] * x[i % 4] : x[(i + 1) % 4];
  }
  return s;
}`,
      inputs: (r) => [T(r, 4)],
      plain: ([x]) => {
        let s = 0;
        for (let i = 0; i < 8; i++) s += i % 2 === 0 ? arr(x)[Math.floor(i / 2)]! * arr(x)[i % 4]! : arr(x)[(i + 1) % 4]!;
        return s;
      },
    },
  ],
  size: [
    {
      label: "x.length of a vector of any length, as a bound and as a number",
      src: `export function f<N extends number>(x: Tensor<[N]>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x.length;
  return s;
}`,
      inputs: (r) => [T(r, 3)],
      plain: ([x]) => arr(x).reduce((a, v) => a + v * 3, 0),
    },
  ],
  atan2: [
    {
      label: "w * atan2(y, x)",
      src: `export function f(y: number, x: number, w: number): number { return w * Math.atan2(y, x); }`,
      inputs: (r) => [U(r, -2, 2), away(r, 0.5, 2), U(r, -2, 2)],
      plain: ([y, x, w]) => num(w) * Math.atan2(num(y), num(x)),
    },
  ],
  hypot: [
    {
      label: "w * hypot(x, y), and with three arguments",
      src: `export function f(x: number, y: number, z: number, w: number): number { return w * Math.hypot(x, y) + Math.hypot(x, y, z); }`,
      inputs: (r) => [away(r, 0.3, 2), away(r, 0.3, 2), away(r, 0.3, 2), U(r, -2, 2)],
      plain: ([x, y, z, w]) => num(w) * Math.hypot(num(x), num(y)) + Math.hypot(num(x), num(y), num(z)),
    },
  ],
  max: [
    {
      label: "w * max(x, y) and max of three",
      src: `export function f(x: number, y: number, z: number, w: number): number { return w * Math.max(x, y) + Math.max(z, x, y); }`,
      inputs: (r) => {
        const [x, y] = apart(r);
        return [x, y, Math.max(x, y) + away(r, 0.1, 1), U(r, -2, 2)];
      },
      plain: ([x, y, z, w]) => num(w) * Math.max(num(x), num(y)) + Math.max(num(z), num(x), num(y)),
    },
    {
      label: "a tie goes to the first argument",
      src: `export function f(a: number, b: number): number { return Math.max(a, b); }`,
      inputs: (r) => apart(r),
      exact: [
        { args: [0.7, 0.7], grads: { a: 1, b: 0 }, value: 0.7 },
        { args: [-2, -2], grads: { a: 1, b: 0 }, value: -2 },
        { args: [1, 2], grads: { a: 0, b: 1 } },
      ],
    },
    {
      label: "Math.max(x, x) has gradient 1",
      src: `export function f(x: number): number { return 3 * Math.max(x, x); }`,
      inputs: (r) => [U(r, -2, 2)],
      exact: [{ args: [0.25], grads: { x: 3 }, value: 0.75 }],
    },
  ],
  min: [
    {
      label: "w * min(x, y) and min of three",
      src: `export function f(x: number, y: number, z: number, w: number): number { return w * Math.min(x, y) + Math.min(z, x, y); }`,
      inputs: (r) => {
        const [x, y] = apart(r);
        return [x, y, Math.min(x, y) + away(r, 0.1, 1), U(r, -2, 2)];
      },
    },
    {
      label: "a tie goes to the first argument",
      src: `export function f(a: number, b: number): number { return Math.min(a, b); }`,
      inputs: (r) => apart(r),
      exact: [
        { args: [0.7, 0.7], grads: { a: 1, b: 0 }, value: 0.7 },
        { args: [2, 1], grads: { a: 0, b: 1 } },
      ],
    },
  ],

  // ---- comparisons and booleans: only in conditions
  lt: [comparison("<")],
  le: [comparison("<=")],
  gt: [comparison(">")],
  ge: [comparison(">=")],
  eq: [comparison("===")],
  ne: [comparison("!==")],
  and: [
    {
      label: "x < y && y < z ? a : b",
      src: `/** @wrt x, y, z, a, b */\nexport function f(x: number, y: number, z: number, a: number, b: number): number { return x < y && y < z ? 3 * a : b * b; }`,
      inputs: (r) => [U(r, -2, 2), U(r, -2, 2), U(r, -2, 2), U(r, -2, 2), U(r, -2, 2)],
      exactZero: ["x", "y", "z"],
      exact: [{ args: [0, 1, 2, 5, 7], grads: { x: 0, y: 0, z: 0, a: 3, b: 0 } }, { args: [0, 1, 0.5, 5, 7], grads: { a: 0, b: 14 } }],
    },
  ],
  or: [
    {
      label: "x < y || y < z ? a : b",
      src: `/** @wrt x, y, z, a, b */\nexport function f(x: number, y: number, z: number, a: number, b: number): number { return x < y || y < z ? 3 * a : b * b; }`,
      inputs: (r) => [U(r, -2, 2), U(r, -2, 2), U(r, -2, 2), U(r, -2, 2), U(r, -2, 2)],
      exactZero: ["x", "y", "z"],
      exact: [{ args: [2, 1, 0, 5, 7], grads: { x: 0, y: 0, z: 0, a: 0, b: 14 } }, { args: [2, 1, 1.5, 5, 7], grads: { a: 3, b: 0 } }],
    },
  ],
  not: [
    {
      label: "!(x < y) ? a : b",
      src: `/** @wrt x, y, a, b */\nexport function f(x: number, y: number, a: number, b: number): number { return !(x < y) ? 3 * a : b * b; }`,
      inputs: (r) => [...apart(r), U(r, -2, 2), U(r, -2, 2)],
      exactZero: ["x", "y"],
      exact: [{ args: [1, 2, 5, 7], grads: { x: 0, y: 0, a: 0, b: 14 } }],
    },
  ],
  const: [
    {
      label: "a constant output: zero gradient",
      src: `/** @wrt x */\nexport function f(x: number): number { return Math.PI * 2; }`,
      inputs: (r) => [U(r, -2, 2)],
      exactZero: ["x"],
      exact: [{ args: [1], grads: { x: 0 }, value: 2 * Math.PI }],
    },
    {
      label: "constants in arithmetic",
      src: `export function f(x: number): number { return 2.5 * x * x - 3 / x + 1; }`,
      inputs: (r) => [away(r, 0.5, 2)],
      plain: ([x]) => 2.5 * num(x) * num(x) - 3 / num(x) + 1,
    },
  ],

  // ---- select: ?: lowers to an if region, so the rule is tested on hand-built IR
  select: [
    {
      label: "IR: select(p > 0.25, a * a, a * b) on numbers",
      params: [["p", []], ["a", []], ["b", []]],
      // (the threshold is not 0: see the note on constant-zero gradients at the end of the file)
      build: (b, [p, a, c]) =>
        b.emit("select", [b.emit("gt", [p!, b.const(0.25)], {}), b.emit("mul", [a!, a!], {}), b.emit("mul", [a!, c!], {})], {}),
      wrt: ["p", "a", "b"],
      inputs: (r) => [0.25 + away(r, 0.1, 2), U(r, -2, 2), U(r, -2, 2)],
      exactZero: ["p"],
      exact: [{ args: [1, 3, 5], grads: { p: 0, a: 6, b: 0 }, value: 9 }, { args: [-1, 3, 5], grads: { p: 0, a: 5, b: 3 }, value: 15 }],
    },
    {
      label: "IR: select(p > 0, x, exp(y)) on tensors",
      params: [["p", []], ["x", [2, 3]], ["y", [2, 3]]],
      build: (b, [p, x, y]) => b.emit("select", [b.emit("gt", [p!, b.const(0)], {}), x!, b.emit("exp", [y!], {})], {}),
      wrt: ["x", "y"],
      inputs: (r) => [away(r, 0.1, 2), T(r, 6), T(r, 6)],
      noGrad: ["p"],
    },
  ],

  // ---- tensors
  checkIndex: [
    {
      label: "E[ids[t]]: an index read from data is checked, and gets no gradient",
      src: `export function f(E: Tensor<[4]>, ids: Tensor<[3]>): number { let s = 0; for (let t = 0; t < 3; t++) { s += E[ids[t]] * E[ids[t]]; } return s; }`,
      inputs: (r) => [T(r, 4), Float64Array.from([3, 0, 3])],
      noGrad: ["ids"],
      exact: [{ args: [Float64Array.from([1, 2, 3, 4]), Float64Array.from([3, 0, 3])], grads: { E: [2, 0, 0, 16] }, value: 33 }],
    },
  ],
  zeros: [
    {
      label: "a tensor filled in a loop from zeros",
      src: `/** @wrt s, x */
export function f(s: number, x: Tensor<[3]>): number {
  const z = zeros([2, 3]);
  for (let j = 0; j < 3; j++) z[1][j] = x[j] * x[j];
  return sum(z) + sum(zeros([4])) * s;
}`,
      inputs: (r) => [U(r, -2, 2), T(r, 3)],
      exactZero: ["s"],
    },
  ],
  broadcast: [
    {
      label: "IR: dot(broadcast(s * s), x)",
      params: [["s", []], ["x", [2, 3]]],
      build: (b, [s, x]) => b.emit("dot", [b.emit("broadcast", [b.emit("mul", [s!, s!], {})], { shape: [2, 3] }), x!], {}),
      inputs: (r) => [U(r, -2, 2), T(r, 6)],
    },
    {
      label: "IR: a broadcast tensor as a tensor-valued result",
      params: [["s", []]],
      build: (b, [s]) => b.emit("broadcast", [b.emit("sin", [s!], {})], { shape: [4] }),
      inputs: (r) => [U(r, -2, 2)],
    },
  ],
  index: [
    {
      label: "element reads in loops and at constant indices",
      src: `export function f(x: Tensor<[2, 3]>, w: Tensor<[3]>): number {
  let s = x[1][2] * w[0];
  for (let i = 0; i < 2; i++) {
    for (let j = 0; j < 3; j++) {
      s += x[i][j] * x[1 - i][2 - j] * w[j];
    }
  }
  return s;
}`,
      inputs: (r) => [T(r, 6), T(r, 3)],
      plain: ([x, w]) => {
        const X = arr(x), W = arr(w);
        let s = X[5]! * W[0]!;
        for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) s += X[i * 3 + j]! * X[(1 - i) * 3 + 2 - j]! * W[j]!;
        return s;
      },
    },
    {
      label: "partial index xs[t] (a row) in a loop",
      src: `export function f(xs: Tensor<[4, 3]>, w: Tensor<[3]>): number {
  let s = 0;
  for (let t = 0; t < 4; t++) {
    const row = xs[t];
    s += dot(row, w) * (t + 1) + sum(mul(row, row));
  }
  return s;
}`,
      inputs: (r) => [T(r, 12), T(r, 3)],
    },
    {
      label: "partial index of a 3-d tensor, returned",
      src: `export function f(x: Tensor<[2, 3, 2]>): Tensor<[3, 2]> { return mul(x[1], x[0]); }`,
      inputs: (r) => [T(r, 12)],
    },
  ],
  store: [
    {
      label: "element writes in loops, tensor result",
      src: `export function f(x: Tensor<[2, 3]>, w: Tensor<[3]>): Tensor<[2, 3]> {
  const y = zeros([2, 3]);
  for (let i = 0; i < 2; i++) {
    for (let j = 0; j < 3; j++) {
      y[i][j] = Math.sin(x[i][j]) * w[j];
    }
  }
  return y;
}`,
      inputs: (r) => [T(r, 6, -2, 2), T(r, 3)],
    },
    {
      label: "an overwritten element loses its old value's gradient",
      src: `export function f(x: Tensor<[2, 3]>): Tensor<[2, 3]> {
  const y = mul(x, x);
  y[1][2] = 3 * x[0][0];
  y[0][1] = y[0][1] * y[1][2];
  return y;
}`,
      inputs: (r) => [T(r, 6, -2, 2)],
      exact: [{
        args: [Float64Array.of(1, 2, 3, 4, 5, 6)],
        cotangent: [1, 1, 1, 1, 1, 1],
        // y = [1, 4*3, 9, 16, 25, 3]: d/dx00 = 2 + 3 * 4 + 3 = 17, d/dx01 = 2*2*3 = 12, x12 only through the overwrite: 0
        grads: { x: [17, 12, 6, 8, 10, 0] },
      }],
    },
    {
      label: "row writes y[i] = tanh(x[i]) (a sub-tensor)",
      src: `export function f(x: Tensor<[2, 3]>): Tensor<[2, 3]> {
  const y = zeros([2, 3]);
  for (let i = 0; i < 2; i++) y[i] = tanh(x[1 - i]);
  return y;
}`,
      inputs: (r) => [T(r, 6, -2, 2)],
    },
  ],
  accum: [
    {
      label: "+= and -= accumulation (a 2-d correlation written as loops)",
      src: `export function f(x: Tensor<[5, 5]>, k: Tensor<[2, 2]>): number {
  const y = zeros([4, 4]);
  for (let i = 0; i < 4; i++) {
    for (let j = 0; j < 4; j++) {
      for (let a = 0; a < 2; a++) {
        for (let b = 0; b < 2; b++) {
          y[i][j] += x[i + a][j + b] * k[a][b];
        }
      }
      y[3 - i][j] -= 0.5 * x[i][j];
    }
  }
  let s = 0;
  for (let i = 0; i < 4; i++) {
    for (let j = 0; j < 4; j++) {
      s += y[i][j] * y[i][j];
    }
  }
  return s;
}`,
      inputs: (r) => [T(r, 25), T(r, 4)],
    },
    {
      label: "accumulating into a parameter-derived tensor, tensor result",
      src: `export function f(x: Tensor<[3]>, s: number): Tensor<[3]> {
  const y = mul(x, s);
  for (let i = 0; i < 3; i++) y[i] += s * x[2 - i];
  y[0] += x[0] * x[1];
  return y;
}`,
      inputs: (r) => [T(r, 3, -2, 2), U(r, -2, 2)],
    },
  ],
  reshape: [
    {
      label: "flatten(x, 1), layout-sensitive",
      src: `export function f(x: Tensor<[2, 3, 4]>, w: Tensor<[2, 12]>): number { return sum(mul(flatten(x, 1), w)); }`,
      inputs: (r) => [T(r, 24), T(r, 24)],
    },
    {
      label: "flatten(x), layout-sensitive",
      src: `export function f(x: Tensor<[2, 3, 4]>, v: Tensor<[24]>): number { return dot(flatten(x), v) * sum(x); }`,
      inputs: (r) => [T(r, 24), T(r, 24)],
    },
    {
      label: "flatten(x, -2) of a 4-d tensor, tensor result",
      src: `export function f(x: Tensor<[2, 2, 2, 3]>): Tensor<[2, 2, 6]> { return mul(flatten(x, -2), 2); }`,
      inputs: (r) => [T(r, 24)],
    },
    {
      label: "flatten then linear (conv features into a dense layer)",
      src: `export function f(x: Tensor<[2, 2, 2]>, w: Tensor<[3, 8]>): Tensor<[3]> { return linear(flatten(x), w); }`,
      inputs: (r) => [T(r, 8), T(r, 24)],
    },
  ],
  sum: [
    {
      label: "sum of a 2-d tensor",
      src: `export function f(x: Tensor<[2, 3]>): number { return sum(mul(x, x)) * sum(x); }`,
      inputs: (r) => [T(r, 6)],
      plain: ([x]) => {
        const X = Array.from(arr(x));
        return X.reduce((p, v) => p + v * v, 0) * X.reduce((p, v) => p + v, 0);
      },
    },
  ],
  mean: [
    {
      label: "mean of exp",
      src: `export function f(x: Tensor<[2, 3]>, s: number): number { return mean(exp(x)) * s; }`,
      inputs: (r) => [T(r, 6), U(r, -2, 2)],
    },
  ],
  dot: [
    {
      label: "dot of two tensors (and of one with itself)",
      src: `export function f(a: Tensor<[2, 3]>, b: Tensor<[2, 3]>): number { return dot(a, b) + dot(a, a) * 0.5; }`,
      inputs: (r) => [T(r, 6), T(r, 6)],
    },
  ],

  // ---- layers
  linear: [
    {
      label: "linear [in] with bias",
      src: `export function f(x: Tensor<[4]>, w: Tensor<[3, 4]>, b: Tensor<[3]>): Tensor<[3]> { return linear(x, w, b); }`,
      inputs: (r) => [T(r, 4), T(r, 12), T(r, 3)],
    },
    {
      label: "linear [in] without bias, scalar loss (plain check)",
      src: `export function f(x: Tensor<[4]>, w: Tensor<[3, 4]>): number { return sum(tanh(linear(x, w))); }`,
      inputs: (r) => [T(r, 4), T(r, 12)],
      plain: ([x, w]) => {
        let s = 0;
        for (let o = 0; o < 3; o++) {
          let y = 0;
          for (let i = 0; i < 4; i++) y += arr(w)[o * 4 + i]! * arr(x)[i]!;
          s += Math.tanh(y);
        }
        return s;
      },
    },
    {
      label: "linear [N, in] with bias",
      src: `export function f(x: Tensor<[2, 4]>, w: Tensor<[3, 4]>, b: Tensor<[3]>): Tensor<[2, 3]> { return linear(x, w, b); }`,
      inputs: (r) => [T(r, 8), T(r, 12), T(r, 3)],
    },
    {
      label: "linear [N, in] without bias",
      src: `export function f(x: Tensor<[3, 4]>, w: Tensor<[2, 4]>): Tensor<[3, 2]> { return linear(x, w); }`,
      inputs: (r) => [T(r, 12), T(r, 8)],
    },
  ],
  linearGradInput: { via: "linear" },
  linearGradWeight: { via: "linear" },
  linearGradBias: { via: "linear" },
  conv2d: [
    {
      label: "conv2d [C, H, W] with bias, stride 2, padding 1",
      src: `export function f(x: Tensor<[2, 5, 5]>, w: Tensor<[3, 2, 3, 3]>, b: Tensor<[3]>): Tensor<[3, 3, 3]> {
  return conv2d(x, w, b, { stride: 2, padding: 1 });
}`,
      inputs: (r) => [T(r, 50), T(r, 54), T(r, 3)],
    },
    {
      label: "conv2d [N, C, H, W] without bias, stride 2, padding 1",
      src: `export function f(x: Tensor<[2, 2, 5, 4]>, w: Tensor<[2, 2, 3, 3]>): Tensor<[2, 2, 3, 2]> {
  return conv2d(x, w, undefined, { stride: 2, padding: 1 });
}`,
      inputs: (r) => [T(r, 80), T(r, 36)],
    },
    {
      label: "conv2d defaults (stride 1, no padding), rectangular kernel, scalar loss",
      src: `export function f(x: Tensor<[1, 4, 5]>, w: Tensor<[2, 1, 2, 3]>, b: Tensor<[2]>): number {
  return sum(sigmoid(conv2d(x, w, b)));
}`,
      inputs: (r) => [T(r, 20), T(r, 12), T(r, 2)],
    },
    {
      label: "conv2d with per-axis stride [1, 2] and padding [0, 1]",
      src: `export function f(x: Tensor<[1, 4, 5]>, w: Tensor<[2, 1, 2, 2]>): Tensor<[2, 3, 3]> {
  return conv2d(x, w, undefined, { stride: [1, 2], padding: [0, 1] });
}`,
      inputs: (r) => [T(r, 20), T(r, 8)],
    },
  ],
  conv2dGradInput: { via: "conv2d" },
  conv2dGradWeight: { via: "conv2d" },
  conv2dGradBias: { via: "conv2d" },
  maxpool2d: [
    {
      label: "maxpool2d overlapping (size 3, stride 2)",
      src: `export function f(x: Tensor<[2, 5, 5]>): Tensor<[2, 2, 2]> { return maxpool2d(x, { size: 3, stride: 2 }); }`,
      inputs: (r) => [T(r, 50)],
    },
    {
      label: "maxpool2d [N, C, H, W] size 2 stride 2",
      src: `export function f(x: Tensor<[2, 1, 4, 4]>): Tensor<[2, 1, 2, 2]> { return maxpool2d(x, { size: 2, stride: 2 }); }`,
      inputs: (r) => [T(r, 32)],
    },
    {
      label: "maxpool2d ties go to the first maximum in row-major order",
      src: `export function f(x: Tensor<[1, 2, 4]>): number { return sum(maxpool2d(x, { size: 2 })); }`,
      inputs: (r) => [T(r, 8)],
      exact: [{ args: [Float64Array.of(1, 1, 0, 2, 1, 1, 2, 1)], grads: { x: [1, 0, 0, 1, 0, 0, 0, 0] }, value: 3 }],
    },
  ],
  maxpool2dGrad: { via: "maxpool2d" },
  avgpool2d: [
    {
      label: "avgpool2d size 2",
      src: `export function f(x: Tensor<[2, 4, 4]>): Tensor<[2, 2, 2]> { return avgpool2d(x, { size: 2 }); }`,
      inputs: (r) => [T(r, 32)],
    },
    {
      label: "avgpool2d overlapping [N, C, H, W] (size 3, stride 1)",
      src: `export function f(x: Tensor<[2, 1, 4, 5]>): Tensor<[2, 1, 2, 3]> { return avgpool2d(x, { size: 3, stride: 1 }); }`,
      inputs: (r) => [T(r, 40)],
    },
  ],
  avgpool2dGrad: { via: "avgpool2d" },
  softmax: [
    {
      label: "softmax [K]",
      src: `export function f(x: Tensor<[5]>): Tensor<[5]> { return softmax(x); }`,
      inputs: (r) => [T(r, 5, -2, 2)],
    },
    {
      label: "softmax [N, K]",
      src: `export function f(x: Tensor<[3, 4]>): Tensor<[3, 4]> { return softmax(x); }`,
      inputs: (r) => [T(r, 12, -2, 2)],
    },
    {
      label: "softmax of large logits is stable (plain check)",
      src: `export function f(x: Tensor<[3]>, w: Tensor<[3]>): number { return dot(softmax(x), w); }`,
      inputs: (r) => [T(r, 3, 999, 1001), T(r, 3)],
      plain: ([x, w]) => {
        const X = arr(x), m = Math.max(...X);
        const e = Array.from(X, (v) => Math.exp(v - m));
        const z = e.reduce((p, v) => p + v, 0);
        return e.reduce((p, v, i) => p + (v / z) * arr(w)[i]!, 0);
      },
    },
  ],
  logSoftmax: [
    {
      label: "logSoftmax [K]",
      src: `export function f(x: Tensor<[5]>): Tensor<[5]> { return logSoftmax(x); }`,
      inputs: (r) => [T(r, 5, -2, 2)],
    },
    {
      label: "logSoftmax [N, K], large logits",
      src: `export function f(x: Tensor<[2, 4]>): Tensor<[2, 4]> { return logSoftmax(x); }`,
      inputs: (r) => [T(r, 8, 998, 1002)],
    },
  ],
  softmaxGrad: { via: "softmax" },
  logSoftmaxGrad: { via: "logSoftmax" },
  crossEntropy: [
    {
      label: "crossEntropy [K] with a label",
      src: `export function f(logits: Tensor<[5]>, label: number): number { return crossEntropy(logits, label); }`,
      inputs: (r) => [T(r, 5, -2, 2), Math.floor(r() * 5)],
      noGrad: ["label"],
      plain: ([z, label]) => {
        const Z = arr(z), m = Math.max(...Z);
        return m + Math.log(Z.reduce((p, v) => p + Math.exp(v - m), 0)) - Z[num(label)]!;
      },
    },
    {
      label: "crossEntropy [N, K] with a labels tensor (mean over the batch)",
      src: `export function f(logits: Tensor<[3, 4]>, labels: Tensor<[3]>): number { return crossEntropy(logits, labels); }`,
      inputs: (r) => [T(r, 12, -2, 2), labels(r, 3, 4)],
      noGrad: ["labels"],
      plain: ([z, ls]) => {
        let s = 0;
        for (let n = 0; n < 3; n++) {
          const row = Array.from(arr(z).subarray(n * 4, n * 4 + 4)), m = Math.max(...row);
          s += m + Math.log(row.reduce((p, v) => p + Math.exp(v - m), 0)) - row[arr(ls)[n]!]!;
        }
        return s / 3;
      },
    },
    {
      label: "crossEntropy of logits near 1000, through a linear layer",
      src: `export function f(x: Tensor<[2, 3]>, w: Tensor<[4, 3]>, b: Tensor<[4]>, labels: Tensor<[2]>): number {
  return crossEntropy(linear(x, w, b), labels);
}`,
      inputs: (r) => [T(r, 6), T(r, 12), T(r, 4, 999, 1001), labels(r, 2, 4)],
      noGrad: ["labels"],
    },
  ],
  crossEntropyGrad: { via: "crossEntropy" },
  reluGrad: { via: "relu" },

  // ---- a helper with its own derivative rules (test/customRules.test.ts shows that a rule
  // differing from the body's derivative is the one used); a rule on two inputs returns a tuple
  custom: [
    {
      label: "@vjp and @jvp rules",
      src: `/** @vjp sVjp
 * @jvp sJvp */
function s(x: number): number { return Math.sin(x); }
function sVjp(x: number, y: number, dy: number): number { return dy * Math.cos(x); }
function sJvp(x: number, y: number, dx: number): number { return Math.cos(x) * dx; }
export function f(x: number, y: number): number { return y * s(x * y); }`,
      inputs: (r) => [U(r, -2, 2), U(r, -2, 2)],
    },
    {
      label: "@vjp rule of two inputs (a tuple), right",
      src: `/** @vjp hVjp */
function h(a: number, b: number): number { return a * Math.exp(b); }
function hVjp(a: number, b: number, y: number, dy: number): [number, number] { return [dy * Math.exp(b), dy * y]; }
export function f(x: number, y: number): number { return h(x, y) * x; }`,
      inputs: (r) => [U(r, -2, 2), U(r, -1, 1)],
    },
  ],

  // a rule of numbers is called as the plain function the module declares for it
  call: { via: "custom" },

  // ---- stacks: a loop's forward pass pushes what its reversed iterations pop
  tape: { via: "for" },
  push: { via: "for" },
  peek: { via: "for" },
  drop: { via: "while" },

  // ---- regions
  if: [
    {
      label: "?: with differentiable branches",
      src: `export function f(x: number, y: number): number { return x > 0 ? x * y : Math.sin(y) * x; }`,
      inputs: (r) => [away(r, 0.1, 2), U(r, -2, 2)],
      plain: ([x, y]) => (num(x) > 0 ? num(x) * num(y) : Math.sin(num(y)) * num(x)),
    },
    {
      label: "if/else statements on tensors inside a loop, through a helper",
      src: `function rulesTestStep(h: Tensor<[3]>, s: number): Tensor<[3]> {
  if (s > 0) {
    return tanh(mul(h, s));
  } else {
    return add(h, s);
  }
}
export function f(x: Tensor<[3]>, ss: Tensor<[4]>): number {
  let h = x;
  let acc = 0;
  for (let t = 0; t < 4; t++) {
    h = rulesTestStep(h, ss[t]);
    if (h[0] > h[1]) {
      acc += h[0] * h[2];
    } else {
      acc -= Math.exp(h[1]);
    }
  }
  return acc + sum(h);
}`,
      inputs: (r) => [T(r, 3), Taway(r, 4, 0.2, 1.5)],
    },
  ],
  while: [
    {
      label: "Newton's method until it converges: a while loop with a data-dependent trip count",
      src: `export function f(a: number, x0: number): number {
  let x = x0;
  let steps = 0;
  while (Math.abs(x * x - a) > 1e-12 && steps < 50) {
    x = 0.5 * (x + a / x);
    steps++;
  }
  return x * x * x;
}`,
      inputs: (r) => [U(r, 0.5, 3), U(r, 0.5, 2)],
      plain: ([a, x0]) => {
        let x = num(x0);
        let steps = 0;
        while (Math.abs(x * x - num(a)) > 1e-12 && steps < 50) {
          x = 0.5 * (x + num(a) / x);
          steps++;
        }
        return x * x * x;
      },
    },
    {
      label: "do-while, break, continue and a return inside a loop",
      src: `function firstAbove(x: Tensor<[6]>, t: number): number {
  for (let i = 0; i < 6; i++) {
    if (x[i] > t) return x[i] * x[i];
  }
  return 0;
}
export function f(x: Tensor<[6]>, t: number): number {
  let s = 0;
  let i = 0;
  do {
    i++;
    if (x[i] < 0) continue;
    s += x[i] * t;
    if (s > 2) break;
  } while (i < 5);
  return s + firstAbove(x, t);
}`,
      inputs: (r) => [T(r, 6), away(r, 0.05, 1)],
      noGrad: [],
    },
  ],
  for: [
    {
      label: "a triangular loop: the inner bound is the outer counter",
      src: `export function f(x: Tensor<[5]>, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) s += x[i] * x[j];
  }
  return s;
}`,
      inputs: (r) => [T(r, 5), 1 + Math.floor(r() * 5)],
      noGrad: ["n"],
    },
    {
      label: "a recurrent cell: state carried through a loop",
      src: `export function f(xs: Tensor<[4, 3]>, h0: Tensor<[3]>, wh: Tensor<[3, 3]>, wx: Tensor<[3, 3]>, b: Tensor<[3]>): Tensor<[3]> {
  let h = h0;
  for (let t = 0; t < 4; t++) {
    h = tanh(add(linear(h, wh, b), linear(xs[t], wx)));
  }
  return h;
}`,
      inputs: (r) => [T(r, 12), T(r, 3), T(r, 9), T(r, 9), T(r, 3)],
    },
    {
      label: "Horner's rule and a Newton iteration: scalars carried through loops",
      src: `export function f(c: Tensor<[5]>, x: number, a: number): number {
  let p = 0;
  for (let i = 4; i >= 0; i--) p = p * x + c[i];
  let s = a;
  for (let k = 0; k < 5; k++) s = 0.5 * (s + a / s);
  return p + s;
}`,
      inputs: (r) => [T(r, 5), U(r, -1.5, 1.5), U(r, 0.5, 3)],
      plain: ([c, x, a]) => {
        let p = 0;
        for (let i = 4; i >= 0; i--) p = p * num(x) + arr(c)[i]!;
        let s = num(a);
        for (let k = 0; k < 5; k++) s = 0.5 * (s + num(a) / s);
        return p + s;
      },
    },
  ],
};

// ---------------------------------------------------------------------------------------
// Compiling the cases

interface Compiled {
  mod: Record<string, any>;
  /** Ops in the simplified primal IR and in the reverse-mode IR of each entry. */
  primalOps: Set<string>;
  gradOps: Set<string>;
}

const caseList: { op: string; index: number; c: Case; name: string }[] = [];
for (const [op, entry] of Object.entries(CASES)) {
  if (!Array.isArray(entry)) continue;
  entry.forEach((c, index) => caseList.push({ op, index, c, name: `${op}_${index}` }));
}
const isIr = (c: Case): c is IrCase => "build" in c;

const HEADER = `import { type Tensor, relu, sigmoid, tanh, exp, log, add, sub, mul, div, linear, conv2d, maxpool2d, avgpool2d, softmax, logSoftmax, crossEntropy, flatten, sum, mean, dot, zeros } from "adgen";\n`;

function opsOf(block: Block, out = new Set<string>()): Set<string> {
  for (const instr of block.instrs) {
    out.add(instr.op);
    if (instr.op === "if") {
      opsOf(instr.then, out);
      opsOf(instr.else, out);
    } else if (instr.op === "for") {
      opsOf(instr.body, out);
    }
  }
  return out;
}

function renameEntry(src: string, name: string): string {
  const renamed = src.replace(/export function f(\(|<)/, `export function ${name}$1`);
  if (renamed === src) throw new Error(`case ${name}: the source must declare export function f(...)`);
  return renamed;
}

async function compileDsl(items: typeof caseList): Promise<Map<string, Compiled>> {
  const source = HEADER + items.map((it) => renameEntry((it.c as DslCase).src, it.name)).join("\n\n") + "\n";
  const r = await compileOrThrow(source, { fileName: "rules.ts" });
  const mod = await importCode<Record<string, any>>(r.code!);
  const out = new Map<string, Compiled>();
  for (const e of r.entries) {
    out.set(e.entry.name, { mod, primalOps: opsOf(e.differentiated.body), gradOps: opsOf(e.grad.body) });
  }
  return out;
}

function buildIr(name: string, c: IrCase): { entry: LoweredEntry; primal: Func; grad: GradFunc; jvp: Func; hvp?: Func } {
  const b = createBuilder(0, loc);
  const params = c.params.map(([n, shape]) => b.value(shape.length ? tensorType(shape) : F64, n));
  const result = c.build(b, params);
  const func: Func = { name, body: makeBlock(params, b.root(), [result]), loc };
  const primal = simplify(func, true, () => {});
  const grad = simplify(reverseMode(primal, c.wrt ?? null), true, () => {});
  const entry: LoweredEntry = {
    name, params: params.map((p) => ({ name: p.name!, type: p.type })), result: result.type, wrt: c.wrt ?? null, func: primal, loc, sites: new Map(),
  };
  const hvp = hvpOf(primal, grad);
  return { entry, primal, grad, jvp: simplify(jvpOf(primal, grad), true, () => {}), ...(hvp ? { hvp: simplify(hvp, true, () => {}) } : {}) };
}

async function compileIr(items: typeof caseList): Promise<Map<string, Compiled>> {
  const entries = items.map((it) => buildIr(it.name, it.c as IrCase));
  const code = emitModule(entries, { fileName: "rules-ir.ts", sourceText: "// hand-built IR", dtype: "float64", version: "test" });
  const mod = await importCode<Record<string, any>>(code);
  return new Map(entries.map((e) => [e.entry.name, { mod, primalOps: opsOf(e.primal.body), gradOps: opsOf(e.grad.body) }]));
}

const compiled = new Map<string, Compiled | Error>();

beforeAll(async () => {
  for (const [kind, compileAll] of [["dsl", compileDsl], ["ir", compileIr]] as const) {
    const items = caseList.filter((it) => (kind === "ir") === isIr(it.c));
    try {
      for (const [k, v] of await compileAll(items)) compiled.set(k, v);
    } catch {
      // find the culprit(s): compile each case on its own
      for (const it of items) {
        try {
          for (const [k, v] of await compileAll([it])) compiled.set(k, v);
        } catch (e) {
          compiled.set(it.name, e as Error);
        }
      }
    }
  }
}, 120_000);

function get(name: string): Compiled {
  const c = compiled.get(name);
  if (c === undefined) throw new Error(`case ${name} was not compiled`);
  if (c instanceof Error) throw new Error(`case ${name} does not compile:\n${c.message}`);
  return c;
}

// ---------------------------------------------------------------------------------------
// Checking a case

const isExactlyZero = (g: number | Float64Array | undefined): boolean =>
  g === undefined || (typeof g === "number" ? g === 0 : g.every((v) => v === 0));

function checkCase(op: string, name: string, c: Case): void {
  const { mod } = get(name);
  const what = `${op}: ${c.label}`;
  const paramNames = Object.keys(mod[`${name}Shapes`]);
  const shapes = mod[`${name}Shapes`] as Record<string, number[]>;
  const outShape = mod[`${name}OutputShape`] as number[];
  const tensorOut = outShape.length > 0;
  const outSize = outShape.reduce((p, d) => p * d, 1);
  const run = (args: Arg[], cot?: Float64Array): { value: number | Float64Array; grads: Grads } =>
    tensorOut ? mod[`${name}Vjp`](...args, cot) : mod[`${name}Grad`](...args);
  const checkArgs = (args: Arg[]): void => {
    expect(args.length, `${what}: number of inputs`).toBe(paramNames.length);
    paramNames.forEach((p, k) => {
      // a size known at run time (reported by name, "N") takes any length
      const symbolic = shapes[p]!.some((d) => typeof d === "string");
      const size = shapes[p]!.reduce((q, d) => q * d, 1);
      if (shapes[p]!.length === 0) expect(typeof args[k], `${what}: input ${p}`).toBe("number");
      else if (!symbolic) expect((args[k] as Float64Array).length, `${what}: input ${p}`).toBe(size);
    });
  };

  const r = rng(0x5eed + name.length * 7919 + name.charCodeAt(0));
  for (let point = 0; point < (c.points ?? 4); point++) {
    const args = c.inputs(r);
    checkArgs(args);
    const cot = tensorOut ? T(r, outSize) : undefined;
    const { value, grads } = run(args, cot);
    // the forward function computes the same value as the gradient's forward pass, to the bit
    expect(mod[name](...args), `${what}: forward value`).toEqual(value);
    if (c.plain) expect(maxRelErr(value as number, c.plain(args)), `${what}: value against plain Math`).toBeLessThanOrEqual(1e-12);
    for (const p of paramNames) {
      if (c.noGrad?.includes(p)) expect(grads[p], `${what}: ${p} gets no gradient`).toBeUndefined();
      else expect(grads[p], `${what}: gradient of ${p}`).toBeDefined();
      const g = grads[p];
      if (g !== undefined) {
        const ok = typeof g === "number" ? Number.isFinite(g) : g.every(Number.isFinite);
        expect(ok, `${what}: gradient of ${p} is finite`).toBe(true);
      }
    }
    for (const p of c.exactZero ?? []) {
      expect(isExactlyZero(grads[p]), `${what}: gradient of ${p} is exactly 0 (got ${grads[p]})`).toBe(true);
    }
    const f = (a: Arg[]): number => {
      const v = mod[name](...a);
      if (!tensorOut) return v as number;
      let s = 0;
      for (let i = 0; i < outSize; i++) s += (v as Float64Array)[i]! * cot![i]!;
      return s;
    };
    const err = directionalCheck(f, args, paramNames.map((p) => grads[p]), { eps: c.eps ?? 1e-6, seed: point + 1, directions: 3 });
    expect(err, `${what}: finite differences at point ${point} (inputs ${JSON.stringify(args.map((a) => (typeof a === "number" ? a : Array.from(a))))})`)
      .toBeLessThanOrEqual(c.tol ?? 1e-6);
    checkForwardModes(mod, name, what, paramNames, args, value, grads, cot, r, c, f);
  }

  for (const [k, ex] of (c.exact ?? []).entries()) {
    checkArgs(ex.args);
    const { value, grads } = run(ex.args, ex.cotangent ? Float64Array.from(ex.cotangent) : undefined);
    if (ex.value !== undefined) expect(value, `${what}: value at exact point ${k}`).toBe(ex.value);
    for (const [p, want] of Object.entries(ex.grads)) {
      const g = grads[p];
      const got = typeof g === "number" ? g : g === undefined ? undefined : Array.from(g);
      // === semantics: -0 and 0 are both zero
      const same = typeof want === "number" ? got === want : Array.isArray(got) && got.length === want.length && got.every((v, i) => v === want[i]);
      expect(same, `${what}: gradient of ${p} at exact point ${k}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`).toBe(true);
    }
  }
}


// ---------------------------------------------------------------------------------------
// Forward mode and second order, on every case: fJvp's tangent against the gradient
// (⟨grad, t⟩, or ⟨cotangent, J t⟩ = ⟨Jᵀ cotangent, t⟩ for a tensor value) and against
// finite differences of the function along t, so every JVP rule runs; fHvp (a number value)
// against centered differences of the gradient along the direction, which runs the JVP
// rules of the adjoint ops too (forward over reverse).

const dotOf = (a: number | Float64Array, b: number | Float64Array): { dot: number; scale: number } => {
  if (typeof a === "number") return { dot: a * (b as number), scale: Math.abs(a * (b as number)) };
  let dot = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * (b as Float64Array)[i]!;
    scale += Math.abs(a[i]! * (b as Float64Array)[i]!);
  }
  return { dot, scale };
};

function checkForwardModes(
  mod: Record<string, any>, name: string, what: string, paramNames: string[], args: Arg[], value: number | Float64Array, grads: Grads,
  cot: Float64Array | undefined, r: Rand, c: Case, f: (a: Arg[]) => number,
): void {
  const wrt = paramNames.filter((p) => grads[p] !== undefined);
  const t: Record<string, number | Float64Array> = {};
  for (const p of wrt) {
    const g = grads[p]!;
    t[p] = typeof g === "number" ? r() * 2 - 1 : Float64Array.from(g, () => r() * 2 - 1);
  }
  const jvp = mod[`${name}Jvp`](...args, t);
  expect(jvp.value, `${what}: fJvp's value`).toEqual(value);
  const lhs = cot ? dotOf(cot, jvp.tangent) : { dot: jvp.tangent as number, scale: 0 };
  let rhs = 0;
  let scale = lhs.scale;
  for (const p of wrt) {
    const d = dotOf(grads[p]!, t[p]!);
    rhs += d.dot;
    scale += d.scale;
  }
  expect(Math.abs(lhs.dot - rhs) / Math.max(1e-12, scale), `${what}: fJvp against the gradient (${lhs.dot} vs ${rhs})`).toBeLessThanOrEqual(1e-9);
  // finite differences of the function along t
  const eps = c.eps ?? 1e-6;
  const along = (sign: number): Arg[] =>
    args.map((a, k) => {
      const d = t[paramNames[k]!];
      if (d === undefined) return a;
      return typeof a === "number" ? a + sign * eps * (d as number) : Float64Array.from(a, (v, i) => v + sign * eps * (d as Float64Array)[i]!);
    });
  const fd = (f(along(1)) - f(along(-1))) / (2 * eps);
  expect(Math.abs(fd - lhs.dot) / Math.max(1e-8, scale, Math.abs(fd)), `${what}: fJvp against finite differences`).toBeLessThanOrEqual(c.tol ?? 1e-6);

  if (cot) return;
  const h = mod[`${name}Hvp`](...args, t);
  expect(h.value, `${what}: fHvp's value`).toEqual(value);
  for (const p of wrt) expect(maxRelErr(h.grads[p], grads[p]!), `${what}: fHvp's gradient of ${p}`).toBeLessThanOrEqual(1e-12);
  // centered differences of the gradient along t, projected on a random vector
  const he = 1e-5;
  const gPlus = mod[`${name}Grad`](...along(he / eps)).grads as Grads;
  const gMinus = mod[`${name}Grad`](...along(-he / eps)).grads as Grads;
  let got = 0;
  let want = 0;
  let hs = 0;
  for (const p of wrt) {
    const w = typeof grads[p] === "number" ? r() * 2 - 1 : Float64Array.from(grads[p] as Float64Array, () => r() * 2 - 1);
    const fdg = typeof grads[p] === "number"
      ? ((gPlus[p] as number) - (gMinus[p] as number)) / (2 * he)
      : Float64Array.from(gPlus[p] as Float64Array, (v, i) => (v - (gMinus[p] as Float64Array)[i]!) / (2 * he));
    const a = dotOf(w, h.hvp[p]);
    const b = dotOf(w, fdg);
    got += a.dot;
    want += b.dot;
    hs += a.scale + b.scale;
  }
  expect(Math.abs(got - want) / Math.max(1e-6, hs), `${what}: fHvp against differences of the gradient (${got} vs ${want})`).toBeLessThanOrEqual(c.hvpTol ?? 1e-5);
}

// ---------------------------------------------------------------------------------------
// The tests: one per key of the derivative table

/** The derivative rule of every op: the op table's, and the region ops reversed structurally. */
const VJP_RULES: Record<OpKind, unknown> = {
  ...Object.fromEntries(Object.entries(OPS).map(([op, def]) => [op, def.vjp])),
  if: "region",
  for: "region",
  while: "region",
} as Record<OpKind, unknown>;

describe("derivative table", () => {
  it("every case is keyed by an op of the table", () => {
    const unknown = Object.keys(CASES).filter((k) => !(k in VJP_RULES));
    expect(unknown, "cases for ops that are not in VJP_RULES").toEqual([]);
  });

  it.each(Object.keys(VJP_RULES))("%s", (op) => {
    const rule = VJP_RULES[op as OpKind];
    const entry = CASES[op];
    if (entry === undefined) throw new Error(`no gradient test for op ${op}: add a case to CASES in test/rules.test.ts`);

    if (rule === "adjointOnly") {
      if (Array.isArray(entry)) throw new Error(`${op} is adjoint-only: its entry must be { via: <forward op> }`);
      const via = CASES[entry.via];
      expect(["function", "region"], `${op} via ${entry.via}: the forward op has a rule`).toContain(
        VJP_RULES[entry.via] === "region" ? "region" : typeof VJP_RULES[entry.via]);
      if (!Array.isArray(via) || via.length === 0) throw new Error(`no gradient test for op ${entry.via} (needed by ${op})`);
      const emitted = via.some((_, i) => get(`${entry.via}_${i}`).gradOps.has(op));
      expect(emitted, `no case of ${entry.via} has ${op} in its reverse-mode IR`).toBe(true);
      return;
    }

    if (!Array.isArray(entry) || entry.length === 0) throw new Error(`no gradient test for op ${op}`);
    const exercised = entry.some((_, i) => get(`${op}_${i}`).primalOps.has(op));
    expect(exercised, `no case of ${op} has ${op} in its primal IR: the rule is not exercised`).toBe(true);
    entry.forEach((c, i) => checkCase(op, `${op}_${i}`, c));
  });
});
