// Inlining a closed function (a derivative rule, Func.rules) into the block being built:
// its instructions are copied with fresh values, its parameters bound to the arguments.

import { Builder, makeBlock, makeFor, makeIf, makeWhile } from "./builder.js";
import { Block, Func, GradFunc, Instr, Value, ValueId, isSimple } from "./types.js";

/** Appends fn's body to the builder's open block with its parameters bound to `args`; returns what it yields. */
export function inlineFunc(b: Builder, fn: Func, args: readonly Value[]): Value[] {
  if (args.length !== fn.body.params.length) throw new Error(`internal: inlining ${fn.name} with ${args.length} arguments, not ${fn.body.params.length}`);
  const map = new Map<ValueId, Value>();
  fn.body.params.forEach((p, k) => map.set(p.id, args[k]!));
  const use = (v: Value): Value => {
    const r = map.get(v.id);
    if (!r) throw new Error(`internal: ${fn.name} reads %${v.id}, which it does not define`);
    return r;
  };
  const fresh = (v: Value): Value => {
    const r = b.value(v.type, v.name);
    map.set(v.id, r);
    return r;
  };
  const block = (blk: Block): Block => {
    const params = blk.params.map(fresh);
    const instrs = b.block(() => blk.instrs.forEach(instr));
    return makeBlock(params, instrs, blk.yields.map(use));
  };
  const instr = (x: Instr): void => {
    if (isSimple(x)) {
      const args = x.args.map(use);
      b.push({ ...x, args, result: fresh(x.result), ...(b.origin === undefined ? {} : { origin: b.origin }) } as Instr);
    } else if (x.op === "if") {
      const cond = use(x.cond);
      const then = block(x.then);
      const els = block(x.else);
      b.push(makeIf(x.results.map(fresh), cond, then, els, x.loc));
    } else if (x.op === "for") {
      const [start, end, init] = [use(x.start), use(x.end), x.init.map(use)];
      const body = block(x.body);
      b.push(makeFor(x.results.map(fresh), start, end, x.step, init, body, x.loc));
    } else {
      const init = x.init.map(use);
      const cond = block(x.cond);
      const body = block(x.body);
      b.push(makeWhile(x.results.map(fresh), init, cond, body, x.loc));
    }
  };
  fn.body.instrs.forEach(instr);
  return fn.body.yields.map(use);
}

/** Inlines fn's derivative rule k (Func.rules); a rule yields one value. */
export function inlineRule(b: Builder, fn: Func | GradFunc, k: number, args: readonly Value[]): Value {
  const rule = fn.rules?.[k];
  if (!rule) throw new Error(`internal: ${fn.name} has no derivative rule ${k}`);
  return inlineFunc(b, rule, args)[0]!;
}
