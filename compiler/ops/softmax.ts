// softmax, logSoftmax and crossEntropy along the last axis of [K] or [N, K], computed
// stably (each row's maximum subtracted first), and their adjoints. crossEntropy of a batch
// is the mean over its rows.

import { F64, Type, Value, typeEquals } from "../ir/types.js";
import { dimValue } from "../ir/builder.js";
import * as kernels from "../codegen/kernels/softmax.js";
import { OpDef } from "./op.js";
import { arity, fmt, shapeOf } from "./shapes.js";
import { rowSums, sumOf } from "./jvp.js";

const rows = (op: string) => (args: readonly Type[]): Type | string => {
  const e = arity(op, args, 1);
  if (e) return e;
  const xs = shapeOf(args[0]);
  if (!xs || xs.length < 1 || xs.length > 2) return `${op}: x must be [K] or [N, K]`;
  return args[0]!;
};

/** (y, dy) of one shape [K] or [N, K]: the adjoint's type. */
const rowsAdjoint = (op: string) => (args: readonly Type[]): Type | string => {
  const e = arity(op, args, 2) ?? (rows(op)([args[0]!]) as Type | string);
  if (typeof e === "string") return e;
  return typeEquals(args[0]!, args[1]!) ? args[0]! : `${op}: y and dy have different shapes`;
};

/** crossEntropy's (logits, label): [K] with a number, or [N, K] with labels [N]. */
function crossEntropyOperands(op: string, args: readonly Type[]): string | null {
  const xs = shapeOf(args[0]);
  if (!xs || xs.length < 1 || xs.length > 2) return `${op}: logits must be [K] or [N, K]`;
  if (xs.length === 1) return args[1]!.kind === "f64" ? null : `${op}: logits of shape ${fmt(xs)} take a number label`;
  const ls = shapeOf(args[1]);
  if (!ls || ls.length !== 1 || ls[0] !== xs[0]) {
    return `${op}: logits of shape ${fmt(xs)} take labels of shape [${xs[0]}], got ${ls ? fmt(ls) : "a number"}`;
  }
  return null;
}

export const SOFTMAX: {
  readonly softmax: OpDef<"softmax">;
  readonly logSoftmax: OpDef<"logSoftmax">;
  readonly softmaxGrad: OpDef<"softmaxGrad">;
  readonly logSoftmaxGrad: OpDef<"logSoftmaxGrad">;
  readonly crossEntropy: OpDef<"crossEntropy">;
  readonly crossEntropyGrad: OpDef<"crossEntropyGrad">;
} = {
  // d softmax(x) = y (dy - sum(dy y)) per row
  softmax: {
    doc: "softmax", family: "layer", name: "probs", type: rows("softmax"),
    emit: { kernel: kernels.softmax, params: ["x"] },
    // the Jacobian of softmax is symmetric: its JVP is its VJP
    jvp: (i, t, ctx) => (t[0] ? ctx.b.emit("softmaxGrad", [i.result, t[0]], {}) : undefined),
    vjp: (i, dy, ctx) => ctx.add(0, ctx.b.emit("softmaxGrad", [i.result, dy], {})),
  },
  // d logSoftmax(x) = dy - exp(y) sum(dy) per row
  logSoftmax: {
    doc: "logSoftmax", family: "layer", name: "logProbs", type: rows("logSoftmax"),
    emit: { kernel: kernels.logSoftmax, params: ["x"] },
    // t = tx - Σ exp(y) tx per row
    jvp: (i, t, ctx) => {
      if (!t[0]) return undefined;
      const { b } = ctx;
      return b.emit("sub", [t[0], rowSums(b, b.emit("mul", [b.emit("exp", [i.result], {}), t[0]], {}))], {});
    },
    vjp: (i, dy, ctx) => ctx.add(0, ctx.b.emit("logSoftmaxGrad", [i.result, dy], {})),
  },
  softmaxGrad: {
    doc: "the adjoint of softmax: dx = y (dy - Σ dy y) per row", family: "layer", name: "dsoft",
    // dx = y (dy - Σ y dy): t = softmaxGrad(y, t_dy) + t_y (dy - Σ y dy) - y Σ t_y dy
    jvp: (i, t, ctx) => {
      const { b } = ctx;
      const [y, dy] = i.args as [Value, Value];
      const byY = t[0]
        ? b.emit("sub", [
          b.emit("mul", [t[0], b.emit("sub", [dy, rowSums(b, b.emit("mul", [y, dy], {}))], {})], {}),
          b.emit("mul", [y, rowSums(b, b.emit("mul", [t[0], dy], {}))], {}),
        ], {})
        : undefined;
      return sumOf(b, [t[1] ? b.emit("softmaxGrad", [y, t[1]], {}) : undefined, byY]);
    },
    vjp: "adjointOnly", type: rowsAdjoint("softmaxGrad"), emit: { kernel: kernels.softmaxGrad, params: ["y", "dy"] },
  },
  logSoftmaxGrad: {
    doc: "the adjoint of logSoftmax: dx = dy - exp(y) Σ dy per row", family: "layer", name: "dlogSoft",
    // dx = dy - exp(y) Σ dy: t = logSoftmaxGrad(y, t_dy) - exp(y) t_y Σ dy
    jvp: (i, t, ctx) => {
      const { b } = ctx;
      const [y, dy] = i.args as [Value, Value];
      const byY = t[0] ? b.emit("neg", [b.emit("mul", [b.emit("mul", [b.emit("exp", [y], {}), t[0]], {}), rowSums(b, dy)], {})], {}) : undefined;
      return sumOf(b, [t[1] ? b.emit("logSoftmaxGrad", [y, t[1]], {}) : undefined, byY]);
    },
    vjp: "adjointOnly", type: rowsAdjoint("logSoftmaxGrad"), emit: { kernel: kernels.logSoftmaxGrad, params: ["y", "dy"] },
  },
  // d crossEntropy(z, label) = dy (softmax(z) - onehot(label)) (/ N); labels have no derivative
  crossEntropy: {
    doc: "crossEntropy", family: "layer", name: "ce", emit: { kernel: kernels.crossEntropy, params: ["logits", "label"] },
    type: (args) => arity("crossEntropy", args, 2) ?? crossEntropyOperands("crossEntropy", args) ?? F64,
    // t = ⟨softmax(z) - onehot(label), tz⟩ (/ N)
    jvp: (i, t, ctx) => (t[0] ? ctx.b.emit("dot", [ctx.b.emit("crossEntropyGrad", [i.args[0]!, i.args[1]!, ctx.b.const(1)], {}), t[0]], {}) : undefined),
    vjp: (i, dy, ctx) => ctx.add(0, ctx.b.emit("crossEntropyGrad", [i.args[0]!, i.args[1]!, dy], {})),
  },
  crossEntropyGrad: {
    doc: "the adjoint of crossEntropy: dlogits = dy (softmax(logits) - onehot(label)) (/ N)", family: "layer",
    name: "dlogits", // dz = dy (softmax(z) - onehot) (/ N): t = crossEntropyGrad(z, label, t_dy) + softmaxGrad(softmax(z), t_z) dy (/ N)
    jvp: (i, t, ctx) => {
      const { b } = ctx;
      const [z, label, dy] = i.args as [Value, Value, Value];
      let byZ: Value | undefined;
      if (t[0]) {
        const shape = z.type.kind === "tensor" ? z.type.shape : [];
        const scale = shape.length === 2 ? b.emit("div", [dy, dimValue(b, shape[0]!)], {}) : dy;
        byZ = b.emit("mul", [b.emit("softmaxGrad", [b.emit("softmax", [z], {}), t[0]], {}), scale], {});
      }
      return sumOf(b, [t[2] ? b.emit("crossEntropyGrad", [z, label, t[2]], {}) : undefined, byZ]);
    },
    vjp: "adjointOnly", emit: { kernel: kernels.crossEntropyGrad, params: ["logits", "label", "dy"] },
    type: (args) =>
      arity("crossEntropyGrad", args, 3) ?? crossEntropyOperands("crossEntropyGrad", args) ??
      (args[2]!.kind === "f64" ? args[0]! : "crossEntropyGrad: dy must be a number"),
  },
};
