// What a branch's condition says about the values it compares: `i < 1 || j === 0` holds in
// the then-branch and its negation in the else-branch, through ! && || and !==, as sets
// of alternatives of interval constraints (atoms). A scope keeps what is certain and the
// disjunctions not yet decided, which later conditions may settle.

import { Value, ValueId, SimpleInstr } from "../../ir/types.js";
import { Interval, TOP, hull, isEmpty, meet } from "./intervals.js";

/** A constraint: the values with this key lie in [lo, hi]. */
export interface Atom {
  readonly key: string;
  readonly lo: number;
  readonly hi: number;
}
/** A condition's meaning as alternatives, each a conjunction of atoms (null: no information). */
export type Facts = readonly (readonly Atom[])[] | null;
const MAX_ALTERNATIVES = 16;

/**
 * The scope of a region: what its enclosing conditions say about keys. `facts` holds what
 * is known for certain; `clauses` the disjunctions not yet decided (the else-branch of
 * `i === 0 && j === 0` knows `i !== 0 || j !== 0`), which later conditions may settle.
 */
export interface Scope {
  readonly facts: ReadonlyMap<string, Interval>;
  readonly clauses: readonly (readonly (readonly Atom[])[])[];
  readonly dead: boolean;
}

/** What the conditions need to know about values: their intervals in a scope, keys, definitions. */
export interface ValueFacts {
  rangeIn(v: Value, scope: Scope): Interval;
  /** The interval of v anywhere (its point value, for a constant). */
  rangeOf(v: Value): Interval | undefined;
  keyOf(v: Value): string;
  readonly defs: ReadonlyMap<ValueId, SimpleInstr>;
}

export function factsOf(vf: ValueFacts, cond: Value, truth: boolean, scope: Scope, depth = 0): Facts {
  const d = vf.defs.get(cond.id);
  if (!d || depth > 64) return null;
  const [a, b] = d.args;
  switch (d.op) {
    case "not":
      return factsOf(vf, a!, !truth, scope, depth + 1);
    case "and":
    case "or": {
      const fa = factsOf(vf, a!, truth, scope, depth + 1);
      const fb = factsOf(vf, b!, truth, scope, depth + 1);
      // and is true / or is false: both hold; otherwise either does
      return (d.op === "and") === truth ? conjoin(fa, fb) : disjoin(fa, fb);
    }
    case "lt": case "le": case "gt": case "ge": case "eq": case "ne":
      return compareFacts(vf, d.op, a!, b!, truth, scope);
    default:
      return null;
  }
}

/** v OP k or k OP v, where k is a point: atoms on v (and on u when v = u ± c or c · u). */
function compareFacts(vf: ValueFacts, op: string, a: Value, b: Value, truth: boolean, scope: Scope): Facts {
  // (each atom is also met with the value's range where the condition is evaluated, so that
  // `i !== 0` with i in [0, 4] says i in [1, 4])
  const ra = vf.rangeIn(a, scope);
  const rb = vf.rangeIn(b, scope);
  const flip: Record<string, string> = { lt: "gt", le: "ge", gt: "lt", ge: "le", eq: "eq", ne: "ne" };
  const negate: Record<string, string> = { lt: "ge", le: "gt", gt: "le", ge: "lt", eq: "ne", ne: "eq" };
  let v: Value;
  let k: number;
  let cmp = op;
  if (rb.lo === rb.hi && !(ra.lo === ra.hi)) [v, k] = [a, rb.lo];
  else if (ra.lo === ra.hi && !(rb.lo === rb.hi)) [v, k, cmp] = [b, ra.lo, flip[op]!];
  else return null;
  if (!truth) cmp = negate[cmp]!;
  const rv = vf.rangeIn(v, scope);
  const alts = boundsOf(cmp, k, rv.int);
  if (!alts) return null;
  return alts.map(([lo, hi]) => {
    const m = meet(rv, { lo, hi, int: false });
    return [{ key: vf.keyOf(v), lo: m.lo, hi: m.hi }, ...solved(vf, v, m.lo, m.hi, scope)];
  });
}

/** For v = u + c, u - c, c - u, c * u or u * c (c > 0): the same bounds on u. */
function solved(vf: ValueFacts, v: Value, lo: number, hi: number, scope: Scope): Atom[] {
  const d = vf.defs.get(v.id);
  if (!d) return [];
  const c = (x: Value): number | undefined => {
    const r = vf.rangeOf(x);
    return r && r.lo === r.hi ? r.lo : undefined;
  };
  const [a, b] = d.args;
  const atom = (u: Value, l: number, h: number): Atom[] => {
    const m = meet(vf.rangeIn(u, scope), { lo: Math.min(l, h), hi: Math.max(l, h), int: false });
    return [{ key: vf.keyOf(u), lo: m.lo, hi: m.hi }];
  };
  if (d.op === "add" && c(b!) !== undefined) return atom(a!, lo - c(b!)!, hi - c(b!)!);
  if (d.op === "add" && c(a!) !== undefined) return atom(b!, lo - c(a!)!, hi - c(a!)!);
  if (d.op === "sub" && c(b!) !== undefined) return atom(a!, lo + c(b!)!, hi + c(b!)!);
  if (d.op === "sub" && c(a!) !== undefined) return atom(b!, c(a!)! - hi, c(a!)! - lo);
  if (d.op === "mul" && c(b!) !== undefined && c(b!)! > 0) return atom(a!, lo / c(b!)!, hi / c(b!)!);
  if (d.op === "mul" && c(a!) !== undefined && c(a!)! > 0) return atom(b!, lo / c(a!)!, hi / c(a!)!);
  return [];
}

/** The scope inside a branch whose condition says `facts`. */
export function narrowed(scope: Scope, facts: Facts): Scope {
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
