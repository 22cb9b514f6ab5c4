// What the backward pass reads from the forward pass: the values a tape must keep.

import { GradFunc, Instr, Value, ValueId, sizeOf } from "../ir/types.js";

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
  const walk = (instrs: readonly Instr[]): void => {
    for (const instr of instrs) {
      if ("args" in instr) instr.args.forEach(use);
      else if (instr.op === "if") {
        use(instr.cond);
        for (const sub of [instr.then, instr.else]) {
          walk(sub.instrs);
          sub.yields.forEach(use);
        }
      } else {
        instr.init.forEach(use);
        walk(instr.body.instrs);
        instr.body.yields.forEach(use);
      }
    }
  };
  walk(body.instrs.slice(grad.splitAt));
  body.yields.slice(1).forEach(use);
  return saved;
}

/** Bytes a tape holds for the saved values that are not parameters (8 per float64). */
export function savedBytes(grad: GradFunc, primalParams: number, bytesPerElement = 8): number {
  const params = new Set(grad.body.params.map((p) => p.id));
  return savedValues(grad, primalParams)
    .filter((v) => !params.has(v.id))
    .reduce((n, v) => n + (v.type.kind === "tensor" ? sizeOf(v.type.shape) : 1) * bytesPerElement, 0);
}
