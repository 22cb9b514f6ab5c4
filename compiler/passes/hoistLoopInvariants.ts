// Loop-invariant code motion for scalars: an instruction of a loop body whose operands are
// all defined outside the loop computes the same number in every iteration, so it moves
// before the loop (innermost loops first, so a value leaves every loop that does not change
// it). Only scalar results move: a tensor op inside a loop is usually a buffer the body
// fills, and hoisting it would not save its work. A run-time check (checkIndex) moves only
// out of a loop that runs at least once, so that it never throws for an access the program
// does not make; every other op here is pure and cannot throw.

import { Block, ForInstr, Func, GradFunc, Instr, SimpleInstr, ValueId, isSimple, staticTrip } from "../ir/types.js";
import { familyOf } from "../ops/index.js";
import { rewriteFunction } from "./rewrite.js";

const MOVABLE = new Set(["unary", "binary", "scalarBinary", "compare", "logic"]);

function movable(instr: SimpleInstr, runsOnce: boolean): boolean {
  if (instr.result.type.kind === "tensor") return false;
  if (instr.op === "const") return true;
  if (instr.op === "index") return true; // a scalar element of a tensor value (values are immutable)
  if (instr.op === "checkIndex") return runsOnce;
  return MOVABLE.has(familyOf(instr.op)) && instr.args.every((a) => a.type.kind !== "tensor");
}

export function hoistLoopInvariants<F extends Func | GradFunc>(fn: F): F {
  /** Moves invariant instructions out of the loops in `instrs`, returning the new list. */
  const processList = (instrs: readonly Instr[]): Instr[] => {
    const out: Instr[] = [];
    for (const instr of instrs) {
      if (isSimple(instr)) out.push(instr);
      else if (instr.op === "if") out.push({ ...instr, then: processBlock(instr.then), else: processBlock(instr.else) });
      else if (instr.op === "while") out.push({ ...instr, cond: processBlock(instr.cond), body: processBlock(instr.body) });
      else out.push(...hoistFrom(instr));
    }
    return out;
  };
  const processBlock = (b: Block): Block => ({ ...b, instrs: processList(b.instrs) });

  /** The instructions that leave loop L, followed by L without them. */
  const hoistFrom = (L: ForInstr): Instr[] => {
    const body = processBlock(L.body);
    const inside = new Set<ValueId>(body.params.map((p) => p.id));
    const hoisted: Instr[] = [];
    const kept: Instr[] = [];
    const runsOnce = (staticTrip(L, (v) => constants.get(v.id)) ?? 0) > 0;
    for (const instr of body.instrs) {
      if (isSimple(instr) && movable(instr, runsOnce) && instr.args.every((a) => !inside.has(a.id))) {
        hoisted.push(instr);
        continue;
      }
      kept.push(instr);
      for (const r of isSimple(instr) ? [instr.result] : instr.results) inside.add(r.id);
    }
    if (hoisted.length === 0) return [{ ...L, body }];
    changed = true;
    return [...hoisted, { ...L, body: { ...body, instrs: kept } }];
  };

  let changed = false;
  const constants = new Map<ValueId, number>();
  const collect = (b: Block): void => {
    for (const instr of b.instrs) {
      if (instr.op === "const") constants.set(instr.result.id, (instr.attrs as { value: number }).value);
      if (instr.op === "if") (collect(instr.then), collect(instr.else));
      else if (instr.op === "for") collect(instr.body);
      else if (instr.op === "while") (collect(instr.cond), collect(instr.body));
    }
  };
  collect(fn.body);
  const next = rewriteFunction(fn, (instr, out) => out.push(...processList([instr])), (ys) => ys);
  return changed ? next : fn;
}
