// A derivative rule of numbers (SPEC 6: `/** @vjp softplusVjp */` on a helper), declared in
// the generated module as the plain function the user wrote, which the gradient and JVP
// code call where the helper's derivative is needed.

import { Func } from "../../ir/types.js";
import { createNameScope } from "../names.js";
import { FormContext, lineComment, printerFor } from "./common.js";

export function emitRule(cx: FormContext, rule: Func, js: string): string[] {
  const names = createNameScope(cx.moduleNames);
  const pr = printerFor(cx, rule.body, names, {});
  const params = rule.body.params.map((p) => {
    const n = names.fresh(p.name ?? "arg");
    pr.bind(p, n);
    return `${n}: number`;
  });
  const body = pr.print(0, rule.body.instrs.length, lineComment(cx, ""));
  return [
    `/** ${rule.name} as written in ${cx.file}:${rule.loc.line}, the derivative rule of a helper. */`,
    `function ${js}(${params.join(", ")}): number {`,
    ...body,
    `return ${pr.exported(rule.body.yields[0]!)};`,
    "}",
    "",
  ];
}
