// linear and its adjoints: register-blocked products (see gemm.ts).

import { OpEmitter } from "./context.js";
import { gemm } from "./gemm.js";
import { Ext, Writer, affine, dims, emit } from "./writer.js";

// ---------------------------------------------------------------------------------------
// linear: x [in] | [N, in], w [out, in], b [out] -> y [out] | [N, out]

interface LinearDims {
  readonly batch: Ext | null;
  readonly nIn: Ext;
  readonly nOut: Ext;
}

function linearDims(xShape: readonly Ext[], wShape: readonly Ext[]): LinearDims {
  return {
    batch: xShape.length === 2 ? xShape[0]! : null,
    nOut: wShape[0]!,
    nIn: wShape[1]!,
  };
}

/**
 * Layer sizes known only at run time (w [H, D] with symbolic H or D) make the strides
 * symbolic: a plain loop nest over c[r][s] = Σ_k a(r, k) b(k, s), with the offsets of
 * a(r, k) = a[r·ar + k·ak] and b(k, s) = b[k·bk + s·bs] as affine terms.
 */
function naive(
  w: Writer, what: string, M: Ext, N: Ext, K: Ext,
  a: { buf: string; r: Ext; k: Ext }, b: { buf: string; k: Ext; s: Ext }, c: string,
  bias: string | undefined, names: readonly [string, string, string],
): void {
  w.line(`// ${what}`);
  w.loop(names[0], M, (r) => {
    w.loop(names[1], N, (s) => {
      const acc = w.fresh("acc");
      w.line(`let ${acc} = ${bias === undefined ? "0" : `${bias}[${s}]`};`);
      w.loop(names[2], K, (k) => w.line(`${acc} += ${a.buf}[${affine([r, a.r], [k, a.k])}] * ${b.buf}[${affine([k, b.k], [s, b.s])}];`));
      w.line(`${c}[${affine([r, N], [s, 1])}] = ${acc};`);
    });
  });
}

export const linear: OpEmitter = (ctx) => {
  const [x, wt, b] = ctx.args;
  const { batch, nIn, nOut } = linearDims(dims(ctx, ctx.argTypes[0], "x"), dims(ctx, ctx.argTypes[1], "w"));
  const what = `y[n][o] = ${b === undefined ? "" : "b[o] + "}Σ_i x[n][i] w[o][i]`;
  if (typeof nIn !== "number" || typeof nOut !== "number") {
    return emit(ctx, (w) =>
      naive(w, what, batch ?? 1, nOut, nIn, { buf: x!, r: nIn, k: 1 }, { buf: wt!, k: 1, s: nIn }, ctx.result, b, ["n", "o", "i"]));
  }
  return emit(ctx, (w) =>
    gemm(w, {
      what: `${what}, in register blocks of (n, o)`,
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
export const linearGradInput: OpEmitter = (ctx) => {
  const [dy, wt] = ctx.args;
  const dyShape = dims(ctx, ctx.argTypes[0], "dy");
  const { nIn, nOut } = linearDims(dyShape, dims(ctx, ctx.argTypes[1], "w"));
  const batch = dyShape.length === 2 ? dyShape[0]! : null;
  if (typeof nIn !== "number" || typeof nOut !== "number") {
    return emit(ctx, (w) =>
      naive(w, "dx[n][i] = Σ_o dy[n][o] w[o][i]", batch ?? 1, nIn, nOut, { buf: dy!, r: nOut, k: 1 }, { buf: wt!, k: nIn, s: 1 }, ctx.result, undefined, ["n", "i", "o"]));
  }
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
export const linearGradWeight: OpEmitter = (ctx) => {
  const [dy, x] = ctx.args;
  const dyShape = dims(ctx, ctx.argTypes[0], "dy");
  const xShape = dims(ctx, ctx.argTypes[1], "x");
  const nOut = dyShape[dyShape.length - 1]!;
  const nIn = xShape[xShape.length - 1]!;
  const batch = dyShape.length === 2 ? dyShape[0]! : null;
  if (typeof nIn !== "number" || typeof nOut !== "number") {
    return emit(ctx, (w) =>
      naive(w, "dw[o][i] = Σ_n dy[n][o] x[n][i]", nOut, nIn, batch ?? 1, { buf: dy!, r: 1, k: nOut }, { buf: x!, k: nIn, s: 1 }, ctx.result, undefined, ["o", "i", "n"]));
  }
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
export const linearGradBias: OpEmitter = (ctx) => {
  const [dy] = ctx.args;
  const db = ctx.result;
  const dyShape = dims(ctx, ctx.argTypes[0], "dy");
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
