// Building blocks of the JVP rules (the forward-mode half of each op's entry).
//
// An elementwise op's derivative is diagonal, so its JVP is its VJP's formula with the
// argument's tangent in place of the result's adjoint: sin's `dy * cos(x)` gives the
// tangent `tx * cos(x)`. A two-argument op adds the two terms. Multilinear layers (linear,
// conv2d and their adjoints) take one term per argument with a tangent: the op applied to
// that tangent and the other arguments' primal values.

import { formula } from "../ad/formula.js";
import { Builder, dimValue, makeBlock, makeFor } from "../ir/builder.js";
import { Dim } from "../ir/dims.js";
import { F64, PoolAttrs, SimpleOp, Value, sizeOf } from "../ir/types.js";
import { JvpRule } from "./op.js";

/** The sum of the terms present (undefined when there is none: a zero tangent). */
export function sumOf(b: Builder, terms: readonly (Value | undefined)[]): Value | undefined {
  let acc: Value | undefined;
  for (const t of terms) if (t) acc = acc ? b.emit("add", [acc, t], {}) : t;
  return acc;
}

/** ty = f(x, y, dy := tx) for a one-argument op whose VJP is `dx = f`. */
export function tx<K extends SimpleOp>(text: string): JvpRule<K> {
  const f = formula(text);
  return (i, t, ctx) => (t[0] ? f.emit(ctx.b, { x: i.args[0]!, y: i.result, dy: t[0] }) : undefined);
}

/** ty = fa(dy := ta) + fb(dy := tb) for a two-argument op whose VJP is `(da, db) = (fa, fb)`. */
export function tab<K extends SimpleOp>(da: string, db: string): JvpRule<K> {
  const fa = formula(da);
  const fb = formula(db);
  return (i, t, ctx) => {
    const vars = { a: i.args[0]!, b: i.args[1]!, y: i.result };
    // a number's term against a tensor result (x + s, broadcast) is broadcast to its shape
    const fit = (v: Value | undefined): Value | undefined =>
      v && i.result.type.kind === "tensor" && v.type.kind === "f64" ? ctx.b.emit("broadcast", [v], { shape: i.result.type.shape }) : v;
    return sumOf(ctx.b, [
      fit(t[0] ? fa.emit(ctx.b, { ...vars, dy: t[0] }) : undefined),
      fit(t[1] ? fb.emit(ctx.b, { ...vars, dy: t[1] }) : undefined),
    ]);
  };
}

/** The tangent of an op linear in argument k (others are attributes or constants): the op of the tangent. */
export function linearIn<K extends SimpleOp>(k = 0): JvpRule<K> {
  return (i, t, ctx) => (t[k] ? ctx.b.emit(i.op, i.args.map((a, n) => (n === k ? t[k]! : a)), i.attrs) : undefined);
}

/** The tangent of an op linear in each of its first `n` arguments separately (a product, a layer's adjoint). */
export function multilinear<K extends SimpleOp>(n: number): JvpRule<K> {
  return (i, t, ctx) =>
    sumOf(ctx.b, Array.from({ length: n }, (_, k) => (t[k] ? ctx.b.emit(i.op, i.args.map((a, m) => (m === k ? t[k]! : a)), i.attrs) : undefined)));
}

/**
 * A layer y = op(x, w, b) (linear, conv2d): affine in (x, b) and linear in w, so
 * ty = op(tx, w, tb) + op(x, tw) (without bias).
 */
export function layer<K extends "linear" | "conv2d">(): JvpRule<K> {
  return (i, t, ctx) => {
    const [x, w, bias] = i.args as [Value, Value, Value | undefined];
    const { b } = ctx;
    const inputs = t[0]
      ? b.emit(i.op, [t[0], w, ...(bias ? [t[2] ?? ctx.zero(bias)] : [])], i.attrs)
      : bias && t[2]
        ? biasOnly(b, i, t[2])
        : undefined;
    const weights = t[1] ? b.emit(i.op, [x, t[1]], i.attrs) : undefined;
    return sumOf(b, [inputs, weights]);
  };
}

/**
 * op(0, w, tb): the bias's tangent broadcast to the layer's output, by the same op on a
 * one-wide zero input and zero weights (a 1x1 filter, stride 1, for conv2d): one
 * multiply-add per output element, where op(0, w, tb) would be the layer's whole product
 * over a zero input (an input without a tangent: the data of a training step).
 */
function biasOnly(b: Builder, i: { op: "linear" | "conv2d"; result: Value }, tb: Value): Value {
  const ys = i.result.type.kind === "tensor" ? i.result.type.shape : [];
  if (i.op === "linear") {
    const rows = ys.slice(0, -1);
    const x = b.emit("zeros", [], { shape: [...rows, 1] });
    const w = b.emit("zeros", [], { shape: [ys[ys.length - 1]!, 1] });
    return b.emit("linear", [x, w, tb], {});
  }
  const [oh, ow] = ys.slice(-2) as [Dim, Dim];
  const x = b.emit("zeros", [], { shape: [...ys.slice(0, -3), 1, oh, ow] });
  const w = b.emit("zeros", [], { shape: [ys[ys.length - 3]!, 1, 1, 1] });
  return b.emit("conv2d", [x, w, tb], { stride: [1, 1], padding: [0, 0] });
}

/**
 * Each row's sum, broadcast back over the row: m [K] or [N, K] -> the same shape, as two
 * products with ones (m · 1ₖ, then · 1ₖᵀ), so no kernel of its own.
 */
export function rowSums(b: Builder, m: Value): Value {
  const shape = m.type.kind === "tensor" ? m.type.shape : [];
  const k: Dim = shape[shape.length - 1]!;
  const one = b.const(1);
  const across = b.emit("linear", [m, b.emit("broadcast", [one], { shape: [1, k] })], {});
  return b.emit("linear", [across, b.emit("broadcast", [one], { shape: [k, 1] })], {});
}

/** A counted loop 0..end built by `body` (the counter and the carried values -> the next ones). */
function loop(b: Builder, end: Value, init: readonly Value[], body: (iv: Value, carried: readonly Value[]) => Value[]): Value[] {
  const start = b.const(0);
  const iv = b.value(F64, "k");
  const params = init.map((v) => b.value(v.type, v.name));
  let ys: Value[] = [];
  const instrs = b.block(() => {
    ys = body(iv, params);
  });
  const results = init.map((v) => b.value(v.type, v.name));
  b.push(makeFor(results, start, end, 1, init, makeBlock([iv, ...params], instrs, ys), b.loc));
  return results;
}

/**
 * The tangent of maxpool2d(x) in direction tx: each window's tx at its first maximum (the
 * element its adjoint routes dy to), written as loops over the planes, the windows and
 * the window's elements.
 */
export function maxpoolTangent(b: Builder, x: Value, tx: Value, attrs: PoolAttrs): Value {
  const xs = x.type.kind === "tensor" ? x.type.shape : [];
  const lead = xs.slice(0, -2);
  const [H, W] = xs.slice(-2) as [number, number];
  const [kh, kw] = attrs.size;
  const [sh, sw] = attrs.stride;
  const OH = Math.floor((H - kh) / sh) + 1;
  const OW = Math.floor((W - kw) / sw) + 1;
  const planes = lead.length ? sizeOf(lead) : 1;
  const x3 = b.emit("reshape", [x], { shape: [planes, H, W] });
  const t3 = b.emit("reshape", [tx], { shape: [planes, H, W] });
  const [out] = loop(b, dimValue(b, planes), [b.emit("zeros", [], { shape: [planes, OH, OW] }, "pooled")], (p, [o0]) =>
    loop(b, b.const(OH), [o0!], (oh, [o1]) =>
      loop(b, b.const(OW), [o1!], (ow, [o2]) => {
        const h0 = b.emit("mul", [oh, b.const(sh)], {});
        const w0 = b.emit("mul", [ow, b.const(sw)], {});
        const first = [b.emit("index", [x3, p, h0, w0], {}, "best"), b.emit("index", [t3, p, h0, w0], {}, "tbest")];
        const [, tbest] = loop(b, b.const(kh), first, (dh, c0) =>
          loop(b, b.const(kw), c0, (dw, [best, tb]) => {
            const h = b.emit("add", [h0, dh], {});
            const w = b.emit("add", [w0, dw], {});
            const v = b.emit("index", [x3, p, h, w], {});
            const larger = b.emit("gt", [v, best!], {});
            return [b.emit("select", [larger, v, best!], {}, "best"), b.emit("select", [larger, b.emit("index", [t3, p, h, w], {}), tb!], {}, "tbest")];
          }));
        return [b.emit("store", [o2!, p, oh, ow, tbest!], {})];
      })));
  return b.emit("reshape", [out!], { shape: [...lead, OH, OW] });
}
