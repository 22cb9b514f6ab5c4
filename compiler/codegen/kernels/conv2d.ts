// conv2d and its adjoints.

import { AttrsOf } from "../../ir/types.js";
import { OpEmitContext, OpEmitter } from "./context.js";
import { Axis, gemm } from "./gemm.js";
import { Ext, Range, Writer, affine, attrsOf, dims, emit, litExt, product } from "./writer.js";

// ---------------------------------------------------------------------------------------
// conv2d: x [C, H, W] | [N, C, H, W], w [O, C, KH, KW] -> y [O, OH, OW] | [N, O, OH, OW]

interface ConvDims {
  /** The batch: a literal, or an expression of the kernel's size parameters (N). */
  readonly batch: Ext | null;
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

/** The sizes of a convolution: all literal but the batch (conv2d's shape rule requires it). */
function convDims(
  xShape: readonly Ext[], wShape: readonly Ext[], yShape: readonly Ext[],
  attrs: AttrsOf<"conv2d">,
): ConvDims {
  const batched = xShape.length === 4;
  const [C, H, W] = (batched ? xShape.slice(1) : xShape).map(litExt);
  const [O, , KH, KW] = wShape.map(litExt);
  const [OH, OW] = yShape.slice(-2).map(litExt);
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

export const conv2d: OpEmitter = (ctx) => {
  const [x, wt, b] = ctx.args;
  const y = ctx.result;
  const d = convDims(
    dims(ctx, ctx.argTypes[0], "x"), dims(ctx, ctx.argTypes[1], "w"), dims(ctx, ctx.resultType, "y"), attrsOf(ctx, "conv2d"));
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
export const conv2dGradInput: OpEmitter = (ctx) => {
  const [dy, wt] = ctx.args;
  const dx = ctx.result;
  const attrs = attrsOf(ctx, "conv2dGradInput");
  const inputShape = attrs.inputShape.map((e) => ctx.dim(e));
  const d = convDims(inputShape, dims(ctx, ctx.argTypes[1], "w"), dims(ctx, ctx.argTypes[0], "dy"), attrs);
  return emit(ctx, (w) => {
    const m = im2colAxes(w, ctx, d);
    const dxp = m.padded ? w.bind("dxp", ctx.scratch(m.image, "padded")) : dx;
    const nzs = declareNonzeros(w, ctx, d.O, m.P);
    if (!m.padded) w.zero(dx, product(inputShape));
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
export const conv2dGradWeight: OpEmitter = (ctx) => {
  const [dy, x] = ctx.args;
  const dw = ctx.result;
  const attrs = attrsOf(ctx, "conv2dGradWeight");
  const weightShape = attrs.weightShape.map((e) => litExt(ctx.dim(e)));
  const d = convDims(dims(ctx, ctx.argTypes[1], "x"), weightShape, dims(ctx, ctx.argTypes[0], "dy"), attrs);
  return emit(ctx, (w) => {
    const m = im2colAxes(w, ctx, d);
    const xp = m.padded ? w.bind("xp", ctx.scratch(m.image, "padded")) : x!;
    const nzs = declareNonzeros(w, ctx, d.O, m.P);
    if (m.padded) w.zero(xp, m.image);
    if (d.batch !== null) w.zero(dw, product(weightShape));
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
export const conv2dGradBias: OpEmitter = (ctx) => {
  const [dy] = ctx.args;
  const db = ctx.result;
  const dyShape = dims(ctx, ctx.argTypes[0], "dy");
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
