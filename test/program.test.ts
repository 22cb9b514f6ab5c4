// The type check against the trimmed standard library (compiler/frontend/program.ts): the
// committed library is what dslLibGen.ts makes of the installed TypeScript; every example,
// fixture, GradBench model and fuzzer program checks against it alone; a file that needs more
// of the library, or has a type error, is checked again against the whole of lib.es2020, so
// that what the user sees is TypeScript's own verdict.

import { readFileSync, readdirSync, existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DSL_LIB } from "../compiler/frontend/dslLib.generated.js";
import { trimmedLib } from "../compiler/frontend/dslLibGen.js";
import { createCheckedProgram } from "../compiler/frontend/program.js";
import { compile } from "../compiler/pipeline.js";
import { generateProgram, printProgram } from "./fuzz/generator.js";

const root = join(import.meta.dirname, "..");
const models = ["examples", "test/fixtures", "test/fixtures-sizes", "gradbench"]
  .flatMap((dir) => (existsSync(join(root, dir)) ? readdirSync(join(root, dir)).map((d) => join(root, dir, d, "model.ts")) : []))
  .filter((f) => existsSync(f));

function checked(source: string) {
  return createCheckedProgram("/virtual/model.ts", source, "model.ts");
}

describe("type check against the trimmed library", () => {
  it("the committed library is what dslLibGen.ts makes of the installed TypeScript (rerun it after an upgrade)", () => {
    expect(DSL_LIB).toBe(trimmedLib());
    expect(DSL_LIB.length).toBeLessThan(60_000);
  });

  it.each(models.map((f) => [f.slice(root.length + 1), f]))("%s checks against the trimmed library alone", (_, file) => {
    const r = createCheckedProgram(file, readFileSync(file, "utf8"), file);
    expect(r.diagnostics).toEqual([]);
    expect(r.trimmedLib).toBe(true);
  });

  it("the fuzzer's programs check against the trimmed library alone", () => {
    for (let seed = 1; seed <= 60; seed++) {
      const r = checked(printProgram(generateProgram(seed)));
      expect(r.diagnostics, `seed ${seed}`).toEqual([]);
      expect(r.trimmedLib, `seed ${seed}`).toBe(true);
    }
  });

  it("a file using more of the library is checked again against all of it: TypeScript accepts it, adgen's lowering decides", async () => {
    const source = `export function f(x: number): number {\n  const m = new Map<number, number>();\n  return JSON.stringify(x).length + m.size;\n}\n`;
    const r = checked(source);
    expect(r.trimmedLib).toBe(false);
    expect(r.diagnostics).toEqual([]);
    const c = await compile(source, { fileName: "model.ts" });
    expect(c.diagnostics.length).toBeGreaterThan(0);
    expect(c.diagnostics.map((d) => d.code)).not.toContain("ADG1001");
  });

  it("a global type the trimmed library lacks (an async function's Promise) sends the file to the whole library", () => {
    const r = checked(`export async function f(x: number): Promise<number> {\n  return x;\n}\n`);
    expect(r.trimmedLib).toBe(false);
    expect(r.diagnostics).toEqual([]);
  });

  it("a type error is reported as the whole library reports it", () => {
    const r = checked(`export function f(x: number): number {\n  const s: string = x;\n  return Math.sin(x) + s.length;\n}\n`);
    expect(r.trimmedLib).toBe(false);
    expect(r.diagnostics).toHaveLength(1);
    expect(r.diagnostics[0]).toMatchObject({ code: "ADG1001", line: 2, col: 9 });
    expect(r.diagnostics[0]!.message).toMatch(/Type 'number' is not assignable to type 'string'. \(TS2322\)/);
  });
});
