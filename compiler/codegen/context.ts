// The interface between the core code generator (emitTypeScript.ts) and the per-op emitters
// of tensor primitives (tensorOps.ts).

import { SimpleInstr, Type } from "../ir/types.js";

export interface OpEmitContext {
  /** The instruction being emitted (op, attrs, argument and result types). */
  readonly instr: SimpleInstr;
  /**
   * One JavaScript identifier per argument: an f64 argument is a `number` variable; a
   * tensor argument is a flat, row-major Float64Array (or Float32Array) variable of the
   * shape's size. Never write into an argument buffer.
   */
  readonly args: readonly string[];
  readonly argTypes: readonly Type[];
  /**
   * The result: for a tensor result, a Float64Array variable that is already allocated with
   * the right length but holds ARBITRARY contents (buffers are reused): the emitted code
   * must write every element. For an f64 result, a `let` variable the code must assign.
   */
  readonly result: string;
  readonly resultType: Type;
  /** A fresh identifier that collides with nothing else in the generated function. */
  fresh(hint: string): string;
  /**
   * A scratch buffer of `size` elements private to this kernel (for im2col, packed panels,
   * argmax indices...): returns an expression to bind once at the top of the emitted code,
   * e.g. `const col = ${ctx.scratch(n, "col")};`. It is allocated on the kernel's first call
   * and reused (contents arbitrary on entry). `kind` "int32" gives an Int32Array.
   */
  scratch(size: number, hint: string, kind?: "float" | "int32"): string;
}

/** Emits the statements that compute one instruction; returns lines of TypeScript. */
export type OpEmitter = (ctx: OpEmitContext) => string[];
