// What the backward pass reads from the forward pass: the values a tape must keep.

import { Block, GradFunc, Instr, Value, ValueId, sizeOf } from "../ir/types.js";
import { Dim, dimAdd, dimScale } from "../ir/dims.js";
import { forEachUse, regionsOf } from "../ir/walk.js";

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

/**
 * Bytes a tape holds for the saved values that are not parameters, besides its stacks (those
 * grow with the trip counts: compiler/tools/tapeStats.ts counts them): a formula of the sizes.
 * A tensor takes `bytesPerElement` per element, a number 8 (a JavaScript number); a reshape
 * shares its source's buffer, so one of a parameter or of another saved value takes nothing.
 */
export function savedBytes(grad: GradFunc, primalParams: number, bytesPerElement = 8): Dim {
  const params = new Set(grad.body.params.map((p) => p.id));
  const saved = savedValues(grad, primalParams);
  const held = new Set([...params, ...saved.map((v) => v.id)]);
  const sourceOf = new Map<ValueId, ValueId>();
  forEachInstr(grad.body, (instr) => {
    if (instr.op === "reshape" && "result" in instr) sourceOf.set(instr.result.id, instr.args[0]!.id);
  });
  const shared = (id: ValueId): boolean => {
    for (let s = sourceOf.get(id); s !== undefined; s = sourceOf.get(s)) if (held.has(s)) return true;
    return false;
  };
  return saved
    .filter((v) => !params.has(v.id) && v.type.kind !== "tape" && !shared(v.id))
    .reduce<Dim>((n, v) => dimAdd(n, v.type.kind === "tensor" ? dimScale(sizeOf(v.type.shape), bytesPerElement) : 8), 0);
}

function forEachInstr(block: Block, visit: (instr: Instr) => void): void {
  for (const instr of block.instrs) {
    visit(instr);
    regionsOf(instr).forEach((r) => forEachInstr(r, visit));
  }
}
