// Code emitters for the tensor primitives: reductions, layers (linear, conv2d, pooling),
// softmax and cross-entropy, and the backward ops the derivative rules produce for them.
//
// Each emitter writes plain loops over flat, row-major buffers (see context.ts). Shapes are
// static, so every extent and stride is a literal; offsets are hoisted to the loop level
// where they stop changing, and bounds checks are emitted only where the static shapes say
// a window can leave the input (padding). The semantics follow PyTorch in float64:
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

  constructor(private readonly ctx: OpEmitContext) {}

  fresh(hint: string): string {
    return this.ctx.fresh(hint);
  }

  line(text: string): void {
    this.lines.push("  ".repeat(this.depth) + text);
  }

  /** `{ ... }` around `body`. */
  block(body: () => void): void {
    this.line("{");
    this.depth++;
    body();
    this.depth--;
    this.line("}");
  }

  /**
   * `for (let v = lo; v < hi; v++) { body(v) }`; `extent` is a count or a range. A loop of
   * one iteration is just its body, with the index the literal 0.
   */
  loop(hint: string, extent: number | Range, body: (v: string) => void): void {
    if (extent === 1) {
      body("0");
      return;
    }
    const v = this.fresh(hint);
    const { lo, hi } = typeof extent === "number" ? { lo: "0", hi: String(extent) } : extent;
    this.line(`for (let ${v} = ${lo}; ${v} < ${hi}; ${v}++) {`);
    this.depth++;
    body(v);
    this.depth--;
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
    this.loop("k", size, (k) => this.line(`${buf}[${k}] = 0;`));
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

/**
 * The kernel-offset range `[lo, hi)` that keeps `start + k` inside `[0, extent)` for
 * `k` in `[0, kernel)`. `start` ranges over `first .. last` (static); checks are emitted
 * only for the side that can actually leave the input.
 */
function kernelRange(
  w: Writer, hint: string, start: string, first: number, last: number, kernel: number, extent: number,
): Range {
  const needLo = first < 0;
  const needHi = last + kernel > extent;
  const lo = needLo ? w.bind(`${hint}Lo`, `Math.max(0, -${start})`) : "0";
  const hi = needHi ? w.bind(`${hint}Hi`, `Math.min(${kernel}, ${extent} - ${start})`) : String(kernel);
  return { lo, hi };
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
  const y = ctx.result;
  const { batch, nIn, nOut } = linearDims(shape(ctx.argTypes[0], "x"), shape(ctx.argTypes[1], "w"));
  return emit(ctx, (w) => {
    w.maybeLoop("n", batch, (n) => {
      const xRow = w.bind("xRow", affine([n, nIn]));
      const yRow = w.bind("yRow", affine([n, nOut]));
      w.loop("o", nOut, (o) => {
        const wRow = w.bind("wRow", affine([o, nIn]));
        const acc = w.fresh("acc");
        w.line(`let ${acc} = 0;`);
        w.loop("i", nIn, (i) => w.line(`${acc} += ${wt}[${affine([wRow, 1], [i, 1])}] * ${x}[${affine([xRow, 1], [i, 1])}];`));
        w.line(`${y}[${affine([yRow, 1], [o, 1])}] = ${b === undefined ? acc : `${acc} + ${b}[${o}]`};`);
      });
    });
  });
};

/** dx[n][i] = sum_o dy[n][o] * w[o][i] */
const linearGradInput: OpEmitter = (ctx) => {
  const [dy, wt] = ctx.args;
  const dx = ctx.result;
  const dyShape = shape(ctx.argTypes[0], "dy");
  const { nIn, nOut } = linearDims(dyShape, shape(ctx.argTypes[1], "w"));
  const batch = dyShape.length === 2 ? dyShape[0]! : null;
  return emit(ctx, (w) => {
    w.maybeLoop("n", batch, (n) => {
      const dxRow = w.bind("dxRow", affine([n, nIn]));
      const dyRow = w.bind("dyRow", affine([n, nOut]));
      w.loop("i", nIn, (i) => w.line(`${dx}[${affine([dxRow, 1], [i, 1])}] = 0;`));
      w.loop("o", nOut, (o) => {
        const g = w.fresh("g");
        w.line(`const ${g} = ${dy}[${affine([dyRow, 1], [o, 1])}];`);
        const wRow = w.bind("wRow", affine([o, nIn]));
        w.loop("i", nIn, (i) =>
          w.line(`${dx}[${affine([dxRow, 1], [i, 1])}] += ${g} * ${wt}[${affine([wRow, 1], [i, 1])}];`));
      });
    });
  });
};

/** dw[o][i] = sum_n dy[n][o] * x[n][i] */
const linearGradWeight: OpEmitter = (ctx) => {
  const [dy, x] = ctx.args;
  const dw = ctx.result;
  const dyShape = shape(ctx.argTypes[0], "dy");
  const xShape = shape(ctx.argTypes[1], "x");
  const nOut = dyShape[dyShape.length - 1]!;
  const nIn = xShape[xShape.length - 1]!;
  const batch = dyShape.length === 2 ? dyShape[0]! : null;
  return emit(ctx, (w) => {
    if (batch !== null) w.zero(dw, nOut * nIn);
    const op = batch === null ? "=" : "+=";
    w.maybeLoop("n", batch, (n) => {
      const xRow = w.bind("xRow", affine([n, nIn]));
      const dyRow = w.bind("dyRow", affine([n, nOut]));
      w.loop("o", nOut, (o) => {
        const g = w.fresh("g");
        w.line(`const ${g} = ${dy}[${affine([dyRow, 1], [o, 1])}];`);
        const dwRow = w.bind("dwRow", affine([o, nIn]));
        w.loop("i", nIn, (i) =>
          w.line(`${dw}[${affine([dwRow, 1], [i, 1])}] ${op} ${g} * ${x}[${affine([xRow, 1], [i, 1])}];`));
      });
    });
  });
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

/**
 * The loop nest shared by conv2d and its gradients: for each output element (n, o, i, j),
 * `element` runs once with the offsets named below, then for each input channel c and each
 * in-bounds kernel row ki, `kernelRow` runs with the offsets of x's and w's rows (x's row
 * offset already includes the window's left column, so x[xRow + kj] pairs with w[wRow + kj]
 * for kj in `kj`).
 */
function convNest(
  w: Writer, d: ConvDims,
  element: (at: { n: string; o: string; yAt: string }) => void,
  kernelRow: (at: { xRow: string; wRow: string; kj: Range }) => void,
  afterElement: (at: { yAt: string }) => void,
): void {
  const { C, H, W, O, KH, KW, OH, OW, sh, sw, ph, pw } = d;
  w.maybeLoop("n", d.batch, (n) => {
    const xImage = w.bind("xImage", affine([n, C * H * W]));
    const yImage = w.bind("yImage", affine([n, O * OH * OW]));
    w.loop("o", O, (o) => {
      const wFilter = w.bind("wFilter", affine([o, C * KH * KW]));
      const yPlane = w.bind("yPlane", affine([yImage, 1], [o, OH * OW]));
      w.loop("i", OH, (i) => {
        // the window's top row in the input (negative inside the top padding)
        const top = w.bind("top", affine([i, sh], -ph));
        const ki = kernelRange(w, "ki", top, -ph, (OH - 1) * sh - ph, KH, H);
        const yRow = w.bind("yRow", affine([yPlane, 1], [i, OW]));
        w.loop("j", OW, (j) => {
          const left = w.bind("left", affine([j, sw], -pw));
          const kj = kernelRange(w, "kj", left, -pw, (OW - 1) * sw - pw, KW, W);
          // x's offset of the window's top-left corner in channel 0 (maybe in the padding)
          const xCorner = w.bind("xCorner", affine([xImage, 1], [top, W], [left, 1]));
          const yAt = affine([yRow, 1], [j, 1]);
          element({ n, o, yAt });
          w.loop("c", C, (c) => {
            const xChannel = w.bind("xChannel", affine([xCorner, 1], [c, H * W]));
            const wChannel = w.bind("wChannel", affine([wFilter, 1], [c, KH * KW]));
            w.loop("ki", ki, (k) => {
              const xRow = w.bind("xRow", affine([xChannel, 1], [k, W]));
              const wRow = w.bind("wRow", affine([wChannel, 1], [k, KW]));
              kernelRow({ xRow, wRow, kj });
            });
          });
          afterElement({ yAt });
        });
      });
    });
  });
}

const conv2d: OpEmitter = (ctx) => {
  const [x, wt, b] = ctx.args;
  const y = ctx.result;
  const d = convDims(
    shape(ctx.argTypes[0], "x"), shape(ctx.argTypes[1], "w"), shape(ctx.resultType, "y"), attrsOf(ctx, "conv2d"));
  return emit(ctx, (w) => {
    let acc = "";
    convNest(
      w, d,
      ({ o }) => {
        acc = w.fresh("acc");
        w.line(`let ${acc} = ${b === undefined ? "0" : `${b}[${o}]`};`);
      },
      ({ xRow, wRow, kj }) =>
        w.loop("kj", kj, (k) => w.line(`${acc} += ${x}[${affine([xRow, 1], [k, 1])}] * ${wt}[${affine([wRow, 1], [k, 1])}];`)),
      ({ yAt }) => w.line(`${y}[${yAt}] = ${acc};`),
    );
  });
};

/** The transposed convolution: dx[n][c][top + ki][left + kj] += dy[n][o][i][j] * w[o][c][ki][kj]. */
const conv2dGradInput: OpEmitter = (ctx) => {
  const [dy, wt] = ctx.args;
  const dx = ctx.result;
  const attrs = attrsOf(ctx, "conv2dGradInput");
  const d = convDims(attrs.inputShape, shape(ctx.argTypes[1], "w"), shape(ctx.argTypes[0], "dy"), attrs);
  return emit(ctx, (w) => {
    w.zero(dx, size(attrs.inputShape));
    let g = "";
    convNest(
      w, d,
      ({ yAt }) => {
        g = w.fresh("g");
        w.line(`const ${g} = ${dy}[${yAt}];`);
      },
      ({ xRow, wRow, kj }) =>
        w.loop("kj", kj, (k) => w.line(`${dx}[${affine([xRow, 1], [k, 1])}] += ${g} * ${wt}[${affine([wRow, 1], [k, 1])}];`)),
      () => {},
    );
  });
};

/** dw[o][c][ki][kj] = sum over n, i, j of dy[n][o][i][j] * x[n][c][top + ki][left + kj]. */
const conv2dGradWeight: OpEmitter = (ctx) => {
  const [dy, x] = ctx.args;
  const dw = ctx.result;
  const attrs = attrsOf(ctx, "conv2dGradWeight");
  const d = convDims(shape(ctx.argTypes[1], "x"), attrs.weightShape, shape(ctx.argTypes[0], "dy"), attrs);
  return emit(ctx, (w) => {
    w.zero(dw, size(attrs.weightShape));
    let g = "";
    convNest(
      w, d,
      ({ yAt }) => {
        g = w.fresh("g");
        w.line(`const ${g} = ${dy}[${yAt}];`);
      },
      ({ xRow, wRow, kj }) =>
        w.loop("kj", kj, (k) => w.line(`${dw}[${affine([wRow, 1], [k, 1])}] += ${g} * ${x}[${affine([xRow, 1], [k, 1])}];`)),
      () => {},
    );
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

const maxpool2d: OpEmitter = (ctx) => {
  const [x] = ctx.args;
  const y = ctx.result;
  const d = poolDims(shape(ctx.argTypes[0], "x"), shape(ctx.resultType, "y"), attrsOf(ctx, "maxpool2d"));
  return emit(ctx, (w) => {
    poolNest(w, d, ({ yAt, rows }) => {
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
  return emit(ctx, (w) => {
    w.zero(dx, size(xShape));
    poolNest(w, d, ({ corner, yAt, rows }) => {
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
      w.line(`${dx}[${argmax}] += ${dy}[${yAt}];`);
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
