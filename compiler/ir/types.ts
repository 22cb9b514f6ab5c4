// The adgen IR: structured SSA as plain, readonly data.
//
// Invariants (checked by verifyIR after every pass):
// - Every Value is defined exactly once: as a block parameter or as an instruction result.
// - A use refers to a value defined earlier in the same block or in an enclosing block
//   (regions see their parents' values, as in MLIR's scf dialect; no phi nodes).
// - Control flow is structured: `if` and `for` own their regions. A region ends with the
//   values it yields; the owning instruction's results take those values.
// - Tensors have value semantics: `store` and `accum` return a new tensor. Code generation
//   updates buffers in place when the old version is dead, and copies otherwise.
// - Types are exact: every tensor has a static shape; indices are f64 values that hold
//   integers (loop induction variables, integer arithmetic on them, or constants).

import { Dim, dimEquals, dimProduct, showDim } from "./dims.js";

export type { Dim } from "./dims.js";

declare const opaque: unique symbol;
/** An SSA value number, unique within one function. */
export type ValueId = number & { readonly [opaque]: "ValueId" };

export type Type =
  | { readonly kind: "f64" }
  | { readonly kind: "bool" }
  | { readonly kind: "tensor"; readonly shape: readonly Dim[] }
  /** A stack the forward pass pushes onto and the backward pass pops (a loop's tape). */
  | { readonly kind: "tape" };

export const F64: Type = { kind: "f64" };
export const BOOL: Type = { kind: "bool" };
export const TAPE: Type = { kind: "tape" };
export function tensorType(shape: readonly Dim[]): Type {
  return { kind: "tensor", shape: [...shape] };
}

export interface Value {
  readonly id: ValueId;
  readonly type: Type;
  /** The user's variable name this value came from (a hint for printing and codegen). */
  readonly name?: string;
}

/** A source position (1-based) in the DSL file. */
export interface Loc {
  readonly line: number;
  readonly col: number;
}

// ---------------------------------------------------------------------------------------
// Operations. Elementwise ops accept f64 or tensor operands (a binary op broadcasts an f64
// against a tensor); their result has the operand's (tensor) type.

export type UnaryOp =
  | "neg" | "exp" | "log" | "sin" | "cos" | "tan" | "tanh" | "sqrt" | "abs" | "asin" | "acos" | "atan"
  | "sinh" | "cosh" | "asinh" | "acosh" | "atanh" | "log1p" | "expm1" | "log2" | "log10" | "cbrt"
  | "sign" | "floor" | "ceil" | "round" | "trunc" | "sigmoid" | "relu";

/** Elementwise binary ops, with f64/tensor broadcasting. */
export type BinaryOp = "add" | "sub" | "mul" | "div";

/** Scalar-only binary ops (`**` and Math.*). */
export type ScalarBinaryOp = "pow" | "atan2" | "hypot" | "max" | "min" | "mod";

export type CompareOp = "lt" | "le" | "gt" | "ge" | "eq" | "ne";

export interface Conv2dAttrs {
  readonly stride: readonly [number, number];
  readonly padding: readonly [number, number];
}
export interface PoolAttrs {
  readonly size: readonly [number, number];
  readonly stride: readonly [number, number];
}

/**
 * Attributes of every simple (non-region) op, keyed by op name. The argument list of each
 * op is documented beside it. With the unions above it lists every simple op: OpKind derives
 * from it, and the op table (compiler/ops/index.ts) is typed against it.
 */
export interface SimpleOpAttrs {
  // scalars and elementwise math
  /** () -> f64 */
  const: { readonly value: number };
  /** (a: bool, b: bool) -> bool */
  and: {};
  or: {};
  /** (a: bool) -> bool */
  not: {};
  /** (cond: bool, a: T, b: T) -> T. Evaluates both sides; used only for cheap, safe values. */
  select: {};

  // tensors
  /** () -> f64: the value of a size symbol (a type parameter of the entry), bound on entry */
  size: { readonly name: string };
  /** () -> tensor[shape], all zeros */
  zeros: { readonly shape: readonly Dim[] };
  /** (s: f64) -> tensor[shape], every element s */
  broadcast: { readonly shape: readonly Dim[] };
  /** (x: tensor, ...idx: f64) -> f64 when idx covers every dimension, else the sub-tensor */
  index: {};
  /** (x: tensor, ...idx: f64, v) -> tensor: x with x[idx] = v (v an f64 or a sub-tensor) */
  store: {};
  /** (x: tensor, ...idx: f64, v) -> tensor: x with x[idx] += v */
  accum: {};

  // tapes (stacks): the forward pass pushes, the backward pass pops in reverse order
  /** () -> tape, empty */
  tape: {};
  /** (t: tape, v: f64 | bool | tensor) -> tape with v on top */
  push: {};
  /** (t: tape) -> the value of type `of` on top (t unchanged) */
  peek: { readonly of: Type };
  /** (t: tape) -> tape without the value of type `of` on top */
  drop: { readonly of: Type };
  /**
   * (i: f64) -> i, after checking that i is an integer in [0, size): else a RangeError whose
   * message is `message` followed by the value (an index read from data, E[ids[t]]).
   */
  checkIndex: { readonly size: Dim; readonly message: string };
  /** (x: tensor) -> tensor[shape], same elements in row-major order (flatten) */
  reshape: { readonly shape: readonly Dim[] };
  /** (x: tensor) -> f64 */
  sum: {};
  mean: {};
  /** (a: tensor, b: tensor) -> f64, a and b of one shape */
  dot: {};

  // layers: x [in] or [N, in], w [out, in], optional b [out] -> [out] or [N, out]
  linear: {};
  /** (dy, w) -> dx: dy [out]|[N,out] -> [in]|[N,in] */
  linearGradInput: {};
  /** (dy, x) -> dw [out, in] (summed over the batch) */
  linearGradWeight: {};
  /** (dy) -> db [out] (summed over the batch) */
  linearGradBias: {};
  /** (x [C,H,W]|[N,C,H,W], w [O,C,KH,KW], b? [O]) -> [O,OH,OW]|[N,O,OH,OW] */
  conv2d: Conv2dAttrs;
  /** (dy, w) -> dx, a transposed convolution; inputShape is x's shape */
  conv2dGradInput: Conv2dAttrs & { readonly inputShape: readonly Dim[] };
  /** (dy, x) -> dw, the correlation of x with dy */
  conv2dGradWeight: Conv2dAttrs & { readonly weightShape: readonly Dim[] };
  /** (dy) -> db [O], summed over batch and space */
  conv2dGradBias: {};
  /** (x [C,H,W]|[N,C,H,W]) -> pooled */
  maxpool2d: PoolAttrs;
  /** (x, dy) -> dx: dy routed to the first maximum of each window (row-major order) */
  maxpool2dGrad: PoolAttrs;
  avgpool2d: PoolAttrs;
  /** (dy) -> dx; inputShape is x's shape */
  avgpool2dGrad: PoolAttrs & { readonly inputShape: readonly Dim[] };
  /** (x) -> same shape, along the last axis */
  softmax: {};
  logSoftmax: {};
  /** (y = softmax(x), dy) -> dx = y * (dy - sum(dy * y)) per row */
  softmaxGrad: {};
  /** (y = logSoftmax(x), dy) -> dx = dy - exp(y) * sum(dy) per row */
  logSoftmaxGrad: {};
  /** (logits [K], label: f64) | (logits [N,K], labels tensor [N]) -> f64 (mean over N) */
  crossEntropy: {};
  /** (logits, label, dy: f64) -> dlogits = dy * (softmax(logits) - onehot(label)) (/ N) */
  crossEntropyGrad: {};
  /** (x, dy) -> dy where x > 0, else 0 (relu'(0) = 0) */
  reluGrad: {};

  // custom derivatives (SPEC 6)
  /**
   * (...inputs, y) -> y: a call of the helper `helper`, whose inlined body computed y from
   * the inputs, with derivative rules of its own (`@vjp`, `@jvp`): indices into the
   * function's `rules`. Reverse mode inlines rules[vjp](...inputs, y, dy) for the inputs'
   * adjoints instead of differentiating the body (which gets no adjoint); forward mode
   * rules[jvp](...inputs, y, ...tangents). Without a rule, the derivative goes through the
   * body. Erased (y is the body's value) once differentiation is done.
   */
  custom: { readonly helper: string; readonly vjp?: number; readonly jvp?: number };
  /**
   * (...args: f64) -> f64: a call of the function's derivative rule `rule` (Func.rules), one
   * of numbers only, which the generated module declares as a plain function `name`.
   * Reverse mode and forward mode emit it where they use such a rule; the HVP inlines it
   * first (passes/inlineCalls.ts), since forward mode does not differentiate calls.
   */
  call: { readonly rule: number; readonly name: string };
}

export type SimpleOp =
  | UnaryOp
  | BinaryOp
  | ScalarBinaryOp
  | CompareOp
  | keyof SimpleOpAttrs;

export type AttrsOf<K extends SimpleOp> = K extends keyof SimpleOpAttrs ? SimpleOpAttrs[K] : {};

/** Every op kind that a derivative rule must cover: simple ops plus the region ops. */
export type OpKind = SimpleOp | "if" | "for" | "while";

// ---------------------------------------------------------------------------------------
// Instructions

export interface SimpleInstr<K extends SimpleOp = SimpleOp> {
  readonly op: K;
  readonly result: Value;
  readonly args: readonly Value[];
  readonly attrs: AttrsOf<K>;
  readonly loc: Loc;
  /**
   * In a GradFunc, the primal instruction (by its result) this one comes from: itself for a
   * forward copy, the instruction differentiated for adjoint code. It names kernels after
   * their layer (conv1GradInput). Absent in a primal Func, where an instruction is its own.
   */
  readonly origin?: ValueId;
}

/** `results = if cond { then } else { else }`; both regions yield one value per result. */
export interface IfInstr {
  readonly op: "if";
  readonly results: readonly Value[];
  readonly cond: Value;
  /**
   * A guard made by passes/skipZeroAdjoints.ts: `then` holds one loop, `else` yields its
   * initial values, and cond tests selected adjoints against zero (`z !== 0 || ...`).
   */
  readonly guard?: true;
  readonly then: Block;
  readonly else: Block;
  readonly loc: Loc;
}

/**
 * `results = for iv in start..end by step carry(params) = init { body }`.
 * start and end are integer values (constants, sizes, counters of enclosing loops...); the
 * step is a non-zero integer constant, and the trip count max(0, ceil((end - start) / step))
 * (a negative step counts down while iv > end). Bounds are read once, before the loop.
 * body.params = [iv, ...carried]; body.yields = the carried values for the next iteration.
 * results[k] is the last yielded carried value k (init[k] when the loop runs 0 times).
 */
export interface ForInstr {
  readonly op: "for";
  readonly results: readonly Value[];
  readonly start: Value;
  readonly end: Value;
  readonly step: number;
  readonly init: readonly Value[];
  readonly body: Block;
  readonly loc: Loc;
}

/**
 * `results = while carry(params) = init { cond } do { body }`: a loop whose trip count is
 * known only at run time. Each round, `cond` (params = the carried values, yields one
 * boolean) decides whether `body` (params = the carried values, yields the next ones) runs
 * again; results are the carried values when cond is false. break, continue and return
 * inside loops lower to carried flags of a while.
 */
export interface WhileInstr {
  readonly op: "while";
  readonly results: readonly Value[];
  readonly init: readonly Value[];
  readonly cond: Block;
  readonly body: Block;
  readonly loc: Loc;
}

export type RegionInstr = IfInstr | ForInstr | WhileInstr;
export type Instr = SimpleInstr | RegionInstr;

export interface Block {
  readonly params: readonly Value[];
  readonly instrs: readonly Instr[];
  readonly yields: readonly Value[];
}

export interface Func {
  readonly name: string;
  /** The entry's type parameters: size symbols bound when the function is called (N in f64[N,784]). */
  readonly sizes?: readonly string[];
  /**
   * The number parameters used as loop bounds, sizes or indices: integers, with no
   * gradient. A size symbol that is not in `sizes` names one of them (zeros([n, 3])).
   */
  readonly integers?: readonly string[];
  /** body.params are the function's parameters, in order; body.yields its results. */
  readonly body: Block;
  readonly loc: Loc;
  /**
   * The derivative rules that `custom` instructions name (by index): each a rule helper
   * lowered at one call (its parameters: the inputs, the output, then the output's adjoint
   * or the inputs' tangents; it yields the inputs' adjoints, packed along a leading
   * dimension when there are several, or the output's tangent). Closed: a rule reads only
   * its parameters.
   */
  readonly rules?: readonly Func[];
}

/** The reverse-mode function of an entry point (see compiler/ad/reverseMode.ts). */
export interface GradFunc {
  readonly name: string;
  readonly sizes?: readonly string[];
  readonly integers?: readonly string[];
  /**
   * body.params = the primal parameters, then the cotangent (for a tensor-valued entry).
   * body.yields = [value, ...gradients of `wrt`, in order].
   */
  readonly body: Block;
  /** body.instrs[0 .. splitAt) is the forward pass, the rest the backward pass. */
  readonly splitAt: number;
  /** Names of the differentiated parameters, in the order their gradients are yielded. */
  readonly wrt: readonly string[];
  readonly hasCotangent: boolean;
  readonly loc: Loc;
  /** Adjoint values and the primal values they are the adjoints of, for naming (dh4 after h4). */
  readonly adjoints?: readonly (readonly [ValueId, ValueId])[];
  /** The primal's derivative rules (forward mode over this function, the HVP, reads the JVP rules). */
  readonly rules?: readonly Func[];
}

export function isSimple(instr: Instr): instr is SimpleInstr {
  return instr.op !== "if" && instr.op !== "for" && instr.op !== "while";
}

/** The values an instruction defines. */
export function resultsOf(instr: Instr): readonly Value[] {
  return isSimple(instr) ? [instr.result] : instr.results;
}

/** The values an instruction reads directly (not those read inside its regions). */
export function operandsOf(instr: Instr): readonly Value[] {
  switch (instr.op) {
    case "if":
      return [instr.cond];
    case "for":
      return [instr.start, instr.end, ...instr.init];
    case "while":
      return instr.init;
    default:
      return instr.args;
  }
}

/**
 * The trip count of a loop whose bounds are constants (defined by `const` instructions,
 * looked up with `constOf`), else undefined.
 */
export function staticTrip(f: Pick<ForInstr, "start" | "end" | "step">, constOf: (v: Value) => number | undefined): number | undefined {
  const start = constOf(f.start);
  const end = constOf(f.end);
  if (start === undefined || end === undefined) return undefined;
  const n = Math.ceil((end - start) / f.step);
  return n > 0 ? n : 0;
}

/** The number of elements of a shape (a polynomial in its size symbols, or a number). */
export function sizeOf(shape: readonly Dim[]): Dim {
  return dimProduct(shape);
}

/** The shape's number of elements, which must be literal (a kernel or a caller that needs a number). */
export function literalSize(shape: readonly Dim[]): number {
  const n = dimProduct(shape);
  if (typeof n !== "number") throw new Error(`internal: a literal size was expected, got ${showDim(n)}`);
  return n;
}

export function typeEquals(a: Type, b: Type): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === "tensor" && b.kind === "tensor") {
    return a.shape.length === b.shape.length && a.shape.every((d, i) => dimEquals(d, b.shape[i]!));
  }
  return true;
}

export function showType(t: Type): string {
  return t.kind === "tensor" ? `f64[${t.shape.map(showDim).join(",")}]` : t.kind;
}

export function assertExhaustive(x: never, message: string): never {
  throw new Error(`${message}: ${JSON.stringify(x)}`);
}
