// A helper's own derivative rules (SPEC 6):
//
//   /** @vjp softplusVjp */
//   function softplus(x: number): number { return Math.log1p(Math.exp(x)); }
//   function softplusVjp(x: number, y: number, dy: number): number { return dy * sigmoid(x); }
//
// `@vjp r`: r(...inputs, y, dy) returns the inputs' adjoints (a number or a tensor shaped
// like the one input, or a tuple [dx1, dx2, ...] for several); `@jvp r`: r(...inputs, y,
// ...tangents) returns the output's tangent. At each call, the helper's body is inlined as
// usual and each rule is lowered, in a block of its own, to a closed function of those
// parameters (Func.rules); a `custom` instruction ties them to the body's value
// (ops/custom.ts). Reverse mode then inlines the VJP rule instead of differentiating the
// body; forward mode (fJvp, and the forward half of fHvp) the JVP rule. Without a @jvp,
// forward mode differentiates the body; without a @vjp, reverse mode does.

import ts, { type TS } from "./ts.js";
import { makeBlock } from "../ir/builder.js";
import { Func, Type, Value, ValueId, showType, tensorType, typeEquals } from "../ir/types.js";
import { forEachDefinition, forEachUse } from "../ir/walk.js";
import { showDim } from "../ir/dims.js";
import { Lowering } from "./context.js";
import { inlineBody } from "./calls.js";
import { Source } from "./source.js";

type Kind = "vjp" | "jvp";

interface RuleTag {
  readonly kind: Kind;
  readonly tag: TS.JSDocTag;
  readonly name: string;
}

/** The @vjp and @jvp tags of a function (at most one of each), checked for form. */
function ruleTags(src: Source, fn: TS.FunctionDeclaration): RuleTag[] {
  const out: RuleTag[] = [];
  for (const tag of ts.getJSDocTags(fn)) {
    const kind = tag.tagName.text;
    if (kind !== "vjp" && kind !== "jvp") continue;
    const name = (ts.getTextOfJSDocComment(tag.comment) ?? "").trim();
    const helper = fn.name!.text;
    if (!/^[A-Za-z_$][\w$]*$/.test(name)) {
      src.fail(tag, "ADG1027", name ? `@${kind} names '${name}', which is not a function name.` : `@${kind} on '${helper}' names no function.`,
        `Write /** @${kind} ${helper}${kind === "vjp" ? "Vjp" : "Jvp"} */ and declare that function in this file.`);
    }
    if (out.some((t) => t.kind === kind)) src.fail(tag, "ADG1027", `'${helper}' has two @${kind} tags.`, `Give '${helper}' one @${kind} rule.`);
    out.push({ kind, tag, name });
  }
  return out;
}

/** An exported entry point's derivative is adgen's to generate: a rule belongs on a helper. */
export function entryWithoutRules(src: Source, fn: TS.FunctionDeclaration): void {
  const [t] = ruleTags(src, fn);
  if (t) {
    src.fail(t.tag, "ADG1027", `@${t.kind} is on the entry point '${fn.name!.text}': a derivative rule belongs on a helper.`,
      `Move the body into a helper with the @${t.kind} tag (function ${fn.name!.text}Impl), and let the entry point return its call.`);
  }
}

/** `function r(x: number, y: number, dy: number): number`, the signature a rule needs (for hints). */
function wantedSignature(kind: Kind, rule: string, params: readonly string[], inputs: readonly Type[], y: Type): string {
  const ts_ = (t: Type) => (t.kind === "tensor" ? `Tensor<[${t.shape.map(showDim).join(", ")}]>` : "number");
  const ps = [...params.map((p, k) => `${p}: ${ts_(inputs[k]!)}`), `y: ${ts_(y)}`,
    ...(kind === "vjp" ? [`dy: ${ts_(y)}`] : params.map((p, k) => `d${p}: ${ts_(inputs[k]!)}`))];
  const ret = kind === "jvp" ? ts_(y) : inputs.length === 1 ? ts_(inputs[0]!) : `[${inputs.map(ts_).join(", ")}]`;
  return `function ${rule}(${ps.join(", ")}): ${ret}`;
}

/**
 * A helper call's value, tied to the helper's derivative rules when it has any: each rule
 * is lowered to a closed function (checked against the helper's inputs and output) and a
 * `custom` instruction names them.
 */
export function withRules(cx: Lowering, fnDecl: TS.FunctionDeclaration, inputs: readonly Value[], value: Value, call: TS.Node): Value {
  const tags = ruleTags(cx.src, fnDecl);
  if (tags.length === 0) return value;
  const helper = fnDecl.name!.text;
  const pnames = fnDecl.parameters.map((p) => (ts.isIdentifier(p.name) ? p.name.text : "x"));
  const attrs: { helper: string; vjp?: number; jvp?: number } = { helper };
  for (const t of tags) attrs[t.kind] = lowerRule(cx, t, fnDecl, pnames, inputs, value.type);
  return cx.emit("custom", [...inputs, value], attrs, call);
}

function lowerRule(cx: Lowering, t: RuleTag, fnDecl: TS.FunctionDeclaration, pnames: readonly string[], inputs: readonly Value[], y: Type): number {
  const { src } = cx;
  const helper = fnDecl.name!.text;
  const types = inputs.map((v) => v.type);
  const want = wantedSignature(t.kind, t.name, pnames, types, y);
  const ruleDecl = [...cx.scope.functions.values()].find((f) => f.name?.text === t.name);
  if (!ruleDecl || !ruleDecl.body) {
    return src.fail(t.tag, "ADG1027", `@${t.kind} names '${t.name}', which is not a function declared in this file.`, `Declare it: ${want}.`);
  }
  if (ruleDecl === fnDecl) return src.fail(t.tag, "ADG1027", `'${helper}' names itself as its own @${t.kind} rule.`, `Declare the rule as its own function: ${want}.`);
  const role = (k: number): string =>
    k < inputs.length ? `the input '${pnames[k]}' of '${helper}'`
    : k === inputs.length ? `the output of '${helper}'`
    : t.kind === "vjp" ? `the output's adjoint` : `the tangent of '${pnames[k - inputs.length - 1]}'`;
  const paramTypes: Type[] = [...types, y, ...(t.kind === "vjp" ? [y] : types)];
  if (ruleDecl.parameters.length !== paramTypes.length) {
    const what = t.kind === "vjp" ? `the inputs of '${helper}', its output and the output's adjoint` : `the inputs of '${helper}', its output and the inputs' tangents`;
    return src.fail(ruleDecl.name!, "ADG1027",
      `The @${t.kind} rule '${t.name}' of '${helper}' takes ${ruleDecl.parameters.length} parameter${ruleDecl.parameters.length === 1 ? "" : "s"}; it needs ${paramTypes.length}: ${what}.`,
      `Declare it as ${want}.`);
  }
  if (t.kind === "vjp" && inputs.length > 1 && !types.every((x) => typeEquals(x, types[0]!))) {
    return src.fail(t.tag, "ADG1027",
      `'${helper}' has inputs of different types (${types.map(showType).join(", ")}): a @vjp rule returns their adjoints as one tuple, which holds values of one type.`,
      "Give the rule to a helper whose inputs are all numbers or all tensors of one shape (split the helper), or let adgen differentiate this one.");
  }
  // the rule's parameters, and its body lowered in a block of its own
  const params = paramTypes.map((ty, k) => cx.b.value(ty, ruleDecl.parameters[k] && ts.isIdentifier(ruleDecl.parameters[k]!.name) ? (ruleDecl.parameters[k]!.name as TS.Identifier).text : undefined));
  let out: Value | undefined;
  const savedLoc = cx.b.loc;
  // (the helper stays on the call stack: a rule that calls it is recursion)
  cx.callStack.push(fnDecl);
  const instrs = cx.b.block(() => {
    out = inlineBody(cx, ruleDecl, params, (k) => ruleDecl.parameters[k] ?? t.tag, t.tag, (k, pname, got, wanted) =>
      src.fail(ruleDecl.parameters[k]!, "ADG1027",
        `Parameter '${pname}' of the @${t.kind} rule '${t.name}' has type ${showType(wanted)}, but ${role(k)} is ${showType(got)}.`,
        `Declare it as ${want}.`)).value;
  });
  cx.callStack.pop();
  cx.b.loc = savedLoc;
  const result = out!;
  const expected: Type = t.kind === "jvp" ? y
    : inputs.length === 1 ? types[0]!
    : types[0]!.kind === "tensor" ? tensorType([inputs.length, ...types[0]!.shape]) : tensorType([inputs.length]);
  if (!typeEquals(result.type, expected)) {
    const what = t.kind === "jvp" ? `the tangent of the output of '${helper}' (${showType(y)})`
      : inputs.length === 1 ? `the adjoint of '${pnames[0]}' (${showType(types[0]!)})`
      : `a tuple of the adjoints of ${pnames.map((p) => `'${p}'`).join(", ")}`;
    return src.fail(ruleDecl.type ?? ruleDecl.name!, "ADG1027", `The @${t.kind} rule '${t.name}' returns ${showType(result.type)}; it must return ${what}.`,
      `Declare it as ${want}.`);
  }
  const rule: Func = { name: t.name, body: makeBlock(params, instrs, [result]), loc: src.locOf(ruleDecl) };
  // closed: a rule reads only its parameters (the module's constant arrays live in the entry)
  const defined = new Set<ValueId>();
  forEachDefinition(rule.body, (v) => defined.add(v.id));
  let outside = false;
  forEachUse(rule.body, (v) => (outside ||= !defined.has(v.id)));
  if (outside) {
    return src.fail(ruleDecl.name!, "ADG1027", `The @${t.kind} rule '${t.name}' reads a module-level constant array.`,
      "Pass the array to the helper as a parameter, or write its values in the rule.");
  }
  cx.rules.push(rule);
  return cx.rules.length - 1;
}
