// Lowering calls: Math functions (from the op table), functions imported from "adgen"
// (builtins.ts) and helper functions of the file, which are inlined at the call.

import ts, { type TS } from "./ts.js";
import { SimpleOp, Type, Value, showType, typeEquals } from "../ir/types.js";
import { OPS } from "../ops/index.js";
import { lowerBuiltin } from "./builtins.js";
import { Env, Lowering } from "./context.js";
import { lowerExpr } from "./expressions.js";
import { DimBindings, dimNodes, dimParam, sizeParams, tensorNode, typeFromNode } from "./signatures.js";
import { Dim, dimEquals, showDim } from "../ir/dims.js";
import { skipParens } from "./source.js";
import { lowerStatements } from "./statements.js";
import { functionFrame } from "./loops.js";
import { BUILTIN_NAMES } from "./builtins.js";
import { withRules } from "./customRules.js";

/** Math.<name> -> the op computing it. */
const MATH_OPS: ReadonlyMap<string, SimpleOp> = new Map(
  Object.entries(OPS).flatMap(([op, def]) => (def.math ? [[def.math, op as SimpleOp] as const] : [])),
);
const VARIADIC = new Set(["hypot", "max", "min"]);
const NONDETERMINISTIC = new Set(["random"]);

/** Is `Math` the global Math (not a local variable of that name)? */
export function isGlobalMath(cx: Lowering, id: TS.Identifier): boolean {
  const sym = cx.symbolOf(id);
  return !sym || !!sym.declarations?.some((d) => d.getSourceFile().isDeclarationFile);
}

export function lowerCall(cx: Lowering, e: TS.CallExpression, env: Env, vname?: string): Value {
  if (e.arguments.some(ts.isSpreadElement)) return cx.fail(e, "ADG1003", "Spread arguments are not supported.", "Pass each argument explicitly.");
  const callee = skipParens(e.expression);
  if (ts.isPropertyAccessExpression(callee)) {
    const obj = callee.expression;
    const member = callee.name.text;
    if (ts.isIdentifier(obj) && obj.text === "Math" && isGlobalMath(cx, obj)) return lowerMath(cx, e, member, env, vname);
    if (ts.isIdentifier(obj) && ["Date", "performance", "crypto"].includes(obj.text)) {
      return cx.fail(e, "ADG1014", `${obj.text}.${member}() is not deterministic.`, "A differentiable function must give the same result for the same inputs.");
    }
    if (ts.isIdentifier(obj) && obj.text === "console") {
      return cx.fail(e, "ADG1003", "console output is not supported in DSL functions.", "Print results in the script that calls the generated module.");
    }
    return cx.fail(callee.name, "ADG1015", `The method '${member}' is not supported.`,
      "Array methods (push, map, reduce, ...) are not part of the DSL: use for loops over tensors made with zeros([...]).");
  }
  if (!ts.isIdentifier(callee)) {
    return cx.fail(callee, "ADG1004", "Only named functions can be called.", "Call a Math function, a function from \"adgen\" or a helper declared in this file.");
  }
  if (callee.text === "eval" || callee.text === "Function") return cx.fail(callee, "ADG1003", `${callee.text} is not supported.`, "Write the computation directly.");
  const sym = cx.symbolOf(callee);
  const builtin = sym && cx.scope.builtins.get(sym);
  if (builtin) return lowerBuiltin(cx, builtin, e, env, vname);
  const helper = sym && cx.scope.functions.get(sym);
  if (helper) return inlineHelper(cx, helper, e, env);
  return cx.fail(callee, "ADG1004", `Unknown function '${callee.text}'.`,
    `Call Math functions, functions imported from "adgen" (${BUILTIN_NAMES.slice(0, 6).join(", ")}, ...) or functions declared in this file.`);
}

function lowerMath(cx: Lowering, e: TS.CallExpression, member: string, env: Env, vname?: string): Value {
  if (NONDETERMINISTIC.has(member)) return cx.fail(e, "ADG1014", `Math.${member}() is not deterministic.`, "Pass random values in as parameters instead.");
  const op = MATH_OPS.get(member);
  if (!op) {
    return cx.fail(e, "ADG1004", `Math.${member} is not supported.`, `Supported: ${[...MATH_OPS.keys()].join(" ")}.`);
  }
  const args = e.arguments.map((a) => lowerExpr(cx, a, env));
  for (const [i, a] of args.entries()) {
    if (a.type.kind !== "f64") cx.fail(e.arguments[i]!, "ADG1025", `Math.${member} takes numbers.`, "Use the elementwise functions from \"adgen\" for tensors.");
  }
  if (VARIADIC.has(member)) {
    // Math.max(a, b, c) = max(max(a, b), c); Math.max() = -Infinity, as JavaScript
    if (args.length === 0) return cx.constant(member === "hypot" ? 0 : member === "max" ? -Infinity : Infinity);
    if (args.length === 1) return member === "hypot" ? cx.emit("abs", args, {}, e, vname) : args[0]!;
    let acc = args[0]!;
    for (let i = 1; i < args.length; i++) acc = cx.emit(op, [acc, args[i]!], {} as never, e, i === args.length - 1 ? vname : undefined);
    return acc;
  }
  const n = OPS[op].family === "unary" ? 1 : 2;
  if (args.length !== n) cx.fail(e, "ADG1025", `Math.${member} takes ${n} argument${n === 1 ? "" : "s"}, got ${args.length}.`, "Check the call.");
  return cx.emit(op, args, {} as never, e, vname);
}

/**
 * A generic helper's sizes, from its arguments: `M` of `h<M extends number>(x: Tensor<[M]>)`
 * is the first dimension of the argument x (a literal or the caller's size), the same in
 * every parameter that names it.
 */
function helperSizes(cx: Lowering, fnDecl: TS.FunctionDeclaration, at: (i: number) => TS.Node, args: readonly Value[]): DimBindings {
  const own = new Set(sizeParams(cx.src, fnDecl).map((tp) => cx.symbolOf(tp.name)!));
  const dims = new Map<TS.Symbol, Dim>();
  if (own.size === 0) return dims;
  const where = new Map<TS.Symbol, string>();
  fnDecl.parameters.forEach((p, i) => {
    const v = args[i];
    if (!v || v.type.kind !== "tensor" || !p.type || !ts.isIdentifier(p.name)) return;
    const t = tensorNode(cx.src, cx.scope.tensorTypes, p.type, `Parameter '${p.name.text}'`, p);
    if (t === "number") return;
    const els = dimNodes(cx.src, t, `Parameter '${p.name.text}'`);
    if (els.length !== v.type.shape.length) return; // (the parameter's type check names both shapes)
    els.forEach((el, d) => {
      const s = dimParam(cx.src, el);
      if (!s || !own.has(s)) return;
      const got = (v.type as { shape: readonly Dim[] }).shape[d]!;
      const have = dims.get(s);
      if (have === undefined) {
        dims.set(s, got);
        where.set(s, (p.name as TS.Identifier).text);
      } else if (!dimEquals(have, got)) {
        cx.fail(at(i), "ADG1008",
          `'${s.name}' of '${fnDecl.name!.text}' is ${showDim(have)} (from '${where.get(s)}') but ${showDim(got)} in '${(p.name as TS.Identifier).text}'.`,
          "Every parameter that names a size must agree on it.");
      }
    });
  });
  for (const tp of sizeParams(cx.src, fnDecl)) {
    if (!dims.has(cx.symbolOf(tp.name)!)) {
      cx.fail(tp, "ADG1010", `The size '${tp.name.text}' of '${fnDecl.name!.text}' is not the dimension of any parameter.`,
        `Name it in a parameter's shape, e.g. x: Tensor<[${tp.name.text}]>.`);
    }
  }
  return dims;
}

/** A helper call: its body inlined with its parameters bound to the arguments (and its own derivative rules, if it has any). */
function inlineHelper(cx: Lowering, fnDecl: TS.FunctionDeclaration, call: TS.CallExpression, env: Env): Value {
  const name = fnDecl.name!.text;
  const at = cx.callStack.indexOf(fnDecl);
  if (at >= 0) {
    const cycle = [...cx.callStack.slice(at), fnDecl].map((f) => f.name!.text);
    const caller = cx.callStack[cx.callStack.length - 1]!.name!.text;
    return cx.fail(call, "ADG1005", cycle.length === 2
      ? `'${name}' calls itself (recursion).`
      : `'${caller}' calls '${name}', which leads back to '${caller}' (recursion: ${cycle.join(" → ")}).`,
      "Write the recursion as a loop (for, while), carrying what each step needs.");
  }
  const args = call.arguments.map((a) => lowerExpr(cx, a, env));
  const { inputs, value } = inlineBody(cx, fnDecl, args, (i) => call.arguments[i] ?? call, call);
  return withRules(cx, fnDecl, inputs, value, call);
}

/** How inlineBody reports an argument whose type does not fit its parameter. */
export type Mismatch = (i: number, pname: string, got: Type, want: Type) => never;

/**
 * A helper's body, lowered in place with its parameters bound to `args` (missing ones take
 * their defaults). Returns the values bound to the parameters and the value it returns.
 */
export function inlineBody(
  cx: Lowering, fnDecl: TS.FunctionDeclaration, args: readonly Value[], argAt: (i: number) => TS.Node, call: TS.Node, mismatch?: Mismatch,
): { inputs: Value[]; value: Value } {
  const name = fnDecl.name!.text;
  const dims = helperSizes(cx, fnDecl, argAt, args);
  const calleeEnv: Env = new Map();
  const bound = new Map<TS.Symbol, Value>();
  const inputs: Value[] = [];
  const savedLoc = cx.b.loc;
  fnDecl.parameters.forEach((p, i) => {
    if (!ts.isIdentifier(p.name) || p.dotDotDotToken) cx.fail(p, "ADG1010", "Helper parameters must be plain names.", "Take each input as its own parameter.");
    const pname = (p.name as TS.Identifier).text;
    const want = typeFromNode(cx.src, cx.scope.tensorTypes, p.type, `Parameter '${pname}' of '${name}'`, p, "ADG1010", dims);
    let v = args[i];
    if (!v) {
      if (!p.initializer) return cx.fail(call, "ADG1025", `Missing argument '${pname}'.`, "Pass every argument.");
      v = lowerExpr(cx, p.initializer, calleeEnv);
    }
    if (!typeEquals(want, v.type)) {
      if (mismatch) mismatch(i, pname, v.type, want);
      cx.fail(argAt(i), "ADG1008", `Argument '${pname}' of '${name}' has type ${showType(v.type)}, expected ${showType(want)}.`,
        "Pass a value of the declared shape.");
    }
    // a helper's parameters are read-only, like an entry point's
    bound.set(cx.symbolOf(p.name)!, v);
    calleeEnv.set(cx.symbolOf(p.name)!, v);
    inputs.push(v);
  });
  if (args.length > fnDecl.parameters.length) {
    cx.fail(argAt(fnDecl.parameters.length), "ADG1025", `'${name}' takes ${fnDecl.parameters.length} argument${fnDecl.parameters.length === 1 ? "" : "s"}, got ${args.length}.`, "Check the call.");
  }
  const declared = fnDecl.type ? typeFromNode(cx.src, cx.scope.tensorTypes, fnDecl.type, `The return type of '${name}'`, fnDecl.type, "ADG1011", dims) : null;
  cx.callStack.push(fnDecl);
  cx.aliases.enterHelper(bound);
  cx.frames.push(functionFrame(cx, fnDecl, declared));
  const ret = lowerStatements(cx, fnDecl.body!.statements, calleeEnv);
  cx.frames.pop();
  cx.aliases.leaveHelper();
  cx.callStack.pop();
  cx.b.loc = savedLoc;
  if (!ret) return cx.fail(fnDecl.name!, "ADG1012", `'${name}' does not return a value on every path.`, "End the function with a return statement.");
  if (declared) {
    const want = declared;
    if (!typeEquals(want, ret.type)) {
      cx.fail(fnDecl.type!, "ADG1008", `'${name}' returns ${showType(ret.type)}, but its return type says ${showType(want)}.`, "Fix the declared shape.");
    }
  }
  return { inputs, value: ret };
}
