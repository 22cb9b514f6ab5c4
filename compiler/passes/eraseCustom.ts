// Once differentiation is done, a `custom` instruction (a helper call with its own derivative
// rules, ops/custom.ts) is its body's value: each is replaced by its last argument. The
// function keeps its rules only if it calls some (a `call` of a rule of numbers, which the
// generated module declares as a plain function).

import { Func, GradFunc, SimpleInstr } from "../ir/types.js";
import { rewriteSimple } from "./rewrite.js";

export function eraseCustom<F extends Func | GradFunc>(fn: F): F {
  if (!fn.rules) return fn;
  let calls = false;
  const { rules, ...rest } = rewriteSimple(fn, (x, args, out, subst) => {
    calls ||= x.op === "call";
    if (x.op === "custom") subst.set(x.result.id, args[args.length - 1]!);
    else out.push({ ...x, args } as SimpleInstr);
  });
  return (calls ? { ...rest, rules } : rest) as F;
}
