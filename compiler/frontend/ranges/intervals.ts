// Intervals of the values an index can take: the lattice of indexRanges.ts, and interval
// arithmetic on the ops an index is computed with.

import { SimpleInstr } from "../../ir/types.js";

export interface Interval {
  readonly lo: number;
  readonly hi: number;
  /** Known to hold an integer. */
  readonly int: boolean;
}

export const TOP: Interval = { lo: -Infinity, hi: Infinity, int: false };
export const EMPTY: Interval = { lo: Infinity, hi: -Infinity, int: true };
export const point = (v: number): Interval => ({ lo: v, hi: v, int: Number.isInteger(v) });
export const isEmpty = (r: Interval): boolean => r.lo > r.hi;
export const meet = (a: Interval, b: Interval): Interval => ({ lo: Math.max(a.lo, b.lo), hi: Math.min(a.hi, b.hi), int: a.int || b.int });
export const hull = (a: Interval, b: Interval): Interval =>
  isEmpty(a) ? b : isEmpty(b) ? a : { lo: Math.min(a.lo, b.lo), hi: Math.max(a.hi, b.hi), int: a.int && b.int };
const nan0 = (x: number): number => (Number.isNaN(x) ? 0 : x);

/** The ops whose result's interval follows from their arguments' (everything else is TOP). */
export const ARITHMETIC = new Set(["neg", "add", "sub", "mul", "div", "floor", "ceil", "round", "trunc", "abs", "min", "max", "mod"]);

/** The interval of instr's result, given its arguments' intervals. */
export function intervalOf(instr: SimpleInstr, args: readonly Interval[]): Interval {
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
    case "mod": {
      // a % b has a's sign and |a % b| < |b|. The interval must hold only values the index
      // takes (a finite interval that leaves the dimension is a compile-time error), so it is
      // exact for an integer dividend of finite range and a constant integer divisor m: within
      // one period of m the remainders of a.lo .. a.hi, across a wrap every remainder of a's
      // sign. Otherwise -- a dividend unbounded on a side (a while loop's counter), or not
      // known to be an integer (checked at run time anyway) -- the side that cannot be exact
      // is unbounded. A divisor of varying value keeps the bound (-max|b|, max|b|).
      if (b.lo <= 0 && b.hi >= 0) return TOP;
      const m = Math.max(Math.abs(b.lo), Math.abs(b.hi));
      const int = a.int && b.int;
      if (!int || !Number.isFinite(a.lo) || !Number.isFinite(a.hi)) return { lo: a.lo >= 0 ? 0 : -Infinity, hi: a.hi <= 0 ? 0 : Infinity, int };
      if (b.lo !== b.hi) return { lo: a.lo >= 0 ? 0 : Math.max(a.lo, 1 - m), hi: a.hi <= 0 ? 0 : Math.min(a.hi, m - 1), int };
      const nonNegative = (lo: number, hi: number): Interval =>
        Math.floor(lo / m) === Math.floor(hi / m) ? { lo: lo % m, hi: hi % m, int } : { lo: 0, hi: m - 1, int };
      if (a.lo >= 0) return nonNegative(a.lo, a.hi);
      if (a.hi <= 0) {
        const r = nonNegative(-a.hi, -a.lo);
        return { lo: -r.hi, hi: -r.lo, int };
      }
      return { lo: Math.max(a.lo, 1 - m), hi: Math.min(a.hi, m - 1), int };
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
}
