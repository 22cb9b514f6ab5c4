// Reverse mode: turns an entry's Func into its GradFunc, the forward pass followed by the
// backward pass, in one function that the code generator can also split in two.
//
// The seed algorithm (Version B): every adjoint starts at zero (absent from the map), the
// output's adjoint is 1 (or the cotangent), and the instructions are visited in reverse
// order; each adds dy/du * du/dv into the adjoints of its arguments (the op table's rules).
//
// What the backward pass reads:
// - At the top level it reuses the forward pass's values (no recomputation).
// - A region (an if branch, a loop body) is reversed as a region: its backward code first
//   recomputes the region's forward instructions, then runs their adjoints in reverse.
//   Dead-code elimination afterwards drops every recomputation the adjoint does not read.
// - A loop is reversed as a loop that runs its iterations backwards, whatever its trip
//   count (a `for` over any integer bounds, a `while`): never unrolled. Its forward copy
//   pushes each iteration's incoming loop-carried values onto tapes (stacks, one per
//   carried value; a while also counts its iterations); each reversed iteration pops them,
//   recomputes the body and runs its adjoints. Tapes nobody pops are removed by dead-code
//   elimination, so only what the backward pass needs is saved (the running maximum of a
//   hand-written max-pool, the hidden state of an RNN), and a tensor accumulated with `+=`
//   (a hand-written convolution) is never saved.
// - A loop body's costly calls (exp, log, tanh...: OpDef.costly) and the results of its
//   nested loops that only sum numbers (sumsOnly) are residuals: the forward copy pushes them, the reversed iteration pops
//   them instead of computing them again (not in a body that updates a tensor in place,
//   whose tape keeps only what it overwrites).
// - Outer values that a loop body reads get their adjoints carried through the reversed
//   loop (the `+=` into dW of a hand-written layer accumulates across iterations).
// - A branch's condition is read from the forward pass (top level) or recomputed.

import { Builder, createBuilder, makeBlock, makeFor, makeIf, makeWhile } from "../ir/builder.js";
import {
  Block, F64, ForInstr, Func, GradFunc, IfInstr, Instr, SimpleInstr, TAPE, Value, ValueId, WhileInstr, isSimple,
  operandsOf, resultsOf, staticTrip,
} from "../ir/types.js";
import { forEachDefinition, forEachUse, maxValueId, regionsOf } from "../ir/walk.js";
import { applyRule } from "../ir/inline.js";
import { OPS } from "../ops/index.js";
import { VjpRule } from "../ops/op.js";
import {
  Forwarding, type UndoChain, popOverwritten, pushOverwritten, restoreCounted, restoreOverwritten, undoChains, writeBack,
} from "./undoTapes.js";

/**
 * A map that reads through to its parent: a region's primal substitution or adjoints over
 * its enclosing region's, without copying them (nesting costs a lookup, not a copy).
 */
class Layered {
  readonly own = new Map<ValueId, Value>();
  constructor(private readonly parent?: Layered) {}
  get(id: ValueId): Value | undefined {
    for (let m: Layered | undefined = this; m; m = m.parent) {
      const v = m.own.get(id);
      if (v !== undefined) return v;
    }
    return undefined;
  }
  set(id: ValueId, v: Value): void {
    this.own.set(id, v);
  }
  has(id: ValueId): boolean {
    return this.get(id) !== undefined;
  }
}

type Adj = Layered;

/**
 * What a loop's forward copy left for its reversal: one tape per carried value, then one per
 * residual (a number of the body that its forward copy pushed), and a while's trip count.
 */
interface LoopTapes {
  readonly tapes: readonly Value[];
  readonly residuals: readonly Residual[];
  readonly count?: Value;
}

interface Ctx {
  /** Primal value substitution: original value -> the value computing it in this region. */
  readonly P: Layered;
  /** The tapes of the loops cloned in this region. */
  readonly tapes: Map<ForInstr | WhileInstr, LoopTapes>;
  /** Cloning to recompute inside the backward pass: run-time checks already ran forward. */
  readonly recompute: boolean;
  /**
   * A loop body's forward copy: the undo tapes that element stores push what they overwrite
   * onto, by chain (an enclosing loop's deep chain's tape is carried through nested loops).
   */
  undo?: Map<UndoChain, Slot>;
  /** A reversed iteration's recomputation over restored tensors (straight chains; see undoTapes.ts). */
  forwarding?: Forwarding;
  /** A reversed iteration: the residuals it popped, which its recomputation does not compute again. */
  popped?: ReadonlyMap<ValueId, Value>;
  /** A reversed iteration of deep chains: the tensors as the adjoints have restored them so far. */
  restore?: Restore;
}

/** A number a loop body's forward copy pushes for its reversal (see residualsOf), and its tape's name. */
interface Residual {
  readonly value: Value;
  readonly name: string;
}

/** An undo tape in a forward copy, and for a deep chain the number of records this iteration pushed. */
interface Slot {
  tape: Value;
  count?: Value;
}

interface Restore {
  /** Each deep chain's tensor, restored back to the point the adjoints have reached. */
  readonly cur: Map<UndoChain, Value>;
  /** The element each of the body's own stores overwrote, read by the recomputation. */
  readonly olds: Map<SimpleInstr, Value>;
  readonly ofStore: ReadonlyMap<SimpleInstr, UndoChain>;
  readonly ofLoop: ReadonlyMap<Instr, readonly UndoChain[]>;
}

export function reverseMode(fn: Func, wrtNames: readonly string[] | null): GradFunc {
  return new ReverseMode(fn).run(wrtNames);
}

class ReverseMode {
  private readonly b: Builder;
  /** Adjoint value -> the primal value it is the adjoint of (for names). */
  private readonly adjoints = new Map<ValueId, ValueId>();
  private readonly byId = new Map<ValueId, Value>();
  /** The block defining each value, and each block's parent: is a value defined inside a region? */
  private readonly homeOf = new Map<ValueId, Block>();
  private readonly parentBlock = new Map<Block, Block>();
  private readonly constants = new Map<ValueId, number>();
  /** Each loop body's undo chains, found once for its forward copy and its reversal. */
  private readonly chains = new Map<Block, Map<number, UndoChain>>();
  /** Each store of a chain -> the chains whose tapes it pushes onto (its own loop's, enclosing deep chains'). */
  private readonly pushers = new Map<SimpleInstr, UndoChain[]>();
  /** Each loop body's residuals (see residualsOf). */
  private readonly residuals = new Map<Block, Residual[]>();

  constructor(private readonly fn: Func) {
    this.b = createBuilder(maxValueId(fn.body) + 1, fn.loc);
    forEachDefinition(fn.body, (v) => this.byId.set(v.id, v));
    const blocks: Block[] = [fn.body];
    for (let n = 0; n < blocks.length; n++) {
      const block = blocks[n]!;
      block.params.forEach((p) => this.homeOf.set(p.id, block));
      for (const instr of block.instrs) {
        resultsOf(instr).forEach((r) => this.homeOf.set(r.id, block));
        if (instr.op === "const") this.constants.set(instr.result.id, (instr.attrs as { value: number }).value);
        for (const r of regionsOf(instr)) {
          this.parentBlock.set(r, block);
          blocks.push(r);
        }
      }
    }
  }

  run(wrtNames: readonly string[] | null): GradFunc {
    const { b, fn } = this;
    const params = fn.body.params;
    const top: Ctx = { P: new Layered(), tapes: new Map(), recompute: false };
    params.forEach((p) => top.P.set(p.id, p));
    const forward = b.block(() => this.clone(fn.body.instrs, top));
    const out = fn.body.yields[0]!;
    const cotangent = out.type.kind === "tensor" ? b.value(out.type, "cotangent") : null;
    let grads: Value[] = [];
    let wrt: string[] = [];
    const backward = b.block(() => {
      b.loc = fn.loc;
      const adj: Adj = new Layered();
      this.accumulate(adj, out, cotangent ?? b.const(1));
      this.reverse(fn.body.instrs, adj, top);
      const chosen = wrtNames
        ? wrtNames.map((n) => params.find((p) => p.name === n)!)
        : params.filter((p) => p.type.kind !== "bool" && adj.has(p.id) && !fn.integers?.includes(p.name!));
      grads = chosen.map((p) => adj.get(p.id) ?? this.zero(p));
      wrt = chosen.map((p) => p.name!);
    });
    return {
      name: fn.name,
      ...(fn.sizes ? { sizes: fn.sizes } : {}),
      ...(fn.integers ? { integers: fn.integers } : {}),
      ...(fn.rules ? { rules: fn.rules } : {}),
      body: makeBlock([...params, ...(cotangent ? [cotangent] : [])], [...forward, ...backward], [this.primal(top, out), ...grads]),
      splitAt: forward.length,
      wrt,
      hasCotangent: cotangent !== null,
      loc: fn.loc,
      // (the primal values named by their top-level forward copies, as the gradient function holds them)
      adjoints: [...this.adjoints].map(([a, v]) => [a, this.primal(top, this.byId.get(v) ?? ({ id: v } as Value)).id] as const),
    };
  }

  // ------------------------------------------------------------------ helpers
  private child(ctx: Ctx, recompute = ctx.recompute): Ctx {
    return { P: new Layered(ctx.P), tapes: new Map(), recompute, ...(ctx.forwarding ? { forwarding: ctx.forwarding } : {}) };
  }
  private primal(ctx: Ctx, v: Value): Value {
    return ctx.P.get(v.id) ?? v;
  }
  private zero(v: Value): Value {
    return v.type.kind === "tensor" ? this.b.emit("zeros", [], { shape: v.type.shape }, dname(v)) : this.b.const(0);
  }
  private within(id: ValueId, region: Block): boolean {
    for (let b = this.homeOf.get(id); b; b = this.parentBlock.get(b)) if (b === region) return true;
    return false;
  }
  private constOf = (v: Value): number | undefined => this.constants.get(v.id) ?? this.b.constantOf(v);

  // ------------------------------------------------------------------ forward copies
  private clone(instrs: readonly Instr[], ctx: Ctx): void {
    const { b } = this;
    for (const instr of instrs) {
      b.loc = instr.loc;
      if (isSimple(instr)) {
        b.origin = instr.origin ?? instr.result.id;
        if (ctx.popped?.has(instr.result.id)) continue;
        if (ctx.recompute && instr.op === "checkIndex") {
          ctx.P.set(instr.result.id, this.primal(ctx, instr.args[0]!));
          continue;
        }
        if (ctx.forwarding?.handles(instr)) {
          ctx.P.set(instr.result.id, ctx.forwarding.emit(b, instr, (v) => this.primal(ctx, v)));
          continue;
        }
        const chains = ctx.undo || ctx.restore ? this.pushers.get(instr) : undefined;
        if (chains) {
          const idx = instr.args.slice(1, -1).map((a) => this.primal(ctx, a));
          for (const c of chains) {
            const slot = ctx.undo?.get(c);
            if (!slot) continue;
            slot.tape = pushOverwritten(b, slot.tape, this.primal(ctx, instr.args[0]!), idx, !c.indexFree);
            if (slot.count) slot.count = b.emit("add", [slot.count, b.const(1)], {}, "writes");
          }
          if (ctx.restore?.ofStore.has(instr)) ctx.restore.olds.set(instr, b.emit("index", [this.primal(ctx, instr.args[0]!), ...idx], {}, "old"));
        }
        const r = b.emit(instr.op, instr.args.map((a) => this.primal(ctx, a)), instr.attrs, instr.result.name);
        ctx.P.set(instr.result.id, r);
      } else if (instr.op === "if") {
        const branch = (block: Block): Block => {
          const bctx = this.child(ctx);
          const body = b.block(() => this.clone(block.instrs, bctx));
          return makeBlock([], body, block.yields.map((y) => this.primal(bctx, y)));
        };
        const thenB = branch(instr.then);
        const elseB = branch(instr.else);
        const results = instr.results.map((r) => b.value(r.type, r.name));
        b.push(makeIf(results, this.primal(ctx, instr.cond), thenB, elseB, instr.loc));
        instr.results.forEach((r, k) => ctx.P.set(r.id, results[k]!));
      } else {
        if (instr.op === "for") this.cloneFor(instr, ctx);
        else this.cloneWhile(instr, ctx);
        // (a nested loop still runs for the tapes its reversal pops; its popped numbers are read
        // rather than its results, and where nothing else reads the loop, dead-code elimination drops it)
        for (const r of instr.results) {
          const v = ctx.popped?.get(r.id);
          if (v) ctx.P.set(r.id, v);
        }
      }
    }
  }

  private chainsOf(body: Block, carried: readonly Value[]): Map<number, UndoChain> {
    let c = this.chains.get(body);
    if (!c) {
      this.chains.set(body, (c = undoChains(body, carried)));
      for (const chain of c.values()) {
        for (const s of chain.all) {
          const list = this.pushers.get(s) ?? [];
          list.push(chain);
          this.pushers.set(s, list);
        }
      }
    }
    return c;
  }

  /**
   * The undo tapes of enclosing loops' deep chains that loop L is on: carried through L's
   * forward copy (as extra carried values) so that its stores can push onto them.
   */
  private threadInto(L: ForInstr | WhileInstr, ctx: Ctx): { init: Value[]; params: () => Value[]; inner: Map<UndoChain, Slot>; finish: (results: readonly Value[]) => void; yields: () => Value[] } {
    const { b } = this;
    const outer = ctx.undo ? [...ctx.undo].filter(([c]) => c.through.has(L)) : [];
    const flat = (s: Slot): Value[] => (s.count ? [s.tape, s.count] : [s.tape]);
    const inner = new Map<UndoChain, Slot>();
    const params: Value[] = [];
    for (const [c, s] of outer) {
      const slot: Slot = { tape: b.value(TAPE, s.tape.name), ...(s.count ? { count: b.value(F64, "writes") } : {}) };
      inner.set(c, slot);
      params.push(...flat(slot));
    }
    return {
      init: outer.flatMap(([, s]) => flat(s)),
      params: () => params,
      inner,
      yields: () => outer.flatMap(([c]) => flat(inner.get(c)!)),
      finish: (results) => {
        let n = 0;
        for (const [, s] of outer) {
          s.tape = results[n++]!;
          if (s.count) s.count = results[n++]!;
        }
      },
    };
  }

  /** Fresh values for a loop's threaded results (as many as its threaded init). */
  private threadResults(init: readonly Value[]): Value[] {
    return init.map((v) => this.b.value(v.type, v.name));
  }

  /** The names of a loop's tapes: one per carried value, then one per residual. */
  private tapeNames(carried: readonly Value[], residuals: readonly Residual[]): string[] {
    return [...carried.map((p) => `${p.name ?? "v"}Tape`), ...residuals.map((r) => `${r.name}Tape`)];
  }

  /** The loop's tapes, created before it. */
  private newTapes(names: readonly string[]): Value[] {
    return names.map((n) => this.b.emit("tape", [], {}, n));
  }

  /**
   * The residuals of a loop body: the numbers of its costly ops (OpDef.costly: exp, log,
   * tanh...) that compute a number from what changes between iterations, and the results
   * of its nested loops that only add up numbers (a sum over a row, as many operations as
   * the row is long: the reversed iteration would run the loop again only for them; see
   * sumsOnly).
   * The forward copy pushes each one and the reversed iteration pops it rather than
   * computing it again (JAX and PyTorch keep such residuals too); where the backward pass
   * reads none, dead-code elimination removes the tape with its pushes. A body that updates
   * a tensor in place (an undo chain) has none: its tape holds the numbers it overwrites and
   * nothing else, one per write (SPEC section 5), and its reversal recomputes the rest.
   */
  private residualsOf(body: Block, carried: readonly Value[]): Residual[] {
    const cached = this.residuals.get(body);
    if (cached) return cached;
    const r: Residual[] = [];
    if (this.chainsOf(body, carried).size === 0) {
      const varies = new Set<ValueId>(body.params.map((p) => p.id));
      for (const instr of body.instrs) {
        if (!isSimple(instr)) {
          resultsOf(instr).forEach((v) => varies.add(v.id));
          if (instr.op !== "if" && sumsOnly(instr)) {
            for (const v of instr.results) r.push({ value: v, name: v.name ?? "sum" });
          }
          continue;
        }
        if (!instr.args.some((a) => varies.has(a.id))) continue;
        varies.add(instr.result.id);
        if (OPS[instr.op].costly && instr.result.type.kind === "f64") r.push({ value: instr.result, name: instr.result.name ?? OPS[instr.op].name ?? instr.op });
      }
    }
    this.residuals.set(body, r);
    return r;
  }

  /** Each residual's tape value and push, at the end of a forward copy's iteration. */
  private pushResiduals(residuals: readonly Residual[], tapeParams: readonly Value[], bctx: Ctx): Value[] {
    return residuals.map((r, k) => this.b.emit("push", [tapeParams[k]!, this.primal(bctx, r.value)], {}, tapeParams[k]!.name));
  }

  /**
   * At the start of an iteration's forward copy: pushes each carried value, or, for a
   * tensor written element by element, arranges for the stores to push what they overwrite.
   * Returns a function giving the tapes after the iteration.
   */
  private recordIteration(body: Block, carried: readonly Value[], carried2: readonly Value[], tapeParams: readonly Value[], bctx: Ctx): () => Value[] {
    const { b } = this;
    const chains = this.chainsOf(body, carried);
    const tapes = carried2.map((c, k) => (chains.has(k) ? tapeParams[k]! : b.emit("push", [tapeParams[k]!, c], {}, tapeParams[k]!.name)));
    if (chains.size) {
      bctx.undo ??= new Map();
      for (const [k, chain] of chains) bctx.undo.set(chain, { tape: tapes[k]!, ...(chain.deep ? { count: b.const(0) } : {}) });
    }
    return () => tapes.map((t, k) => {
      const chain = chains.get(k);
      if (!chain) return t;
      const slot = bctx.undo!.get(chain)!;
      // a deep chain's iteration ends with how many records it pushed
      return slot.count ? b.emit("push", [slot.tape, slot.count], {}, slot.tape.name) : slot.tape;
    });
  }

  private cloneFor(L: ForInstr, ctx: Ctx): void {
    const { b } = this;
    const [iv, ...carried] = L.body.params as [Value, ...Value[]];
    const residuals = this.residualsOf(L.body, carried);
    const tapeNames = this.tapeNames(carried, residuals);
    const tapeInit = this.newTapes(tapeNames);
    const iv2 = b.value(F64, iv.name);
    const carried2 = carried.map((p) => b.value(p.type, p.name));
    const tapeParams = tapeNames.map((n) => b.value(TAPE, n));
    const bctx = this.child(ctx);
    bctx.P.set(iv.id, iv2);
    carried.forEach((p, k) => bctx.P.set(p.id, carried2[k]!));
    const thread = this.threadInto(L, ctx);
    if (thread.inner.size) bctx.undo = thread.inner;
    let pushed: Value[] = [];
    let threaded: Value[] = [];
    const body = b.block(() => {
      // each iteration's incoming carried values (or what it overwrites), for the reversed iteration
      const after = this.recordIteration(L.body, carried, carried2, tapeParams, bctx);
      this.clone(L.body.instrs, bctx);
      pushed = [...after(), ...this.pushResiduals(residuals, tapeParams.slice(carried.length), bctx)];
      threaded = thread.yields();
    });
    const results = carried.map((r, k) => b.value(L.results[k]!.type, r.name));
    const tapes = tapeNames.map((n) => b.value(TAPE, n));
    const thResults = this.threadResults(thread.init);
    b.loc = L.loc;
    b.push(makeFor([...results, ...tapes, ...thResults], this.primal(ctx, L.start), this.primal(ctx, L.end), L.step,
      [...L.init.map((v) => this.primal(ctx, v)), ...tapeInit, ...thread.init],
      makeBlock([iv2, ...carried2, ...tapeParams, ...thread.params()], body, [...L.body.yields.map((y) => this.primal(bctx, y)), ...pushed, ...threaded]),
      L.loc));
    thread.finish(thResults);
    L.results.forEach((r, k) => ctx.P.set(r.id, results[k]!));
    ctx.tapes.set(L, { tapes, residuals });
  }

  private cloneWhile(W: WhileInstr, ctx: Ctx): void {
    const { b } = this;
    const residuals = this.residualsOf(W.body, W.body.params);
    const tapeNames = this.tapeNames(W.body.params, residuals);
    const tapeInit = this.newTapes(tapeNames);
    const zero = b.const(0);
    const carry = (): { carried: Value[]; tapes: Value[]; count: Value } => ({
      carried: W.body.params.map((p) => b.value(p.type, p.name)),
      tapes: tapeNames.map((n) => b.value(TAPE, n)),
      count: b.value(F64, "trips"),
    });
    const thread = this.threadInto(W, ctx);
    const c = carry();
    const cctx = this.child(ctx);
    W.cond.params.forEach((p, k) => cctx.P.set(p.id, c.carried[k]!));
    const condInstrs = b.block(() => this.clone(W.cond.instrs, cctx));
    const cond = makeBlock([...c.carried, ...c.tapes, c.count, ...this.threadResults(thread.init)], condInstrs, [this.primal(cctx, W.cond.yields[0]!)]);
    const d = carry();
    const bctx = this.child(ctx);
    W.body.params.forEach((p, k) => bctx.P.set(p.id, d.carried[k]!));
    if (thread.inner.size) bctx.undo = thread.inner;
    let pushed: Value[] = [];
    let threaded: Value[] = [];
    let next: Value = d.count;
    const bodyInstrs = b.block(() => {
      const after = this.recordIteration(W.body, W.body.params, d.carried, d.tapes, bctx);
      next = b.emit("add", [d.count, b.const(1)], {}, "trips");
      this.clone(W.body.instrs, bctx);
      pushed = [...after(), ...this.pushResiduals(residuals, d.tapes.slice(W.body.params.length), bctx)];
      threaded = thread.yields();
    });
    const body = makeBlock([...d.carried, ...d.tapes, d.count, ...thread.params()], bodyInstrs,
      [...W.body.yields.map((y) => this.primal(bctx, y)), ...pushed, next, ...threaded]);
    const r = carry();
    const thResults = this.threadResults(thread.init);
    b.loc = W.loc;
    b.push(makeWhile([...r.carried, ...r.tapes, r.count, ...thResults], [...W.init.map((v) => this.primal(ctx, v)), ...tapeInit, zero, ...thread.init], cond, body, W.loc));
    thread.finish(thResults);
    W.results.forEach((res, k) => ctx.P.set(res.id, r.carried[k]!));
    ctx.tapes.set(W, { tapes: r.tapes, residuals, count: r.count });
  }

  // ------------------------------------------------------------------ adjoints
  private setAdj(adj: Adj, v: Value, a: Value): void {
    adj.set(v.id, a);
    if (!this.adjoints.has(a.id)) this.adjoints.set(a.id, v.id);
  }

  private accumulate(adj: Adj, v: Value, g: Value): void {
    if (v.type.kind === "bool" || v.type.kind === "tape") return;
    if (v.type.kind === "f64" && g.type.kind === "tensor") g = this.b.emit("sum", [g], {});
    const cur = adj.get(v.id);
    this.setAdj(adj, v, cur ? this.b.emit("add", [cur, g], {}, dname(v)) : g);
  }

  private accumulateAt(adj: Adj, x: Value, idx: readonly Value[], g: Value): void {
    const cur = adj.get(x.id) ?? this.zero(x);
    this.setAdj(adj, x, this.b.emit("accum", [cur, ...idx, g], {}, dname(x)));
  }

  private reverse(instrs: readonly Instr[], adj: Adj, ctx: Ctx): void {
    const { b } = this;
    for (let n = instrs.length - 1; n >= 0; n--) {
      const instr = instrs[n]!;
      b.loc = instr.loc;
      if (instr.op === "if") this.reverseIf(instr, adj, ctx);
      else if (instr.op === "for") this.reverseFor(instr, adj, ctx);
      else if (instr.op === "while") this.reverseWhile(instr, adj, ctx);
      else {
        b.origin = instr.origin ?? instr.result.id;
        const dy = adj.get(instr.result.id);
        const rule: unknown = OPS[instr.op].vjp;
        if (dy && rule !== "nondiff") {
          if (typeof rule !== "function") throw new Error(`internal: ${instr.op} cannot appear in a forward function`);
          const remapped = { ...instr, args: instr.args.map((a) => this.primal(ctx, a)), result: this.primal(ctx, instr.result) } as SimpleInstr;
          (rule as VjpRule<typeof instr.op>)(remapped, dy, {
            b,
            add: (k, g) => this.accumulate(adj, instr.args[k]!, g),
            addAt: (k, idx, g) => this.accumulateAt(adj, instr.args[k]!, idx, g),
            rule: (k, args) => applyRule(b, this.fn, k, args),
          });
        }
        if (ctx.restore?.ofStore.has(instr)) this.unstore(instr, ctx, ctx.restore);
      }
    }
  }

  /** A deep chain's own store, reversed: the element it overwrote goes back (read by the recomputation). */
  private unstore(instr: SimpleInstr, ctx: Ctx, restore: Restore): void {
    const chain = restore.ofStore.get(instr)!;
    const idx = instr.args.slice(1, -1).map((a) => this.primal(ctx, a));
    const y = this.b.emit("store", [restore.cur.get(chain)!, ...idx, restore.olds.get(instr)!], {}, instr.args[0]!.name);
    restore.cur.set(chain, y);
    ctx.P.set(instr.args[0]!.id, y);
  }

  /**
   * Loop L (a for or while at carried position m of an enclosing deep chain), reversed by
   * reversedLoop, left the tensor as L found it: the chain's tensor from here on.
   */
  private unloop(L: ForInstr | WhileInstr, ctx: Ctx, restored: ReadonlyMap<number, Value>): void {
    for (const chain of ctx.restore?.ofLoop.get(L) ?? []) {
      const m = chain.loops.get(L)!;
      const y = restored.get(m) ?? ctx.restore!.cur.get(chain)!;
      ctx.restore!.cur.set(chain, y);
      ctx.P.set(L.init[m]!.id, y);
    }
  }

  /** The adjoints of L's results; a deep chain's tensor gets one even if nothing reads it (L still has to be undone). */
  private resultAdjoints(L: ForInstr | WhileInstr, adj: Adj, ctx: Ctx): (Value | undefined)[] {
    const on = new Set((ctx.restore?.ofLoop.get(L) ?? []).map((c) => c.loops.get(L)!));
    return L.results.map((r, k) => adj.get(r.id) ?? (on.has(k) ? this.zero(r) : undefined));
  }

  private reverseIf(I: IfInstr, adj: Adj, ctx: Ctx): void {
    const { b } = this;
    const dys = I.results.map((r) => adj.get(r.id));
    if (dys.every((d) => d === undefined)) return;
    const branch = (block: Block) => {
      const bctx = this.child(ctx, true);
      const badj: Adj = new Layered(adj);
      const instrs = b.block(() => {
        this.clone(block.instrs, bctx);
        block.yields.forEach((y, k) => dys[k] && this.accumulate(badj, y, dys[k]!));
        this.reverse(block.instrs, badj, bctx);
      });
      return { instrs, badj };
    };
    const T = branch(I.then);
    const E = branch(I.else);
    const touched: Value[] = [];
    const seen = new Set<ValueId>();
    for (const [side, block] of [[T, I.then], [E, I.else]] as const) {
      for (const [id] of side.badj.own) {
        if (side.badj.get(id) !== adj.get(id) && !this.within(id, block) && !seen.has(id)) {
          seen.add(id);
          touched.push(this.byId.get(id)!);
        }
      }
    }
    if (touched.length === 0) return;
    const finish = (side: typeof T): Block => {
      let yields: Value[] = [];
      const extra = b.block(() => {
        yields = touched.map((v) => side.badj.get(v.id) ?? adj.get(v.id) ?? this.zero(v));
      });
      return makeBlock([], [...side.instrs, ...extra], yields);
    };
    const thenB = finish(T);
    const elseB = finish(E);
    const results = touched.map((v) => b.value(v.type, dname(v)));
    b.loc = I.loc;
    b.push(makeIf(results, this.primal(ctx, I.cond), thenB, elseB, I.loc));
    touched.forEach((v, k) => this.setAdj(adj, v, results[k]!));
  }

  /** The last counter value of L: start + (trip - 1) step, from the bounds at run time. */
  private lastOf(L: ForInstr, start: Value, end: Value): Value {
    const { b } = this;
    if (L.step === 1) return b.emit("sub", [end, b.const(1)], {});
    if (L.step === -1) return b.emit("add", [end, b.const(1)], {});
    const trips = b.emit("ceil", [b.emit("div", [b.emit("sub", [end, start], {}), b.const(L.step)], {})], {});
    return b.emit("add", [start, b.emit("mul", [b.emit("sub", [trips, b.const(1)], {}), b.const(L.step)], {})], {});
  }

  private reverseFor(L: ForInstr, adj: Adj, ctx: Ctx): void {
    const { b } = this;
    const dRs = this.resultAdjoints(L, adj, ctx);
    if (dRs.every((d) => d === undefined)) return;
    if (staticTrip(L, this.constOf) === 0) {
      L.init.forEach((v, k) => dRs[k] && this.accumulate(adj, v, dRs[k]!));
      this.unloop(L, ctx, new Map());
      return;
    }
    const saved = ctx.tapes.get(L);
    if (!saved) throw new Error("internal: a loop is reversed without its forward copy");
    const [iv, ...carried] = L.body.params as [Value, ...Value[]];
    const start = this.primal(ctx, L.start);
    const end = this.primal(ctx, L.end);
    const last = this.lastOf(L, start, end);
    const stop = b.emit("sub", [start, b.const(L.step)], {});
    const iv2 = b.value(F64, iv.name);
    const restored = this.reversedLoop(L.body, carried, L.init, L.results, dRs, saved, adj, ctx, L.loc, (tapes, adjoints, body, yields, results) =>
      makeFor(results, last, stop, -L.step, [...saved.tapes, ...adjoints], makeBlock([iv2, ...tapes, ...body.params], body.instrs, yields), L.loc),
    (bctx) => bctx.P.set(iv.id, iv2));
    this.unloop(L, ctx, restored);
  }

  private reverseWhile(W: WhileInstr, adj: Adj, ctx: Ctx): void {
    const { b } = this;
    const dRs = this.resultAdjoints(W, adj, ctx);
    if (dRs.every((d) => d === undefined)) return;
    const saved = ctx.tapes.get(W);
    if (!saved?.count) throw new Error("internal: a while loop is reversed without its forward copy");
    const last = b.emit("sub", [saved.count, b.const(1)], {});
    const stop = b.const(-1);
    const r = b.value(F64, "trip");
    const restored = this.reversedLoop(W.body, W.body.params, W.init, W.results, dRs, saved, adj, ctx, W.loc, (tapes, adjoints, body, yields, results) =>
      makeFor(results, last, stop, -1, [...saved.tapes, ...adjoints], makeBlock([r, ...tapes, ...body.params], body.instrs, yields), W.loc),
    () => {});
    this.unloop(W, ctx, restored);
  }

  /**
   * The reversed loop of a loop body: each iteration pops the carried values the forward
   * copy pushed, recomputes the body from them and runs its adjoints. Carries the tapes, the
   * adjoints of the carried values and of every outer value the body reads, and each tensor
   * restored from an undo tape (starting from the loop's final value: `finals`). Returns
   * those tensors as the reversed loop leaves them (as the loop found them), by position.
   */
  private reversedLoop(
    body: Block, carried: readonly Value[], init: readonly Value[], finals: readonly Value[], dRs: readonly (Value | undefined)[], saved: LoopTapes,
    adj: Adj, ctx: Ctx,
    loc: Instr["loc"],
    make: (tapeParams: Value[], adjointInit: Value[], inner: Block, yields: Value[], results: Value[]) => Instr,
    bind: (bctx: Ctx) => void,
  ): Map<number, Value> {
    const { b } = this;
    const { tapes, residuals } = saved;
    const free = freeValues(body, (id) => this.within(id, body));
    const dCinit = carried.map((p, k) => dRs[k] ?? this.zero(p));
    const dFinit = free.map((f) => adj.get(f.id) ?? this.zero(f));
    const tapeParams = tapes.map((t) => b.value(TAPE, t.name));
    const dC = carried.map((p) => b.value(p.type, dname(p)));
    const dF = free.map((f) => b.value(f.type, dname(f)));
    const bctx = this.child(ctx, true);
    bind(bctx);
    // the tensors restored from undo tapes: as each reversed iteration ends (the loop's result first)
    const chains = this.chainsOf(body, carried);
    const restoredKs = [...chains.keys()];
    const restoredInit = restoredKs.map((k) => this.primal(ctx, finals[k]!));
    const restored = restoredKs.map((k) => b.value(carried[k]!.type, carried[k]!.name));
    let yields: Value[] = [];
    const instrs = b.block(() => {
      const starts = new Map<number, Value>();
      const olds = new Map<number, Value[]>();
      const popped = carried.map((p, k) => {
        const chain = chains.get(k);
        if (chain?.indexFree) {
          const r = popOverwritten(b, tapeParams[k]!, chain.stores.length);
          olds.set(k, r.olds);
          return r.tape;
        }
        if (chain) {
          const y = restored[restoredKs.indexOf(k)]!;
          const r = chain.deep ? restoreCounted(b, tapeParams[k]!, y, rankOf(p), p.name) : restoreOverwritten(b, tapeParams[k]!, y, chain, p.name);
          starts.set(k, r.y);
          bctx.P.set(p.id, r.y);
          return r.tape;
        }
        const v = b.emit("peek", [tapeParams[k]!], { of: p.type }, p.name);
        bctx.P.set(p.id, v);
        return b.emit("drop", [tapeParams[k]!], { of: p.type }, tapeParams[k]!.name);
      });
      // the residuals' numbers, for the recomputation to read instead of calling the functions again
      const numbers = new Map<ValueId, Value>();
      residuals.forEach((r, n) => {
        const t = tapeParams[carried.length + n]!;
        const v = b.emit("peek", [t], { of: F64 }, r.value.name);
        bctx.P.set(r.value.id, v);
        numbers.set(r.value.id, v);
        popped.push(b.emit("drop", [t], { of: F64 }, t.name));
      });
      if (residuals.length) bctx.popped = numbers;
      // index-free chains: the stores' indices first, then the popped numbers go back there
      const slice = new Set([...chains.values()].flatMap((c) => c.indexSlice));
      const early = body.instrs.filter((x) => slice.has(x));
      this.clone(early, bctx);
      for (const [k, os] of olds) {
        const chain = chains.get(k)!;
        const at = chain.stores.map((st) => st.args.slice(1, -1).map((a) => this.primal(bctx, a)));
        const y = writeBack(b, restored[restoredKs.indexOf(k)]!, at, os, carried[k]!.name);
        starts.set(k, y);
        bctx.P.set(carried[k]!.id, y);
      }
      const straight = new Map([...chains].filter(([, c]) => !c.deep));
      const deep = [...chains.values()].filter((c) => c.deep);
      if (straight.size) bctx.forwarding = new Forwarding(straight, carried, starts, ctx.forwarding);
      if (deep.length) bctx.restore = restoreState(deep);
      // the recomputation (a deep chain's with its stores, whose overwritten elements it reads)
      this.clone(early.length ? body.instrs.filter((x) => !slice.has(x)) : body.instrs, bctx);
      for (const c of deep) bctx.restore!.cur.set(c, this.primal(bctx, body.yields[c.k]!));
      const badj: Adj = new Layered();
      free.forEach((f, m) => badj.set(f.id, dF[m]!));
      body.yields.forEach((y, k) => this.accumulate(badj, y, dC[k]!));
      // the adjoints (undoing a deep chain's writes as they go back over them)
      this.reverse(body.instrs, badj, bctx);
      yields = [...popped, ...carried.map((p) => badj.get(p.id) ?? this.zero(p)), ...free.map((f) => badj.get(f.id)!),
        ...restoredKs.map((k) => (chains.get(k)!.deep ? bctx.restore!.cur.get(chains.get(k)!)! : starts.get(k)!))];
    });
    // an outer value the body never adds to (a label, a condition's operand) keeps no adjoint
    const touched = free.map((_, m) => yields[tapes.length + carried.length + m] !== dF[m]);
    const resT = tapes.map((t) => b.value(TAPE, t.name));
    const resC = carried.map((p) => b.value(p.type, dname(p)));
    const resF = free.map((f) => b.value(f.type, dname(f)));
    const resR = restored.map((r) => b.value(r.type, r.name));
    b.loc = loc;
    b.push(make(tapeParams, [...dCinit, ...dFinit, ...restoredInit], makeBlock([...dC, ...dF, ...restored], instrs, []), yields,
      [...resT, ...resC, ...resF, ...resR]));
    free.forEach((f, m) => touched[m] && this.setAdj(adj, f, resF[m]!));
    init.forEach((v, k) => this.accumulate(adj, v, resC[k]!));
    return new Map(restoredKs.map((k, n) => [k, resR[n]!]));
  }
}

/**
 * Does loop L only add up numbers: every value it carries a number that the body uses only
 * to add to or subtract from, and no costly op in it? Then its reversal pops nothing (an
 * addition's adjoint needs no operand), so a reversed iteration of an enclosing loop runs
 * L's forward copy only for L's results, and with them popped it does not run it at all.
 */
function sumsOnly(L: ForInstr | WhileInstr): boolean {
  if (L.op !== "for") return false;
  const carried = L.body.params.slice(1);
  if (!carried.every((p) => p.type.kind === "f64")) return false;
  const ids = new Set(carried.map((p) => p.id));
  let ok = true;
  const visit = (block: Block, top: boolean): void => {
    for (const instr of block.instrs) {
      if (isSimple(instr) && OPS[instr.op].costly) ok = false;
      const additive = top && isSimple(instr) && (instr.op === "add" || (instr.op === "sub" && !ids.has(instr.args[1]!.id)));
      if (!additive && operandsOf(instr).some((a) => ids.has(a.id))) ok = false;
      regionsOf(instr).forEach((r) => {
        visit(r, false);
        if (r.yields.some((y) => ids.has(y.id))) ok = false;
      });
    }
  };
  visit(L.body, true);
  return ok;
}

/** The bookkeeping of a reversed iteration over deep chains (filled by the recomputation and the adjoints). */
function restoreState(deep: readonly UndoChain[]): Restore {
  const ofStore = new Map<SimpleInstr, UndoChain>();
  const ofLoop = new Map<Instr, UndoChain[]>();
  for (const c of deep) {
    for (const s of c.stores) ofStore.set(s, c);
    for (const L of c.loops.keys()) ofLoop.set(L, [...(ofLoop.get(L) ?? []), c]);
  }
  return { cur: new Map(), olds: new Map(), ofStore, ofLoop };
}

const rankOf = (v: Value): number => (v.type.kind === "tensor" ? v.type.shape.length : 0);

const dname = (v: Value): string | undefined => (v.name ? `d${v.name}` : undefined);

/** Values a block reads but does not define (non-boolean), in order of first use. */
function freeValues(block: Block, inside: (id: ValueId) => boolean): Value[] {
  const out: Value[] = [];
  const seen = new Set<ValueId>();
  forEachUse(block, (v) => {
    if (seen.has(v.id) || v.type.kind === "bool" || v.type.kind === "tape" || inside(v.id)) return;
    seen.add(v.id);
    out.push(v);
  });
  return out;
}
