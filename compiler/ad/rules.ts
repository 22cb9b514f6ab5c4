// The derivative table: one vector-Jacobian product rule per op, keyed by op kind, so that a
// missing or duplicated op fails type-checking. Each rule reads the primal values it needs
// from the instruction (its arguments and result, as the backward pass sees them: forward
// values at the top level, recomputed values inside a reversed region) and adds a
// contribution to the adjoint of each differentiable argument. The comment on each rule is
// its math, with dy the adjoint of the result y.
//
// "nondiff": the op has zero derivative (comparisons, rounding, constants).
// "adjointOnly": the op appears only in backward code (second derivatives are not offered).
// "region": if/for, reversed structurally by reverseMode.ts.

import { Builder } from "../ir/builder.js";
import { AttrsOf, OpKind, SimpleInstr, SimpleOp, Value } from "../ir/types.js";

export interface VjpContext {
  readonly b: Builder;
  /** Adds `g` to the adjoint of argument `i` (summed down to a number if the argument is one). */
  add(i: number, g: Value): void;
  /** Adds `g` into the adjoint of argument `i` at indices `idx` (x[idx] += g). */
  addAt(i: number, idx: readonly Value[], g: Value): void;
}

export type VjpRule<K extends SimpleOp> = (instr: SimpleInstr<K>, dy: Value, ctx: VjpContext) => void;

type Table = {
  readonly [K in OpKind]: K extends SimpleOp ? VjpRule<K> | "nondiff" | "adjointOnly" : "region";
};

// small builders for rule bodies
const op = <K extends SimpleOp>(b: Builder, k: K, args: readonly Value[], attrs: AttrsOf<K>): Value => b.emit(k, args, attrs);
const mul = (b: Builder, x: Value, y: Value): Value => op(b, "mul", [x, y], {});
const div = (b: Builder, x: Value, y: Value): Value => op(b, "div", [x, y], {});
const add = (b: Builder, x: Value, y: Value): Value => op(b, "add", [x, y], {});
const sub = (b: Builder, x: Value, y: Value): Value => op(b, "sub", [x, y], {});
const neg = (b: Builder, x: Value): Value => op(b, "neg", [x], {});
const un = (b: Builder, k: SimpleOp, x: Value): Value => op(b, k, [x], {} as never);
const c = (b: Builder, v: number): Value => b.const(v);
const zeroLike = (b: Builder, v: Value): Value =>
  v.type.kind === "tensor" ? op(b, "zeros", [], { shape: v.type.shape }) : b.const(0);
const sel = (b: Builder, cond: Value, x: Value, y: Value): Value => op(b, "select", [cond, x, y], {});

/** A unary rule dx = dy * f(x, y). */
function unary(f: (b: Builder, x: Value, y: Value) => Value): VjpRule<SimpleOp> {
  return (i, dy, ctx) => ctx.add(0, mul(ctx.b, dy, f(ctx.b, i.args[0]!, i.result)));
}

export const VJP_RULES: Table = {
  // d(-x) = -dy
  neg: (_i, dy, ctx) => ctx.add(0, neg(ctx.b, dy)),
  // d exp(x) = dy * y
  exp: unary((_b, _x, y) => y),
  // d log(x) = dy / x
  log: (i, dy, ctx) => ctx.add(0, div(ctx.b, dy, i.args[0]!)),
  // d sin(x) = dy * cos(x)
  sin: unary((b, x) => un(b, "cos", x)),
  // d cos(x) = -dy * sin(x)
  cos: (i, dy, ctx) => ctx.add(0, neg(ctx.b, mul(ctx.b, dy, un(ctx.b, "sin", i.args[0]!)))),
  // d tan(x) = dy * (1 + y^2)
  tan: unary((b, _x, y) => add(b, c(b, 1), mul(b, y, y))),
  // d tanh(x) = dy * (1 - y^2)
  tanh: unary((b, _x, y) => sub(b, c(b, 1), mul(b, y, y))),
  // d sqrt(x) = dy / (2 y)
  sqrt: (i, dy, ctx) => ctx.add(0, div(ctx.b, dy, mul(ctx.b, c(ctx.b, 2), i.result))),
  // d |x| = dy * sign(x)   (abs'(0) = 0)
  abs: unary((b, x) => un(b, "sign", x)),
  // d asin(x) = dy / sqrt(1 - x^2)
  asin: (i, dy, ctx) => ctx.add(0, div(ctx.b, dy, un(ctx.b, "sqrt", sub(ctx.b, c(ctx.b, 1), mul(ctx.b, i.args[0]!, i.args[0]!))))),
  // d acos(x) = -dy / sqrt(1 - x^2)
  acos: (i, dy, ctx) =>
    ctx.add(0, neg(ctx.b, div(ctx.b, dy, un(ctx.b, "sqrt", sub(ctx.b, c(ctx.b, 1), mul(ctx.b, i.args[0]!, i.args[0]!)))))),
  // d atan(x) = dy / (1 + x^2)
  atan: (i, dy, ctx) => ctx.add(0, div(ctx.b, dy, add(ctx.b, c(ctx.b, 1), mul(ctx.b, i.args[0]!, i.args[0]!)))),
  // d sinh(x) = dy * cosh(x)
  sinh: unary((b, x) => un(b, "cosh", x)),
  // d cosh(x) = dy * sinh(x)
  cosh: unary((b, x) => un(b, "sinh", x)),
  // d asinh(x) = dy / sqrt(x^2 + 1)
  asinh: (i, dy, ctx) => ctx.add(0, div(ctx.b, dy, un(ctx.b, "sqrt", add(ctx.b, mul(ctx.b, i.args[0]!, i.args[0]!), c(ctx.b, 1))))),
  // d acosh(x) = dy / sqrt(x^2 - 1)
  acosh: (i, dy, ctx) => ctx.add(0, div(ctx.b, dy, un(ctx.b, "sqrt", sub(ctx.b, mul(ctx.b, i.args[0]!, i.args[0]!), c(ctx.b, 1))))),
  // d atanh(x) = dy / (1 - x^2)
  atanh: (i, dy, ctx) => ctx.add(0, div(ctx.b, dy, sub(ctx.b, c(ctx.b, 1), mul(ctx.b, i.args[0]!, i.args[0]!)))),
  // d log1p(x) = dy / (1 + x)
  log1p: (i, dy, ctx) => ctx.add(0, div(ctx.b, dy, add(ctx.b, c(ctx.b, 1), i.args[0]!))),
  // d expm1(x) = dy * (y + 1)
  expm1: unary((b, _x, y) => add(b, y, c(b, 1))),
  // d log2(x) = dy / (x ln 2)
  log2: (i, dy, ctx) => ctx.add(0, div(ctx.b, dy, mul(ctx.b, i.args[0]!, c(ctx.b, Math.LN2)))),
  // d log10(x) = dy / (x ln 10)
  log10: (i, dy, ctx) => ctx.add(0, div(ctx.b, dy, mul(ctx.b, i.args[0]!, c(ctx.b, Math.LN10)))),
  // d cbrt(x) = dy / (3 y^2)
  cbrt: (i, dy, ctx) => ctx.add(0, div(ctx.b, dy, mul(ctx.b, c(ctx.b, 3), mul(ctx.b, i.result, i.result)))),
  // piecewise constant: zero derivative (as PyTorch)
  sign: "nondiff",
  floor: "nondiff",
  ceil: "nondiff",
  round: "nondiff",
  trunc: "nondiff",
  // d sigmoid(x) = dy * y * (1 - y)
  sigmoid: unary((b, _x, y) => mul(b, y, sub(b, c(b, 1), y))),
  // d relu(x) = dy where x > 0, else 0   (relu'(0) = 0)
  relu: (i, dy, ctx) => ctx.add(0, op(ctx.b, "reluGrad", [i.args[0]!, dy], {})),

  // d(a + b) = (dy, dy)
  add: (_i, dy, ctx) => {
    ctx.add(0, dy);
    ctx.add(1, dy);
  },
  // d(a - b) = (dy, -dy)
  sub: (_i, dy, ctx) => {
    ctx.add(0, dy);
    ctx.add(1, neg(ctx.b, dy));
  },
  // d(a b) = (dy b, dy a)
  mul: (i, dy, ctx) => {
    ctx.add(0, mul(ctx.b, dy, i.args[1]!));
    ctx.add(1, mul(ctx.b, dy, i.args[0]!));
  },
  // d(a / b) = (dy / b, -dy y / b)
  div: (i, dy, ctx) => {
    ctx.add(0, div(ctx.b, dy, i.args[1]!));
    ctx.add(1, neg(ctx.b, div(ctx.b, mul(ctx.b, dy, i.result), i.args[1]!)));
  },
  // d(a^b) = (dy b a^(b-1), dy y log(a)); the second is 0 where a = 0 and b >= 0 (as PyTorch)
  pow: (i, dy, ctx) => {
    const { b } = ctx;
    const [x, e] = i.args as [Value, Value];
    ctx.add(0, mul(b, dy, mul(b, e, op(b, "pow", [x, sub(b, e, c(b, 1))], {}))));
    const g = mul(b, dy, mul(b, i.result, un(b, "log", x)));
    if (x.type.kind === "f64" && e.type.kind === "f64") {
      const zeroBase = op(b, "and", [op(b, "eq", [x, c(b, 0)], {}), op(b, "ge", [e, c(b, 0)], {})], {});
      ctx.add(1, sel(b, zeroBase, c(b, 0), g));
    } else {
      ctx.add(1, g);
    }
  },
  // d atan2(a, b) = (dy b / (a^2 + b^2), -dy a / (a^2 + b^2))
  atan2: (i, dy, ctx) => {
    const { b } = ctx;
    const [y, x] = i.args as [Value, Value];
    const r2 = add(b, mul(b, y, y), mul(b, x, x));
    ctx.add(0, div(b, mul(b, dy, x), r2));
    ctx.add(1, neg(b, div(b, mul(b, dy, y), r2)));
  },
  // d hypot(a, b) = (dy a / y, dy b / y)
  hypot: (i, dy, ctx) => {
    ctx.add(0, div(ctx.b, mul(ctx.b, dy, i.args[0]!), i.result));
    ctx.add(1, div(ctx.b, mul(ctx.b, dy, i.args[1]!), i.result));
  },
  // d max(a, b) = dy to a where a >= b, else to b (a tie goes to the first argument)
  max: (i, dy, ctx) => {
    const first = op(ctx.b, "ge", [i.args[0]!, i.args[1]!], {});
    ctx.add(0, sel(ctx.b, first, dy, c(ctx.b, 0)));
    ctx.add(1, sel(ctx.b, first, c(ctx.b, 0), dy));
  },
  // d min(a, b) = dy to a where a <= b, else to b (a tie goes to the first argument)
  min: (i, dy, ctx) => {
    const first = op(ctx.b, "le", [i.args[0]!, i.args[1]!], {});
    ctx.add(0, sel(ctx.b, first, dy, c(ctx.b, 0)));
    ctx.add(1, sel(ctx.b, first, c(ctx.b, 0), dy));
  },
  lt: "nondiff",
  le: "nondiff",
  gt: "nondiff",
  ge: "nondiff",
  eq: "nondiff",
  ne: "nondiff",
  const: "nondiff",
  and: "nondiff",
  or: "nondiff",
  not: "nondiff",
  // d select(c, a, b) = (dy where c, dy where not c)
  select: (i, dy, ctx) => {
    ctx.add(1, sel(ctx.b, i.args[0]!, dy, zeroLike(ctx.b, dy)));
    ctx.add(2, sel(ctx.b, i.args[0]!, zeroLike(ctx.b, dy), dy));
  },
  zeros: "nondiff",
  // d broadcast(s) = sum(dy)
  broadcast: (_i, dy, ctx) => ctx.add(0, op(ctx.b, "sum", [dy], {})),
  // d x[idx] = dx[idx] += dy   (indices have no derivative)
  index: (i, dy, ctx) => ctx.addAt(0, i.args.slice(1), dy),
  // d store(x, idx, v) = (dy with dy[idx] = 0, dy[idx])
  store: (i, dy, ctx) => {
    const idx = i.args.slice(1, -1);
    const v = i.args[i.args.length - 1]!;
    ctx.add(i.args.length - 1, op(ctx.b, "index", [dy, ...idx], {}));
    ctx.add(0, op(ctx.b, "store", [dy, ...idx, zeroLike(ctx.b, v)], {}));
  },
  // d accum(x, idx, v) = (dy, dy[idx])
  accum: (i, dy, ctx) => {
    ctx.add(i.args.length - 1, op(ctx.b, "index", [dy, ...i.args.slice(1, -1)], {}));
    ctx.add(0, dy);
  },
  // d reshape(x) = reshape(dy) back to x's shape
  reshape: (i, dy, ctx) => {
    const x = i.args[0]!;
    ctx.add(0, op(ctx.b, "reshape", [dy], { shape: x.type.kind === "tensor" ? x.type.shape : [] }));
  },
  // d sum(x) = broadcast(dy)
  sum: (i, dy, ctx) => {
    const t = i.args[0]!.type;
    ctx.add(0, op(ctx.b, "broadcast", [dy], { shape: t.kind === "tensor" ? t.shape : [] }));
  },
  // d mean(x) = broadcast(dy / n)
  mean: (i, dy, ctx) => {
    const t = i.args[0]!.type;
    const shape = t.kind === "tensor" ? t.shape : [];
    const n = shape.reduce((p, d) => p * d, 1);
    ctx.add(0, op(ctx.b, "broadcast", [div(ctx.b, dy, c(ctx.b, n))], { shape }));
  },
  // d dot(a, b) = (dy b, dy a)
  dot: (i, dy, ctx) => {
    ctx.add(0, mul(ctx.b, i.args[1]!, dy));
    ctx.add(1, mul(ctx.b, i.args[0]!, dy));
  },
  // d linear(x, w, b) = (dy W, dyᵀ x summed over the batch, dy summed over the batch)
  linear: (i, dy, ctx) => {
    ctx.add(0, op(ctx.b, "linearGradInput", [dy, i.args[1]!], {}));
    ctx.add(1, op(ctx.b, "linearGradWeight", [dy, i.args[0]!], {}));
    if (i.args.length > 2) ctx.add(2, op(ctx.b, "linearGradBias", [dy], {}));
  },
  linearGradInput: "adjointOnly",
  linearGradWeight: "adjointOnly",
  linearGradBias: "adjointOnly",
  // d conv2d(x, w, b) = (transposed conv of dy with w, correlation of x with dy, dy summed)
  conv2d: (i, dy, ctx) => {
    const [x, w] = i.args as [Value, Value];
    const shapeOf = (v: Value): readonly number[] => (v.type.kind === "tensor" ? v.type.shape : []);
    const { stride, padding } = i.attrs;
    ctx.add(0, op(ctx.b, "conv2dGradInput", [dy, w], { stride, padding, inputShape: shapeOf(x) }));
    ctx.add(1, op(ctx.b, "conv2dGradWeight", [dy, x], { stride, padding, weightShape: shapeOf(w) }));
    if (i.args.length > 2) ctx.add(2, op(ctx.b, "conv2dGradBias", [dy], {}));
  },
  conv2dGradInput: "adjointOnly",
  conv2dGradWeight: "adjointOnly",
  conv2dGradBias: "adjointOnly",
  // d maxpool2d(x) = dy routed to the first maximum of each window
  maxpool2d: (i, dy, ctx) => ctx.add(0, op(ctx.b, "maxpool2dGrad", [i.args[0]!, dy], i.attrs)),
  maxpool2dGrad: "adjointOnly",
  // d avgpool2d(x) = dy spread evenly over each window
  avgpool2d: (i, dy, ctx) => {
    const x = i.args[0]!;
    const inputShape = x.type.kind === "tensor" ? x.type.shape : [];
    ctx.add(0, op(ctx.b, "avgpool2dGrad", [dy], { ...i.attrs, inputShape }));
  },
  avgpool2dGrad: "adjointOnly",
  // d softmax(x) = y (dy - sum(dy y)) per row
  softmax: (i, dy, ctx) => ctx.add(0, op(ctx.b, "softmaxGrad", [i.result, dy], {})),
  // d logSoftmax(x) = dy - exp(y) sum(dy) per row
  logSoftmax: (i, dy, ctx) => ctx.add(0, op(ctx.b, "logSoftmaxGrad", [i.result, dy], {})),
  softmaxGrad: "adjointOnly",
  logSoftmaxGrad: "adjointOnly",
  // d crossEntropy(z, label) = dy (softmax(z) - onehot(label)) (/ N); labels have no derivative
  crossEntropy: (i, dy, ctx) => ctx.add(0, op(ctx.b, "crossEntropyGrad", [i.args[0]!, i.args[1]!, dy], {})),
  crossEntropyGrad: "adjointOnly",
  reluGrad: "adjointOnly",

  if: "region",
  for: "region",
};

