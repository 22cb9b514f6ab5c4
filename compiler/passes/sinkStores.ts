// Store sinking: an `if` inside a loop whose branches both end by storing one element of
// the same tensor becomes an `if` that yields the element's indices and value, followed by
// one store after it:
//
//   if (c) D[i][j] = 0; else D[i][j] = f(D[i - 1][j]);
//   ->  [at0, at1, v] = c ? [i, j, 0] : [i, j, f(D[i - 1][j])];  D[at0][at1] = v;
//
// Inner ifs first, so an else-if chain collapses into one store. The branches keep their
// run-time index checks (they yield the checked indices). Nothing changes for the values
// computed; what changes is that the loop body writes the tensor in a straight line of
// stores, which reverse mode can undo element by element (undoTapes.ts) instead of saving
// the whole tensor each iteration. An `accum` (`+=`) in a branch becomes a store of the
// element plus the value. Only ifs inside loops are rewritten: at the top level nothing is
// saved per iteration, and the source's shape is kept.

import { Block, F64, Func, IfInstr, Instr, SimpleInstr, Value, ValueId, isSimple } from "../ir/types.js";
import { forEachUse, maxValueId } from "../ir/walk.js";

export function sinkStores(fn: Func): Func {
  let next = maxValueId(fn.body) + 1;
  const fresh = (name?: string): Value => ({ id: next++ as ValueId, type: F64, ...(name ? { name } : {}) });
  let changed = false;

  const block = (b: Block, inLoop: boolean): Block => {
    const instrs: Instr[] = [];
    for (const instr of b.instrs) {
      if (isSimple(instr)) instrs.push(instr);
      else if (instr.op === "for") instrs.push({ ...instr, body: block(instr.body, true) });
      else if (instr.op === "while") instrs.push({ ...instr, cond: block(instr.cond, true), body: block(instr.body, true) });
      else {
        const inner: IfInstr = { ...instr, then: block(instr.then, inLoop), else: block(instr.else, inLoop) };
        instrs.push(...(inLoop ? sink(inner) : [inner]));
      }
    }
    return changed ? { ...b, instrs } : b;
  };

  /** The if with each sinkable tensor result replaced by its store after it. */
  const sink = (I: IfInstr): Instr[] => {
    let cur = I;
    const after: SimpleInstr[] = [];
    for (let m = cur.results.length - 1; m >= 0; m--) {
      const r = cur.results[m]!;
      if (r.type.kind !== "tensor") continue;
      const t = lastStore(cur.then, m);
      const e = lastStore(cur.else, m);
      if (!t || !e || t.store.args[0]!.id !== e.store.args[0]!.id) continue;
      const target = t.store.args[0]!;
      if (cur.then.yields.some((y) => y.id === target.id) || cur.else.yields.some((y) => y.id === target.id)) continue;
      const rank = t.store.args.length - 2;
      // an index both branches compute from the same outer value needs no yield: the check
      // (if any) moves after the if, where the one store is
      const shared = Array.from({ length: rank }, (_, d) => {
        const a = outerIndex(cur.then, t.store.args[d + 1]!);
        const b = outerIndex(cur.else, e.store.args[d + 1]!);
        return a && b && a.value.id === b.value.id && !!a.check === !!b.check ? a : undefined;
      });
      const split = (side: { block: Block; store: SimpleInstr }): Block => {
        const { block: bl, store } = side;
        let value = store.args[rank + 1]!;
        const extra: Instr[] = [];
        if (store.op === "accum") {
          const old = fresh("old");
          const sum = fresh();
          extra.push(
            { op: "index", result: old, args: store.args.slice(0, rank + 1), attrs: {}, loc: store.loc },
            { op: "add", result: sum, args: [old, value], attrs: {}, loc: store.loc },
          );
          value = sum;
        }
        const yields = [...bl.yields.slice(0, m), ...bl.yields.slice(m + 1), ...store.args.slice(1, rank + 1).filter((_, d) => !shared[d]), value];
        return { ...bl, instrs: [...bl.instrs.filter((x) => x !== store), ...extra], yields };
      };
      const at = shared.map((sh) => (sh ? undefined : fresh("at")));
      const v = fresh(r.name);
      const checks: SimpleInstr[] = [];
      const idx = shared.map((sh, d) => {
        if (!sh) return at[d]!;
        if (!sh.check) return sh.value;
        const checked: Value = { ...sh.check.result, id: next++ as ValueId };
        checks.push({ ...sh.check, result: checked });
        return checked;
      });
      const then = split(t);
      const els = split(e);
      cur = {
        ...cur,
        results: [...cur.results.slice(0, m), ...cur.results.slice(m + 1), ...at.filter((x): x is Value => !!x), v],
        then,
        else: els,
      };
      after.unshift(...checks, { op: "store", result: r, args: [target, ...idx, v], attrs: {}, loc: t.store.loc });
      changed = true;
    }
    return [cur, ...after];
  };

  const body = block(fn.body, false);
  return changed ? { ...fn, body } : fn;
}

/** An index a branch computes from an outer value: the value itself, or its run-time check in the branch. */
function outerIndex(b: Block, v: Value): { value: Value; check?: SimpleInstr } | undefined {
  const def = b.instrs.find((x) => (isSimple(x) ? [x.result] : x.results).some((r) => r.id === v.id));
  if (!def) return { value: v };
  if (isSimple(def) && def.op === "checkIndex" && !definedIn(b, def.args[0]!)) return { value: def.args[0]!, check: def };
  return undefined;
}

function definedIn(b: Block, v: Value): boolean {
  return b.instrs.some((x) => (isSimple(x) ? [x.result] : x.results).some((r) => r.id === v.id));
}

/**
 * The store (or accum) that makes a branch's yield m, when it is the branch's only write of
 * that tensor (its target is the value from outside the branch), writes one number at a
 * full index, and nothing else in the branch reads what it made.
 */
function lastStore(b: Block, m: number): { block: Block; store: SimpleInstr } | undefined {
  const y = b.yields[m]!;
  const store = b.instrs.find((x): x is SimpleInstr => isSimple(x) && x.result.id === y.id);
  if (!store || (store.op !== "store" && store.op !== "accum")) return undefined;
  const target = store.args[0]!;
  if (target.type.kind !== "tensor" || store.args.length !== target.type.shape.length + 2) return undefined;
  if (store.args[store.args.length - 1]!.type.kind !== "f64") return undefined;
  // the target comes from outside the branch
  if (b.instrs.some((x) => (isSimple(x) ? [x.result] : x.results).some((r) => r.id === target.id))) return undefined;
  let uses = 0;
  forEachUse(b, (v) => v.id === y.id && uses++);
  return uses === 1 ? { block: b, store } : undefined;
}
