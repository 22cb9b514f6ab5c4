// maxpool2d and avgpool2d(x, { size, stride }) on x [H, W], [C, H, W] or [N, C, H, W], no
// padding. Max-pool's adjoint recomputes each window's first maximum and routes dy there,
// as JAX differentiates reduce_window by scattering to the maximum.

import { PoolAttrs, Type, tensorType } from "../ir/types.js";
import * as kernels from "../codegen/kernels/pool.js";
import { OpDef } from "./op.js";
import { Dim } from "../ir/dims.js";
import { arity, fmt, literalDims, needTensor, shapeOf, windowOut } from "./shapes.js";
import { linearIn, maxpoolTangent } from "./jvp.js";

/** The pooled shape of xs, or an error. */
export function poolOutput(op: string, xs: readonly Dim[] | null, attrs: PoolAttrs): readonly Dim[] | string {
  if (!xs || xs.length < 2 || xs.length > 4) {
    return `${op}: x must be [H, W], [C, H, W] or [N, C, H, W], got ${xs ? fmt(xs) : "a number"}`;
  }
  const { size, stride } = attrs;
  if (size[0] < 1 || size[1] < 1 || stride[0] < 1 || stride[1] < 1) return `${op}: size and stride must be positive`;
  const hw = literalDims(op, xs.slice(-2), "x's image");
  if (typeof hw === "string") return hw.replace(fmt(xs.slice(-2)), fmt(xs));
  const oh = windowOut(hw[0]!, size[0], stride[0], 0);
  const ow = windowOut(hw[1]!, size[1], stride[1], 0);
  if (oh < 1 || ow < 1) return `${op}: a ${size[0]}x${size[1]} window does not fit an input of shape ${fmt(xs)}`;
  return [...xs.slice(0, -2), oh, ow];
}

/** dy must have the pooled shape of xs. */
function fitsPooled(op: string, xs: readonly Dim[], dy: Type | undefined, attrs: PoolAttrs): string | null {
  const ys = poolOutput(op, xs, attrs);
  if (typeof ys === "string") return ys;
  const dys = needTensor(op, dy, "dy");
  if (typeof dys === "string") return dys;
  return fmt(dys) === fmt(ys) ? null : `${op}: dy has shape ${fmt(dys)}, but pooling gives ${fmt(ys)}`;
}

function pool(op: "maxpool2d" | "avgpool2d") {
  return (args: readonly Type[], attrs: PoolAttrs): Type | string => {
    const e = arity(op, args, 1);
    if (e) return e;
    const ys = poolOutput(op, shapeOf(args[0]), attrs);
    return typeof ys === "string" ? ys : tensorType(ys);
  };
}

export const POOL: {
  readonly maxpool2d: OpDef<"maxpool2d">;
  readonly maxpool2dGrad: OpDef<"maxpool2dGrad">;
  readonly avgpool2d: OpDef<"avgpool2d">;
  readonly avgpool2dGrad: OpDef<"avgpool2dGrad">;
} = {
  // d maxpool2d(x) = dy routed to the first maximum of each window (row-major order)
  maxpool2d: {
    doc: "maxpool2d", family: "layer", name: "pool", type: pool("maxpool2d"),
    emit: { kernel: kernels.maxpool2d, params: ["x"] },
    jvp: (i, t, ctx) => (t[0] ? maxpoolTangent(ctx.b, i.args[0]!, t[0], i.attrs) : undefined),
    vjp: (i, dy, ctx) => ctx.add(0, ctx.b.emit("maxpool2dGrad", [i.args[0]!, dy], i.attrs)),
  },
  maxpool2dGrad: {
    doc: "the adjoint of maxpool2d: each window's dy goes to its first maximum (row-major)", family: "layer",
    name: "dpool", jvp: linearIn(1), vjp: "adjointOnly", emit: { kernel: kernels.maxpool2dGrad, params: ["x", "dy"] },
    type: (args, attrs) => {
      const e = arity("maxpool2dGrad", args, 2);
      if (e) return e;
      const xs = needTensor("maxpool2dGrad", args[0], "x");
      if (typeof xs === "string") return xs;
      return fitsPooled("maxpool2dGrad", xs, args[1], attrs) ?? args[0]!;
    },
  },
  // d avgpool2d(x) = dy spread evenly over each window
  avgpool2d: {
    doc: "avgpool2d", family: "layer", name: "pool", type: pool("avgpool2d"),
    emit: { kernel: kernels.avgpool2d, params: ["x"] },
    jvp: linearIn(0),
    vjp: (i, dy, ctx) => {
      const x = i.args[0]!;
      const inputShape = x.type.kind === "tensor" ? x.type.shape : [];
      ctx.add(0, ctx.b.emit("avgpool2dGrad", [dy], { ...i.attrs, inputShape }));
    },
  },
  avgpool2dGrad: {
    doc: "the adjoint of avgpool2d: each window's dy spread evenly over it", family: "layer", name: "dpool",
    jvp: linearIn(0), vjp: "adjointOnly", emit: { kernel: kernels.avgpool2dGrad, params: ["dy"] },
    type: (args, attrs) =>
      arity("avgpool2dGrad", args, 1) ?? fitsPooled("avgpool2dGrad", attrs.inputShape, args[0], attrs) ?? tensorType(attrs.inputShape),
  },
};
