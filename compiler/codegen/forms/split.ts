// The forward/backward split of the classic algorithm: `fForward` runs the forward pass and
// returns a tape (the value and the intermediate results the backward pass reads), and
// `fBackward` takes the tape (and the cotangent of a tensor-valued entry) and returns the
// gradients; `fGrad` (a number result) or `fVjp` (a tensor result) is the two in a row.

import { Value } from "../../ir/types.js";
import { savedValues } from "../../ad/savedValues.js";
import { createNameScope, propertyKey } from "../names.js";
import { FormContext, jsType, lineComment, printerFor, sizeChecks } from "./common.js";

/** A property of an interface: quoted when it is not a plain identifier. */
function typeKey(name: string): string {
  return /^[\p{ID_Start}$_][\p{ID_Continue}$]*$/u.test(name) && name !== "__proto__" ? name : JSON.stringify(name);
}

export function emitSplit(cx: FormContext): string[] {
  const { entry, grad, ex, arrayType } = cx;
  const out: string[] = [];
  const names = createNameScope(cx.moduleNames);
  names.reserve("value");
  names.reserve("tape");
  const body = grad.body;
  const nPrimal = entry.params.length;
  const saved = savedValues(grad, nPrimal);
  const value = body.yields[0]!;
  const pr = printerFor(cx, body, names, { keep: new Set([...saved.map((v) => v.id), value.id]) });
  const params = body.params.slice(0, nPrimal).map((p) => {
    const n = names.fresh(p.name ?? "arg");
    pr.bind(p, n);
    return n;
  });
  const cot = grad.hasCotangent ? body.params[nPrimal]! : null;
  const cotName = cot ? names.fresh("cotangent") : "";
  if (cot) pr.bind(cot, cotName);
  grad.wrt.forEach((w, k) => pr.suggest(body.yields[k + 1]!, `d${w}`));
  const forwardLines = pr.print(0, grad.splitAt, lineComment(cx, ""));
  const backwardLines = pr.print(grad.splitAt, body.instrs.length, lineComment(cx, "adjoint of "), true);
  // one field per JavaScript variable (a reshape shares its source's variable)
  const byName = new Map<string, Value>();
  for (const v of saved) if (!byName.has(pr.nameOf(v))) byName.set(pr.nameOf(v), v);
  const valueName = pr.nameOf(value);
  const fields = [...byName.values()].filter((v) => pr.nameOf(v) !== valueName);

  out.push(`/** What ${ex.forward} keeps for ${ex.backward}: the value and the intermediate results the backward pass reads. */`);
  out.push(`export interface ${ex.tapeType} {`, `readonly value: ${jsType(value.type, arrayType)};`);
  fields.forEach((v) => out.push(`readonly ${pr.nameOf(v)}: ${jsType(v.type, arrayType)};`));
  out.push("}", "");
  out.push(`/** Gradients of ${entry.name}: one per differentiated parameter, shaped like it. */`, `export interface ${ex.gradsType} {`);
  grad.wrt.forEach((w) => out.push(`${typeKey(w)}: ${jsType(entry.params.find((q) => q.name === w)!.type, arrayType)};`));
  out.push("}", "");

  const sig = entry.params.map((p, k) => `${params[k]}: ${jsType(p.type, arrayType)}`).join(", ");
  out.push(`/** The forward pass of ${entry.name}, keeping what ${ex.backward} needs. */`);
  out.push(`export function ${ex.forward}(${sig}): ${ex.tapeType} {`);
  out.push(...sizeChecks(cx, body.params.slice(0, nPrimal), pr.nameOf, ex.forward), ...forwardLines);
  out.push(`return { value: ${pr.exported(value)}${fields.map((v) => `, ${pr.nameOf(v)}`).join("")} };`, "}", "");

  out.push(`/** The backward pass of ${entry.name}: ${cot ? "the vector-Jacobian product with cotangent" : "the gradient"} from a tape of ${ex.forward}. */`);
  out.push(`export function ${ex.backward}(tape: ${ex.tapeType}${cot ? `, ${cotName}: ${arrayType}` : ""}): ${ex.gradsType} {`);
  if (cot) out.push(...sizeChecks(cx, [cot], pr.nameOf, ex.backward));
  const destructure = [...byName.keys()].map((n) => (n === valueName ? `value: ${n}` : n));
  if (destructure.length) out.push(`const { ${destructure.join(", ")} } = tape;`);
  out.push(...backwardLines);
  const gradsObj = grad.wrt.map((w, k) => `${propertyKey(w)}: ${pr.exported(body.yields[k + 1]!)}`).join(", ");
  out.push(`return { ${gradsObj} };`, "}", "");

  const callArgs = params.join(", ");
  if (cot) {
    out.push(`/** ${entry.name}'s value and its vector-Jacobian product with cotangent (shaped like the value). */`);
    out.push(`export function ${ex.vjp}(${sig}, ${cotName}: ${arrayType}): { value: ${arrayType}; grads: ${ex.gradsType} } {`);
    out.push(`const tape = ${ex.forward}(${callArgs});`, `return { value: tape.value, grads: ${ex.backward}(tape, ${cotName}) };`, "}", "");
  } else {
    out.push(`/** ${entry.name}'s value and its gradient with respect to ${grad.wrt.length ? grad.wrt.join(", ") : "no parameter"}. */`);
    out.push(`export function ${ex.grad}(${sig}): { value: number; grads: ${ex.gradsType} } {`);
    out.push(`const tape = ${ex.forward}(${callArgs});`, `return { value: tape.value, grads: ${ex.backward}(tape) };`, "}", "");
  }
  return out;
}
