// Skipping an adjoint loop whose adjoint is zero. The adjoint of a selection (Math.min and
// Math.max, a relu written as `x > 0 ? x : 0`, the branch of a comparison) is zero on the
// side not taken, and a loop of the backward pass that only adds multiples of it into
// adjoints then adds zeros. k-means is the example: each point's distance to every
// centroid is computed, only the closest one's adjoint is not zero, and without this the
// backward pass runs the d-long loop of every centroid for every point:
//
//   const dd = closest <= dist ? 0 : dclosest;
//   if (dd !== 0) {
//     for (let l = D - 1; l > -1; l--) dcentroids[j * D + l] += -2 * dd * (points[i * D + l] - centroids[j * D + l]);
//   }
//
// A loop of the backward pass (at any depth under it) is guarded when every value it
// carries is either passed through or updated by adding (`+`, `-`, `+=` at an index) terms
// that are products of such a selected adjoint (a `select` or an `if` result with a zero
// on one side, defined outside the loop): zero whenever every one of those adjoints is
// zero. The guard's `if` yields the loop's initial values when they are all zero. The
// loop's reads of data need no check there (a loop holding a run-time index check is left
// alone), and its terms are then 0 times finite numbers, which add nothing; a term with an
// infinite or NaN factor would have added NaN: like Tapenade, which differentiates only
// the branch taken, adgen does not send an adjoint down a side that was not selected.
//
// The guard is an `if` marked `guard`, so that forward mode (the HVP, forward over this
// reverse) also runs the loop when a selected adjoint's tangent is not zero.

import { BOOL, Block, F64, ForInstr, GradFunc, IfInstr, Instr, SimpleInstr, Value, ValueId, isSimple } from "../ir/types.js";
import { forEachDefinition, maxValueId, regionsOf } from "../ir/walk.js";

/** At most this many selected adjoints in one guard (each is a comparison). */
const MAX_GUARDS = 4;

export function skipZeroAdjoints(fn: GradFunc): GradFunc {
  const defs = new Map<ValueId, Instr>();
  const collect = (block: Block): void => {
    for (const instr of block.instrs) {
      if (isSimple(instr)) defs.set(instr.result.id, instr);
      else instr.results.forEach((r) => defs.set(r.id, instr));
      regionsOf(instr).forEach(collect);
    }
  };
  collect(fn.body);
  let next = maxValueId(fn.body) + 1;
  const fresh = (type: Value["type"], name?: string): Value => ({ id: next++ as ValueId, type, ...(name ? { name } : {}) });
  let changed = false;

  const isZero = (v: Value): boolean => {
    const d = defs.get(v.id);
    return !!d && d.op === "const" && (d as SimpleInstr<"const">).attrs.value === 0;
  };
  /** A number that is zero on one side of a selection: a select or an if result with a constant zero. */
  const selected = (v: Value): boolean => {
    if (v.type.kind !== "f64") return false;
    const d = defs.get(v.id);
    if (!d) return false;
    if (d.op === "select") return isZero((d as SimpleInstr).args[1]!) || isZero((d as SimpleInstr).args[2]!);
    if (d.op === "if") {
      const k = d.results.findIndex((r) => r.id === v.id);
      return isZero(d.then.yields[k]!) || isZero(d.else.yields[k]!);
    }
    return false;
  };

  /**
   * The selected adjoints whose being zero makes the loop add nothing, or undefined if
   * there are none (some carried value changes otherwise).
   */
  const guardsOf = (L: ForInstr): Value[] | undefined => {
    const inside = new Set<ValueId>();
    forEachDefinition(L.body, (v) => inside.add(v.id));
    let checks = false;
    const scan = (block: Block): void => {
      for (const instr of block.instrs) {
        if (instr.op === "checkIndex") checks = true;
        regionsOf(instr).forEach(scan);
      }
    };
    scan(L.body);
    if (checks) return undefined;
    const own = new Map<ValueId, SimpleInstr>();
    for (const instr of L.body.instrs) if (isSimple(instr)) own.set(instr.result.id, instr);
    // zeroWhen(v): selected adjoints such that v is zero when all of them are (undefined: none)
    const memo = new Map<ValueId, Set<ValueId> | undefined>();
    const byId = new Map<ValueId, Value>();
    const zeroWhen = (v: Value): Set<ValueId> | undefined => {
      if (memo.has(v.id)) return memo.get(v.id);
      let z: Set<ValueId> | undefined;
      if (!inside.has(v.id)) {
        if (isZero(v)) z = new Set();
        else if (selected(v)) {
          z = new Set([v.id]);
          byId.set(v.id, v);
        }
      } else {
        const d = own.get(v.id);
        if (d) {
          const [a, b] = d.args;
          if (d.op === "mul") {
            const za = zeroWhen(a!);
            const zb = zeroWhen(b!);
            z = za && zb ? (za.size <= zb.size ? za : zb) : (za ?? zb);
          } else if (d.op === "div" || d.op === "neg") {
            z = zeroWhen(a!);
          } else if (d.op === "add" || d.op === "sub") {
            const za = zeroWhen(a!);
            const zb = zeroWhen(b!);
            z = za && zb ? new Set([...za, ...zb]) : undefined;
          } else if (d.op === "select") {
            const za = zeroWhen(b!);
            const zc = zeroWhen(d.args[2]!);
            z = za && zc ? new Set([...za, ...zc]) : undefined;
          }
        }
      }
      memo.set(v.id, z);
      return z;
    };
    const all = new Set<ValueId>();
    const carried = L.body.params.slice(1);
    for (let k = 0; k < carried.length; k++) {
      const p = carried[k]!;
      let y = L.body.yields[k]!;
      // walk the chain of additions back from the yield to the carried value
      for (let steps = 0; y.id !== p.id; steps++) {
        const d = own.get(y.id);
        if (!d || steps > L.body.instrs.length) return undefined;
        let term: Value | undefined;
        let prev: Value | undefined;
        if (d.op === "accum") {
          prev = d.args[0];
          term = d.args[d.args.length - 1];
        } else if (d.op === "add" && d.args[0]!.type.kind === y.type.kind && zeroWhen(d.args[1]!)) {
          prev = d.args[0];
          term = d.args[1];
        } else if (d.op === "add" && d.args[1]!.type.kind === y.type.kind) {
          prev = d.args[1];
          term = d.args[0];
        } else if (d.op === "sub" && d.args[0]!.type.kind === y.type.kind) {
          prev = d.args[0];
          term = d.args[1];
        }
        const z = term && zeroWhen(term);
        if (!z || !prev) return undefined;
        z.forEach((id) => all.add(id));
        y = prev;
      }
    }
    if (all.size === 0 || all.size > MAX_GUARDS) return undefined;
    return [...all].map((id) => byId.get(id)!);
  };

  const guard = (L: ForInstr, zs: readonly Value[]): Instr[] => {
    const instrs: Instr[] = [];
    const emit = <K extends SimpleInstr["op"]>(op: K, args: Value[], type: Value["type"], attrs: object = {}): Value => {
      const result = fresh(type);
      instrs.push({ op, result, args, attrs, loc: L.loc } as unknown as SimpleInstr);
      return result;
    };
    const zero = emit("const", [], F64, { value: 0 });
    let cond = emit("ne", [zs[0]!, zero], BOOL);
    for (const z of zs.slice(1)) cond = emit("or", [cond, emit("ne", [z, zero], BOOL)], BOOL);
    const results = L.results.map((r) => fresh(r.type, r.name));
    const I: IfInstr = {
      op: "if", results: L.results, cond, guard: true, loc: L.loc,
      then: { params: [], instrs: [{ ...L, results }], yields: results },
      else: { params: [], instrs: [], yields: L.init },
    };
    instrs.push(I);
    return instrs;
  };

  const block = (b: Block): Block => {
    const instrs: Instr[] = [];
    for (const instr of b.instrs) each(instr, instrs);
    return { ...b, instrs };
  };
  const each = (instr: Instr, out: Instr[]): void => {
    if (isSimple(instr)) out.push(instr);
    else if (instr.op === "if") out.push({ ...instr, then: block(instr.then), else: block(instr.else) });
    else if (instr.op === "while") out.push({ ...instr, cond: block(instr.cond), body: block(instr.body) });
    else {
      const L: ForInstr = { ...instr, body: block(instr.body) };
      const zs = guardsOf(L);
      if (zs) {
        changed = true;
        out.push(...guard(L, zs));
      } else out.push(L);
    }
  };

  // the backward pass only: a loop of the forward pass computes what the user wrote
  const out: Instr[] = fn.body.instrs.slice(0, fn.splitAt);
  for (const instr of fn.body.instrs.slice(fn.splitAt)) each(instr, out);
  return changed ? { ...fn, body: { ...fn.body, instrs: out } } : fn;
}

/** The selected adjoints a guard tests (`z !== 0 || ...`), found from its condition. */
export function guardedValues(cond: Value, defOf: (v: Value) => SimpleInstr | undefined): Value[] {
  const d = defOf(cond);
  if (!d) return [];
  if (d.op === "or") return [...guardedValues(d.args[0]!, defOf), ...guardedValues(d.args[1]!, defOf)];
  if (d.op === "ne") return [d.args[0]!];
  return [];
}
