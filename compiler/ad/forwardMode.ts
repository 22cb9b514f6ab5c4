// Forward mode: the Jacobian-vector product of a function, in one pass of the same cost
// class as the function. Each value v gets a tangent ṽ (undefined where it is zero), and
// each instruction is followed by its tangent's instructions, from the op table's JVP rules.
// Regions carry tangents beside their values: an `if` yields the tangents of its results
// from the branch it takes, a loop carries the tangents of its carried values (found by a
// fixed point: a carried value has a tangent when its initial value has one or the body
// gives it one), so loops, branches and dynamic control flow (while loops, break) go
// through as they are, nothing unrolled and nothing recorded.
//
// The same transform over the reverse-mode function gives the Hessian-vector product
// (forward over reverse): a tape's tangent is a tape of the tangents pushed beside it.

import { Builder, createBuilder, makeBlock, makeFor, makeIf, makeWhile } from "../ir/builder.js";
import { Block, Func, GradFunc, Instr, SimpleInstr, TAPE, Value, ValueId, isSimple } from "../ir/types.js";
import { guardedValues } from "../passes/skipZeroAdjoints.js";
import { maxValueId } from "../ir/walk.js";
import { applyRule } from "../ir/inline.js";
import { OPS } from "../ops/index.js";
import { JvpContext, JvpRule } from "../ops/op.js";

/**
 * The function with tangent parameters after its parameters (one for each of `wrt`, by
 * index, shaped like it) and the tangent of each result after its results.
 */
export function forwardMode(fn: Func, wrt: readonly number[]): Func {
  return new ForwardMode(fn).run(wrt);
}

class ForwardMode {
  private readonly b: Builder;
  private readonly ctx: JvpContext;
  /** The simple instructions seen so far, by result (a guard's condition is read through them). */
  private readonly defs = new Map<ValueId, SimpleInstr>();
  constructor(private readonly fn: Func) {
    this.b = createBuilder(maxValueId(fn.body) + 1, fn.loc);
    this.ctx = { b: this.b, zero: (v) => this.zero(v), rule: (k, args) => applyRule(this.b, fn, k, args) };
  }

  run(wrt: readonly number[]): Func {
    const { b, fn } = this;
    const T = new Map<ValueId, Value>();
    const tangents = wrt.map((k) => {
      const p = fn.body.params[k]!;
      const t = b.value(p.type, p.name ? `${p.name}d` : undefined);
      T.set(p.id, t);
      return t;
    });
    let yields: Value[] = [];
    const instrs = b.block(() => {
      this.block(fn.body.instrs, T);
      yields = fn.body.yields.map((y) => T.get(y.id) ?? this.zero(y));
    });
    return { ...fn, body: makeBlock([...fn.body.params, ...tangents], instrs, [...fn.body.yields, ...yields]) };
  }

  private zero(v: Value): Value {
    const { b } = this;
    if (v.type.kind === "tensor") return b.emit("zeros", [], { shape: v.type.shape });
    if (v.type.kind === "tape") return b.emit("tape", [], {});
    return b.const(0);
  }

  private hasTangent(v: Value): boolean {
    return v.type.kind !== "bool";
  }

  /** Appends instrs with their tangents; T maps each value to its tangent (missing: zero). */
  private block(instrs: readonly Instr[], T: Map<ValueId, Value>): void {
    const { b } = this;
    for (const instr of instrs) {
      b.loc = instr.loc;
      if (isSimple(instr)) {
        b.push(instr);
        this.defs.set(instr.result.id, instr);
        const rule = OPS[instr.op].jvp;
        if (rule === "nondiff") continue;
        const t = (rule as JvpRule<typeof instr.op>)(instr, instr.args.map((a) => T.get(a.id)), this.ctx);
        if (t) T.set(instr.result.id, t);
      } else if (instr.op === "if") {
        this.ifInstr(instr, T);
      } else {
        this.loop(instr, T);
      }
    }
  }

  private ifInstr(I: Extract<Instr, { op: "if" }>, T: Map<ValueId, Value>): void {
    const { b } = this;
    // a zero-adjoint guard (passes/skipZeroAdjoints.ts) also runs its loop when a tested adjoint's tangent is not zero
    let cond = I.cond;
    if (I.guard) {
      for (const z of guardedValues(I.cond, (v) => this.defs.get(v.id))) {
        const t = T.get(z.id);
        if (t) cond = b.emit("or", [cond, b.emit("ne", [t, b.const(0)], {})], {});
      }
    }
    const side = (block: Block) => {
      const bt = new Map(T);
      const instrs = b.block(() => this.block(block.instrs, bt));
      return { instrs, bt };
    };
    const th = side(I.then);
    const el = side(I.else);
    const carries = I.results.map((r, k) => this.hasTangent(r) && (th.bt.has(I.then.yields[k]!.id) || el.bt.has(I.else.yields[k]!.id)));
    const finish = (s: typeof th, block: Block): Block => {
      let extra: Value[] = [];
      const fill = b.block(() => {
        extra = I.results.flatMap((_, k) => (carries[k] ? [s.bt.get(block.yields[k]!.id) ?? this.zero(block.yields[k]!)] : []));
      });
      return makeBlock([], [...s.instrs, ...fill], [...block.yields, ...extra]);
    };
    const tangents = I.results.flatMap((r, k) => (carries[k] ? [b.value(r.type, r.name ? `${r.name}d` : undefined)] : []));
    b.loc = I.loc;
    const made = makeIf([...I.results, ...tangents], cond, finish(th, I.then), finish(el, I.else), I.loc);
    b.push(I.guard ? { ...made, guard: true } : made);
    let n = 0;
    I.results.forEach((r, k) => carries[k] && T.set(r.id, tangents[n++]!));
  }

  /** A for or while loop, carrying the tangents of the carried values that have one. */
  private loop(L: Extract<Instr, { op: "for" | "while" }>, T: Map<ValueId, Value>): void {
    const { b } = this;
    const off = L.op === "for" ? 1 : 0;
    const carried = L.body.params.slice(off);
    // which carried values have tangents: those whose initial value has one, and those the body gives one to
    let carries = carried.map((p, k) => this.hasTangent(p) && T.has(L.init[k]!.id));
    for (;;) {
      const trial = this.loopBody(L.body, off, carried, carries, T);
      const more = carried.map((p, k) => carries[k] || (this.hasTangent(p) && trial.bt.has(L.body.yields[k]!.id)));
      if (more.every((c, k) => c === carries[k])) break;
      carries = more;
    }
    const body = this.loopBody(L.body, off, carried, carries, T);
    const init = [...L.init, ...carried.flatMap((_, k) => (carries[k] ? [T.get(L.init[k]!.id) ?? this.zero(L.init[k]!)] : []))];
    const tangents = carried.flatMap((p, k) => (carries[k] ? [b.value(p.type, p.name ? `${p.name}d` : undefined)] : []));
    b.loc = L.loc;
    if (L.op === "for") {
      b.push(makeFor([...L.results, ...tangents], L.start, L.end, L.step, init, body.block, L.loc));
    } else {
      // the condition sees the tangents too (as parameters it does not read)
      const cond = this.loopBody(L.cond, 0, L.cond.params, carries, T, false);
      b.push(makeWhile([...L.results, ...tangents], init, cond.block, body.block, L.loc));
    }
    let n = 0;
    L.results.forEach((r, k) => carries[k] && T.set(r.id, tangents[n++]!));
  }

  /** A loop's block with tangent parameters (and, unless it is a condition, tangent yields) for the carried values that carry one. */
  private loopBody(block: Block, off: number, carried: readonly Value[], carries: readonly boolean[], T: Map<ValueId, Value>, yieldTangents = true) {
    const { b } = this;
    const bt = new Map(T);
    const params = carried.flatMap((p, k) => {
      if (!carries[k]) return [];
      const t = b.value(p.type.kind === "tape" ? TAPE : p.type, p.name ? `${p.name}d` : undefined);
      bt.set(p.id, t);
      return [t];
    });
    let extra: Value[] = [];
    const instrs = b.block(() => {
      this.block(block.instrs, bt);
      if (yieldTangents) extra = block.yields.flatMap((y, k) => (carries[k] ? [bt.get(y.id) ?? this.zero(y)] : []));
    });
    return { block: makeBlock([...block.params.slice(0, off + carried.length), ...params], instrs, [...block.yields, ...extra]), bt };
  }
}


/** The JVP function of an entry: forward mode over its primal, with tangents for the parameters its gradient is taken with respect to. */
export function jvpOf(primal: Func, grad: GradFunc): Func {
  return forwardMode(primal, wrtIndices(primal, grad));
}

/** The HVP function of an entry returning a number: forward mode over its gradient function (forward over reverse). */
export function hvpOf(primal: Func, grad: GradFunc): Func | undefined {
  if (grad.hasCotangent) return undefined;
  const asFunc: Func = {
    name: grad.name, body: grad.body, loc: grad.loc,
    ...(grad.sizes ? { sizes: grad.sizes } : {}), ...(grad.integers ? { integers: grad.integers } : {}),
    ...(grad.rules ? { rules: grad.rules } : {}),
  };
  const fn = forwardMode(asFunc, wrtIndices(primal, grad));
  // yields: the value, the gradients, then their tangents (the HVP). The value's own tangent
  // (the directional derivative) is not returned: dropped here, so that dead-code
  // elimination removes what computes only it (the tangent of the forward pass's loops).
  const n = grad.wrt.length;
  const ys = fn.body.yields;
  return { ...fn, body: makeBlock(fn.body.params, fn.body.instrs, [...ys.slice(0, 1 + n), ...ys.slice(2 + n)]) };
}

const wrtIndices = (primal: Func, grad: GradFunc): number[] => grad.wrt.map((w) => primal.body.params.findIndex((p) => p.name === w));
