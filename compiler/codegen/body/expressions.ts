// Expressions of scalar values and of tensor elements: what an op's JavaScript is (from the
// op table), when a scalar is inlined into its one use (straight-line code, bounded depth:
// a long program must not become a deep expression), flat indices into row-major buffers,
// and the element expression of an elementwise loop with the ops fused into it.

import { Dim, dimMul } from "../../ir/dims.js";
import { Block, Instr, SimpleInstr, Value, ValueId, isSimple } from "../../ir/types.js";
import { OPS } from "../../ops/index.js";
import { BodyNames } from "./naming.js";
import { Uses } from "./uses.js";

/** Scalar expressions nest at most this deep before they get a variable of their own. */
export const MAX_INLINE_DEPTH = 6;

export function formatNumber(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "Infinity";
  if (v === -Infinity) return "(-Infinity)";
  if (Object.is(v, -0)) return "(-0)";
  return v < 0 ? `(${String(v)})` : String(v);
}

/** Sanitizes source text for a `//` comment (no line terminator can end it early, no "*\/" a block comment). */
export function commentText(s: string): string {
  return s.replace(/[\r\n\u2028\u2029]/g, " ").replace(/\*\//g, "* /").trim();
}

export const paren = (e: string): string => (/^[\p{ID_Continue}$.]+$/u.test(e) ? e : `(${e})`);

/** An op's JavaScript form (twice: it reads an argument more than once), or null. */
export function jsOf(op: SimpleInstr["op"]): { js: (a: readonly string[]) => string; twice: boolean } | null {
  const em = OPS[op].emit;
  if (em === "structural" || !em.js) return null;
  return { js: em.js, twice: "twice" in em && !!em.twice };
}

/** Does the instruction read its arguments more than once (so they must be variables)? */
export function readsTwice(instr: Instr): boolean {
  return isSimple(instr) && (instr.op === "checkIndex" || !!jsOf(instr.op)?.twice);
}

export class Expressions {
  constructor(
    private readonly n: BodyNames,
    private readonly uses: Uses,
    private readonly keep: ReadonlySet<ValueId>,
    private readonly returned: ReadonlySet<ValueId>,
    /** A dimension as JavaScript (a size known at run time by its variable). */
    private readonly dim: (d: Dim) => string,
    /** The module's name of a derivative rule called as a function (SPEC 6). */
    private readonly callee: (name: string) => string,
  ) {}

  /** The flat offset of t[idx...] in its row-major buffer (strides of sizes known at run time as their products). */
  flatIndex(t: Value, idx: readonly Value[]): string {
    const shape = (t.type as { shape: readonly Dim[] }).shape;
    const st = new Array<Dim>(shape.length).fill(1);
    for (let d = shape.length - 2; d >= 0; d--) st[d] = dimMul(st[d + 1]!, shape[d + 1]!);
    let constant = 0;
    const terms: string[] = [];
    idx.forEach((v, d) => {
      const def = this.uses.defOf.get(v.id);
      const stride = st[d]!;
      if (def?.op === "const" && typeof stride === "number") {
        constant += (def.attrs as { value: number }).value * stride;
        return;
      }
      const e = def?.op === "const" ? formatNumber((def.attrs as { value: number }).value) : this.n.nameOf(v);
      if (e === "0") return;
      terms.push(stride === 1 ? e : `${paren(e)} * ${paren(this.dim(stride))}`);
    });
    if (constant !== 0 || terms.length === 0) terms.push(String(constant));
    return terms.join(" + ");
  }

  /** A scalar expression for a simple op, or null if it needs statements. */
  scalar(instr: SimpleInstr): string | null {
    const op = instr.op;
    if (op === "const") return formatNumber((instr.attrs as { value: number }).value);
    if (instr.result.type.kind === "tensor") return null;
    if (op === "call") return `${this.callee((instr.attrs as { name: string }).name)}(${instr.args.map((a) => this.n.nameOf(a)).join(", ")})`;
    if (op === "index") return `${this.n.nameOf(instr.args[0]!)}[${this.flatIndex(instr.args[0]!, instr.args.slice(1))}]`;
    const j = jsOf(op);
    if (!j) return null;
    return j.js(instr.args.map((x) => (j.twice ? this.n.nameOf(x) : paren(this.n.nameOf(x)))));
  }

  depthOf(v: Value): number {
    return this.n.inline.get(v.id)?.depth ?? 0;
  }

  /** Can the scalar at (block, index) be written into its one use instead of a variable? */
  canInline(instr: SimpleInstr, block: Block, index: number): boolean {
    const v = instr.result;
    if (instr.op === "const") return true;
    if (v.type.kind === "tensor" || this.returned.has(v.id) || this.keep.has(v.id)) return false;
    const list = this.uses.usesOf.get(v.id) ?? [];
    if (list.length !== 1 || list[0]!.block !== block) return false;
    // only across straight-line code, into an op that reads it once
    const useAt = list[0]!.index;
    for (let k = index + 1; k < useAt; k++) if (!isSimple(block.instrs[k]!)) return false;
    const user = block.instrs[useAt];
    if (user && readsTwice(user)) return false;
    // a read from a buffer that may be updated in place must happen where it stands
    if (instr.op === "index") {
      const s = this.n.storageOf(instr.args[0]!);
      if (s?.kind === "buffer" || s?.kind === "view") return false;
    }
    return 1 + Math.max(0, ...instr.args.map((a) => this.depthOf(a))) <= MAX_INLINE_DEPTH;
  }

  /** Element k of v: a fused op is computed inline; operands it reads twice are bound in `pre`. */
  element(v: Value, k: string, pre: string[]): string {
    if (v.type.kind !== "tensor") return paren(this.n.nameOf(v));
    if (this.n.storageOf(v)?.kind !== "fused") return `${this.n.nameOf(v)}[${k}]`;
    return this.elementOf(this.uses.defOf.get(v.id)!, k, pre);
  }

  elementOf(instr: SimpleInstr, k: string, pre: string[]): string {
    const j = jsOf(instr.op)!;
    const args = instr.args.map((a) => {
      const e = this.element(a, k, pre);
      if (!j.twice || /^[\p{ID_Continue}$]+$/u.test(e)) return e;
      const x = this.n.scope.fresh("x");
      pre.push(`const ${x} = ${e};`);
      return x;
    });
    return `(${j.js(args)})`;
  }
}
