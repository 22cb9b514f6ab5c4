// The index range analysis (compiler/frontend/indexRanges.ts): guards narrow on both
// branches of every comparison, through ! && || ?: and !==, so guarded indices compile; an
// index computed from data, or a class label, is checked at run time with a RangeError
// naming the tensor, the index and the shape; constants and loop counters that leave a
// dimension are compile-time errors.

import { describe, expect, it } from "vitest";
import { compile } from "../compiler/pipeline.js";
import { compileModule, compileOrThrow, directionalCheck, importCode, rng } from "./helpers.js";

const random = rng(11);
const vec = (n: number): Float64Array => Float64Array.from({ length: n }, () => random() * 2 - 1);

/** Compiles, then checks value and gradient of f(x) against a plain function and finite differences. */
async function gradientOf(src: string, plain: (x: Float64Array) => number, n: number): Promise<void> {
  const m = await compileModule(src);
  const x = vec(n);
  const { value, grads } = m.fGrad(x);
  expect(value).toBeCloseTo(plain(x), 12);
  expect(directionalCheck((a) => m.f(a[0]), [x], [grads.x])).toBeLessThan(1e-6);
}

describe("guards narrow the index ranges on both branches", () => {
  const T = `import { type Tensor } from "adgen";\n`;
  const sumPrev = (x: Float64Array): number => {
    let s = 0;
    for (let i = 0; i < x.length; i++) s += i < 1 ? x[i]! : x[i - 1]! * x[i]!;
    return s;
  };

  it("else of i < 1", () => gradientOf(T + `export function f(x: Tensor<[5]>): number {
    let s = 0;
    for (let i = 0; i < 5; i++) {
      if (i < 1) { s += x[i]; } else { s += x[i - 1] * x[i]; }
    }
    return s;
  }`, sumPrev, 5));

  it("i !== 0, !(i === 0) and i === 0 ? ... : x[i - 1]", () => gradientOf(T + `export function f(x: Tensor<[5]>): number {
    let s = 0;
    for (let i = 0; i < 5; i++) {
      if (i !== 0) { s += x[i - 1]; }
      if (!(i === 0)) { s += 2 * x[i - 1]; }
      s += i === 0 ? 1 : x[i - 1] * x[i];
    }
    return s;
  }`, (x) => {
    let s = 0;
    for (let i = 0; i < 5; i++) s += i !== 0 ? 3 * x[i - 1]! + x[i - 1]! * x[i]! : 1;
    return s;
  }, 5));

  it("an else if chain on i === 0 || j === 0 (soft-DTW's form)", () => gradientOf(T + `export function f(x: Tensor<[4]>): number {
    const D = zeros([4, 4]);
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < 4; j++) {
        const c = (x[i] - x[j]) * (x[i] - x[j]);
        if (i === 0 && j === 0) {
          D[i][j] = c;
        } else if (i === 0 || j === 0) {
          D[i][j] = c + (i === 0 ? D[i][j - 1] : D[i - 1][j]);
        } else {
          D[i][j] = c + Math.min(D[i - 1][j], D[i][j - 1], D[i - 1][j - 1]);
        }
      }
    }
    return D[3][3];
  }`.replace(`export function`, `import { zeros } from "adgen";\nexport function`), (x) => {
    const D = [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]];
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < 4; j++) {
        const c = (x[i]! - x[j]!) ** 2;
        if (i === 0 && j === 0) D[i]![j] = c;
        else if (i === 0) D[i]![j] = c + D[i]![j - 1]!;
        else if (j === 0) D[i]![j] = c + D[i - 1]![j]!;
        else D[i]![j] = c + Math.min(D[i - 1]![j]!, D[i]![j - 1]!, D[i - 1]![j - 1]!);
      }
    }
    return D[3]![3]!;
  }, 4));

  it("a condition on i - 1 also narrows i, and i >= 1 narrows i - 1", () => gradientOf(T + `export function f(x: Tensor<[5]>): number {
    let s = 0;
    for (let i = 0; i < 5; i++) {
      if (i - 1 >= 0) { s += x[i - 1]; }
      if (i >= 1 && i + 1 < 5) { s += x[i + 1] * x[i - 1]; }
    }
    return s;
  }`, (x) => {
    let s = 0;
    for (let i = 1; i < 5; i++) s += x[i - 1]! + (i + 1 < 5 ? x[i + 1]! * x[i - 1]! : 0);
    return s;
  }, 5));

  it("still refuses a guard that does not cover the range", async () => {
    const r = await compile(`import { type Tensor } from "adgen";
export function f(x: Tensor<[5]>): number {
  let s = 0;
  for (let i = 0; i < 5; i++) {
    if (i !== 1) { s += x[i - 1]; }
  }
  return s;
}`);
    expect(r.diagnostics.map((d) => [d.code, d.line, d.col])).toEqual([["ADG1009", 5, 27]]);
    expect(r.diagnostics[0]!.message).toMatch(/'i - 1' takes values from -1 to 3/);
  });
});

describe("indices from data are checked at run time", () => {
  const embed = `import { type Tensor } from "adgen";
export function f(E: Tensor<[5, 3]>, ids: Tensor<[4]>): number {
  let s = 0;
  for (let t = 0; t < 4; t++) {
    for (let j = 0; j < 3; j++) {
      s += E[ids[t]][j] * (j + 1);
    }
  }
  return s;
}`;

  it("gives the value and gradient when the indices are in range", async () => {
    const m = await compileModule(embed);
    const E = vec(15);
    const ids = Float64Array.from([4, 0, 4, 2]);
    const { value, grads } = m.fGrad(E, ids);
    let want = 0;
    for (const i of ids) for (let j = 0; j < 3; j++) want += E[i * 3 + j]! * (j + 1);
    expect(value).toBeCloseTo(want, 12);
    expect(Array.from(grads.E)).toEqual([1, 2, 3, 0, 0, 0, 1, 2, 3, 0, 0, 0, 2, 4, 6]);
  });

  it("throws a RangeError naming the tensor, the index and the shape", async () => {
    const m = await compileModule(embed);
    const E = vec(15);
    for (const bad of [5, -1, 1.5, NaN]) {
      const ids = Float64Array.from([0, bad, 1, 2]);
      for (const call of [() => m.f(E, ids), () => m.fGrad(E, ids), () => m.fGradInto(E, ids, { E: new Float64Array(15) })]) {
        expect(call).toThrow(RangeError);
        expect(call).toThrow(/E\[ids\[t\]\].*\[5, 3\].*0 to 4, not/);
      }
    }
  });

  it("checks once per index value, outside the inner loop that does not change it", async () => {
    const r = await compile(embed);
    const forward = r.code!.slice(r.code!.indexOf("export function f("), r.code!.indexOf("export function fForward"));
    const check = forward.indexOf("takes the integers");
    const inner = forward.indexOf("for (let j");
    expect(check).toBeGreaterThan(0);
    expect(check).toBeLessThan(inner);
    expect(forward.match(/takes the integers/g)).toHaveLength(1);
  });

  it("crossEntropy's label is checked: fractional, negative, too large", async () => {
    const m = await compileModule(`import { type Tensor, crossEntropy } from "adgen";
export function f(z: Tensor<[4]>, label: number): number { return crossEntropy(z, label); }
export function g(z: Tensor<[2, 4]>, labels: Tensor<[2]>): number { return crossEntropy(z, labels); }`);
    const z = vec(4);
    expect(m.f(z, 3)).toBeGreaterThan(0);
    for (const bad of [4, -1, 1.5]) {
      expect(() => m.f(z, bad)).toThrow(RangeError);
      // a label parameter is an integer parameter: the entry checks it is a non-negative
      // integer, crossEntropy that it is below the number of classes
      expect(() => m.fGrad(z, bad)).toThrow(bad === 4
        ? /crossEntropy: the label 4 is not an integer from 0 to 3 \(logits of shape \[4\]\)/
        : new RegExp(`label must be a non-negative integer, got ${bad}`));
      expect(() => m.g(vec(8), Float64Array.from([0, bad]))).toThrow(RangeError);
    }
  });
});

describe("constant indices and labels are checked at compile time", () => {
  it("a constant label out of range or fractional is ADG1009", async () => {
    for (const [label, msg] of [["5", /Label 5 is out of range for logits of shape \[4\]/], ["1.5", /Label 1.5 is not an integer/]] as const) {
      const r = await compile(`import { type Tensor, crossEntropy } from "adgen";
export function f(z: Tensor<[4]>): number { return crossEntropy(z, ${label}); }`);
      expect(r.diagnostics.map((d) => [d.code, d.line, d.col])).toEqual([["ADG1009", 2, 68]]);
      expect(r.diagnostics[0]!.message).toMatch(msg);
    }
  });
});

describe("an index a + i made on every iteration is checked once before the loop", () => {
  const T = `import { type Tensor } from "adgen";\n`;
  // a packed lower triangle, as gmm's l: entry (i, j), j < i, at j (2d - j - 1) / 2 + i - j - 1
  const TRI = `${T}export function tri<D extends number, L extends number>(x: Tensor<[D]>, l: Tensor<[L]>): number {
  const d = x.length;
  let s = 0;
  for (let j = 0; j < d; j++) {
    const base = (j * (2 * d - j - 1)) / 2 - j - 1;
    for (let i = j + 1; i < d; i++) s += l[base + i] * x[i] * x[j];
  }
  return s;
}
`;
  const triJs = (x: Float64Array, l: Float64Array): number => {
    const d = x.length;
    let s = 0;
    for (let j = 0; j < d; j++) {
      const base = (j * (2 * d - j - 1)) / 2 - j - 1;
      for (let i = j + 1; i < d; i++) s += l[base + i]! * x[i]! * x[j]!;
    }
    return s;
  };

  it("a triangular loop's packed index: no check inside the inner loop, the same values and gradients", async () => {
    const code = (await compileOrThrow(TRI, { fileName: "model.ts" })).code!;
    const body = code.slice(code.indexOf("export function tri("), code.indexOf("\n}\n", code.indexOf("export function tri(")));
    // the inner loop's body is one statement: no check in it
    expect(body).toMatch(/for \(let i = start; i < D; i\+\+\) \{\n\s*s = s \+ /);
    expect(body.match(/throw new RangeError/g)).toHaveLength(1);
    const m = await importCode<Record<string, any>>(code);
    for (const d of [1, 2, 5]) {
      const x = vec(d);
      const l = vec((d * (d - 1)) / 2);
      expect(m.tri(x, l)).toBeCloseTo(triJs(x, l), 12);
      const g = m.triGrad(x, l);
      expect(directionalCheck((a) => m.tri(a[0], a[1]), [x, l], [g.grads.x, g.grads.l])).toBeLessThan(1e-6);
    }
    // l one entry short: the first index out of range, 9 (row 4, column 3), before the inner loop runs it
    expect(() => m.tri(vec(5), vec(9))).toThrow(new RangeError("model.ts:7: l[base + i]: dimension 0 of shape [L] takes the integers 0 to L - 1, not 9"));
    expect(() => m.triGrad(vec(5), vec(9))).toThrow(RangeError);
  });

  it("an access under an if in the loop keeps its own check: no error for indices it never reads", async () => {
    const m = await compileModule(`${T}export function f<N extends number>(x: Tensor<[N]>, a: number, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) if (i < 2) s += x[a + i] * x[a + i];
  return s;
}
`);
    const x = vec(4);
    // a + i for i < 2 stays inside x; a + n - 1 would not
    expect(m.f(x, 2, 10)).toBeCloseTo(x[2]! ** 2 + x[3]! ** 2, 12);
    expect(() => m.f(x, 3, 10)).toThrow(new RangeError("model.ts:4: x[a + i]: dimension 0 of shape [N] takes the integers 0 to N - 1, not 4"));
  });

  it("a loop that does not run checks nothing", async () => {
    const m = await compileModule(`${T}export function f<N extends number>(x: Tensor<[N]>, a: number, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += x[a + i];
  return s;
}
`);
    const x = vec(3);
    expect(m.f(x, 100, 0)).toBe(0);
    expect(m.f(x, 1, 2)).toBeCloseTo(x[1]! + x[2]!, 12);
    expect(() => m.f(x, 2, 2)).toThrow(new RangeError("model.ts:4: x[a + i]: dimension 0 of shape [N] takes the integers 0 to N - 1, not 3"));
  });

  it("an argmax's index (the counter or its own value) needs no check in its loop; one after it, for an empty tensor", async () => {
    const argmax = (init: string, update: string) => `${T}export function f<N extends number>(x: Tensor<[N]>): number {
  let im = ${init};
  for (let i = 1; i < x.length; i++) ${update}
  return x[im] * x[im];
}
`;
    const plain = (x: Float64Array): number => Math.max(...x) ** 2;
    const bodies = {
      branch: argmax("0", "if (x[i] > x[im]) im = i;"),
      select: argmax("0", "im = x[i] > x[im] ? i : im;"),
      nested: argmax("0", "if (x[i] > x[im]) { if (x[i] > 0 || x[i] <= 0) im = i; }"),
    };
    for (const src of Object.values(bodies)) {
      const code = (await compileOrThrow(src, { fileName: "model.ts" })).code!;
      const f = code.slice(code.indexOf("export function f("), code.indexOf("\n}\n", code.indexOf("export function f(")));
      // one check, after the loop (x may be empty): none inside it
      expect(f.match(/throw new RangeError/g)).toHaveLength(1);
      expect(f.slice(f.indexOf("for (let i"), f.indexOf("throw new RangeError"))).not.toMatch(/RangeError/);
      const m = await importCode<Record<string, any>>(code);
      for (const n of [1, 2, 7]) {
        const x = vec(n);
        expect(m.f(x)).toBeCloseTo(plain(x), 12);
        expect(directionalCheck((a) => m.f(a[0]), [x], [m.fGrad(x).grads.x])).toBeLessThan(1e-6);
      }
      expect(() => m.f(new Float64Array(0))).toThrow(new RangeError("model.ts:5: x[im]: dimension 0 of shape [N] takes the integers 0 to N - 1, not 0"));
    }
    // what may leave the tensor keeps its check in the loop: a start past the loop's first
    // counter (2 > 1), a value that is not the counter (i + 1), another carried value (the
    // previous counter is fine, but the analysis keeps to one value)
    for (const src of [argmax("2", "if (x[i] > x[im]) im = i;"), argmax("0", "if (x[i] > x[im]) im = i + 1;")]) {
      const code = (await compileOrThrow(src, { fileName: "model.ts" })).code!;
      const f = code.slice(code.indexOf("export function f("), code.indexOf("\n}\n", code.indexOf("export function f(")));
      expect(f.slice(f.indexOf("for (let i"), f.indexOf("return"))).toMatch(/throw new RangeError/);
      const m = await importCode<Record<string, any>>(code);
      expect(() => m.f(Float64Array.from([0, 1]))).toThrow(/x\[im\]: dimension 0 of shape \[N\] takes the integers 0 to N - 1, not 2/);
    }
  });
});
