// Once differentiation is done, a `custom` instruction (a helper call with its own derivative
// rules, ops/custom.ts) is its body's value: each is replaced by its last argument. The
// function keeps its rules only if it calls some (a `call` of a rule of numbers, which the
// generated module declares as a plain function).

import { Block, Func, GradFunc, Instr, SimpleInstr, Value, isSimple } from "../ir/types.js";
import { Subst, resolve, rewriteFunction } from "./rewrite.js";

export function eraseCustom<F extends Func | GradFunc>(fn: F): F {
  if (!fn.rules) return fn;
  const subst: Subst = new Map();
  const s = (v: Value): Value => resolve(subst, v);
  const block = (blk: Block): Block => {
    const out: Instr[] = [];
    for (const x of blk.instrs) each(x, out);
    return { params: blk.params, instrs: out, yields: blk.yields.map(s) };
  };
  let calls = false;
  const each = (x: Instr, out: Instr[]): void => {
    if (isSimple(x)) {
      calls ||= x.op === "call";
      if (x.op === "custom") subst.set(x.result.id, s(x.args[x.args.length - 1]!));
      else out.push({ ...x, args: x.args.map(s) } as SimpleInstr);
    } else if (x.op === "if") out.push({ ...x, cond: s(x.cond), then: block(x.then), else: block(x.else) });
    else if (x.op === "while") out.push({ ...x, init: x.init.map(s), cond: block(x.cond), body: block(x.body) });
    else out.push({ ...x, start: s(x.start), end: s(x.end), init: x.init.map(s), body: block(x.body) });
  };
  const { rules, ...rest } = rewriteFunction(fn, each, (ys) => ys.map(s));
  return (calls ? { ...rest, rules } : rest) as F;
}
