// Constant folding and algebraic simplification.
//
// Folds scalar ops whose arguments are constants (with the same JavaScript semantics the
// generated code has, see ir/evaluate.ts), and applies only identities that hold for every
// float64 input, NaN and infinities included:
//   x + 0 -> x, 0 + x -> x, x - 0 -> x, 0 - x -> -x, x * 1 -> x, x / 1 -> x, x * -1 -> -x,
//   -(-x) -> x, x + (-y) -> x - y, x - (-y) -> x + y, x ** 1 -> x,
//   tensor + zeros -> tensor, select(c, a, a) -> a, reshape to the same shape -> x.
// The only difference these can make is the sign of a zero result (x + 0 with x = -0).
// x * 0 -> 0 is NOT applied: it is wrong for x = NaN or ±Infinity.
// Regions: an if with a constant condition is replaced by its branch; an if result that
// both branches yield as the same outer value is that value; a loop-carried value that the
// body passes through unchanged is the initial value; a loop that runs once is inlined and
// one that never runs is removed.

import { evaluate, familyOf } from "../ops/index.js";
import {
  Block, ForInstr, Func, GradFunc, Instr, SimpleInstr, Value, ValueId, WhileInstr, isSimple, staticTrip, typeEquals,
} from "../ir/types.js";
import { maxValueId } from "../ir/walk.js";
import { Subst, resolve, rewriteFunction } from "./rewrite.js";

export function foldConstants<F extends Func | GradFunc>(fn: F): F {
  const subst: Subst = new Map();
  const s = (v: Value): Value => resolve(subst, v);
  const consts = new Map<ValueId, number>();
  const bools = new Map<ValueId, boolean>();
  const defs = new Map<ValueId, SimpleInstr>();
  let nextId = maxValueId(fn.body) + 1;
  const num = (v: Value): number | undefined => consts.get(v.id);
  const isZeros = (v: Value): boolean => defs.get(v.id)?.op === "zeros";

  /** Emits a new simple instruction (a constant or a rewritten op) into out. */
  const fresh = (out: Instr[], like: SimpleInstr, op: SimpleInstr["op"], args: Value[], attrs: object): Value => {
    const result: Value = { ...like.result, id: nextId++ as ValueId };
    const instr = { op, result, args, attrs, loc: like.loc } as SimpleInstr;
    out.push(instr);
    record(instr);
    return result;
  };
  const record = (instr: SimpleInstr): void => {
    defs.set(instr.result.id, instr);
    if (instr.op === "const") consts.set(instr.result.id, (instr.attrs as { value: number }).value);
  };
  /** Did anything change? (else the pass returns fn itself, and simplification stops) */
  let changed = false;
  const replace = (from: Value, to: Value): void => {
    if (from.id !== to.id) {
      subst.set(from.id, to);
      changed = true;
    }
  };

  const foldBlock = (block: Block, params: readonly Value[] = block.params): Block => {
    const out: Instr[] = [];
    for (const instr of block.instrs) foldInstr(instr, out);
    return { params, instrs: out, yields: block.yields.map(s) };
  };

  const foldSimple = (instr0: SimpleInstr, out: Instr[]): void => {
    const instr: SimpleInstr = { ...instr0, args: instr0.args.map(s) };
    const { op, args, result } = instr;
    const [a, b] = args;
    const ka = a && num(a);
    const kb = b && num(b);
    const scalar = result.type.kind === "f64";
    // all-constant scalar ops
    if (scalar && args.length > 0 && args.every((x) => num(x) !== undefined)) {
      const v = evaluate(op, args.map((x) => num(x)!));
      if (typeof v === "number") {
        replace(result, fresh(out, instr, "const", [], { value: v }));
        return;
      }
    }
    if (familyOf(op) === "compare" && ka !== undefined && kb !== undefined) {
      bools.set(result.id, evaluate(op, [ka, kb]) as boolean);
    }
    const ba = a && bools.get(a.id);
    const bb = b && bools.get(b.id);
    if (op === "not" && ba !== undefined) bools.set(result.id, !ba);
    if (op === "and" && ba !== undefined && bb !== undefined) bools.set(result.id, ba && bb);
    if (op === "or" && ba !== undefined && bb !== undefined) bools.set(result.id, ba || bb);

    const same = (v: Value): boolean => typeEquals(v.type, result.type);
    const to = (v: Value): void => replace(result, v);
    switch (op) {
      case "add":
        if (kb === 0 && same(a!)) return to(a!);
        if (ka === 0 && same(b!)) return to(b!);
        if (isZeros(b!) && same(a!)) return to(a!);
        if (isZeros(a!) && same(b!)) return to(b!);
        if (defs.get(b!.id)?.op === "neg") return to(fresh(out, instr, "sub", [a!, defs.get(b!.id)!.args[0]!], {}));
        break;
      case "sub":
        if (kb === 0 && same(a!)) return to(a!);
        if (isZeros(b!) && same(a!)) return to(a!);
        if (ka === 0 && same(b!)) return to(fresh(out, instr, "neg", [b!], {}));
        if (defs.get(b!.id)?.op === "neg") return to(fresh(out, instr, "add", [a!, defs.get(b!.id)!.args[0]!], {}));
        break;
      case "mul":
        if (kb === 1 && same(a!)) return to(a!);
        if (ka === 1 && same(b!)) return to(b!);
        if (kb === -1 && same(a!)) return to(fresh(out, instr, "neg", [a!], {}));
        if (ka === -1 && same(b!)) return to(fresh(out, instr, "neg", [b!], {}));
        break;
      case "div":
        if (kb === 1 && same(a!)) return to(a!);
        break;
      case "pow":
        if (kb === 1 && same(a!)) return to(a!);
        break;
      case "neg":
        if (defs.get(a!.id)?.op === "neg") return to(defs.get(a!.id)!.args[0]!);
        break;
      case "select": {
        const c = bools.get(a!.id);
        if (c !== undefined) return to(c ? b! : args[2]!);
        if (b!.id === args[2]!.id) return to(b!);
        break;
      }
      case "reshape":
        if (same(a!)) return to(a!);
        if (defs.get(a!.id)?.op === "reshape") {
          return to(fresh(out, instr, "reshape", [defs.get(a!.id)!.args[0]!], instr.attrs));
        }
        break;
    }
    out.push(instr);
    record(instr);
  };

  const foldInstr = (instr: Instr, out: Instr[]): void => {
    if (isSimple(instr)) return foldSimple(instr, out);
    if (instr.op === "if") {
      const cond = s(instr.cond);
      const fixed = bools.get(cond.id);
      if (fixed !== undefined) {
        changed = true;
        const taken = foldBlock(fixed ? instr.then : instr.else);
        out.push(...taken.instrs);
        instr.results.forEach((r, k) => replace(r, taken.yields[k]!));
        return;
      }
      const thenB = foldBlock(instr.then);
      const elseB = foldBlock(instr.else);
      const keep: number[] = [];
      instr.results.forEach((r, k) => {
        if (thenB.yields[k]!.id === elseB.yields[k]!.id) replace(r, thenB.yields[k]!);
        else keep.push(k);
      });
      if (keep.length === 0) {
        changed = true;
        return;
      }
      out.push({
        ...instr,
        cond,
        results: keep.map((k) => instr.results[k]!),
        then: { ...thenB, yields: keep.map((k) => thenB.yields[k]!) },
        else: { ...elseB, yields: keep.map((k) => elseB.yields[k]!) },
      });
      return;
    }
    if (instr.op === "while") return foldWhile(instr, out);
    foldFor(instr, out);
  };

  const foldWhile = (W: WhileInstr, out: Instr[]): void => {
    const init = W.init.map(s);
    // pass-through carried values are loop invariant
    const invariant = W.body.params.map((p, k) => W.body.yields[k]!.id === p.id);
    W.body.params.forEach((p, k) => invariant[k] && replace(p, init[k]!));
    W.cond.params.forEach((p, k) => invariant[k] && replace(p, init[k]!));
    W.results.forEach((r, k) => invariant[k] && replace(r, init[k]!));
    const cond = foldBlock(W.cond);
    const body = foldBlock(W.body);
    const keep = W.body.params.map((_, k) => k).filter((k) => !invariant[k]);
    const pick = <T>(xs: readonly T[]): T[] => keep.map((k) => xs[k]!);
    out.push({
      ...W,
      init: pick(init),
      results: pick(W.results),
      cond: { params: pick(W.cond.params), instrs: cond.instrs, yields: cond.yields },
      body: { params: pick(W.body.params), instrs: body.instrs, yields: pick(body.yields) },
    });
  };

  const foldFor = (L0: ForInstr, out: Instr[]): void => {
    const L: ForInstr = { ...L0, start: s(L0.start), end: s(L0.end) };
    const trip = staticTrip(L, num);
    const init = L.init.map(s);
    const [iv, ...carried] = L.body.params as [Value, ...Value[]];
    if (trip === 0) {
      changed = true;
      L.results.forEach((r, k) => replace(r, init[k]!));
      return;
    }
    if (trip === 1) {
      changed = true;
      // inline the single iteration
      replace(iv, L.start);
      carried.forEach((p, k) => replace(p, init[k]!));
      const body = foldBlock(L.body);
      out.push(...body.instrs);
      L.results.forEach((r, k) => replace(r, body.yields[k]!));
      return;
    }
    // pass-through carried values are loop invariant
    const invariant = carried.map((p, k) => L.body.yields[k]!.id === p.id);
    carried.forEach((p, k) => invariant[k] && replace(p, init[k]!));
    const body = foldBlock(L.body);
    const keep = carried.map((_, k) => k).filter((k) => !invariant[k]);
    carried.forEach((_, k) => !keep.includes(k) && replace(L.results[k]!, init[k]!));
    if (keep.length === 0) {
      // nothing carried: the loop computes nothing observable
      changed = true;
      return;
    }
    out.push({
      ...L,
      init: keep.map((k) => init[k]!),
      results: keep.map((k) => L.results[k]!),
      body: { params: [iv, ...keep.map((k) => carried[k]!)], instrs: body.instrs, yields: keep.map((k) => body.yields[k]!) },
    });
  };

  const next = rewriteFunction(fn, foldInstr, (ys) => ys.map(s));
  return changed ? next : fn;
}
