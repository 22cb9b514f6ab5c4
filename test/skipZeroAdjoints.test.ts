// A backward loop that only adds multiples of a selected adjoint (Math.min's, a branch's) is
// skipped when that adjoint is zero (compiler/passes/skipZeroAdjoints.ts), and a nested
// loop that sums numbers has its results kept for the reversal rather than run again
// (residuals, compiler/ad/reverseMode.ts). k-means is the case both are for: each point's
// distance to every centroid, only the closest one's adjoint not zero. Checked here: the
// guard is generated where it should be and not elsewhere, the backward pass does not run
// the distance loops again, and gradients and HVPs agree with finite differences and with
// the same program compiled without simplification; an HVP whose selected adjoint is zero
// while its tangent is not still runs the loop (forward mode widens the guard).

import { describe, expect, it } from "vitest";
import { compileOrThrow, directionalCheck, importCode, maxRelErr, rng } from "./helpers.js";

type Fn = (...a: any[]) => any;

const SOURCE = `import { type Tensor } from "adgen";

export function cost<N extends number, K extends number, D extends number>(points: Tensor<[N, D]>, centroids: Tensor<[K, D]>): number {
  const d = points[0].length;
  let total = 0;
  for (let i = 0; i < points.length; i++) {
    let closest = Number.POSITIVE_INFINITY;
    for (let j = 0; j < centroids.length; j++) {
      let dist = 0;
      for (let l = 0; l < d; l++) {
        const diff = points[i][l] - centroids[j][l];
        dist += diff * diff;
      }
      closest = Math.min(closest, dist);
    }
    total += closest;
  }
  return total;
}

/** The same with a branch: the closest centroid's distance, then a hinge on it. */
export function hinge<N extends number, K extends number>(points: Tensor<[N, 2]>, centroids: Tensor<[K, 2]>): number {
  let total = 0;
  for (let i = 0; i < points.length; i++) {
    let best = Number.POSITIVE_INFINITY;
    for (let j = 0; j < centroids.length; j++) {
      let dist = 0;
      for (let l = 0; l < 2; l++) dist += (points[i][l] - centroids[j][l]) ** 2;
      if (dist < best) best = dist;
    }
    total += best > 0.05 ? best : 0;
  }
  return total;
}

/** A selected adjoint that is zero where its tangent is not: x[1] = 0 scales s's adjoint. */
export function gate(x: Tensor<[2]>, w: Tensor<[4]>): number {
  let s = 0;
  for (let l = 0; l < 4; l++) s += w[l] * w[l];
  const m = Math.max(s, x[0]);
  return m * x[1];
}

/** Not selected: every adjoint loop here runs (no guard). */
export function dense(x: Tensor<[5]>, w: Tensor<[5]>): number {
  let s = 0;
  for (let l = 0; l < 5; l++) s += w[l] * x[l];
  return Math.sin(s);
}

/** The forward pass's loops are the user's: never guarded, even where a selection scales them. */
export function forward(x: Tensor<[3]>, w: Tensor<[3]>): number {
  const m = x[0] > 0 ? x[0] : 0;
  let s = 0;
  for (let l = 0; l < 3; l++) s += m * w[l];
  return s * s;
}
`;

function fnText(code: string, name: string): string {
  const from = code.slice(code.indexOf(`export function ${name}(`));
  return from.slice(0, from.indexOf("\n}\n"));
}
const codeOnly = (text: string): string => text.split("\n").filter((l) => !l.trim().startsWith("//")).join("\n");

describe("zero adjoints and summing loops", () => {
  it("guards the selected adjoint's loops, and only those", async () => {
    const code = (await compileOrThrow(SOURCE, { fileName: "model.ts" })).code!;
    const back = codeOnly(fnText(code, "costBackward"));
    // the d-long loop of the adjoint runs only for the closest centroid
    expect(back).toMatch(/if \(\w+ !== 0\) \{\n\s*for \(let l = /);
    // and the reversed centroid loop does not compute the distances again: its forward copy
    // pushed them (two loops over l: that copy's and the adjoint's; there were three)
    expect(back.match(/for \(let l = /g)).toHaveLength(2);
    expect(codeOnly(fnText(code, "hingeBackward"))).toMatch(/!== 0\) \{/);
    expect(codeOnly(fnText(code, "gateBackward"))).toMatch(/!== 0\) \{/);
    for (const name of ["denseBackward", "forwardBackward", "forward", "cost"]) expect(codeOnly(fnText(code, name)), name).not.toMatch(/!== 0\) \{/);
    // the HVP's guard also tests the selected adjoint's tangent, where it has one
    expect(codeOnly(fnText(code, "gateHvp"))).toMatch(/!== 0 \|\| \w+ !== 0\) \{/);
  });

  it("gradients and HVPs agree with finite differences and with the unsimplified build", async () => {
    const code = (await compileOrThrow(SOURCE, { fileName: "model.ts" })).code!;
    const m = await importCode<Record<string, Fn>>(code);
    const plain = await importCode<Record<string, Fn>>((await compileOrThrow(SOURCE, { fileName: "model.ts", simplify: false })).code!);
    const random = rng(5);
    const fill = (n: number): Float64Array => Float64Array.from({ length: n }, () => random() * 2 - 1);
    for (const [n, k, d] of [[1, 1, 1], [7, 3, 2], [40, 6, 5]] as const) {
      const sizes = { N: n, K: k, D: d };
      const points = fill(n * d);
      const centroids = fill(k * d);
      const g = m.costGrad!(points, centroids, sizes);
      expect(directionalCheck((a) => m.cost!(a[0], a[1], sizes), [points, centroids], [undefined, g.grads.centroids], { seed: n })).toBeLessThan(1e-6);
      // the gradient in closed form: 2 (c - mean of its points) * count
      const want = new Float64Array(k * d);
      for (let i = 0; i < n; i++) {
        let best = Infinity;
        let bj = 0;
        for (let j = 0; j < k; j++) {
          let s = 0;
          for (let l = 0; l < d; l++) s += (points[i * d + l]! - centroids[j * d + l]!) ** 2;
          if (s < best) (best = s), (bj = j);
        }
        for (let l = 0; l < d; l++) want[bj * d + l]! += 2 * (centroids[bj * d + l]! - points[i * d + l]!);
      }
      expect(maxRelErr(g.grads.centroids, want)).toBeLessThan(1e-12);
      expect(maxRelErr(plain.costGrad!(points, centroids, sizes).grads.centroids, g.grads.centroids)).toBeLessThan(1e-15);
      expect(maxRelErr(m.costBackward!(m.costForward!(points, centroids, sizes)).centroids, g.grads.centroids)).toBe(0);
      const grads = { points: new Float64Array(n * d), centroids: new Float64Array(k * d) };
      for (let rep = 0; rep < 2; rep++) {
        expect(m.costGradInto!(points, centroids, grads, sizes)).toBe(g.value);
        expect(maxRelErr(grads.centroids, g.grads.centroids)).toBe(0);
      }
      // the HVP with ones against differences of the gradient
      const ones = { points: new Float64Array(n * d), centroids: new Float64Array(k * d).fill(1) };
      const h = m.costHvp!(points, centroids, ones, sizes);
      expect(maxRelErr(h.grads.centroids, g.grads.centroids)).toBe(0);
      const eps = 1e-6;
      const shifted = (s: number) => m.costGrad!(points, Float64Array.from(centroids, (c) => c + s * eps), sizes).grads.centroids as Float64Array;
      const gp = shifted(1);
      const gm = shifted(-1);
      const fd = Float64Array.from(gp, (v, j) => (v - gm[j]!) / (2 * eps));
      expect(maxRelErr(h.hvp.centroids, fd)).toBeLessThan(1e-6);

      const p2 = fill(n * 2);
      const c2 = fill(k * 2);
      const s2 = { N: n, K: k };
      const gh = m.hingeGrad!(p2, c2, s2);
      expect(directionalCheck((a) => m.hinge!(a[0], a[1], s2), [p2, c2], [gh.grads.points, gh.grads.centroids], { seed: k })).toBeLessThan(1e-6);
    }
  });

  it("sends no adjoint down a side not selected: a centroid at infinity gets zero, not NaN (0 times infinity)", async () => {
    const m = await importCode<Record<string, Fn>>((await compileOrThrow(SOURCE, { fileName: "model.ts" })).code!);
    const points = Float64Array.from([0.1, 0.2, -0.3, 0.4, 0.5, -0.6]);
    const centroids = Float64Array.from([0, 0, Infinity, -Infinity, 1, 1]);
    const sizes = { N: 3, K: 3, D: 2 };
    const g = m.costGrad!(points, centroids, sizes);
    expect(Number.isFinite(g.value)).toBe(true);
    expect(Array.from(g.grads.centroids as Float64Array).slice(2, 4)).toEqual([0, 0]);
    expect(Array.from(g.grads.centroids as Float64Array).every(Number.isFinite)).toBe(true);
    expect(Array.from(g.grads.points as Float64Array).every(Number.isFinite)).toBe(true);
  });

  it("an HVP runs a guarded loop when the selected adjoint is zero but its tangent is not", async () => {
    const m = await importCode<Record<string, Fn>>((await compileOrThrow(SOURCE, { fileName: "model.ts" })).code!);
    const w = Float64Array.from([0.5, -0.4, 0.3, 0.2]); // s = 0.54 > x[0]: the max selects s
    const x = Float64Array.from([0.1, 0]); // x[1] = 0: s's adjoint is zero
    const g = m.gateGrad!(x, w);
    expect(Array.from(g.grads.w as Float64Array)).toEqual([0, 0, 0, 0]);
    const dir = { x: Float64Array.from([0, 1]), w: new Float64Array(4) };
    const h = m.gateHvp!(x, w, dir);
    // d/dx1 of dw = 2 w (the loop's adjoint, which the plain gradient skipped)
    expect(maxRelErr(h.hvp.w, Float64Array.from(w, (v) => 2 * v))).toBeLessThan(1e-15);
    expect(maxRelErr(h.hvp.x, Float64Array.from([0, 0]))).toBe(0);
    // and at a point where the adjoint is not zero, against differences of the gradient
    const x2 = Float64Array.from([0.1, 0.7]);
    const dir2 = { x: Float64Array.from([0.3, -0.2]), w: Float64Array.from([0.1, 0.4, -0.3, 0.2]) };
    const h2 = m.gateHvp!(x2, w, dir2);
    const eps = 1e-6;
    const at = (s: number) => m.gateGrad!(Float64Array.from(x2, (v, i) => v + s * eps * dir2.x[i]!), Float64Array.from(w, (v, i) => v + s * eps * dir2.w[i]!)).grads;
    const gp = at(1);
    const gm = at(-1);
    expect(maxRelErr(h2.hvp.w, Float64Array.from(gp.w as Float64Array, (v, i) => (v - (gm.w as Float64Array)[i]!) / (2 * eps)))).toBeLessThan(1e-6);
    expect(maxRelErr(h2.hvp.x, Float64Array.from(gp.x as Float64Array, (v, i) => (v - (gm.x as Float64Array)[i]!) / (2 * eps)))).toBeLessThan(1e-6);
    for (const name of ["dense", "forward"]) {
      const a = [Float64Array.from([0.4, -0.3, 0.2, 0.6, -0.1].slice(0, name === "dense" ? 5 : 3)), Float64Array.from([0.2, 0.5, -0.3, 0.1, 0.3].slice(0, name === "dense" ? 5 : 3))];
      const gd = m[`${name}Grad`]!(...a);
      expect(directionalCheck((v) => m[name]!(...v), a, [gd.grads.x, gd.grads.w], { seed: 3 }), name).toBeLessThan(1e-6);
    }
  });
});
