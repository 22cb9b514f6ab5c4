// Programs of ordinary but large sizes compile (no stack overflow, no quadratic blow-up):
// long straight-line code, long sums, deep nesting of ifs, parentheses and calls. The
// compiled compiler (dist/) is used, since deeply nested files compile on a worker thread
// with a large stack (compiler/deepStack.ts), which needs the compiled worker script.
// Compile times against program size are printed by `npm run bench`, not asserted here.

import { describe, expect, it } from "vitest";
import type { CompileResult } from "../compiler/pipeline.js";
import { importCode } from "./helpers.js";

const { compile } = (await import(new URL("../dist/compiler/pipeline.js", import.meta.url).href)) as {
  compile: (text: string, options?: { fileName?: string }) => Promise<CompileResult>;
};

async function build(source: string): Promise<Record<string, any>> {
  const r = await compile(source, { fileName: "big.ts" });
  expect(r.diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual([]);
  return importCode(r.code!);
}

const fn = (body: string): string => `export function f(x: number): number {\n${body}\n}\n`;

describe("large programs compile", () => {
  it("300 straight-line statements y = y * 0.5 + x", async () => {
    const m = await build(fn(`  let y = x;\n${"  y = y * 0.5 + x;\n".repeat(300)}  return y;`));
    // y_n = x (2 - 0.5^n) after n steps from y_0 = x: dy/dx = 2 - 0.5^300 + ... = 2 - 2^-300
    expect(m.fGrad(3).grads.x).toBeCloseTo(2, 12);
    expect(m.f(3)).toBeCloseTo(6, 12);
  }, 120_000);

  it("a sum of 3,000 terms", async () => {
    const terms = Array.from({ length: 3000 }, (_, i) => `x * ${i + 1}`).join(" + ");
    const m = await build(fn(`  return ${terms};`));
    expect(m.fGrad(2).grads.x).toBe((3000 * 3001) / 2);
  }, 120_000);

  it("300 nested ifs", async () => {
    const n = 300;
    const opens = Array.from({ length: n }, (_, i) => `  if (x > ${i}) {\n`).join("");
    const m = await build(fn(`  let y = x;\n${opens}  y = y * 2;\n${"  }\n".repeat(n)}  return y;`));
    expect(m.fGrad(400).grads.x).toBe(2);
    expect(m.fGrad(100).grads.x).toBe(1);
  }, 180_000);

  it("2,000 nested parentheses and Math.sin applied 1,000 times", async () => {
    const parens = await build(fn(`  return ${"(".repeat(2000)}x * x${")".repeat(2000)};`));
    expect(parens.fGrad(3).grads.x).toBe(6);
    const sines = await build(fn(`  return ${"Math.sin(".repeat(1000)}x${")".repeat(1000)};`));
    let v = 0.3;
    let d = 1;
    for (let i = 0; i < 1000; i++) {
      d *= Math.cos(v);
      v = Math.sin(v);
    }
    expect(sines.fGrad(0.3).grads.x).toBeCloseTo(d, 12);
  }, 180_000);
});
