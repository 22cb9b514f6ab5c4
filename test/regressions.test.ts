// Programs that once broke the compiler, kept as tests.

import { describe, expect, it } from "vitest";
import { compileModule, directionalCheck } from "./helpers.js";

describe("regressions", () => {
  it("a gradient that folds to the constant 0 next to a forward literal 0", async () => {
    const m = await compileModule(`export function f(x: number, y: number): number { return Math.max(x, 0) + 0 * y; }`);
    expect(m.fGrad(2, 3)).toEqual({ value: 2, grads: { x: 1, y: 0 } });
    const g = { x: NaN, y: NaN };
    expect(m.fGradInto(2, 3, g)).toBe(2);
    expect(g).toEqual({ x: 1, y: 0 });
  });

  it("a tensor parameter read both as itself and flattened by the backward pass", async () => {
    const m = await compileModule(`import { type Tensor, dot, flatten } from "adgen";
export function g(x: Tensor<[2, 3]>, w: Tensor<[2, 3]>, v: Tensor<[6]>): number {
  return dot(x, w) + dot(flatten(x), v);
}`);
    const x = Float64Array.from([1, 2, 3, 4, 5, 6]);
    const { grads } = m.gGrad(x, x.map((t) => 2 * t), x.map((t) => -t));
    expect(Array.from(grads.x)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(grads.w)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(grads.v)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("one run-time index check per block: two ?: branches at the same depth do not share one (fuzzer seed 109)", async () => {
    const m = await compileModule(`import { type Tensor } from "adgen";
export function e(t: Tensor<[6]>): number {
  let s = 0.5;
  for (let i = 0; ; i += 2) {
    if (!(i < 5)) break;
    for (let j = 0; j <= 1; j++) {
      s *= 1 + (1 > j ? 0 : t[i]) * (1 > j ? 0 : t[i]);
    }
  }
  return s;
}`);
    const t = Float64Array.from([0.5, -1, 2, 0.25, -0.5, 3]);
    let want = 0.5;
    for (const i of [0, 2, 4]) for (const j of [0, 1]) want *= 1 + (1 > j ? 0 : t[i]!) * (1 > j ? 0 : t[i]!);
    expect(m.e(t)).toBe(want);
    expect(m.eGrad(t).value).toBe(want);
  });

  it("(i + 1) % 2 of a while loop's counter is an index checked at run time, not ADG1009 'takes values from -2 to 2' (fuzzer)", async () => {
    const m = await compileModule(`import { type Tensor } from "adgen";
export function f(x: Tensor<[2]>): number {
  let s = 0;
  let i = 0;
  while (i < 3) {
    s += x[(i + 1) % 2] * x[i % 2];
    i++;
  }
  return s;
}`);
    const x = Float64Array.from([0.5, -3]);
    // i = 0, 1, 2: x[1] x[0] + x[0] x[1] + x[1] x[0]
    expect(m.f(x)).toBe(3 * x[0]! * x[1]!);
    expect(Array.from(m.fGrad(x).grads.x)).toEqual([3 * x[1]!, 3 * x[0]!]);
  });

  it("% in an index: exact for a counter, so (i + 4) % 4 with i < 3 fits [3]; a narrowed counter's (i + 2) % 2 is no ADG1009 (fuzzer seed 126)", async () => {
    const m = await compileModule(`import { type Tensor, zeros } from "adgen";
export function f(x: Tensor<[3]>): number {
  let s = 0;
  for (let i = 0; i < 3; i++) s += x[(i + 4) % 4] * x[(i - 2) % 3 + 2];
  return s;
}
export function g(x0: number, x10: number): number {
  const y3 = zeros([2, 3]);
  for (let i3 = 0; ; i3++) {
    if (!(i3 < 1)) break;
    if (!(i3 >= 0)) {
    } else {
      x10 += (1 > i3) ? y3[(i3 + 2) % 2][2] + x0 : x0;
    }
  }
  return x10;
}`);
    const x = Float64Array.from([0.5, -3, 2]);
    // i = 0, 1, 2: x[0] x[0] + x[1] x[1] + x[2] x[2]
    expect(m.f(x)).toBe(0.25 + 9 + 4);
    expect(Array.from(m.fGrad(x).grads.x)).toEqual([1, -6, 4]);
    expect(m.g(0.75, 2)).toBe(2.75);
    expect(m.gGrad(0.75, 2).grads).toEqual({ x0: 1, x10: 1 });
  });
  it("stores sunk after an if at indices the branches pick, whose branches read the tensor: indexed undo records, not index-free (fuzzer seed 1711)", async () => {
    const src = `import { type Tensor } from "adgen";
export function f(p: number, x: Tensor<[2]>): number {
  const y = zeros([3, 4]);
  let s = p;
  let t = p * x[0];
  let i = 2;
  while (i > 0) {
    if (!(p >= t)) {
      s = y[1][3 - i] + x[1];
      y[2][3 - i] += p * s;
    } else {
      y[0][i] = p * t;
    }
    t *= s;
    i--;
  }
  return s * t + y[2][1] * y[0][2] + y[2][2];
}`;
    const m = await compileModule(src.replace('import { type Tensor }', 'import { type Tensor, zeros }'));
    // the same program in plain JavaScript
    const plain = (p: number, x: Float64Array): number => {
      const y = [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]];
      let s = p;
      let t = p * x[0]!;
      for (let i = 2; i > 0; i--) {
        if (!(p >= t)) {
          s = y[1]![3 - i]! + x[1]!;
          y[2]![3 - i]! += p * s;
        } else y[0]![i] = p * t;
        t *= s;
      }
      return s * t + y[2]![1]! * y[0]![2]! + y[2]![2]!;
    };
    for (const [p, x] of [[0.5, [2, -1]], [0.7, [0.5, 1.5]], [-0.4, [1.2, 0.3]]] as const) {
      const xs = Float64Array.from(x);
      const { value, grads } = m.fGrad(p, xs);
      expect(value).toBeCloseTo(plain(p, xs), 12);
      expect(directionalCheck((a) => m.f(...a), [p, xs], [grads.p, grads.x])).toBeLessThan(1e-7);
    }
  });
});
