// The index range analysis, a pass over an entry's lowered IR. Every index into a tensor
// (and every class label) gets an interval of the values it can take:
//
// - loop counters range over their loop's bounds; constants are points; + - * / neg floor
//   ceil round trunc min max abs follow by interval arithmetic, and an if's result is the
//   hull of its branches;
// - a branch narrows the values its condition constrains, on both sides: the then-branch
//   of `i < 1 || j === 0` knows one of the two, the else-branch both negations (`i >= 1`
//   and `j !== 0`); through `!`, `&&`, `||`, `?:` and `!==` (which excludes an end of a
//   range). A condition on `i - 1` also narrows `i`, and an expression written twice
//   (`i - 1` in the condition and in the index) is recognised as one.
//
// An index whose interval is finite and leaves the dimension is a compile-time error
// (ADG1009): a loop counter really takes every value of its range. An index that is
// provably an integer inside the dimension needs nothing. Any other (an index read from
// data, `E[ids[t]]`, or one not provably an integer) gets a run-time check, a `checkIndex`
// instruction that throws a RangeError naming the tensor, the index and the shape. A check
// moves out of the loops that do not change its index (loops of a static, positive trip
// count: the access runs at least once), so it runs once per value of the index.

import { type TS } from "./ts.js";
import { Block, Func, Instr, SimpleInstr, Value, ValueId, isSimple, tripCount } from "../ir/types.js";
import { maxValueId } from "../ir/walk.js";
import { IndexSite } from "./context.js";
import { Source } from "./source.js";

interface Interval {
  readonly lo: number;
  readonly hi: number;
  /** Known to hold an integer. */
  readonly int: boolean;
}

const TOP: Interval = { lo: -Infinity, hi: Infinity, int: false };
const EMPTY: Interval = { lo: Infinity, hi: -Infinity, int: true };
const point = (v: number): Interval => ({ lo: v, hi: v, int: Number.isInteger(v) });
const isEmpty = (r: Interval): boolean => r.lo > r.hi;
const meet = (a: Interval, b: Interval): Interval => ({ lo: Math.max(a.lo, b.lo), hi: Math.min(a.hi, b.hi), int: a.int || b.int });
const hull = (a: Interval, b: Interval): Interval =>
  isEmpty(a) ? b : isEmpty(b) ? a : { lo: Math.min(a.lo, b.lo), hi: Math.max(a.hi, b.hi), int: a.int && b.int };
const nan0 = (x: number): number => (Number.isNaN(x) ? 0 : x);

/** A constraint: the values with this key lie in [lo, hi]. */
interface Atom {
  readonly key: string;
  readonly lo: number;
  readonly hi: number;
}
/** A condition's meaning as alternatives, each a conjunction of atoms (null: no information). */
type Facts = readonly (readonly Atom[])[] | null;
const MAX_ALTERNATIVES = 16;

/**
 * The scope of a region: what its enclosing conditions say about keys. `facts` holds what
 * is known for certain; `clauses` the disjunctions not yet decided (the else-branch of
 * `i === 0 && j === 0` knows `i !== 0 || j !== 0`), which later conditions may settle.
 */
interface Scope {
  readonly facts: ReadonlyMap<string, Interval>;
  readonly clauses: readonly (readonly (readonly Atom[])[])[];
  readonly dead: boolean;
}

interface Frame {
  readonly block: Block;
  readonly index: number;
  /** A loop of static, positive trip count: a check may move out of it. */
  readonly hoistable: boolean;
  readonly depth: number;
}

export function checkIndexRanges(fn: Func, sites: ReadonlyMap<ValueId, IndexSite>, src: Source): Func {
  const range = new Map<ValueId, Interval>();
  const keys = new Map<ValueId, string>();
  const defs = new Map<ValueId, SimpleInstr>();
  /** The region depth at which each value is defined (0: the function's block). */
  const depthOf = new Map<ValueId, number>();
  const inserts = new Map<Block, Map<number, Instr[]>>();
  const replaced = new Map<Instr, Map<number, Value>>();
  const placed = new Map<string, Value>();
  // new values (the checks) are numbered after every value of the function
  let nextId = maxValueId(fn.body) + 1;

  const keyOf = (v: Value): string => keys.get(v.id) ?? `%${v.id}`;
  const rangeIn = (v: Value, scope: Scope): Interval => {
    const r = range.get(v.id) ?? TOP;
    const f = scope.facts.get(keyOf(v));
    return f ? meet(r, f) : r;
  };

  // ------------------------------------------------------------------ conditions
  const factsOf = (cond: Value, truth: boolean, scope: Scope, depth = 0): Facts => {
    const d = defs.get(cond.id);
    if (!d || depth > 64) return null;
    const [a, b] = d.args;
    switch (d.op) {
      case "not":
        return factsOf(a!, !truth, scope, depth + 1);
      case "and":
      case "or": {
        const fa = factsOf(a!, truth, scope, depth + 1);
        const fb = factsOf(b!, truth, scope, depth + 1);
        // and is true / or is false: both hold; otherwise either does
        return (d.op === "and") === truth ? conjoin(fa, fb) : disjoin(fa, fb);
      }
      case "lt": case "le": case "gt": case "ge": case "eq": case "ne":
        return compareFacts(d.op, a!, b!, truth, scope);
      default:
        return null;
    }
  };

  /** v OP k or k OP v, where k is a point: atoms on v (and on u when v = u ± c or c · u). */
  const compareFacts = (op: string, a: Value, b: Value, truth: boolean, scope: Scope): Facts => {
    // (each atom is also met with the value's range where the condition is evaluated, so that
    // `i !== 0` with i in [0, 4] says i in [1, 4])
    const ra = rangeIn(a, scope);
    const rb = rangeIn(b, scope);
    const flip: Record<string, string> = { lt: "gt", le: "ge", gt: "lt", ge: "le", eq: "eq", ne: "ne" };
    const negate: Record<string, string> = { lt: "ge", le: "gt", gt: "le", ge: "lt", eq: "ne", ne: "eq" };
    let v: Value;
    let k: number;
    let cmp = op;
    if (rb.lo === rb.hi && !(ra.lo === ra.hi)) [v, k] = [a, rb.lo];
    else if (ra.lo === ra.hi && !(rb.lo === rb.hi)) [v, k, cmp] = [b, ra.lo, flip[op]!];
    else return null;
    if (!truth) cmp = negate[cmp]!;
    const rv = rangeIn(v, scope);
    const alts = boundsOf(cmp, k, rv.int);
    if (!alts) return null;
    return alts.map(([lo, hi]) => {
      const m = meet(rv, { lo, hi, int: false });
      return [{ key: keyOf(v), lo: m.lo, hi: m.hi }, ...solved(v, m.lo, m.hi, scope)];
    });
  };

  /** For v = u + c, u - c, c - u, c * u or u * c (c > 0): the same bounds on u. */
  const solved = (v: Value, lo: number, hi: number, scope: Scope): Atom[] => {
    const d = defs.get(v.id);
    if (!d) return [];
    const c = (x: Value): number | undefined => {
      const r = range.get(x.id);
      return r && r.lo === r.hi ? r.lo : undefined;
    };
    const [a, b] = d.args;
    const atom = (u: Value, l: number, h: number): Atom[] => {
      const m = meet(rangeIn(u, scope), { lo: Math.min(l, h), hi: Math.max(l, h), int: false });
      return [{ key: keyOf(u), lo: m.lo, hi: m.hi }];
    };
    if (d.op === "add" && c(b!) !== undefined) return atom(a!, lo - c(b!)!, hi - c(b!)!);
    if (d.op === "add" && c(a!) !== undefined) return atom(b!, lo - c(a!)!, hi - c(a!)!);
    if (d.op === "sub" && c(b!) !== undefined) return atom(a!, lo + c(b!)!, hi + c(b!)!);
    if (d.op === "sub" && c(a!) !== undefined) return atom(b!, c(a!)! - hi, c(a!)! - lo);
    if (d.op === "mul" && c(b!) !== undefined && c(b!)! > 0) return atom(a!, lo / c(b!)!, hi / c(b!)!);
    if (d.op === "mul" && c(a!) !== undefined && c(a!)! > 0) return atom(b!, lo / c(a!)!, hi / c(a!)!);
    return [];
  };

  // ------------------------------------------------------------------ values
  const compute = (instr: SimpleInstr, scope: Scope): Interval => {
    const args = instr.args.map((x) => rangeIn(x, scope));
    const [a, b] = args as [Interval, Interval];
    if (args.some(isEmpty)) return EMPTY; // code no value reaches: nothing to check
    switch (instr.op) {
      case "const":
        return point((instr.attrs as { value: number }).value);
      case "neg":
        return { lo: -a.hi, hi: -a.lo, int: a.int };
      case "add":
        return { lo: a.lo + b.lo, hi: a.hi + b.hi, int: a.int && b.int };
      case "sub":
        return { lo: a.lo - b.hi, hi: a.hi - b.lo, int: a.int && b.int };
      case "mul": {
        const p = [a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi].map(nan0);
        return { lo: Math.min(...p), hi: Math.max(...p), int: a.int && b.int };
      }
      case "div":
        if (b.lo === b.hi && b.lo > 0) return { lo: a.lo / b.lo, hi: a.hi / b.lo, int: false };
        if (b.lo === b.hi && b.lo < 0) return { lo: a.hi / b.lo, hi: a.lo / b.lo, int: false };
        return TOP;
      case "floor":
      case "ceil":
      case "round":
      case "trunc": {
        const f = Math[instr.op];
        return { lo: f(a.lo), hi: f(a.hi), int: true };
      }
      case "abs":
        return a.lo >= 0 ? a : a.hi <= 0 ? { lo: -a.hi, hi: -a.lo, int: a.int } : { lo: 0, hi: Math.max(-a.lo, a.hi), int: a.int };
      case "min":
        return { lo: Math.min(a.lo, b.lo), hi: Math.min(a.hi, b.hi), int: a.int && b.int };
      case "max":
        return { lo: Math.max(a.lo, b.lo), hi: Math.max(a.hi, b.hi), int: a.int && b.int };
      default:
        return TOP;
    }
  };

  const STRUCTURAL = new Set(["neg", "add", "sub", "mul", "div", "floor", "ceil", "round", "trunc", "abs", "min", "max"]);
  const keyFor = (instr: SimpleInstr): string | undefined => {
    if (instr.op === "const") {
      const v = (instr.attrs as { value: number }).value;
      return `#${Object.is(v, -0) ? "-0" : v}`;
    }
    if (!STRUCTURAL.has(instr.op)) return undefined;
    // (only short expressions: a key must not grow with a chain of assignments)
    const key = `${instr.op}(${instr.args.map(keyOf).join(",")})`;
    return key.length <= 160 ? key : undefined;
  };

  // ------------------------------------------------------------------ checks
  const check = (instr: SimpleInstr, site: IndexSite, scope: Scope, frames: readonly Frame[]): void => {
    const t = instr.args[0]!;
    if (t.type.kind !== "tensor" || scope.dead) return;
    const shape = t.type.shape;
    const label = instr.op === "crossEntropy";
    const operands = label ? [1] : instr.args.slice(1, instr.op === "index" ? undefined : -1).map((_, d) => d + 1);
    operands.forEach((k, d) => {
      const v = instr.args[k]!;
      if (v.type.kind !== "f64") return; // a tensor of labels: the kernel checks them
      const dim = label ? shape.length - 1 : d;
      const n = shape[dim]!;
      const node = site.indices[d]!;
      const r = rangeIn(v, scope);
      if (isEmpty(r)) return;
      const isConst = defs.get(v.id)?.op === "const";
      if (isConst && !r.int) {
        fail(node, label ? `Label ${r.lo} is not an integer.` : `Index ${r.lo} is not an integer.`, `Valid ${label ? "labels" : "indices"} are the integers 0 to ${n - 1}.`);
      }
      if (isConst && (r.lo < 0 || r.lo >= n)) {
        fail(node, label
          ? `Label ${r.lo} is out of range for logits of shape [${shape.join(", ")}] (${n} classes).`
          : `Index ${r.lo} is out of range for dimension ${dim} of size ${n} (shape [${shape.join(", ")}]).`,
        `Valid ${label ? "labels" : "indices"} are 0 to ${n - 1}.`);
      }
      if (Number.isFinite(r.lo) && Number.isFinite(r.hi) && (r.lo < 0 || r.hi >= n)) {
        fail(node,
          `Index out of range: '${src.text(node)}' takes values from ${r.lo} to ${r.hi}, but dimension ${dim} has size ${n} (shape [${shape.join(", ")}]).`,
          `Valid indices are 0 to ${n - 1}; guard the access with an if (for example i >= 0 && i < ${n}) or change the loop bounds.`);
      }
      if (label || (r.int && r.lo >= 0 && r.hi < n)) return; // provably inside (labels: the kernel checks)
      placeCheck(instr, k, v, n, `${src.text(site.tensor)}[${src.text(node)}]`, dim, shape, frames);
    });
  };

  const placeCheck = (
    access: SimpleInstr, k: number, v: Value, n: number, what: string, dim: number, shape: readonly number[], frames: readonly Frame[],
  ): void => {
    // move out of enclosing loops that run at least once and do not define v
    let at = frames.length - 1;
    const vDepth = depthOf.get(v.id) ?? 0;
    while (at > 0 && frames[at]!.hoistable && vDepth < frames[at]!.depth) at--;
    const target = frames[at]!;
    const line = access.loc.line;
    const file = src.displayName.replace(/\\/g, "/").split("/").pop()!;
    const message = `${file}:${line}: ${what}: dimension ${dim} of shape [${shape.join(", ")}] takes the integers 0 to ${n - 1}, not `;
    const key = `${v.id}:${n}:${message}:${at}:${target.index}`;
    let checked = placed.get(key);
    if (!checked) {
      checked = { id: nextId++ as ValueId, type: v.type, ...(v.name ? { name: v.name } : {}) };
      const instr: SimpleInstr<"checkIndex"> = { op: "checkIndex", result: checked, args: [v], attrs: { size: n, message }, loc: access.loc };
      const byIndex = inserts.get(target.block) ?? new Map<number, Instr[]>();
      inserts.set(target.block, byIndex);
      byIndex.set(target.index, [...(byIndex.get(target.index) ?? []), instr]);
      placed.set(key, checked);
    }
    const map = replaced.get(access) ?? new Map<number, Value>();
    map.set(k, checked);
    replaced.set(access, map);
  };

  const fail = (node: TS.Node, message: string, hint: string): never => src.fail(node, "ADG1009", message, hint);

  // ------------------------------------------------------------------ the walk
  const narrowed = (scope: Scope, facts: Facts): Scope => {
    if (scope.dead || facts === null) return scope;
    const known = new Map(scope.facts);
    let clauses = [...scope.clauses, facts];
    const feasible = (alt: readonly Atom[]): boolean => alt.every((a) => !isEmpty(meet(known.get(a.key) ?? TOP, { lo: a.lo, hi: a.hi, int: false })));
    // settle clauses until nothing changes: drop the alternatives the facts rule out, apply a
    // clause left with one alternative, and keep for each key the hull over the alternatives
    for (let round = 0; round < 8; round++) {
      let changed = false;
      const open: (readonly Atom[])[][] = [];
      for (const clause of clauses) {
        const alts = clause.filter(feasible);
        if (alts.length === 0) return { facts: scope.facts, clauses: [], dead: true };
        if (alts.length < clause.length) changed = true;
        const hulls = new Map<string, Interval>();
        alts.forEach((alt, n) => {
          const here = new Map<string, Interval>();
          for (const a of alt) here.set(a.key, meet(here.get(a.key) ?? TOP, { lo: a.lo, hi: a.hi, int: false }));
          if (n === 0) here.forEach((r, key) => hulls.set(key, r));
          else for (const [key, r] of hulls) hulls.set(key, here.has(key) ? hull(r, here.get(key)!) : TOP);
        });
        for (const [key, r] of hulls) {
          const before = known.get(key) ?? TOP;
          const next = meet(before, r);
          if (next.lo !== before.lo || next.hi !== before.hi) changed = true;
          known.set(key, next);
        }
        if (alts.length > 1) open.push(alts);
      }
      clauses = open;
      if (!changed) break;
    }
    return { facts: known, clauses, dead: false };
  };

  const walk = (block: Block, scope: Scope, frames: Frame[], depth: number): void => {
    for (const p of block.params) {
      depthOf.set(p.id, depth);
    }
    block.instrs.forEach((instr, index) => {
      const here: Frame[] = [...frames.slice(0, -1), { ...frames[frames.length - 1]!, block, index }];
      if (isSimple(instr)) {
        depthOf.set(instr.result.id, depth);
        defs.set(instr.result.id, instr);
        const key = keyFor(instr);
        if (key) keys.set(instr.result.id, key);
        range.set(instr.result.id, scope.dead ? EMPTY : compute(instr, scope));
        const site = sites.get(instr.result.id);
        if (site && (instr.op === "index" || instr.op === "store" || instr.op === "accum" || instr.op === "crossEntropy")) {
          check(instr, site, scope, here);
        }
        return;
      }
      instr.results.forEach((r) => depthOf.set(r.id, depth));
      if (instr.op === "if") {
        const thenScope = narrowed(scope, factsOf(instr.cond, true, scope));
        const elseScope = narrowed(scope, factsOf(instr.cond, false, scope));
        const frame = (b: Block): Frame[] => [...here, { block: b, index: 0, hoistable: false, depth: depth + 1 }];
        walk(instr.then, thenScope, frame(instr.then), depth + 1);
        walk(instr.else, elseScope, frame(instr.else), depth + 1);
        instr.results.forEach((r, k) => {
          const t = thenScope.dead ? EMPTY : rangeIn(instr.then.yields[k]!, thenScope);
          const e = elseScope.dead ? EMPTY : rangeIn(instr.else.yields[k]!, elseScope);
          range.set(r.id, r.type.kind === "f64" ? hull(t, e) : TOP);
        });
        return;
      }
      const trip = tripCount(instr);
      const [iv] = instr.body.params;
      const last = instr.start + (trip - 1) * instr.step;
      range.set(iv!.id, trip === 0 ? EMPTY : { lo: Math.min(instr.start, last), hi: Math.max(instr.start, last), int: true });
      walk(instr.body, trip === 0 ? { ...scope, dead: true } : scope,
        [...here, { block: instr.body, index: 0, hoistable: trip > 0, depth: depth + 1 }], depth + 1);
    });
  };

  const root: Frame = { block: fn.body, index: 0, hoistable: false, depth: 0 };
  walk(fn.body, { facts: new Map(), clauses: [], dead: false }, [root], 0);
  if (replaced.size === 0) return fn;

  const rebuild = (block: Block): Block => {
    const byIndex = inserts.get(block);
    const instrs: Instr[] = [];
    block.instrs.forEach((instr, index) => {
      instrs.push(...(byIndex?.get(index) ?? []));
      instrs.push(rewrite(instr));
    });
    return { params: block.params, instrs, yields: block.yields };
  };
  const rewrite = (instr: Instr): Instr => {
    if (isSimple(instr)) {
      const map = replaced.get(instr);
      return map ? { ...instr, args: instr.args.map((a, k) => map.get(k) ?? a) } : instr;
    }
    if (instr.op === "if") return { ...instr, then: rebuild(instr.then), else: rebuild(instr.else) };
    return { ...instr, body: rebuild(instr.body) };
  };
  return { ...fn, body: rebuild(fn.body) };
}

function boundsOf(cmp: string, k: number, int: boolean): [number, number][] | null {
  if (Number.isNaN(k)) return null;
  switch (cmp) {
    case "lt":
      return [[-Infinity, int ? Math.ceil(k) - 1 : k]];
    case "le":
      return [[-Infinity, int ? Math.floor(k) : k]];
    case "gt":
      return [[int ? Math.floor(k) + 1 : k, Infinity]];
    case "ge":
      return [[int ? Math.ceil(k) : k, Infinity]];
    case "eq":
      return [[k, k]];
    case "ne":
      return int && Number.isInteger(k) ? [[-Infinity, k - 1], [k + 1, Infinity]] : null;
    default:
      return null;
  }
}

function conjoin(a: Facts, b: Facts): Facts {
  if (a === null) return b;
  if (b === null) return a;
  const out: Atom[][] = [];
  for (const x of a) for (const y of b) out.push([...x, ...y]);
  return out.length > MAX_ALTERNATIVES ? null : out;
}

function disjoin(a: Facts, b: Facts): Facts {
  if (a === null || b === null) return null;
  const out = [...a, ...b];
  return out.length > MAX_ALTERNATIVES ? null : out;
}
