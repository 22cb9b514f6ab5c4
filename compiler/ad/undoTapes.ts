// Undo tapes: what a loop keeps of a tensor it updates in place is what it overwrites.
//
// A loop-carried tensor whose iteration writes single elements (`y[i] = v`, `y[i] += v`)
// in a straight line of stores, and reads single elements, would cost a copy of the whole
// tensor per iteration if its incoming value were pushed like other carried values (N
// numbers per iteration of `for (i) y[i] = f(y[i - 1])`: N² in all). Instead the forward
// copy pushes, before each store, the element it overwrites and its indices; the reversed
// loop carries the tensor itself, starting from the loop's final value, and each reversed
// iteration first writes the popped elements back in reverse order, which restores the
// tensor as the iteration found it. The recomputation of the iteration then reads that
// tensor, with each read of an element the iteration itself wrote earlier forwarded from
// the store (`i === j ? v : y[i]`, exact for any index at run time), and skips the stores.
// So the tape grows by one number plus one per index for each element written.

import { Builder, makeBlock, makeFor } from "../ir/builder.js";
import { Block, F64, Instr, SimpleInstr, TAPE, Value, ValueId, isSimple } from "../ir/types.js";
import { forEachUse, regionsOf } from "../ir/walk.js";

/**
 * What a loop keeps of one carried tensor (at carried position k) it updates in place:
 * - straight (`deep` false): the body's own element stores, in a straight line at its top
 *   level. The reversed iteration pops and writes back the overwritten elements first, then
 *   recomputes the body with reads forwarded from the stores (Forwarding) and no stores.
 * - deep: the tensor is also written by nested loops (an inner `for j` filling row i). Every
 *   store at any depth pushes what it overwrites onto this loop's tape, and each iteration
 *   ends by pushing how many it pushed. The reversed iteration pops them all (the tensor as
 *   the iteration found it), recomputes the body with its stores, and then, as it runs the
 *   adjoints backwards, writes each overwritten element back again (its own stores from the
 *   old values the recomputation read, nested loops by their own reversal), so that the
 *   tensor is as the iteration found it when the reversed iteration ends.
 * In both, nested regions may read the tensor's elements (an `if` that reads D[i - 1][j]).
 */
export interface UndoChain {
  readonly k: number;
  readonly deep: boolean;
  /**
   * A straight chain whose store indices do not depend on the tensors the loop updates in
   * place (`y[i]`, `y[i + 1]`, `y[idx[i]]`): the tape keeps only the overwritten numbers, and
   * the reversed iteration recomputes the indices first (`indexSlice`) to put them back.
   */
  readonly indexFree: boolean;
  /** The body's top-level instructions those indices are computed by, in order (for every index-free chain of the body). */
  readonly indexSlice: readonly Instr[];
  /** The body's own stores (and accums) of the tensor, in order. */
  readonly stores: readonly SimpleInstr[];
  /** Nested loops that carry and write the tensor -> its position among their carried values. */
  readonly loops: ReadonlyMap<Instr, number>;
  /** Every store the forward copy pushes for this chain, at any depth. */
  readonly all: ReadonlySet<SimpleInstr>;
  /** Every loop, at any depth, that the tape is carried through to reach those stores. */
  readonly through: ReadonlySet<Instr>;
}

interface Walk {
  final: Value;
  /** How many loops deep (below the block) the deepest store is. */
  depth: number;
  versions: Set<ValueId>;
  stores: SimpleInstr[];
  loops: Map<Instr, number>;
  all: Set<SimpleInstr>;
  through: Set<Instr>;
}

/**
 * For each carried value (by position) that qualifies, its chain: a tensor that the body
 * only reads element by element and writes element by element (store or accum of a number
 * at a full index), each version used by nothing but element reads before it is written
 * again (the write being a store or a nested loop carrying it), and the last version
 * yielded at its position.
 */
export function undoChains(body: Block, carried: readonly Value[]): Map<number, UndoChain> {
  const walks = new Map<number, Walk>();
  carried.forEach((p, k) => {
    if (p.type.kind !== "tensor") return;
    const w = walkChain(body, p, p.type.shape.length);
    if (!w || w.all.size === 0 || body.yields[k]?.id !== w.final.id) return;
    if (body.yields.some((y, n) => n !== k && w.versions.has(y.id))) return;
    // writes d loops deep touch a d-dimensional part of the tensor per iteration: records
    // (a number and its indices each) pay when that is a lower-dimensional slice (a row of
    // a table); when the iteration rewrites all of it (y[i] for every i), saving the
    // tensor itself costs less
    if (w.depth > 0 && w.depth >= p.type.shape.length) return;
    walks.set(k, w);
  });
  // indices computed without reading the tensors updated in place can be recomputed
  const versions = new Set<ValueId>();
  for (const w of walks.values()) w.versions.forEach((v) => versions.add(v));
  const tainted = taintedBy(body, versions);
  const untainted = (w: Walk) => w.loops.size === 0 && w.stores.every((st) => st.args.slice(1, -1).every((a) => !tainted.has(a.id)));
  const slice = indexSlice(body, [...walks.values()].filter(untainted).flatMap((w) => w.stores.flatMap((st) => st.args.slice(1, -1))));
  // the slice is recomputed before the tensors are put back: an if or loop in it that also
  // reads them (for results other than the indices: branches whose stores were sunk after
  // the if) cannot run that early, so those chains keep indexed records
  const early = !slice.some((x) => !isSimple(x) && regionsOf(x).some((r) => reads(r, (v) => versions.has(v.id))));
  const free = (w: Walk) => early && untainted(w);
  const out = new Map<number, UndoChain>();
  for (const [k, w] of walks) {
    out.set(k, {
      k, deep: w.loops.size > 0, indexFree: free(w), indexSlice: free(w) ? slice : [],
      stores: w.stores, loops: w.loops, all: w.all, through: w.through,
    });
  }
  return out;
}

/**
 * The values of a block that depend on an element read of the given tensor versions: an
 * if's result through its condition or what its branches yield; a loop's results whenever
 * the loop reads them.
 */
function taintedBy(body: Block, versions: ReadonlySet<ValueId>): Set<ValueId> {
  const tainted = new Set<ValueId>(versions);
  const visit = (block: Block): void => {
    for (const instr of block.instrs) {
      if (isSimple(instr)) {
        if (instr.args.some((a) => tainted.has(a.id))) tainted.add(instr.result.id);
      } else if (instr.op === "if") {
        visit(instr.then);
        visit(instr.else);
        const all = tainted.has(instr.cond.id);
        instr.results.forEach((r, k) => {
          if (all || tainted.has(instr.then.yields[k]!.id) || tainted.has(instr.else.yields[k]!.id)) tainted.add(r.id);
        });
      } else if (instrArgs(instr).some((a) => tainted.has(a.id)) || regionsOf(instr).some((r) => reads(r, (v) => tainted.has(v.id)))) {
        instr.results.forEach((r) => tainted.add(r.id));
      }
    }
  };
  visit(body);
  return tainted;
}

/** The top-level instructions of a block that compute the given values, in order. */
function indexSlice(body: Block, roots: readonly Value[]): Instr[] {
  const need = new Set<ValueId>(roots.map((v) => v.id));
  const picked = new Set<Instr>();
  for (let n = body.instrs.length - 1; n >= 0; n--) {
    const instr = body.instrs[n]!;
    const results = isSimple(instr) ? [instr.result] : instr.results;
    if (!results.some((r) => need.has(r.id))) continue;
    picked.add(instr);
    if (isSimple(instr)) instr.args.forEach((a) => need.add(a.id));
    else {
      instrArgs(instr).forEach((a) => need.add(a.id));
      regionsOf(instr).forEach((r) => forEachUse(r, (v) => need.add(v.id)));
    }
  }
  return body.instrs.filter((x) => picked.has(x));
}

/** Follows the versions of a tensor through a block from `start`; undefined when a use does not fit. */
function walkChain(block: Block, start: Value, rank: number): Walk | undefined {
  const w: Walk = { final: start, depth: 0, versions: new Set([start.id]), stores: [], loops: new Map(), all: new Set(), through: new Set() };
  let cur = start;
  const retired = new Set<ValueId>();
  const isVersion = (v: Value) => v.id === cur.id || retired.has(v.id);
  for (const instr of block.instrs) {
    if (isSimple(instr)) {
      const uses = instr.args.filter(isVersion);
      if (uses.length === 0) continue;
      if (instr.args.some((a) => retired.has(a.id))) return undefined; // an old version read after a store
      const onlyFirst = instr.args[0]!.id === cur.id && uses.length === 1;
      if (instr.op === "index" && onlyFirst && instr.args.length === rank + 1) continue;
      const write = (instr.op === "store" || instr.op === "accum") && onlyFirst && instr.args.length === rank + 2 &&
        instr.args[rank + 1]!.type.kind === "f64";
      if (!write) return undefined;
      w.stores.push(instr);
      w.all.add(instr);
      retired.add(cur.id);
      cur = instr.result;
      w.versions.add(cur.id);
      continue;
    }
    const inRegions = regionsOf(instr).some((r) => reads(r, isVersion));
    const inArgs = instrArgs(instr).filter(isVersion);
    if (!inRegions && inArgs.length === 0) continue;
    if (instrArgs(instr).some((a) => retired.has(a.id)) || regionsOf(instr).some((r) => reads(r, (v) => retired.has(v.id)))) return undefined;
    if (instr.op === "if" || inArgs.length === 0) {
      // a region that only reads elements of the current version
      if (inArgs.length || !regionsOf(instr).every((r) => onlyElementReads(r, cur, rank))) return undefined;
      continue;
    }
    // a nested loop carrying the tensor (at one position m) and writing it
    if (inArgs.length !== 1 || inRegions) return undefined;
    const m = instr.init.findIndex((v) => v.id === cur.id);
    const off = instr.op === "for" ? 1 : 0;
    const param = instr.body.params[m + off]!;
    const sub = walkChain(instr.body, param, rank);
    if (!sub || sub.all.size === 0 || instr.body.yields[m]?.id !== sub.final.id) return undefined;
    if (instr.body.yields.some((y, n) => n !== m && sub.versions.has(y.id))) return undefined;
    if (instr.op === "while" && !onlyElementReads(instr.cond, instr.cond.params[m]!, rank)) return undefined;
    w.loops.set(instr, m);
    w.depth = Math.max(w.depth, sub.depth + 1);
    w.through.add(instr);
    sub.through.forEach((x) => w.through.add(x));
    sub.all.forEach((s) => w.all.add(s));
    retired.add(cur.id);
    cur = instr.results[m]!;
    w.versions.add(cur.id);
  }
  w.final = cur;
  return w;
}

/** The operands of a region instruction outside its blocks (an if's condition, a loop's bounds and inits). */
function instrArgs(instr: Instr): Value[] {
  if (instr.op === "if") return [instr.cond];
  if (instr.op === "for") return [instr.start, instr.end, ...instr.init];
  if (instr.op === "while") return [...instr.init];
  return [];
}

/** Whether a block reads a value that `pick` selects (anywhere inside it). */
function reads(block: Block, pick: (v: Value) => boolean): boolean {
  let found = false;
  forEachUse(block, (v) => (found ||= pick(v)));
  return found;
}

/** Whether every use of t inside a block (at any depth) is a read of one element. */
function onlyElementReads(block: Block, t: Value, rank: number): boolean {
  let ok = true;
  const visit = (b: Block): void => {
    for (const instr of b.instrs) {
      if (isSimple(instr)) {
        const n = instr.args.filter((a) => a.id === t.id).length;
        if (n && !(instr.op === "index" && n === 1 && instr.args[0]!.id === t.id && instr.args.length === rank + 1)) ok = false;
      } else {
        if (instrArgs(instr).some((a) => a.id === t.id)) ok = false;
        regionsOf(instr).forEach(visit);
      }
    }
    if (b.yields.some((y) => y.id === t.id)) ok = false;
  };
  visit(block);
  return ok;
}

/** In a forward copy: before a store of a chain, push the element it overwrites, then (unless the reversal recomputes them) its indices. */
export function pushOverwritten(b: Builder, tape: Value, cur: Value, idx: readonly Value[], withIndices: boolean): Value {
  const old = b.emit("index", [cur, ...idx], {}, "old");
  let t = b.emit("push", [tape, old], {}, tape.name);
  if (withIndices) for (const i of idx) t = b.emit("push", [t, i], {}, tape.name);
  return t;
}

/**
 * In a reversed iteration of an index-free straight chain: pops the numbers its stores
 * overwrote (the last store's first). Returns them in store order, and the tape after.
 */
export function popOverwritten(b: Builder, tape: Value, count: number): { olds: Value[]; tape: Value } {
  let t = tape;
  const olds: Value[] = new Array<Value>(count);
  for (let s = count - 1; s >= 0; s--) {
    olds[s] = b.emit("peek", [t], { of: F64 }, "old");
    t = b.emit("drop", [t], { of: F64 }, t.name);
  }
  return { olds, tape: t };
}

/** Writes popped numbers back at their stores' indices, the last store's first. */
export function writeBack(b: Builder, y: Value, at: readonly (readonly Value[])[], olds: readonly Value[], name: string | undefined): Value {
  let cur = y;
  for (let s = at.length - 1; s >= 0; s--) cur = b.emit("store", [cur, ...at[s]!, olds[s]!], {}, name);
  return cur;
}

/** Pops one record (an element and its indices) and writes the element back into y. */
function popRecord(b: Builder, tape: Value, y: Value, rank: number, name: string | undefined): { y: Value; tape: Value } {
  let t = tape;
  const idx: Value[] = new Array<Value>(rank);
  for (let d = rank - 1; d >= 0; d--) {
    idx[d] = b.emit("peek", [t], { of: F64 }, "at");
    t = b.emit("drop", [t], { of: F64 }, t.name);
  }
  const old = b.emit("peek", [t], { of: F64 }, "old");
  t = b.emit("drop", [t], { of: F64 }, t.name);
  return { y: b.emit("store", [y, ...idx, old], {}, name), tape: t };
}

/**
 * In a reversed iteration of a straight chain: pops what the iteration's stores overwrote,
 * in reverse order, and writes it back into y (the tensor as the iteration left it).
 * Returns the tensor as the iteration found it and the tape after the pops.
 */
export function restoreOverwritten(b: Builder, tape: Value, y: Value, chain: UndoChain, name: string | undefined): { y: Value; tape: Value } {
  let r = { y, tape };
  for (let s = chain.stores.length - 1; s >= 0; s--) r = popRecord(b, r.tape, r.y, chain.stores[s]!.args.length - 2, name);
  return r;
}

/**
 * In a reversed iteration of a deep chain: pops the count the iteration pushed last, then
 * that many records, writing each element back. Returns the tensor as the iteration found
 * it and the tape after the pops.
 */
export function restoreCounted(b: Builder, tape: Value, y: Value, rank: number, name: string | undefined): { y: Value; tape: Value } {
  const count = b.emit("peek", [tape], { of: F64 }, "writes");
  const t0 = b.emit("drop", [tape], { of: F64 }, tape.name);
  const c = b.value(F64, "w");
  const tp = b.value(TAPE, tape.name);
  const yp = b.value(y.type, name);
  let r = { y: yp, tape: tp };
  const instrs = b.block(() => {
    r = popRecord(b, tp, yp, rank, name);
  });
  const results = [b.value(TAPE, tape.name), b.value(y.type, name)];
  b.push(makeFor(results, b.const(0), count, 1, [t0, y], makeBlock([c, tp, yp], instrs, [r.tape, r.y]), b.loc));
  return { tape: results[0]!, y: results[1]! };
}

/**
 * The recomputation of an iteration over the restored tensor: reads see the stores made
 * before them in the iteration (forwarded by index at run time), stores are not repeated.
 */
export class Forwarding {
  /** Chain value -> its carried position and how many of the chain's stores made it. */
  private readonly version = new Map<ValueId, { k: number; j: number }>();
  private readonly written = new Map<number, { idx: readonly Value[]; value: Value }[]>();

  /** The straight chains (by carried position) over their restored tensors; `outer` serves an enclosing loop's. */
  constructor(
    chains: ReadonlyMap<number, UndoChain>, carried: readonly Value[], private readonly start: ReadonlyMap<number, Value>,
    private readonly outer?: Forwarding,
  ) {
    for (const [k, chain] of chains) {
      this.version.set(carried[k]!.id, { k, j: 0 });
      chain.stores.forEach((s, j) => this.version.set(s.result.id, { k, j: j + 1 }));
      this.written.set(k, []);
    }
  }

  /** Whether instr reads or writes a chain (so the caller emits it through `emit`). */
  handles(instr: SimpleInstr): boolean {
    return ((instr.op === "index" || instr.op === "store" || instr.op === "accum") && this.version.has(instr.args[0]!.id)) ||
      (this.outer?.handles(instr) ?? false);
  }

  /**
   * Emits instr's recomputation; `primal` maps the original operands. Returns the value to
   * substitute for its result (a read's value; for a store, the restored tensor).
   */
  emit(b: Builder, instr: SimpleInstr, primal: (v: Value) => Value): Value {
    const own = this.version.get(instr.args[0]!.id);
    if (!own) return this.outer!.emit(b, instr, primal);
    const { k, j } = own;
    const rank = instr.op === "index" ? instr.args.length - 1 : instr.args.length - 2;
    const idx = instr.args.slice(1, 1 + rank).map(primal);
    if (instr.op === "index") return this.read(b, k, j, idx, instr.result.name);
    const v = primal(instr.args[rank + 1]!);
    const value = instr.op === "store" ? v : b.emit("add", [this.read(b, k, j, idx, undefined), v], {});
    this.written.get(k)!.push({ idx, value });
    return this.start.get(k)!;
  }

  /** y[idx] after the first j stores of chain k: the latest of them at idx, else the restored tensor's. */
  private read(b: Builder, k: number, j: number, idx: readonly Value[], name: string | undefined): Value {
    let v = b.emit("index", [this.start.get(k)!, ...idx], {}, name);
    for (const w of this.written.get(k)!.slice(0, j)) {
      const same = idx.map((i, d) => b.emit("eq", [i, w.idx[d]!], {})).reduce((a, c) => b.emit("and", [a, c], {}));
      v = b.emit("select", [same, w.value, v], {}, name);
    }
    return v;
  }
}
