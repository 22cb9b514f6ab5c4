// Tensors as values: creating them, reading and writing elements, reshaping, reductions.
// Tensors have value semantics in the IR (`store` returns a new tensor); the function
// emitter updates buffers in place where the old version is dead.

import { Builder, dimValue } from "../ir/builder.js";
import { dimEquals } from "../ir/dims.js";
import { F64, Type, Value, sizeOf, tensorType, typeEquals, showType } from "../ir/types.js";
import * as reduce from "../codegen/kernels/reduce.js";
import { OpDef } from "./op.js";
import { arity, fmt, shapeOf } from "./shapes.js";
import { linearIn, multilinear } from "./jvp.js";

/** zeros of v's type: a number or a tensor. */
export function zeroLike(b: Builder, v: Value): Value {
  return v.type.kind === "tensor" ? b.emit("zeros", [], { shape: v.type.shape }) : b.const(0);
}

/** The shape rule of index (x, ...idx), store and accum (x, ...idx, v). */
function indexed(op: "index" | "store" | "accum") {
  return (args: readonly Type[]): Type | string => {
    const s = shapeOf(args[0]);
    if (!s) return `${op === "index" ? "indexing" : "assignment"}: the value indexed is not a tensor`;
    const nIdx = op === "index" ? args.length - 1 : args.length - 2;
    if (nIdx < 1) return `${op}: no index given`;
    if (nIdx > s.length) return `too many indices: a tensor of shape ${fmt(s)} takes at most ${s.length}`;
    for (let i = 1; i <= nIdx; i++) {
      if (args[i]!.kind !== "f64") return `an index must be a number`;
    }
    const rest = s.slice(nIdx);
    const elem = rest.length === 0 ? F64 : tensorType(rest);
    if (op === "index") return elem;
    const v = args[args.length - 1]!;
    if (!typeEquals(v, elem)) return `cannot assign a value of type ${showType(v)} to an element of type ${showType(elem)}`;
    return args[0]!;
  };
}

const reduction = (op: string) => (args: readonly Type[]): Type | string =>
  arity(op, args, 1) ?? (args[0]!.kind === "tensor" ? F64 : `${op} takes a tensor`);

export const TENSOR: {
  readonly zeros: OpDef<"zeros">;
  readonly broadcast: OpDef<"broadcast">;
  readonly index: OpDef<"index">;
  readonly store: OpDef<"store">;
  readonly accum: OpDef<"accum">;
  readonly checkIndex: OpDef<"checkIndex">;
  readonly reshape: OpDef<"reshape">;
  readonly sum: OpDef<"sum">;
  readonly mean: OpDef<"mean">;
  readonly dot: OpDef<"dot">;
} = {
  zeros: {
    doc: "a tensor of zeros", family: "structural", name: "buf", emit: "structural", vjp: "nondiff", jvp: "nondiff",
    type: (args, { shape }) => arity("zeros", args, 0) ?? tensorType(shape),
  },
  // d broadcast(s) = sum(dy)
  broadcast: {
    doc: "a tensor with every element s", family: "structural", name: "fill", emit: "structural",
    type: (args, { shape }) => arity("broadcast", args, 1) ?? (args[0]!.kind === "f64" ? tensorType(shape) : "broadcast takes a number"),
    vjp: (_i, dy, ctx) => ctx.add(0, ctx.b.emit("sum", [dy], {})),
    jvp: linearIn(0),
  },
  // d x[idx] = dx[idx] += dy   (indices have no derivative)
  index: {
    doc: "x[idx]: an element, or the sub-tensor of a partial index", family: "structural", emit: "structural",
    type: indexed("index"),
    vjp: (i, dy, ctx) => ctx.addAt(0, i.args.slice(1), dy),
    jvp: linearIn(0),
  },
  // d store(x, idx, v) = (dy with dy[idx] = 0, dy[idx])
  store: {
    doc: "x with x[idx] = v", family: "structural", emit: "structural", type: indexed("store"),
    vjp: (i, dy, ctx) => {
      const idx = i.args.slice(1, -1);
      const v = i.args[i.args.length - 1]!;
      ctx.add(i.args.length - 1, ctx.b.emit("index", [dy, ...idx], {}));
      ctx.add(0, ctx.b.emit("store", [dy, ...idx, zeroLike(ctx.b, v)], {}));
    },
    // the tangent tensor with the stored value's tangent at idx
    jvp: (i, t, ctx) => {
      const x = i.args[0]!;
      const v = i.args[i.args.length - 1]!;
      const tv = t[i.args.length - 1];
      if (!t[0] && !tv) return undefined;
      return ctx.b.emit("store", [t[0] ?? ctx.zero(x), ...i.args.slice(1, -1), tv ?? ctx.zero(v)], {});
    },
  },
  // d accum(x, idx, v) = (dy, dy[idx])
  accum: {
    doc: "x with x[idx] += v", family: "structural", emit: "structural", type: indexed("accum"),
    vjp: (i, dy, ctx) => {
      ctx.add(i.args.length - 1, ctx.b.emit("index", [dy, ...i.args.slice(1, -1)], {}));
      ctx.add(0, dy);
    },
    jvp: (i, t, ctx) => {
      const tv = t[i.args.length - 1];
      if (!tv) return t[0];
      return ctx.b.emit("accum", [t[0] ?? ctx.zero(i.args[0]!), ...i.args.slice(1, -1), tv], {});
    },
  },
  // an index has no derivative. With three arguments (a, start, end), checked before a loop of
  // counter i from start up to end: a + i for every i, so a (frontend/indexRanges.ts)
  checkIndex: {
    doc: "i, checked to be an integer in [0, size); or a, with a + i for every i in [start, end)", family: "structural", emit: "structural",
    vjp: "nondiff", jvp: "nondiff",
    type: (args) => arity("checkIndex", args, [1, 3]) ?? (args.every((a) => a.kind === "f64") ? F64 : "checkIndex takes numbers"),
  },
  // d reshape(x) = dy reshaped back to x's shape
  reshape: {
    doc: "the same elements in row-major order, in another shape (flatten)", family: "structural", emit: "structural",
    type: (args, { shape }) => {
      const e = arity("reshape", args, 1);
      if (e) return e;
      const s = shapeOf(args[0]);
      if (!s) return "reshape takes a tensor";
      if (!dimEquals(sizeOf(s), sizeOf(shape))) return `cannot reshape ${fmt(s)} to ${fmt(shape)}`;
      return tensorType(shape);
    },
    vjp: (i, dy, ctx) => {
      const x = i.args[0]!;
      ctx.add(0, ctx.b.emit("reshape", [dy], { shape: x.type.kind === "tensor" ? x.type.shape : [] }));
    },
    jvp: linearIn(0),
  },
  // d sum(x) = dy broadcast to x's shape
  sum: {
    doc: "sum", family: "reduction", name: "total", type: reduction("sum"),
    emit: { kernel: reduce.sum, params: ["x"] },
    vjp: (i, dy, ctx) => {
      const t = i.args[0]!.type;
      ctx.add(0, ctx.b.emit("broadcast", [dy], { shape: t.kind === "tensor" ? t.shape : [] }));
    },
    jvp: linearIn(0),
  },
  // d mean(x) = dy / n broadcast to x's shape
  mean: {
    doc: "mean", family: "reduction", name: "avg", type: reduction("mean"),
    emit: { kernel: reduce.mean, params: ["x"] },
    vjp: (i, dy, ctx) => {
      const t = i.args[0]!.type;
      const shape = t.kind === "tensor" ? t.shape : [];
      ctx.add(0, ctx.b.emit("broadcast", [ctx.b.emit("div", [dy, dimValue(ctx.b, sizeOf(shape))], {})], { shape }));
    },
    jvp: linearIn(0),
  },
  // d dot(a, b) = (dy b, dy a)
  dot: {
    doc: "dot", family: "reduction", name: "dotp",
    type: (args) => {
      const e = arity("dot", args, 2);
      if (e) return e;
      const [a, b] = args as [Type, Type];
      if (a.kind !== "tensor" || b.kind !== "tensor") return "dot takes two tensors";
      if (!typeEquals(a, b)) return `dot: shapes ${fmt(a.shape)} and ${fmt(b.shape)} differ`;
      return F64;
    },
    emit: { kernel: reduce.dot, params: ["a", "b"] },
    jvp: multilinear(2),
    vjp: (i, dy, ctx) => {
      ctx.add(0, ctx.b.emit("mul", [i.args[1]!, dy], {}));
      ctx.add(1, ctx.b.emit("mul", [i.args[0]!, dy], {}));
    },
  },
};
