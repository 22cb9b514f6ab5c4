import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  type NDArray,
  type Tensor,
  add,
  avgpool2d,
  conv2d,
  crossEntropy,
  div,
  dot,
  exp,
  flatten,
  linear,
  log,
  logSoftmax,
  maxpool2d,
  mean,
  mul,
  relu,
  sigmoid,
  softmax,
  sub,
  sum,
  tanh,
  zeros,
} from "../runtime/index.js";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

type Value = number | NDArray;

function shapeOf(x: Value): number[] {
  const s: number[] = [];
  for (let t = x; typeof t !== "number"; t = t[0]) {
    s.push(t.length);
    if (t.length === 0) break;
  }
  return s;
}

function leaves(x: Value): number[] {
  return typeof x === "number" ? [x] : (x as Value[]).flatMap(leaves);
}

/** Flat row-major data to nested arrays of the given shape (shape [] gives a number). */
function unflatten(shape: readonly number[], data: readonly number[]): Value {
  const size = shape.reduce((a, b) => a * b, 1);
  if (size !== data.length) throw new Error(`unflatten: ${data.length} values for shape [${shape.join(", ")}]`);
  let k = 0;
  const build = (d: number): Value =>
    d === shape.length ? data[k++] : (Array.from({ length: shape[d] }, () => build(d + 1)) as NDArray);
  return build(0);
}

/** Every element within `tol` relative to max(1, |expected|), and the same shape. */
function expectClose(actual: Value, expected: Value, tol = 1e-12): void {
  expect(shapeOf(actual)).toEqual(shapeOf(expected));
  const a = leaves(actual);
  const e = leaves(expected);
  let worst = 0;
  for (let i = 0; i < e.length; i++) {
    worst = Math.max(worst, Math.abs(a[i] - e[i]) / Math.max(1, Math.abs(e[i])));
  }
  expect(worst).toBeLessThanOrEqual(tol);
}

interface RefTensor {
  shape: number[];
  data: number[];
}
interface RefCase {
  name: string;
  inputs: Record<string, RefTensor>;
  output: RefTensor;
}

const refDir = new URL("./reference/", import.meta.url);

function loadRef(name: string): { inputs: Record<string, Value>; output: Value } {
  const ref = JSON.parse(readFileSync(new URL(`${name}.json`, refDir), "utf8")) as RefCase;
  const inputs: Record<string, Value> = {};
  for (const [k, v] of Object.entries(ref.inputs)) inputs[k] = unflatten(v.shape, v.data);
  return { inputs, output: unflatten(ref.output.shape, ref.output.data) };
}

/** A deterministic pseudo-random tensor (LCG), values in [-1, 1). */
function rand<const S extends readonly number[]>(shape: S, seed: number): Tensor<S> {
  let s = seed >>> 0;
  const n = shape.reduce((a, b) => a * b, 1);
  const data: number[] = [];
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data.push(s / 2 ** 31 - 1);
  }
  return unflatten(shape, data) as Tensor<S>;
}

// ---------------------------------------------------------------------------
// Type-level checks (verified by `tsc --noEmit`; trivially true at run time)
// ---------------------------------------------------------------------------

describe("types", () => {
  it("keeps ranks right", () => {
    const z: number[][] = zeros([2, 3]);
    const s: number = zeros([]);
    const img: Tensor<[1, 8, 8]> = zeros([1, 8, 8]);
    const batch: Tensor<[2, 1, 8, 8]> = zeros([2, 1, 8, 8]);
    const w: Tensor<[4, 1, 3, 3]> = zeros([4, 1, 3, 3]);
    const c3: number[][][] = conv2d(img, w);
    const c4: number[][][][] = conv2d(batch, w, undefined, { stride: [1, 2], padding: 1 });
    const p2: number[][] = maxpool2d(z, { size: 1 });
    const p3: number[][][] = avgpool2d(c3, { size: 2 });
    const l1: number[] = linear([1, 2, 3], zeros([4, 3]));
    const l2: number[][] = linear(zeros([5, 3]), zeros([4, 3]), zeros([4]));
    const f1: number[] = flatten(c4);
    const f2: number[][] = flatten(c4, 1);
    const f4: number[][][][] = flatten(c4, -1);
    const r0: number = relu(-1);
    const r3: number[][][] = relu(c3);
    const a2: number[][] = add(z, 1);
    const a2b: number[][] = mul(2, z);
    const ce: number = crossEntropy(l2, [0, 1, 2, 3, 0]);
    // Rows by partial indexing, elements by full indexing, writes.
    const row: number[] = z[1];
    z[1][2] = row[0] + img[0][3][4];
    // @ts-expect-error rank mismatch between the two tensors
    expect(() => add(z, [1, 2, 3])).toThrow(/shape mismatch/);
    // @ts-expect-error conv2d needs a rank-3 or rank-4 input
    expect(() => conv2d(z, w)).toThrow(/rank 3 or 4/);
    // @ts-expect-error relu of a tensor is a tensor
    const bad: number = relu(z);
    expect([s, p2, p3, l1, f1, f2, f4, r0, r3, a2, a2b, ce, bad].length).toBe(13);
  });
});

// ---------------------------------------------------------------------------
// Construction and elementwise functions
// ---------------------------------------------------------------------------

describe("zeros and elementwise functions", () => {
  it("zeros builds fresh nested arrays", () => {
    const z = zeros([2, 3]);
    expect(z).toEqual([
      [0, 0, 0],
      [0, 0, 0],
    ]);
    z[0][0] = 1;
    expect(z[1][0]).toBe(0);
    expect(zeros([])).toBe(0);
    expect(zeros([0, 2])).toEqual([]);
  });

  it("unary functions on numbers and tensors", () => {
    expect(relu(-2)).toBe(0);
    expect(relu(0)).toBe(0);
    expect(relu(3.5)).toBe(3.5);
    expect(
      relu([
        [-1, 2],
        [0, -0.5],
      ]),
    ).toEqual([
      [0, 2],
      [0, 0],
    ]);
    expect(tanh([0.3])).toEqual([Math.tanh(0.3)]);
    expect(exp(1)).toBe(Math.E);
    expect(log([[1, Math.E]])).toEqual([[0, 1]]);
  });

  it("sigmoid is stable and symmetric", () => {
    expect(sigmoid(0)).toBe(0.5);
    expect(sigmoid(1000)).toBe(1);
    expect(sigmoid(-1000)).toBe(0);
    // The naive 1 / (1 + exp(740)) is 0 (overflow); the stable form keeps the subnormal exp(-740).
    expect(sigmoid(-740)).toBe(Math.exp(-740));
    expect(sigmoid(-740)).toBeGreaterThan(0);
    for (const v of [-30, -2.5, -0.1, 0.1, 2.5, 30]) {
      expect(sigmoid(v) + sigmoid(-v)).toBeCloseTo(1, 15);
      expect(sigmoid(v)).toBeCloseTo(1 / (1 + Math.exp(-v)), 15);
    }
    expect(sigmoid([-1, 0, 1])[1]).toBe(0.5);
  });

  it("does not mutate its input", () => {
    const x = [[-1, 2]];
    relu(x);
    add(x, x);
    expect(x).toEqual([[-1, 2]]);
  });
});

describe("add, sub, mul, div", () => {
  const a = [
    [1, 2, 3],
    [4, 5, 6],
  ];
  const b = [
    [6, 5, 4],
    [3, 2, 1],
  ];

  it("two tensors of one shape", () => {
    expect(add(a, b)).toEqual([
      [7, 7, 7],
      [7, 7, 7],
    ]);
    expect(sub(a, b)).toEqual([
      [-5, -3, -1],
      [1, 3, 5],
    ]);
    expect(mul(a, b)).toEqual([
      [6, 10, 12],
      [12, 10, 6],
    ]);
    expect(div(a, b)).toEqual([
      [1 / 6, 2 / 5, 3 / 4],
      [4 / 3, 5 / 2, 6],
    ]);
  });

  it("a tensor and a number, in either order, and two numbers", () => {
    expect(add(a, 1)).toEqual([
      [2, 3, 4],
      [5, 6, 7],
    ]);
    expect(sub(10, a)).toEqual([
      [9, 8, 7],
      [6, 5, 4],
    ]);
    expect(sub(a, 1)).toEqual([
      [0, 1, 2],
      [3, 4, 5],
    ]);
    expect(mul(2, [1, -1])).toEqual([2, -2]);
    expect(div([2, 4], 2)).toEqual([1, 2]);
    expect(div(1, [2, 4])).toEqual([0.5, 0.25]);
    expect(add(2, 3)).toBe(5);
    expect(div(1, 4)).toBe(0.25);
  });

  it("throws naming both shapes on a mismatch", () => {
    const c = [
      [1, 2],
      [3, 4],
      [5, 6],
    ];
    expect(() => add(a, c)).toThrow(/\[2, 3\].*\[3, 2\]/);
    expect(() => mul([1, 2, 3], [1, 2])).toThrow(/\[3\].*\[2\]/);
    expect(() => sub(a, [1, 2, 3] as unknown as number[][])).toThrow(/\[2, 3\].*\[3\]/);
    expect(() => dot([1, 2], [1, 2, 3])).toThrow(/\[2\].*\[3\]/);
  });
});

// ---------------------------------------------------------------------------
// Layers
// ---------------------------------------------------------------------------

describe("conv2d", () => {
  it("matches a hand-computed case (cross-correlation, bias)", () => {
    // x [1, 3, 3], w [1, 1, 2, 2]: y[i][j] = sum x[i+a][j+b] w[a][b] + b
    const x = [
      [
        [1, 2, 3],
        [4, 5, 6],
        [7, 8, 9],
      ],
    ];
    const w = [
      [
        [
          [1, 2],
          [3, 4],
        ],
      ],
    ];
    // 1*1+2*2+4*3+5*4 = 37, 2+6+15+24 = 47, 4+10+21+32 = 67, 5+12+24+36 = 77
    expect(conv2d(x, w, [0.5])).toEqual([
      [
        [37.5, 47.5],
        [67.5, 77.5],
      ],
    ]);
    expect(conv2d(x, w)).toEqual([
      [
        [37, 47],
        [67, 77],
      ],
    ]);
  });

  it("pads with zeros and strides", () => {
    const x = [
      [
        [1, 2],
        [3, 4],
      ],
    ];
    const w = [
      [
        [
          [1, 1],
          [1, 1],
        ],
      ],
    ];
    // padding 1 -> 3x3 output of window sums over the zero-padded 4x4 input
    expect(conv2d(x, w, undefined, { padding: 1 })).toEqual([
      [
        [1, 3, 2],
        [4, 10, 6],
        [3, 7, 4],
      ],
    ]);
    expect(conv2d(x, w, undefined, { padding: 1, stride: 2 })).toEqual([
      [
        [1, 2],
        [3, 4],
      ],
    ]);
  });

  it("output sizes follow floor((H + 2p - K) / s) + 1", () => {
    const x = rand([2, 9, 11], 1);
    const w = rand([3, 2, 3, 4], 2);
    expect(shapeOf(conv2d(x, w))).toEqual([3, 7, 8]);
    expect(shapeOf(conv2d(x, w, undefined, { stride: 2 }))).toEqual([3, 4, 4]);
    expect(shapeOf(conv2d(x, w, undefined, { padding: 2 }))).toEqual([3, 11, 12]);
    expect(shapeOf(conv2d(x, w, undefined, { stride: [2, 3], padding: [1, 0] }))).toEqual([3, 5, 3]);
    expect(shapeOf(conv2d(x, w, undefined, { stride: 3, padding: 1 }))).toEqual([3, 3, 4]);
  });

  it("batched result equals per-sample results", () => {
    const xs = rand([3, 2, 7, 6], 3);
    const w = rand([4, 2, 3, 3], 4);
    const b = rand([4], 5);
    const opts = { stride: [2, 1], padding: 1 } as const;
    const batched = conv2d(xs, w, b, opts);
    expect(batched).toHaveLength(3);
    for (let n = 0; n < 3; n++) expect(batched[n]).toEqual(conv2d(xs[n], w, b, opts));
  });

  it("rejects mismatched channels", () => {
    expect(() => conv2d(rand([2, 4, 4], 1), rand([1, 3, 2, 2], 2))).toThrow(/channels/);
  });
});

describe("maxpool2d and avgpool2d", () => {
  it("takes window maxima, with ties and all-negative windows", () => {
    const x = [
      [1, 1, -5, -3],
      [1, 1, -4, -2],
      [-7, -7, 0, 0],
      [-7, -8, 0, -1],
    ];
    expect(maxpool2d(x, { size: 2 })).toEqual([
      [1, -2],
      [-7, 0],
    ]);
    // stride 1: overlapping windows
    expect(maxpool2d(x, { size: 2, stride: 1 })).toEqual([
      [1, 1, -2],
      [1, 1, 0],
      [-7, 0, 0],
    ]);
  });

  it("stride defaults to size, floor output size, rectangular windows", () => {
    const x = rand([2, 7, 9], 7);
    expect(shapeOf(maxpool2d(x, { size: 2 }))).toEqual([2, 3, 4]);
    expect(shapeOf(maxpool2d(x, { size: 3, stride: 2 }))).toEqual([2, 3, 4]);
    expect(shapeOf(avgpool2d(x, { size: [2, 3] }))).toEqual([2, 3, 3]);
    expect(shapeOf(avgpool2d(x, { size: [2, 3], stride: [1, 2] }))).toEqual([2, 6, 4]);
  });

  it("maps over channel and batch dimensions", () => {
    const xs = rand([2, 3, 6, 6], 8);
    const pooled = maxpool2d(xs, { size: 2 });
    expect(shapeOf(pooled)).toEqual([2, 3, 3, 3]);
    for (let n = 0; n < 2; n++) {
      for (let c = 0; c < 3; c++) expect(pooled[n][c]).toEqual(maxpool2d(xs[n][c], { size: 2 }));
    }
  });

  it("averages windows", () => {
    const x = [
      [
        [1, 2, 3, 4],
        [5, 6, 7, 8],
      ],
    ];
    expect(avgpool2d(x, { size: 2 })).toEqual([[[3.5, 5.5]]]);
    expect(avgpool2d(x, { size: [1, 2], stride: 1 })).toEqual([
      [
        [1.5, 2.5, 3.5],
        [5.5, 6.5, 7.5],
      ],
    ]);
  });
});

describe("linear", () => {
  const w = [
    [1, 2, 3],
    [-1, 0, 1],
  ];
  it("computes W x + b", () => {
    expect(linear([1, 1, 2], w)).toEqual([9, 1]);
    expect(linear([1, 1, 2], w, [0.5, -1])).toEqual([9.5, 0]);
  });
  it("batched result equals per-row results", () => {
    const xs = rand([4, 5], 10);
    const w2 = rand([3, 5], 11);
    const b = rand([3], 12);
    const y = linear(xs, w2, b);
    expect(shapeOf(y)).toEqual([4, 3]);
    for (let n = 0; n < 4; n++) expect(y[n]).toEqual(linear(xs[n], w2, b));
  });
  it("rejects a size mismatch", () => {
    expect(() => linear([1, 2], w)).toThrow(/\[2\].*\[2, 3\]/);
  });
});

describe("softmax, logSoftmax, crossEntropy", () => {
  it("softmax rows sum to 1, also for large logits", () => {
    const x = [
      [1, 2, 3],
      [1000, 1000, -1000],
      [-5, 0.5, 7],
    ];
    const p = softmax(x);
    for (const row of p) {
      expect(row.every(Number.isFinite)).toBe(true);
      expect(sum(row)).toBeCloseTo(1, 14);
    }
    expect(p[1]).toEqual([0.5, 0.5, 0]);
    const e = [Math.exp(1), Math.exp(2), Math.exp(3)];
    const z = e[0] + e[1] + e[2];
    expectClose(p[0], [e[0] / z, e[1] / z, e[2] / z], 1e-15);
  });

  it("logSoftmax is log of softmax, and stable", () => {
    const x = [0.3, -1.2, 2.5, 0];
    expectClose(logSoftmax(x), log(softmax(x)), 1e-13);
    expect(logSoftmax([1000, 0])).toEqual([0, -1000]);
    expectClose(logSoftmax([[1000, 1000]]), [[-Math.LN2, -Math.LN2]], 1e-15);
  });

  it("crossEntropy with logits of 1000 is finite and analytic", () => {
    // -log softmax([1000, 1000, 0])[0] = log(2 + e^-1000) = log 2
    expect(crossEntropy([1000, 1000, 0], 0)).toBe(Math.LN2);
    // label on the small logit: 1000 + log(2 + e^-1000) = 1000 + log 2
    expect(crossEntropy([1000, 1000, 0], 2)).toBeCloseTo(1000 + Math.LN2, 10);
    // [1000, 999]: loss at label 1 is 1 + log(1 + e^-1)
    expectClose(crossEntropy([1000, 999], 1), 1 + Math.log1p(Math.exp(-1)), 1e-15);
    const x = [0.1, 0.2, 0.7];
    const z = Math.exp(0.1) + Math.exp(0.2) + Math.exp(0.7);
    expectClose(crossEntropy(x, 1), -Math.log(Math.exp(0.2) / z), 1e-15);
  });

  it("batched crossEntropy is the mean of per-row losses", () => {
    const logits = rand([5, 4], 20);
    const labels = [0, 3, 1, 1, 2];
    const perRow = labels.map((l, n) => crossEntropy(logits[n], l));
    expectClose(crossEntropy(logits, labels), mean(perRow), 1e-15);
  });

  it("rejects bad labels", () => {
    expect(() => crossEntropy([1, 2], 2)).toThrow(/label/);
    expect(() => crossEntropy([1, 2], 0.5)).toThrow(/label/);
    expect(() => crossEntropy([[1, 2]], [0, 1])).toThrow(/labels/);
  });
});

describe("flatten, sum, mean, dot", () => {
  const x = rand([2, 3, 4, 5], 30);
  it("flattens as torch.flatten", () => {
    expect(shapeOf(flatten(x))).toEqual([120]);
    expect(shapeOf(flatten(x, 1))).toEqual([2, 60]);
    expect(shapeOf(flatten(x, 2))).toEqual([2, 3, 20]);
    expect(shapeOf(flatten(x, 3))).toEqual([2, 3, 4, 5]);
    expect(shapeOf(flatten(x, -2))).toEqual([2, 3, 20]);
    expect(shapeOf(flatten(x, -4))).toEqual([120]);
    expect(flatten(x)).toEqual(leaves(x));
    expect(flatten(x, 1)[1]).toEqual(leaves(x[1]));
    expect(
      flatten([
        [1, 2],
        [3, 4],
      ]),
    ).toEqual([1, 2, 3, 4]);
    expect(() => flatten(x, 4)).toThrow(/startDim/);
  });

  it("returns a new array", () => {
    const v = [1, 2, 3];
    const f = flatten(v);
    expect(f).toEqual(v);
    expect(f).not.toBe(v);
  });

  it("sum, mean and dot", () => {
    expect(
      sum([
        [1, 2],
        [3, 4.5],
      ]),
    ).toBe(10.5);
    expect(
      mean([
        [1, 2],
        [3, 6],
      ]),
    ).toBe(3);
    expect(sum(4)).toBe(4);
    expect(dot([1, 2, 3], [4, 5, 6])).toBe(32);
    expect(
      dot(
        [
          [1, 2],
          [3, 4],
        ],
        [
          [1, 0],
          [0, 1],
        ],
      ),
    ).toBe(5);
  });
});

// ---------------------------------------------------------------------------
// PyTorch float64 references (test/reference/)
// ---------------------------------------------------------------------------

describe("PyTorch reference forward values", () => {
  const tol = 1e-9;

  it("conv_basic", () => {
    const { inputs: i, output } = loadRef("conv_basic");
    expectClose(conv2d(i.x as number[][][], i.w as number[][][][], i.b as number[]), output, tol);
  });

  it("maxpool_overlap", () => {
    const { inputs: i, output } = loadRef("maxpool_overlap");
    expectClose(maxpool2d(i.x as number[][][], { size: 2, stride: 1 }), output, tol);
  });

  it("seed_maxpool_ties", () => {
    const { inputs: i, output } = loadRef("seed_maxpool_ties");
    expectClose(maxpool2d(i.x as number[][], { size: 2, stride: 2 }), output, tol);
  });

  it("seed_blur (conv2d of one channel, sum of squares)", () => {
    const { inputs: i, output } = loadRef("seed_blur");
    const y = conv2d([i.x as number[][]], [[i.k as number[][]]]);
    expectClose(dot(y, y), output, tol);
  });

  it("mlp_softmax", () => {
    const { inputs: i, output } = loadRef("mlp_softmax");
    const h = tanh(linear(i.x as number[], i.w1 as number[][], i.b1 as number[]));
    const logits = linear(h, i.w2 as number[][], i.b2 as number[]);
    expectClose(crossEntropy(logits, 3), output, tol);
  });

  it("lenet5_digit7", () => {
    const { inputs: i, output } = loadRef("lenet5_digit7");
    const t4 = (k: string) => i[k] as number[][][][];
    const t2 = (k: string) => i[k] as number[][];
    const t1 = (k: string) => i[k] as number[];
    const h1 = maxpool2d(relu(conv2d(i.x as number[][][], t4("c1w"), t1("c1b"), { padding: 2 })), { size: 2 });
    expect(shapeOf(h1)).toEqual([6, 14, 14]);
    const h2 = maxpool2d(relu(conv2d(h1, t4("c2w"), t1("c2b"))), { size: 2 });
    expect(shapeOf(h2)).toEqual([16, 5, 5]);
    const f1 = relu(linear(flatten(h2), t2("f1w"), t1("f1b")));
    const f2 = relu(linear(f1, t2("f2w"), t1("f2b")));
    const logits = linear(f2, t2("f3w"), t1("f3b"));
    expectClose(crossEntropy(logits, i.label as number), output, tol);
  });

  it("logistic_regression and nn_one_hidden (sigmoid, dot, linear)", () => {
    const bce = (y: number, t: number) => -(t * Math.log(y) + (1 - t) * Math.log(1 - y));
    {
      const { inputs: i, output } = loadRef("logistic_regression");
      const y = sigmoid(dot(i.theta as number[], i.x as number[]));
      expectClose(bce(y, i.ystar as number), output, tol);
    }
    {
      const { inputs: i, output } = loadRef("nn_one_hidden");
      const z = sigmoid(linear(i.x as number[], i.alpha as number[][]));
      const y = sigmoid(dot(i.beta as number[], z));
      expectClose(bce(y, i.ystar as number), output, tol);
    }
  });
});
