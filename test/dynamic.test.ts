// Sizes and trip counts known only at run time (SPEC section 5): size type parameters,
// integer parameters, loop bounds that are any integer expression, while and do-while
// loops, break and continue (also labelled), return inside loops. Each program runs at
// several sizes; its value is compared with the same algorithm written in plain
// JavaScript, its gradient with finite differences, and the allocation-free and split
// forms with the allocating one (the split form's tape backpropagated twice: a tape is
// reusable). Sizes that do not fit throw a RangeError naming the size and the arrays.

import { describe, expect, it } from "vitest";
import { Arg, checkJvpHvp, compileOrThrow, directionalCheck, importCode, maxRelErr, rng } from "./helpers.js";

const rand = (n: number, seed: number, scale = 1) => {
  const r = rng(seed);
  return Float64Array.from({ length: n }, () => (r() * 2 - 1) * scale);
};

interface Run {
  /** The arguments, in order. */
  readonly args: readonly Arg[];
  /** The value the same algorithm gives in plain JavaScript. */
  readonly value: number;
}

interface Case {
  readonly name: string;
  readonly source: string;
  readonly entry: string;
  /** Indices of the differentiated arguments (the others are integers or data). */
  readonly wrt: readonly number[];
  readonly runs: readonly Run[];
}

const IMPORT = `import { type Tensor, linear, relu, sum, zeros, mul } from "adgen";\n`;

function lseJs(x: Float64Array): number {
  let m = x[0]!;
  for (let i = 1; i < x.length; i++) m = Math.max(m, x[i]!);
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.exp(x[i]! - m);
  return m + Math.log(s);
}

function newtonJs(a: number): number {
  let y = a;
  let it = 0;
  while (Math.abs(y * y - a) > 1e-12 && it < 60) {
    y = 0.5 * (y + a / y);
    it++;
  }
  return y;
}

function halvingsJs(x: number, n: number): number {
  let y = x;
  let k = 0;
  do {
    y = y * 0.5 + Math.sin(x);
    k++;
  } while (k < n);
  return y;
}

function pairsJs(x: Float64Array): number {
  let s = 0;
  outer: for (let i = 0; i < x.length; i++) {
    for (let j = 0; j < x.length; j++) {
      if (j > i) continue outer;
      if (x[i]! * x[j]! > 0.5) break outer;
      s += x[i]! * x[j]!;
    }
  }
  return s;
}

function firstOverJs(x: Float64Array, w: number): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) {
    s += x[i]! * x[i]!;
    if (s > 1) return s * w;
  }
  return s;
}

function triangularJs(x: Float64Array, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) s += Math.tanh(x[i * n + j]! * x[j * n + i]!);
  }
  return s;
}

function odeJs(y0: number, k: number, steps: number): number {
  let y = y0;
  const h = 1 / steps;
  for (let s = 0; s < steps; s++) y = y + h * (-k * y);
  return y;
}

function linearJs(x: Float64Array, w: Float64Array, b: Float64Array, n: number, din: number, dout: number): number {
  let s = 0;
  for (let r = 0; r < n; r++) {
    for (let o = 0; o < dout; o++) {
      let acc = b[o]!;
      for (let i = 0; i < din; i++) acc += x[r * din + i]! * w[o * din + i]!;
      s += Math.max(acc, 0);
    }
  }
  return s;
}

function stepsJs(x: Float64Array, stride: number): number {
  let s = 0;
  for (let i = x.length - 1; i >= 0; i -= stride) s = s * 0.9 + x[i]!;
  return s;
}

function softDtwJs(x: Float64Array, y: Float64Array): number {
  const n = x.length;
  const D = Array.from({ length: n + 1 }, () => new Array<number>(n + 1).fill(0));
  for (let i = 0; i <= n; i++) {
    for (let j = 0; j <= n; j++) {
      if (i === 0 && j === 0) D[i]![j] = 0;
      else if (i === 0 || j === 0) D[i]![j] = 1e10;
      else {
        const a = D[i - 1]![j]!, b = D[i]![j - 1]!, c = D[i - 1]![j - 1]!;
        const m = Math.min(a, b, c);
        D[i]![j] = (x[i - 1]! - y[j - 1]!) ** 2 + m - Math.log(Math.exp(m - a) + Math.exp(m - b) + Math.exp(m - c));
      }
    }
  }
  return D[n]![n]!;
}

function branchyJs(x: Float64Array): number {
  const y = Float64Array.from(x);
  let s = 0;
  for (let k = 0; k < 3; k++) {
    for (let i = 0; i < y.length; i++) {
      let t = 0;
      if (i > 0) t = y[i - 1]!;
      if (y[i]! > 0) y[i] = Math.sqrt(y[i]! + 1) + 0.5 * t;
      else y[i] += Math.sin(t) - 0.25;
      if (y[i]! > 1) s += y[i]!;
    }
  }
  return s + y.reduce((a, v) => a + v * v, 0);
}

function rowsJs(x: Float64Array, w: number, m: number): number {
  const n = x.length / m;
  const A = Array.from({ length: n }, (_, r) => Array.from({ length: m }, (_, j) => (r === 0 ? x[j]! : 0)));
  let r = 1;
  while (r < n) {
    for (let j = 0; j < m; j++) A[r]![j] = Math.tanh(A[r - 1]![j]! * w + (j > 0 ? A[r - 1]![j - 1]! : 0)) + x[r * m + j]!;
    r++;
  }
  let s = 0;
  for (const row of A) for (const v of row) s += v * Math.sin(v);
  return s;
}

const CASES: readonly Case[] = [
  {
    name: "logsumexp of a vector of any length (a size type parameter, x.length)",
    source: `${IMPORT}
export function lse<N extends number>(x: Tensor<[N]>): number {
  let m = x[0];
  for (let i = 1; i < x.length; i++) m = Math.max(m, x[i]);
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.exp(x[i] - m);
  return m + Math.log(s);
}
`,
    entry: "lse",
    wrt: [0],
    runs: [1, 4, 9].map((n) => {
      const x = rand(n, n, 3);
      return { args: [x], value: lseJs(x) };
    }),
  },
  {
    name: "Newton's method until it converges (a while loop with a data-dependent condition)",
    source: `${IMPORT}
export function newton(a: number): number {
  let y = a;
  let it = 0;
  while (Math.abs(y * y - a) > 1e-12 && it < 60) {
    y = 0.5 * (y + a / y);
    it++;
  }
  return y;
}
`,
    entry: "newton",
    wrt: [0],
    runs: [2, 0.3, 50].map((a) => ({ args: [a], value: newtonJs(a) })),
  },
  {
    name: "a do-while loop with an integer parameter as its count",
    source: `${IMPORT}
export function halvings(x: number, n: number): number {
  let y = x;
  let k = 0;
  do {
    y = y * 0.5 + Math.sin(x);
    k++;
  } while (k < n);
  return y;
}
`,
    entry: "halvings",
    wrt: [0],
    runs: [[0.7, 0], [0.7, 1], [-1.3, 5]].map(([x, n]) => ({ args: [x!, n!], value: halvingsJs(x!, n!) })),
  },
  {
    name: "labelled break and continue out of a nested loop",
    source: `${IMPORT}
export function pairs<N extends number>(x: Tensor<[N]>): number {
  let s = 0;
  outer: for (let i = 0; i < x.length; i++) {
    for (let j = 0; j < x.length; j++) {
      if (j > i) continue outer;
      if (x[i] * x[j] > 0.5) break outer;
      s += x[i] * x[j];
    }
  }
  return s;
}
`,
    entry: "pairs",
    wrt: [0],
    runs: [3, 6, 10].map((n) => {
      const x = rand(n, 10 + n);
      return { args: [x], value: pairsJs(x) };
    }),
  },
  {
    name: "return inside a loop",
    source: `${IMPORT}
export function firstOver<N extends number>(x: Tensor<[N]>, w: number): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) {
    s += x[i] * x[i];
    if (s > 1) return s * w;
  }
  return s;
}
`,
    entry: "firstOver",
    wrt: [0, 1],
    runs: [[2, 0.3], [5, 0.9], [8, 0.6]].map(([n, scale]) => {
      const x = rand(n!, 20 + n!, scale);
      return { args: [x, 1.7], value: firstOverJs(x, 1.7) };
    }),
  },
  {
    name: "a triangular loop (j < i) over a square of run-time size",
    source: `${IMPORT}
export function triangular<N extends number>(x: Tensor<[N, N]>, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) {
      s += Math.tanh(x[i][j] * x[j][i]);
    }
  }
  return s;
}
`,
    entry: "triangular",
    wrt: [0],
    runs: [1, 3, 5].map((n) => {
      const x = rand(n * n, 30 + n);
      return { args: [x, n], value: triangularJs(x, n) };
    }),
  },
  {
    name: "an ODE integrated with a step count passed as a number",
    source: `${IMPORT}
export function ode(y0: number, k: number, steps: number): number {
  let y = y0;
  const h = 1 / steps;
  for (let s = 0; s < steps; s++) {
    y = y + h * (-k * y);
  }
  return y;
}
`,
    entry: "ode",
    wrt: [0, 1],
    runs: [1, 7, 100].map((steps) => ({ args: [1.3, 0.8, steps], value: odeJs(1.3, 0.8, steps) })),
  },
  {
    name: "linear on a batch of run-time size (register-blocked product, leftover rows)",
    source: `${IMPORT}
export function layer<N extends number>(x: Tensor<[N, 5]>, w: Tensor<[3, 5]>, b: Tensor<[3]>): number {
  return sum(relu(linear(x, w, b)));
}
`,
    entry: "layer",
    wrt: [0, 1, 2],
    runs: [1, 2, 7].map((n) => {
      const [x, w, b] = [rand(n * 5, n), rand(15, 40), rand(3, 41)];
      return { args: [x, w, b], value: linearJs(x, w, b, n, 5, 3) };
    }),
  },
  {
    name: "linear whose layer sizes are known only at run time",
    source: `${IMPORT}
export function layer<N extends number, D extends number, H extends number>(
  x: Tensor<[N, D]>, w: Tensor<[H, D]>, b: Tensor<[H]>,
): number {
  return sum(relu(linear(x, w, b)));
}
`,
    entry: "layer",
    wrt: [0, 1, 2],
    runs: [[2, 3, 4], [3, 1, 2], [1, 4, 1]].map(([n, d, h]) => {
      const [x, w, b] = [rand(n! * d!, 50 + n!), rand(h! * d!, 51), rand(h!, 52)];
      return { args: [x, w, b], value: linearJs(x, w, b, n!, d!, h!) };
    }),
  },
  {
    name: "a loop counting down by a run-time stride from x.length - 1",
    source: `${IMPORT}
export function steps<N extends number>(x: Tensor<[N]>, stride: number): number {
  let s = 0;
  for (let i = x.length - 1; i >= 0; i -= stride) {
    s = s * 0.9 + x[i];
  }
  return s;
}
`,
    entry: "steps",
    wrt: [0],
    runs: [[5, 1], [7, 2], [1, 3]].map(([n, stride]) => {
      const x = rand(n!, 60 + n!);
      return { args: [x, stride!], value: stepsJs(x, stride!) };
    }),
  },
  {
    name: "helpers returning tuples, destructured by the caller (an LSTM-like cell over a sequence)",
    source: `${IMPORT}
function cell(x: number, h: Tensor<[H]>, c: Tensor<[H]>, w: Tensor<[H]>): [Tensor<[H]>, Tensor<[H]>] {
  const h2 = zeros([h.length]);
  const c2 = zeros([h.length]);
  for (let i = 0; i < h.length; i++) {
    c2[i] = 0.5 * c[i] + Math.tanh(w[i] * x + h[i]);
    h2[i] = Math.tanh(c2[i]) * w[i];
  }
  return [h2, c2];
}
function stats(v: Tensor<[H]>): [number, number] {
  let s = 0;
  let q = 0;
  for (let i = 0; i < v.length; i++) {
    s += v[i];
    q += v[i] * v[i];
  }
  return [s, q];
}
export function run<T extends number, H extends number>(xs: Tensor<[T]>, w: Tensor<[H]>): number {
  let h = zeros([w.length]);
  let c = zeros([w.length]);
  for (let t = 0; t < xs.length; t++) {
    [h, c] = cell(xs[t], h, c, w);
  }
  const [s, q] = stats(h);
  const [, q2] = stats(c);
  return s + q + q2;
}
`.replace(/Tensor<\[H\]>/g, "Tensor<[H]>").replace("function cell(", "function cell<H extends number>(").replace("function stats(", "function stats<H extends number>("),
    entry: "run",
    wrt: [0, 1],
    runs: [[1, 2], [4, 3]].map(([t, hn]) => {
      const [xs, w] = [rand(t!, 70 + t!), rand(hn!, 71)];
      let h = new Float64Array(hn!);
      let c = new Float64Array(hn!);
      for (let k = 0; k < t!; k++) {
        const c2 = c.map((cv, i) => 0.5 * cv + Math.tanh(w[i]! * xs[k]! + h[i]!));
        h = c2.map((cv, i) => Math.tanh(cv) * w[i]!);
        c = c2;
      }
      const st = (v: Float64Array) => [v.reduce((a, b) => a + b, 0), v.reduce((a, b) => a + b * b, 0)];
      return { args: [xs, w], value: st(h)[0]! + st(h)[1]! + st(c)[1]! };
    }),
  },
  {
    name: "%, Math.floor on integers, module-level constant arrays and Number.EPSILON",
    source: `${IMPORT}
const C = [0.5, -1, 2];
const M = [[1, 0], [0, 2]];
export function terms(x: number, n: number): number {
  let s = Number.EPSILON;
  for (let i = 0; i < n; i++) {
    if (i % 2 === 0) s += x * C[i % 3];
    s += Math.floor(i / 2) * x * M[i % 2][i % 2] + (x % 0.75);
  }
  return s;
}
`,
    entry: "terms",
    wrt: [0],
    runs: [[1.3, 1], [-2.1, 6]].map(([x, n]) => {
      const C = [0.5, -1, 2];
      const M = [[1, 0], [0, 2]];
      let s = Number.EPSILON;
      for (let i = 0; i < n!; i++) {
        if (i % 2 === 0) s += x! * C[i % 3]!;
        s += Math.floor(i / 2) * x! * M[i % 2]![i % 2]! + (x! % 0.75);
      }
      return { args: [x!, n!], value: s };
    }),
  },
  {
    name: "soft-DTW: a table filled row by row in nested loops, branches storing the same element (tape: one record per element)",
    source: `${IMPORT}
export function sdtw<N extends number>(x: Tensor<[N]>, y: Tensor<[N]>): number {
  const n = x.length;
  const D = zeros([n + 1, n + 1]);
  for (let i = 0; i <= n; i++) {
    for (let j = 0; j <= n; j++) {
      if (i === 0 && j === 0) D[i][j] = 0;
      else if (i === 0 || j === 0) D[i][j] = 1e10;
      else {
        const a = D[i - 1][j], b = D[i][j - 1], c = D[i - 1][j - 1];
        const m = Math.min(a, b, c);
        D[i][j] = (x[i - 1] - y[j - 1]) ** 2 + m - Math.log(Math.exp(m - a) + Math.exp(m - b) + Math.exp(m - c));
      }
    }
  }
  return D[n][n];
}
`,
    entry: "sdtw",
    wrt: [0, 1],
    runs: [1, 3, 8].map((n) => {
      const x = rand(n, 40 + n);
      const y = rand(n, 50 + n);
      return { args: [x, y], value: softDtwJs(x, y) };
    }),
  },
  {
    name: "in-place updates in both branches of an if, reads of the tensor inside ifs, nested in a counted loop",
    source: `${IMPORT}
export function branchy<N extends number>(x: Tensor<[N]>): number {
  const y = zeros([x.length]);
  for (let i = 0; i < x.length; i++) y[i] = x[i];
  let s = 0;
  for (let k = 0; k < 3; k++) {
    for (let i = 0; i < x.length; i++) {
      let t = 0;
      if (i > 0) t = y[i - 1];
      if (y[i] > 0) y[i] = Math.sqrt(y[i] + 1) + 0.5 * t;
      else y[i] += Math.sin(t) - 0.25;
      if (y[i] > 1) s += y[i];
    }
  }
  return s + sum(mul(y, y));
}
`,
    entry: "branchy",
    wrt: [0],
    runs: [1, 6, 20].map((n) => {
      const x = rand(n, 60 + n, 2);
      return { args: [x], value: branchyJs(x) };
    }),
  },
  {
    name: "a while loop whose iterations fill one row each in an inner loop",
    source: `${IMPORT}
export function rows<L extends number>(x: Tensor<[L]>, w: number, n: number, m: number): number {
  const A = zeros([n, m]);
  for (let j = 0; j < m; j++) A[0][j] = x[j];
  let r = 1;
  while (r < n) {
    for (let j = 0; j < m; j++) A[r][j] = Math.tanh(A[r - 1][j] * w + (j > 0 ? A[r - 1][j - 1] : 0)) + x[r * m + j];
    r++;
  }
  let s = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) s += A[i][j] * Math.sin(A[i][j]);
  return s;
}
`,
    entry: "rows",
    wrt: [0, 1],
    runs: [[1, 3], [4, 3], [6, 5]].map(([n, m]) => {
      const x = rand(n! * m!, 70 + n!);
      return { args: [x, 0.7, n!, m!], value: rowsJs(x, 0.7, m!) };
    }),
  },
];

type Fn = (...a: unknown[]) => any;


const copy = (a: Arg): Arg => (typeof a === "number" ? a : Float64Array.from(a));

describe("run-time sizes and dynamic control flow", () => {
  for (const k of CASES) {
    it(k.name, async () => {
      const r = await compileOrThrow(k.source, { fileName: "model.ts" });
      const m = await importCode<Record<string, Fn>>(r.code!);
      const f = m[k.entry]!;
      const names = r.entries.find((e) => e.entry.name === k.entry)!.grad.wrt;
      for (const run of k.runs) {
        const args = run.args.map(copy);
        const v = f(...args);
        expect(Math.abs(v - run.value), `${k.entry}(${run.args.map((a) => (typeof a === "number" ? a : `[${a.length}]`))})`)
          .toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(run.value)));
        const g = m[`${k.entry}Grad`]!(...args);
        expect(g.value).toBe(v);
        const grads = run.args.map((_, i) => (k.wrt.includes(i) ? g.grads[names[k.wrt.indexOf(i)]!] : undefined));
        const worst = directionalCheck((a) => f(...a), args, grads, { seed: 3 });
        expect(worst, `${k.entry} gradient vs finite differences`).toBeLessThan(1e-6);
        // the allocation-free form, twice (its workspace reused), and the split form
        const into = Object.fromEntries(names.map((n) => {
          const a = g.grads[n];
          return [n, typeof a === "number" ? 0 : new Float64Array(a.length)];
        }));
        for (let rep = 0; rep < 2; rep++) {
          expect(m[`${k.entry}GradInto`]!(...args, into)).toBe(v);
          for (const n of names) expect(maxRelErr(into[n], g.grads[n]), n).toBe(0);
        }
        // forward mode: ⟨grad, t⟩ = fJvp's tangent; fHvp against centered differences of the gradient
        checkJvpHvp(m, k.entry, args, names, r.entries.find((e) => e.entry.name === k.entry)!.entry.params.map((p) => p.name), g);
        const tape = m[`${k.entry}Forward`]!(...args);
        expect(tape.value).toBe(v);
        for (let rep = 0; rep < 2; rep++) {
          const back = m[`${k.entry}Backward`]!(tape);
          for (const n of names) expect(maxRelErr(back[n], g.grads[n]), `${n} from a tape, pass ${rep + 1}`).toBe(0);
        }
      }
    });
  }

  it("sizes that do not fit throw a RangeError naming the size and the arrays", async () => {
    const m = await importCode<Record<string, Fn>>((await compileOrThrow(CASES[7]!.source, { fileName: "model.ts" })).code!);
    const w = rand(15, 1);
    const b = rand(3, 2);
    expect(() => m.layer!(new Float64Array(11), w, b)).toThrow(RangeError);
    expect(() => m.layer!(new Float64Array(11), w, b)).toThrow(/x has 11 elements.*N\*5|5\*N/);
    const ode = await importCode<Record<string, Fn>>((await compileOrThrow(CASES[6]!.source, { fileName: "model.ts" })).code!);
    expect(() => ode.ode!(1, 1, 2.5)).toThrow(/steps must be a non-negative integer, got 2\.5/);
    expect(() => ode.ode!(1, 1, -1)).toThrow(RangeError);
    const lse = await importCode<Record<string, Fn>>((await compileOrThrow(CASES[0]!.source, { fileName: "model.ts" })).code!);
    expect(() => lse.lseGradInto!(rand(3, 1), { x: new Float64Array(2) })).toThrow(RangeError);
  });

  it("a loop that updates a tensor in place keeps the elements it overwrites, not a copy per iteration", async () => {
    const source = `${IMPORT}
export function inplace<N extends number>(x: Tensor<[N]>): number {
  const y = zeros([x.length]);
  for (let i = 0; i < x.length; i++) y[i] = x[i];
  for (let i = 1; i < x.length; i++) y[i] = Math.tanh(y[i]) + Math.sin(y[i - 1]);
  return sum(mul(y, y));
}
`;
    const m = await importCode<Record<string, Fn>>((await compileOrThrow(source, { fileName: "model.ts" })).code!);
    for (const n of [5, 4000]) {
      const x = rand(n, n);
      const tape = m.inplaceForward!(x);
      // what the stacks hold
      const held = Object.values(tape as Record<string, unknown>)
        .filter((v): v is { top: number } => typeof v === "object" && v !== null && "top" in v)
        .reduce((a, st) => a + st.top, 0);
      // the second loop's n - 1 writes, one number each (the indices are recomputed)
      expect(held).toBe(n - 1);
      const g = m.inplaceGrad!(x);
      expect(directionalCheck((a) => m.inplace!(...a), [x], [g.grads.x], { seed: 5 })).toBeLessThan(1e-6);
      const back = m.inplaceBackward!(tape);
      expect(maxRelErr(back.x, g.grads.x)).toBe(0);
      expect(maxRelErr(m.inplaceBackward!(tape).x, g.grads.x)).toBe(0);
    }
  });

  it("a loop body's costly calls are residuals: the reversed iteration pops them instead of calling again", async () => {
    const source = `${IMPORT}
export function lse<N extends number>(x: Tensor<[N]>): number {
  let im = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[im]) im = i;
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.exp(x[i] - x[im]);
  return x[im] + Math.log(s);
}
export function grow<N extends number>(x: Tensor<[N]>): number {
  let s = 0;
  let i = 0;
  while (s < 10 && i < 1000) {
    s += Math.exp(x[i % x.length]) * Math.tanh(x[(i + 1) % x.length] + 2);
    i++;
  }
  return s * Math.log(s);
}
export function nest<N extends number>(w: Tensor<[N]>, steps: number): number {
  let h = 0.5;
  for (let t = 0; t < steps; t++) {
    let s = 0;
    for (let j = 0; j < w.length; j++) s += Math.tanh(w[j] * h + t) * Math.exp(-w[j]);
    h = Math.log(1 + s * s);
  }
  return h;
}
`;
    const r = await compileOrThrow(source, { fileName: "model.ts" });
    const code = r.code!;
    const fn = (name: string): string => {
      const from = code.slice(code.indexOf(`export function ${name}(`));
      return from.slice(0, from.indexOf("\n}\n"));
    };
    // calls in code, not in the comments that quote the source line
    const calls = (text: string, f: string) => text.split("\n").filter((l) => !l.trim().startsWith("//")).join("\n").split(`Math.${f}(`).length - 1;
    // lse: one Math.exp per element in the whole gradient, none in the backward pass
    expect(calls(fn("lseGradInto"), "exp")).toBe(1);
    expect(calls(fn("lseBackward"), "exp")).toBe(0);
    // the while loop's reversal pops both calls (its trip count known only at run time)
    expect(calls(fn("growBackward"), "exp") + calls(fn("growBackward"), "tanh")).toBe(0);
    const m = await importCode<Record<string, Fn>>(code);
    const stacks = (tape: unknown): Record<string, number> => Object.fromEntries(Object.entries(tape as Record<string, unknown>)
      .filter((e): e is [string, { top: number }] => typeof e[1] === "object" && e[1] !== null && "top" in e[1])
      .map(([k, st]) => [k, st.top]));
    for (const n of [3, 50]) {
      const x = rand(n, n);
      expect(stacks(m.lseForward!(x))).toEqual({ expTape: n });
      const w = rand(n, n + 1, 0.5);
      // nest keeps h per step (its log's derivative needs the recomputed s, not log's value);
      // the inner loop's residuals live within one reversed step, not on the tape
      expect(Object.values(stacks(m.nestForward!(w, 4))).reduce((a, b) => a + b, 0)).toBe(4);
      for (const [name, args] of [["lse", [x]], ["grow", [x]], ["nest", [w, 4]]] as const) {
        const g = m[`${name}Grad`]!(...args);
        const wrt = args.map((a) => (typeof a === "number" ? undefined : g.grads[Object.keys(g.grads)[0]!]));
        expect(directionalCheck((a) => m[name]!(...a), [...args], wrt, { seed: 9 }), name).toBeLessThan(1e-6);
        const back = m[`${name}Backward`]!(m[`${name}Forward`]!(...args));
        for (const k of Object.keys(g.grads)) expect(maxRelErr(back[k], g.grads[k]), `${name} split`).toBe(0);
      }
    }
  });

  it("a table filled row by row keeps one record per element written, not the table per row", async () => {
    const k = CASES.find((c) => c.entry === "sdtw")!;
    const m = await importCode<Record<string, Fn>>((await compileOrThrow(k.source, { fileName: "model.ts" })).code!);
    for (const n of [3, 40]) {
      const tape = m.sdtwForward!(rand(n, 1), rand(n, 2));
      const held = Object.values(tape as Record<string, unknown>)
        .filter((v): v is { top: number } => typeof v === "object" && v !== null && "top" in v)
        .reduce((a, st) => a + st.top, 0);
      // per element: the number overwritten and its two indices; per row: how many it wrote
      expect(held).toBe(3 * (n + 1) ** 2 + (n + 1));
    }
  });

  it("a trip count is recorded, not unrolled: the generated code has one loop per source loop", async () => {
    const r = await compileOrThrow(CASES[1]!.source, { fileName: "model.ts" });
    const backward = r.code!.slice(r.code!.indexOf("export function newtonBackward"));
    const body = backward.slice(0, backward.indexOf("\n}\n"));
    expect(body.match(/^\s*(for|while) \(/gm)?.length).toBe(1);
  });
});
