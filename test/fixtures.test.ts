// Golden files per fixture: the lowered IR, the reverse-mode and forward-mode IR after
// simplification and the generated module, compared with file snapshots (accept changes with `vitest -u`).
// The generated code is then executed: simplifier on and off must agree.

import { literalSize } from "../compiler/ir/types.js";
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { compile } from "../compiler/pipeline.js";
import { compileOrThrow, importCode, maxRelErr, rng } from "./helpers.js";

const FIXTURES = new URL("./fixtures/", import.meta.url);
const names = readdirSync(FIXTURES, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();

describe.each(names)("fixture %s", (name) => {
  const dir = new URL(`${name}/`, FIXTURES);
  const source = readFileSync(new URL("model.ts", dir), "utf8");

  it("matches its golden IR and generated code", async () => {
    const r = await compileOrThrow(source, { fileName: "model.ts" });
    await expect(r.ir).toMatchFileSnapshot(new URL("lowered.ir", dir).pathname);
    await expect(r.adjointIr).toMatchFileSnapshot(new URL("adjoint.ir", dir).pathname);
    await expect(r.jvpIr).toMatchFileSnapshot(new URL("jvp.ir", dir).pathname);
    await expect(r.code).toMatchFileSnapshot(new URL("generated.ts", dir).pathname);
  });

  it("gives the same values and gradients with the simplifier on and off", async () => {
    const on = await compileOrThrow(source, { fileName: "model.ts" });
    const off = await compile(source, { fileName: "model.ts", simplify: false });
    expect(off.diagnostics).toEqual([]);
    const a = await importCode<Record<string, any>>(on.code!);
    const b = await importCode<Record<string, any>>(off.code!);
    const random = rng(7);
    for (const entry of on.entries.map((e) => e.entry)) {
      const args = entry.params.map((p) =>
        p.type.kind === "tensor" ? Float64Array.from({ length: literalSize(p.type.shape) }, () => random() * 2 - 0.5)
          : p.name === "label" ? 1 : random() + 1.5, // (a class label is a class index)
      );
      const cot = entry.result.kind === "tensor" ? [Float64Array.from({ length: literalSize(entry.result.shape) }, () => random() - 0.5)] : [];
      const call = (m: Record<string, any>) => (cot.length ? m[`${entry.name}Vjp`](...args, ...cot) : m[`${entry.name}Grad`](...args));
      const ra = call(a);
      const rb = call(b);
      expect(maxRelErr(ra.value, rb.value)).toBeLessThanOrEqual(1e-12);
      expect(Object.keys(ra.grads)).toEqual(Object.keys(rb.grads));
      for (const k of Object.keys(ra.grads)) expect(maxRelErr(ra.grads[k], rb.grads[k]), k).toBeLessThanOrEqual(1e-12);
    }
  });
});

it("every golden module type-checks under tsc --strict and imports nothing", async () => {
  const ts = (await import("typescript")).default;
  const files = names.map((n) => new URL(`${n}/generated.ts`, FIXTURES).pathname);
  for (const f of files) expect(readFileSync(f, "utf8")).not.toMatch(/^\s*import\s/m);
  const program = ts.createProgram(files, {
    strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext,
    lib: ["lib.es2022.d.ts"], types: [], noUnusedParameters: false, skipLibCheck: true,
  });
  const diags = ts.getPreEmitDiagnostics(program).map((d) => `${d.file?.fileName}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`);
  expect(diags).toEqual([]);
}, 60_000);
