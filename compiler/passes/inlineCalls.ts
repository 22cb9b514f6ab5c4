// Before forward mode runs over a gradient function (the HVP: forward over reverse), each
// `call` of a derivative rule (ops/custom.ts) is replaced by the rule's body, inlined with
// fresh values: forward mode differentiates instructions, and a call is not one it can see
// into. fHvp thus differentiates the rule, as it would any code.

import { createBuilder } from "../ir/builder.js";
import { inlineFunc } from "../ir/inline.js";
import { Func, GradFunc, SimpleInstr } from "../ir/types.js";
import { maxValueId } from "../ir/walk.js";
import { rewriteSimple } from "./rewrite.js";

export function inlineCalls<F extends Func | GradFunc>(fn: F): F {
  if (!fn.rules) return fn;
  const b = createBuilder(maxValueId(fn.body) + 1, fn.loc);
  return rewriteSimple(fn, (x, args, out, subst) => {
    if (x.op !== "call") {
      out.push({ ...x, args } as SimpleInstr);
      return;
    }
    const { rule } = x.attrs as { rule: number };
    b.loc = x.loc;
    b.origin = x.origin;
    const instrs = b.block(() => subst.set(x.result.id, inlineFunc(b, fn.rules![rule]!, args)[0]!));
    out.push(...instrs);
  });
}
