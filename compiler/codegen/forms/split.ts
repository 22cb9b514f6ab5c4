// The forward/backward split of the classic algorithm: `fForward` runs the forward pass and
// returns a tape (the value and the intermediate results the backward pass reads), and
// `fBackward` takes the tape (and the cotangent of a tensor-valued entry) and returns the
// gradients; `fGrad` (a number result) or `fVjp` (a tensor result) is the two in a row.

import { Value } from "../../ir/types.js";
import { savedValues } from "../../ad/savedValues.js";
import { createNameScope, propertyKey } from "../names.js";
import { FormContext, integerNames, jsType, lineComment, paramArrays, printerFor } from "./common.js";
import { Sizes, arrayCheck, bindSizes } from "./sizes.js";

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
  let sizes: Sizes | undefined;
  const pr = printerFor(cx, body, names, { keep: new Set([...saved.map((v) => v.id), value.id]), dimName: (s) => sizes!.dimName(s) });
  const params = body.params.slice(0, nPrimal).map((p) => {
    const n = names.fresh(p.name ?? "arg");
    pr.bind(p, n);
    return n;
  });
  const cot = grad.hasCotangent ? body.params[nPrimal]! : null;
  const cotName = cot ? names.fresh("cotangent") : "";
  if (cot) pr.bind(cot, cotName);
  grad.wrt.forEach((w, k) => pr.suggest(body.yields[k + 1]!, `d${w}`));
  const primalParams = body.params.slice(0, nPrimal);
  sizes = bindSizes(cx, names, ex.forward, paramArrays(primalParams, pr.nameOf), integerNames(cx, primalParams, pr.nameOf));
  const forwardLines = pr.print(0, grad.splitAt, lineComment(cx, ""));
  const backwardLines = pr.print(grad.splitAt, body.instrs.length, lineComment(cx, "adjoint of "), true);
  // one field per JavaScript variable (a reshape shares its source's variable)
  const byName = new Map<string, Value>();
  // (a value printed as a literal, a checked constant index, needs no field)
  for (const v of saved) if (!byName.has(pr.nameOf(v)) && !/^[\d(-]/.test(pr.nameOf(v))) byName.set(pr.nameOf(v), v);
  const valueName = pr.nameOf(value);
  const fields = [...byName.values()].filter((v) => pr.nameOf(v) !== valueName);
  // the sizes, for the backward pass's loops and buffers
  const sizeFields = sizes.all.map((s) => s.js).filter((n) => !byName.has(n));

  out.push(`/** What ${ex.forward} keeps for ${ex.backward}: the value and the intermediate results the backward pass reads. */`);
  out.push(`export interface ${ex.tapeType} {`, `readonly value: ${jsType(value.type, arrayType)};`);
  fields.forEach((v) => out.push(`readonly ${pr.nameOf(v)}: ${jsType(v.type, arrayType, cx.helpers)};`));
  sizeFields.forEach((n) => out.push(`readonly ${n}: number;`));
  out.push("}", "");
  out.push(`/** Gradients of ${entry.name}: one per differentiated parameter, shaped like it. */`, `export interface ${ex.gradsType} {`);
  grad.wrt.forEach((w) => out.push(`${typeKey(w)}: ${jsType(entry.params.find((q) => q.name === w)!.type, arrayType)};`));
  out.push("}", "");

  const sig = [...entry.params.map((p, k) => `${params[k]}: ${jsType(p.type, arrayType)}`), ...(sizes.param ? [sizes.param] : [])].join(", ");
  out.push(`/** The forward pass of ${entry.name}, keeping what ${ex.backward} needs. */`);
  out.push(`export function ${ex.forward}(${sig}): ${ex.tapeType} {`);
  out.push(...sizes.prologue, ...forwardLines);
  out.push(`return { value: ${pr.exported(value)}${[...fields.map((v) => pr.nameOf(v)), ...sizeFields].map((n) => `, ${n}`).join("")} };`, "}", "");

  out.push(`/** The backward pass of ${entry.name}: ${cot ? "the vector-Jacobian product with cotangent" : "the gradient"} from a tape of ${ex.forward}. */`);
  out.push(`export function ${ex.backward}(tape: ${ex.tapeType}${cot ? `, ${cotName}: ${arrayType}` : ""}): ${ex.gradsType} {`);
  // a stack is popped by the backward pass: each call pops its own copy, so that the tape can be used again
  const isStack = (n: string): boolean => byName.get(n)!.type.kind === "tape";
  const destructure = [...[...byName.keys()].filter((n) => !isStack(n)).map((n) => (n === valueName ? `value: ${n}` : n)), ...sizeFields];
  if (destructure.length) out.push(`const { ${destructure.join(", ")} } = tape;`);
  for (const n of [...byName.keys()].filter(isStack)) out.push(`const ${n}: ${cx.helpers.nameOf("Stack")} = { ...tape.${n} };`);
  if (cot) {
    out.push(...arrayCheck(cx, ex.backward, { js: cotName, label: cot.name ?? "cotangent", shape: cot.type.kind === "tensor" ? cot.type.shape : [] },
      (s) => sizes!.dimName(s), () => "the tape"));
  }
  out.push(...backwardLines);
  const gradsObj = grad.wrt.map((w, k) => `${propertyKey(w)}: ${pr.exported(body.yields[k + 1]!)}`).join(", ");
  out.push(`return { ${gradsObj} };`, "}", "");

  const sizesArg = sizes.param ? sizes.param.slice(0, sizes.param.indexOf(":")) : "";
  const callArgs = [...params, ...(sizesArg ? [sizesArg] : [])].join(", ");
  if (cot) {
    out.push(`/** ${entry.name}'s value and its vector-Jacobian product with cotangent (shaped like the value). */`);
    const vjpSig = [...entry.params.map((p, k) => `${params[k]}: ${jsType(p.type, arrayType)}`), `${cotName}: ${arrayType}`, ...(sizes.param ? [sizes.param] : [])];
    out.push(`export function ${ex.vjp}(${vjpSig.join(", ")}): { value: ${arrayType}; grads: ${ex.gradsType} } {`);
    out.push(`const tape = ${ex.forward}(${callArgs});`, `return { value: tape.value, grads: ${ex.backward}(tape, ${cotName}) };`, "}", "");
  } else {
    out.push(`/** ${entry.name}'s value and its gradient with respect to ${grad.wrt.length ? grad.wrt.join(", ") : "no parameter"}. */`);
    out.push(`export function ${ex.grad}(${sig}): { value: number; grads: ${ex.gradsType} } {`);
    out.push(`const tape = ${ex.forward}(${callArgs});`, `return { value: tape.value, grads: ${ex.backward}(tape) };`, "}", "");
  }
  return out;
}
