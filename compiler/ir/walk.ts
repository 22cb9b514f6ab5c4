// Walks over nested regions: the one place that knows which instructions own blocks.

import { Block, Instr, Value, operandsOf, resultsOf } from "./types.js";

/** The regions an instruction owns. */
export function regionsOf(instr: Instr): readonly Block[] {
  return instr.op === "if" ? [instr.then, instr.else] : instr.op === "for" ? [instr.body] : instr.op === "while" ? [instr.cond, instr.body] : [];
}

/** Every value a block defines, recursively: block parameters and instruction results. */
export function forEachDefinition(block: Block, visit: (v: Value) => void): void {
  block.params.forEach(visit);
  for (const instr of block.instrs) {
    resultsOf(instr).forEach(visit);
    regionsOf(instr).forEach((r) => forEachDefinition(r, visit));
  }
}

/** Every value a block reads, recursively, in program order: operands, then yields. */
export function forEachUse(block: Block, visit: (v: Value) => void): void {
  for (const instr of block.instrs) {
    operandsOf(instr).forEach(visit);
    regionsOf(instr).forEach((r) => forEachUse(r, visit));
  }
  block.yields.forEach(visit);
}


/** The largest value id in a block (a pass that adds values numbers them after it). */
export function maxValueId(block: Block): number {
  let m = -1;
  forEachDefinition(block, (v) => (m = Math.max(m, v.id)));
  return m;
}
