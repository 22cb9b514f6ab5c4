// The softmax family along the last axis, and cross-entropy.

import { OpEmitContext, OpEmitter } from "./context.js";
import { fmt } from "../../ops/shapes.js";
import { Ext, IDENTIFIER, Writer, affine, dims, emit } from "./writer.js";

/** An extent as an operand of `/` or `-`. */
const operand = (e: Ext): string => (typeof e === "number" || IDENTIFIER.test(e) ? String(e) : `(${e})`);

// ---------------------------------------------------------------------------------------
// Softmax family: along the last axis of [K] or [N, K].

function rowsOf(s: readonly Ext[]): { rows: Ext | null; K: Ext } {
  return { rows: s.length === 2 ? s[0]! : null, K: s[s.length - 1]! };
}

/** Declares `max` = the largest element of x[row .. row + K) and returns its name. */
function rowMax(w: Writer, x: string, row: string, K: Ext): string {
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
function rowSumExp(w: Writer, x: string, row: string, K: Ext, max: string, store?: string): string {
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

export const softmax: OpEmitter = (ctx) => {
  const [x] = ctx.args;
  const y = ctx.result;
  const { rows, K } = rowsOf(dims(ctx, ctx.argTypes[0], "x"));
  return emit(ctx, (w) => {
    w.maybeLoop("n", rows, (n) => {
      const row = w.bind("row", affine([n, K]));
      const max = rowMax(w, x!, row, K);
      const sum = rowSumExp(w, x!, row, K, max, y);
      w.loop("k", K, (k) => w.line(`${y}[${affine([row, 1], [k, 1])}] /= ${sum};`));
    });
  });
};

export const logSoftmax: OpEmitter = (ctx) => {
  const [x] = ctx.args;
  const y = ctx.result;
  const { rows, K } = rowsOf(dims(ctx, ctx.argTypes[0], "x"));
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
export const softmaxGrad: OpEmitter = (ctx) => {
  const [y, dy] = ctx.args;
  const dx = ctx.result;
  const { rows, K } = rowsOf(dims(ctx, ctx.argTypes[0], "y"));
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
export const logSoftmaxGrad: OpEmitter = (ctx) => {
  const [y, dy] = ctx.args;
  const dx = ctx.result;
  const { rows, K } = rowsOf(dims(ctx, ctx.argTypes[0], "y"));
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

/** Throws a RangeError unless `label` is an integer class index in [0, K), as the runtime's crossEntropy does. */
function checkLabel(w: Writer, ctx: OpEmitContext, label: string, K: Ext): void {
  const t = ctx.argTypes[0];
  const shape = t?.kind === "tensor" ? fmt(t.shape) : "";
  const last = typeof K === "number" ? String(K - 1) : `" + (${K} - 1) + "`;
  w.line(`if (!(${label} >= 0 && ${label} < ${K} && (${label} | 0) === ${label})) {`);
  w.line(`  throw new RangeError("crossEntropy: the label " + ${label} + " is not an integer from 0 to ${last} (logits of shape ${shape})");`);
  w.line(`}`);
}

/**
 * (logits [K], label: f64) -> -log softmax(logits)[label];
 * (logits [N, K], labels [N]) -> the mean of that over the rows.
 */
export const crossEntropy: OpEmitter = (ctx) => {
  const [x, labels] = ctx.args;
  const { rows, K } = rowsOf(dims(ctx, ctx.argTypes[0], "logits"));
  return emit(ctx, (w) => {
    const total = rows === null ? "" : w.fresh("total");
    if (rows !== null) w.line(`let ${total} = 0;`);
    w.maybeLoop("n", rows, (n) => {
      const row = w.bind("row", affine([n, K]));
      const label = w.fresh("label");
      w.line(`const ${label} = ${rows === null ? labels : `${labels}[${n}]`};`);
      checkLabel(w, ctx, label, K);
      const max = rowMax(w, x!, row, K);
      const sum = rowSumExp(w, x!, row, K, max);
      const logProb = w.fresh("logProb");
      w.line(`const ${logProb} = ${x}[${affine([row, 1], [label, 1])}] - ${max} - Math.log(${sum});`);
      if (rows === null) w.line(`${ctx.result} = -${logProb};`);
      else w.line(`${total} -= ${logProb};`);
    });
    if (rows !== null) w.line(`${ctx.result} = ${total} / ${operand(rows)};`);
  });
};

/** (logits, label, dy) -> dy * (softmax(logits) - onehot(label)), divided by N if batched */
export const crossEntropyGrad: OpEmitter = (ctx) => {
  const [x, labels, dy] = ctx.args;
  const dx = ctx.result;
  const { rows, K } = rowsOf(dims(ctx, ctx.argTypes[0], "logits"));
  return emit(ctx, (w) => {
    const scale = rows === null ? dy! : w.bind("scale", `${dy} / ${operand(rows)}`);
    w.maybeLoop("n", rows, (n) => {
      const row = w.bind("row", affine([n, K]));
      const label = w.fresh("label");
      w.line(`const ${label} = ${rows === null ? labels : `${labels}[${n}]`};`);
      checkLabel(w, ctx, label, K);
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
