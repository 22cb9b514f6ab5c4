// Numerics: the documented NaN/Inf behaviour and kink conventions (README, "Conventions").

import { describe, expect, it } from "vitest";
import { compileModule } from "./helpers.js";

describe("NaN and infinities", () => {
  it("a branch not taken contributes nothing: d/dx (x > 0 ? log x : 0) at 0 is 0, not NaN", async () => {
    const m = await compileModule(`export function f(x: number): number { return x > 0 ? Math.log(x) : 0; }`);
    expect(m.fGrad(0)).toEqual({ value: 0, grads: { x: 0 } });
    expect(m.fGrad(2).grads.x).toBe(0.5);
  });

  it("an early return guards the same way", async () => {
    const m = await compileModule(`export function f(x: number): number {\n  if (x <= 0) {\n    return 0;\n  }\n  return Math.sqrt(x) * Math.log(x);\n}\n`);
    expect(m.fGrad(0).grads.x).toBe(0);
    expect(m.fGrad(-1).grads.x).toBe(0);
  });

  it("x * 0 is not folded to 0: Infinity * 0 is NaN, as in the DSL run as-is", async () => {
    const m = await compileModule(`export function f(x: number): number { return x * 0 + 1; }`);
    expect(m.f(Infinity)).toBeNaN();
    expect(m.fGrad(Infinity).value).toBeNaN();
    expect(m.fGrad(3)).toEqual({ value: 1, grads: { x: 0 } });
  });

  it("NaN inputs propagate to value and gradient", async () => {
    const m = await compileModule(`export function f(x: number, y: number): number { return x * y + Math.exp(x); }`);
    const r = m.fGrad(NaN, 2);
    expect(r.value).toBeNaN();
    expect(r.grads.x).toBeNaN();
    expect(r.grads.y).toBeNaN();
  });

  it("sqrt'(0) is Infinity and log'(0) is Infinity, as PyTorch", async () => {
    const m = await compileModule(`export function f(x: number): number { return Math.sqrt(x) + Math.log(x + 1) - Math.log(1 + x); }`);
    expect(m.fGrad(0).grads.x).toBe(Infinity);
    const l = await compileModule(`export function f(x: number): number { return Math.log(x); }`);
    expect(l.fGrad(0)).toEqual({ value: -Infinity, grads: { x: Infinity } });
  });

  it("softmax, logSoftmax and crossEntropy stay finite for logits of 1000", async () => {
    const m = await compileModule(`
import { type Tensor, crossEntropy, logSoftmax, softmax, sum, mul } from "adgen";
export function f(z: Tensor<[3]>, w: Tensor<[3]>): number {
  return crossEntropy(z, 1) + sum(mul(softmax(z), w)) + sum(mul(logSoftmax(z), w));
}`);
    const r = m.fGrad(Float64Array.from([1000, 999, -1000]), Float64Array.from([0.5, -1, 2]));
    expect(Number.isFinite(r.value)).toBe(true);
    for (const g of [...r.grads.z, ...r.grads.w]) expect(Number.isFinite(g)).toBe(true);
    // crossEntropy([1000, 999, -1000], 1) = log(1 + e^-1)... + 1
    expect(m.f(Float64Array.from([1000, 999, -1000]), new Float64Array(3))).toBeCloseTo(1 + Math.log1p(Math.exp(-1)), 12);
  });
});

describe("kink conventions", () => {
  it("relu'(0) = 0, abs'(0) = 0, Math.max/min send a tie to the first argument", async () => {
    const m = await compileModule(`
import { relu } from "adgen";
export function f(x: number, y: number): number { return relu(x) + Math.abs(x) + 2 * Math.max(x, y) + 3 * Math.min(y, x); }`);
    expect(m.fGrad(0, 0).grads).toEqual({ x: 2, y: 3 });
  });
});
