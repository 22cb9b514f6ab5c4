// Compile time against program size: one entry of n straight-line statements
// (y = y * 0.5 + x * k), n = 1,000, 10,000 and 60,000, compiled once each through the
// compiler API (TypeScript, lowering, simplification, reverse mode, code generation and
// prettier). Time should grow about linearly with n.

import { compile } from "../compiler/pipeline.js";

export function straightLine(n: number): string {
  const body = Array.from({ length: n }, (_, i) => `  y = y * 0.5 + x * ${(i % 7) + 1};`).join("\n");
  return `export function f(x: number): number {\n  let y = x;\n${body}\n  return y;\n}\n`;
}

export async function compileScale(sizes: readonly number[]): Promise<{ n: number; ms: number; bytes: number }[]> {
  const out: { n: number; ms: number; bytes: number }[] = [];
  for (const n of sizes) {
    const source = straightLine(n);
    const t0 = performance.now();
    const r = await compile(source, { fileName: `straight${n}.ts` });
    const ms = performance.now() - t0;
    if (!r.code) throw new Error(`straight-line program of ${n} statements: ${r.diagnostics.map((d) => d.message).join("; ")}`);
    out.push({ n, ms, bytes: r.code.length });
  }
  return out;
}
