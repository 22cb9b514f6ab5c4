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

import { Builder } from "../ir/builder.js";
import { Block, F64, Instr, SimpleInstr, Value, ValueId, isSimple } from "../ir/types.js";
import { forEachUse, regionsOf } from "../ir/walk.js";

/** A carried tensor's straight line of element stores in a loop body, in order. */
export type UndoChain = readonly SimpleInstr[];

/**
 * For each carried value (by position) that qualifies, its chain: a tensor that the body
 * only reads element by element and writes element by element (store or accum of a
 * number at a full index), in top-level instructions, each version used by nothing but
 * element reads before the next store, and the last version yielded at its position.
 */
export function undoChains(body: Block, carried: readonly Value[]): Map<number, UndoChain> {
  const nested = new Set<ValueId>();
  for (const instr of body.instrs) {
    if (isSimple(instr)) continue;
    for (const r of regionsOf(instr)) forEachUse(r, (v) => nested.add(v.id));
    for (const a of instrArgs(instr)) nested.add(a.id);
  }
  const out = new Map<number, UndoChain>();
  carried.forEach((p, k) => {
    if (p.type.kind !== "tensor") return;
    const rank = p.type.shape.length;
    let cur = p;
    const chain: SimpleInstr[] = [];
    const retired = new Set<ValueId>();
    for (const instr of body.instrs) {
      if (!isSimple(instr)) continue;
      const uses = instr.args.filter((a) => a.id === cur.id || retired.has(a.id));
      if (uses.length === 0) continue;
      if (instr.args.some((a) => retired.has(a.id))) return; // an old version read after a store
      const onlyFirst = instr.args[0]!.id === cur.id && uses.length === 1;
      if (instr.op === "index" && onlyFirst && instr.args.length === rank + 1) continue;
      const write = (instr.op === "store" || instr.op === "accum") && onlyFirst && instr.args.length === rank + 2 &&
        instr.args[rank + 1]!.type.kind === "f64";
      if (!write) return;
      chain.push(instr);
      retired.add(cur.id);
      cur = instr.result;
    }
    if (chain.length === 0 || body.yields[k]?.id !== cur.id) return;
    if (body.yields.some((y, n) => n !== k && (y.id === cur.id || retired.has(y.id)))) return;
    if ([p.id, ...chain.map((s) => s.result.id)].some((id) => nested.has(id))) return;
    out.set(k, chain);
  });
  return out;
}

/** The operands of a region instruction outside its blocks (an if's condition, a loop's bounds and inits). */
function instrArgs(instr: Instr): Value[] {
  if (instr.op === "if") return [instr.cond];
  if (instr.op === "for") return [instr.start, instr.end, ...instr.init];
  if (instr.op === "while") return [...instr.init];
  return [];
}

/** In a forward copy: before a store of a chain, push the element it overwrites, then its indices. */
export function pushOverwritten(b: Builder, tape: Value, cur: Value, idx: readonly Value[]): Value {
  const old = b.emit("index", [cur, ...idx], {}, "old");
  let t = b.emit("push", [tape, old], {}, tape.name);
  for (const i of idx) t = b.emit("push", [t, i], {}, tape.name);
  return t;
}

/**
 * In a reversed iteration: pops what the iteration's stores overwrote, in reverse order, and
 * writes it back into y (the tensor as the iteration left it). Returns the tensor as the
 * iteration found it and the tape after the pops.
 */
export function restoreOverwritten(b: Builder, tape: Value, y: Value, chain: UndoChain, name: string | undefined): { y: Value; tape: Value } {
  let t = tape;
  let cur = y;
  for (let s = chain.length - 1; s >= 0; s--) {
    const rank = chain[s]!.args.length - 2;
    const idx: Value[] = new Array<Value>(rank);
    for (let d = rank - 1; d >= 0; d--) {
      idx[d] = b.emit("peek", [t], { of: F64 }, "at");
      t = b.emit("drop", [t], { of: F64 }, t.name);
    }
    const old = b.emit("peek", [t], { of: F64 }, "old");
    t = b.emit("drop", [t], { of: F64 }, t.name);
    cur = b.emit("store", [cur, ...idx, old], {}, name);
  }
  return { y: cur, tape: t };
}

/**
 * The recomputation of an iteration over the restored tensor: reads see the stores made
 * before them in the iteration (forwarded by index at run time), stores are not repeated.
 */
export class Forwarding {
  /** Chain value -> its carried position and how many of the chain's stores made it. */
  private readonly version = new Map<ValueId, { k: number; j: number }>();
  private readonly written = new Map<number, { idx: readonly Value[]; value: Value }[]>();

  constructor(chains: ReadonlyMap<number, UndoChain>, carried: readonly Value[], private readonly start: ReadonlyMap<number, Value>) {
    for (const [k, chain] of chains) {
      this.version.set(carried[k]!.id, { k, j: 0 });
      chain.forEach((s, j) => this.version.set(s.result.id, { k, j: j + 1 }));
      this.written.set(k, []);
    }
  }

  /** Whether instr reads or writes a chain (so the caller emits it through `emit`). */
  handles(instr: SimpleInstr): boolean {
    return (instr.op === "index" || instr.op === "store" || instr.op === "accum") && this.version.has(instr.args[0]!.id);
  }

  /**
   * Emits instr's recomputation; `primal` maps the original operands. Returns the value to
   * substitute for its result (a read's value; for a store, the restored tensor).
   */
  emit(b: Builder, instr: SimpleInstr, primal: (v: Value) => Value): Value {
    const { k, j } = this.version.get(instr.args[0]!.id)!;
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
