// Lowering one entry point: its parameters become the function's block parameters, its
// body is lowered statement by statement (helpers inlined), and the value it returns is
// the function's result.

import ts, { type TS } from "./ts.js";
import { makeBlock } from "../ir/builder.js";
import { Func, Loc, Type, Value, showType, typeEquals } from "../ir/types.js";
import { Env, IndexSite, Lowering } from "./context.js";
import { ModuleScope } from "./moduleScope.js";
import { EntryParam, sizeParams, typeFromNode, wrtTag } from "./signatures.js";
import { Dim, sym } from "../ir/dims.js";
import { lowerStatements } from "./statements.js";
import { functionFrame } from "./loops.js";
import { entryWithoutRules } from "./customRules.js";

export interface LoweredEntry {
  readonly name: string;
  readonly params: readonly EntryParam[];
  readonly result: Type;
  /** Parameter names from a `@wrt` JSDoc tag, or null when there is none. */
  readonly wrt: readonly string[] | null;
  readonly func: Func;
  readonly loc: Loc;
  /** Where each index of the lowered IR was written (for indexRanges.ts). */
  readonly sites: ReadonlyMap<Value["id"], IndexSite>;
}

export function lowerEntry(scope: ModuleScope, fn: TS.FunctionDeclaration): LoweredEntry {
  const { src } = scope;
  const loc = src.locOf(fn);
  const cx = new Lowering(scope, fn, loc);
  const name = fn.name!.text;
  entryWithoutRules(src, fn);
  const env: Env = new Map();
  const params: EntryParam[] = [];
  const paramValues: Value[] = [];
  // the entry's type parameters are its size symbols: N in Tensor<[N, 784]>
  const sizes = sizeParams(src, fn).map((tp) => tp.name.text);
  const dims = new Map<TS.Symbol, Dim>(sizeParams(src, fn).map((tp) => [cx.symbolOf(tp.name)!, sym(tp.name.text)]));
  for (const p of fn.parameters) {
    if (!ts.isIdentifier(p.name)) src.fail(p, "ADG1010", "Destructured parameters are not supported.", "Take each input as its own parameter.");
    if (p.dotDotDotToken) src.fail(p, "ADG1010", "Rest parameters are not supported.", "Take each input as its own parameter.");
    if (p.questionToken || p.initializer) src.fail(p, "ADG1010", "Entry point parameters cannot be optional.", "Every input of an entry point is required.");
    const pname = (p.name as TS.Identifier).text;
    const type = typeFromNode(src, scope.tensorTypes, p.type, `Parameter '${pname}'`, p, "ADG1010", dims);
    if (type.kind === "f64" && sizes.includes(pname)) {
      src.fail(p, "ADG1020", `The parameter '${pname}' has the name of a size of '${name}'.`, "Rename the parameter or the type parameter.");
    }
    const v = cx.b.value(type, pname);
    // a number parameter may be used as a size (zeros([n, 3])): it is the size symbol n
    if (type.kind === "f64") cx.setDim(v, sym(pname));
    cx.aliases.addParam(v);
    paramValues.push(v);
    params.push({ name: pname, type });
    env.set(cx.symbolOf(p.name)!, v);
  }
  const declared = fn.type ? typeFromNode(src, scope.tensorTypes, fn.type, `The return type of '${name}'`, fn.type, "ADG1011", dims) : null;

  // the module's constant arrays, as tensors filled at the top (unused ones are dead code)
  for (const [sym, arr] of scope.arrays) {
    let t = cx.emit("zeros", [], { shape: arr.shape }, arr.node, arr.name);
    arr.values.forEach((v, k) => {
      if (v === 0) return;
      const idx: number[] = [];
      for (let d = arr.shape.length - 1, r = k; d >= 0; d--) {
        idx.unshift(r % arr.shape[d]!);
        r = Math.floor(r / arr.shape[d]!);
      }
      t = cx.emit("store", [t, ...idx.map((i) => cx.constant(i)), cx.constant(v)], {}, arr.node, arr.name);
    });
    cx.arrays.set(sym, t);
  }
  cx.frames.push(functionFrame(cx, fn, declared));
  const result = lowerStatements(cx, fn.body!.statements, env);
  if (!result) return src.fail(fn.name!, "ADG1012", `'${name}' does not return a value on every path.`, "End the function with a return statement.");
  if (result.type.kind === "bool") src.fail(fn.name!, "ADG1011", `'${name}' returns a boolean.`, "An entry point returns a number or a tensor.");
  if (declared && !typeEquals(declared, result.type)) {
    src.fail(fn.type!, "ADG1008", `'${name}' returns ${showType(result.type)}, but its return type says ${showType(declared)}.`, "Fix the declared shape.");
  }
  const wrt = wrtTag(src, fn, params);
  const func: Func = {
    name, ...(sizes.length ? { sizes } : {}), body: makeBlock(paramValues, cx.b.root(), [result]), loc,
    ...(cx.rules.length ? { rules: cx.rules } : {}),
  };
  return { name, params, result: result.type, wrt, func, loc, sites: cx.sites };
}
