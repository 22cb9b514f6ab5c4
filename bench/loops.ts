// Loop-heavy programs written out in the DSL, where the allocation-free form used to lose to
// the allocating one (issue: buffers copied per iteration, allocations inside reversed
// loops): a hand-written convolution, a loop with a conditional write, an LSTM over 1,024
// steps. Prints GradInto / Grad per case (target: at most 1.0), interleaved medians.

import { literalSize } from "../compiler/ir/types.js";
import * as fs from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import ts from "typescript";
import { compile } from "../compiler/pipeline.js";

async function importModule(code: string, dir: string, base: string): Promise<unknown> {
  const js = ts.transpileModule(code, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
  const file = path.join(dir, `${base}.mjs`);
  fs.writeFileSync(file, js);
  return import(pathToFileURL(file).href);
}

export const LOOP_CASES: { name: string; source: string }[] = [
  {
    name: "hand-written conv 4->8, 20x20, 3x3",
    source: `import { type Tensor, zeros } from "adgen";
export function f(x: Tensor<[4, 20, 20]>, w: Tensor<[8, 4, 3, 3]>): number {
  const y = zeros([8, 18, 18]);
  for (let o = 0; o < 8; o++)
    for (let c = 0; c < 4; c++)
      for (let i = 0; i < 18; i++)
        for (let j = 0; j < 18; j++)
          for (let a = 0; a < 3; a++)
            for (let b = 0; b < 3; b++)
              y[o][i][j] += x[c][i + a][j + b] * w[o][c][a][b];
  let s = 0;
  for (let o = 0; o < 8; o++) for (let i = 0; i < 18; i++) for (let j = 0; j < 18; j++) s += y[o][i][j] * y[o][i][j];
  return s;
}`,
  },
  {
    name: "conditional write, n = 16,000",
    source: `import { type Tensor, zeros } from "adgen";
export function f(x: Tensor<[16000]>): number {
  const y = zeros([16000]);
  for (let i = 0; i < 16000; i++) {
    if (x[i] > 0) { y[i] = x[i] * x[i]; }
  }
  let s = 0;
  for (let i = 0; i < 16000; i++) s += y[i] * x[i];
  return s;
}`,
  },
  {
    name: "LSTM, 2 layers, 1,024 steps",
    source: `import { type Tensor, zeros } from "adgen";
function sigm(x: number): number { return 1 / (1 + Math.exp(-x)); }
export function f(w: Tensor<[2, 4, 14]>, b: Tensor<[2, 4, 14]>, seq: Tensor<[1024, 14]>): number {
  let h = zeros([2, 14]);
  let c = zeros([2, 14]);
  let loss = 0;
  for (let t = 0; t < 1023; t++) {
    const hn = zeros([2, 14]);
    const cn = zeros([2, 14]);
    for (let l = 0; l < 2; l++) {
      for (let j = 0; j < 14; j++) {
        const inp = l === 0 ? seq[t][j] : hn[0][j];
        const fg = sigm(inp * w[l][0][j] + h[l][j] * b[l][0][j]);
        const ig = sigm(inp * w[l][1][j] + h[l][j] * b[l][1][j]);
        const og = sigm(inp * w[l][2][j] + h[l][j] * b[l][2][j]);
        const cg = Math.tanh(inp * w[l][3][j] + h[l][j] * b[l][3][j]);
        cn[l][j] = c[l][j] * fg + ig * cg;
        hn[l][j] = og * Math.tanh(cn[l][j]);
      }
    }
    h = hn;
    c = cn;
    for (let j = 0; j < 14; j++) loss += (h[1][j] - seq[t + 1][j]) * (h[1][j] - seq[t + 1][j]);
  }
  return loss;
}`,
  },
];

export interface LoopSubject {
  readonly name: string;
  readonly grad: () => number;
  readonly gradInto: () => number;
}

/** Compiles each case and returns its two calls, on fixed random inputs. */
export async function loopSubjects(dir: string): Promise<LoopSubject[]> {
  const out: LoopSubject[] = [];
  let seed = 7;
  const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (const c of LOOP_CASES) {
    const r = await compile(c.source, { fileName: "loops.ts" });
    if (!r.code) throw new Error(`${c.name}: ${r.diagnostics.map((d) => d.message).join("; ")}`);
    const m = (await importModule(r.code, dir, `loop${out.length}`)) as Record<string, (...a: unknown[]) => { value: number } & number>;
    const e = r.entries[0]!;
    const args = e.entry.params.map((p) =>
      p.type.kind === "tensor" ? Float64Array.from({ length: literalSize(p.type.shape) }, () => random() - 0.4) : 1);
    const grads = Object.fromEntries(e.grad.wrt.map((w) => [w, new Float64Array((args[e.entry.params.findIndex((p) => p.name === w)] as Float64Array).length)]));
    out.push({ name: c.name, grad: () => m.fGrad!(...args).value, gradInto: () => m.fGradInto!(...args, grads) });
  }
  return out;
}
