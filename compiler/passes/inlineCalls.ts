// Before forward mode runs over a gradient function (the HVP: forward over reverse), each
// `call` of a derivative rule (ops/custom.ts) is replaced by the rule's body, inlined with
// fresh values: forward mode differentiates instructions, and a call is not one it can see
// into. fHvp thus differentiates the rule, as it would any code.

import { createBuilder } from "../ir/builder.js";
import { inlineFunc } from "../ir/inline.js";
import { Block, Func, GradFunc, Instr, SimpleInstr, Value, isSimple } from "../ir/types.js";
import { maxValueId } from "../ir/walk.js";
import { Subst, resolve, rewriteFunction } from "./rewrite.js";

export function inlineCalls<F extends Func | GradFunc>(fn: F): F {
  if (!fn.rules) return fn;
  const b = createBuilder(maxValueId(fn.body) + 1, fn.loc);
  const subst: Subst = new Map();
  const s = (v: Value): Value => resolve(subst, v);
  const block = (blk: Block): Block => {
    const out: Instr[] = [];
    for (const x of blk.instrs) each(x, out);
    return { params: blk.params, instrs: out, yields: blk.yields.map(s) };
  };
  const each = (x: Instr, out: Instr[]): void => {
    if (isSimple(x)) {
      const args = x.args.map(s);
      if (x.op !== "call") {
        out.push({ ...x, args } as SimpleInstr);
        return;
      }
      const { rule } = x.attrs as { rule: number };
      let r: Value | undefined;
      b.loc = x.loc;
      b.origin = x.origin;
      out.push(...b.block(() => (r = inlineFunc(b, fn.rules![rule]!, args)[0]!)));
      subst.set(x.result.id, r!);
    } else if (x.op === "if") out.push({ ...x, cond: s(x.cond), then: block(x.then), else: block(x.else) });
    else if (x.op === "while") out.push({ ...x, init: x.init.map(s), cond: block(x.cond), body: block(x.body) });
    else out.push({ ...x, start: s(x.start), end: s(x.end), init: x.init.map(s), body: block(x.body) });
  };
  return rewriteFunction(fn, each, (ys) => ys.map(s));
}
