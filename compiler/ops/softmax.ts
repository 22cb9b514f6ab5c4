// softmax, logSoftmax and crossEntropy along the last axis of [K] or [N, K], computed
// stably (each row's maximum subtracted first), and their adjoints. crossEntropy of a batch
// is the mean over its rows.

import { F64, Type, typeEquals } from "../ir/types.js";
import * as kernels from "../codegen/kernels/softmax.js";
import { OpDef } from "./op.js";
import { arity, fmt, shapeOf } from "./shapes.js";

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
    vjp: (i, dy, ctx) => ctx.add(0, ctx.b.emit("softmaxGrad", [i.result, dy], {})),
  },
  // d logSoftmax(x) = dy - exp(y) sum(dy) per row
  logSoftmax: {
    doc: "logSoftmax", family: "layer", name: "logProbs", type: rows("logSoftmax"),
    emit: { kernel: kernels.logSoftmax, params: ["x"] },
    vjp: (i, dy, ctx) => ctx.add(0, ctx.b.emit("logSoftmaxGrad", [i.result, dy], {})),
  },
  softmaxGrad: {
    doc: "the adjoint of softmax: dx = y (dy - Σ dy y) per row", family: "layer", name: "dsoft",
    vjp: "adjointOnly", type: rowsAdjoint("softmaxGrad"), emit: { kernel: kernels.softmaxGrad, params: ["y", "dy"] },
  },
  logSoftmaxGrad: {
    doc: "the adjoint of logSoftmax: dx = dy - exp(y) Σ dy per row", family: "layer", name: "dlogSoft",
    vjp: "adjointOnly", type: rowsAdjoint("logSoftmaxGrad"), emit: { kernel: kernels.logSoftmaxGrad, params: ["y", "dy"] },
  },
  // d crossEntropy(z, label) = dy (softmax(z) - onehot(label)) (/ N); labels have no derivative
  crossEntropy: {
    doc: "crossEntropy", family: "layer", name: "ce", emit: { kernel: kernels.crossEntropy, params: ["logits", "label"] },
    type: (args) => arity("crossEntropy", args, 2) ?? crossEntropyOperands("crossEntropy", args) ?? F64,
    vjp: (i, dy, ctx) => ctx.add(0, ctx.b.emit("crossEntropyGrad", [i.args[0]!, i.args[1]!, dy], {})),
  },
  crossEntropyGrad: {
    doc: "the adjoint of crossEntropy: dlogits = dy (softmax(logits) - onehot(label)) (/ N)", family: "layer",
    name: "dlogits", vjp: "adjointOnly", emit: { kernel: kernels.crossEntropyGrad, params: ["logits", "label", "dy"] },
    type: (args) =>
      arity("crossEntropyGrad", args, 3) ?? crossEntropyOperands("crossEntropyGrad", args) ??
      (args[2]!.kind === "f64" ? args[0]! : "crossEntropyGrad: dy must be a number"),
  },
};
