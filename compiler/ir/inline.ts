// Inlining a closed function (a derivative rule, Func.rules) into the block being built:
// its instructions are copied with fresh values, its parameters bound to the arguments.

import { Builder, makeBlock, makeFor, makeIf, makeWhile } from "./builder.js";
import { Block, Func, GradFunc, Instr, Value, ValueId, isSimple } from "./types.js";
import { regionsOf } from "./walk.js";

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

/**
 * Can rule be called as a plain function of the generated module (SPEC 6)? Yes when it
 * takes and returns numbers and holds no tensor or tape: then it is a function of numbers
 * that needs no buffers. Other rules (tensors, tuples) are inlined.
 */
export function isCallableRule(rule: Func): boolean {
  const { params, yields } = rule.body;
  if (yields.length !== 1 || yields[0]!.type.kind !== "f64" || params.some((p) => p.type.kind !== "f64")) return false;
  const stack = [rule.body];
  while (stack.length) {
    const block = stack.pop()!;
    if (block.params.some((p) => p.type.kind === "tensor" || p.type.kind === "tape")) return false;
    for (const instr of block.instrs) {
      if ((isSimple(instr) ? [instr.result] : instr.results).some((r) => r.type.kind === "tensor" || r.type.kind === "tape")) return false;
      // (a rule calling a helper that has rules of its own is inlined, where they apply)
      if (instr.op === "custom") return false;
      stack.push(...regionsOf(instr));
    }
  }
  return true;
}

/** Applies fn's derivative rule k to args: a `call` of it where it is callable, else its body inlined. */
export function applyRule(b: Builder, fn: Func | GradFunc, k: number, args: readonly Value[]): Value {
  const rule = fn.rules?.[k];
  if (!rule) throw new Error(`internal: ${fn.name} has no derivative rule ${k}`);
  return isCallableRule(rule) ? b.emit("call", args, { rule: k, name: rule.name }) : inlineFunc(b, rule, args)[0]!;
}
