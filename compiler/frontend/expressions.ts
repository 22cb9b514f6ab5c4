// Lowering expressions: literals, variables, arithmetic, comparisons, `?:`, indexing,
// property reads (x.length, Math.PI) and calls (calls.ts).

import ts, { type TS } from "./ts.js";
import { makeBlock, makeIf } from "../ir/builder.js";
import { BinaryOp, CompareOp, Value, showType, typeEquals } from "../ir/types.js";
import { lowerCall, isGlobalMath } from "./calls.js";
import { MATH_CONSTANTS, NUMBER_CONSTANTS } from "./constants.js";
import { Env, Lowering } from "./context.js";
import { kindName, skipParens } from "./source.js";
import { Dim } from "../ir/dims.js";

const ARITHMETIC: Partial<Record<TS.SyntaxKind, BinaryOp | "pow" | "mod">> = {
  [ts.SyntaxKind.PlusToken]: "add",
  [ts.SyntaxKind.MinusToken]: "sub",
  [ts.SyntaxKind.AsteriskToken]: "mul",
  [ts.SyntaxKind.SlashToken]: "div",
  [ts.SyntaxKind.AsteriskAsteriskToken]: "pow",
  [ts.SyntaxKind.PercentToken]: "mod",
};

const COMPARISON: Partial<Record<TS.SyntaxKind, CompareOp>> = {
  [ts.SyntaxKind.LessThanToken]: "lt",
  [ts.SyntaxKind.LessThanEqualsToken]: "le",
  [ts.SyntaxKind.GreaterThanToken]: "gt",
  [ts.SyntaxKind.GreaterThanEqualsToken]: "ge",
  [ts.SyntaxKind.EqualsEqualsEqualsToken]: "eq",
  [ts.SyntaxKind.EqualsEqualsToken]: "eq",
  [ts.SyntaxKind.ExclamationEqualsEqualsToken]: "ne",
  [ts.SyntaxKind.ExclamationEqualsToken]: "ne",
};

export function lowerExpr(cx: Lowering, e: TS.Expression, env: Env, vname?: string): Value {
  // parentheses, casts and `!` first, without recursion
  while (ts.isParenthesizedExpression(e) || ts.isAsExpression(e) || ts.isNonNullExpression(e) ||
    ts.isSatisfiesExpression(e) || ts.isTypeAssertionExpression(e)) e = e.expression;
  if (ts.isNumericLiteral(e)) return cx.constant(Number(e.text.replace(/_/g, "")));
  if (ts.isIdentifier(e)) return read(cx, e, env);
  if (ts.isPrefixUnaryExpression(e)) {
    switch (e.operator) {
      case ts.SyntaxKind.MinusToken:
        return cx.emit("neg", [lowerExpr(cx, e.operand, env)], {}, e, vname);
      case ts.SyntaxKind.PlusToken:
        return lowerExpr(cx, e.operand, env, vname);
      case ts.SyntaxKind.ExclamationToken:
        return cx.emit("not", [lowerCondition(cx, e.operand, env)], {}, e, vname);
      default:
        return cx.fail(e, "ADG1003", `The operator '${ts.tokenToString(e.operator)}' is not supported in an expression.`,
          "Increment and decrement only as statements: i++; or x += 1;.");
    }
  }
  if (ts.isPostfixUnaryExpression(e)) {
    return cx.fail(e, "ADG1003", "Increment and decrement are supported only as statements.", "Write x += 1; on its own line.");
  }
  if (ts.isBinaryExpression(e)) return lowerBinary(cx, e, env, vname);
  if (ts.isConditionalExpression(e)) return lowerConditional(cx, e, env, vname);
  if (ts.isCallExpression(e)) return lowerCall(cx, e, env, vname);
  if (ts.isElementAccessExpression(e)) {
    const { base, indices } = indexChain(e);
    const t = lowerExpr(cx, base, env);
    const idx = indexValues(cx, indices, t, env);
    const r = cx.emit("index", [t, ...idx], {}, e, vname);
    cx.sites.set(r.id, { tensor: base, indices });
    if (r.type.kind === "tensor") cx.aliases.view(r, t);
    return r;
  }
  if (ts.isPropertyAccessExpression(e)) {
    if (ts.isIdentifier(e.expression) && e.expression.text === "Number" && isGlobalMath(cx, e.expression)) {
      const c = NUMBER_CONSTANTS[e.name.text];
      if (c !== undefined) return cx.constant(c);
      return cx.fail(e, "ADG1004", `Number.${e.name.text} is not supported here.`,
        `The DSL reads Number's constants: ${Object.keys(NUMBER_CONSTANTS).map((k) => `Number.${k}`).join(", ")}.`);
    }
    if (ts.isIdentifier(e.expression) && e.expression.text === "Math" && isGlobalMath(cx, e.expression)) {
      const c = MATH_CONSTANTS[e.name.text];
      if (c !== undefined) return cx.constant(c);
      return cx.fail(e, "ADG1004", `Math.${e.name.text} is not supported here.`, "Call Math functions, e.g. Math.exp(x).");
    }
    const obj = lowerExpr(cx, e.expression, env);
    if (obj.type.kind === "tensor" && e.name.text === "length") return cx.sizeValue(obj.type.shape[0]!);
    return cx.fail(e.name, "ADG1015", `The property '${e.name.text}' is not supported.`,
      obj.type.kind === "tensor" ? "Tensors support indexing and .length only." : "Numbers have no properties in the DSL.");
  }
  if (ts.isArrayLiteralExpression(e)) return lowerPack(cx, e, env, vname);
  return unsupported(cx, e);
}

function unsupported(cx: Lowering, e: TS.Expression): never {
  if (e.kind === ts.SyntaxKind.TrueKeyword || e.kind === ts.SyntaxKind.FalseKeyword) {
    return cx.fail(e, "ADG1003", "Boolean values are supported only as conditions.", "Write the comparison inside the if or ?: condition.");
  }
  if (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e) || ts.isTemplateExpression(e)) {
    return cx.fail(e, "ADG1003", "Strings are not supported.", "The DSL computes with numbers and tensors only.");
  }
  if (ts.isObjectLiteralExpression(e)) {
    return cx.fail(e, "ADG1003", "Object literals are supported only as options of conv2d and the pooling layers.", "Compute with numbers and tensors.");
  }
  if (ts.isArrowFunction(e) || ts.isFunctionExpression(e)) {
    return cx.fail(e, "ADG1022", "Functions created at run time (closures) are not supported.", "Declare a helper function at the top level of the file.");
  }
  if (ts.isNewExpression(e)) return cx.fail(e, "ADG1003", "`new` is not supported.", "Create tensors with zeros([...]).");
  if (ts.isAwaitExpression(e)) return cx.fail(e, "ADG1003", "await is not supported.", "DSL functions are synchronous.");
  return cx.fail(e, "ADG1003", `Unsupported expression: ${kindName(e)}.`, "The DSL supports arithmetic, comparisons, Math functions, calls, indexing and ?:.");
}

export function lowerCondition(cx: Lowering, e: TS.Expression, env: Env): Value {
  const v = lowerExpr(cx, e, env);
  if (v.type.kind !== "bool") {
    return cx.fail(e, "ADG1003", "A condition must be a comparison (x > 0) or a combination of comparisons with && || !.",
      "Compare explicitly, e.g. x !== 0.");
  }
  return v;
}

function lowerConditional(cx: Lowering, e: TS.ConditionalExpression, env: Env, vname?: string): Value {
  const cond = lowerCondition(cx, e.condition, env);
  const fixed = cx.staticBool(cond);
  if (fixed !== undefined) return lowerExpr(cx, fixed ? e.whenTrue : e.whenFalse, env, vname);
  let tv: Value | undefined;
  let fv: Value | undefined;
  const thenInstrs = cx.b.block(() => void (tv = lowerExpr(cx, e.whenTrue, new Map(env))));
  const elseInstrs = cx.b.block(() => void (fv = lowerExpr(cx, e.whenFalse, new Map(env))));
  if (!typeEquals(tv!.type, fv!.type)) {
    return cx.fail(e, "ADG1008", `The two sides of ?: have types ${showType(tv!.type)} and ${showType(fv!.type)}.`,
      "Both sides must be numbers, or tensors of one shape.");
  }
  const r = cx.b.value(tv!.type, vname);
  cx.aliases.merge(r, [tv!, fv!]);
  cx.b.push(makeIf([r], cond, makeBlock([], thenInstrs, [tv!]), makeBlock([], elseInstrs, [fv!]), cx.src.locOf(e)));
  return r;
}

function lowerBinary(cx: Lowering, e: TS.BinaryExpression, env: Env, vname?: string): Value {
  const k = e.operatorToken.kind;
  if (ARITHMETIC[k]) {
    // a left-deep chain (a + b - c + ...) is walked down its left side without recursion:
    // a sum of thousands of terms nests as deep as it is long
    const spine: TS.BinaryExpression[] = [];
    let cur: TS.Expression = e;
    while (ts.isBinaryExpression(cur) && ARITHMETIC[cur.operatorToken.kind]) {
      spine.push(cur);
      cur = cur.left;
      while (ts.isParenthesizedExpression(cur)) cur = cur.expression;
    }
    const operand = (v: Value, side: TS.Expression, op: TS.SyntaxKind): Value => {
      if (v.type.kind !== "f64") {
        cx.fail(side, "ADG1003", `The operator '${ts.tokenToString(op)}' takes numbers; this operand is a ${v.type.kind === "bool" ? "condition" : "tensor"}.`,
          v.type.kind === "tensor" ? "Use add, sub, mul or div from \"adgen\" for tensors." : "Use ?: to choose a number.");
      }
      return v;
    };
    let acc = lowerExpr(cx, cur, env);
    for (let n = spine.length - 1; n >= 0; n--) {
      const node = spine[n]!;
      const op = node.operatorToken.kind;
      const right = lowerExpr(cx, node.right, env);
      operand(acc, n === spine.length - 1 ? cur : node.left, op);
      operand(right, node.right, op);
      acc = cx.emit(ARITHMETIC[op]!, [acc, right], {}, node, n === 0 ? vname : undefined);
    }
    return acc;
  }
  const cmp = COMPARISON[k];
  if (cmp) {
    const a = lowerExpr(cx, e.left, env);
    const c = lowerExpr(cx, e.right, env);
    if (a.type.kind !== "f64" || c.type.kind !== "f64") {
      return cx.fail(e, "ADG1003", "Comparisons take two numbers.", "Compare tensor elements, e.g. x[i] > 0.");
    }
    return cx.emit(cmp, [a, c], {}, e, vname);
  }
  if (k === ts.SyntaxKind.AmpersandAmpersandToken || k === ts.SyntaxKind.BarBarToken) {
    const a = lowerCondition(cx, e.left, env);
    const c = lowerCondition(cx, e.right, env);
    return cx.emit(k === ts.SyntaxKind.AmpersandAmpersandToken ? "and" : "or", [a, c], {}, e, vname);
  }
  if (k >= ts.SyntaxKind.FirstAssignment && k <= ts.SyntaxKind.LastAssignment) {
    return cx.fail(e, "ADG1003", "An assignment cannot be used as a value.", "Assign in a statement of its own.");
  }
  return cx.fail(e.operatorToken, "ADG1003", `The operator '${ts.tokenToString(k)}' is not supported.`,
    "The DSL supports + - * / ** on numbers, comparisons and && || !.");
}

/** x[i][j] -> x and [i, j]. */
export function indexChain(e: TS.ElementAccessExpression): { base: TS.Expression; indices: TS.Expression[] } {
  const indices: TS.Expression[] = [];
  let cur: TS.Expression = e;
  while (ts.isElementAccessExpression(cur)) {
    indices.unshift(cur.argumentExpression);
    cur = skipParens(cur.expression);
  }
  return { base: cur, indices };
}

/** The index values of `tensor[i][j]...` (their ranges are checked by indexRanges.ts). */
export function indexValues(cx: Lowering, indices: readonly TS.Expression[], tensor: Value, env: Env): Value[] {
  if (tensor.type.kind !== "tensor") {
    return cx.fail(indices[0]!.parent, "ADG1003", "Only tensors can be indexed.", "This value is a number.");
  }
  const shape = tensor.type.shape;
  if (indices.length > shape.length) {
    return cx.fail(indices[shape.length]!.parent, "ADG1009",
      `Too many indices: a tensor of shape [${shape.join(", ")}] takes at most ${shape.length}.`, "Remove the extra index.");
  }
  return indices.map((ie) => {
    const v = lowerExpr(cx, ie, env);
    if (v.type.kind !== "f64") cx.fail(ie, "ADG1003", "An index must be a number.", "Index with a loop counter or an integer.");
    return v;
  });
}

export function read(cx: Lowering, id: TS.Identifier, env: Env): Value {
  const sym = cx.symbolOf(id);
  if (sym && env.has(sym)) {
    const v = env.get(sym);
    if (v === undefined) {
      return cx.fail(id, "ADG1017", `'${id.text}' is used before it is assigned.`, `Assign '${id.text}' on every path before this use.`);
    }
    return v;
  }
  const { constants, builtins, functions } = cx.scope;
  if (sym && constants.has(sym)) return cx.constant(constants.get(sym)!);
  if (sym && cx.arrays.has(sym)) return cx.arrays.get(sym)!;
  if (id.text === "Infinity") return cx.constant(Infinity);
  if (id.text === "NaN") return cx.constant(NaN);
  if (id.text === "undefined") return cx.fail(id, "ADG1003", "undefined is not a number.", "Use a number.");
  if (sym && (builtins.has(sym) || functions.has(sym))) {
    return cx.fail(id, "ADG1022", `'${id.text}' is a function; functions are not values in the DSL.`, "Call the function instead.");
  }
  return cx.fail(id, "ADG1024", `'${id.text}' is not a variable of this function.`,
    "DSL functions read their parameters, local variables and module-level numeric constants.");
}

/** A number known at compile time: a loop bound, a step, an option. */
export function requireStatic(cx: Lowering, e: TS.Expression, env: Env, what: string): number {
  const k = cx.known(lowerExpr(cx, e, env));
  if (k === undefined) {
    return cx.fail(e, "ADG1006", `${what} must be known at compile time.`,
      "Use literals, module-level constants or tensor dimensions (x.length).");
  }
  return k;
}

/**
 * A size: a positive integer known at compile time, or one known at run time that is a
 * sum of products of sizes (x.length, an integer parameter n, n - 1, 2 * n).
 */
export function requireSize(cx: Lowering, e: TS.Expression, env: Env, what: string): Dim {
  const v = lowerExpr(cx, e, env);
  const d = cx.dimOf(v);
  if (d === undefined) {
    return cx.fail(e, "ADG1006", `${what} must be a size: a constant, a tensor's length or an integer parameter.`,
      "Write zeros([n, 3]) or zeros([x.length]); sizes are sums and products of those.");
  }
  if (typeof d === "number" && (!Number.isInteger(d) || d < 1)) {
    cx.fail(e, "ADG1025", `A dimension must be a positive integer, got ${d}.`, "Dimensions are positive integers.");
  }
  return d;
}

export function requireInt(cx: Lowering, e: TS.Expression, env: Env, what: string): number {
  const k = requireStatic(cx, e, env, what);
  if (!Number.isInteger(k)) cx.fail(e, "ADG1006", `${what} must be an integer, got ${k}.`, "Loop bounds and steps are integers.");
  return k;
}

/**
 * An array literal of numbers, or of tensors of one shape (`[h, c]`, a helper's tuple), as
 * one tensor with a leading dimension of its length: stored element by element (or row by
 * row) into zeros, so gradients flow through the stores; `const [h, c] = ...` reads it back.
 */
export function lowerPack(cx: Lowering, e: TS.ArrayLiteralExpression, env: Env, vname?: string): Value {
  if (e.elements.length === 0) return cx.fail(e, "ADG1003", "An empty array is not a value.", "Create tensors with zeros([d0, d1]).");
  const spread = e.elements.find(ts.isSpreadElement);
  if (spread) return cx.fail(spread, "ADG1003", "Spread elements are not supported.", "List the values: [a, b].");
  const parts = e.elements.map((el) => lowerExpr(cx, el, env));
  const first = parts[0]!;
  parts.forEach((p, k) => {
    if (p.type.kind === "bool") cx.fail(e.elements[k]!, "ADG1003", "Boolean values are supported only as conditions.", "Pack numbers or tensors.");
    if (!typeEquals(p.type, first.type)) {
      cx.fail(e.elements[k]!, "ADG1008", `An array holds values of one type: this element is ${showType(p.type)}, the first ${showType(first.type)}.`,
        "Pack numbers, or tensors of one shape; return the others from another helper.");
    }
  });
  const shape = [parts.length, ...(first.type.kind === "tensor" ? first.type.shape : [])];
  let t = cx.emit("zeros", [], { shape }, e, vname);
  parts.forEach((p, k) => {
    const next = cx.emit("store", [t, cx.constant(k), p], {}, e.elements[k]!, vname);
    cx.aliases.write(next, t);
    t = next;
  });
  // in the file run as-is, the array holds the tensors themselves
  if (first.type.kind === "tensor") cx.aliases.merge(t, [t, ...parts]);
  return t;
}
