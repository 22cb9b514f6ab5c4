// `adgen --emit stats`: what each entry's tape keeps, as a formula of the sizes. The tape
// (what `fForward` returns) holds a fixed part, the intermediate values the backward pass
// reads (savedBytes: 8·N + 16 bytes), and one stack per value a loop overwrites, onto which
// the forward pass pushes the value's old version at every trip (compiler/ops/tape.ts).
//
// A stack holds (bytes per push) × (the trips of the loops around the push). The trips of
// a counted `for` loop are a formula when its bounds are: constants, size symbols (an entry's
// type parameters, its integer parameters) and sums and products of them. A `while` loop,
// or a `for` whose bounds involve a loop counter or data, has trips known only at run time:
// its stack is reported per trip of that loop (`8 bytes per trip of the while loop at line
// 4`), times the trips of the counted loops inside it. Stacks are Float64Arrays whatever
// the dtype (8 bytes a number; a boolean is pushed as 0 or 1), and grow geometrically: the
// bytes reported are those pushed, the buffer is at most twice that (at least 64 numbers).

import { Block, ForInstr, GradFunc, Instr, Type, Value, ValueId, WhileInstr, isSimple, sizeOf } from "../ir/types.js";
import { Dim, dimAdd, dimMul, dimScale, dimSub } from "../ir/dims.js";
import { savedBytes, savedValues } from "../ad/savedValues.js";
import { regionsOf } from "../ir/walk.js";

/** A loop as the report names it. */
export interface LoopRef {
  readonly kind: "for" | "while";
  readonly line: number;
  readonly col: number;
}

/** What one push site adds to a stack. */
export type PushBytes =
  /** All the loops around the push are counted: the bytes, a formula of the sizes. */
  | { readonly kind: "total"; readonly bytes: Dim }
  /** `bytes` per trip of `loop`, the innermost loop around the push whose trips are not a formula. */
  | { readonly kind: "perTrip"; readonly bytes: Dim; readonly loop: LoopRef };

export interface StackStats {
  /** The stack's name (the overwritten variable's, with Tape: yTape). */
  readonly name: string;
  /** One entry per push onto the stack (usually one). */
  readonly pushes: readonly PushBytes[];
  /** A push inside an `if`: the bytes are an upper bound. */
  readonly atMost: boolean;
}

export interface TapeStats {
  readonly entry: string;
  /** Intermediate values in the fixed part (not parameters, not stacks). */
  readonly values: number;
  /** Bytes of the fixed part. */
  readonly fixedBytes: Dim;
  readonly stacks: readonly StackStats[];
  /**
   * Stacks the backward pass builds and empties while it runs (a loop inside an `if` or
   * inside another loop, recomputed there): not on the tape, but memory in use meanwhile.
   */
  readonly transient: readonly StackStats[];
  /** fixedBytes plus every stack, when every stack is a formula; else undefined. */
  readonly totalBytes?: Dim;
  /** Trip counts the formulas take as they are, valid while they are not negative (N - 1). */
  readonly assumes: readonly Dim[];
}

/** Bytes of one number on a stack: stacks are Float64Arrays in every dtype. */
const STACK_NUMBER = 8;

interface LoopScope {
  readonly ref: LoopRef;
  /** The trip count as a formula of the sizes, or undefined when it is known only at run time. */
  readonly trips?: Dim;
}

interface PushSite {
  readonly tape: ValueId;
  readonly value: Value;
  /** The loops around the push, outermost first. */
  readonly loops: readonly LoopScope[];
  readonly conditional: boolean;
}

/** A stack's root (its `tape` instruction's result) and the loop depth it was created at. */
interface Created {
  readonly value: Value;
  readonly depth: number;
  readonly forward: boolean;
}

/**
 * The tape statistics of one entry: `grad` its reverse-mode function, `primalParams` the
 * number of its parameters, `bytesPerElement` 4 for float32 code.
 */
export function tapeStats(grad: GradFunc, primalParams: number, bytesPerElement = 8): TapeStats {
  const params = new Set(grad.body.params.map((p) => p.id));
  const saved = savedValues(grad, primalParams);
  const values = saved.filter((v) => !params.has(v.id) && v.type.kind !== "tape").length;
  const fixedBytes = savedBytes(grad, primalParams, bytesPerElement);

  const integers = new Set(grad.integers ?? []);
  const dims = new Map<ValueId, Dim>();
  grad.body.params.slice(0, primalParams).forEach((p) => {
    if (p.name !== undefined && integers.has(p.name)) dims.set(p.id, { terms: [{ coef: 1, syms: [p.name] }] });
  });
  const stacks = new TapeClasses();
  const sites: PushSite[] = [];
  const created: Created[] = [];
  let forward = true;
  const assumes: Dim[] = [];

  const visit = (instrs: readonly Instr[], loops: readonly LoopScope[], conditional: boolean): void => {
    for (const instr of instrs) {
      if (isSimple(instr)) {
        const d = dimOf(instr.op, instr.attrs, instr.args, dims);
        if (d !== undefined) dims.set(instr.result.id, d);
        if (instr.op === "tape") created.push({ value: instr.result, depth: loops.length, forward });
        if (instr.op === "push") {
          stacks.union(instr.result.id, instr.args[0]!.id);
          sites.push({ tape: instr.args[0]!.id, value: instr.args[1]!, loops, conditional });
        }
        if (instr.op === "drop") stacks.union(instr.result.id, instr.args[0]!.id);
        continue;
      }
      linkCarried(instr, stacks);
      if (instr.op === "if") {
        visit(instr.then.instrs, loops, true);
        visit(instr.else.instrs, loops, true);
      } else {
        const scope = loopScope(instr, dims);
        for (const r of regionsOf(instr)) visit(r.instrs, [...loops, scope], conditional);
      }
    }
  };
  visit(grad.body.instrs.slice(0, grad.splitAt), [], false);
  forward = false;
  visit(grad.body.instrs.slice(grad.splitAt), [], false);

  const stackOf = (v: Value): StackStats | undefined => {
    const root = stacks.find(v.id);
    const mine = sites.filter((s) => stacks.find(s.tape) === root);
    if (mine.length === 0) return undefined;
    // a stack created inside a loop starts empty at each of its trips: only the loops inside that one count
    const depth = Math.min(...created.filter((c) => stacks.find(c.value.id) === root).map((c) => c.depth));
    return {
      name: v.name ?? "tape",
      pushes: mine.map((s) => pushBytes(s, Number.isFinite(depth) ? depth : 0, assumes)),
      atMost: mine.some((s) => s.conditional),
    };
  };
  const out = saved.filter((s) => s.type.kind === "tape" && !params.has(s.id)).flatMap((v) => stackOf(v) ?? []);
  const transient = created.filter((c) => !c.forward).flatMap((c) => stackOf(c.value) ?? []);
  const totalBytes = out.every((s) => s.pushes.every((p) => p.kind === "total"))
    ? out.reduce((n, s) => s.pushes.reduce((m, p) => dimAdd(m, p.bytes), n), fixedBytes)
    : undefined;
  return { entry: grad.name, values, fixedBytes, stacks: out, transient, totalBytes, assumes: dedupe(assumes) };
}

/** A size formula for an integer value: constants, size symbols, integer parameters, + - * of them. */
function dimOf(op: string, attrs: unknown, args: readonly Value[], dims: ReadonlyMap<ValueId, Dim>): Dim | undefined {
  if (op === "const") {
    const v = (attrs as { value: number }).value;
    return Number.isInteger(v) ? v : undefined;
  }
  if (op === "size") return { terms: [{ coef: 1, syms: [(attrs as { name: string }).name] }] };
  const a = args[0] && dims.get(args[0].id);
  const b = args[1] && dims.get(args[1].id);
  if (a === undefined) return undefined;
  if (op === "neg") return dimScale(a, -1);
  if (b === undefined) return undefined;
  if (op === "add") return dimAdd(a, b);
  if (op === "sub") return dimSub(a, b);
  if (op === "mul") return dimMul(a, b);
  return undefined;
}

/** A loop's trip count: max(0, ceil((end - start) / step)) for a `for`; unknown for a `while`. */
function loopScope(instr: ForInstr | WhileInstr, dims: ReadonlyMap<ValueId, Dim>): LoopScope {
  const ref: LoopRef = { kind: instr.op, line: instr.loc.line, col: instr.loc.col };
  if (instr.op === "while") return { ref };
  const start = dims.get(instr.start.id);
  const end = dims.get(instr.end.id);
  if (start === undefined || end === undefined) return { ref };
  if (typeof start === "number" && typeof end === "number") return { ref, trips: Math.max(0, Math.ceil((end - start) / instr.step)) };
  // with symbols, only a unit step gives a polynomial (a larger one needs a ceiling)
  if (Math.abs(instr.step) !== 1) return { ref };
  return { ref, trips: dimScale(dimSub(end, start), instr.step) };
}

/**
 * The bytes a push site adds: per push, times the trips of the loops inside the stack's
 * creation. A trip formula that may be negative (N - 1: the loop runs max(0, N - 1) times)
 * goes to `assumes`.
 */
function pushBytes(site: PushSite, createdDepth: number, assumes: Dim[]): PushBytes {
  let bytes = bytesOf(site.value.type);
  for (let k = site.loops.length - 1; k >= createdDepth; k--) {
    const loop = site.loops[k]!;
    if (loop.trips === undefined) return { kind: "perTrip", bytes, loop: loop.ref };
    if (typeof loop.trips !== "number" && loop.trips.terms.some((t) => t.coef < 0)) assumes.push(loop.trips);
    bytes = dimMul(bytes, loop.trips);
  }
  return { kind: "total", bytes };
}

function bytesOf(t: Type): Dim {
  return t.kind === "tensor" ? dimScale(sizeOf(t.shape), STACK_NUMBER) : STACK_NUMBER;
}

/** Carried stacks: a loop's parameter, initial value, yield and result are one stack (so are an if's). */
function linkCarried(instr: Instr, stacks: TapeClasses): void {
  const tapes = (vs: readonly (Value | undefined)[]): void => {
    const ids = vs.filter((v): v is Value => v?.type.kind === "tape").map((v) => v.id);
    for (const id of ids.slice(1)) stacks.union(ids[0]!, id);
  };
  if (instr.op === "if") instr.results.forEach((r, k) => tapes([r, instr.then.yields[k], instr.else.yields[k]]));
  else if (instr.op === "for") instr.results.forEach((r, k) => tapes([r, instr.init[k], instr.body.params[k + 1], instr.body.yields[k]]));
  else if (instr.op === "while") instr.results.forEach((r, k) => tapes([r, instr.init[k], instr.body.params[k], instr.cond.params[k], instr.body.yields[k]]));
}

/** Union-find over the tape values that are one stack. */
class TapeClasses {
  private readonly parent = new Map<ValueId, ValueId>();
  find(id: ValueId): ValueId {
    let r = id;
    while (this.parent.has(r)) r = this.parent.get(r)!;
    if (r !== id) this.parent.set(id, r);
    return r;
  }
  union(a: ValueId, b: ValueId): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.parent.set(ra, rb);
  }
}

function dedupe(ds: readonly Dim[]): Dim[] {
  const seen = new Set<string>();
  return ds.filter((d) => {
    const k = showBytes(d);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

// ------------------------------------------------------------------------------- report

const SUPERSCRIPT = "⁰¹²³⁴⁵⁶⁷⁸⁹";

/** A formula as the report writes it: 8·N + 16, 24·N·M, 8·N² - 8; a plain number when literal. */
export function showBytes(d: Dim): string {
  if (typeof d === "number") return String(d);
  const terms = [...d.terms].sort((a, b) => (a.syms.length === 0 ? 1 : 0) - (b.syms.length === 0 ? 1 : 0));
  return terms
    .map((t, k) => {
      const powers = new Map<string, number>();
      for (const s of t.syms) powers.set(s, (powers.get(s) ?? 0) + 1);
      const syms = [...powers].map(([s, p]) => (p === 1 ? s : s + [...String(p)].map((c) => SUPERSCRIPT[Number(c)]).join("")));
      const mag = Math.abs(t.coef);
      const text = [...(mag !== 1 || syms.length === 0 ? [String(mag)] : []), ...syms].join("·");
      return k === 0 ? (t.coef < 0 ? `-${text}` : text) : t.coef < 0 ? ` - ${text}` : ` + ${text}`;
    })
    .join("");
}

/** "the while loop at line 4": the keyword as written in the source (a do-while, a for with a break, are while loops). */
function loopName(loop: LoopRef, source: string | undefined): string {
  const line = source?.split(/\r?\n/)[loop.line - 1];
  const keyword = line?.slice(loop.col - 1).match(/^(for|while|do)\b/)?.[1];
  return `the ${keyword ?? loop.kind} loop at line ${loop.line}`;
}

/** Pushes of the same kind and loop added up (an undo tape's element and index: 16·N, not 8·N + 8·N). */
function mergePushes(pushes: readonly PushBytes[]): PushBytes[] {
  const out: PushBytes[] = [];
  for (const p of pushes) {
    const k = out.findIndex((q) => q.kind === p.kind && (p.kind === "total" || (q.kind === "perTrip" && q.loop.line === p.loop.line && q.loop.col === p.loop.col)));
    if (k < 0) out.push(p);
    else out[k] = { ...out[k]!, bytes: dimAdd(out[k]!.bytes, p.bytes) } as PushBytes;
  }
  return out;
}

function showPush(p: PushBytes, source: string | undefined): string {
  return p.kind === "total" ? `${showBytes(p.bytes)} bytes` : `${showBytes(p.bytes)} bytes per trip of ${loopName(p.loop, source)}`;
}

/**
 * The report of one entry, e.g.
 *   ode: the tape keeps 2 intermediate values, 16 bytes (besides the parameters), and 1 stack:
 *     yTape: 8·steps bytes
 *   in all 8·steps + 16 bytes
 * `source` (the DSL file) names loops by their keyword.
 */
export function formatTapeStats(s: TapeStats, source?: string): string {
  const plural = (n: number, w: string): string => `${n} ${w}${n === 1 ? "" : "s"}`;
  const stackLine = (st: StackStats): string => `  ${st.name}: ${st.atMost ? "at most " : ""}${mergePushes(st.pushes).map((p) => showPush(p, source)).join(" + ")}`;
  const head = `${s.entry}: the tape keeps ${plural(s.values, "intermediate value")}, ${showBytes(s.fixedBytes)} bytes (besides the parameters)`;
  const lines = [s.stacks.length ? `${head}, and ${plural(s.stacks.length, "stack")}:` : head];
  lines.push(...s.stacks.map(stackLine));
  if (s.stacks.length && s.totalBytes !== undefined) lines.push(`  in all ${s.stacks.some((st) => st.atMost) ? "at most " : ""}${showBytes(s.totalBytes)} bytes`);
  if (s.transient.length) {
    lines.push(`  while it runs, the backward pass also fills and empties ${plural(s.transient.length, "stack")} of its own (recomputed loops):`);
    lines.push(...s.transient.map(stackLine));
  }
  if (s.assumes.length) {
    lines.push(`  (where the trip count ${s.assumes.map(showBytes).join(", ")} is at least 0; a loop with a negative one runs 0 times)`);
  }
  return lines.join("\n") + "\n";
}
