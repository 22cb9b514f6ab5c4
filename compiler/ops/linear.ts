// linear(x, w, b?) = W x + b, on x [in] or a batch [N, in], with w [out, in] and b [out];
// its derivative needs three adjoint ops (as JAX's dot_general transposes).

import { Dim, dimEquals } from "../ir/dims.js";
import { Type, tensorType } from "../ir/types.js";
import * as kernels from "../codegen/kernels/linear.js";
import { OpDef } from "./op.js";
import { arity, fmt, needTensor, shapeOf } from "./shapes.js";
import { layer, linearIn, multilinear } from "./jvp.js";

/** The batch size of a [N, n] tensor, null for [n]. */
const batchOf = (s: readonly Dim[]): Dim | null => (s.length === 2 ? s[0]! : null);
const last = (s: readonly Dim[]): Dim => s[s.length - 1]!;

function vector(op: string, t: Type | undefined, what: string): readonly Dim[] | string {
  const s = needTensor(op, t, what);
  if (typeof s === "string") return s;
  return s.length === 1 || s.length === 2 ? s : `${op}: ${what} must be [n] or [N, n], got ${fmt(s)}`;
}

export const LINEAR: {
  readonly linear: OpDef<"linear">;
  readonly linearGradInput: OpDef<"linearGradInput">;
  readonly linearGradWeight: OpDef<"linearGradWeight">;
  readonly linearGradBias: OpDef<"linearGradBias">;
} = {
  // d linear(x, w, b) = (dy W, dyᵀ x summed over the batch, dy summed over the batch)
  linear: {
    doc: "linear", family: "layer", name: "lin",
    emit: { kernel: kernels.linear, params: ["x", "w", "b"] },
    type: (args) => {
      const e = arity("linear", args, [2, 3]);
      if (e) return e;
      const xs = shapeOf(args[0]);
      const ws = shapeOf(args[1]);
      if (!xs || !ws) return "linear takes tensors x, w and an optional b";
      if (ws.length !== 2) return `linear: w must be [out, in], got ${fmt(ws)}`;
      if (xs.length !== 1 && xs.length !== 2) return `linear: x must be [in] or [N, in], got ${fmt(xs)}`;
      if (!dimEquals(last(xs), ws[1]!)) return `linear: x has shape ${fmt(xs)} but w ${fmt(ws)} expects ${ws[1]} inputs`;
      if (args[2]) {
        const bs = shapeOf(args[2]);
        if (!bs || bs.length !== 1 || !dimEquals(bs[0]!, ws[0]!)) {
          return `linear: b must have shape [${ws[0]}] for w ${fmt(ws)}, got ${bs ? fmt(bs) : "a number"}`;
        }
      }
      return tensorType(xs.length === 1 ? [ws[0]!] : [xs[0]!, ws[0]!]);
    },
    jvp: layer(),
    vjp: (i, dy, ctx) => {
      ctx.add(0, ctx.b.emit("linearGradInput", [dy, i.args[1]!], {}));
      ctx.add(1, ctx.b.emit("linearGradWeight", [dy, i.args[0]!], {}));
      if (i.args.length > 2) ctx.add(2, ctx.b.emit("linearGradBias", [dy], {}));
    },
  },
  linearGradInput: {
    doc: "the input adjoint of linear: dx = dyᵀ W", family: "layer", name: "dlinIn", vjp: "adjointOnly", jvp: multilinear(2),
    emit: { kernel: kernels.linearGradInput, params: ["dy", "w"] },
    type: (args) => {
      const e = arity("linearGradInput", args, 2);
      if (e) return e;
      const dys = vector("linearGradInput", args[0], "dy");
      const ws = needTensor("linearGradInput", args[1], "w");
      if (typeof dys === "string") return dys;
      if (typeof ws === "string") return ws;
      if (ws.length !== 2 || !dimEquals(ws[0]!, last(dys))) return `linearGradInput: dy ${fmt(dys)} does not fit w ${fmt(ws)}`;
      const n = batchOf(dys);
      return tensorType(n === null ? [ws[1]!] : [n, ws[1]!]);
    },
  },
  linearGradWeight: {
    doc: "the weight adjoint of linear: dW = Σ_n dy ⊗ x", family: "layer", name: "dlinW", jvp: multilinear(2), vjp: "adjointOnly",
    emit: { kernel: kernels.linearGradWeight, params: ["dy", "x"] },
    type: (args) => {
      const e = arity("linearGradWeight", args, 2);
      if (e) return e;
      const dys = vector("linearGradWeight", args[0], "dy");
      const xs = vector("linearGradWeight", args[1], "x");
      if (typeof dys === "string") return dys;
      if (typeof xs === "string") return xs;
      const [nd, nx] = [batchOf(dys), batchOf(xs)];
      if ((nd === null) !== (nx === null) || (nd !== null && !dimEquals(nd, nx!))) return `linearGradWeight: dy ${fmt(dys)} and x ${fmt(xs)} have different batches`;
      return tensorType([last(dys), last(xs)]);
    },
  },
  linearGradBias: {
    doc: "the bias adjoint of linear: db = Σ_n dy", family: "layer", name: "dlinB", jvp: linearIn(0), vjp: "adjointOnly",
    emit: { kernel: kernels.linearGradBias, params: ["dy"] },
    type: (args) => {
      const e = arity("linearGradBias", args, 1);
      if (e) return e;
      const dys = vector("linearGradBias", args[0], "dy");
      return typeof dys === "string" ? dys : tensorType([last(dys)]);
    },
  },
};
