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

import { Block, ForInstr, Instr, SimpleInstr, Value, ValueId, isSimple } from "../../ir/types.js";
import { Dim, showDim } from "../../ir/dims.js";
import { Uses } from "./uses.js";

/** One end of an interval: a number, or the size a loop runs up to (by name: "N", "28"). */
type End = { readonly n: number } | { readonly size: string };

/** The half-open interval [lo, hi) of one dimension, or the whole dimension. */
type Span = { readonly lo: number; readonly hi: End } | "all";

/** The zeros results in `body` (at any depth) that are overwritten before they are read. */
export function coveredZeros(body: Block, uses: Uses): Set<ValueId> {
  const out = new Set<ValueId>();
  const blocks: Block[] = [body];
  for (let k = 0; k < blocks.length; k++) {
    const block = blocks[k]!;
    block.instrs.forEach((instr, index) => {
      if (isSimple(instr)) {
        if (instr.op === "zeros" && instr.result.type.kind === "tensor" && covers(instr, block, index, uses)) out.add(instr.result.id);
        return;
      }
      if (instr.op === "if") blocks.push(instr.then, instr.else);
      else if (instr.op === "while") blocks.push(instr.cond, instr.body);
      else blocks.push(instr.body);
    });
  }
  return out;
}

function covers(z: SimpleInstr, block: Block, index: number, uses: Uses): boolean {
  const shape = (z.result.type as { shape: readonly Dim[] }).shape;
  if (shape.length === 0) return false;
  const boxes: Span[][] = [];
  let v: Value = z.result;
  let at = index;
  for (let link = nextLink(v, block, at, uses); link; link = nextLink(v, block, at, uses)) {
    const { instr, index: i } = link;
    if (isSimple(instr)) {
      boxes.push(boxOf(instr, shape.length, new Map(), uses));
      v = instr.result;
    } else {
      const k = (instr as ForInstr).init.indexOf(v);
      const before = boxes.length;
      if (!bodyChain(instr as ForInstr, k, new Map(), boxes, shape.length, uses)) {
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
 * one is a link: a store into v, or a `for` that carries v (once).
 */
function nextLink(v: Value, block: Block, at: number, uses: Uses): { instr: Instr; index: number } | undefined {
  const readers = uses.usesOf.get(v.id) ?? [];
  if (readers.length !== 1) return undefined;
  const r = readers[0]!;
  if (r.block !== block || r.index <= at || r.index >= block.instrs.length) return undefined;
  const instr = block.instrs[r.index]!;
  if (isSimple(instr)) return instr.op === "store" && instr.args[0] === v && instr.args.indexOf(v, 1) === -1 ? { instr, index: r.index } : undefined;
  if (instr.op !== "for" || instr.step !== 1 || instr.init.filter((x) => x === v).length !== 1) return undefined;
  if (instr.start === v || instr.end === v) return undefined;
  return { instr, index: r.index };
}

/**
 * The body of loop L, carrying the chain at slot k, is a chain from its parameter to its
 * yield: adds the boxes its stores cover (with L's counter spanning its range) to `boxes`.
 */
function bodyChain(L: ForInstr, k: number, counters: Map<ValueId, Span>, boxes: Span[][], rank: number, uses: Uses): boolean {
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
    const link = nextLink(v, body, at, uses);
    if (!link) return false;
    const { instr, index } = link;
    if (isSimple(instr)) {
      boxes.push(boxOf(instr, rank, inner, uses));
      v = instr.result;
    } else {
      const j = (instr as ForInstr).init.indexOf(v);
      if (!bodyChain(instr as ForInstr, j, inner, boxes, rank, uses)) return false;
      v = (instr as ForInstr).results[j]!;
    }
    at = index;
  }
}

/** [start, end) of a loop counting up by one from a constant to a nameable end. */
function spanOf(L: ForInstr, uses: Uses): Span | undefined {
  const lo = constOf(L.start, uses);
  const hi = endOf(L.end, uses);
  return lo === undefined || hi === undefined ? undefined : { lo, hi };
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
