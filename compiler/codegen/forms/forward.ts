// The forward function of an entry, `f(...)`, as written in the DSL file, and its
// allocation-free form `fInto(...)`, whose intermediate buffers come from a workspace
// allocated on the first call (a tensor result is written into the caller's `out`).

import { showType } from "../../ir/types.js";
import { createNameScope } from "../names.js";
import { FormContext, Workspace, integerNames, jsType, lineComment, paramArrays, printerFor } from "./common.js";
import { Sizes, bindSizes } from "./sizes.js";

export function emitForward(cx: FormContext): string[] {
  const { entry, primal, ex, arrayType } = cx;
  const names = createNameScope(cx.moduleNames);
  let sizes: Sizes | undefined;
  const pr = printerFor(cx, primal.body, names, { dimName: (s) => sizes!.dimName(s) });
  const params = primal.body.params.map((p) => {
    const n = names.fresh(p.name ?? "arg");
    pr.bind(p, n);
    return `${n}: ${jsType(p.type, arrayType)}`;
  });
  sizes = bindSizes(cx, names, entry.name, paramArrays(primal.body.params, pr.nameOf), integerNames(cx, primal.body.params, pr.nameOf));
  const body = pr.print(0, primal.body.instrs.length, lineComment(cx, ""));
  return [
    `/** ${entry.name} as written in ${cx.file}: ${showType(entry.result)} from ${entry.params.map((p) => `${p.name}: ${primal.integers?.includes(p.name) ? "integer" : showType(p.type)}`).join(", ")}. */`,
    `export function ${ex.fn}(${[...params, ...(sizes.param ? [sizes.param] : [])].join(", ")}): ${jsType(entry.result, arrayType)} {`,
    ...sizes.prologue,
    ...body,
    `return ${pr.exported(primal.body.yields[0]!)};`,
    "}",
    "",
  ];
}

export function emitForwardInto(cx: FormContext): string[] {
  const { entry, primal, ex, arrayType } = cx;
  const names = createNameScope(cx.moduleNames);
  const ws = new Workspace(cx, names.fresh("ws"));
  const result = primal.body.yields[0]!;
  const tensorOut = result.type.kind === "tensor";
  const outName = tensorOut ? names.fresh("out") : "";
  let sizes: Sizes | undefined;
  const pr = printerFor(cx, primal.body, names, {
    copyViews: true,
    workspace: ws.settings,
    dimName: (s) => sizes!.dimName(s),
  }, (plan) => {
    const s = plan.storage.get(result.id);
    if (tensorOut && s?.kind === "buffer" && !s.cls.targets && !s.cls.swapped) s.cls.output = outName;
  });
  const params = primal.body.params.map((p) => {
    const n = names.fresh(p.name ?? "arg");
    pr.bind(p, n);
    return `${n}: ${jsType(p.type, arrayType)}`;
  });
  const arrays = paramArrays(primal.body.params, pr.nameOf);
  if (tensorOut) arrays.push({ js: outName, label: "out", shape: result.type.kind === "tensor" ? result.type.shape : [] });
  sizes = bindSizes(cx, names, ex.into, arrays, integerNames(cx, primal.body.params, pr.nameOf));
  const sizeVars = sizes.all.map((s) => s.js);
  const body = pr.print(0, primal.body.instrs.length, lineComment(cx, ""));
  const sig = [...params, ...(tensorOut ? [`${outName}: ${arrayType}`] : []), ...(sizes.param ? [sizes.param] : [])];
  const finish = tensorOut
    ? (pr.inOutput(result, outName) ? [] : [`${outName}.set(${pr.nameOf(result)});`])
    : [`return ${pr.nameOf(result)};`];
  return [
    ...ws.declaration(ex.intoWorkspace, ex.into, sizeVars),
    tensorOut
      ? `/** Allocation-free ${ex.fn}: writes the value into out (a buffer you own). */`
      : `/** Allocation-free ${ex.fn}: returns the value without allocating after the first call. */`,
    `export function ${ex.into}(${sig.join(", ")}): ${tensorOut ? "void" : "number"} {`,
    ...sizes.prologue,
    ...ws.binding(ex.intoWorkspace, sizeVars),
    ...body,
    ...finish,
    "}",
    "",
  ];
}
