// A small line writer for kernels: structured loops, block-scoped names, and affine index
// expressions folded into readable sums (`n * 784 + c * 28 + 3`).

import { AttrsOf, Dim, SimpleOp, Type } from "../../ir/types.js";
import { OpEmitContext } from "./context.js";

// ---------------------------------------------------------------------------------------
// A small line writer with structured loops and affine index expressions.

/**
 * An extent or a stride: a literal, or a JavaScript expression of sizes known only at run
 * time (a kernel's size parameter N, `N * 6`).
 */
export type Ext = number | string;

/** One term of an affine index expression: `[expr, coefficient]` or a constant. */
export type Term = readonly [string, Ext] | number;

/** An expression as an operand of `*`. */
const factor = (e: string): string => (IDENTIFIER.test(e) || INTEGER.test(e) ? e : `(${e})`);

export const INTEGER = /^-?\d+$/;
export const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/**
 * Folds terms into a readable sum: `n * 784 + c * 28 + 3`. An expression is an identifier
 * or an integer literal (a literal folds into the constant); zero terms are dropped.
 */
export function affine(...terms: Term[]): string {
  let constant = 0;
  const parts: string[] = [];
  for (const t of terms) {
    if (typeof t === "number") {
      constant += t;
      continue;
    }
    const [expr, coef] = t;
    if (typeof coef === "string") {
      // a run-time stride: expr * coef
      if (expr === "0") continue;
      const text = expr === "1" ? factor(coef) : `${factor(expr)} * ${factor(coef)}`;
      parts.push(parts.length === 0 ? text : `+ ${text}`);
      continue;
    }
    if (coef === 0) continue;
    if (INTEGER.test(expr)) {
      constant += Number(expr) * coef;
      continue;
    }
    if (!IDENTIFIER.test(expr)) throw new Error(`affine: not an identifier: ${expr}`);
    const mag = Math.abs(coef);
    const text = mag === 1 ? expr : `${expr} * ${mag}`;
    if (parts.length === 0) parts.push(coef < 0 ? `-${text}` : text);
    else parts.push(coef < 0 ? `- ${text}` : `+ ${text}`);
  }
  if (parts.length === 0) return String(constant);
  if (constant > 0) parts.push(`+ ${constant}`);
  if (constant < 0) parts.push(`- ${-constant}`);
  return parts.join(" ");
}

/** A `[lo, hi)` loop range whose ends are literals or identifiers. */
export interface Range {
  readonly lo: string;
  readonly hi: string;
}

export class Writer {
  readonly lines: string[] = [];
  private depth = 0;
  /** Every name this writer got from the context, by hint; those in `live` are in scope. */
  private readonly names = new Map<string, string[]>();
  private readonly live = new Set<string>();
  private readonly scopes: string[][] = [[]];

  constructor(private readonly ctx: OpEmitContext) {}

  /**
   * A name for a new variable of the current block scope. A name whose block has closed is
   * handed out again, so sibling loops and blocks declare the same names (`o`, `acc00`)
   * instead of numbered copies; the context's names never collide with anything else.
   */
  fresh(hint: string): string {
    const known = this.names.get(hint) ?? [];
    let name = known.find((n) => !this.live.has(n));
    if (name === undefined) {
      name = this.ctx.fresh(hint);
      this.names.set(hint, [...known, name]);
    }
    this.live.add(name);
    this.scopes[this.scopes.length - 1]!.push(name);
    return name;
  }

  /** Runs `body` in a new block scope: the names it takes are free again afterwards. */
  private scoped<T>(body: () => T): T {
    this.scopes.push([]);
    this.depth++;
    const result = body();
    this.depth--;
    for (const name of this.scopes.pop()!) this.live.delete(name);
    return result;
  }

  line(text: string): void {
    this.lines.push("  ".repeat(this.depth) + text);
  }

  /** `body` one level deeper, as a block scope (inside braces the caller writes). */
  indented(body: () => void): void {
    this.scoped(body);
  }

  /** `{ ... }` around `body`. */
  block(body: () => void): void {
    this.line("{");
    this.scoped(body);
    this.line("}");
  }

  /**
   * `for (let v = lo; v < hi; v += step) { body(v) }`; `extent` is a count or a range. A
   * loop of one iteration is just its body, with the index the literal (lo) — in a block
   * unless `alone` says nothing else in the enclosing block could collide with its names.
   */
  loop(hint: string, extent: Ext | Range, body: (v: string) => void, step = 1, alone = true): void {
    const { lo, hi } = typeof extent === "number" || typeof extent === "string" ? { lo: "0", hi: String(extent) } : extent;
    if (INTEGER.test(lo) && INTEGER.test(hi)) {
      const count = Math.ceil((Number(hi) - Number(lo)) / step);
      if (count <= 0) return;
      if (count === 1) {
        if (alone) body(lo);
        else this.block(() => body(lo));
        return;
      }
    }
    this.scopes.push([]);
    const v = this.fresh(hint);
    this.line(`for (let ${v} = ${lo}; ${v} < ${hi}; ${step === 1 ? `${v}++` : `${v} += ${step}`}) {`);
    this.scoped(() => body(v));
    for (const name of this.scopes.pop()!) this.live.delete(name);
    this.line("}");
  }

  /**
   * A loop over the batch when `count` is a number, else `body` once with index "0": the
   * batch loop of a batched op, omitted for the unbatched form.
   */
  maybeLoop(hint: string, count: Ext | null, body: (v: string) => void): void {
    if (count === null) body("0");
    else this.loop(hint, count, body);
  }

  /**
   * Names a value: returns `expr` itself when it is a literal or a plain identifier, else
   * declares `const name = expr;` and returns the name.
   */
  bind(hint: string, expr: string): string {
    if (INTEGER.test(expr) || IDENTIFIER.test(expr)) return expr;
    const name = this.fresh(hint);
    this.line(`const ${name} = ${expr};`);
    return name;
  }

  /** Writes 0 to every element of `buf`. */
  zero(buf: string, size: Ext): void {
    this.loop("e", size, (e) => this.line(`${buf}[${e}] = 0;`));
  }
}

export function emit(ctx: OpEmitContext, body: (w: Writer) => void): string[] {
  const w = new Writer(ctx);
  w.block(() => body(w));
  return w.lines;
}

export function shape(t: Type | undefined, what: string): readonly number[] {
  if (!t || t.kind !== "tensor") throw new Error(`tensor op emitter: ${what} must be a tensor`);
  if (!t.shape.every((d) => typeof d === "number")) throw new Error(`internal: the ${what} kernel needs literal sizes`);
  return t.shape as readonly number[];
}

/** A tensor's dimensions as the kernel reads them: literals, or expressions of its size parameters. */
export function dims(ctx: OpEmitContext, t: Type | undefined, what: string): readonly Ext[] {
  if (!t || t.kind !== "tensor") throw new Error(`tensor op emitter: ${what} must be a tensor`);
  return t.shape.map((d) => ctx.dim(d));
}

/** The product of extents: folded when literal, else an expression. */
export function product(xs: readonly Ext[]): Ext {
  let n = 1;
  const syms: string[] = [];
  for (const x of xs) {
    if (typeof x === "number") n *= x;
    else syms.push(factor(x));
  }
  if (syms.length === 0) return n;
  return [...syms, ...(n !== 1 ? [String(n)] : [])].join(" * ");
}

/** A literal extent (internal error for one known only at run time: the op's shape rule requires it literal). */
export function litExt(x: Ext | undefined): number {
  if (typeof x !== "number") throw new Error(`internal: a kernel needs a literal extent, got ${x}`);
  return x;
}

/** A shape's dimensions as numbers (internal error when one is symbolic). */
export function lit(s: readonly Dim[]): readonly number[] {
  if (!s.every((d) => typeof d === "number")) throw new Error("internal: a kernel needs literal sizes");
  return s as readonly number[];
}

export function size(s: readonly number[]): number {
  return s.reduce((a, b) => a * b, 1);
}

export function attrsOf<K extends SimpleOp>(ctx: OpEmitContext, _op: K): AttrsOf<K> {
  return ctx.instr.attrs as AttrsOf<K>;
}
