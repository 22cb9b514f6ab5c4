// What the compiler knows about one op, declared in one place (compiler/ops/index.ts lists
// every op; its type makes a missing op, or a missing piece of one, a type error):
//
// - `type`: the result type of the op applied to arguments of given types, or an error
//   message naming the shapes. The front end reports it as a diagnostic at the call; the
//   builder and the verifier check every instruction with it, adjoint ops included.
// - `jvp`: the forward-mode rule (the tangent of the result from the arguments' tangents).
// - `vjp`: the reverse-mode rule (the derivative table of JAX or Tangent), or "nondiff"
//   (zero derivative), or "adjointOnly" (the op appears only in backward code).
// - `emit`: how code generation computes it: a JavaScript expression for scalar ops (also
//   the body of the elementwise loop over tensors), a kernel for the layers, or the
//   function emitter's own handling of buffers ("structural").
// - `name`: what to call its result when the user gave it no name.
// - `eval`: its scalar semantics as JavaScript computes them, for constant folding; the
//   emitted expression is the same code, so folded and run-time values agree to the bit.

import { Builder } from "../ir/builder.js";
import { AttrsOf, SimpleInstr, SimpleOp, Type, Value } from "../ir/types.js";
import { OpEmitter } from "../codegen/kernels/context.js";

/** How the reverse-mode transform lets a rule add to the adjoints of an instruction's arguments. */
export interface VjpContext {
  readonly b: Builder;
  /** Adds `g` to the adjoint of argument `i` (summed down to a number if the argument is one). */
  add(i: number, g: Value): void;
  /** Adds `g` into the adjoint of argument `i` at indices `idx` (x[idx] += g). */
  addAt(i: number, idx: readonly Value[], g: Value): void;
  /** Inlines the function's derivative rule `k` (see Func.rules) on `args`; returns what it yields. */
  rule(k: number, args: readonly Value[]): Value;
}

/**
 * A vector-Jacobian product rule. It reads the primal values it needs from `instr` (its
 * arguments and result, as the backward pass sees them: forward values at the top level,
 * recomputed ones inside a reversed region) and adds to the adjoint of each argument.
 */
export type VjpRule<K extends SimpleOp> = (instr: SimpleInstr<K>, dy: Value, ctx: VjpContext) => void;

/** What the forward-mode transform gives a JVP rule. */
export interface JvpContext {
  readonly b: Builder;
  /** The zero of v's type (0, a tensor of zeros, an empty tape). */
  zero(v: Value): Value;
  /** Inlines the function's derivative rule `k` (see Func.rules) on `args`; returns what it yields. */
  rule(k: number, args: readonly Value[]): Value;
}

/**
 * A Jacobian-vector product rule: the tangent of the result from the tangents of the
 * arguments (undefined where an argument's tangent is zero), or undefined for a zero
 * tangent. It reads the primal values it needs from `instr`.
 */
export type JvpRule<K extends SimpleOp> = (instr: SimpleInstr<K>, t: readonly (Value | undefined)[], ctx: JvpContext) => Value | undefined;

export type ShapeRule<K extends SimpleOp> = (args: readonly Type[], attrs: AttrsOf<K>) => Type | string;

/** The groups of ops that passes and the code generator treat alike. */
export type OpFamily =
  /** f64 -> f64, elementwise on a tensor */
  | "unary"
  /** (f64 | tensor, f64 | tensor) -> elementwise, broadcasting a number against a tensor */
  | "binary"
  /** (f64, f64) -> f64: Math functions of two numbers */
  | "scalarBinary"
  /** (f64, f64) -> bool */
  | "compare"
  /** booleans: and, or, not */
  | "logic"
  /** values and buffers the function emitter handles itself: const, select, zeros, index... */
  | "structural"
  /** tensor -> f64 */
  | "reduction"
  /** layers and their adjoints: module-level kernels */
  | "layer";

export type Emission =
  /**
   * A JavaScript expression of the arguments' expressions. `twice`: the expression reads an
   * argument more than once, so its arguments must be variables (never inlined expressions).
   */
  | { readonly js: (args: readonly string[]) => string; readonly twice?: boolean }
  /** A kernel function (codegen/kernels/), with its parameters' names. */
  | { readonly kernel: OpEmitter; readonly params: readonly string[]; readonly js?: (args: readonly string[]) => string }
  | "structural";

export interface OpDef<K extends SimpleOp> {
  /** What the op computes, in one line (the kernel's doc comment). */
  readonly doc: string;
  readonly family: OpFamily;
  readonly type: ShapeRule<K>;
  readonly vjp: VjpRule<K> | "nondiff" | "adjointOnly";
  /**
   * The forward-mode rule, or "nondiff" (a zero tangent). Adjoint ops have one too: the
   * Hessian-vector product runs forward mode over the reverse-mode function.
   */
  readonly jvp: JvpRule<K> | "nondiff";
  readonly emit: Emission;
  /** The result's name when the user gave it none (else a generic one: t, buf). */
  readonly name?: string;
  readonly eval?: (...args: number[]) => number | boolean;
  /** The Math function DSL code calls for it (Math.exp -> "exp"), if any. */
  readonly math?: string;
  /**
   * A call that costs more than keeping its result (a transcendental Math function, 5-20 ns
   * in V8 against about 1 ns for a push and a pop): in a loop body, the forward copy pushes
   * its number and the reversed iteration pops it instead of computing it again.
   */
  readonly costly?: true;
}

export type OpTable = { readonly [K in SimpleOp]: OpDef<K> };
