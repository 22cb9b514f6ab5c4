// Forward mode's forms: `fJvp(args..., tangents)` returns `{ value, tangent }`, the
// Jacobian-vector product in one forward pass; `fHvp(args..., direction)` (entries that
// return a number) returns `{ value, grads, hvp }`, the gradient and the Hessian-vector
// product, forward mode over the gradient. The tangents (and the direction) are keyed and
// shaped as the gradients are; a tangent's variable is its primal's with a `d` after it
// (Tapenade's convention: x, xd).

import { Func, Value } from "../../ir/types.js";
import { createNameScope, propertyKey } from "../names.js";
import { FormContext, integerNames, jsType, lineComment, paramArrays, printerFor } from "./common.js";
import { Sizes, SizedArray, bindSizes } from "./sizes.js";

export function emitJvp(cx: FormContext, fn: Func, kind: "jvp" | "hvp"): string[] {
  const { entry, grad, ex, arrayType } = cx;
  const names = createNameScope(cx.moduleNames);
  for (const r of ["value", "tangent", "grads", "hvp"]) names.reserve(r);
  const body = fn.body;
  const nPrimal = entry.params.length;
  let sizes: Sizes | undefined;
  const pr = printerFor(cx, body, names, { dimName: (s) => sizes!.dimName(s) });
  const params = body.params.slice(0, nPrimal).map((p) => {
    const n = names.fresh(p.name ?? "arg");
    pr.bind(p, n);
    return n;
  });
  const tangentsName = names.fresh(kind === "jvp" ? "tangents" : "direction");
  const tangentParams = body.params.slice(nPrimal);
  const tangentNames = tangentParams.map((t, k) => {
    const n = names.fresh(`${grad.wrt[k]!}d`);
    pr.bind(t, n);
    return n;
  });
  const primalParams = body.params.slice(0, nPrimal);
  const arrays: SizedArray[] = [
    ...paramArrays(primalParams, pr.nameOf),
    ...tangentParams.flatMap((t, k) => (t.type.kind === "tensor" ? [{ js: tangentNames[k]!, label: `${tangentsName}.${grad.wrt[k]!}`, shape: t.type.shape }] : [])),
  ];
  sizes = bindSizes(cx, names, kind === "jvp" ? ex.jvp! : ex.hvp!, arrays, integerNames(cx, primalParams, pr.nameOf));
  const lines = pr.print(0, body.instrs.length, lineComment(cx, ""));
  const sig = [
    ...entry.params.map((p, k) => `${params[k]}: ${jsType(p.type, arrayType)}`), `${tangentsName}: ${ex.gradsType}`,
    ...(sizes.param ? [sizes.param] : []),
  ];
  const unpack = grad.wrt.length
    ? [`const { ${grad.wrt.map((w, k) => `${propertyKey(w)}: ${tangentNames[k]}`).join(", ")} } = ${tangentsName};`]
    : [];
  const ys = body.yields;
  const keyed = (vs: readonly Value[]): string => `{ ${grad.wrt.map((w, k) => `${propertyKey(w)}: ${pr.exported(vs[k]!)}`).join(", ")} }`;
  if (kind === "jvp") {
    const t = jsType(entry.result, arrayType);
    return [
      `/** ${entry.name}'s value and its Jacobian-vector product with tangents (one per differentiated parameter, shaped like it), by forward mode. */`,
      `export function ${ex.jvp}(${sig.join(", ")}): { value: ${t}; tangent: ${t} } {`,
      ...unpack, ...sizes.prologue, ...lines,
      `return { value: ${pr.exported(ys[0]!)}, tangent: ${pr.exported(ys[1]!)} };`,
      "}",
      "",
    ];
  }
  const n = grad.wrt.length;
  return [
    `/** ${entry.name}'s value, its gradient and the Hessian-vector product with direction (shaped like the gradient), forward over reverse. */`,
    `export function ${ex.hvp}(${sig.join(", ")}): { value: number; grads: ${ex.gradsType}; hvp: ${ex.gradsType} } {`,
    ...unpack, ...sizes.prologue, ...lines,
    `return { value: ${pr.exported(ys[0]!)}, grads: ${keyed(ys.slice(1, 1 + n))}, hvp: ${keyed(ys.slice(1 + n, 1 + 2 * n))} };`,
    "}",
    "",
  ];
}
