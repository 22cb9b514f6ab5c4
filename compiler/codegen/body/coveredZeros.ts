// Zero-filled buffers that need no filling: a `zeros` whose every element is written before
// anything reads it. `const z = zeros([n]); z[0] = x[0]; for (i = 1; i < n; i++) z[i] = ...`
// (GradBench's ODE right-hand side, four times per RK4 step) overwrites all of z, so when its
// buffer is reused from one step to the next the printer need not clear it first.
//
// The analysis follows the tensor's chain of values (tensors have value semantics: a store
// returns a new tensor) from the zeros: each link is a store, or a `for` loop that carries
// the tensor and whose body is itself such a chain (a loop nest filling a matrix row by
// row). It gives up at any other read of a link, so nothing can see an element before its
// write; it counts only stores that every iteration makes (not those inside an if). Each
// store covers a box: per dimension the constant index, or the whole range of a loop
// counter that runs up by one from a constant start to an end it can name (a literal or a
// size); a dimension the store does not index (a row stored whole) is covered entirely.
// The zeros is covered when, at the end of its chain, boxes that cover every dimension but
// the first together cover the first from 0 to its size (more stores only add boxes). Linear
// in the size of the chain, but for sorting the boxes once.
//
// The chain's first link may also be an accumulation (an adjoint buffer: `dx[i] += ...` in
// the reversed loop): nothing has written the zeros yet, so adding to an element is storing
// it, when the link writes each element once: a single accumulation, or the one write of a
// loop nest (each body's chain that write or the next loop, and nothing else) that indexes
// with every counter of the nest. The printer writes it as a store (`dx[i] = ...`), and its
// box counts as a store's; a reversed loop's counter spans its range as a forward one's.

import { Block, ForInstr, Instr, SimpleInstr, Value, ValueId, isSimple } from "../../ir/types.js";
import { Dim, showDim } from "../../ir/dims.js";
import { Uses } from "./uses.js";

/** One end of an interval: a number, or the size a loop runs up to (by name: "N", "28"). */
type End = { readonly n: number } | { readonly size: string };

/** The half-open interval [lo, hi) of one dimension, or the whole dimension. */
type Span = { readonly lo: number; readonly hi: End } | "all";

export interface Zeros {
  /** The zeros results (at any depth) that are overwritten before they are read. */
  readonly covered: Set<ValueId>;
  /** Accumulations that are the first write of every element they add to: stores. */
  readonly firstWrites: Set<SimpleInstr>;
}

/** The zeros of `body` (at any depth) that need no fill, and the accumulations into them that can store. */
export function coveredZeros(body: Block, uses: Uses): Zeros {
  const out: Zeros = { covered: new Set(), firstWrites: new Set() };
  const blocks: Block[] = [body];
  for (let k = 0; k < blocks.length; k++) {
    const block = blocks[k]!;
    block.instrs.forEach((instr, index) => {
      if (isSimple(instr)) {
        if (instr.op === "zeros" && instr.result.type.kind === "tensor" && covers(instr, block, index, uses, out.firstWrites)) out.covered.add(instr.result.id);
        return;
      }
      if (instr.op === "if") blocks.push(instr.then, instr.else);
      else if (instr.op === "while") blocks.push(instr.cond, instr.body);
      else blocks.push(instr.body);
    });
  }
  return out;
}

function covers(z: SimpleInstr, block: Block, index: number, uses: Uses, firstWrites: Set<SimpleInstr>): boolean {
  const shape = (z.result.type as { shape: readonly Dim[] }).shape;
  if (shape.length === 0) return false;
  const boxes: Span[][] = [];
  let v: Value = z.result;
  let at = index;
  // the first link may be an accumulation: nothing has written the zeros yet, so adding to
  // an element is storing it, once per element (one write, or one write per iteration of a
  // loop nest that indexes with every counter of the nest)
  let first: SimpleInstr | undefined;
  const head = nextLink(v, block, at, uses, true);
  if (head && isSimple(head.instr)) first = head.instr;
  else if (head) first = soleWrite(head.instr as ForInstr, (head.instr as ForInstr).init.indexOf(v), uses);
  if (first?.op === "accum") firstWrites.add(first);
  const accepted = first ? new Set([first]) : new Set<SimpleInstr>();
  for (let link = head; link; link = nextLink(v, block, at, uses, false)) {
    const { instr, index: i } = link;
    if (isSimple(instr)) {
      boxes.push(boxOf(instr, shape.length, new Map(), uses));
      v = instr.result;
    } else {
      const k = (instr as ForInstr).init.indexOf(v);
      const before = boxes.length;
      if (!bodyChain(instr as ForInstr, k, new Map(), boxes, shape.length, uses, accepted)) {
        // a loop that also reads the tensor ends the chain: what the links before it wrote
        boxes.length = before;
        break;
      }
      v = (instr as ForInstr).results[k]!;
    }
    at = i;
  }
  return covered(boxes, shape);
}

/**
 * The one instruction after `at` in `block` that reads v, if v has no other reader and that
 * one is a link: a store into v (or, with `accum`, an accumulation), or a `for` that carries
 * v (once).
 */
function nextLink(v: Value, block: Block, at: number, uses: Uses, accum: boolean): { instr: Instr; index: number } | undefined {
  const readers = uses.usesOf.get(v.id) ?? [];
  if (readers.length !== 1) return undefined;
  const r = readers[0]!;
  if (r.block !== block || r.index <= at || r.index >= block.instrs.length) return undefined;
  const instr = block.instrs[r.index]!;
  if (isSimple(instr)) {
    const write = instr.op === "store" || (accum && instr.op === "accum");
    return write && instr.args[0] === v && instr.args.indexOf(v, 1) === -1 ? { instr, index: r.index } : undefined;
  }
  if (instr.op !== "for" || Math.abs(instr.step) !== 1 || instr.init.filter((x) => x === v).length !== 1) return undefined;
  if (instr.start === v || instr.end === v) return undefined;
  return { instr, index: r.index };
}

/**
 * The body of loop L, carrying the chain at slot k, is a chain from its parameter to its
 * yield: adds the boxes its stores cover (with L's counter spanning its range) to `boxes`.
 */
function bodyChain(L: ForInstr, k: number, counters: Map<ValueId, Span>, boxes: Span[][], rank: number, uses: Uses, accepted: ReadonlySet<SimpleInstr>): boolean {
  const span = spanOf(L, uses);
  if (!span) return false;
  const inner = new Map(counters);
  inner.set(L.body.params[0]!.id, span);
  const body = L.body;
  let v: Value = body.params[k + 1]!;
  let at = -1;
  for (;;) {
    const readers = uses.usesOf.get(v.id) ?? [];
    if (readers.length === 1 && readers[0]!.block === body && readers[0]!.index === body.instrs.length) {
      // the end of the body's chain: it must be what the body yields for the slot, and only there
      return body.yields[k] === v && body.yields.filter((y) => y === v).length === 1;
    }
    const link = nextLink(v, body, at, uses, true);
    if (!link) return false;
    const { instr, index } = link;
    if (isSimple(instr)) {
      if (instr.op === "accum" && !accepted.has(instr)) return false;
      boxes.push(boxOf(instr, rank, inner, uses));
      v = instr.result;
    } else {
      const j = (instr as ForInstr).init.indexOf(v);
      if (!bodyChain(instr as ForInstr, j, inner, boxes, rank, uses, accepted)) return false;
      v = (instr as ForInstr).results[j]!;
    }
    at = index;
  }
}

/**
 * The write a loop nest carrying a tensor at slot k makes, when that is all it does with it:
 * each body's chain is one link (the write, or the next loop of the nest) and what it yields,
 * and the write indexes with every counter of the nest, so that no two iterations write the
 * same element.
 */
function soleWrite(L: ForInstr, k: number, uses: Uses): SimpleInstr | undefined {
  const counters: ValueId[] = [];
  let loop = L;
  let slot = k;
  for (;;) {
    if (slot < 0 || loop.init.filter((x) => x === loop.init[slot]).length !== 1) return undefined;
    counters.push(loop.body.params[0]!.id);
    const p = loop.body.params[slot + 1]!;
    const readers = uses.usesOf.get(p.id) ?? [];
    if (readers.length !== 1 || readers[0]!.block !== loop.body) return undefined;
    const instr = loop.body.instrs[readers[0]!.index];
    if (!instr) return undefined;
    const result = isSimple(instr) ? instr.result : instr.op === "for" ? instr.results[instr.init.indexOf(p)] : undefined;
    // what the link makes is yielded for the slot, and read nowhere else
    if (!result || loop.body.yields[slot] !== result || loop.body.yields.filter((y) => y === result).length !== 1) return undefined;
    if ((uses.usesOf.get(result.id) ?? []).length !== 1) return undefined;
    if (isSimple(instr)) {
      if ((instr.op !== "accum" && instr.op !== "store") || instr.args[0] !== p || instr.args.indexOf(p, 1) !== -1) return undefined;
      const idx = instr.args.slice(1, -1).map((i) => checked(i, uses).id);
      return counters.every((c) => idx.includes(c)) ? instr : undefined;
    }
    if (instr.op !== "for" || instr.start === p || instr.end === p) return undefined;
    slot = instr.init.indexOf(p);
    loop = instr;
  }
}

/** [start, end) of a loop counting up by one from a constant to a nameable end (or down by one, from its last). */
function spanOf(L: ForInstr, uses: Uses): Span | undefined {
  if (L.step === -1) {
    // a reversed loop (the backward pass's): from a last index down to a constant before
    // the first, N - 1 down to -1
    const below = constOf(L.end, uses);
    const hi = lastOf(L.start, uses);
    return below === undefined || hi === undefined ? undefined : { lo: below + 1, hi };
  }
  const lo = constOf(L.start, uses);
  const hi = endOf(L.end, uses);
  return lo === undefined || hi === undefined ? undefined : { lo, hi };
}

/** The end of [.., v]: v + 1 for a constant v, N for v = N - 1. */
function lastOf(v: Value, uses: Uses): End | undefined {
  const d = uses.defOf.get(v.id);
  if (d?.op === "const") return { n: (d.attrs as { value: number }).value + 1 };
  if (d?.op === "sub" && constOf(d.args[1]!, uses) === 1) {
    const e = endOf(d.args[0]!, uses);
    return e && "size" in e ? e : undefined;
  }
  return undefined;
}

/** An index through its run-time checks (a checkIndex yields its argument). */
function checked(v: Value, uses: Uses): Value {
  for (let d = uses.defOf.get(v.id); d?.op === "checkIndex"; d = uses.defOf.get(v.id)) v = d.args[0]!;
  return v;
}

function constOf(v: Value, uses: Uses): number | undefined {
  const d = uses.defOf.get(v.id);
  return d?.op === "const" ? (d.attrs as { value: number }).value : undefined;
}

function endOf(v: Value, uses: Uses): End | undefined {
  const d = uses.defOf.get(v.id);
  if (d?.op === "const") return { n: (d.attrs as { value: number }).value };
  if (d?.op === "size") return { size: (d.attrs as { name: string }).name };
  return undefined;
}

/** The box a store covers: per dimension, its index's span (a counter's range, a constant), or all of it. */
function boxOf(store: SimpleInstr, rank: number, counters: ReadonlyMap<ValueId, Span>, uses: Uses): Span[] {
  const idx = store.args.slice(1, -1);
  const box: Span[] = [];
  for (let d = 0; d < rank; d++) {
    if (d >= idx.length) {
      box.push("all");
      continue;
    }
    const i = checked(idx[d]!, uses);
    const c = constOf(i, uses);
    const s = counters.get(i.id);
    box.push(c !== undefined && Number.isInteger(c) ? { lo: c, hi: { n: c + 1 } } : s ?? { lo: 0, hi: { n: 0 } });
  }
  return box;
}

/** Do the boxes that span every dimension but the first cover the first from 0 to its size? */
function covered(boxes: readonly Span[][], shape: readonly Dim[]): boolean {
  const full = (s: Span, d: Dim): boolean => s === "all" || (s.lo <= 0 && reaches(s.hi, d));
  const first = boxes.filter((b) => b.slice(1).every((s, k) => full(s, shape[k + 1]!))).map((b) => b[0]!);
  if (first.some((s) => full(s, shape[0]!))) return true;
  // the spans by their start, from 0 upwards: covered once one that starts within reaches the size
  let cur = 0;
  for (const s of (first.filter((s) => s !== "all") as Exclude<Span, "all">[]).sort((p, q) => p.lo - q.lo)) {
    if (s.lo > cur) return false;
    if (reaches(s.hi, shape[0]!)) return true;
    if ("n" in s.hi) cur = Math.max(cur, s.hi.n);
  }
  return false;
}

/** Does an interval ending at `hi` reach the end of a dimension of size d? */
function reaches(hi: End, d: Dim): boolean {
  if ("n" in hi) return typeof d === "number" && hi.n >= d;
  return showDim(d) === hi.size;
}
