// Forward mode and second order (SPEC section 6): fJvp of tensor-valued entries against
// finite differences and against fVjp (⟨c, J t⟩ = ⟨Jᵀ c, t⟩), fJacobian by rows and by
// columns against finite differences, into a caller's buffer, at run-time sizes; fHvp
// driving Newton's method (quadratic convergence needs the exact Hessian-vector product).
// Every op's JVP rule, and fHvp over every rule, are checked by test/rules.test.ts; loops
// and dynamic control flow by test/dynamic.test.ts; PyTorch's HVP by test/reference.test.ts.

import { describe, expect, it } from "vitest";
import { compileModule, compileOrThrow, importCode, maxRelErr, rng } from "./helpers.js";

const SOURCE = `import { type Tensor, linear, zeros, relu } from "adgen";
export function layer(x: Tensor<[3]>, w: Tensor<[2, 3]>, s: number): Tensor<[2]> {
  const y = linear(x, w);
  y[0] = y[0] * s + Math.tanh(y[1]);
  return y;
}
export function wide<N extends number>(x: Tensor<[N]>): Tensor<[5]> {
  const y = zeros([5]);
  for (let i = 0; i < 5; i++) {
    let s = 0;
    for (let j = 0; j < x.length; j++) s += Math.sin(x[j] * (i + 1)) * x[(j + 1) % x.length];
    y[i] = s;
  }
  return y;
}
export function rosenbrock(x: Tensor<[2]>): number {
  return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] * x[0]) ** 2;
}
`;

type Mod = Record<string, (...a: any[]) => any>;

/** The Jacobian by centered differences, row-major [out, Σ in]. */
function fdJacobian(f: (...a: any[]) => Float64Array, args: (number | Float64Array)[], wrt: number[]): Float64Array {
  const cols: Float64Array[] = [];
  const eps = 1e-6;
  for (const k of wrt) {
    const a = args[k]!;
    const n = typeof a === "number" ? 1 : a.length;
    for (let j = 0; j < n; j++) {
      const at = (s: number) => args.map((v, i) => {
        if (i !== k) return v;
        if (typeof v === "number") return v + s * eps;
        const c = Float64Array.from(v);
        c[j]! += s * eps;
        return c;
      });
      const p = f(...at(1));
      const m = f(...at(-1));
      cols.push(Float64Array.from(p, (v, i) => (v - m[i]!) / (2 * eps)));
    }
  }
  const out = cols[0]!.length;
  const J = new Float64Array(out * cols.length);
  cols.forEach((c, col) => c.forEach((v, i) => (J[i * cols.length + col] = v)));
  return J;
}

describe("forward mode", () => {
  it("fJvp of a tensor value agrees with fVjp and finite differences", async () => {
    const m = await compileModule<Mod>(SOURCE, { fileName: "fwd.ts" });
    const r = rng(1);
    const x = Float64Array.from({ length: 3 }, () => r() - 0.5);
    const w = Float64Array.from({ length: 6 }, () => r() - 0.5);
    const t = { x: Float64Array.from({ length: 3 }, () => r() - 0.5), w: Float64Array.from({ length: 6 }, () => r() - 0.5), s: 0.7 };
    const { value, tangent } = m.layerJvp!(x, w, 1.3, t);
    expect(Array.from(value)).toEqual(Array.from(m.layer!(x, w, 1.3)));
    const c = Float64Array.from([0.4, -1.1]);
    const g = m.layerVjp!(x, w, 1.3, c).grads;
    const lhs = c[0]! * tangent[0] + c[1]! * tangent[1];
    const rhs = [...g.x].reduce((a: number, v: number, i: number) => a + v * t.x[i]!, 0) + [...g.w].reduce((a: number, v: number, i: number) => a + v * t.w[i]!, 0) + g.s * t.s;
    expect(Math.abs(lhs - rhs)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(lhs)));
    const eps = 1e-6;
    const at = (s: number) => m.layer!(x.map((v, i) => v + s * eps * t.x[i]!), w.map((v, i) => v + s * eps * t.w[i]!), 1.3 + s * eps * t.s);
    const fd = Float64Array.from(at(1), (v: number, i: number) => (v - at(-1)[i]) / (2 * eps));
    expect(maxRelErr(tangent, fd)).toBeLessThanOrEqual(1e-7);
  });

  it("fJvp of layers whose input is data (no tangent): the bias's tangent broadcast, not a product of zeros", async () => {
    const src = `import { type Tensor, linear, conv2d, relu } from "adgen";
/** @wrt w, b */
export function dense<N extends number>(x: Tensor<[N, 4]>, w: Tensor<[3, 4]>, b: Tensor<[3]>): Tensor<[N, 3]> {
  return linear(x, w, b);
}
/** @wrt w, b */
export function single(x: Tensor<[4]>, w: Tensor<[3, 4]>, b: Tensor<[3]>): Tensor<[3]> {
  return relu(linear(x, w, b));
}
/** @wrt w, b */
export function conv<N extends number>(x: Tensor<[N, 2, 7, 6]>, w: Tensor<[3, 2, 3, 3]>, b: Tensor<[3]>): Tensor<[N, 3, 4, 3]> {
  return conv2d(x, w, b, { stride: 2, padding: 1 });
}
/** @wrt b */
export function convBias(x: Tensor<[2, 5, 5]>, w: Tensor<[4, 2, 3, 3]>, b: Tensor<[4]>): Tensor<[4, 3, 3]> {
  return conv2d(x, w, b);
}
`;
    const compiled = await compileOrThrow(src, { fileName: "dataIn.ts" });
    // the tangent of a layer over data computes no product over its input's zeros
    const jvpOf = (name: string) => compiled.entries.find((e) => e.entry.name === name)!.jvp;
    const inputs = (f: ReturnType<typeof jvpOf>, op: string) => {
      const found: number[] = [];
      const walk = (instrs: readonly any[]) => {
        for (const i of instrs) {
          if (i.op === op) found.push(i.args[0].type.kind === "tensor" ? i.args[0].type.shape.reduce((a: number, d: unknown) => (typeof d === "number" ? a * d : a), 1) : 1);
          for (const blk of [i.then, i.else, i.body]) if (blk) walk(blk.instrs);
        }
      };
      walk(f.body.instrs);
      return found;
    };
    // value, the bias's term (on a one-wide zero input), the weights'
    expect(inputs(jvpOf("single"), "linear")).toEqual([4, 1, 4]);
    expect(inputs(jvpOf("convBias"), "conv2d")).toEqual([50, 9]);
    const m = await importCode<Mod>(compiled.code!);
    const r = rng(5);
    const v = (n: number) => Float64Array.from({ length: n }, () => r() - 0.5);
    for (const [name, shapes, wrt] of [
      ["dense", [2 * 4, 12, 3], ["w", "b"]],
      ["dense", [1 * 4, 12, 3], ["w", "b"]],
      ["single", [4, 12, 3], ["w", "b"]],
      ["conv", [2 * 2 * 7 * 6, 54, 3], ["w", "b"]],
      ["convBias", [50, 72, 4], ["b"]],
    ] as const) {
      const args = shapes.map(v);
      const names = ["x", "w", "b"];
      const t: Record<string, Float64Array> = {};
      for (const k of wrt) t[k] = v(shapes[names.indexOf(k)]!);
      const { value, tangent } = m[`${name}Jvp`]!(...args, t);
      expect(Array.from(value)).toEqual(Array.from(m[name]!(...args)));
      const eps = 1e-6;
      const at = (s: number) => m[name]!(...args.map((a, i) => (t[names[i]!] ? a.map((e, j) => e + s * eps * t[names[i]!]![j]!) : a)));
      const fd = Float64Array.from(at(1), (y: number, i: number) => (y - at(-1)[i]) / (2 * eps));
      expect(maxRelErr(tangent, fd), name).toBeLessThanOrEqual(1e-7);
    }
  });

  it("fJacobian by rows (fewer outputs) and by columns (fewer inputs), into a buffer, at run-time sizes", async () => {
    const m = await compileModule<Mod>(SOURCE, { fileName: "fwd.ts" });
    const r = rng(2);
    const x = Float64Array.from({ length: 3 }, () => r() - 0.5);
    const w = Float64Array.from({ length: 6 }, () => r() - 0.5);
    // 2 outputs, 10 inputs: rows
    const rows = m.layerJacobian!(x, w, 1.3);
    expect(rows.jacobian.length).toBe(2 * 10);
    expect(maxRelErr(rows.jacobian, fdJacobian(m.layer!, [x, w, 1.3], [0, 1, 2]))).toBeLessThanOrEqual(1e-7);
    // 5 outputs, N inputs: columns for N < 5, rows for N >= 5
    for (const n of [1, 3, 8]) {
      const v = Float64Array.from({ length: n }, () => r() - 0.5);
      const J = m.wideJacobian!(v);
      expect(J.jacobian.length).toBe(5 * n);
      expect(maxRelErr(J.jacobian, fdJacobian(m.wide!, [v], [0]))).toBeLessThanOrEqual(1e-7);
      const out = new Float64Array(5 * n);
      expect(m.wideJacobian!(v, out).jacobian).toBe(out);
      expect(Array.from(out)).toEqual(Array.from(J.jacobian));
      expect(() => m.wideJacobian!(v, new Float64Array(5 * n + 1))).toThrow(RangeError);
    }
    // a number's Jacobian is its gradient
    const p = Float64Array.from([0.3, 0.2]);
    expect(Array.from(m.rosenbrockJacobian!(p).jacobian)).toEqual(Array.from(m.rosenbrockGrad!(p).grads.x));
  });

  it("fHvp drives Newton's method on the Rosenbrock function to its minimum", async () => {
    const m = await compileModule<Mod>(SOURCE, { fileName: "fwd.ts" });
    let x = Float64Array.from([-1.2, 1]);
    for (let it = 0; it < 8; it++) {
      // the Hessian's columns from two HVPs, then a 2x2 solve
      const h1 = m.rosenbrockHvp!(x, { x: Float64Array.from([1, 0]) });
      const h2 = m.rosenbrockHvp!(x, { x: Float64Array.from([0, 1]) });
      const g = h1.grads.x as Float64Array;
      const [a, c] = h1.hvp.x as Float64Array;
      const [b, d] = h2.hvp.x as Float64Array;
      const det = a! * d! - b! * c!;
      x = Float64Array.from([x[0]! - (d! * g[0]! - b! * g[1]!) / det, x[1]! - (a! * g[1]! - c! * g[0]!) / det]);
    }
    // Newton from the classic start reaches (1, 1) to rounding within 8 steps
    expect(Math.abs(x[0]! - 1)).toBeLessThanOrEqual(1e-12);
    expect(Math.abs(x[1]! - 1)).toBeLessThanOrEqual(1e-12);
    // the exact Hessian at (1, 1): [[802, -400], [-400, 200]]
    const h = m.rosenbrockHvp!(Float64Array.from([1, 1]), { x: Float64Array.from([1, 0]) });
    expect(Array.from(h.hvp.x)).toEqual([802, -400]);
  });
});
