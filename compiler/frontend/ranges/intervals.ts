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
      // a % b has a's sign and |a % b| < |b|: for a divisor within [m, M] (M > 0 or all
      // negative), the result lies within (-max|b|, max|b|), and within [0, max|b|) for a >= 0
      if (b.lo <= 0 && b.hi >= 0) return TOP;
      const m = Math.max(Math.abs(b.lo), Math.abs(b.hi));
      const bound = a.int && b.int ? m - 1 : m;
      // (a dividend unbounded on a side -- a counter of a while loop -- leaves that side
      // unbounded: (-m, m) would bound the values but not be values the index takes, and a
      // finite interval outside the dimension is a compile-time error; this one is checked at run time)
      const lo = a.lo >= 0 ? 0 : a.lo === -Infinity ? -Infinity : Math.max(a.lo, -bound);
      const hi = a.hi <= 0 ? 0 : a.hi === Infinity ? Infinity : Math.min(a.hi, bound);
      return { lo, hi, int: a.int && b.int };
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
