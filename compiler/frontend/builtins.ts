// The functions a DSL file imports from "adgen", lowered to IR ops. The table is keyed by
// the runtime's exports (runtime/index.ts), so a function added to the runtime without a
// lowering here, or one lowered here that the runtime does not export, fails type-checking.

import { dimProduct, showDim } from "../ir/dims.js";
import ts, { type TS } from "./ts.js";
import type * as Runtime from "../../runtime/index.js";
import { SimpleOp, Value } from "../ir/types.js";
import { Env, Lowering } from "./context.js";
import { lowerExpr, requireInt, requireSize } from "./expressions.js";
import { skipParens } from "./source.js";

export type BuiltinName = keyof typeof Runtime;

interface Call {
  readonly cx: Lowering;
  readonly e: TS.CallExpression;
  readonly env: Env;
  readonly vname: string | undefined;
  /** Fails unless there are min to max arguments. */
  count(min: number, max?: number): void;
  /** Lowers argument i. */
  arg(i: number): Value;
}

type Lower = (c: Call) => Value;

/** A builtin that is one op of the table applied to its arguments. */
const op = (name: SimpleOp, n: number): Lower => (c) => {
  c.count(n);
  return c.cx.emit(name, Array.from({ length: n }, (_, i) => c.arg(i)), {} as never, c.e, c.vname);
};

const isUndefined = (n: TS.Expression | undefined): boolean => !n || (ts.isIdentifier(n) && n.text === "undefined");

const BUILTINS: { readonly [K in BuiltinName]: Lower } = {
  linear: (c) => {
    c.count(2, 3);
    const args = [c.arg(0), c.arg(1)];
    if (!isUndefined(c.e.arguments[2])) args.push(c.arg(2));
    return c.cx.emit("linear", args, {}, c.e, c.vname);
  },
  conv2d: (c) => {
    c.count(2, 4);
    const args = [c.arg(0), c.arg(1)];
    const argNodes = c.e.arguments;
    let optNode = argNodes[3];
    if (argNodes[2] && ts.isObjectLiteralExpression(skipParens(argNodes[2]))) optNode = argNodes[2];
    else if (!isUndefined(argNodes[2])) args.push(c.arg(2));
    const o = options(c, optNode, ["stride", "padding"]);
    return c.cx.emit("conv2d", args, { stride: o.get("stride") ?? [1, 1], padding: o.get("padding") ?? [0, 0] }, c.e, c.vname);
  },
  maxpool2d: (c) => pool(c, "maxpool2d"),
  avgpool2d: (c) => pool(c, "avgpool2d"),
  relu: op("relu", 1), sigmoid: op("sigmoid", 1), tanh: op("tanh", 1), exp: op("exp", 1), log: op("log", 1),
  softmax: op("softmax", 1), logSoftmax: op("logSoftmax", 1),
  crossEntropy: (c) => {
    const r = op("crossEntropy", 2)(c);
    // the label is an index into the classes (indexRanges.ts checks a constant one)
    c.cx.sites.set(r.id, { tensor: c.e.arguments[0]!, indices: [c.e.arguments[1]!] });
    return r;
  },
  flatten: (c) => {
    c.count(1, 2);
    const x = c.arg(0);
    const argNodes = c.e.arguments;
    if (x.type.kind !== "tensor") return c.cx.fail(argNodes[0]!, "ADG1025", "flatten takes a tensor.", "Pass a tensor.");
    const shape = x.type.shape;
    let start = argNodes[1] ? requireInt(c.cx, argNodes[1], c.env, "flatten's startDim") : 0;
    if (start < 0) start += shape.length;
    if (start < 0 || start >= shape.length) {
      return c.cx.fail(argNodes[1]!, "ADG1009", `startDim is out of range for a tensor of shape [${shape.map(showDim).join(", ")}].`, `Use 0 to ${shape.length - 1}.`);
    }
    const merged = dimProduct(shape.slice(start));
    return c.cx.emit("reshape", [x], { shape: [...shape.slice(0, start), merged] }, c.e, c.vname);
  },
  sum: op("sum", 1), mean: op("mean", 1), dot: op("dot", 2),
  add: op("add", 2), sub: op("sub", 2), mul: op("mul", 2), div: op("div", 2),
  zeros: (c) => {
    c.count(1);
    const shapeNode = skipParens(c.e.arguments[0]!);
    if (!ts.isArrayLiteralExpression(shapeNode) || shapeNode.elements.length === 0) {
      return c.cx.fail(c.e.arguments[0]!, "ADG1025", "zeros takes a shape: an array of sizes.", "Write zeros([2, 3]) or zeros([n, x.length]).");
    }
    const shape = shapeNode.elements.map((el) => requireSize(c.cx, el, c.env, "A dimension"));
    return c.cx.emit("zeros", [], { shape }, c.e, c.vname);
  },
};

/** The names a DSL file can import from "adgen" (besides the Tensor type). */
export const BUILTIN_NAMES = Object.keys(BUILTINS) as BuiltinName[];

export function lowerBuiltin(cx: Lowering, name: BuiltinName, e: TS.CallExpression, env: Env, vname?: string): Value {
  return BUILTINS[name]({
    cx, e, env, vname,
    count(min, max = min) {
      const n = e.arguments.length;
      if (n < min || n > max) {
        cx.fail(e, "ADG1025", `${name} takes ${min === max ? min : `${min} to ${max}`} arguments, got ${n}.`, "Check the call against the DSL reference (docs/dsl.md).");
      }
    },
    arg: (i) => lowerExpr(cx, e.arguments[i]!, env),
  });
}

function pool(c: Call, name: "maxpool2d" | "avgpool2d"): Value {
  c.count(2);
  const x = c.arg(0);
  const o = options(c, c.e.arguments[1], ["size", "stride"]);
  const size = o.get("size");
  if (!size) return c.cx.fail(c.e.arguments[1]!, "ADG1025", `${name} needs a size.`, "Write { size: 2 } or { size: 2, stride: 1 }.");
  return c.cx.emit(name, [x], { size, stride: o.get("stride") ?? size }, c.e, c.vname);
}

/** Reads an options object literal of static numbers or [h, w] pairs. */
function options(c: Call, node: TS.Expression | undefined, allowed: readonly string[]): Map<string, [number, number]> {
  const { cx, env } = c;
  const out = new Map<string, [number, number]>();
  if (!node || node.kind === ts.SyntaxKind.UndefinedKeyword) return out;
  const n = skipParens(node);
  if (!ts.isObjectLiteralExpression(n)) {
    return cx.fail(node, "ADG1025", "Options must be an object literal.", `Write { ${allowed.map((a) => `${a}: 2`).join(", ")} }.`);
  }
  for (const p of n.properties) {
    if (!ts.isPropertyAssignment(p) || !ts.isIdentifier(p.name) || !allowed.includes(p.name.text)) {
      cx.fail(p, "ADG1025", `Unknown option${p.name ? ` '${p.name.getText(cx.src.sourceFile)}'` : ""}.`, `Options are ${allowed.join(", ")}.`);
    }
    const pa = p as TS.PropertyAssignment;
    const init = skipParens(pa.initializer);
    let pair: [number, number];
    if (ts.isArrayLiteralExpression(init)) {
      if (init.elements.length !== 2) cx.fail(init, "ADG1025", "A pair option takes two numbers [h, w].", "Write [2, 2] or a single number.");
      pair = [requireInt(cx, init.elements[0]!, env, "An option"), requireInt(cx, init.elements[1]!, env, "An option")];
    } else {
      const v = requireInt(cx, init, env, "An option");
      pair = [v, v];
    }
    out.set((pa.name as TS.Identifier).text, pair);
  }
  return out;
}
