// Kernels: the loops that compute the layer primitives (linear, conv2d, pooling, softmax,
// cross-entropy, reductions) and the adjoint ops their derivative rules produce, one file per
// family. This file is the interface between a kernel emitter and the code generator.
//
// Each emitter writes plain loops over flat, row-major buffers. Extents and strides are
// literals where the shape is static (a batch dimension known only at run time is a size
// parameter of the kernel, `N`); offsets are hoisted to the loop level where they stop
// changing, and the inner loops have no bounds checks (a padded convolution reads a
// zero-bordered copy of its input). Products run in register blocks (gemm.ts), a
// convolution's adjoints skip the zeros of dy, and max-pool finds each window's maximum
// without branches; each kernel says so in a comment where it does. The semantics follow
// PyTorch in float64:
// - convolution is cross-correlation with zero padding;
// - max-pool sends each window's gradient to its first maximum in row-major window order
//   (a NaN counts as the maximum, and the first NaN wins); overlapping windows accumulate;
// - softmax, log-softmax and cross-entropy subtract each row's maximum first (stable for
//   logits of 1000); batched cross-entropy is the mean over the rows.
//
// The result buffer never aliases an argument buffer; it holds arbitrary contents on entry,
// so every emitter either writes each element once or zeroes the buffer and accumulates.

import { Dim, SimpleInstr, Type } from "../../ir/types.js";

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
  /**
   * A dimension as the kernel reads it: the number when it is literal, else an expression
   * of the kernel's size parameters (one per size symbol its types name: `N`, `N * 6`).
   */
  dim(d: Dim): number | string;
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
