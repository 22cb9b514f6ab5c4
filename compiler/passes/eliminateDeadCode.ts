// Dead-code elimination. Every op is pure, so an instruction is dead when nothing live
// reads its results. Liveness flows backwards from the function's results; a loop-carried
// slot is live when the loop's result is, or when the body needs the incoming value to
// compute another live slot (a fixed point per loop). Dead slots are removed from loops
// (this is what drops the tapes the backward pass never reads), dead results from ifs.

import { Block, ForInstr, Func, GradFunc, IfInstr, Instr, ValueId, WhileInstr, isSimple } from "../ir/types.js";
import { rewriteFunction } from "./rewrite.js";

export function eliminateDeadCode<F extends Func | GradFunc>(fn: F): F {
  const live = new Set<ValueId>();
  const liveSlots = new Map<ForInstr | WhileInstr, Set<number>>();

  const markBlock = (block: Block): void => {
    for (let n = block.instrs.length - 1; n >= 0; n--) markInstr(block.instrs[n]!);
  };
  const markInstr = (instr: Instr): void => {
    if (isSimple(instr)) {
      if (live.has(instr.result.id)) instr.args.forEach((a) => live.add(a.id));
    } else if (instr.op === "if") {
      let any = false;
      instr.results.forEach((r, k) => {
        if (live.has(r.id)) {
          any = true;
          live.add(instr.then.yields[k]!.id);
          live.add(instr.else.yields[k]!.id);
        }
      });
      if (any) {
        live.add(instr.cond.id);
        markBlock(instr.then);
        markBlock(instr.else);
      }
    } else if (instr.op === "while") {
      // the condition decides every live slot's final value: it is live with the loop
      const slots = liveSlots.get(instr) ?? new Set<number>();
      liveSlots.set(instr, slots);
      instr.results.forEach((r, k) => live.has(r.id) && slots.add(k));
      if (slots.size === 0) return;
      for (;;) {
        const before = slots.size;
        live.add(instr.cond.yields[0]!.id);
        markBlock(instr.cond);
        slots.forEach((k) => live.add(instr.body.yields[k]!.id));
        markBlock(instr.body);
        instr.cond.params.forEach((p, k) => live.has(p.id) && slots.add(k));
        instr.body.params.forEach((p, k) => live.has(p.id) && slots.add(k));
        if (slots.size === before) break;
      }
      slots.forEach((k) => live.add(instr.init[k]!.id));
    } else {
      const slots = liveSlots.get(instr) ?? new Set<number>();
      liveSlots.set(instr, slots);
      const carried = instr.body.params.slice(1);
      instr.results.forEach((r, k) => live.has(r.id) && slots.add(k));
      for (;;) {
        const before = slots.size;
        slots.forEach((k) => live.add(instr.body.yields[k]!.id));
        if (slots.size) markBlock(instr.body);
        carried.forEach((p, k) => live.has(p.id) && slots.add(k));
        if (slots.size === before) break;
      }
      if (slots.size) {
        live.add(instr.start.id);
        live.add(instr.end.id);
      }
      slots.forEach((k) => live.add(instr.init[k]!.id));
    }
  };

  live.clear();
  fn.body.yields.forEach((y) => live.add(y.id));
  markBlock(fn.body);

  /** Was anything removed? (else the pass returns fn itself) */
  let changed = false;
  const sweepBlock = (block: Block): Block => {
    const out: Instr[] = [];
    for (const instr of block.instrs) sweep(instr, out);
    return { params: block.params, instrs: out, yields: block.yields };
  };
  const sweep = (instr: Instr, out: Instr[]): void => {
    if (isSimple(instr)) {
      if (live.has(instr.result.id)) out.push(instr);
      else changed = true;
    } else if (instr.op === "if") {
      const keep = instr.results.map((r) => live.has(r.id));
      if (!keep.every(Boolean)) changed = true;
      if (!keep.some(Boolean)) return;
      const pick = <T>(xs: readonly T[]): T[] => xs.filter((_, k) => keep[k]);
      const thenB = sweepBlock(instr.then);
      const elseB = sweepBlock(instr.else);
      const rebuilt: IfInstr = {
        ...instr,
        results: pick(instr.results),
        then: { ...thenB, yields: pick(instr.then.yields) },
        else: { ...elseB, yields: pick(instr.else.yields) },
      };
      out.push(rebuilt);
    } else if (instr.op === "while") {
      const slots = liveSlots.get(instr) ?? new Set<number>();
      if (slots.size < instr.results.length) changed = true;
      if (slots.size === 0) return;
      const pick = <T>(xs: readonly T[]): T[] => xs.filter((_, k) => slots.has(k));
      const cond = sweepBlock(instr.cond);
      const body = sweepBlock(instr.body);
      const rebuilt: WhileInstr = {
        ...instr,
        results: pick(instr.results),
        init: pick(instr.init),
        cond: { params: pick(instr.cond.params), instrs: cond.instrs, yields: instr.cond.yields },
        body: { params: pick(instr.body.params), instrs: body.instrs, yields: pick(instr.body.yields) },
      };
      out.push(rebuilt);
    } else {
      const slots = liveSlots.get(instr) ?? new Set<number>();
      if (slots.size < instr.results.length) changed = true;
      if (slots.size === 0) return;
      const pick = <T>(xs: readonly T[]): T[] => xs.filter((_, k) => slots.has(k));
      const body = sweepBlock(instr.body);
      const [iv, ...carried] = instr.body.params;
      const rebuilt: ForInstr = {
        ...instr,
        results: pick(instr.results),
        init: pick(instr.init),
        body: { params: [iv!, ...pick(carried)], instrs: body.instrs, yields: pick(instr.body.yields) },
      };
      out.push(rebuilt);
    }
  };
  const next = rewriteFunction(fn, sweep, (ys) => ys);
  return changed ? next : fn;
}
