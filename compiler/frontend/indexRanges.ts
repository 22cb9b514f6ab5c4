// The index range analysis, a pass over an entry's lowered IR. Every index into a tensor
// (and every class label) gets an interval of the values it can take:
//
// - loop counters range over their loop's bounds; constants are points; + - * / % neg floor
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
// count: the access runs at least once), so it runs once per value of the index. An index
// `a + i` made on every iteration of the loop of counter i (a triangular loop's
// `l[base + i]`), with a from outside the loop, is checked once before the loop for every
// value it takes there, a + start to a + end - 1, rather than on each iteration.

import { type TS } from "./ts.js";
import { Block, ForInstr, Func, Instr, SimpleInstr, Value, ValueId, isSimple } from "../ir/types.js";
import { Dim, showDim } from "../ir/dims.js";
import { maxValueId } from "../ir/walk.js";
import { IndexSite } from "./context.js";
import { Scope, ValueFacts, factsOf, narrowed } from "./ranges/conditions.js";
import { ARITHMETIC, EMPTY, Interval, TOP, hull, intervalOf, isEmpty, meet } from "./ranges/intervals.js";
import { Source } from "./source.js";

interface Frame {
  readonly block: Block;
  readonly index: number;
  /** A loop of static, positive trip count: a check may move out of it. */
  readonly hoistable: boolean;
  readonly depth: number;
  /** The loop whose body the frame's block is. */
  readonly loop?: ForInstr;
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
  const blockIds = new Map<Block, number>();
  // new values (the checks) are numbered after every value of the function
  let nextId = maxValueId(fn.body) + 1;

  const keyOf = (v: Value): string => keys.get(v.id) ?? `%${v.id}`;
  const constOf = (v: Value): number | undefined => {
    const d = defs.get(v.id);
    return d?.op === "const" ? (d.attrs as { value: number }).value : undefined;
  };
  /** Values that equal a size symbol minus a constant (N, n - 1: a size op, perhaps minus a literal). */
  const sizeOf = new Map<ValueId, { size: string; minus: number }>();
  /** Loop counters below a size minus a constant: i < N - minus + 1, so i <= N - minus. */
  const upper = new Map<ValueId, { size: string; minus: number }>();
  const trackSize = (instr: SimpleInstr): void => {
    if (instr.op === "size") sizeOf.set(instr.result.id, { size: (instr.attrs as { name: string }).name, minus: 0 });
    const [a, b] = instr.args;
    if (instr.op === "sub" && a && b && sizeOf.has(a.id) && constOf(b) !== undefined) {
      const s0 = sizeOf.get(a.id)!;
      sizeOf.set(instr.result.id, { size: s0.size, minus: s0.minus + constOf(b)! });
    }
    if (instr.op === "sub" && a && b && upper.has(a.id) && constOf(b) !== undefined && constOf(b)! >= 0) {
      const u = upper.get(a.id)!;
      upper.set(instr.result.id, { size: u.size, minus: u.minus + constOf(b)! });
    }
    if (instr.op === "add" && a && b && upper.has(a.id) && constOf(b) !== undefined) {
      const u = upper.get(a.id)!;
      upper.set(instr.result.id, { size: u.size, minus: u.minus - constOf(b)! });
    }
  };
  const vf: ValueFacts = { rangeIn: (v, scope) => rangeIn(v, scope), rangeOf: (v) => range.get(v.id), keyOf, defs };
  const rangeIn = (v: Value, scope: Scope): Interval => {
    const r = range.get(v.id) ?? TOP;
    const f = scope.facts.get(keyOf(v));
    return f ? meet(r, f) : r;
  };

  // ------------------------------------------------------------------ values
  const compute = (instr: SimpleInstr, scope: Scope): Interval =>
    intervalOf(instr, instr.args.map((x) => rangeIn(x, scope)));

  const keyFor = (instr: SimpleInstr): string | undefined => {
    if (instr.op === "const") {
      const v = (instr.attrs as { value: number }).value;
      return `#${Object.is(v, -0) ? "-0" : v}`;
    }
    if (!ARITHMETIC.has(instr.op)) return undefined;
    // (only short expressions: a key must not grow with a chain of assignments)
    const key = `${instr.op}(${instr.args.map(keyOf).join(",")})`;
    return key.length <= 160 ? key : undefined;
  };

  // ------------------------------------------------------------------ checks
  const check = (instr: SimpleInstr, site: IndexSite, scope: Scope, frames: readonly Frame[]): void => {
    const t = instr.args[0]!;
    if (t.type.kind !== "tensor" || scope.dead) return;
    const shape = t.type.shape;
    const shown = `[${shape.map(showDim).join(", ")}]`;
    const label = instr.op === "crossEntropy";
    const operands = label ? [1] : instr.args.slice(1, instr.op === "index" ? undefined : -1).map((_, d) => d + 1);
    operands.forEach((k, d) => {
      const v = instr.args[k]!;
      if (v.type.kind !== "f64") return; // a tensor of labels: the kernel checks them
      const dim = label ? shape.length - 1 : d;
      const size: Dim = shape[dim]!;
      const node = site.indices[d]!;
      const r = rangeIn(v, scope);
      if (isEmpty(r)) return;
      const isConst = defs.get(v.id)?.op === "const";
      if (isConst && !r.int) {
        fail(node, label ? `Label ${r.lo} is not an integer.` : `Index ${r.lo} is not an integer.`,
          typeof size === "number" ? `Valid ${label ? "labels" : "indices"} are the integers 0 to ${size - 1}.` : `Valid ${label ? "labels" : "indices"} are the integers 0 to ${showDim(size)} - 1.`);
      }
      if (typeof size !== "number") {
        // a symbolic dimension: the index is checked at run time unless it is provably
        // a non-negative integer below it (a loop counter up to the size)
        if (isConst && r.lo < 0) fail(node, `Index ${r.lo} is negative.`, "Indices start at 0.");
        if (!label && !(r.int && r.lo >= 0 && belowSize(v, size, scope))) {
          placeCheck(instr, k, v, size, `${src.text(site.tensor)}[${src.text(node)}]`, dim, shown, frames);
        }
        return;
      }
      const n = size;
      if (isConst && (r.lo < 0 || r.lo >= n)) {
        fail(node, label
          ? `Label ${r.lo} is out of range for logits of shape ${shown} (${n} classes).`
          : `Index ${r.lo} is out of range for dimension ${dim} of size ${n} (shape ${shown}).`,
        `Valid ${label ? "labels" : "indices"} are 0 to ${n - 1}.`);
      }
      if (Number.isFinite(r.lo) && Number.isFinite(r.hi) && (r.lo < 0 || r.hi >= n)) {
        fail(node,
          `Index out of range: '${src.text(node)}' takes values from ${r.lo} to ${r.hi}, but dimension ${dim} has size ${n} (shape ${shown}).`,
          `Valid indices are 0 to ${n - 1}; guard the access with an if (for example i >= 0 && i < ${n}) or change the loop bounds.`);
      }
      if (label || (r.int && r.lo >= 0 && r.hi < n)) return; // provably inside (labels: the kernel checks)
      placeCheck(instr, k, v, n, `${src.text(site.tensor)}[${src.text(node)}]`, dim, shown, frames);
    });
  };

  /** Is v provably below a symbolic size (v a counter of a loop up to that size, or that minus a constant)? */
  const belowSize = (v: Value, size: Dim, scope: Scope): boolean => {
    const bound = upper.get(v.id);
    void scope;
    return bound !== undefined && bound.size === showDim(size) && bound.minus >= 1;
  };

  const placeCheck = (
    access: SimpleInstr, k: number, v: Value, n: Dim, what: string, dim: number, shape: string, frames: readonly Frame[],
  ): void => {
    // move out of enclosing loops that run at least once and do not define v
    let at = frames.length - 1;
    const vDepth = depthOf.get(v.id) ?? 0;
    while (at > 0 && frames[at]!.hoistable && vDepth < frames[at]!.depth) at--;
    const target = frames[at]!;
    const line = access.loc.line;
    const file = src.displayName.replace(/\\/g, "/").split("/").pop()!;
    const message = `${file}:${line}: ${what}: dimension ${dim} of shape ${shape} takes the integers 0 to ${typeof n === "number" ? n - 1 : `${showDim(n)} - 1`}, not `;
    if (spanCheck(v, n, message, frames)) return;
    // one check per index value and place: its block (branches of different ifs may sit at
    // the same depth and position) and its position there
    let blockId = blockIds.get(target.block);
    if (blockId === undefined) blockIds.set(target.block, (blockId = blockIds.size));
    const key = `${v.id}:${showDim(n)}:${message}:${blockId}:${target.index}`;
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

  /**
   * v = a + i (or i + a), i the counter of the loop whose body the access sits straight in
   * (so it runs on every iteration), counting up by one, a defined outside the loop: one
   * check before the loop, `checkIndex(a, start, end)`, of every value v takes there. The
   * addition then reads the checked a, which keeps the check alive as long as the access.
   */
  const spanCheck = (v: Value, n: Dim, message: string, frames: readonly Frame[]): boolean => {
    const top = frames[frames.length - 1]!;
    const L = top.loop;
    const def = defs.get(v.id);
    if (!L || L.step !== 1 || def?.op !== "add") return false;
    const iv = L.body.params[0]!;
    const at = def.args[0] === iv ? 1 : def.args[1] === iv ? 0 : -1;
    const a = at < 0 ? undefined : def.args[at]!;
    if (!a || (depthOf.get(a.id) ?? 0) >= top.depth) return false;
    const key = `span:${def.result.id}:${showDim(n)}:${message}`;
    if (placed.has(key)) return true;
    const map = replaced.get(def) ?? new Map<number, Value>();
    const before = map.get(at) ?? a;
    const checked: Value = { id: nextId++ as ValueId, type: a.type, ...(a.name ? { name: a.name } : {}) };
    const instr: SimpleInstr<"checkIndex"> = { op: "checkIndex", result: checked, args: [before, L.start, L.end], attrs: { size: n, message }, loc: def.loc };
    const parent = frames[frames.length - 2]!;
    const byIndex = inserts.get(parent.block) ?? new Map<number, Instr[]>();
    inserts.set(parent.block, byIndex);
    byIndex.set(parent.index, [...(byIndex.get(parent.index) ?? []), instr]);
    map.set(at, checked);
    replaced.set(def, map);
    placed.set(key, checked);
    return true;
  };

  const fail = (node: TS.Node, message: string, hint: string): never => src.fail(node, "ADG1009", message, hint);

  /**
   * A carried value that only ever becomes the loop's counter or keeps its value (through
   * ifs and selects: an argmax's `if (x[i] > x[im]) im = i`) takes its initial value or
   * counter values already passed. Inside the body it is within the hull of the two; and,
   * when the counter is below a size and the initial value is at most the loop's start (so
   * below every counter value), below that size too. Its result after the loop is below
   * the size only if the initial value is (the loop may not run).
   */
  const carriedCounters = (L: ForInstr, ivRange: Interval, scope: Scope): void => {
    const [iv, ...params] = L.body.params;
    const bound = upper.get(iv!.id);
    // where each if result and select of the body (and of its ifs) comes from
    const sources = new Map<ValueId, readonly Value[]>();
    const blocks: Block[] = [L.body];
    for (let b = blocks.pop(); b; b = blocks.pop()) {
      for (const instr of b.instrs) {
        if (instr.op === "if") {
          instr.results.forEach((r, k) => sources.set(r.id, [instr.then.yields[k]!, instr.else.yields[k]!]));
          blocks.push(instr.then, instr.else);
        } else if (instr.op === "select") {
          sources.set(instr.result.id, [instr.args[1]!, instr.args[2]!]);
        }
      }
    }
    params.forEach((p, k) => {
      if (p.type.kind !== "f64") return;
      const seen = new Set<ValueId>();
      const todo: Value[] = [L.body.yields[k]!];
      for (let v = todo.pop(); v; v = todo.pop()) {
        if (v === p || v === iv || seen.has(v.id)) continue;
        seen.add(v.id);
        const from = sources.get(v.id);
        if (!from) return; // something else: nothing is known
        todo.push(...from);
      }
      const init = L.init[k]!;
      const r0 = rangeIn(init, scope);
      const r = hull(r0, ivRange);
      range.set(p.id, r);
      range.set(L.results[k]!.id, r);
      const s0 = constOf(L.start), c0 = constOf(init);
      const atStart = init === L.start || (s0 !== undefined && c0 !== undefined && c0 <= s0);
      const own = upper.get(init.id);
      if (bound && atStart) upper.set(p.id, bound);
      if (bound && own && own.size === bound.size) {
        const both = { size: bound.size, minus: Math.min(bound.minus, own.minus) };
        upper.set(p.id, both);
        upper.set(L.results[k]!.id, both);
      }
    });
  };

  // ------------------------------------------------------------------ the walk
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
        trackSize(instr);
        const site = sites.get(instr.result.id);
        if (site && (instr.op === "index" || instr.op === "store" || instr.op === "accum" || instr.op === "crossEntropy")) {
          check(instr, site, scope, here);
        }
        return;
      }
      instr.results.forEach((r) => depthOf.set(r.id, depth));
      if (instr.op === "if") {
        const thenScope = narrowed(scope, factsOf(vf, instr.cond, true, scope));
        const elseScope = narrowed(scope, factsOf(vf, instr.cond, false, scope));
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
      if (instr.op === "while") {
        // carried values change from round to round: nothing is known about them
        const inner: Frame[] = [...here, { block: instr.body, index: 0, hoistable: false, depth: depth + 1 }];
        walk(instr.cond, scope, [...here, { block: instr.cond, index: 0, hoistable: false, depth: depth + 1 }], depth + 1);
        walk(instr.body, scope, inner, depth + 1);
        return;
      }
      const start = rangeIn(instr.start, scope);
      const end = rangeIn(instr.end, scope);
      const s0 = constOf(instr.start);
      const e0 = constOf(instr.end);
      const trip = s0 !== undefined && e0 !== undefined ? Math.max(0, Math.ceil((e0 - s0) / instr.step)) : undefined;
      const [iv] = instr.body.params;
      // the counter runs from start towards end, stopping before it
      const ivRange: Interval = instr.step > 0
        ? { lo: start.lo, hi: end.hi - 1, int: start.int }
        : { lo: end.lo + 1, hi: start.hi, int: start.int };
      range.set(iv!.id, trip === 0 ? EMPTY : ivRange);
      // a counter up to a symbolic size (i < N, i < n - 1)
      const endSize = sizeOf.get(instr.end.id);
      if (instr.step > 0 && endSize) upper.set(iv!.id, { size: endSize.size, minus: endSize.minus + 1 });
      if (instr.step > 0) carriedCounters(instr, ivRange, scope);
      walk(instr.body, trip === 0 ? { ...scope, dead: true } : scope,
        [...here, { block: instr.body, index: 0, hoistable: trip !== undefined && trip > 0, depth: depth + 1, loop: instr }], depth + 1);
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
    if (instr.op === "while") return { ...instr, cond: rebuild(instr.cond), body: rebuild(instr.body) };
    return { ...instr, body: rebuild(instr.body) };
  };
  return { ...fn, body: rebuild(fn.body) };
}

