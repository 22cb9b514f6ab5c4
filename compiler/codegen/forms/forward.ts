// The forward function of an entry, `f(...)`, as written in the DSL file, and its
// allocation-free form `fInto(...)`, whose intermediate buffers come from a workspace
// allocated on the first call (a tensor result is written into the caller's `out`).

import { showType } from "../../ir/types.js";
import { createNameScope } from "../names.js";
import { FormContext, jsType, lineComment, printerFor, sizeCheck, sizeChecks } from "./common.js";

export function emitForward(cx: FormContext): string[] {
  const { entry, primal, ex, arrayType } = cx;
  const names = createNameScope(cx.moduleNames);
  const pr = printerFor(cx, primal.body, names, {});
  const params = primal.body.params.map((p) => {
    const n = names.fresh(p.name ?? "arg");
    pr.bind(p, n);
    return `${n}: ${jsType(p.type, arrayType)}`;
  });
  const body = pr.print(0, primal.body.instrs.length, lineComment(cx, ""));
  return [
    `/** ${entry.name} as written in ${cx.file}: ${showType(entry.result)} from ${entry.params.map((p) => `${p.name}: ${showType(p.type)}`).join(", ")}. */`,
    `export function ${ex.fn}(${params.join(", ")}): ${jsType(entry.result, arrayType)} {`,
    ...sizeChecks(cx, primal.body.params, pr.nameOf, entry.name),
    ...body,
    `return ${pr.exported(primal.body.yields[0]!)};`,
    "}",
    "",
  ];
}

export function emitForwardInto(cx: FormContext): string[] {
  const { entry, primal, ex, arrayType } = cx;
  const names = createNameScope(cx.moduleNames);
  const slotNames = createNameScope();
  const slots: { name: string; size: number }[] = [];
  const ws = names.fresh("ws");
  const result = primal.body.yields[0]!;
  const tensorOut = result.type.kind === "tensor";
  const outName = tensorOut ? names.fresh("out") : "";
  const pr = printerFor(cx, primal.body, names, {
    copyViews: true,
    workspace: {
      slot(size, hint) {
        const name = slotNames.fresh(hint);
        slots.push({ name, size });
        return `${ws}.${name}`;
      },
    },
  }, (plan) => {
    const s = plan.storage.get(result.id);
    if (tensorOut && s?.kind === "buffer" && !s.cls.targets && !s.cls.swapped) s.cls.output = outName;
  });
  const params = primal.body.params.map((p) => {
    const n = names.fresh(p.name ?? "arg");
    pr.bind(p, n);
    return `${n}: ${jsType(p.type, arrayType)}`;
  });
  const body = pr.print(0, primal.body.instrs.length, lineComment(cx, ""));
  const sig = [...params, ...(tensorOut ? [`${outName}: ${arrayType}`] : [])];
  const finish = tensorOut
    ? (pr.inOutput(result, outName) ? [] : [`${outName}.set(${pr.nameOf(result)});`])
    : [`return ${pr.nameOf(result)};`];
  return [
    ...(slots.length ? [
      `/** Buffers of ${ex.into}, allocated on its first call and reused by every later call. */`,
      `let ${ex.intoWorkspace}: { ${slots.map((s) => `${s.name}: ${arrayType}`).join("; ")} } | undefined;`,
      "",
    ] : []),
    tensorOut
      ? `/** Allocation-free ${ex.fn}: writes the value into out (a buffer you own). */`
      : `/** Allocation-free ${ex.fn}: returns the value without allocating after the first call. */`,
    `export function ${ex.into}(${sig.join(", ")}): ${tensorOut ? "void" : "number"} {`,
    ...sizeChecks(cx, primal.body.params, pr.nameOf, ex.into),
    ...(tensorOut ? [sizeCheck(cx, outName, `${ex.into}: out`, result.type.kind === "tensor" ? result.type.shape : [])] : []),
    ...(slots.length ? [`const ${ws} = (${ex.intoWorkspace} ??= { ${slots.map((s) => `${s.name}: new ${arrayType}(${s.size})`).join(", ")} });`] : []),
    ...body,
    ...finish,
    "}",
    "",
  ];
}
