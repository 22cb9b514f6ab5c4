// A helper's own derivative rules (SPEC 6: `/** @vjp softplusVjp */`). The front end inlines
// the helper's body as it inlines every helper, then wraps the value it computed in a
// `custom` instruction naming the rules, lowered as closed functions beside the entry
// (Func.rules). Differentiation applies a rule where the derivative is needed: a rule of
// numbers only as a `call` of the plain function the generated module declares for it
// (SPEC 6), any other rule inlined (ir/inline.ts: applyRule); once it is done,
// passes/eraseCustom.ts replaces each `custom` by the body's value.

import { F64, showType, typeEquals } from "../ir/types.js";
import { OpDef } from "./op.js";

export const CUSTOM: OpDef<"custom"> = {
  doc: "a helper call with its own derivative rules",
  family: "structural",
  type: (args) => {
    const y = args[args.length - 1];
    return y && y.kind !== "bool" && y.kind !== "tape" ? y : "custom: the last argument is the helper's value";
  },
  vjp: (instr, dy, ctx) => {
    const { b } = ctx;
    const n = instr.args.length - 1;
    // no rule: the adjoint goes into the body, which reverse mode differentiates as usual
    if (instr.attrs.vjp === undefined) return ctx.add(n, dy);
    const g = ctx.rule(instr.attrs.vjp, [...instr.args.slice(0, n), instr.result, dy]);
    if (n === 1) return ctx.add(0, g);
    // several inputs: the rule's tuple, packed along a leading dimension
    for (let k = 0; k < n; k++) ctx.add(k, b.emit("index", [g, b.const(k)], {}));
  },
  jvp: (instr, t, ctx) => {
    const n = instr.args.length - 1;
    if (instr.attrs.jvp === undefined) return t[n];
    if (t.slice(0, n).every((x) => x === undefined)) return undefined;
    const inputs = instr.args.slice(0, n);
    const r = ctx.rule(instr.attrs.jvp, [...inputs, instr.result, ...inputs.map((x, k) => t[k] ?? ctx.zero(x))]);
    if (!typeEquals(r.type, instr.result.type)) throw new Error(`internal: the @jvp rule of ${instr.attrs.helper} yields the wrong type`);
    return r;
  },
  emit: "structural",
};

export const CALL: OpDef<"call"> = {
  doc: "a call of a derivative rule, declared in the module as a plain function",
  family: "structural",
  type: (args, attrs) => {
    const bad = args.find((t) => t.kind !== "f64");
    return bad ? `call ${attrs.name}: a rule called as a function takes numbers, not ${showType(bad)}` : F64;
  },
  // (reverse and forward mode emit calls; neither differentiates one: the HVP, forward mode
  // over the gradient, inlines them first, passes/inlineCalls.ts)
  vjp: "adjointOnly",
  jvp: (instr) => {
    throw new Error(`internal: forward mode met a call of ${instr.attrs.name}; inline calls first (passes/inlineCalls.ts)`);
  },
  emit: "structural",
};
