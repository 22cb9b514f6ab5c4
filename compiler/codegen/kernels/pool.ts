// Max and average pooling and their adjoints.

import { AttrsOf } from "../../ir/types.js";
import { OpEmitter } from "./context.js";
import { Ext, Writer, affine, attrsOf, dims, emit, litExt, product } from "./writer.js";

// ---------------------------------------------------------------------------------------
// Pooling: x [H, W] | [C, H, W] | [N, C, H, W], no padding. Every leading dimension is a
// batch of independent planes, so one loop over the planes covers all three forms.

interface PoolDims {
  /** The planes: a literal, or an expression of the kernel's size parameters (N * 6). */
  readonly planes: Ext;
  readonly H: number;
  readonly W: number;
  readonly OH: number;
  readonly OW: number;
  readonly KH: number;
  readonly KW: number;
  readonly sh: number;
  readonly sw: number;
}

/** The sizes of a pooling: the image literal (the shape rule requires it), the planes any. */
function poolDims(xShape: readonly Ext[], yShape: readonly Ext[], attrs: AttrsOf<"maxpool2d">): PoolDims {
  return {
    planes: product(xShape.slice(0, -2)),
    H: litExt(xShape[xShape.length - 2]),
    W: litExt(xShape[xShape.length - 1]),
    OH: litExt(yShape[yShape.length - 2]),
    OW: litExt(yShape[yShape.length - 1]),
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

export const maxpool2d: OpEmitter = (ctx) => {
  const [x] = ctx.args;
  const y = ctx.result;
  const d = poolDims(dims(ctx, ctx.argTypes[0], "x"), dims(ctx, ctx.resultType, "y"), attrsOf(ctx, "maxpool2d"));
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
export const maxpool2dGrad: OpEmitter = (ctx) => {
  const [x, dy] = ctx.args;
  const dx = ctx.result;
  const xShape = dims(ctx, ctx.argTypes[0], "x");
  const d = poolDims(xShape, dims(ctx, ctx.argTypes[1], "dy"), attrsOf(ctx, "maxpool2dGrad"));
  const offsets = windowOffsets(d);
  // windows that tile the input exactly: each window zeroes its own elements; windows that do
  // not overlap: one write each after zeroing dx; overlapping windows accumulate
  const tiles = d.sh === d.KH && d.sw === d.KW && d.OH * d.KH === d.H && d.OW * d.KW === d.W;
  const disjoint = d.sh >= d.KH && d.sw >= d.KW;
  const unrolled = offsets.length <= UNROLL_WINDOW;
  return emit(ctx, (w) => {
    if (!(tiles && unrolled)) w.zero(dx, product(xShape));
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

export const avgpool2d: OpEmitter = (ctx) => {
  const [x] = ctx.args;
  const y = ctx.result;
  const d = poolDims(dims(ctx, ctx.argTypes[0], "x"), dims(ctx, ctx.resultType, "y"), attrsOf(ctx, "avgpool2d"));
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
export const avgpool2dGrad: OpEmitter = (ctx) => {
  const [dy] = ctx.args;
  const dx = ctx.result;
  const attrs = attrsOf(ctx, "avgpool2dGrad");
  const inputShape = attrs.inputShape.map((e) => ctx.dim(e));
  const d = poolDims(inputShape, dims(ctx, ctx.argTypes[0], "dy"), attrs);
  return emit(ctx, (w) => {
    w.zero(dx, product(inputShape));
    poolNest(w, d, ({ yAt, rows }) => {
      const g = w.fresh("g");
      w.line(`const ${g} = ${dy}[${yAt}] / ${d.KH * d.KW};`);
      rows((xRow) => w.loop("kj", d.KW, (kj) => w.line(`${dx}[${affine([xRow, 1], [kj, 1])}] += ${g};`)));
    });
  });
};
