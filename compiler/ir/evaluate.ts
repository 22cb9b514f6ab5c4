// Scalar semantics of the scalar ops, as JavaScript computes them. Constant folding uses
// this table, and the code generator emits the same expressions (see SCALAR_JS), so folded
// and run-time values agree to the bit.

import { BinaryOp, CompareOp, ScalarBinaryOp, UnaryOp } from "./types.js";

export const UNARY_EVAL: { readonly [K in UnaryOp]: (x: number) => number } = {
  neg: (x) => -x,
  exp: Math.exp,
  log: Math.log,
  sin: Math.sin,
  cos: Math.cos,
  tan: Math.tan,
  tanh: Math.tanh,
  sqrt: Math.sqrt,
  abs: Math.abs,
  asin: Math.asin,
  acos: Math.acos,
  atan: Math.atan,
  sinh: Math.sinh,
  cosh: Math.cosh,
  asinh: Math.asinh,
  acosh: Math.acosh,
  atanh: Math.atanh,
  log1p: Math.log1p,
  expm1: Math.expm1,
  log2: Math.log2,
  log10: Math.log10,
  cbrt: Math.cbrt,
  sign: Math.sign,
  floor: Math.floor,
  ceil: Math.ceil,
  round: Math.round,
  trunc: Math.trunc,
  sigmoid: (x) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x))),
  relu: (x) => (x > 0 ? x : x !== x ? x : 0),
};

export const BINARY_EVAL: { readonly [K in BinaryOp | ScalarBinaryOp]: (a: number, b: number) => number } = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: (a, b) => a ** b,
  atan2: Math.atan2,
  hypot: Math.hypot,
  max: Math.max,
  min: Math.min,
};

export const COMPARE_EVAL: { readonly [K in CompareOp]: (a: number, b: number) => boolean } = {
  lt: (a, b) => a < b,
  le: (a, b) => a <= b,
  gt: (a, b) => a > b,
  ge: (a, b) => a >= b,
  eq: (a, b) => a === b,
  ne: (a, b) => a !== b,
};
