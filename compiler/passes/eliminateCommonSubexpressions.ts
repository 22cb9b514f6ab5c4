// Common-subexpression elimination: a simple op with the same kind, arguments and
// attributes as one that dominates it (earlier in the same block or in an enclosing
// block) is replaced by that one's result. Ops that create a tensor to be filled in
// (zeros, broadcast, store, accum) are never merged: merging them would make two
// accumulators share one buffer and force a copy.

import { Block, Func, GradFunc, Instr, SimpleInstr, Value, isSimple } from "../ir/types.js";
import { Subst, resolve, rewriteFunction } from "./rewrite.js";

const FRESH = new Set(["zeros", "broadcast", "store", "accum", "tape", "push", "drop"]);

function keyOf(instr: SimpleInstr): string {
  if (instr.op === "const") {
    const v = (instr.attrs as { value: number }).value;
    return `const:${Object.is(v, -0) ? "-0" : String(v)}`;
  }
  return `${instr.op}(${instr.args.map((a) => a.id).join(",")})${JSON.stringify(instr.attrs)}`;
}

export function eliminateCommonSubexpressions<F extends Func | GradFunc>(fn: F): F {
  const subst: Subst = new Map();
  const s = (v: Value): Value => resolve(subst, v);

  // one table for the whole function: a block's entries are removed when it ends (an undo
  // log, not a copy per block: nesting costs nothing)
  const rewriteBlock = (block: Block, scope: Map<string, Value>): Block => {
    const mark = added.length;
    const out: Instr[] = [];
    for (const instr of block.instrs) rewriteInstr(instr, out, scope);
    while (added.length > mark) scope.delete(added.pop()!);
    return { params: block.params, instrs: out, yields: block.yields.map(s) };
  };
  const added: string[] = [];

  const rewriteInstr = (instr: Instr, out: Instr[], scope: Map<string, Value>): void => {
    if (isSimple(instr)) {
      const next: SimpleInstr = { ...instr, args: instr.args.map(s) };
      if (!FRESH.has(next.op)) {
        const key = keyOf(next);
        const prior = scope.get(key);
        if (prior) {
          subst.set(instr.result.id, prior);
          return;
        }
        scope.set(key, next.result);
        added.push(key);
      }
      out.push(next);
    } else if (instr.op === "if") {
      out.push({ ...instr, cond: s(instr.cond), then: rewriteBlock(instr.then, scope), else: rewriteBlock(instr.else, scope) });
    } else if (instr.op === "while") {
      out.push({ ...instr, init: instr.init.map(s), cond: rewriteBlock(instr.cond, scope), body: rewriteBlock(instr.body, scope) });
    } else {
      out.push({ ...instr, start: s(instr.start), end: s(instr.end), init: instr.init.map(s), body: rewriteBlock(instr.body, scope) });
    }
  };

  const top = new Map<string, Value>();
  const next = rewriteFunction(fn, (instr, out) => rewriteInstr(instr, out, top), (ys) => ys.map(s));
  return subst.size ? next : fn; // (unchanged: fn itself, so that simplification can stop)
}
