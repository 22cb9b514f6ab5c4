// Which values the inputs that get no gradient (data, targets, labels, indices) may take,
// for `adgen --check`: an input that reaches an index operand of `index`/`store`/`accum`
// or the label operand of `crossEntropy` must hold integers that keep every such use in
// range; the others are data and may be any real.
//
// The analysis follows each such input (a scalar parameter, or an element read from a
// tensor parameter) through arithmetic with constants and loop counters (`ids[t] + 1`,
// `Math.floor(label / 2)`, `x - 3 * Math.trunc(x / 3)`), as an expression of the one
// element it reads. The integers an input may hold are those that, for every value of the
// loop counters involved, put every use in range: found by trying each integer of a window
// around the tensors' dimensions. A use it cannot follow (through a branch, a loop-carried
// value, two different inputs combined) only bounds the input by the dimension it indexes:
// the caller samples small non-negative integers and retries on a RangeError.

import { evaluate as evalOp } from "../ops/index.js";
import { Block, Func, SimpleOp, Value, ValueId, isSimple } from "../ir/types.js";
import { Dim, evalDim } from "../ir/dims.js";

/** How --check samples one input that gets no gradient. */
export type InputPlan =
  | { readonly kind: "data" }
  | {
      readonly kind: "integer";
      /** The integers that keep every analysed use in range (ascending; may be empty). */
      readonly values: readonly number[];
      /** False when some use could not be analysed: sampled values may still be out of range. */
      readonly exact: boolean;
      /** For uses that could not be analysed: the smallest dimension they index. */
      readonly bound: number;
    };

/** An index expression in terms of the one input element it reads. */
type Expr =
  | { readonly k: "input" }
  | { readonly k: "const"; readonly v: number }
  | { readonly k: "counter"; readonly id: ValueId; readonly values: readonly number[] }
  | { readonly k: "unary"; readonly op: string; readonly a: Expr }
  | { readonly k: "binary"; readonly op: string; readonly a: Expr; readonly b: Expr };

/**
 * The arithmetic an index expression is followed through; its values come from the op
 * table (the same JavaScript the generated code runs). Any other op ends the analysis.
 */
const UNARY = new Set(["neg", "abs", "sign", "floor", "ceil", "round", "trunc"]);
const BINARY = new Set(["add", "sub", "mul", "div", "pow", "max", "min"]);

/**
 * A value that is a function of one input element (the `origin`: the parameter, or the
 * `index` that read the element), of constants and of loop counters; for a tensor, the
 * function applies to every element. `input` is undefined for constants and counters.
 */
interface Derivation {
  readonly input?: number;
  readonly origin?: ValueId;
  readonly expr: Expr;
}

/** A use that requires `expr` to be an integer in [0, dim) for every counter value. */
interface Constraint {
  readonly expr: Expr;
  readonly counters: readonly (readonly [ValueId, readonly number[]])[];
  readonly dim: number;
}

/** Loop-counter combinations tried per constraint; beyond this a use is not analysed. */
const MAX_COMBINATIONS = 256;

/**
 * The plan for every parameter: undefined for the differentiated ones (`wrt`), else how
 * to sample it.
 */
export function inputPlans(
  primal: Func, wrt: ReadonlySet<string>, names: readonly string[], sizeOfSymbol: (sym: string) => number,
): (InputPlan | undefined)[] {
  const dimOf = (d: Dim): number => evalDim(d, sizeOfSymbol)!;
  const constOf = new Map<ValueId, number>();
  const params = primal.body.params;
  const tracked = (i: number): boolean => !wrt.has(names[i]!);
  const derivations = new Map<ValueId, Derivation>();
  const taint = new Map<ValueId, ReadonlySet<number>>();
  const constraints: Constraint[][] = params.map(() => []);
  const loose: number[][] = params.map(() => []); // dimensions indexed by uses not analysed
  let maxDim = 1;

  params.forEach((p, i) => {
    if (!tracked(i)) return;
    taint.set(p.id, new Set([i]));
    derivations.set(p.id, { input: i, origin: p.id, expr: { k: "input" } });
  });

  const taintOf = (v: Value): ReadonlySet<number> => taint.get(v.id) ?? EMPTY;
  const union = (vs: readonly Value[], extra: readonly ReadonlySet<number>[] = []): ReadonlySet<number> => {
    const s = new Set<number>();
    for (const v of vs) for (const i of taintOf(v)) s.add(i);
    for (const e of extra) for (const i of e) s.add(i);
    return s;
  };
  let changed = true;
  const setTaint = (v: Value, s: ReadonlySet<number>): void => {
    const old = taint.get(v.id);
    if (s.size === 0 && !old) return;
    if (old && old.size === s.size && [...s].every((i) => old.has(i))) return;
    taint.set(v.id, s);
    changed = true;
  };

  /** An index-like operand: constrains its input if analysable, else bounds it loosely. */
  const use = (v: Value, dim: number, record: boolean): void => {
    maxDim = Math.max(maxDim, dim);
    if (!record) return;
    const d = derivations.get(v.id);
    if (d?.input !== undefined) {
      const cs = [...counters(d.expr)];
      if (combinations(cs) <= MAX_COMBINATIONS) {
        constraints[d.input]!.push({ expr: d.expr, counters: cs, dim });
        return;
      }
    }
    for (const i of taintOf(v)) loose[i]!.push(dim);
  };

  const visit = (block: Block, record: boolean): void => {
    for (const instr of block.instrs) {
      if (instr.op === "if") {
        visit(instr.then, record);
        visit(instr.else, record);
        instr.results.forEach((r, k) => setTaint(r, union([instr.cond, instr.then.yields[k]!, instr.else.yields[k]!])));
        continue;
      }
      if (instr.op === "for") {
        const [counter, ...carried] = instr.body.params;
        const [start, end] = [constOf.get(instr.start.id), constOf.get(instr.end.id)];
        if (start !== undefined && end !== undefined) {
          const trip = Math.max(0, Math.ceil((end - start) / instr.step));
          const values = Array.from({ length: trip }, (_, n) => start + n * instr.step);
          derivations.set(counter!.id, { expr: { k: "counter", id: counter!.id, values } });
        } else setTaint(counter!, union([instr.start, instr.end]));
        carried.forEach((c, k) => setTaint(c, union([instr.init[k]!, instr.body.yields[k]!])));
        visit(instr.body, record);
        instr.results.forEach((r, k) => setTaint(r, union([instr.init[k]!, instr.body.yields[k]!])));
        continue;
      }
      if (instr.op === "while") {
        // carried values depend on everything the loop reads: taint them all
        visit(instr.cond, record);
        visit(instr.body, record);
        instr.body.params.forEach((c, k) => {
          setTaint(c, union([instr.init[k]!, instr.body.yields[k]!]));
          setTaint(instr.cond.params[k]!, taintOf(c));
        });
        instr.results.forEach((r, k) => setTaint(r, union([instr.init[k]!, instr.body.yields[k]!])));
        continue;
      }
      if (!isSimple(instr)) continue;
      const { op, args, result } = instr;
      if (op === "const") constOf.set(result.id, (instr.attrs as { value: number }).value);
      setTaint(result, union(args));
      const t0 = args[0]?.type;
      switch (op) {
        case "index":
        case "store":
        case "accum": {
          const shape = t0?.kind === "tensor" ? t0.shape : [];
          const last = op === "index" ? args.length : args.length - 1;
          for (let k = 1; k < last; k++) use(args[k]!, dimOf(shape[k - 1] ?? 1), record);
          break;
        }
        case "crossEntropy": {
          const shape = t0?.kind === "tensor" ? t0.shape : [];
          use(args[1]!, dimOf(shape[shape.length - 1] ?? 1), record);
          break;
        }
      }
      const d = derive(instr.op, instr.attrs, args, result, derivations);
      if (d) derivations.set(result.id, d);
    }
  };

  // taint flows around loops (a carried value depends on what the body yields): iterate
  // to a fixed point, then record the uses once
  for (let round = 0; changed && round < 20; round++) {
    changed = false;
    visit(primal.body, false);
  }
  visit(primal.body, true);

  const window = Math.min(4096, Math.max(64, 4 * maxDim));
  const integers = new Set(primal.integers ?? []);
  return params.map((_, i) => {
    if (!tracked(i)) return undefined;
    const cs = constraints[i]!;
    const ls = loose[i]!;
    // an integer parameter (a loop bound, a size): small positive integers, as many
    // iterations as make the loop do something without making the check slow
    if (integers.has(names[i]!) && cs.length === 0 && ls.length === 0) return { kind: "integer", values: [1, 2, 3, 4], exact: false, bound: 5 };
    if (cs.length === 0 && ls.length === 0) return { kind: "data" };
    const bound = ls.length ? Math.min(...ls) : 1;
    if (cs.length === 0) return { kind: "integer", values: range(bound), exact: false, bound };
    const values: number[] = [];
    for (let x = -window; x <= window; x++) if (cs.every((c) => holds(c, x))) values.push(x);
    return { kind: "integer", values: integers.has(names[i]!) ? values.filter((x) => x >= 0) : values, exact: ls.length === 0, bound };
  });
}

const EMPTY: ReadonlySet<number> = new Set();

function range(n: number): number[] {
  return Array.from({ length: Math.max(1, n) }, (_, i) => i);
}

/** The derivation of an instruction's result, when it is a function of one input element. */
function derive(op: string, attrs: unknown, args: readonly Value[], result: Value, ds: ReadonlyMap<ValueId, Derivation>): Derivation | undefined {
  if (op === "const") return { expr: { k: "const", v: (attrs as { value: number }).value } };
  const a = args[0] && ds.get(args[0].id);
  if (op === "index") {
    // an element (or a row) of a tracked tensor: a new origin when it reads one element
    if (!a || a.input === undefined) return undefined;
    return { input: a.input, origin: result.type.kind === "tensor" ? a.origin : result.id, expr: a.expr };
  }
  if (op === "reshape" || op === "broadcast" || op === "checkIndex") return a; // (a checked index is the index)
  if (UNARY.has(op)) return a && { ...a, expr: { k: "unary", op, a: a.expr } };
  if (BINARY.has(op)) {
    const b = args[1] && ds.get(args[1].id);
    if (!a || !b) return undefined;
    // two reads of different elements are not a function of one element
    if (a.input !== undefined && b.input !== undefined && a.origin !== b.origin) return undefined;
    const from = a.input !== undefined ? a : b;
    return { input: from.input, origin: from.origin, expr: { k: "binary", op, a: a.expr, b: b.expr } };
  }
  return undefined;
}

function counters(e: Expr, out: Map<ValueId, readonly number[]> = new Map()): Map<ValueId, readonly number[]> {
  if (e.k === "counter") out.set(e.id, e.values);
  else if (e.k === "unary") counters(e.a, out);
  else if (e.k === "binary") {
    counters(e.a, out);
    counters(e.b, out);
  }
  return out;
}

function combinations(cs: readonly (readonly [ValueId, readonly number[]])[]): number {
  let n = 1;
  for (const [, values] of cs) n *= values.length;
  return n;
}

function evaluate(e: Expr, x: number, env: ReadonlyMap<ValueId, number>): number {
  switch (e.k) {
    case "input":
      return x;
    case "const":
      return e.v;
    case "counter":
      return env.get(e.id)!;
    case "unary":
      return evalOp(e.op as SimpleOp, [evaluate(e.a, x, env)]) as number;
    case "binary":
      return evalOp(e.op as SimpleOp, [evaluate(e.a, x, env), evaluate(e.b, x, env)]) as number;
  }
}

/** Whether input value x keeps the use an integer in [0, dim) for every counter value. */
function holds(c: Constraint, x: number): boolean {
  const cs = c.counters;
  const env = new Map<ValueId, number>();
  const rec = (k: number): boolean => {
    if (k === cs.length) {
      const v = evaluate(c.expr, x, env);
      return Number.isInteger(v) && v >= 0 && v < c.dim;
    }
    const [id, values] = cs[k]!;
    for (const value of values) {
      env.set(id, value);
      if (!rec(k + 1)) return false;
    }
    return true;
  };
  return rec(0);
}
