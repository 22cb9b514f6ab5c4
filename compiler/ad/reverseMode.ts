// Reverse mode: turns an entry's Func into its GradFunc, the forward pass followed by the
// backward pass, in one function that the code generator can also split in two.
//
// The seed algorithm (Version B): every adjoint starts at zero (absent from the map), the
// output's adjoint is 1 (or the cotangent), and the instructions are visited in reverse
// order; each adds dy/du * du/dv into the adjoints of its arguments (rules.ts).
//
// What the backward pass reads:
// - At the top level it reuses the forward pass's values (no recomputation).
// - A region (an if branch, a loop body) is reversed as a region: its backward code first
//   recomputes the region's forward instructions, then runs their adjoints in reverse.
//   Dead-code elimination afterwards drops every recomputation the adjoint does not read.
// - A loop is reversed as a loop that runs its iterations backwards. Its forward copy
//   records each iteration's incoming loop-carried values on a tape (one row per
//   iteration, sized by the static trip count); the reversed body restores them from the
//   tape before recomputing. Tapes nobody reads are removed by dead-code elimination, so
//   only loop-carried values that the backward pass really needs are saved (for example,
//   the running maximum of a hand-written max-pool, the hidden state of an RNN), and a
//   tensor accumulated with `+=` (a hand-written convolution) is never saved.
// - Outer values that a loop body reads get their adjoints carried through the reversed
//   loop (the `+=` into dW of a hand-written layer accumulates across iterations).
// - An if branch's condition is read from the forward pass (top level) or recomputed.

import { createBuilder, makeBlock, makeFor, makeIf } from "../ir/builder.js";
import {
  Block, F64, ForInstr, Func, GradFunc, IfInstr, Instr, SimpleInstr, Value, ValueId, isSimple,
  tensorType, tripCount,
} from "../ir/types.js";
import { forEachDefinition, forEachUse, maxValueId } from "../ir/walk.js";
import { OPS } from "../ops/index.js";
import { VjpRule } from "../ops/op.js";

interface Ctx {
  /** Primal value substitution: original value -> the value computing it in this region. */
  readonly P: Layered;
  /** Tapes of the loops cloned in this region: per carried value, the forward loop's tape result. */
  readonly tapes: Map<ForInstr, Value[]>;
  /** Cloning to recompute inside the backward pass: run-time checks already ran forward. */
  readonly recompute: boolean;
}

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

export function reverseMode(fn: Func, wrtNames: readonly string[] | null): GradFunc {
  const b = createBuilder(maxValueId(fn.body) + 1, fn.loc);
  const params = fn.body.params;
  const child = (ctx: Ctx, recompute = ctx.recompute): Ctx => ({ P: new Layered(ctx.P), tapes: new Map(), recompute });
  const primal = (ctx: Ctx, v: Value): Value => ctx.P.get(v.id) ?? v;
  const zero = (v: Value): Value =>
    v.type.kind === "tensor" ? b.emit("zeros", [], { shape: v.type.shape }, v.name ? `d${v.name}` : undefined) : b.const(0);
  const dname = (v: Value): string | undefined => (v.name ? `d${v.name}` : undefined);

  // ------------------------------------------------------------------ forward copies
  function clone(instrs: readonly Instr[], ctx: Ctx): void {
    for (const instr of instrs) {
      b.loc = instr.loc;
      if (isSimple(instr)) {
        b.origin = instr.origin ?? instr.result.id;
        if (ctx.recompute && instr.op === "checkIndex") {
          ctx.P.set(instr.result.id, primal(ctx, instr.args[0]!));
          continue;
        }
        const r = b.emit(instr.op, instr.args.map((a) => primal(ctx, a)), instr.attrs, instr.result.name);
        ctx.P.set(instr.result.id, r);
      } else if (instr.op === "if") {
        const branch = (block: Block): Block => {
          const bctx = child(ctx);
          const instrs = b.block(() => clone(block.instrs, bctx));
          return makeBlock([], instrs, block.yields.map((y) => primal(bctx, y)));
        };
        const thenB = branch(instr.then);
        const elseB = branch(instr.else);
        const results = instr.results.map((r) => b.value(r.type, r.name));
        b.push(makeIf(results, primal(ctx, instr.cond), thenB, elseB, instr.loc));
        instr.results.forEach((r, k) => ctx.P.set(r.id, results[k]!));
      } else {
        cloneFor(instr, ctx);
      }
    }
  }

  /** The iteration number (0, 1, ...) of induction value iv in loop L. */
  function iteration(iv: Value, L: ForInstr): Value {
    if (L.start === 0 && L.step === 1) return iv;
    if (L.step === -1) return b.emit("sub", [b.const(L.start), iv], {});
    const off = L.start === 0 ? iv : b.emit("sub", [iv, b.const(L.start)], {});
    return L.step === 1 ? off : b.emit("div", [off, b.const(L.step)], {});
  }

  function cloneFor(L: ForInstr, ctx: Ctx): void {
    const trip = tripCount(L);
    const [iv, ...carried] = L.body.params as [Value, ...Value[]];
    const taped = trip > 0 ? carried : [];
    const tapeShape = (p: Value): number[] => (p.type.kind === "tensor" ? [trip, ...p.type.shape] : [trip]);
    const tapeType = (p: Value) => tensorType(tapeShape(p));
    const tapeName = (p: Value): string => `${p.name ?? "v"}Tape`;
    const tapeInit = taped.map((p) => b.emit("zeros", [], { shape: tapeShape(p) }, tapeName(p)));
    const iv2 = b.value(F64, iv.name);
    const carried2 = carried.map((p) => b.value(p.type, p.name));
    const tapeParams = taped.map((p) => b.value(tapeType(p), tapeName(p)));
    const bctx = child(ctx);
    bctx.P.set(iv.id, iv2);
    carried.forEach((p, k) => bctx.P.set(p.id, carried2[k]!));
    let tapeNext: Value[] = [];
    const body = b.block(() => {
      if (taped.length) {
        const j = iteration(iv2, L);
        tapeNext = taped.map((_, k) => b.emit("store", [tapeParams[k]!, j, carried2[k]!], {}, tapeParams[k]!.name));
      }
      clone(L.body.instrs, bctx);
    });
    const results = carried.map((r, k) => b.value(L.results[k]!.type, r.name));
    const tapes = taped.map((p) => b.value(tapeType(p), tapeName(p)));
    b.loc = L.loc;
    b.push(makeFor(
      [...results, ...tapes], L.start, L.end, L.step,
      [...L.init.map((v) => primal(ctx, v)), ...tapeInit],
      makeBlock([iv2, ...carried2, ...tapeParams], body, [...L.body.yields.map((y) => primal(bctx, y)), ...tapeNext]),
      L.loc,
    ));
    L.results.forEach((r, k) => ctx.P.set(r.id, results[k]!));
    ctx.tapes.set(L, tapes);
  }

  // ------------------------------------------------------------------ adjoints
  /** Adjoint value -> the primal value it is the adjoint of (for names). */
  const adjoints = new Map<ValueId, ValueId>();
  const setAdj = (adj: Adj, v: Value, a: Value): void => {
    adj.set(v.id, a);
    if (!adjoints.has(a.id)) adjoints.set(a.id, v.id);
  };

  function accumulate(adj: Adj, v: Value, g: Value): void {
    if (v.type.kind === "bool") return;
    if (v.type.kind === "f64" && g.type.kind === "tensor") g = b.emit("sum", [g], {});
    const cur = adj.get(v.id);
    setAdj(adj, v, cur ? b.emit("add", [cur, g], {}, dname(v)) : g);
  }

  function accumulateAt(adj: Adj, x: Value, idx: readonly Value[], g: Value): void {
    const cur = adj.get(x.id) ?? zero(x);
    setAdj(adj, x, b.emit("accum", [cur, ...idx, g], {}, dname(x)));
  }

  function reverse(instrs: readonly Instr[], adj: Adj, ctx: Ctx): void {
    for (let n = instrs.length - 1; n >= 0; n--) {
      const instr = instrs[n]!;
      b.loc = instr.loc;
      if (isSimple(instr)) {
        b.origin = instr.origin ?? instr.result.id;
        const dy = adj.get(instr.result.id);
        if (!dy) continue;
        const rule: unknown = OPS[instr.op].vjp;
        if (rule === "nondiff") continue;
        if (typeof rule !== "function") throw new Error(`internal: ${instr.op} cannot appear in a forward function`);
        const remapped = { ...instr, args: instr.args.map((a) => primal(ctx, a)), result: primal(ctx, instr.result) } as SimpleInstr;
        (rule as VjpRule<typeof instr.op>)(remapped, dy, {
          b,
          add: (k, g) => accumulate(adj, instr.args[k]!, g),
          addAt: (k, idx, g) => accumulateAt(adj, instr.args[k]!, idx, g),
        });
      } else if (instr.op === "if") {
        reverseIf(instr, adj, ctx);
      } else {
        reverseFor(instr, adj, ctx);
      }
    }
  }

  function reverseIf(I: IfInstr, adj: Adj, ctx: Ctx): void {
    const dys = I.results.map((r) => adj.get(r.id));
    if (dys.every((d) => d === undefined)) return;
    const branch = (block: Block) => {
      const bctx = child(ctx, true);
      const badj: Adj = new Layered(adj);
      const instrs = b.block(() => {
        clone(block.instrs, bctx);
        block.yields.forEach((y, k) => {
          if (dys[k]) accumulate(badj, y, dys[k]!);
        });
        reverse(block.instrs, badj, bctx);
      });
      return { instrs, badj };
    };
    const T = branch(I.then);
    const E = branch(I.else);
    const touched: Value[] = [];
    const seen = new Set<ValueId>();
    for (const [side, block] of [[T, I.then], [E, I.else]] as const) {
      for (const [id] of side.badj.own) {
        if (side.badj.get(id) !== adj.get(id) && !within(id, block) && !seen.has(id)) {
          seen.add(id);
          touched.push(valueOf(id));
        }
      }
    }
    if (touched.length === 0) return;
    const finish = (side: typeof T): Block => {
      let yields: Value[] = [];
      const extra = b.block(() => {
        yields = touched.map((v) => side.badj.get(v.id) ?? adj.get(v.id) ?? zero(v));
      });
      return makeBlock([], [...side.instrs, ...extra], yields);
    };
    const thenB = finish(T);
    const elseB = finish(E);
    const results = touched.map((v) => b.value(v.type, dname(v)));
    b.loc = I.loc;
    b.push(makeIf(results, primal(ctx, I.cond), thenB, elseB, I.loc));
    touched.forEach((v, k) => setAdj(adj, v, results[k]!));
  }

  function reverseFor(L: ForInstr, adj: Adj, ctx: Ctx): void {
    const dRs = L.results.map((r) => adj.get(r.id));
    if (dRs.every((d) => d === undefined)) return;
    const trip = tripCount(L);
    if (trip === 0) {
      L.init.forEach((v, k) => dRs[k] && accumulate(adj, v, dRs[k]!));
      return;
    }
    const [iv, ...carried] = L.body.params as [Value, ...Value[]];
    const free = freeValues(L.body, (id) => within(id, L.body));
    const tapes = ctx.tapes.get(L);
    if (!tapes) throw new Error("internal: a loop is reversed without its forward copy");
    const dCinit = carried.map((p, k) => dRs[k] ?? zero(p));
    const dFinit = free.map((f) => adj.get(f.id) ?? zero(f));
    const iv2 = b.value(F64, iv.name);
    const dC = carried.map((p) => b.value(p.type, dname(p)));
    const dF = free.map((f) => b.value(f.type, dname(f)));
    const bctx = child(ctx, true);
    bctx.P.set(iv.id, iv2);
    let yields: Value[] = [];
    const body = b.block(() => {
      const j = iteration(iv2, L);
      carried.forEach((p, k) => bctx.P.set(p.id, b.emit("index", [tapes[k]!, j], {}, p.name)));
      clone(L.body.instrs, bctx);
      const badj: Adj = new Layered();
      free.forEach((f, m) => badj.set(f.id, dF[m]!));
      L.body.yields.forEach((y, k) => accumulate(badj, y, dC[k]!));
      reverse(L.body.instrs, badj, bctx);
      yields = [...carried.map((p) => badj.get(p.id) ?? zero(p)), ...free.map((f) => badj.get(f.id)!)];
    });
    // an outer value the body never adds to (a label, a condition's operand) keeps no adjoint
    const touched = free.map((_, m) => yields[carried.length + m] !== dF[m]);
    const resC = carried.map((p) => b.value(p.type, dname(p)));
    const resF = free.map((f) => b.value(f.type, dname(f)));
    const last = L.start + (trip - 1) * L.step;
    b.loc = L.loc;
    b.push(makeFor([...resC, ...resF], last, L.start - L.step, -L.step, [...dCinit, ...dFinit],
      makeBlock([iv2, ...dC, ...dF], body, yields), L.loc));
    free.forEach((f, m) => touched[m] && setAdj(adj, f, resF[m]!));
    L.init.forEach((v, k) => accumulate(adj, v, resC[k]!));
  }

  // ------------------------------------------------------------------ values by id
  const byId = new Map<ValueId, Value>();
  forEachDefinition(fn.body, (v) => byId.set(v.id, v));
  const valueOf = (id: ValueId): Value => byId.get(id)!;
  /** The block defining each value, and each block's parent: is a value defined inside a region? */
  const homeOf = new Map<ValueId, Block>();
  const parentBlock = new Map<Block, Block>();
  const blocks: Block[] = [fn.body];
  for (let n = 0; n < blocks.length; n++) {
    const block = blocks[n]!;
    block.params.forEach((p) => homeOf.set(p.id, block));
    for (const instr of block.instrs) {
      (isSimple(instr) ? [instr.result] : instr.results).forEach((r) => homeOf.set(r.id, block));
      for (const r of instr.op === "if" ? [instr.then, instr.else] : instr.op === "for" ? [instr.body] : []) {
        parentBlock.set(r, block);
        blocks.push(r);
      }
    }
  }
  const within = (id: ValueId, region: Block): boolean => {
    for (let b = homeOf.get(id); b; b = parentBlock.get(b)) if (b === region) return true;
    return false;
  };

  // ------------------------------------------------------------------ the gradient function
  const topCtx: Ctx = { P: new Layered(), tapes: new Map(), recompute: false };
  params.forEach((p) => topCtx.P.set(p.id, p));
  const forward = b.block(() => clone(fn.body.instrs, topCtx));
  const out = fn.body.yields[0]!;
  const cotangent = out.type.kind === "tensor" ? b.value(out.type, "cotangent") : null;
  let grads: Value[] = [];
  let wrt: string[] = [];
  const backward = b.block(() => {
    b.loc = fn.loc;
    const adj: Adj = new Layered();
    accumulate(adj, out, cotangent ?? b.const(1));
    reverse(fn.body.instrs, adj, topCtx);
    const chosen = wrtNames
      ? wrtNames.map((n) => params.find((p) => p.name === n)!)
      : params.filter((p) => p.type.kind !== "bool" && adj.has(p.id));
    grads = chosen.map((p) => adj.get(p.id) ?? zero(p));
    wrt = chosen.map((p) => p.name!);
  });
  return {
    name: fn.name,
    body: makeBlock([...params, ...(cotangent ? [cotangent] : [])], [...forward, ...backward], [primal(topCtx, out), ...grads]),
    splitAt: forward.length,
    wrt,
    hasCotangent: cotangent !== null,
    loc: fn.loc,
    // (the primal values named by their top-level forward copies, as the gradient function holds them)
    adjoints: [...adjoints].map(([a, v]) => [a, primal(topCtx, valueOf(v) ?? ({ id: v } as Value)).id] as const),
  };
}

/** Values a block reads but does not define (non-boolean), in order of first use. */
function freeValues(block: Block, inside: (id: ValueId) => boolean): Value[] {
  const out: Value[] = [];
  const seen = new Set<ValueId>();
  forEachUse(block, (v) => {
    if (seen.has(v.id) || v.type.kind === "bool" || inside(v.id)) return;
    seen.add(v.id);
    out.push(v);
  });
  return out;
}
