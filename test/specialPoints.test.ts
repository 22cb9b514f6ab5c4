// Every scalar op's derivative at its special points (0, ±0, ±1, ±Infinity, NaN, exponents 0
// and 1, equal arguments), compared with PyTorch's (test/special/points.json, written by
// test/special/pytorch_points.py). The conventions are documented beside each rule in
// compiler/ops/scalar.ts; where adgen's differs from PyTorch's on purpose (ties of max and
// min, JavaScript's 1 ** NaN), the expected value says so.

import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { OPS } from "../compiler/ops/index.js";
import { compileModule } from "./helpers.js";

type Num = number | "NaN" | "Infinity" | "-Infinity";
interface Case {
  op: string;
  args: Num[];
  grads: Num[];
  convention?: string;
}

const POINTS = JSON.parse(readFileSync(new URL("./special/points.json", import.meta.url), "utf8")) as { cases: Case[] };
const decode = (v: Num): number => (v === "NaN" ? NaN : v === "Infinity" ? Infinity : v === "-Infinity" ? -Infinity : v);

/** How DSL code writes each op (x, or a and b, are the arguments). */
const DSL: Record<string, string> = {
  neg: "-x", sigmoid: "sigmoid(x)", relu: "relu(x)",
  add: "a + b", sub: "a - b", mul: "a * b", div: "a / b", pow: "a ** b",
  atan2: "Math.atan2(a, b)", hypot: "Math.hypot(a, b)", max: "Math.max(a, b)", min: "Math.min(a, b)", mod: "a % b",
};
const ops = [...new Set(POINTS.cases.map((c) => c.op))];
const source = [
  `import { relu, sigmoid } from "adgen";`,
  ...ops.map((op) => {
    const binary = POINTS.cases.find((c) => c.op === op)!.args.length === 2;
    const expr = DSL[op] ?? `Math.${op}(x)`;
    return binary
      ? `/** @wrt a, b */\nexport function f_${op}(a: number, b: number): number { return ${expr}; }`
      : `/** @wrt x */\nexport function f_${op}(x: number): number { return ${expr}; }`;
  }),
].join("\n");

/** Equal as PyTorch's float64 results are: NaN is NaN, infinities by sign, zeros of either sign, else within 1e-12. */
function same(got: number, want: number): boolean {
  if (Number.isNaN(want)) return Number.isNaN(got);
  if (!Number.isFinite(want)) return got === want;
  return Math.abs(got - want) <= 1e-12 * Math.max(1, Math.abs(want));
}

let mod: Record<string, (...args: number[]) => { value: number; grads: Record<string, number> }>;
beforeAll(async () => {
  mod = await compileModule(source);
});

describe("derivatives at special points, as PyTorch", () => {
  it("covers every scalar op of the table that PyTorch has", () => {
    const scalarOps = Object.entries(OPS)
      .filter(([, d]) => d.family === "unary" || d.family === "binary" || d.family === "scalarBinary")
      .map(([op]) => op);
    // cbrt: PyTorch has none; its points are checked below
    expect(scalarOps.filter((op) => op !== "cbrt" && !ops.includes(op))).toEqual([]);
  });

  it.each(ops)("%s", (op) => {
    const failures: string[] = [];
    for (const c of POINTS.cases.filter((k) => k.op === op)) {
      const args = c.args.map(decode);
      const { grads } = mod[`f_${op}Grad`]!(...args);
      const got = args.length === 2 ? [grads.a!, grads.b!] : [grads.x!];
      c.grads.map(decode).forEach((want, k) => {
        if (!same(got[k]!, want)) {
          failures.push(`${op}(${c.args.join(", ")}): d/d${args.length === 2 ? "ab"[k] : "x"} is ${got[k]}, PyTorch ${want}${c.convention ? ` (${c.convention})` : ""}`);
        }
      });
    }
    expect(failures).toEqual([]);
  });

  it("cbrt (which PyTorch lacks): 1 / (3 cbrt(x)²), Infinity at ±0", async () => {
    const m = await compileModule(`export function f(x: number): number { return Math.cbrt(x); }`);
    const d = (x: number): number => m.fGrad(x).grads.x;
    expect(d(0)).toBe(Infinity);
    expect(d(-0)).toBe(Infinity);
    expect(d(8)).toBeCloseTo(1 / 12, 15);
    expect(d(-8)).toBeCloseTo(1 / 12, 15);
    expect(d(Infinity)).toBe(0);
    expect(d(NaN)).toBeNaN();
  });

  it("d/dx of sum_j c[j] x^j is finite at x = 0 (x ** 0 has derivative 0 there)", async () => {
    const m = await compileModule(`
      import { type Tensor } from "adgen";
      export function poly(c: Tensor<[4]>, x: number): number {
        let s = 0;
        for (let j = 0; j < 4; j++) s += c[j] * x ** j;
        return s;
      }
      export function pw(x: number, y: number): number { return Math.pow(x, y); }`);
    const c = Float64Array.from([1, 2, 3, 4]);
    const g = m.polyGrad(c, 0).grads;
    expect(g.x).toBe(2);
    expect(Array.from(g.c)).toEqual([1, 0, 0, 0]);
    expect(m.pwGrad(0, 0).grads).toEqual({ x: 0, y: 0 });
  });
});
