// Code emitters for the tensor primitives: reductions, layers (linear, conv2d, pooling),
// softmax and cross-entropy, and the backward ops the derivative rules produce for them.
//
// Each emitter writes plain loops over flat, row-major buffers (see context.ts). Shapes are
// static, so every extent and stride is a literal; offsets are hoisted to the loop level
// where they stop changing, and the inner loops have no bounds checks (a padded convolution
// reads a zero-bordered copy of its input). Products run in register blocks, a convolution's
// adjoints skip the zeros of dy, and max-pool finds each window's maximum without branches;
// each kernel says so in a comment where it does. The semantics follow PyTorch in float64:
// - convolution is cross-correlation with zero padding;
// - max-pool sends each window's gradient to its first maximum in row-major window order
//   (a NaN counts as the maximum, and the first NaN wins); overlapping windows accumulate;
// - softmax, log-softmax and cross-entropy subtract each row's maximum first (stable for
//   logits of 1000); batched cross-entropy is the mean over the rows.
//
// The result buffer never aliases an argument buffer; it holds arbitrary contents on entry,
// so every emitter either writes each element once or zeroes the buffer and accumulates.

import { AttrsOf, Type } from "../ir/types.js";
import { OpEmitContext, OpEmitter } from "./context.js";

export type TensorPrimitive =
  | "sum" | "mean" | "dot"
  | "linear" | "linearGradInput" | "linearGradWeight" | "linearGradBias"
  | "conv2d" | "conv2dGradInput" | "conv2dGradWeight" | "conv2dGradBias"
  | "maxpool2d" | "maxpool2dGrad" | "avgpool2d" | "avgpool2dGrad"
  | "softmax" | "logSoftmax" | "softmaxGrad" | "logSoftmaxGrad"
  | "crossEntropy" | "crossEntropyGrad"
  | "reluGrad";

// ---------------------------------------------------------------------------------------
// A small line writer with structured loops and affine index expressions.

/** One term of an affine index expression: `[expr, coefficient]` or a constant. */
type Term = readonly [string, number] | number;

const INTEGER = /^-?\d+$/;
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/**
 * Folds terms into a readable sum: `n * 784 + c * 28 + 3`. An expression is an identifier
 * or an integer literal (a literal folds into the constant); zero terms are dropped.
 */
function affine(...terms: Term[]): string {
  let constant = 0;
  const parts: string[] = [];
  for (const t of terms) {
    if (typeof t === "number") {
      constant += t;
      continue;
    }
    const [expr, coef] = t;
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
interface Range {
  readonly lo: string;
  readonly hi: string;
}

class Writer {
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
  loop(hint: string, extent: number | Range, body: (v: string) => void, step = 1, alone = true): void {
    const { lo, hi } = typeof extent === "number" ? { lo: "0", hi: String(extent) } : extent;
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
  maybeLoop(hint: string, count: number | null, body: (v: string) => void): void {
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
  zero(buf: string, size: number): void {
    this.loop("e", size, (e) => this.line(`${buf}[${e}] = 0;`));
  }
}

function emit(ctx: OpEmitContext, body: (w: Writer) => void): string[] {
  const w = new Writer(ctx);
  w.block(() => body(w));
  return w.lines;
}

function shape(t: Type | undefined, what: string): readonly number[] {
  if (!t || t.kind !== "tensor") throw new Error(`tensor op emitter: ${what} must be a tensor`);
  return t.shape;
}

function size(s: readonly number[]): number {
  return s.reduce((a, b) => a * b, 1);
}

function attrsOf<K extends TensorPrimitive>(ctx: OpEmitContext, _op: K): AttrsOf<K> {
  return ctx.instr.attrs as AttrsOf<K>;
}

// ---------------------------------------------------------------------------------------
// Register-blocked matrix products. Linear layers and convolutions (as implicit im2col
// matrices, below) are products C = A B of matrices with static shapes that live in flat
// buffers. The emitted loop nest computes C in blocks of MR x NR elements held in local
// accumulators: per step of the contraction it loads MR values of A and NR of B and does
// MR * NR multiply-adds, so loads are amortised and the accumulators stay in registers.
// Leftover rows and columns form blocks of the leftover size (static: no bounds checks).

/**
 * How an index of a matrix view becomes an offset: `index * stride` for a number, else
 * `table[index]` (an Int32Array of offsets: a convolution's implicit im2col matrix).
 */
type Axis = number | { readonly table: string };

/** A matrix view on a flat buffer: element (r, c) is buf[at + offset(rs, r) + offset(cs, c)]. */
interface MatView {
  readonly buf: string;
  /** The offset of element (0, 0): an identifier or an integer literal. */
  readonly at: string;
  readonly rs: Axis;
  readonly cs: Axis;
  /** A hint for the names of loaded values or accumulators ("w", "x", "y"). */
  readonly hint: string;
}

interface Gemm {
  /** The comment above the loop nest: what the product computes. */
  readonly what: string;
  readonly M: number;
  readonly N: number;
  readonly K: number;
  /** A(i, k), B(k, j), C(i, j). */
  readonly a: MatView;
  readonly b: MatView;
  readonly c: MatView;
  /** C += A B (else C = A B, plus the bias if any). */
  readonly accumulate: boolean;
  /** Accumulators start at bias[i] (along "row") or bias[j] (along "col"). */
  readonly bias?: { readonly buf: string; readonly along: "row" | "col" };
  /** Names of the loop variables over i, j and k (the layer's own names: "o", "p", "k"). */
  readonly names: readonly [string, string, string];
}

/** The block shape MR x NR for a product with M rows and N columns. */
function blockShape(M: number, N: number): [number, number] {
  if (M === 1) return [1, Math.min(N, 8)];
  if (N === 1) return [Math.min(M, 8), 1];
  // 2 x 4: eight accumulators stay in registers (4 x 4 measured 5-15% slower: V8 spills some
  // of sixteen). Each side takes the preferred size if it divides the extent, else another
  // that does (no leftover block), else the preferred one.
  const pick = (n: number, sizes: number[]): number => (n <= sizes[0]! ? n : sizes.find((b) => n % b === 0) ?? sizes[0]!);
  return [pick(M, [2, 3]), pick(N, [4, 5, 3])];
}

/** An offset: the sum of some variables and a static number. */
interface Offset {
  readonly vars: readonly string[];
  readonly c: number;
}

function offsetOf(expr: string, c = 0): Offset {
  return INTEGER.test(expr) ? { vars: [], c: Number(expr) + c } : { vars: [expr], c };
}

function showOffset(o: Offset, c = 0): string {
  const k = o.c + c;
  if (o.vars.length === 0) return String(k);
  return `${o.vars.join(" + ")}${k > 0 ? ` + ${k}` : k < 0 ? ` - ${-k}` : ""}`;
}

function addOffsets(x: Offset, y: Offset): Offset {
  return { vars: [...x.vars, ...y.vars], c: x.c + y.c };
}

function gemm(w: Writer, g: Gemm): void {
  const { M, N, K, a, b, c } = g;
  // an outer product (K = 1) keeps no accumulators: wider blocks amortise more loads
  const [MR, NR] = K === 1 && M > 1 && N > 1 ? [Math.min(M, 4), Math.min(N, 8)] : blockShape(M, N);
  const MB = M - (M % MR);
  const NB = N - (N % NR);
  const accName = (r: number, s: number): string =>
    MR === 1 ? `${c.hint}${s}` : NR === 1 ? `${c.hint}${r}` : `${c.hint}${r}${s}`;
  const bindOffset = (hint: string, expr: string): Offset => offsetOf(w.bind(hint, expr));

  /**
   * The offsets of `count` consecutive indices from `start` along `axis`, plus `base`, bound
   * once: one variable and static steps for a strided axis, one variable per index for a
   * table.
   */
  const hoist = (axis: Axis, start: string, count: number, hint: string, base: Term[]): Offset[] => {
    if (typeof axis === "number") {
      const o = bindOffset(hint, affine(...base, [start, axis]));
      return Array.from({ length: count }, (_, r) => ({ vars: o.vars, c: o.c + r * axis }));
    }
    const b0 = affine(...base);
    return Array.from({ length: count }, (_, r) =>
      bindOffset(`${hint}${r}`, `${b0 === "0" ? "" : `${b0} + `}${axis.table}[${affine([start, 1], r)}]`));
  };

  /** Inside the contraction loop: the hoisted offsets moved to step k along `axis`. */
  const step = (hoisted: Offset[], axis: Axis, k: string, hint: string): Offset[] => {
    const first = hoisted[0]!;
    const kTerm = typeof axis === "number" ? affine([k, axis]) : `${axis.table}[${k}]`;
    if (kTerm === "0") return hoisted;
    if (hoisted.every((o) => o.vars.join() === first.vars.join())) {
      // one variable for the step's first element; the others are static steps from it
      const o = bindOffset(hint, first.vars.length === 0 ? kTerm : `${first.vars.join(" + ")} + ${kTerm}`);
      return hoisted.map((h) => ({ vars: o.vars, c: o.c + h.c }));
    }
    const kOff = bindOffset(hint, kTerm);
    return hoisted.map((h) => addOffsets(h, kOff));
  };

  const init = (i: string, j: string, r: number, s: number): string =>
    g.accumulate || !g.bias ? "0" : `${g.bias.buf}[${g.bias.along === "row" ? affine([i, 1], r) : affine([j, 1], s)}]`;
  const op = g.accumulate ? "+=" : "=";

  /** C's offsets: per row (with a strided column axis folded in), then per column. */
  const cOffsets = (i: string, j: string, rows: number, cols: number): Offset[][] => {
    const strided = typeof c.cs === "number";
    const cRows = hoist(c.rs, i, rows, `${c.hint}At`, strided ? [[c.at, 1], [j, c.cs as number]] : [[c.at, 1]]);
    const cCols = strided
      ? Array.from({ length: cols }, (_, s) => offsetOf("0", s * (c.cs as number)))
      : hoist(c.cs, j, cols, `${c.hint}Col`, []);
    return cRows.map((row) => cCols.map((col) => addOffsets(row, col)));
  };

  /** A block of an outer product: each element of C is one product, stored at once. */
  const outerBlock = (i: string, aRows: Offset[], j: string, rows: number, cols: number): void => {
    const bCols = hoist(b.cs, j, cols, `${b.hint}At`, [[b.at, 1]]);
    const bVal = bCols.map((o, s) => w.bind(`${b.hint}${s}`, `${b.buf}[${showOffset(o)}]`));
    const cAt = cOffsets(i, j, rows, cols);
    for (let r = 0; r < rows; r++) {
      const aVal = w.bind(`${a.hint}${r}`, `${a.buf}[${showOffset(aRows[r]!)}]`);
      for (let s = 0; s < cols; s++) {
        const bias = init(i, j, r, s);
        w.line(`${c.buf}[${showOffset(cAt[r]![s]!)}] ${op} ${bias === "0" ? "" : `${bias} + `}${aVal} * ${bVal[s]};`);
      }
    }
  };

  const block = (i: string, aRows: Offset[], j: string, rows: number, cols: number): void => {
    if (K === 1) {
      outerBlock(i, aRows, j, rows, cols);
      return;
    }
    const bCols = hoist(b.cs, j, cols, `${b.hint}At`, [[b.at, 1]]);
    const acc = Array.from({ length: rows }, (_, r) => Array.from({ length: cols }, (_, s) => {
      const name = w.fresh(accName(r, s));
      w.line(`let ${name} = ${init(i, j, r, s)};`);
      return name;
    }));
    w.loop(g.names[2], K, (k) => {
      const aK = step(aRows, a.cs, k, `${a.hint}K`);
      const bK = step(bCols, b.rs, k, `${b.hint}K`);
      const bVal = bK.map((o, s) => w.bind(`${b.hint}${s}`, `${b.buf}[${showOffset(o)}]`));
      for (let r = 0; r < rows; r++) {
        const aVal = w.bind(`${a.hint}${r}`, `${a.buf}[${showOffset(aK[r]!)}]`);
        for (let s = 0; s < cols; s++) w.line(`${acc[r]![s]} += ${aVal} * ${bVal[s]};`);
      }
    });
    const cAt = cOffsets(i, j, rows, cols);
    for (let r = 0; r < rows; r++) {
      for (let s = 0; s < cols; s++) w.line(`${c.buf}[${showOffset(cAt[r]![s]!)}] ${op} ${acc[r]![s]};`);
    }
  };

  /** The blocks of rows [i, i + rows): A's row offsets are hoisted out of the column loop. */
  const rowTile = (i: string, rows: number): void => {
    const aRows = hoist(a.rs, i, rows, `${a.hint}At`, [[a.at, 1]]);
    w.loop(g.names[1], NB, (j) => block(i, aRows, j, rows, NR), NR, NB === N);
    if (NB < N) w.block(() => block(i, aRows, String(NB), rows, N - NB));
  };
  w.line(`// ${g.what}`);
  w.loop(g.names[0], MB, (i) => rowTile(i, MR), MR, MB === M);
  if (MB < M) w.block(() => rowTile(String(MB), M - MB));
}


// ---------------------------------------------------------------------------------------
// Reductions

function reduce(ctx: OpEmitContext, term: (k: string) => string, finish: (acc: string) => string): string[] {
  const n = size(shape(ctx.argTypes[0], "the argument"));
  return emit(ctx, (w) => {
    const acc = w.fresh("acc");
    w.line(`let ${acc} = 0;`);
    w.loop("k", n, (k) => w.line(`${acc} += ${term(k)};`));
    w.line(`${ctx.result} = ${finish(acc)};`);
  });
}

const sum: OpEmitter = (ctx) => reduce(ctx, (k) => `${ctx.args[0]}[${k}]`, (acc) => acc);

const mean: OpEmitter = (ctx) => {
  const n = size(shape(ctx.argTypes[0], "the argument"));
  return reduce(ctx, (k) => `${ctx.args[0]}[${k}]`, (acc) => `${acc} / ${n}`);
};

const dot: OpEmitter = (ctx) =>
  reduce(ctx, (k) => `${ctx.args[0]}[${k}] * ${ctx.args[1]}[${k}]`, (acc) => acc);

// ---------------------------------------------------------------------------------------
// linear: x [in] | [N, in], w [out, in], b [out] -> y [out] | [N, out]

interface LinearDims {
  readonly batch: number | null;
  readonly nIn: number;
  readonly nOut: number;
}

function linearDims(xShape: readonly number[], wShape: readonly number[]): LinearDims {
  return {
    batch: xShape.length === 2 ? xShape[0]! : null,
    nOut: wShape[0]!,
    nIn: wShape[1]!,
  };
}

const linear: OpEmitter = (ctx) => {
  const [x, wt, b] = ctx.args;
  const { batch, nIn, nOut } = linearDims(shape(ctx.argTypes[0], "x"), shape(ctx.argTypes[1], "w"));
  return emit(ctx, (w) =>
    gemm(w, {
      what: `y[n][o] = ${b === undefined ? "" : "b[o] + "}Σ_i x[n][i] w[o][i], in register blocks of (n, o)`,
      M: batch ?? 1, N: nOut, K: nIn,
      a: { buf: x!, at: "0", rs: nIn, cs: 1, hint: "x" },
      b: { buf: wt!, at: "0", rs: 1, cs: nIn, hint: "w" },
      c: { buf: ctx.result, at: "0", rs: nOut, cs: 1, hint: "y" },
      accumulate: false,
      ...(b === undefined ? {} : { bias: { buf: b, along: "col" as const } }),
      names: ["n", "o", "i"],
    }));
};

/** dx[n][i] = sum_o dy[n][o] * w[o][i] */
const linearGradInput: OpEmitter = (ctx) => {
  const [dy, wt] = ctx.args;
  const dyShape = shape(ctx.argTypes[0], "dy");
  const { nIn, nOut } = linearDims(dyShape, shape(ctx.argTypes[1], "w"));
  const batch = dyShape.length === 2 ? dyShape[0]! : null;
  return emit(ctx, (w) =>
    gemm(w, {
      what: "dx[n][i] = Σ_o dy[n][o] w[o][i], in register blocks of (n, i)",
      M: batch ?? 1, N: nIn, K: nOut,
      a: { buf: dy!, at: "0", rs: nOut, cs: 1, hint: "dy" },
      b: { buf: wt!, at: "0", rs: nIn, cs: 1, hint: "w" },
      c: { buf: ctx.result, at: "0", rs: nIn, cs: 1, hint: "dx" },
      accumulate: false,
      names: ["n", "i", "o"],
    }));
};

/** dw[o][i] = sum_n dy[n][o] * x[n][i] */
const linearGradWeight: OpEmitter = (ctx) => {
  const [dy, x] = ctx.args;
  const dyShape = shape(ctx.argTypes[0], "dy");
  const xShape = shape(ctx.argTypes[1], "x");
  const nOut = dyShape[dyShape.length - 1]!;
  const nIn = xShape[xShape.length - 1]!;
  const batch = dyShape.length === 2 ? dyShape[0]! : null;
  return emit(ctx, (w) =>
    gemm(w, {
      what: batch === null
        ? "dw[o][i] = dy[o] x[i] (an outer product), in blocks of (o, i)"
        : "dw[o][i] = Σ_n dy[n][o] x[n][i], in register blocks of (o, i)",
      M: nOut, N: nIn, K: batch ?? 1,
      a: { buf: dy!, at: "0", rs: 1, cs: nOut, hint: "dy" },
      b: { buf: x!, at: "0", rs: nIn, cs: 1, hint: "x" },
      c: { buf: ctx.result, at: "0", rs: nIn, cs: 1, hint: "dw" },
      accumulate: false,
      names: ["o", "i", "n"],
    }));
};

/** db[o] = sum_n dy[n][o] */
const linearGradBias: OpEmitter = (ctx) => {
  const [dy] = ctx.args;
  const db = ctx.result;
  const dyShape = shape(ctx.argTypes[0], "dy");
  const nOut = dyShape[dyShape.length - 1]!;
  const batch = dyShape.length === 2 ? dyShape[0]! : null;
  return emit(ctx, (w) => {
    if (batch !== null) w.zero(db, nOut);
    const op = batch === null ? "=" : "+=";
    w.maybeLoop("n", batch, (n) => {
      const dyRow = w.bind("dyRow", affine([n, nOut]));
      w.loop("o", nOut, (o) => w.line(`${db}[${o}] ${op} ${dy}[${affine([dyRow, 1], [o, 1])}];`));
    });
  });
};

// ---------------------------------------------------------------------------------------
// conv2d: x [C, H, W] | [N, C, H, W], w [O, C, KH, KW] -> y [O, OH, OW] | [N, O, OH, OW]

interface ConvDims {
  readonly batch: number | null;
  readonly C: number;
  readonly H: number;
  readonly W: number;
  readonly O: number;
  readonly KH: number;
  readonly KW: number;
  readonly OH: number;
  readonly OW: number;
  readonly sh: number;
  readonly sw: number;
  readonly ph: number;
  readonly pw: number;
}

function convDims(
  xShape: readonly number[], wShape: readonly number[], yShape: readonly number[],
  attrs: AttrsOf<"conv2d">,
): ConvDims {
  const batched = xShape.length === 4;
  const [C, H, W] = batched ? xShape.slice(1) : xShape;
  const [O, , KH, KW] = wShape;
  const [OH, OW] = yShape.slice(-2);
  return {
    batch: batched ? xShape[0]! : null,
    C: C!, H: H!, W: W!, O: O!, KH: KH!, KW: KW!, OH: OH!, OW: OW!,
    sh: attrs.stride[0], sw: attrs.stride[1], ph: attrs.padding[0], pw: attrs.padding[1],
  };
}

// A convolution is a matrix product with the im2col matrix of its input: row k = (c, ki, kj)
// (a kernel tap), column p = (i, j) (an output position), entry x[c][i·sh + ki - ph][j·sw +
// kj - pw]. Its entry lives at `tapAt[k] + windowAt[p]` in the input with a zero border of
// (ph, pw), so the products read (and the input adjoint scatters into) the padded input
// through these two small offset tables instead of materialising the matrix.

interface Im2col {
  /** K = C·KH·KW rows (kernel taps), P = OH·OW columns (output positions). */
  readonly K: number;
  readonly P: number;
  /** The padded image's height, width and size. */
  readonly Hp: number;
  readonly Wp: number;
  readonly image: number;
  readonly padded: boolean;
  /** The row and column axes of the matrix as offsets into the padded image. */
  readonly taps: Axis;
  readonly windows: Axis;
}

/** The im2col matrix's extents and the padded image's (no tables: the axes are placeholders). */
function im2colShape(d: ConvDims): Im2col {
  const Hp = d.H + 2 * d.ph;
  const Wp = d.W + 2 * d.pw;
  return {
    K: d.C * d.KH * d.KW, P: d.OH * d.OW, Hp, Wp, image: d.C * Hp * Wp, padded: d.ph > 0 || d.pw > 0,
    taps: 0, windows: 0,
  };
}

/** Declares the offset tables (filled on each call: K + P writes) and returns the axes. */
function im2colAxes(w: Writer, ctx: OpEmitContext, d: ConvDims): Im2col {
  const { C, KH, KW, OH, OW, sh, sw, ph, pw } = d;
  const { Hp, Wp, K, P } = im2colShape(d);
  let taps: Axis = Hp * Wp;
  if (KH * KW > 1) {
    const tapAt = w.bind("tapAt", ctx.scratch(K, "tapAt", "int32"));
    w.line(`// tapAt[(c, ki, kj)]: where kernel tap (c, ki, kj) of the window at (0, 0) reads the${ph || pw ? " padded" : ""} input`);
    const tap = w.fresh("tap");
    w.line(`let ${tap} = 0;`);
    w.loop("c", C, (c) => w.loop("ki", KH, (ki) => w.loop("kj", KW, (kj) =>
      w.line(`${tapAt}[${tap}++] = ${affine([c, Hp * Wp], [ki, Wp], [kj, 1])};`))));
    taps = { table: tapAt };
  }
  let windows: Axis = sw;
  if (OH > 1 && sh * Wp !== OW * sw) {
    const windowAt = w.bind("windowAt", ctx.scratch(P, "windowAt", "int32"));
    w.line(`// windowAt[(i, j)]: where the window of output (i, j) starts in the${ph || pw ? " padded" : ""} input`);
    w.loop("i", OH, (i) => w.loop("j", OW, (j) =>
      w.line(`${windowAt}[${affine([i, OW], [j, 1])}] = ${affine([i, sh * Wp], [j, sw])};`)));
    windows = { table: windowAt };
  }
  return { K, P, Hp, Wp, image: C * Hp * Wp, padded: ph > 0 || pw > 0, taps, windows };
}

/** Copies image `xImage` of x into the interior of the padded buffer xp (border left as is). */
function copyIntoPadded(w: Writer, d: ConvDims, m: Im2col, x: string, xImage: string, xp: string): void {
  w.line(`// xp[c][${d.ph} + ih][${d.pw} + iw] = x[c][ih][iw] (the border stays 0)`);
  w.loop("c", d.C, (c) => w.loop("ih", d.H, (ih) => {
    const src = w.bind("src", affine([xImage, 1], [c, d.H * d.W], [ih, d.W]));
    const dst = w.bind("dst", affine([c, m.image / d.C], [ih, m.Wp], d.ph * m.Wp + d.pw));
    w.loop("iw", d.W, (iw) => w.line(`${xp}[${affine([dst, 1], [iw, 1])}] = ${x}[${affine([src, 1], [iw, 1])}];`));
  }));
}

/** Output columns per block of the direct convolution: a divisor of OW if one is near 4. */
function directColumns(OW: number): number {
  return OW <= 4 ? OW : [4, 5, 3, 6, 7].find((b) => OW % b === 0) ?? 4;
}

/** The direct loops unroll each kernel row: at most this many multiply-adds per row. */
const DIRECT_ROW_LIMIT = 64;

/**
 * The direct convolution of one image: for each filter o and output row i, blocks of NR
 * outputs (i, j .. j + NR) accumulate in registers while the loops run over the kernel's
 * rows (c, ki); each row is unrolled over kj, and the input values it reads, x[c][i·sh + ki]
 * [j·sw + kj + s·sw], are loaded once and shared by the outputs and taps that need them (a
 * sliding window). Half the loads of the product form, which measured ~25% faster.
 */
function directConv(
  w: Writer, d: ConvDims, m: Im2col, x: string, xBase: string, wt: string, b: string | undefined,
  y: string, yImage: string,
): void {
  const { C, KH, KW, OH, OW, sh, sw, O } = d;
  const NR = directColumns(OW);
  const JB = OW - (OW % NR);
  w.line(`// y[o][i][j] = ${b === undefined ? "" : "b[o] + "}Σ over c, ki, kj of w[o][c][ki][kj] ${x}[c][i${sh === 1 ? "" : ` * ${sh}`} + ki][j${sw === 1 ? "" : ` * ${sw}`} + kj], ${NR} outputs j at a time`);
  const outputs = (o: string, i: string, wFilter: string, j: string, cols: number): void => {
    const acc = Array.from({ length: cols }, (_, s) => {
      const v = w.fresh(`y${s}`);
      w.line(`let ${v} = ${b === undefined ? "0" : `${b}[${o}]`};`);
      return v;
    });
    w.loop("c", C, (c) => w.loop("ki", KH, (ki) => {
      const xRow = w.bind("xRow", affine([xBase, 1], [c, m.image / C], [i, sh * m.Wp], [ki, m.Wp], [j, sw]));
      const wRow = w.bind("wRow", affine([wFilter, 1], [c, KH * KW], [ki, KW]));
      const xs = new Map<number, string>();
      for (let kj = 0; kj < KW; kj++) {
        const wv = w.bind(`w${kj}`, `${wt}[${affine([wRow, 1], kj)}]`);
        for (let s = 0; s < cols; s++) {
          const t = s * sw + kj;
          let xv = xs.get(t);
          if (xv === undefined) {
            xv = w.bind(`x${t}`, `${x}[${affine([xRow, 1], t)}]`);
            xs.set(t, xv);
          }
          w.line(`${acc[s]} += ${wv} * ${xv};`);
        }
      }
    }));
    const yAt = w.bind("yAt", affine([yImage, 1], [o, m.P], [i, OW], [j, 1]));
    acc.forEach((a, s) => w.line(`${y}[${affine([yAt, 1], s)}] = ${a};`));
  };
  w.loop("o", O, (o) => {
    const wFilter = w.bind("wFilter", affine([o, m.K]));
    w.loop("i", OH, (i) => {
      w.loop("j", JB, (j) => outputs(o, i, wFilter, j, NR), NR, JB === OW);
      if (JB < OW) w.block(() => outputs(o, i, wFilter, String(JB), OW - JB));
    });
  });
}

const conv2d: OpEmitter = (ctx) => {
  const [x, wt, b] = ctx.args;
  const y = ctx.result;
  const d = convDims(
    shape(ctx.argTypes[0], "x"), shape(ctx.argTypes[1], "w"), shape(ctx.resultType, "y"), attrsOf(ctx, "conv2d"));
  const direct = d.KW * directColumns(d.OW) <= DIRECT_ROW_LIMIT;
  return emit(ctx, (w) => {
    const m = direct ? im2colShape(d) : im2colAxes(w, ctx, d);
    const xp = m.padded ? w.bind("xp", ctx.scratch(m.image, "padded")) : x!;
    if (m.padded) w.zero(xp, m.image);
    w.maybeLoop("n", d.batch, (n) => {
      const xImage = w.bind("xImage", affine([n, d.C * d.H * d.W]));
      const yImage = w.bind("yImage", affine([n, d.O * m.P]));
      if (m.padded) copyIntoPadded(w, d, m, x!, xImage, xp);
      if (direct) {
        directConv(w, d, m, xp, m.padded ? "0" : xImage, wt!, b, y, yImage);
        return;
      }
      gemm(w, {
        what: `y[o][p] = ${b === undefined ? "" : "b[o] + "}Σ_k w[o][k] ${xp}[tapAt[k] + windowAt[p]], in register blocks of (o, p)`,
        M: d.O, N: m.P, K: m.K,
        a: { buf: wt!, at: "0", rs: m.K, cs: 1, hint: "w" },
        b: { buf: xp, at: m.padded ? "0" : xImage, rs: m.taps, cs: m.windows, hint: "x" },
        c: { buf: y, at: yImage, rs: m.P, cs: 1, hint: "y" },
        accumulate: false,
        ...(b === undefined ? {} : { bias: { buf: b, along: "row" as const } }),
        names: ["o", "p", "k"],
      });
    });
  });
};

// The adjoints of a convolution multiply by dy, which the adjoints of relu and max-pooling
// leave mostly zero (a 2x2 max-pool passes one gradient in four). Each image's nonzero dy
// entries are listed first (branch-free), and when at most half are nonzero the products
// run over the list only; denser images take the blocked product. Skipping a zero of dy
// skips 0 · x, which is not 0 when x is infinite or NaN: such inputs (or weights) take the
// full product, so the result never depends on the path.

interface Nonzeros {
  /** nzWindow[q]: the window offset (windowAt[p]) of the q-th nonzero dy[o][p]; nzDy[q]: its value. */
  readonly nzWindow: string;
  readonly nzDy: string;
  /** Channel o's entries are q in [nzStart[o], nzStart[o + 1]). */
  readonly nzStart: string;
  /** How many entries the image has. */
  readonly count: string;
}

function declareNonzeros(w: Writer, ctx: OpEmitContext, O: number, P: number): Omit<Nonzeros, "count"> {
  return {
    nzWindow: w.bind("nzWindow", ctx.scratch(O * P, "nzWindow", "int32")),
    nzDy: w.bind("nzDy", ctx.scratch(O * P, "nzDy")),
    nzStart: w.bind("nzStart", ctx.scratch(O + 1, "nzStart", "int32")),
  };
}

/** Lists the nonzero entries of one image of dy, channel by channel. */
function listNonzeros(
  w: Writer, nz: Omit<Nonzeros, "count">, m: Im2col, dy: string, yImage: string, O: number,
): Nonzeros {
  const count = w.fresh("nonzero");
  w.line(`// the nonzero dy[o][p] of this image, channel by channel`);
  w.line(`let ${count} = 0;`);
  w.loop("o", O, (o) => {
    w.line(`${nz.nzStart}[${o}] = ${count};`);
    const dyRow = w.bind("dyRow", affine([yImage, 1], [o, m.P]));
    w.loop("p", m.P, (p) => {
      const g = w.fresh("g");
      w.line(`const ${g} = ${dy}[${affine([dyRow, 1], [p, 1])}];`);
      w.line(`${nz.nzWindow}[${count}] = ${typeof m.windows === "number" ? affine([p, m.windows]) : `${m.windows.table}[${p}]`};`);
      w.line(`${nz.nzDy}[${count}] = ${g};`);
      w.line(`${count} += +(${g} !== 0); // a zero is overwritten by the next entry`);
    });
  });
  w.line(`${nz.nzStart}[${O}] = ${count};`);
  return { ...nz, count };
}

/**
 * Declares `finite`: 0 when buf[start .. start + count) holds only finite numbers, else NaN
 * (0 · x is NaN exactly when x is infinite or NaN).
 */
function finiteCheck(w: Writer, buf: string, start: string, count: number): string {
  const finite = w.fresh("finite");
  w.line(`let ${finite} = 0;`);
  w.loop("e", count, (e) => w.line(`${finite} += ${buf}[${affine([start, 1], [e, 1])}] * 0;`));
  return finite;
}

/** The offset of tap `k + s` (k an index expression) in the padded image. */
function tapOffset(m: Im2col, k: string, s: number): string {
  return typeof m.taps === "number" ? affine([k, m.taps], s * m.taps) : `${m.taps.table}[${affine([k, 1], s)}]`;
}

/**
 * Taps per block of the sparse loops: all of them when there are few, else a divisor of K
 * in [lo, hi] (no leftover block), else `hi`.
 */
function tapBlock(K: number, lo: number, hi: number): number {
  if (K <= 25) return K;
  for (let b = hi; b >= lo; b--) if (K % b === 0) return b;
  return hi;
}

/** Loops over the taps in blocks of `block` (and a leftover block): body(first tap, count). */
function tapBlocks(w: Writer, K: number, block: number, body: (k: string, count: number) => void): void {
  const KB = K - (K % block);
  w.loop("k", KB, (k) => body(k, block), block, KB === K);
  if (KB < K) w.block(() => body(String(KB), K - KB));
}

/**
 * The transposed convolution: dx[tapAt[k] + windowAt[p]] += Σ_o w[o][k] dy[o][p] for each tap
 * k = (c, ki, kj) and output position p = (i, j) (into a padded buffer when there is padding).
 */
const conv2dGradInput: OpEmitter = (ctx) => {
  const [dy, wt] = ctx.args;
  const dx = ctx.result;
  const attrs = attrsOf(ctx, "conv2dGradInput");
  const d = convDims(attrs.inputShape, shape(ctx.argTypes[1], "w"), shape(ctx.argTypes[0], "dy"), attrs);
  return emit(ctx, (w) => {
    const m = im2colAxes(w, ctx, d);
    const dxp = m.padded ? w.bind("dxp", ctx.scratch(m.image, "padded")) : dx;
    const nzs = declareNonzeros(w, ctx, d.O, m.P);
    if (!m.padded) w.zero(dx, size(attrs.inputShape));
    w.line(`// 0 · w is not 0 for an infinite or NaN weight: then every image takes the full product`);
    const finite = finiteCheck(w, wt!, "0", d.O * m.K);
    w.maybeLoop("n", d.batch, (n) => {
      const xImage = w.bind("xImage", affine([n, d.C * d.H * d.W]));
      const yImage = w.bind("yImage", affine([n, d.O * m.P]));
      const dxImage = m.padded ? "0" : xImage;
      if (m.padded) w.zero(dxp, m.image);
      const nz = listNonzeros(w, nzs, m, dy!, yImage, d.O);
      w.line(`if (${nz.count} <= ${(d.O * m.P) >> 1} && ${finite} === 0) {`);
      w.indented(() => {
        w.line(`// ${dxp}[tapAt[k] + windowAt[p]] += w[o][k] dy[o][p] for the nonzero dy[o][p], in blocks of taps`);
        w.loop("o", d.O, (o) => {
          const first = w.bind("first", `${nz.nzStart}[${o}]`);
          const end = w.bind("end", `${nz.nzStart}[${affine([o, 1], 1)}]`);
          const wRow = w.bind("wRow", affine([o, m.K]));
          tapBlocks(w, m.K, tapBlock(m.K, 10, 25), (k, count) => {
            const ws = Array.from({ length: count }, (_, s) => {
              const v = w.fresh(`w${s}`);
              w.line(`const ${v} = ${wt}[${affine([wRow, 1], [k, 1], s)}];`);
              return v;
            });
            const ts = Array.from({ length: count }, (_, s) => {
              const v = w.fresh(`dxAt${s}`);
              const off = tapOffset(m, k, s);
              w.line(`const ${v} = ${dxImage === "0" ? off : `${dxImage} + ${off}`};`);
              return v;
            });
            const q = w.fresh("q");
            w.line(`for (let ${q} = ${first}; ${q} < ${end}; ${q}++) {`);
            w.indented(() => {
              const at = w.fresh("at");
              const g = w.fresh("g");
              w.line(`const ${at} = ${nz.nzWindow}[${q}];`);
              w.line(`const ${g} = ${nz.nzDy}[${q}];`);
              ts.forEach((t, s) => w.line(`${dxp}[${t} + ${at}] += ${g} * ${ws[s]};`));
            });
            w.line(`}`);
          });
        });
      });
      w.line(`} else {`);
      w.indented(() => gemm(w, {
        what: `${dxp}[tapAt[k] + windowAt[p]] += Σ_o w[o][k] dy[o][p], in register blocks of (k, p)`,
        M: m.K, N: m.P, K: d.O,
        a: { buf: wt!, at: "0", rs: 1, cs: m.K, hint: "w" },
        b: { buf: dy!, at: yImage, rs: m.P, cs: 1, hint: "dy" },
        c: { buf: dxp, at: dxImage, rs: m.taps, cs: m.windows, hint: "dx" },
        accumulate: true,
        names: ["k", "p", "o"],
      }));
      w.line(`}`);
      if (m.padded) {
        w.line(`// dx[c][ih][iw] = dxp[c][${d.ph} + ih][${d.pw} + iw] (what reached the border is dropped)`);
        w.loop("c", d.C, (c) => w.loop("ih", d.H, (ih) => {
          const dst = w.bind("dst", affine([xImage, 1], [c, d.H * d.W], [ih, d.W]));
          const src = w.bind("src", affine([c, m.image / d.C], [ih, m.Wp], d.ph * m.Wp + d.pw));
          w.loop("iw", d.W, (iw) => w.line(`${dx}[${affine([dst, 1], [iw, 1])}] = ${dxp}[${affine([src, 1], [iw, 1])}];`));
        }));
      }
    });
  });
};

/** dw[o][k] = Σ over n and p of dy[n][o][p] x_n[tapAt[k] + windowAt[p]] (k = (c, ki, kj), p = (i, j)). */
const conv2dGradWeight: OpEmitter = (ctx) => {
  const [dy, x] = ctx.args;
  const dw = ctx.result;
  const attrs = attrsOf(ctx, "conv2dGradWeight");
  const d = convDims(shape(ctx.argTypes[1], "x"), attrs.weightShape, shape(ctx.argTypes[0], "dy"), attrs);
  return emit(ctx, (w) => {
    const m = im2colAxes(w, ctx, d);
    const xp = m.padded ? w.bind("xp", ctx.scratch(m.image, "padded")) : x!;
    const nzs = declareNonzeros(w, ctx, d.O, m.P);
    if (m.padded) w.zero(xp, m.image);
    if (d.batch !== null) w.zero(dw, size(attrs.weightShape));
    const op = d.batch === null ? "=" : "+=";
    w.maybeLoop("n", d.batch, (n) => {
      const xImage = w.bind("xImage", affine([n, d.C * d.H * d.W]));
      const yImage = w.bind("yImage", affine([n, d.O * m.P]));
      const xBase = m.padded ? "0" : xImage;
      if (m.padded) copyIntoPadded(w, d, m, x!, xImage, xp);
      const nz = listNonzeros(w, nzs, m, dy!, yImage, d.O);
      w.line(`// 0 · x is not 0 for an infinite or NaN input: then the image takes the full product`);
      const finite = finiteCheck(w, x!, xImage, d.C * d.H * d.W);
      w.line(`if (${nz.count} <= ${(d.O * m.P) >> 1} && ${finite} === 0) {`);
      w.indented(() => {
        w.line(`// dw[o][k] ${op} Σ dy[o][p] ${xp}[tapAt[k] + windowAt[p]] over the nonzero dy[o][p], in blocks of taps`);
        w.loop("o", d.O, (o) => {
          const first = w.bind("first", `${nz.nzStart}[${o}]`);
          const end = w.bind("end", `${nz.nzStart}[${affine([o, 1], 1)}]`);
          const dwRow = w.bind("dwRow", affine([o, m.K]));
          tapBlocks(w, m.K, tapBlock(m.K, 8, 16), (k, count) => {
            const ts = Array.from({ length: count }, (_, s) => {
              const v = w.fresh(`xAt${s}`);
              const off = tapOffset(m, k, s);
              w.line(`const ${v} = ${xBase === "0" ? off : `${xBase} + ${off}`};`);
              return v;
            });
            const accs = Array.from({ length: count }, (_, s) => {
              const v = w.fresh(`dw${s}`);
              w.line(`let ${v} = 0;`);
              return v;
            });
            const q = w.fresh("q");
            w.line(`for (let ${q} = ${first}; ${q} < ${end}; ${q}++) {`);
            w.indented(() => {
              const at = w.fresh("at");
              const g = w.fresh("g");
              w.line(`const ${at} = ${nz.nzWindow}[${q}];`);
              w.line(`const ${g} = ${nz.nzDy}[${q}];`);
              ts.forEach((t, s) => w.line(`${accs[s]} += ${g} * ${xp}[${t} + ${at}];`));
            });
            w.line(`}`);
            accs.forEach((a, s) => w.line(`${dw}[${affine([dwRow, 1], [k, 1], s)}] ${op} ${a};`));
          });
        });
      });
      w.line(`} else {`);
      w.indented(() => gemm(w, {
        what: `dw[o][k] ${op} Σ_p dy[o][p] ${xp}[tapAt[k] + windowAt[p]], in register blocks of (o, k)`,
        M: d.O, N: m.K, K: m.P,
        a: { buf: dy!, at: yImage, rs: m.P, cs: 1, hint: "dy" },
        b: { buf: xp, at: xBase, rs: m.windows, cs: m.taps, hint: "x" },
        c: { buf: dw, at: "0", rs: m.K, cs: 1, hint: "dw" },
        accumulate: d.batch !== null,
        names: ["o", "k", "p"],
      }));
      w.line(`}`);
    });
  });
};

/** db[o] = sum over n, i, j of dy[n][o][i][j] */
const conv2dGradBias: OpEmitter = (ctx) => {
  const [dy] = ctx.args;
  const db = ctx.result;
  const dyShape = shape(ctx.argTypes[0], "dy");
  const batch = dyShape.length === 4 ? dyShape[0]! : null;
  const [O, OH, OW] = dyShape.slice(-3) as [number, number, number];
  return emit(ctx, (w) => {
    if (batch !== null) w.zero(db, O);
    const op = batch === null ? "=" : "+=";
    w.maybeLoop("n", batch, (n) => {
      w.loop("o", O, (o) => {
        const plane = w.bind("yPlane", affine([n, O * OH * OW], [o, OH * OW]));
        const acc = w.fresh("acc");
        w.line(`let ${acc} = 0;`);
        w.loop("k", OH * OW, (k) => w.line(`${acc} += ${dy}[${affine([plane, 1], [k, 1])}];`));
        w.line(`${db}[${o}] ${op} ${acc};`);
      });
    });
  });
};

// ---------------------------------------------------------------------------------------
// Pooling: x [H, W] | [C, H, W] | [N, C, H, W], no padding. Every leading dimension is a
// batch of independent planes, so one loop over the planes covers all three forms.

interface PoolDims {
  readonly planes: number;
  readonly H: number;
  readonly W: number;
  readonly OH: number;
  readonly OW: number;
  readonly KH: number;
  readonly KW: number;
  readonly sh: number;
  readonly sw: number;
}

function poolDims(xShape: readonly number[], yShape: readonly number[], attrs: AttrsOf<"maxpool2d">): PoolDims {
  return {
    planes: size(xShape.slice(0, -2)),
    H: xShape[xShape.length - 2]!,
    W: xShape[xShape.length - 1]!,
    OH: yShape[yShape.length - 2]!,
    OW: yShape[yShape.length - 1]!,
    KH: attrs.size[0], KW: attrs.size[1], sh: attrs.stride[0], sw: attrs.stride[1],
  };
}

/**
 * For each window (plane p, output row i, column j), `window` runs with the offset of the
 * window's top-left element in x, the window's offset in y, and `rows`, which emits a loop
 * over the window's rows and calls `row` with each row's offset in x.
 */
function poolNest(
  w: Writer, d: PoolDims,
  window: (at: { corner: string; yAt: string; rows: (row: (xRow: string) => void) => void }) => void,
): void {
  const { planes, H, W, OH, OW, KH, sh, sw } = d;
  const onePlane = planes === 1;
  w.maybeLoop("p", onePlane ? null : planes, (p) => {
    const xPlane = w.bind("xPlane", affine([p, H * W]));
    const yPlane = w.bind("yPlane", affine([p, OH * OW]));
    w.loop("i", OH, (i) => {
      const xTop = w.bind("xTop", affine([xPlane, 1], [i, sh * W]));
      const yRow = w.bind("yRow", affine([yPlane, 1], [i, OW]));
      w.loop("j", OW, (j) => {
        const corner = w.bind("corner", affine([xTop, 1], [j, sw]));
        const yAt = affine([yRow, 1], [j, 1]);
        window({
          corner,
          yAt,
          rows: (row) =>
            w.loop("ki", KH, (ki) => row(w.bind("xRow", affine([corner, 1], [ki, W])))),
        });
      });
    });
  });
}

/** Windows of at most this many elements are unrolled (and their maximum found branch-free). */
const UNROLL_WINDOW = 16;

/** The offsets of a window's elements from its top-left corner, in row-major order. */
function windowOffsets(d: PoolDims): number[] {
  const offsets: number[] = [];
  for (let ki = 0; ki < d.KH; ki++) for (let kj = 0; kj < d.KW; kj++) offsets.push(ki * d.W + kj);
  return offsets;
}

/**
 * Declares `at`, the offset (from `corner`) of the window's first maximum in row-major order
 * (strictly greater values take over), without data-dependent branches: comparisons become
 * 0 or 1 and select the offset arithmetically, so random data costs no mispredictions.
 * Comparisons with NaN are false, so the caller must redo a window whose `sum` is NaN (it
 * holds a NaN, or +∞ beside -∞) by the exact rule. `max` is the maximum (if `wantMax`).
 */
function windowArgmax(
  w: Writer, x: string, corner: string, offsets: number[], wantMax: boolean,
): { v: string[]; at: string; max: string; sum: string } {
  const v = offsets.map((o, e) => w.bind(`v${e}`, `${x}[${affine([corner, 1], o)}]`));
  const at = w.fresh("at");
  const max = w.fresh("max");
  const sum = w.fresh("sum");
  w.line(`// at: the offset of the first maximum, selected without branches`);
  w.line(`let ${at} = +(${v[1]} > ${v[0]})${offsets[1] === 1 ? "" : ` * ${offsets[1]}`};`);
  w.line(`let ${max} = ${x}[${affine([corner, 1], [at, 1])}];`);
  for (let e = 2; e < offsets.length; e++) {
    w.line(`${at} += +(${v[e]} > ${max}) * (${offsets[e]} - ${at});`);
    if (e < offsets.length - 1 || wantMax) w.line(`${max} = ${x}[${affine([corner, 1], [at, 1])}];`);
  }
  w.line(`const ${sum} = ${v.join(" + ")};`);
  return { v, at, max, sum };
}

const maxpool2d: OpEmitter = (ctx) => {
  const [x] = ctx.args;
  const y = ctx.result;
  const d = poolDims(shape(ctx.argTypes[0], "x"), shape(ctx.resultType, "y"), attrsOf(ctx, "maxpool2d"));
  const offsets = windowOffsets(d);
  return emit(ctx, (w) => {
    poolNest(w, d, ({ corner, yAt, rows }) => {
      if (offsets.length === 1) {
        w.line(`${y}[${yAt}] = ${x}[${corner}];`);
        return;
      }
      if (offsets.length <= UNROLL_WINDOW) {
        const { v, max, sum } = windowArgmax(w, x!, corner, offsets, true);
        w.line(`if (${sum} !== ${sum}) {`);
        w.line(`  // a NaN is the maximum (as in PyTorch); +∞ beside -∞ just takes this path`);
        for (const ve of v) w.line(`  if (${ve} > ${max} || ${ve} !== ${ve}) ${max} = ${ve};`);
        w.line(`}`);
        w.line(`${y}[${yAt}] = ${max};`);
        return;
      }
      const max = w.fresh("max");
      w.line(`let ${max} = -Infinity;`);
      rows((xRow) =>
        w.loop("kj", d.KW, (kj) => {
          const v = w.fresh("v");
          w.line(`const ${v} = ${x}[${affine([xRow, 1], [kj, 1])}];`);
          // a NaN is the maximum (as in PyTorch)
          w.line(`if (${v} > ${max} || ${v} !== ${v}) ${max} = ${v};`);
        }));
      w.line(`${y}[${yAt}] = ${max};`);
    });
  });
};

/** (x, dy) -> dx: each window's dy goes to the window's first maximum. */
const maxpool2dGrad: OpEmitter = (ctx) => {
  const [x, dy] = ctx.args;
  const dx = ctx.result;
  const xShape = shape(ctx.argTypes[0], "x");
  const d = poolDims(xShape, shape(ctx.argTypes[1], "dy"), attrsOf(ctx, "maxpool2dGrad"));
  const offsets = windowOffsets(d);
  // windows that tile the input exactly: each window zeroes its own elements; windows that do
  // not overlap: one write each after zeroing dx; overlapping windows accumulate
  const tiles = d.sh === d.KH && d.sw === d.KW && d.OH * d.KH === d.H && d.OW * d.KW === d.W;
  const disjoint = d.sh >= d.KH && d.sw >= d.KW;
  const unrolled = offsets.length <= UNROLL_WINDOW;
  return emit(ctx, (w) => {
    if (!(tiles && unrolled)) w.zero(dx, size(xShape));
    poolNest(w, d, ({ corner, yAt, rows }) => {
      const op = disjoint ? "=" : "+=";
      if (unrolled) {
        if (offsets.length === 1) {
          w.line(`${dx}[${corner}] ${op} ${dy}[${yAt}];`);
          return;
        }
        const { v, at, max, sum } = windowArgmax(w, x!, corner, offsets, false);
        w.line(`if (${sum} !== ${sum}) {`);
        w.line(`  // a NaN in the window: the first NaN is the maximum (as in PyTorch)`);
        w.line(`  ${max} = -Infinity;`);
        w.line(`  ${at} = 0;`);
        v.forEach((ve, e) => {
          w.line(`  if (${ve} > ${max} || (${ve} !== ${ve} && ${max} === ${max})) {`);
          w.line(`    ${max} = ${ve};`);
          w.line(`    ${at} = ${offsets[e]};`);
          w.line(`  }`);
        });
        w.line(`}`);
        if (tiles) offsets.forEach((o) => w.line(`${dx}[${affine([corner, 1], o)}] = 0;`));
        w.line(`${dx}[${affine([corner, 1], [at, 1])}] ${op} ${dy}[${yAt}];`);
        return;
      }
      const max = w.fresh("max");
      const argmax = w.fresh("argmax");
      w.line(`let ${max} = -Infinity;`);
      w.line(`let ${argmax} = ${corner};`);
      rows((xRow) =>
        w.loop("kj", d.KW, (kj) => {
          const v = w.fresh("v");
          const at = affine([xRow, 1], [kj, 1]);
          w.line(`const ${v} = ${x}[${at}];`);
          // strictly greater: ties keep the first maximum; the first NaN wins
          w.line(`if (${v} > ${max} || (${v} !== ${v} && ${max} === ${max})) {`);
          w.line(`  ${max} = ${v};`);
          w.line(`  ${argmax} = ${at};`);
          w.line(`}`);
        }));
      w.line(`${dx}[${argmax}] ${op} ${dy}[${yAt}];`);
    });
  });
};

const avgpool2d: OpEmitter = (ctx) => {
  const [x] = ctx.args;
  const y = ctx.result;
  const d = poolDims(shape(ctx.argTypes[0], "x"), shape(ctx.resultType, "y"), attrsOf(ctx, "avgpool2d"));
  return emit(ctx, (w) => {
    poolNest(w, d, ({ yAt, rows }) => {
      const acc = w.fresh("acc");
      w.line(`let ${acc} = 0;`);
      rows((xRow) => w.loop("kj", d.KW, (kj) => w.line(`${acc} += ${x}[${affine([xRow, 1], [kj, 1])}];`)));
      w.line(`${y}[${yAt}] = ${acc} / ${d.KH * d.KW};`);
    });
  });
};

/** (dy) -> dx: each window's dy / (KH * KW) added to every element of the window. */
const avgpool2dGrad: OpEmitter = (ctx) => {
  const [dy] = ctx.args;
  const dx = ctx.result;
  const attrs = attrsOf(ctx, "avgpool2dGrad");
  const d = poolDims(attrs.inputShape, shape(ctx.argTypes[0], "dy"), attrs);
  return emit(ctx, (w) => {
    w.zero(dx, size(attrs.inputShape));
    poolNest(w, d, ({ yAt, rows }) => {
      const g = w.fresh("g");
      w.line(`const ${g} = ${dy}[${yAt}] / ${d.KH * d.KW};`);
      rows((xRow) => w.loop("kj", d.KW, (kj) => w.line(`${dx}[${affine([xRow, 1], [kj, 1])}] += ${g};`)));
    });
  });
};

// ---------------------------------------------------------------------------------------
// Softmax family: along the last axis of [K] or [N, K].

function rowsOf(s: readonly number[]): { rows: number | null; K: number } {
  return { rows: s.length === 2 ? s[0]! : null, K: s[s.length - 1]! };
}

/** Declares `max` = the largest element of x[row .. row + K) and returns its name. */
function rowMax(w: Writer, x: string, row: string, K: number): string {
  const max = w.fresh("max");
  w.line(`let ${max} = ${x}[${row}];`);
  w.loop("k", { lo: "1", hi: String(K) }, (k) => {
    const v = w.fresh("v");
    w.line(`const ${v} = ${x}[${affine([row, 1], [k, 1])}];`);
    w.line(`if (${v} > ${max}) ${max} = ${v};`);
  });
  return max;
}

/**
 * Declares `sum` = the sum of exp(x - max) over the row and returns its name; with `store`,
 * also writes each exp(x - max) into store[row + k].
 */
function rowSumExp(w: Writer, x: string, row: string, K: number, max: string, store?: string): string {
  const sum = w.fresh("sum");
  w.line(`let ${sum} = 0;`);
  w.loop("k", K, (k) => {
    const at = affine([row, 1], [k, 1]);
    if (store === undefined) {
      w.line(`${sum} += Math.exp(${x}[${at}] - ${max});`);
    } else {
      const e = w.fresh("e");
      w.line(`const ${e} = Math.exp(${x}[${at}] - ${max});`);
      w.line(`${store}[${at}] = ${e};`);
      w.line(`${sum} += ${e};`);
    }
  });
  return sum;
}

const softmax: OpEmitter = (ctx) => {
  const [x] = ctx.args;
  const y = ctx.result;
  const { rows, K } = rowsOf(shape(ctx.argTypes[0], "x"));
  return emit(ctx, (w) => {
    w.maybeLoop("n", rows, (n) => {
      const row = w.bind("row", affine([n, K]));
      const max = rowMax(w, x!, row, K);
      const sum = rowSumExp(w, x!, row, K, max, y);
      w.loop("k", K, (k) => w.line(`${y}[${affine([row, 1], [k, 1])}] /= ${sum};`));
    });
  });
};

const logSoftmax: OpEmitter = (ctx) => {
  const [x] = ctx.args;
  const y = ctx.result;
  const { rows, K } = rowsOf(shape(ctx.argTypes[0], "x"));
  return emit(ctx, (w) => {
    w.maybeLoop("n", rows, (n) => {
      const row = w.bind("row", affine([n, K]));
      const max = rowMax(w, x!, row, K);
      const sum = rowSumExp(w, x!, row, K, max);
      const logSum = w.fresh("logSum");
      w.line(`const ${logSum} = Math.log(${sum});`);
      w.loop("k", K, (k) => {
        const at = affine([row, 1], [k, 1]);
        w.line(`${y}[${at}] = ${x}[${at}] - ${max} - ${logSum};`);
      });
    });
  });
};

/** (y, dy) -> dx = y * (dy - sum(dy * y)) per row */
const softmaxGrad: OpEmitter = (ctx) => {
  const [y, dy] = ctx.args;
  const dx = ctx.result;
  const { rows, K } = rowsOf(shape(ctx.argTypes[0], "y"));
  return emit(ctx, (w) => {
    w.maybeLoop("n", rows, (n) => {
      const row = w.bind("row", affine([n, K]));
      const s = w.fresh("dyDotY");
      w.line(`let ${s} = 0;`);
      w.loop("k", K, (k) => {
        const at = affine([row, 1], [k, 1]);
        w.line(`${s} += ${dy}[${at}] * ${y}[${at}];`);
      });
      w.loop("k", K, (k) => {
        const at = affine([row, 1], [k, 1]);
        w.line(`${dx}[${at}] = ${y}[${at}] * (${dy}[${at}] - ${s});`);
      });
    });
  });
};

/** (y, dy) -> dx = dy - exp(y) * sum(dy) per row */
const logSoftmaxGrad: OpEmitter = (ctx) => {
  const [y, dy] = ctx.args;
  const dx = ctx.result;
  const { rows, K } = rowsOf(shape(ctx.argTypes[0], "y"));
  return emit(ctx, (w) => {
    w.maybeLoop("n", rows, (n) => {
      const row = w.bind("row", affine([n, K]));
      const s = w.fresh("dySum");
      w.line(`let ${s} = 0;`);
      w.loop("k", K, (k) => w.line(`${s} += ${dy}[${affine([row, 1], [k, 1])}];`));
      w.loop("k", K, (k) => {
        const at = affine([row, 1], [k, 1]);
        w.line(`${dx}[${at}] = ${dy}[${at}] - Math.exp(${y}[${at}]) * ${s};`);
      });
    });
  });
};

/**
 * (logits [K], label: f64) -> -log softmax(logits)[label];
 * (logits [N, K], labels [N]) -> the mean of that over the rows.
 */
const crossEntropy: OpEmitter = (ctx) => {
  const [x, labels] = ctx.args;
  const { rows, K } = rowsOf(shape(ctx.argTypes[0], "logits"));
  return emit(ctx, (w) => {
    const total = rows === null ? "" : w.fresh("total");
    if (rows !== null) w.line(`let ${total} = 0;`);
    w.maybeLoop("n", rows, (n) => {
      const row = w.bind("row", affine([n, K]));
      const label = w.fresh("label");
      w.line(`const ${label} = ${rows === null ? labels : `${labels}[${n}]`} | 0;`);
      const max = rowMax(w, x!, row, K);
      const sum = rowSumExp(w, x!, row, K, max);
      const logProb = w.fresh("logProb");
      w.line(`const ${logProb} = ${x}[${affine([row, 1], [label, 1])}] - ${max} - Math.log(${sum});`);
      if (rows === null) w.line(`${ctx.result} = -${logProb};`);
      else w.line(`${total} -= ${logProb};`);
    });
    if (rows !== null) w.line(`${ctx.result} = ${total} / ${rows};`);
  });
};

/** (logits, label, dy) -> dy * (softmax(logits) - onehot(label)), divided by N if batched */
const crossEntropyGrad: OpEmitter = (ctx) => {
  const [x, labels, dy] = ctx.args;
  const dx = ctx.result;
  const { rows, K } = rowsOf(shape(ctx.argTypes[0], "logits"));
  return emit(ctx, (w) => {
    const scale = rows === null ? dy! : w.bind("scale", `${dy} / ${rows}`);
    w.maybeLoop("n", rows, (n) => {
      const row = w.bind("row", affine([n, K]));
      const label = w.fresh("label");
      w.line(`const ${label} = ${rows === null ? labels : `${labels}[${n}]`} | 0;`);
      const max = rowMax(w, x!, row, K);
      const sum = rowSumExp(w, x!, row, K, max, dx);
      const g = w.fresh("g");
      w.line(`const ${g} = ${scale} / ${sum};`);
      w.loop("k", K, (k) => w.line(`${dx}[${affine([row, 1], [k, 1])}] *= ${g};`));
      w.line(`${dx}[${affine([row, 1], [label, 1])}] -= ${scale};`);
    });
  });
};

/** (x, dy) -> dy where x > 0, else 0 */
const reluGrad: OpEmitter = (ctx) => {
  const [x, dy] = ctx.args;
  const dx = ctx.result;
  const t = ctx.resultType;
  if (t.kind !== "tensor") return [`${dx} = ${x} > 0 ? ${dy} : 0;`];
  return emit(ctx, (w) =>
    w.loop("k", size(t.shape), (k) => w.line(`${dx}[${k}] = ${x}[${k}] > 0 ? ${dy}[${k}] : 0;`)));
};

export const TENSOR_OP_EMITTERS: { readonly [K in TensorPrimitive]: OpEmitter } = {
  sum,
  mean,
  dot,
  linear,
  linearGradInput,
  linearGradWeight,
  linearGradBias,
  conv2d,
  conv2dGradInput,
  conv2dGradWeight,
  conv2dGradBias,
  maxpool2d,
  maxpool2dGrad,
  avgpool2d,
  avgpool2dGrad,
  softmax,
  logSoftmax,
  softmaxGrad,
  logSoftmaxGrad,
  crossEntropy,
  crossEntropyGrad,
  reluGrad,
};
