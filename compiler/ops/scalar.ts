// Scalar math: the Math functions, arithmetic, comparisons and booleans. Each derivative is
// one formula (compiler/ad/formula.ts) in the rule's variables: x (the argument), or a and
// b (the arguments), y (the result), dy (the result's adjoint). The comment above each op
// gives its convention at the special points (0, ±0, ±1, ±Infinity, NaN, equal arguments),
// checked against PyTorch (float64) by test/specialPoints.test.ts.

import { formula } from "../ad/formula.js";
import { BOOL, F64, SimpleOp, Type, showType } from "../ir/types.js";
import { reluGrad as reluGradKernel } from "../codegen/kernels/relu.js";
import { tab, tx } from "./jvp.js";
import { OpDef, VjpRule } from "./op.js";
import { arity, elementwiseType, scalarBinaryType, unaryType } from "./shapes.js";

/** dx = f(x, y, dy) for a one-argument op. */
export function dx<K extends SimpleOp>(text: string): VjpRule<K> {
  const f = formula(text);
  return (i, dy, ctx) => ctx.add(0, f.emit(ctx.b, { x: i.args[0]!, y: i.result, dy }));
}

/** (da, db) = (f(a, b, y, dy), g(a, b, y, dy)) for a two-argument op. */
export function dab<K extends SimpleOp>(da: string, db: string): VjpRule<K> {
  const fa = formula(da);
  const fb = formula(db);
  return (i, dy, ctx) => {
    const vars = { a: i.args[0]!, b: i.args[1]!, y: i.result, dy };
    ctx.add(0, fa.emit(ctx.b, vars));
    ctx.add(1, fb.emit(ctx.b, vars));
  };
}

type Unary =
  | "neg" | "exp" | "log" | "sin" | "cos" | "tan" | "tanh" | "sqrt" | "abs" | "asin" | "acos" | "atan" | "sinh"
  | "cosh" | "asinh" | "acosh" | "atanh" | "log1p" | "expm1" | "log2" | "log10" | "cbrt" | "sign" | "floor"
  | "ceil" | "round" | "trunc" | "sigmoid" | "relu";

/**
 * A Math function of one number: Math.<name>(x), elementwise on tensors; `d` is its
 * derivative rule `dx = d(x, y, dy)` (also its JVP, with the tangent for dy), or "nondiff".
 */
function math<K extends Unary>(name: K, d: string, tensors = true): OpDef<K> {
  const f = (Math as unknown as Record<string, (x: number) => number>)[name]!;
  return {
    doc: `Math.${name}(x)`, family: "unary", type: unaryType(name, tensors),
    vjp: d === "nondiff" ? "nondiff" : dx<K>(d), jvp: d === "nondiff" ? "nondiff" : tx<K>(d),
    emit: { js: ([x]) => `Math.${name}(${x})` }, eval: f, math: name,
    ...(COSTLY.has(name) ? { costly: true as const } : {}),
  };
}

/** The Math functions that a reversed loop reads from a tape rather than calling again (OpDef.costly). */
const COSTLY: ReadonlySet<string> = new Set([
  "exp", "log", "sin", "cos", "tan", "tanh", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh",
  "log1p", "expm1", "log2", "log10", "cbrt", "atan2", "hypot",
]);

export const UNARY: { readonly [K in Unary]: OpDef<K> } = {
  neg: {
    doc: "-x", family: "unary", type: unaryType("neg"), eval: (x) => -x,
    emit: { js: ([x]) => `-${x}` },
    vjp: dx("-dy"), jvp: tx("-dy"),
  },
  // exp'(x) = y: Infinity at +Infinity, 0 at -Infinity
  exp: math("exp", "dy * y"),
  // log'(x) = 1 / x: ±Infinity at ±0; -0 at -Infinity; -1 at x = -1 (where log is NaN), as PyTorch
  log: math("log", "dy / x"),
  sin: math("sin", "dy * cos(x)"),
  cos: math("cos", "-(dy * sin(x))"),
  tan: math("tan", "dy * (1 + y*y)"),
  // tanh'(x) = 1 - y²: 0 at ±Infinity
  tanh: math("tanh", "dy * (1 - y*y)"),
  // sqrt'(x) = 1 / (2 y): Infinity at 0, -Infinity at -0, NaN below 0
  sqrt: math("sqrt", "dy / (2 * y)"),
  // abs'(x) = sign(x), with abs'(±0) = 0 and abs'(NaN) = 0 (as PyTorch)
  abs: math("abs", "select(x > 0, dy, select(x < 0, -dy, 0))", false),
  // asin'(x) = 1 / sqrt(1 - x²): Infinity at ±1, NaN outside [-1, 1]
  asin: math("asin", "dy / sqrt(1 - x*x)"),
  // acos'(x) = -1 / sqrt(1 - x²): -Infinity at ±1
  acos: math("acos", "-(dy / sqrt(1 - x*x))"),
  // atan'(x) = 1 / (1 + x²): 0 at ±Infinity
  atan: math("atan", "dy / (1 + x*x)"),
  sinh: math("sinh", "dy * cosh(x)"),
  cosh: math("cosh", "dy * sinh(x)"),
  // asinh'(x) = 1 / sqrt(x² + 1): 0 at ±Infinity
  asinh: math("asinh", "dy / sqrt(x*x + 1)"),
  // acosh'(x) = 1 / sqrt(x² - 1): Infinity at ±1, 0 at ±Infinity, NaN inside (-1, 1)
  acosh: math("acosh", "dy / sqrt(x*x - 1)"),
  // atanh'(x) = 1 / (1 - x²): Infinity at ±1, finite (negative) outside [-1, 1], as PyTorch
  atanh: math("atanh", "dy / (1 - x*x)"),
  // log1p'(x) = 1 / (1 + x): Infinity at -1
  log1p: math("log1p", "dy / (1 + x)"),
  // expm1'(x) = y + 1: 0 at -Infinity
  expm1: math("expm1", "dy * (y + 1)"),
  log2: math("log2", "dy / (x * ln2)"),
  log10: math("log10", "dy / (x * ln10)"),
  // cbrt'(x) = 1 / (3 y²): Infinity at ±0
  cbrt: math("cbrt", "dy / (3 * (y * y))"),
  // piecewise constant: zero derivative everywhere, at the jumps too (as PyTorch)
  sign: math("sign", "nondiff"),
  floor: math("floor", "nondiff"),
  ceil: math("ceil", "nondiff"),
  round: math("round", "nondiff"),
  trunc: math("trunc", "nondiff"),
  // sigmoid'(x) = y (1 - y): 0 at ±Infinity. Computed without overflow for large |x|.
  sigmoid: {
    doc: "1 / (1 + exp(-x))", family: "unary", type: unaryType("sigmoid"), name: "sig",
    eval: (x) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x))),
    emit: { js: ([x]) => `${x} >= 0 ? 1 / (1 + Math.exp(-${x})) : Math.exp(${x}) / (1 + Math.exp(${x}))`, twice: true },
    vjp: dx("dy * (y * (1 - y))"), jvp: tx("dy * (y * (1 - y))"), costly: true,
  },
  // relu'(x) = 1 where x > 0, else 0: relu'(0) = 0, and relu'(NaN) = 1 (as PyTorch's
  // threshold_backward, which zeroes the gradient where x <= 0)
  relu: {
    doc: "max(x, 0), NaN for NaN", family: "unary", type: unaryType("relu"), name: "act",
    eval: (x) => (x > 0 ? x : x !== x ? x : 0),
    emit: { js: ([x]) => `${x} > 0 ? ${x} : ${x} !== ${x} ? ${x} : 0`, twice: true },
    vjp: (i, dy, ctx) => ctx.add(0, ctx.b.emit("reluGrad", [i.args[0]!, dy], {})),
    jvp: (i, t, ctx) => (t[0] ? ctx.b.emit("reluGrad", [i.args[0]!, t[0]], {}) : undefined),
  },
};

type Binary = "add" | "sub" | "mul" | "div" | "pow" | "atan2" | "hypot" | "max" | "min" | "mod";

/** (da, db): the derivative rule of a two-argument op, `(da, db) = (fa, fb)(a, b, y, dy)`; also its JVP. */
type Rule2 = readonly [da: string, db: string];

function arith<K extends "add" | "sub" | "mul" | "div">(k: K, sym: string, eval_: (a: number, b: number) => number, [da, db]: Rule2): OpDef<K> {
  return {
    doc: `a ${sym} b`, family: "binary", type: elementwiseType(k), vjp: dab<K>(da, db), jvp: tab<K>(da, db), eval: eval_,
    emit: { js: ([a, b]) => `${a} ${sym} ${b}` },
  };
}

function scalar2<K extends Binary>(k: K, doc: string, js: (a: string, b: string) => string, eval_: (a: number, b: number) => number, [da, db]: Rule2): OpDef<K> {
  return {
    doc, family: "scalarBinary", type: scalarBinaryType(k), vjp: dab<K>(da, db), jvp: tab<K>(da, db), eval: eval_,
    emit: { js: ([a, b]) => js(a!, b!) }, math: k,
    ...(COSTLY.has(k) ? { costly: true as const } : {}),
  };
}

export const BINARY: { readonly [K in Binary]: OpDef<K> } = {
  add: arith("add", "+", (a, b) => a + b, ["dy", "dy"]),
  sub: arith("sub", "-", (a, b) => a - b, ["dy", "-dy"]),
  mul: arith("mul", "*", (a, b) => a * b, ["dy * b", "dy * a"]),
  // d(a / b) = (1 / b, -y / b): at b = 0, ±Infinity and NaN (0 / 0), as PyTorch
  div: arith("div", "/", (a, b) => a / b, ["dy / b", "-(dy * y / b)"]),
  // d(a ** b) = (b a^(b-1), y log a), as PyTorch: the base's derivative is 0 where b = 0
  // (so d/dx x ** 0 = 0 at x = 0, not 0 * Infinity), the exponent's is 0 where a = 0 and
  // b >= 0; log a is NaN for a < 0. JavaScript's 1 ** NaN and 1 ** ±Infinity are NaN (C's
  // pow gives 1), and so are their derivatives.
  pow: scalar2("pow", "a ** b", (a, b) => `${a} ** ${b}`, (a, b) => a ** b,
    ["select(b == 0, 0, dy * (b * a ** (b - 1)))", "select(a == 0 && b >= 0, 0, dy * (y * log(a)))"]),
  // d atan2(a, b) = (b, -a) / (a² + b²): NaN at (0, 0), as PyTorch
  atan2: scalar2("atan2", "atan2(a, b)", (a, b) => `Math.atan2(${a}, ${b})`, Math.atan2,
    ["dy * b / (a*a + b*b)", "-(dy * a / (a*a + b*b))"]),
  // d hypot(a, b) = (a, b) / y: NaN at (0, 0), as PyTorch
  hypot: scalar2("hypot", "hypot(a, b)", (a, b) => `Math.hypot(${a}, ${b})`, Math.hypot,
    ["dy * a / y", "dy * b / y"]),
  // d max(a, b) goes to the larger argument; a tie goes to the first (PyTorch splits it);
  // with a NaN argument (the result is NaN) both get it, as PyTorch
  max: scalar2("max", "max(a, b)", (a, b) => `Math.max(${a}, ${b})`, Math.max,
    ["select(a < b, 0, dy)", "select(a >= b, 0, dy)"]),
  // a % b = a - b trunc(a / b) (JavaScript's remainder: the sign of a), so d(a % b) =
  // (1, -trunc(a / b)) between the jumps at multiples of b, as PyTorch's fmod; at b = 0
  // the result is NaN and so is the second derivative (trunc(±Infinity) times dy)
  mod: {
    doc: "a % b", family: "scalarBinary", type: scalarBinaryType("mod"), eval: (a, b) => a % b,
    emit: { js: ([a, b]) => `${a} % ${b}` }, vjp: dab("dy", "-(dy * trunc(a / b))"), jvp: tab("dy", "-(dy * trunc(a / b))"),
  },
  // d min(a, b) goes to the smaller argument; a tie goes to the first; NaN: both
  min: scalar2("min", "min(a, b)", (a, b) => `Math.min(${a}, ${b})`, Math.min,
    ["select(a > b, 0, dy)", "select(a <= b, 0, dy)"]),
};

type Compare = "lt" | "le" | "gt" | "ge" | "eq" | "ne";

function compare<K extends Compare>(k: K, sym: string, eval_: (a: number, b: number) => boolean): OpDef<K> {
  return {
    doc: `a ${sym} b`, family: "compare", vjp: "nondiff", jvp: "nondiff", eval: eval_,
    type: (args) => {
      const e = arity(k, args, 2);
      if (e) return e;
      const [a, b] = args as [Type, Type];
      if (a.kind !== "f64" || b.kind !== "f64") return `comparisons take two numbers, got ${showType(a)} and ${showType(b)}`;
      return BOOL;
    },
    emit: { js: ([a, b]) => `${a} ${sym} ${b}` },
  };
}

export const COMPARE: { readonly [K in Compare]: OpDef<K> } = {
  lt: compare("lt", "<", (a, b) => a < b),
  le: compare("le", "<=", (a, b) => a <= b),
  gt: compare("gt", ">", (a, b) => a > b),
  ge: compare("ge", ">=", (a, b) => a >= b),
  eq: compare("eq", "===", (a, b) => a === b),
  ne: compare("ne", "!==", (a, b) => a !== b),
};

const bools = (k: string, n: number) => (args: readonly Type[]): Type | string =>
  arity(k, args, n) ?? (args.every((a) => a.kind === "bool") ? BOOL : `${k} takes ${n === 1 ? "a boolean" : "two booleans"}`);

export const LOGIC: {
  readonly and: OpDef<"and">;
  readonly or: OpDef<"or">;
  readonly not: OpDef<"not">;
  readonly const: OpDef<"const">;
  readonly select: OpDef<"select">;
} = {
  and: { jvp: "nondiff", doc: "a && b", family: "logic", type: bools("and", 2), vjp: "nondiff", emit: { js: ([a, b]) => `${a} && ${b}` } },
  or: { jvp: "nondiff", doc: "a || b", family: "logic", type: bools("or", 2), vjp: "nondiff", emit: { js: ([a, b]) => `${a} || ${b}` } },
  not: { jvp: "nondiff", doc: "!a", family: "logic", type: bools("not", 1), vjp: "nondiff", emit: { js: ([a]) => `!${a}` } },
  const: { jvp: "nondiff", doc: "a number", family: "structural", type: (args) => arity("const", args, 0) ?? F64, vjp: "nondiff", emit: "structural" },
  // select(c, a, b) evaluates both sides: only for cheap, safe values (rules use it)
  // d select(c, a, b) = (dy where c, dy where not c)
  select: {
    doc: "c ? a : b", family: "structural", emit: { js: ([c, a, b]) => `${c} ? ${a} : ${b}` },
    type: (args) => {
      const e = arity("select", args, 3);
      if (e) return e;
      const [c, a, b] = args as [Type, Type, Type];
      if (c.kind !== "bool") return "select: the condition must be a boolean";
      if (a.kind !== b.kind || (a.kind === "tensor" && b.kind === "tensor" && a.shape.join() !== b.shape.join())) {
        return "select: the branches have different types";
      }
      return a;
    },
    vjp: (i, dy, ctx) => {
      const zero = (): ReturnType<typeof ctx.b.const> =>
        dy.type.kind === "tensor" ? ctx.b.emit("zeros", [], { shape: dy.type.shape }) : ctx.b.const(0);
      ctx.add(1, ctx.b.emit("select", [i.args[0]!, dy, zero()], {}));
      ctx.add(2, ctx.b.emit("select", [i.args[0]!, zero(), dy], {}));
    },
    // the tangent of the side taken
    jvp: (i, t, ctx) => (t[1] || t[2] ? ctx.b.emit("select", [i.args[0]!, t[1] ?? ctx.zero(i.args[1]!), t[2] ?? ctx.zero(i.args[2]!)], {}) : undefined),
  },
};

// reluGrad(x, dy) = dy where x > 0, else 0 (dy also where x is NaN: see relu)
export const RELU_GRAD: OpDef<"reluGrad"> = {
  doc: "the adjoint of relu: dy where x > 0, else 0", family: "layer", name: "dact", vjp: "adjointOnly",
  jvp: (i, t, ctx) => (t[1] ? ctx.b.emit("reluGrad", [i.args[0]!, t[1]], {}) : undefined),
  emit: { kernel: reluGradKernel, params: ["x", "dy"], js: ([x, dy]) => `${x} <= 0 ? 0 : ${dy}` },
  type: (args) => {
    const e = arity("reluGrad", args, 2);
    if (e) return e;
    const [x, dy] = args as [Type, Type];
    if (x.kind === "bool" || dy.kind === "bool") return "reluGrad takes numbers or tensors";
    return x.kind === dy.kind && (x.kind !== "tensor" || showType(x) === showType(dy)) ? dy : "reluGrad: x and dy have different types";
  },
};
