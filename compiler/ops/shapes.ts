// Helpers for the ops' shape rules.

import { Dim, showDim } from "../ir/dims.js";
import { F64, Type, showType, tensorType, typeEquals } from "../ir/types.js";

export function shapeOf(t: Type | undefined): readonly Dim[] | null {
  return t && t.kind === "tensor" ? t.shape : null;
}

/** A shape as users write it: [2, 3], [N, 784]. */
export function fmt(shape: readonly Dim[]): string {
  return `[${shape.map(showDim).join(", ")}]`;
}

/**
 * The dimensions `dims` of a shape as numbers, for ops whose loops need them literal (a
 * convolution's channels, image and kernel sizes), or an error naming the shape.
 */
export function literalDims(op: string, shape: readonly Dim[], what: string): number[] | string {
  if (shape.every((d) => typeof d === "number")) return shape as number[];
  return `${op}: ${what} must have literal sizes, got ${fmt(shape)} (only a batch dimension may be symbolic)`;
}

/** Output size of a convolution or pooling window along one axis. */
export function windowOut(input: number, kernel: number, stride: number, pad: number): number {
  return Math.floor((input + 2 * pad - kernel) / stride) + 1;
}

/** An error message unless there are `n` arguments (or one of the counts in `n`). */
export function arity(op: string, args: readonly Type[], n: number | readonly number[]): string | null {
  const ok = typeof n === "number" ? args.length === n : n.includes(args.length);
  return ok ? null : `${op} takes ${typeof n === "number" ? n : n.join(" or ")} arguments, got ${args.length}`;
}

/** f64 -> f64, and elementwise on a tensor when `tensors` (never a boolean). */
export function unaryType(op: string, tensors = true) {
  return (args: readonly Type[]): Type | string => {
    const e = arity(op, args, 1);
    if (e) return e;
    const a = args[0]!;
    if (a.kind === "bool") return `${op}: the argument must be a number or a tensor, not a boolean`;
    if (a.kind === "tensor" && !tensors) return `${op} takes a number`;
    return a;
  };
}

/** Elementwise on numbers and tensors of one shape; a number broadcasts against a tensor. */
export function elementwiseType(op: string) {
  return (args: readonly Type[]): Type | string => {
    const e = arity(op, args, 2);
    if (e) return e;
    const [a, b] = args as [Type, Type];
    if (a.kind === "bool") return `${op}: the first argument must be a number or a tensor, not a boolean`;
    if (b.kind === "bool") return `${op}: the second argument must be a number or a tensor, not a boolean`;
    if (a.kind === "tensor" && b.kind === "tensor" && !typeEquals(a, b)) {
      return `${op}: shapes ${fmt(a.shape)} and ${fmt(b.shape)} differ`;
    }
    return a.kind === "tensor" ? a : b;
  };
}

/** (f64, f64) -> f64. */
export function scalarBinaryType(op: string) {
  return (args: readonly Type[]): Type | string =>
    arity(op, args, 2) ?? (args[0]!.kind === "f64" && args[1]!.kind === "f64" ? F64 : `${op} takes two numbers`);
}

/** A tensor argument's shape, or an error. */
export function needTensor(op: string, t: Type | undefined, what: string): readonly Dim[] | string {
  return t && t.kind === "tensor" ? t.shape : `${op}: ${what} must be a tensor, got ${t ? showType(t) : "nothing"}`;
}

export { F64, tensorType, typeEquals, showType };
