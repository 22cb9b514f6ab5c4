// conv2d(x, w, b?, { stride, padding }): cross-correlation with zero padding, on x [C, H, W]
// or a batch [N, C, H, W], with w [O, C, KH, KW]. Bilinear in (x, w), so its derivative is
// two transposes, as in JAX: a transposed convolution for x and a correlation for w.

import { AttrsOf, Conv2dAttrs, Type, tensorType } from "../ir/types.js";
import * as kernels from "../codegen/kernels/conv2d.js";
import { OpDef } from "./op.js";
import { Dim, dimEquals } from "../ir/dims.js";
import { arity, fmt, literalDims, needTensor, shapeOf, windowOut } from "./shapes.js";
import { layer, linearIn, multilinear } from "./jvp.js";

/** The output shape of conv2d on shapes xs and ws, or an error naming them. */
export function convOutput(op: string, xs: readonly Dim[], wsDims: readonly Dim[], attrs: Conv2dAttrs): readonly Dim[] | string {
  const bad = convOperands(op, xs, wsDims);
  if (bad) return bad;
  const ws = wsDims as readonly number[];
  const batched = xs.length === 4;
  const [h, w] = xs.slice(-2) as number[];
  const { stride, padding } = attrs;
  if (stride[0] < 1 || stride[1] < 1 || !Number.isInteger(stride[0]) || !Number.isInteger(stride[1])) {
    return `${op}: stride must be a positive integer`;
  }
  if (padding[0] < 0 || padding[1] < 0 || !Number.isInteger(padding[0]) || !Number.isInteger(padding[1])) {
    return `${op}: padding must be a non-negative integer`;
  }
  const oh = windowOut(h!, ws[2]!, stride[0], padding[0]);
  const ow = windowOut(w!, ws[3]!, stride[1], padding[1]);
  if (oh < 1 || ow < 1) {
    return `${op}: a ${ws[2]}x${ws[3]} kernel does not fit an input of shape ${fmt(xs)} with padding ${padding[0]}`;
  }
  return batched ? [xs[0]!, ws[0]!, oh, ow] : [ws[0]!, oh, ow];
}

/** The ranks of x and w, and their channels, or an error. */
function convOperands(op: string, xs: readonly Dim[], ws: readonly Dim[]): string | null {
  if (xs.length !== 3 && xs.length !== 4) return `${op}: x must be [C, H, W] or [N, C, H, W], got ${fmt(xs)}`;
  if (ws.length !== 4) return `${op}: w must be [O, C, KH, KW], got ${fmt(ws)}`;
  const lit = literalDims(op, ws, "w");
  if (typeof lit === "string") return lit;
  const image = literalDims(op, xs.slice(-3), "x");
  if (typeof image === "string") return image.replace(fmt(xs.slice(-3)), fmt(xs));
  const c = image[0];
  if (ws[1] !== c) return `${op}: x has ${c} channels (shape ${fmt(xs)}) but w ${fmt(ws)} expects ${ws[1]}`;
  return null;
}

/** Checks that dy has the shape conv2d gives for xs and ws. */
function fitsOutput(op: string, dy: Type | undefined, xs: readonly Dim[], ws: readonly Dim[], attrs: Conv2dAttrs): string | null {
  const ys = convOutput(op, xs, ws, attrs);
  if (typeof ys === "string") return ys;
  const dys = needTensor(op, dy, "dy");
  if (typeof dys === "string") return dys;
  return fmt(dys) === fmt(ys) ? null : `${op}: dy has shape ${fmt(dys)}, but conv2d gives ${fmt(ys)}`;
}

export const CONV2D: {
  readonly conv2d: OpDef<"conv2d">;
  readonly conv2dGradInput: OpDef<"conv2dGradInput">;
  readonly conv2dGradWeight: OpDef<"conv2dGradWeight">;
  readonly conv2dGradBias: OpDef<"conv2dGradBias">;
} = {
  // d conv2d(x, w, b) = (transposed conv of dy with w, correlation of x with dy, dy summed)
  conv2d: {
    doc: "conv2d", family: "layer", name: "conv",
    emit: { kernel: kernels.conv2d, params: ["x", "w", "b"] },
    type: (args, attrs) => {
      const e = arity("conv2d", args, [2, 3]);
      if (e) return e;
      const xs = shapeOf(args[0]);
      const ws = shapeOf(args[1]);
      if (!xs || !ws) return "conv2d takes tensors x, w and an optional b";
      const bad = convOperands("conv2d", xs, ws);
      if (bad) return bad;
      if (args[2]) {
        const bs = shapeOf(args[2]);
        if (!bs || bs.length !== 1 || !dimEquals(bs[0]!, ws[0]!)) {
          return `conv2d: b must have shape [${ws[0]}] for w ${fmt(ws)}, got ${bs ? fmt(bs) : "a number"}`;
        }
      }
      const ys = convOutput("conv2d", xs, ws, attrs);
      return typeof ys === "string" ? ys : tensorType(ys);
    },
    jvp: layer(),
    vjp: (i, dy, ctx) => {
      const [x, w] = i.args as [typeof dy, typeof dy];
      const shapeOfValue = (v: typeof dy): readonly Dim[] => (v.type.kind === "tensor" ? v.type.shape : []);
      const { stride, padding } = i.attrs;
      ctx.add(0, ctx.b.emit("conv2dGradInput", [dy, w], { stride, padding, inputShape: shapeOfValue(x) }));
      ctx.add(1, ctx.b.emit("conv2dGradWeight", [dy, x], { stride, padding, weightShape: shapeOfValue(w) }));
      if (i.args.length > 2) ctx.add(2, ctx.b.emit("conv2dGradBias", [dy], {}));
    },
  },
  conv2dGradInput: {
    doc: "the input adjoint of conv2d: a transposed convolution of dy with w", family: "layer", name: "dconvIn",
    jvp: multilinear(2), vjp: "adjointOnly", emit: { kernel: kernels.conv2dGradInput, params: ["dy", "w"] },
    type: (args, attrs: AttrsOf<"conv2dGradInput">) => {
      const e = arity("conv2dGradInput", args, 2);
      if (e) return e;
      const ws = needTensor("conv2dGradInput", args[1], "w");
      if (typeof ws === "string") return ws;
      return fitsOutput("conv2dGradInput", args[0], attrs.inputShape, ws, attrs) ?? tensorType(attrs.inputShape);
    },
  },
  conv2dGradWeight: {
    doc: "the filter adjoint of conv2d: the correlation of x with dy", family: "layer", name: "dconvW",
    jvp: multilinear(2), vjp: "adjointOnly", emit: { kernel: kernels.conv2dGradWeight, params: ["dy", "x"] },
    type: (args, attrs: AttrsOf<"conv2dGradWeight">) => {
      const e = arity("conv2dGradWeight", args, 2);
      if (e) return e;
      const xs = needTensor("conv2dGradWeight", args[1], "x");
      if (typeof xs === "string") return xs;
      return fitsOutput("conv2dGradWeight", args[0], xs, attrs.weightShape, attrs) ?? tensorType(attrs.weightShape);
    },
  },
  conv2dGradBias: {
    doc: "the bias adjoint of conv2d: dy summed over batch and space", family: "layer", name: "dconvB",
    jvp: linearIn(0), vjp: "adjointOnly", emit: { kernel: kernels.conv2dGradBias, params: ["dy"] },
    type: (args) => {
      const e = arity("conv2dGradBias", args, 1);
      if (e) return e;
      const dys = needTensor("conv2dGradBias", args[0], "dy");
      if (typeof dys === "string") return dys;
      if (dys.length !== 3 && dys.length !== 4) return `conv2dGradBias: dy must be [O, OH, OW] or [N, O, OH, OW], got ${fmt(dys)}`;
      return tensorType([dys[dys.length - 3]!]);
    },
  },
};
