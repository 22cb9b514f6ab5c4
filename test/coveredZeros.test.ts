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

// An adjoint buffer starts as a zeros and is added to; its first accumulation, when nothing
// has written it before and no two iterations add to the same element, is a store (and a
// store of every element makes the fill unneeded, above).
const ADJOINTS = `import { type Tensor } from "adgen";

/** d/dx[i] = w[i]: one accumulation per element, in the reversed loop over i. */
export function dotw<N extends number>(x: Tensor<[N]>, w: Tensor<[N]>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * w[i];
  return s * s;
}

/** Every row of a matrix, by a loop nest: one accumulation per element. */
export function rowsum<N extends number>(a: Tensor<[N, 3]>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) for (let j = 0; j < 3; j++) s += Math.sin(a[i][j]) * (j + 1);
  return s;
}

/** x[0] on every iteration: the reversed loop adds to it n times. */
export function first<N extends number>(x: Tensor<[N]>, w: Tensor<[N]>): number {
  let s = 0;
  for (let i = 0; i < w.length; i++) s += x[0] * w[i] * w[i];
  return s;
}

/** x[i] and x[n - 1 - i] in one iteration: two accumulations per element. */
export function mirror<N extends number>(x: Tensor<[N]>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * Math.exp(x[x.length - 1 - i]);
  return s;
}
`;

describe("the first accumulation into a zeros is a store", () => {
  it("where it is the first write of each element, with the same values and gradients", async () => {
    const code = (await compileOrThrow(ADJOINTS, { fileName: "model.ts" })).code!;
    const into = (name: string): string => {
      const from = code.slice(code.indexOf(`export function ${name}GradInto(`));
      return from.slice(0, from.indexOf("\n}\n"));
    };
    const line = (name: string, re: RegExp): string[] => into(name).split("\n").map((l) => l.trim()).filter((l) => re.test(l));
    expect(line("dotw", /^d(x|w)\[i\] [+]?= /).sort()).toEqual([expect.stringMatching(/^dw\[i\] = /), expect.stringMatching(/^dx\[i\] = /)]);
    expect(line("dotw", /\.fill\(0\)/)).toEqual([]);
    expect(line("rowsum", /^da\[.*\] [+]?= /)).toEqual([expect.stringMatching(/^da\[i \* 3 \+ j\] = /)]);
    expect(line("rowsum", /\.fill\(0\)/)).toEqual([]);
    // an element added to on every iteration, or twice in one: accumulations after a fill
    expect(line("first", /^dx\[0\] \+= /)).toHaveLength(1);
    expect(line("first", /^dx\.fill\(0\)/)).toHaveLength(1);
    expect(line("mirror", /^dx\[.*\] \+= /)).toHaveLength(2);
    expect(line("mirror", /^dx\.fill\(0\)/)).toHaveLength(1);

    const plain = (await compileOrThrow(ADJOINTS, { fileName: "model.ts", simplify: false })).code!;
    const m = await importCode<Record<string, Fn>>(code);
    const p = await importCode<Record<string, Fn>>(plain);
    const random = rng(5);
    const vec = (n: number) => Float64Array.from({ length: n }, () => random() * 2 - 1);
    const cases: Record<string, (n: number) => Float64Array[]> = {
      dotw: (n) => [vec(n), vec(n)], rowsum: (n) => [vec(3 * n)], first: (n) => [vec(n), vec(n)], mirror: (n) => [vec(n)],
    };
    for (const [name, make] of Object.entries(cases)) {
      for (const n of [1, 2, 6]) {
        const args = make(n);
        const g = m[`${name}Grad`]!(...args);
        const want = p[`${name}Grad`]!(...args);
        const keys = Object.keys(want.grads);
        for (const k of keys) expect(maxRelErr(g.grads[k], want.grads[k]), `${name} ${k} n=${n}`).toBeLessThanOrEqual(1e-14);
        expect(directionalCheck((a) => m[name]!(...a), args, keys.map((k) => g.grads[k]), { seed: n })).toBeLessThan(1e-6);
        // the Into form twice, into buffers holding the previous call's gradient (or garbage)
        const bufs = Object.fromEntries(keys.map((k) => [k, new Float64Array(want.grads[k].length).fill(7)]));
        for (let rep = 0; rep < 2; rep++) {
          expect(m[`${name}GradInto`]!(...args, bufs)).toBe(g.value);
          for (const k of keys) expect(maxRelErr(bufs[k], g.grads[k]), `${name}GradInto ${k}`).toBe(0);
        }
      }
    }
  });
});
