// `fJacobian(args..., out?)`: the dense Jacobian of an entry with respect to its
// differentiated parameters, row-major [value's size, Σ the parameters' sizes] (columns in
// parameter order, each parameter flattened), in `out` when given (a buffer you own: no
// allocation but the tape). By reverse mode, one backward pass per row over one tape, when
// the value has at most as many elements as the parameters; else by forward mode, one
// fJvp per column. An entry returning a number has the gradient as its one row.

import { createNameScope, propertyAccess, propertyKey } from "../names.js";
import { FormContext, jsType } from "./common.js";
import { bindSizes } from "./sizes.js";

export function emitJacobian(cx: FormContext): string[] {
  const { entry, grad, ex, arrayType } = cx;
  const names = createNameScope(cx.moduleNames);
  for (const r of ["value", "jacobian", "tape", "grads", "tangents", "tangent"]) names.reserve(r);
  const params = entry.params.map((p) => names.fresh(p.name));
  const arrays = entry.params.flatMap((p, k) => (p.type.kind === "tensor" ? [{ js: params[k]!, label: p.name, shape: p.type.shape }] : []));
  const integers = new Map((cx.primal.integers ?? []).map((n) => [n, params[entry.params.findIndex((p) => p.name === n)]!] as const));
  // (only for the signature: fForward and fJvp bind and check the sizes themselves)
  const sizes = bindSizes(cx, createNameScope(names), ex.jacobian!, arrays, integers);
  const sizesArg = sizes.param ? sizes.param.slice(0, sizes.param.indexOf(":")) : "";
  const out = names.fresh("out");
  const n = names.fresh("n");
  const at = names.fresh("at");
  const wrt = grad.wrt.map((w) => {
    const k = entry.params.findIndex((p) => p.name === w);
    return { key: propertyKey(w), name: w, js: params[k]!, scalar: entry.params[k]!.type.kind !== "tensor" };
  });
  const width = wrt.map((w) => (w.scalar ? "1" : `${w.js}.length`)).join(" + ") || "0";
  const call = [...params, ...(sizesArg ? [sizesArg] : [])].join(", ");
  const sig = [...entry.params.map((p, k) => `${params[k]}: ${jsType(p.type, arrayType)}`), ...(sizes.param ? [sizes.param] : []), `${out}?: ${arrayType}`];
  const valueType = jsType(entry.result, arrayType);
  const checkOut = (len: string): string[] => [
    `const jacobian = ${out} ?? new ${arrayType}(${len});`,
    `if (jacobian.length !== ${len}) throw new RangeError(\`${ex.jacobian}: out has \${jacobian.length} elements, the Jacobian \${${len}}\`);`,
  ];
  /** Writes one row (the gradients in grads) at offset `base`. */
  const writeRow = (base: string): string[] => [
    `let ${at} = ${base};`,
    ...wrt.flatMap((w) => {
      const g = propertyAccess("grads", w.name);
      return w.scalar ? [`jacobian[${at}++] = ${g};`] : [`jacobian.set(${g}, ${at});`, `${at} += ${g}.length;`];
    }),
  ];
  const lines = [
    `/** ${entry.name}'s Jacobian with respect to ${grad.wrt.join(", ") || "no parameter"}: row-major [value's size, ${grad.wrt.map((w) => `${w}'s size`).join(" + ") || "0"}], in out if given. */`,
    `export function ${ex.jacobian}(${sig.join(", ")}): { value: ${valueType}; jacobian: ${arrayType} } {`,
    `const ${n} = ${width};`,
  ];
  if (!grad.hasCotangent) {
    lines.push(`const { value, grads } = ${ex.grad}(${call});`, ...checkOut(n), ...writeRow("0"), "return { value, jacobian };", "}", "");
    return lines;
  }
  const m = names.fresh("m");
  const i = names.fresh("i");
  const j = names.fresh("j");
  const col = names.fresh("col");
  const cot = names.fresh("cotangent");
  lines.push(
    `const tape = ${ex.forward}(${call});`,
    `const ${m} = tape.value.length;`,
    ...checkOut(`${m} * ${n}`),
    `if (${m} <= ${n}) {`,
    "// by rows: one backward pass over the same tape per element of the value",
    `const ${cot} = new ${arrayType}(${m});`,
    `for (let ${i} = 0; ${i} < ${m}; ${i}++) {`,
    `${cot}.fill(0);`,
    `${cot}[${i}] = 1;`,
    `const grads = ${ex.backward}(tape, ${cot});`,
    ...writeRow(`${i} * ${n}`),
    "}",
    "} else {",
    "// by columns: one forward-mode pass per element of the parameters",
    `const tangents: ${ex.gradsType} = { ${wrt.map((w) => `${w.key}: ${w.scalar ? "0" : `new ${arrayType}(${w.js}.length)`}`).join(", ")} };`,
    `let ${col} = 0;`,
  );
  for (const w of wrt) {
    const column = (set: string, unset: string): string[] => [
      set,
      `const { tangent } = ${ex.jvp}(${[...params, "tangents", ...(sizesArg ? [sizesArg] : [])].join(", ")});`,
      unset,
      `for (let ${i} = 0; ${i} < ${m}; ${i}++) jacobian[${i} * ${n} + ${col}] = tangent[${i}];`,
      `${col}++;`,
    ];
    const tw = propertyAccess("tangents", w.name);
    if (w.scalar) lines.push("{", ...column(`${tw} = 1;`, `${tw} = 0;`), "}");
    else lines.push(`for (let ${j} = 0; ${j} < ${w.js}.length; ${j}++) {`, ...column(`${tw}[${j}] = 1;`, `${tw}[${j}] = 0;`), "}");
  }
  lines.push("}", "return { value: tape.value, jacobian };", "}", "");
  return lines;
}
