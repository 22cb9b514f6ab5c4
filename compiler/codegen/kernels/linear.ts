// linear and its adjoints: register-blocked products (see gemm.ts).

import { OpEmitter } from "./context.js";
import { gemm } from "./gemm.js";
import { affine, emit, shape } from "./writer.js";

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

export const linear: OpEmitter = (ctx) => {
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
export const linearGradInput: OpEmitter = (ctx) => {
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
export const linearGradWeight: OpEmitter = (ctx) => {
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
export const linearGradBias: OpEmitter = (ctx) => {
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
