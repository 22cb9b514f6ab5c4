// A helper's own derivative rules (SPEC 6: `/** @vjp softplusVjp */`). The front end inlines
// the helper's body as it inlines every helper, then wraps the value it computed in a
// `custom` instruction naming the rules, lowered as closed functions beside the entry
// (Func.rules). Differentiation inlines a rule where the derivative is needed; once it is
// done, passes/eraseCustom.ts replaces each `custom` by the body's value.

import { typeEquals } from "../ir/types.js";
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
