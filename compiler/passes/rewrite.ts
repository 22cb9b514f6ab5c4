// Shared plumbing for passes: value substitution, and rebuilding a function's top-level
// instruction list while keeping a GradFunc's forward/backward split where it was.

import { Block, Func, GradFunc, Instr, Value, ValueId } from "../ir/types.js";

export type Subst = Map<ValueId, Value>;

/** Follows a substitution chain to the value that replaces v. */
export function resolve(subst: Subst, v: Value): Value {
  let cur = v;
  for (let r = subst.get(cur.id); r; r = subst.get(cur.id)) cur = r;
  return cur;
}

/**
 * Rebuilds fn's top-level block: `each` appends the replacement of one instruction to
 * `out` (any number of instructions). A GradFunc's splitAt moves to where the forward
 * part's replacements end.
 */
export function rewriteFunction<F extends Func | GradFunc>(
  fn: F,
  each: (instr: Instr, out: Instr[]) => void,
  yields: (vs: readonly Value[]) => readonly Value[],
): F {
  const out: Instr[] = [];
  let splitAt = 0;
  fn.body.instrs.forEach((instr, n) => {
    if ("splitAt" in fn && n === fn.splitAt) splitAt = out.length;
    each(instr, out);
  });
  if ("splitAt" in fn && fn.splitAt >= fn.body.instrs.length) splitAt = out.length;
  const body: Block = { params: fn.body.params, instrs: out, yields: yields(fn.body.yields) };
  return "splitAt" in fn ? { ...fn, body, splitAt } : { ...fn, body };
}
