// The allocation-free gradient for training loops: `fGradInto(..., grads)` (or
// `fVjpInto(..., cotangent, out, grads)` for a tensor result) runs forward and backward in
// one function whose buffers come from a workspace allocated on the first call, and
// computes each tensor gradient straight into the caller's buffer where it can.

import { ValueId } from "../../ir/types.js";
import { createNameScope, propertyAccess } from "../names.js";
import { FormContext, Workspace, integerNames, jsType, lineComment, paramArrays, printerFor } from "./common.js";
import { Sizes, bindSizes } from "./sizes.js";

export function emitGradInto(cx: FormContext): string[] {
  const { entry, grad, ex, arrayType } = cx;
  const names = createNameScope(cx.moduleNames);
  const ws = new Workspace(cx, names.fresh("ws"));
  const body = grad.body;
  const nPrimal = entry.params.length;
  const gradsName = names.fresh("grads");
  const cot = grad.hasCotangent ? body.params[nPrimal]! : null;
  const value = body.yields[0]!;
  // each tensor gradient computed at the top level goes straight into the caller's buffer
  const outputs = new Map<ValueId, string>();
  grad.wrt.forEach((w, k) => {
    const g = body.yields[k + 1]!;
    if (g.type.kind === "tensor" && !outputs.has(g.id)) outputs.set(g.id, propertyAccess(gradsName, w));
  });
  const outName = cot ? names.fresh("out") : "";
  if (cot && !outputs.has(value.id)) outputs.set(value.id, outName);
  let sizes: Sizes | undefined;
  const pr = printerFor(cx, body, names, {
    copyViews: true,
    workspace: ws.settings,
    dimName: (s) => sizes!.dimName(s),
  }, (plan) => {
    for (const [id, target] of outputs) {
      const s = plan.storage.get(id);
      if (s?.kind !== "buffer" || s.cls.targets || s.cls.swapped || s.cls.output) continue;
      s.cls.output = target;
    }
  });
  const params = body.params.slice(0, nPrimal).map((p, k) => {
    const n = names.fresh(p.name ?? "arg");
    pr.bind(p, n);
    return `${n}: ${jsType(entry.params[k]!.type, arrayType)}`;
  });
  const cotName = cot ? names.fresh("cotangent") : "";
  if (cot) pr.bind(cot, cotName);
  grad.wrt.forEach((w, k) => pr.suggest(body.yields[k + 1]!, `d${w}`));
  const fname = cot ? ex.vjpInto : ex.gradInto;
  const primalParams = body.params.slice(0, nPrimal);
  const arrays = paramArrays(primalParams, pr.nameOf);
  if (cot) {
    arrays.push({ js: cotName, label: "cotangent", shape: cot.type.kind === "tensor" ? cot.type.shape : [] });
    arrays.push({ js: outName, label: "out", shape: value.type.kind === "tensor" ? value.type.shape : [] });
  }
  for (const w of grad.wrt) {
    const p = entry.params.find((q) => q.name === w)!;
    if (p.type.kind === "tensor") arrays.push({ js: propertyAccess(gradsName, w), label: `grads.${w}`, shape: p.type.shape });
  }
  sizes = bindSizes(cx, names, fname, arrays, integerNames(cx, primalParams, pr.nameOf));
  const sizeVars = sizes.all.map((s) => s.js);
  const lines = [
    ...pr.print(0, grad.splitAt, lineComment(cx, "")),
    ...pr.print(grad.splitAt, body.instrs.length, lineComment(cx, "adjoint of ")),
  ];
  const out: string[] = [];
  out.push(...ws.declaration(ex.workspace, fname, sizeVars));
  out.push(cot
    ? `/** Allocation-free ${ex.vjp} for training loops: writes the value into out and the vector-Jacobian product into grads (buffers you own). */`
    : `/** Allocation-free ${ex.grad} for training loops: writes every gradient into grads (buffers you own) and returns the value. */`);
  const sig = [
    ...params, ...(cot ? [`${cotName}: ${arrayType}`, `${outName}: ${arrayType}`] : []), `${gradsName}: ${ex.gradsType}`,
    ...(sizes.param ? [sizes.param] : []),
  ];
  out.push(`export function ${fname}(${sig.join(", ")}): ${cot ? "void" : "number"} {`);
  out.push(...sizes.prologue);
  out.push(...ws.binding(ex.workspace, sizeVars));
  out.push(...lines);
  grad.wrt.forEach((w, k) => {
    const g = body.yields[k + 1]!;
    const target = propertyAccess(gradsName, w);
    if (g.type.kind === "tensor") {
      if (!pr.inOutput(g, target)) out.push(`${target}.set(${pr.nameOf(g)});`);
    } else if (w === "__proto__") {
      // assigning obj["__proto__"] would set the prototype, not a property
      out.push(`Object.defineProperty(${gradsName}, "__proto__", { value: ${pr.nameOf(g)}, writable: true, enumerable: true, configurable: true });`);
    } else out.push(`${target} = ${pr.nameOf(g)};`);
  });
  if (cot) {
    if (!pr.inOutput(value, outName)) out.push(`${outName}.set(${pr.nameOf(value)});`);
    out.push("}", "");
  } else out.push(`return ${pr.nameOf(value)};`, "}", "");
  return out;
}
