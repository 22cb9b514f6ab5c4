// A zeros overwritten before anything reads it is not cleared when its buffer is reused
// (compiler/codegen/body/coveredZeros.ts), and every other zeros still is. Each program runs
// its zeros once per step of a loop (the buffer reused from step to step) and is compared
// with the same algorithm in plain JavaScript, so a fill skipped wrongly shows up as a
// stale element from the step before; gradients against finite differences, and the
// allocation-free form run twice on different inputs (its workspace reused across calls).

import { describe, expect, it } from "vitest";
import { compileOrThrow, directionalCheck, importCode, maxRelErr, rng } from "./helpers.js";

const SOURCE = `import { type Tensor, zeros } from "adgen";

/** Written whole: z[0], then z[1..N). */
export function rhs<N extends number>(x: Tensor<[N]>, s: number): number {
  let t = 0;
  for (let k = 0; k < s; k++) {
    const z = zeros([x.length]);
    z[0] = x[0] * (k + 1);
    for (let i = 1; i < x.length; i++) z[i] = x[i] * x[i - 1] + k;
    for (let i = 0; i < x.length; i++) t += z[i] * z[i];
  }
  return t;
}

/** Written whole, row by row by a loop nest, and two rows by two loops. */
export function rows<N extends number>(x: Tensor<[N]>, s: number): number {
  let t = 0;
  for (let k = 0; k < s; k++) {
    const m = zeros([x.length, 3]);
    for (let i = 0; i < x.length; i++) for (let j = 0; j < 3; j++) m[i][j] = x[i] * (j + k);
    const two = zeros([2, x.length]);
    for (let i = 0; i < x.length; i++) two[0][i] = Math.sin(x[i] + k);
    for (let i = 0; i < x.length; i++) two[1][i] = x[i] * k;
    for (let i = 0; i < x.length; i++) t += m[i][2] * two[0][i] + m[i][1] * two[1][i];
  }
  return t;
}

/** Not written whole: z[0] only in even steps, odd elements only from a start that changes. */
export function gaps<N extends number>(x: Tensor<[N]>, s: number): number {
  let t = 0;
  for (let k = 0; k < s; k++) {
    const z = zeros([x.length]);
    if (k % 2 === 0) z[0] = x[0] + 1;
    for (let i = 1; i < x.length; i++) z[i] = x[i] * (k + 1);
    const w = zeros([x.length]);
    for (let i = k % 2; i < x.length; i += 2) w[i] = x[i] + k;
    const p = zeros([x.length]);
    for (let i = 1; i < x.length; i++) p[i] = p[i - 1] + x[i];
    for (let i = 0; i < x.length; i++) t += z[i] * w[i] + p[i];
  }
  return t;
}
`;

function rhsJs(x: Float64Array, s: number): number {
  let t = 0;
  for (let k = 0; k < s; k++) {
    const z = new Float64Array(x.length);
    z[0] = x[0]! * (k + 1);
    for (let i = 1; i < x.length; i++) z[i] = x[i]! * x[i - 1]! + k;
    for (let i = 0; i < x.length; i++) t += z[i]! * z[i]!;
  }
  return t;
}

function rowsJs(x: Float64Array, s: number): number {
  let t = 0;
  for (let k = 0; k < s; k++) {
    for (let i = 0; i < x.length; i++) t += x[i]! * (2 + k) * Math.sin(x[i]! + k) + x[i]! * (1 + k) * (x[i]! * k);
  }
  return t;
}

function gapsJs(x: Float64Array, s: number): number {
  let t = 0;
  for (let k = 0; k < s; k++) {
    const z = new Float64Array(x.length);
    if (k % 2 === 0) z[0] = x[0]! + 1;
    for (let i = 1; i < x.length; i++) z[i] = x[i]! * (k + 1);
    const w = new Float64Array(x.length);
    for (let i = k % 2; i < x.length; i += 2) w[i] = x[i]! + k;
    const p = new Float64Array(x.length);
    for (let i = 1; i < x.length; i++) p[i] = p[i - 1]! + x[i]!;
    for (let i = 0; i < x.length; i++) t += z[i]! * w[i]! + p[i]!;
  }
  return t;
}

type Fn = (...a: any[]) => any;
const JS: Record<string, (x: Float64Array, s: number) => number> = { rhs: rhsJs, rows: rowsJs, gaps: gapsJs };

describe("zeros written whole before they are read", () => {
  it("are not cleared again, and every other zeros is, with the same values as plain JavaScript", async () => {
    const r = await compileOrThrow(SOURCE, { fileName: "model.ts" });
    const code = r.code!;
    const fn = (name: string): string => {
      const from = code.slice(code.indexOf(`export function ${name}(`));
      return from.slice(0, from.indexOf("\n}\n"));
    };
    const fills = (text: string) => text.split("\n").filter((l) => /\.fill\(0\);$/.test(l.trim())).map((l) => l.trim());
    expect(fills(fn("rhs"))).toEqual([]);
    expect(fills(fn("rows"))).toEqual([]);
    // gaps clears all three: z (a store under an if), w (a start that changes), p (read before written)
    expect(fills(fn("gaps"))).toHaveLength(3);
    const m = await importCode<Record<string, Fn>>(code);
    const random = rng(11);
    for (const name of ["rhs", "rows", "gaps"]) {
      const into = { x: new Float64Array(0) };
      for (const n of [1, 2, 7]) {
        for (const s of [1, 4]) {
          const x = Float64Array.from({ length: n }, () => random() * 2 - 1);
          const v = m[name]!(x, s);
          expect(Math.abs(v - JS[name]!(x, s)), `${name}(x[${n}], ${s})`).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(v)));
          const g = m[`${name}Grad`]!(x, s);
          expect(g.value).toBe(v);
          expect(directionalCheck((a) => m[name]!(...a), [x, s], [g.grads.x, undefined], { seed: n + s }), name).toBeLessThan(1e-6);
          if (into.x.length !== n) into.x = new Float64Array(n);
          expect(m[`${name}GradInto`]!(x, s, into)).toBe(v);
          expect(maxRelErr(into.x, g.grads.x)).toBe(0);
        }
      }
    }
  });
});
