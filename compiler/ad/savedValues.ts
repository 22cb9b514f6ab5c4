// What the backward pass reads from the forward pass: the values a tape must keep.

import { GradFunc, Value, ValueId, sizeOf } from "../ir/types.js";
import { Dim, dimAdd, dimScale } from "../ir/dims.js";
import { forEachUse } from "../ir/walk.js";

/**
 * The values defined by the forward part of `grad` (or its primal parameters) that the
 * backward part or the gradients read, in order of first use. Constants are excluded:
 * they are written as literals wherever they are used.
 */
export function savedValues(grad: GradFunc, primalParams: number): Value[] {
  const body = grad.body;
  const forwardDefined = new Set<ValueId>(body.params.slice(0, primalParams).map((p) => p.id));
  for (const instr of body.instrs.slice(0, grad.splitAt)) {
    if (instr.op === "const") continue;
    for (const r of "result" in instr ? [instr.result] : instr.results) forwardDefined.add(r.id);
  }
  const saved: Value[] = [];
  const seen = new Set<ValueId>();
  const use = (v: Value): void => {
    if (forwardDefined.has(v.id) && !seen.has(v.id)) {
      seen.add(v.id);
      saved.push(v);
    }
  };
  forEachUse({ params: [], instrs: body.instrs.slice(grad.splitAt), yields: body.yields.slice(1) }, use);
  return saved;
}

/** Bytes a tape holds for the saved values that are not parameters (8 per float64): a formula of the sizes. */
export function savedBytes(grad: GradFunc, primalParams: number, bytesPerElement = 8): Dim {
  const params = new Set(grad.body.params.map((p) => p.id));
  return savedValues(grad, primalParams)
    .filter((v) => !params.has(v.id) && v.type.kind !== "tape")
    .reduce<Dim>((n, v) => dimAdd(n, dimScale(v.type.kind === "tensor" ? sizeOf(v.type.shape) : 1, bytesPerElement)), 0);
}
