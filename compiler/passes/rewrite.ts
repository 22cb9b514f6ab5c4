// Shared plumbing for passes: value substitution, and rebuilding a function's top-level
// instruction list while keeping a GradFunc's forward/backward split where it was.

import { Block, Func, GradFunc, Instr, SimpleInstr, Value, ValueId, isSimple } from "../ir/types.js";

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

/**
 * Rebuilds fn with each simple instruction (at any depth) replaced by what `simple` appends
 * to `out`, given its arguments with the substitution applied; `simple` may map the
 * instruction's result to another value in `subst`, which later uses then read. Regions are
 * rebuilt around their rewritten blocks.
 */
export function rewriteSimple<F extends Func | GradFunc>(
  fn: F,
  simple: (x: SimpleInstr, args: Value[], out: Instr[], subst: Subst) => void,
): F {
  const subst: Subst = new Map();
  const s = (v: Value): Value => resolve(subst, v);
  const block = (blk: Block): Block => {
    const out: Instr[] = [];
    for (const x of blk.instrs) each(x, out);
    return { params: blk.params, instrs: out, yields: blk.yields.map(s) };
  };
  const each = (x: Instr, out: Instr[]): void => {
    if (isSimple(x)) simple(x, x.args.map(s), out, subst);
    else if (x.op === "if") out.push({ ...x, cond: s(x.cond), then: block(x.then), else: block(x.else) });
    else if (x.op === "while") out.push({ ...x, init: x.init.map(s), cond: block(x.cond), body: block(x.body) });
    else out.push({ ...x, start: s(x.start), end: s(x.end), init: x.init.map(s), body: block(x.body) });
  };
  return rewriteFunction(fn, each, (ys) => ys.map(s));
}
