// The op table: every simple op of the IR, declared once (see op.ts for what an entry
// holds). Its type, `{ [K in SimpleOp]: OpDef<K> }`, makes a missing op or a missing piece
// of one a type error, and an op listed twice is one too (an object literal's duplicate
// key). Region ops (if, for) are not here: every pass handles them structurally.
//
// To add an op: name it and its attributes in SimpleOpAttrs (ir/types.ts), declare it in
// the family file it belongs to (shape rule, derivative rule, emission, name, semantics),
// list it below, and, if DSL code calls it, give the runtime (runtime/index.ts) its
// reference implementation and the front end its builtin (frontend/builtins.ts).
// test/rules.test.ts then demands a gradient test for it.

import { AttrsOf, SimpleOp, Type } from "../ir/types.js";
import { CONV2D } from "./conv2d.js";
import { CALL, CUSTOM } from "./custom.js";
import { LINEAR } from "./linear.js";
import { OpDef, OpFamily, OpTable } from "./op.js";
import { POOL } from "./pool.js";
import { BINARY, COMPARE, LOGIC, RELU_GRAD, UNARY } from "./scalar.js";
import { SOFTMAX } from "./softmax.js";
import { TAPES } from "./tape.js";
import { TENSOR } from "./tensor.js";

export const OPS: OpTable = {
  // scalar math, elementwise on tensors
  neg: UNARY.neg, exp: UNARY.exp, log: UNARY.log, sin: UNARY.sin, cos: UNARY.cos, tan: UNARY.tan,
  tanh: UNARY.tanh, sqrt: UNARY.sqrt, abs: UNARY.abs, asin: UNARY.asin, acos: UNARY.acos, atan: UNARY.atan,
  sinh: UNARY.sinh, cosh: UNARY.cosh, asinh: UNARY.asinh, acosh: UNARY.acosh, atanh: UNARY.atanh,
  log1p: UNARY.log1p, expm1: UNARY.expm1, log2: UNARY.log2, log10: UNARY.log10, cbrt: UNARY.cbrt,
  sign: UNARY.sign, floor: UNARY.floor, ceil: UNARY.ceil, round: UNARY.round, trunc: UNARY.trunc,
  sigmoid: UNARY.sigmoid, relu: UNARY.relu, reluGrad: RELU_GRAD,
  add: BINARY.add, sub: BINARY.sub, mul: BINARY.mul, div: BINARY.div, pow: BINARY.pow,
  atan2: BINARY.atan2, hypot: BINARY.hypot, max: BINARY.max, min: BINARY.min, mod: BINARY.mod,
  lt: COMPARE.lt, le: COMPARE.le, gt: COMPARE.gt, ge: COMPARE.ge, eq: COMPARE.eq, ne: COMPARE.ne,
  and: LOGIC.and, or: LOGIC.or, not: LOGIC.not, const: LOGIC.const, select: LOGIC.select,
  // tensors
  zeros: TENSOR.zeros, broadcast: TENSOR.broadcast, index: TENSOR.index, store: TENSOR.store,
  accum: TENSOR.accum, checkIndex: TENSOR.checkIndex, reshape: TENSOR.reshape, sum: TENSOR.sum, mean: TENSOR.mean, dot: TENSOR.dot,
  // sizes and tapes
  size: TAPES.size, tape: TAPES.tape, push: TAPES.push, peek: TAPES.peek, drop: TAPES.drop,
  // layers and their adjoints
  linear: LINEAR.linear, linearGradInput: LINEAR.linearGradInput, linearGradWeight: LINEAR.linearGradWeight,
  linearGradBias: LINEAR.linearGradBias,
  conv2d: CONV2D.conv2d, conv2dGradInput: CONV2D.conv2dGradInput, conv2dGradWeight: CONV2D.conv2dGradWeight,
  conv2dGradBias: CONV2D.conv2dGradBias,
  maxpool2d: POOL.maxpool2d, maxpool2dGrad: POOL.maxpool2dGrad, avgpool2d: POOL.avgpool2d,
  avgpool2dGrad: POOL.avgpool2dGrad,
  softmax: SOFTMAX.softmax, logSoftmax: SOFTMAX.logSoftmax, softmaxGrad: SOFTMAX.softmaxGrad,
  logSoftmaxGrad: SOFTMAX.logSoftmaxGrad, crossEntropy: SOFTMAX.crossEntropy, crossEntropyGrad: SOFTMAX.crossEntropyGrad,
  // a helper with its own derivative rules
  custom: CUSTOM, call: CALL,
};

export function opDef<K extends SimpleOp>(op: K): OpDef<K> {
  return OPS[op] as OpDef<K>;
}

export function familyOf(op: SimpleOp): OpFamily {
  return OPS[op].family;
}

/** The result type of op on arguments of the given types, or an error message naming the shapes. */
export function inferType<K extends SimpleOp>(op: K, args: readonly Type[], attrs: AttrsOf<K>): Type | string {
  const def = OPS[op] as OpDef<K> | undefined;
  if (!def) return `unknown op ${op}`;
  return def.type(args, attrs);
}

/** The value of a scalar op on constants, as the generated code computes it (undefined if it has none). */
export function evaluate(op: SimpleOp, args: readonly number[]): number | boolean | undefined {
  const f = OPS[op].eval;
  return f ? f(...args) : undefined;
}

export type { OpDef, OpFamily } from "./op.js";
