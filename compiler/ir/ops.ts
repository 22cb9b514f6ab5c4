// Result types of the simple ops, and the shape rules they enforce. The front end turns an
// error message from here into a diagnostic at the offending call; the verifier uses the
// same function to check that every instruction's result type is right.

import {
  AttrsOf, BINARY_OPS, BOOL, COMPARE_OPS, F64, SCALAR_BINARY_OPS, SimpleOp, Type, UNARY_OPS,
  showType, sizeOf, tensorType, typeEquals,
} from "./types.js";

const unary = new Set<string>(UNARY_OPS);
const binary = new Set<string>(BINARY_OPS);
const scalarBinary = new Set<string>(SCALAR_BINARY_OPS);
const compare = new Set<string>(COMPARE_OPS);

export function isUnaryOp(op: string): boolean {
  return unary.has(op);
}
export function isBinaryOp(op: string): boolean {
  return binary.has(op);
}
export function isScalarBinaryOp(op: string): boolean {
  return scalarBinary.has(op);
}
export function isCompareOp(op: string): boolean {
  return compare.has(op);
}

function shapeOf(t: Type): readonly number[] | null {
  return t.kind === "tensor" ? t.shape : null;
}

function fmt(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/** Output size of a convolution or pooling window along one axis. */
export function windowOut(input: number, kernel: number, stride: number, pad: number): number {
  return Math.floor((input + 2 * pad - kernel) / stride) + 1;
}

/**
 * The result type of a simple op applied to arguments of the given types, or an error
 * message naming the shapes involved.
 */
export function inferType<K extends SimpleOp>(op: K, args: readonly Type[], attrs: AttrsOf<K>): Type | string {
  const a = args[0];
  const b = args[1];
  const need = (n: number | readonly number[]): string | null => {
    const ok = typeof n === "number" ? args.length === n : n.includes(args.length);
    return ok ? null : `${op} takes ${typeof n === "number" ? n : n.join(" or ")} arguments, got ${args.length}`;
  };
  const notBool = (t: Type | undefined, what: string): string | null =>
    t && t.kind === "bool" ? `${op}: ${what} must be a number or a tensor, not a boolean` : null;

  if (unary.has(op)) {
    return need(1) ?? notBool(a, "the argument") ?? a!;
  }
  if (binary.has(op)) {
    const e = need(2) ?? notBool(a, "the first argument") ?? notBool(b, "the second argument");
    if (e) return e;
    if (a!.kind === "tensor" && b!.kind === "tensor" && !typeEquals(a!, b!)) {
      return `${op}: shapes ${fmt(a!.shape)} and ${fmt(b!.shape)} differ`;
    }
    return a!.kind === "tensor" ? a! : b!;
  }
  if (scalarBinary.has(op)) {
    const e = need(2);
    if (e) return e;
    if (a!.kind !== "f64" || b!.kind !== "f64") return `${op} takes two numbers`;
    return F64;
  }
  if (compare.has(op)) {
    const e = need(2);
    if (e) return e;
    if (a!.kind !== "f64" || b!.kind !== "f64") return `comparisons take two numbers, got ${showType(a!)} and ${showType(b!)}`;
    return BOOL;
  }
  const attr = attrs as Record<string, unknown>;
  switch (op) {
    case "const":
      return need(0) ?? F64;
    case "and":
    case "or":
      return need(2) ?? (a!.kind === "bool" && b!.kind === "bool" ? BOOL : `${op} takes two booleans`);
    case "not":
      return need(1) ?? (a!.kind === "bool" ? BOOL : "not takes a boolean");
    case "select": {
      const e = need(3);
      if (e) return e;
      if (a!.kind !== "bool") return "select: the condition must be a boolean";
      if (!typeEquals(b!, args[2]!)) return `select: branches have types ${showType(b!)} and ${showType(args[2]!)}`;
      return b!;
    }
    case "zeros":
      return need(0) ?? tensorType(attr.shape as number[]);
    case "broadcast":
      return need(1) ?? (a!.kind === "f64" ? tensorType(attr.shape as number[]) : "broadcast takes a number");
    case "index":
    case "store":
    case "accum": {
      const s = a && shapeOf(a);
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
      if (!typeEquals(v, elem)) {
        return `cannot assign a value of type ${showType(v)} to an element of type ${showType(elem)}`;
      }
      return a!;
    }
    case "reshape": {
      const e = need(1);
      if (e) return e;
      const s = shapeOf(a!);
      const target = attr.shape as number[];
      if (!s) return "reshape takes a tensor";
      if (sizeOf(s) !== sizeOf(target)) return `cannot reshape ${fmt(s)} to ${fmt(target)}`;
      return tensorType(target);
    }
    case "sum":
    case "mean":
      return need(1) ?? (a!.kind === "tensor" ? F64 : `${op} takes a tensor`);
    case "dot": {
      const e = need(2);
      if (e) return e;
      if (a!.kind !== "tensor" || b!.kind !== "tensor") return "dot takes two tensors";
      if (!typeEquals(a!, b!)) return `dot: shapes ${fmt(a!.shape)} and ${fmt(b!.shape)} differ`;
      return F64;
    }
    case "linear": {
      const e = need([2, 3]);
      if (e) return e;
      const xs = shapeOf(a!);
      const ws = shapeOf(b!);
      if (!xs || !ws) return "linear takes tensors x, w and an optional b";
      if (ws.length !== 2) return `linear: w must be [out, in], got ${fmt(ws)}`;
      if (xs.length !== 1 && xs.length !== 2) return `linear: x must be [in] or [N, in], got ${fmt(xs)}`;
      const inX = xs[xs.length - 1]!;
      if (inX !== ws[1]) return `linear: x has shape ${fmt(xs)} but w ${fmt(ws)} expects ${ws[1]} inputs`;
      if (args[2]) {
        const bs = shapeOf(args[2]);
        if (!bs || bs.length !== 1 || bs[0] !== ws[0]) {
          return `linear: b must have shape [${ws[0]}] for w ${fmt(ws)}, got ${bs ? fmt(bs) : "a number"}`;
        }
      }
      return tensorType(xs.length === 1 ? [ws[0]!] : [xs[0]!, ws[0]!]);
    }
    case "linearGradInput": {
      const dys = shapeOf(a!)!;
      const ws = shapeOf(b!)!;
      return tensorType(dys.length === 1 ? [ws[1]!] : [dys[0]!, ws[1]!]);
    }
    case "linearGradWeight": {
      const dys = shapeOf(a!)!;
      const xs = shapeOf(b!)!;
      return tensorType([dys[dys.length - 1]!, xs[xs.length - 1]!]);
    }
    case "linearGradBias": {
      const dys = shapeOf(a!)!;
      return tensorType([dys[dys.length - 1]!]);
    }
    case "conv2d": {
      const e = need([2, 3]);
      if (e) return e;
      const xs = shapeOf(a!);
      const ws = shapeOf(b!);
      if (!xs || !ws) return "conv2d takes tensors x, w and an optional b";
      if (xs.length !== 3 && xs.length !== 4) return `conv2d: x must be [C, H, W] or [N, C, H, W], got ${fmt(xs)}`;
      if (ws.length !== 4) return `conv2d: w must be [O, C, KH, KW], got ${fmt(ws)}`;
      const batched = xs.length === 4;
      const [c, h, w] = batched ? xs.slice(1) : xs;
      if (ws[1] !== c) {
        return `conv2d: x has ${c} channels (shape ${fmt(xs)}) but w ${fmt(ws)} expects ${ws[1]}`;
      }
      if (args[2]) {
        const bs = shapeOf(args[2]);
        if (!bs || bs.length !== 1 || bs[0] !== ws[0]) {
          return `conv2d: b must have shape [${ws[0]}] for w ${fmt(ws)}, got ${bs ? fmt(bs) : "a number"}`;
        }
      }
      const { stride, padding } = attrs as AttrsOf<"conv2d">;
      if (stride[0] < 1 || stride[1] < 1 || !Number.isInteger(stride[0]) || !Number.isInteger(stride[1])) {
        return "conv2d: stride must be a positive integer";
      }
      if (padding[0] < 0 || padding[1] < 0 || !Number.isInteger(padding[0]) || !Number.isInteger(padding[1])) {
        return "conv2d: padding must be a non-negative integer";
      }
      const oh = windowOut(h!, ws[2]!, stride[0], padding[0]);
      const ow = windowOut(w!, ws[3]!, stride[1], padding[1]);
      if (oh < 1 || ow < 1) {
        return `conv2d: a ${ws[2]}x${ws[3]} kernel does not fit an input of shape ${fmt(xs)} with padding ${padding[0]}`;
      }
      return tensorType(batched ? [xs[0]!, ws[0]!, oh, ow] : [ws[0]!, oh, ow]);
    }
    case "conv2dGradInput":
      return tensorType((attrs as AttrsOf<"conv2dGradInput">).inputShape);
    case "conv2dGradWeight":
      return tensorType((attrs as AttrsOf<"conv2dGradWeight">).weightShape);
    case "conv2dGradBias": {
      const dys = shapeOf(a!)!;
      return tensorType([dys[dys.length - 3]!]);
    }
    case "maxpool2d":
    case "avgpool2d": {
      const e = need(1);
      if (e) return e;
      const xs = shapeOf(a!);
      if (!xs || xs.length < 2 || xs.length > 4) {
        return `${op}: x must be [H, W], [C, H, W] or [N, C, H, W], got ${xs ? fmt(xs) : "a number"}`;
      }
      const { size, stride } = attrs as AttrsOf<"maxpool2d">;
      if (size[0] < 1 || size[1] < 1 || stride[0] < 1 || stride[1] < 1) return `${op}: size and stride must be positive`;
      const h = xs[xs.length - 2]!;
      const w = xs[xs.length - 1]!;
      const oh = windowOut(h, size[0], stride[0], 0);
      const ow = windowOut(w, size[1], stride[1], 0);
      if (oh < 1 || ow < 1) return `${op}: a ${size[0]}x${size[1]} window does not fit an input of shape ${fmt(xs)}`;
      return tensorType([...xs.slice(0, -2), oh, ow]);
    }
    case "maxpool2dGrad":
      return a!;
    case "avgpool2dGrad":
      return tensorType((attrs as AttrsOf<"avgpool2dGrad">).inputShape);
    case "softmax":
    case "logSoftmax": {
      const e = need(1);
      if (e) return e;
      const xs = shapeOf(a!);
      if (!xs || xs.length < 1 || xs.length > 2) return `${op}: x must be [K] or [N, K]`;
      return a!;
    }
    case "softmaxGrad":
    case "logSoftmaxGrad":
      return a!;
    case "crossEntropy": {
      const e = need(2);
      if (e) return e;
      const xs = shapeOf(a!);
      if (!xs || xs.length < 1 || xs.length > 2) return `crossEntropy: logits must be [K] or [N, K]`;
      if (xs.length === 1) {
        if (b!.kind !== "f64") return `crossEntropy: logits of shape ${fmt(xs)} take a number label`;
      } else {
        const ls = shapeOf(b!);
        if (!ls || ls.length !== 1 || ls[0] !== xs[0]) {
          return `crossEntropy: logits of shape ${fmt(xs)} take labels of shape [${xs[0]}], got ${ls ? fmt(ls) : "a number"}`;
        }
      }
      return F64;
    }
    case "crossEntropyGrad":
      return a!;
    case "reluGrad":
      return b!;
  }
  return `unknown op ${op}`;
}
