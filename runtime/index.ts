/**
 * The `"adgen"` module as DSL files see it.
 *
 * It plays two parts:
 *
 * 1. Type declarations, so a DSL file type-checks under `tsc --strict` in an
 *    editor. A `Tensor<[d0, d1, ...]>` is a nested array whose depth is the
 *    rank; the dimensions themselves are erased (the compiler checks shapes).
 * 2. The plain reference implementation: a DSL file runs as-is under Node with
 *    tensors as nested arrays (`x[c][i][j]`), and what it computes is the
 *    reference semantics that generated code must match. Every function here
 *    is written for obvious correctness, not speed, and follows PyTorch
 *    (float64) wherever PyTorch has the same function.
 *
 * This module imports nothing and never mutates its arguments.
 */

// ---------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------

/** A nested array of numbers of any rank >= 1 (shape unknown to the type system). */
export type NDArray = number[] | NDArray[];

/**
 * A tensor of shape `S`, as nested arrays of depth `S["length"]`: `Tensor<[]>` is
 * `number`, `Tensor<[3]>` is `number[]`, `Tensor<[2, 3]>` is `number[][]`, and so on.
 * Only the rank is kept at the type level, so a dimension may be a type parameter
 * (`Tensor<[N, 784]>` is `number[][]` inside `f<N extends number>`).
 */
export type Tensor<S extends readonly number[]> = Nested<S["length"]>;

/** Nested arrays of depth L (ranks up to 8; deeper tensors are NDArray). */
export type Nested<L extends number> = L extends 0 ? number
  : L extends 1 ? number[]
  : L extends 2 ? number[][]
  : L extends 3 ? number[][][]
  : L extends 4 ? number[][][][]
  : L extends 5 ? number[][][][][]
  : L extends 6 ? number[][][][][][]
  : L extends 7 ? number[][][][][][][]
  : L extends 8 ? number[][][][][][][][]
  : NDArray;

/** A size for a 2-D window: one number for both axes, or `[height, width]`. */
export type Size2 = number | readonly [number, number];

/** Options of {@link conv2d}. Both default as in PyTorch: stride 1, padding 0. */
export interface Conv2dOptions {
  stride?: Size2;
  padding?: Size2;
}

/** Options of {@link maxpool2d} and {@link avgpool2d}. `stride` defaults to `size`. */
export interface Pool2dOptions {
  size: Size2;
  stride?: Size2;
}

// Type-level rank arithmetic for flatten.
type DepthOf<T> = T extends number ? [] : T extends readonly (infer E)[] ? [0, ...DepthOf<E>] : never;
type NestOf<R extends readonly unknown[]> = R extends readonly [unknown, ...infer Rest] ? NestOf<Rest>[] : number;
type TupleOf<N extends number, Acc extends 0[] = []> = Acc["length"] extends N ? Acc : TupleOf<N, [...Acc, 0]>;
type DropN<T extends readonly unknown[], N extends number, Acc extends 0[] = []> = Acc["length"] extends N
  ? T
  : T extends readonly [unknown, ...infer R]
    ? DropN<R, N, [...Acc, 0]>
    : [];
/** The result type of `flatten(x: T, startDim: D)`: rank `D + 1` (or `rank + D + 1` for negative `D`). */
export type Flattened<T extends NDArray, D extends number> = NDArray extends T
  ? NDArray
  : number extends D
    ? NDArray
    : `${D}` extends `-${infer K extends number}`
      ? NestOf<[0, ...DropN<DepthOf<T>, K>]>
      : NestOf<[...TupleOf<D>, 0]>;

// ---------------------------------------------------------------------------
// Internal helpers
// ---------------------------------------------------------------------------

type Value = number | NDArray;

/** Shape of a (rectangular) nested array, read along the first elements. */
function shapeOf(x: Value): number[] {
  const shape: number[] = [];
  let t: Value = x;
  while (typeof t !== "number") {
    shape.push(t.length);
    if (t.length === 0) break;
    t = t[0];
  }
  return shape;
}

function fmt(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

function expectRank(fn: string, what: string, x: Value, ranks: readonly number[]): number[] {
  const s = shapeOf(x);
  if (!ranks.includes(s.length)) {
    throw new Error(`${fn}: ${what} must have rank ${ranks.join(" or ")}, got shape ${fmt(s)}`);
  }
  return s;
}

function pair(fn: string, name: string, v: Size2, min: number): [number, number] {
  const p: [number, number] = typeof v === "number" ? [v, v] : [v[0], v[1]];
  for (const n of p) {
    if (!Number.isInteger(n) || n < min)
      throw new Error(`${fn}: ${name} must be an integer >= ${min}, got ${String(v)}`);
  }
  return p;
}

function map(x: Value, f: (v: number) => number): Value {
  return typeof x === "number" ? f(x) : ((x as Value[]).map((e) => map(e, f)) as NDArray);
}

/** Elementwise `f(a, b)`: same shapes, or either side a plain number. */
function zipWith(fn: string, a: Value, b: Value, f: (x: number, y: number) => number): Value {
  if (typeof a === "number") return map(b, (y) => f(a, y));
  if (typeof b === "number") return map(a, (x) => f(x, b));
  const go = (x: Value, y: Value): Value => {
    if (typeof x === "number" && typeof y === "number") return f(x, y);
    if (typeof x === "number" || typeof y === "number" || x.length !== y.length) {
      throw new Error(`${fn}: shape mismatch, ${fmt(shapeOf(a))} and ${fmt(shapeOf(b))}`);
    }
    return (x as Value[]).map((xi, i) => go(xi, (y as Value[])[i])) as NDArray;
  };
  return go(a, b);
}

/** Applies `f` to every rank-`r` sub-tensor of `x` (x of rank >= r). */
function onLast<T>(x: Value, r: number, f: (t: never) => T): unknown {
  return shapeOf(x).length === r ? f(x as never) : (x as Value[]).map((e) => onLast(e, r, f));
}

function leaves(x: Value, out: number[] = []): number[] {
  if (typeof x === "number") out.push(x);
  else for (const e of x as Value[]) leaves(e, out);
  return out;
}

// ---------------------------------------------------------------------------
// Construction
// ---------------------------------------------------------------------------

/**
 * A new tensor of zeros of the given shape, for loops to fill.
 * `zeros([2, 3])` has type `Tensor<[2, 3]>` (`number[][]`); `zeros([])` is `0`.
 */
export function zeros<const S extends readonly number[]>(shape: S): Tensor<S> {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`zeros: bad shape ${fmt(shape)}`);
  }
  const make = (k: number): Value =>
    k === shape.length ? 0 : (Array.from({ length: shape[k] }, () => make(k + 1)) as NDArray);
  return make(0) as Tensor<S>;
}

// ---------------------------------------------------------------------------
// Elementwise unary functions: number -> number, tensor -> tensor of the same shape
// ---------------------------------------------------------------------------

/** `max(0, x)` elementwise. `x`: a number or a tensor of any shape; result: the same shape. */
export function relu(x: number): number;
export function relu<T extends NDArray>(x: T): T;
export function relu(x: Value): Value {
  return map(x, (v) => (v > 0 ? v : Number.isNaN(v) ? v : 0));
}

/**
 * Logistic sigmoid `1 / (1 + exp(-x))` elementwise, computed stably
 * (`exp(x) / (1 + exp(x))` for negative x). Any shape; result: the same shape.
 */
export function sigmoid(x: number): number;
export function sigmoid<T extends NDArray>(x: T): T;
export function sigmoid(x: Value): Value {
  return map(x, (v) => {
    if (v >= 0) return 1 / (1 + Math.exp(-v));
    const e = Math.exp(v);
    return e / (1 + e);
  });
}

/** Hyperbolic tangent elementwise. Any shape; result: the same shape. */
export function tanh(x: number): number;
export function tanh<T extends NDArray>(x: T): T;
export function tanh(x: Value): Value {
  return map(x, Math.tanh);
}

/** `e^x` elementwise. Any shape; result: the same shape. */
export function exp(x: number): number;
export function exp<T extends NDArray>(x: T): T;
export function exp(x: Value): Value {
  return map(x, Math.exp);
}

/** Natural logarithm elementwise. Any shape; result: the same shape. */
export function log(x: number): number;
export function log<T extends NDArray>(x: T): T;
export function log(x: Value): Value {
  return map(x, Math.log);
}

// ---------------------------------------------------------------------------
// Elementwise binary functions
// ---------------------------------------------------------------------------

/**
 * `a + b` elementwise: two tensors of one shape, a tensor and a number (either
 * order), or two numbers. The result has the tensor's shape. Throws on a shape mismatch.
 */
export function add(a: number, b: number): number;
export function add<T extends NDArray>(a: T, b: NoInfer<T> | number): T;
export function add<T extends NDArray>(a: number, b: T): T;
export function add(a: Value, b: Value): Value {
  return zipWith("add", a, b, (x, y) => x + y);
}

/** `a - b` elementwise; shapes as {@link add}. */
export function sub(a: number, b: number): number;
export function sub<T extends NDArray>(a: T, b: NoInfer<T> | number): T;
export function sub<T extends NDArray>(a: number, b: T): T;
export function sub(a: Value, b: Value): Value {
  return zipWith("sub", a, b, (x, y) => x - y);
}

/** `a * b` elementwise (Hadamard product); shapes as {@link add}. */
export function mul(a: number, b: number): number;
export function mul<T extends NDArray>(a: T, b: NoInfer<T> | number): T;
export function mul<T extends NDArray>(a: number, b: T): T;
export function mul(a: Value, b: Value): Value {
  return zipWith("mul", a, b, (x, y) => x * y);
}

/** `a / b` elementwise; shapes as {@link add}. */
export function div(a: number, b: number): number;
export function div<T extends NDArray>(a: T, b: NoInfer<T> | number): T;
export function div<T extends NDArray>(a: number, b: T): T;
export function div(a: Value, b: Value): Value {
  return zipWith("div", a, b, (x, y) => x / y);
}

// ---------------------------------------------------------------------------
// Layers
// ---------------------------------------------------------------------------

/**
 * Affine layer `y = W x + b` (as torch.nn.functional.linear).
 * `x`: `[in]` or batched `[N, in]`; `w`: `[out, in]`; `b`: `[out]` (optional).
 * Result: `[out]`, or `[N, out]` for a batch.
 */
export function linear<T extends number[] | number[][]>(x: T, w: number[][], b?: number[]): T {
  const xs = expectRank("linear", "x", x, [1, 2]);
  const ws = expectRank("linear", "w", w, [2]);
  const [out, inp] = ws;
  if (xs[xs.length - 1] !== inp) throw new Error(`linear: x ${fmt(xs)} does not match w ${fmt(ws)}`);
  if (b !== undefined && expectRank("linear", "b", b, [1])[0] !== out) {
    throw new Error(`linear: b ${fmt(shapeOf(b))} does not match w ${fmt(ws)}`);
  }
  const one = (v: number[]): number[] =>
    w.map((row, o) => {
      let acc = 0;
      for (let i = 0; i < inp; i++) acc += row[i] * v[i];
      return acc + (b ? b[o] : 0);
    });
  return (xs.length === 1 ? one(x as number[]) : (x as number[][]).map(one)) as T;
}

/**
 * 2-D convolution (cross-correlation, as torch.nn.functional.conv2d) with zero padding.
 * `x`: `[C, H, W]` or batched `[N, C, H, W]`; `w`: `[O, C, KH, KW]`; `b`: `[O]` (optional).
 * Result: `[O, OH, OW]` (or `[N, O, OH, OW]`) with `OH = floor((H + 2 ph - KH) / sh) + 1`,
 * likewise `OW`. `stride` and `padding` are a number or `[h, w]`; defaults 1 and 0.
 */
export function conv2d<T extends number[][][] | number[][][][]>(
  x: T,
  w: number[][][][],
  b?: number[],
  opts: Conv2dOptions = {},
): T {
  const xs = expectRank("conv2d", "x", x, [3, 4]);
  const [O, C, KH, KW] = expectRank("conv2d", "w", w, [4]);
  const [sh, sw] = pair("conv2d", "stride", opts.stride ?? 1, 1);
  const [ph, pw] = pair("conv2d", "padding", opts.padding ?? 0, 0);
  const [Cx, H, W] = xs.slice(-3);
  if (Cx !== C) throw new Error(`conv2d: x ${fmt(xs)} has ${Cx} channels, w ${fmt(shapeOf(w))} expects ${C}`);
  if (b !== undefined && expectRank("conv2d", "b", b, [1])[0] !== O) {
    throw new Error(`conv2d: b ${fmt(shapeOf(b))} does not match w ${fmt(shapeOf(w))}`);
  }
  const OH = Math.floor((H + 2 * ph - KH) / sh) + 1;
  const OW = Math.floor((W + 2 * pw - KW) / sw) + 1;
  if (OH < 1 || OW < 1) throw new Error(`conv2d: kernel ${KH}x${KW} larger than padded input ${fmt(xs)}`);
  const one = (img: number[][][]): number[][][] => {
    const y = zeros([O, OH, OW]);
    for (let o = 0; o < O; o++) {
      for (let i = 0; i < OH; i++) {
        for (let j = 0; j < OW; j++) {
          let acc = 0;
          for (let c = 0; c < C; c++) {
            for (let ki = 0; ki < KH; ki++) {
              const r = i * sh + ki - ph;
              if (r < 0 || r >= H) continue;
              for (let kj = 0; kj < KW; kj++) {
                const q = j * sw + kj - pw;
                if (q < 0 || q >= W) continue;
                acc += img[c][r][q] * w[o][c][ki][kj];
              }
            }
          }
          y[o][i][j] = acc + (b ? b[o] : 0);
        }
      }
    }
    return y;
  };
  return (xs.length === 3 ? one(x as number[][][]) : (x as number[][][][]).map(one)) as T;
}

function pool2d(fn: string, x: Value, opts: Pool2dOptions, reduce: (window: number[]) => number): unknown {
  const xs = expectRank(fn, "x", x, [2, 3, 4]);
  const [kh, kw] = pair(fn, "size", opts.size, 1);
  const [sh, sw] = pair(fn, "stride", opts.stride ?? opts.size, 1);
  const [H, W] = xs.slice(-2);
  const OH = Math.floor((H - kh) / sh) + 1;
  const OW = Math.floor((W - kw) / sw) + 1;
  if (H < kh || W < kw) throw new Error(`${fn}: window ${kh}x${kw} larger than input ${fmt(xs)}`);
  return onLast(x, 2, (img: number[][]) => {
    const y = zeros([OH, OW]);
    for (let i = 0; i < OH; i++) {
      for (let j = 0; j < OW; j++) {
        const window: number[] = []; // row-major window order
        for (let ki = 0; ki < kh; ki++) for (let kj = 0; kj < kw; kj++) window.push(img[i * sh + ki][j * sw + kj]);
        y[i][j] = reduce(window);
      }
    }
    return y;
  });
}

/**
 * 2-D max pooling (as torch.nn.functional.max_pool2d, no padding, floor mode).
 * `x`: `[H, W]`, `[C, H, W]` or `[N, C, H, W]`; the result has the same rank with
 * `OH = floor((H - kh) / sh) + 1`, likewise `OW`. `stride` defaults to `size`.
 * NaN propagates, as in PyTorch.
 */
export function maxpool2d<T extends number[][] | number[][][] | number[][][][]>(x: T, opts: Pool2dOptions): T {
  return pool2d("maxpool2d", x, opts, maxOf) as T;
}

/**
 * 2-D average pooling (as torch.nn.functional.avg_pool2d, no padding, floor mode).
 * Shapes and defaults as {@link maxpool2d}.
 */
export function avgpool2d<T extends number[][] | number[][][] | number[][][][]>(x: T, opts: Pool2dOptions): T {
  return pool2d("avgpool2d", x, opts, (win) => win.reduce((s, v) => s + v, 0) / win.length) as T;
}

function maxOf(v: number[]): number {
  let m = -Infinity;
  for (const e of v) if (e > m || Number.isNaN(e)) m = e;
  return m;
}

/** The stable pieces of log-softmax: `m = max(v)` and `lse = log(sum(exp(v - m)))`. */
function shiftedLogSumExp(v: number[]): { m: number; lse: number } {
  const m = maxOf(v);
  let s = 0;
  for (const e of v) s += Math.exp(e - m);
  return { m, lse: Math.log(s) };
}

/**
 * Softmax along the last axis, computed stably (`exp(x - max) / sum(exp(x - max))`).
 * `x`: `[K]` or `[N, K]` (any rank >= 1 works); result: the same shape.
 */
export function softmax<T extends NDArray>(x: T): T {
  return onLast(x, 1, (v: number[]) => {
    const m = maxOf(v);
    const e = v.map((a) => Math.exp(a - m));
    const s = e.reduce((p, q) => p + q, 0);
    return e.map((a) => a / s);
  }) as T;
}

/**
 * Log-softmax along the last axis, computed stably (`x - max - log(sum(exp(x - max)))`).
 * `x`: `[K]` or `[N, K]` (any rank >= 1 works); result: the same shape.
 */
export function logSoftmax<T extends NDArray>(x: T): T {
  return onLast(x, 1, (v: number[]) => {
    const { m, lse } = shiftedLogSumExp(v);
    return v.map((a) => a - m - lse);
  }) as T;
}

function classIndex(label: number, k: number): number {
  if (!Number.isInteger(label) || label < 0 || label >= k) {
    throw new RangeError(`crossEntropy: label ${label} is not a class index in [0, ${k})`);
  }
  return label;
}

/**
 * Softmax cross-entropy with integer class labels (as torch.nn.functional.cross_entropy),
 * computed stably.
 * - `logits` `[K]`, `label` a number in `[0, K)`: `-logSoftmax(logits)[label]`.
 * - `logits` `[N, K]`, `labels` `[N]` of class indices: the mean over the batch.
 */
export function crossEntropy(logits: number[], label: number): number;
export function crossEntropy(logits: number[][], labels: number[]): number;
export function crossEntropy(logits: number[] | number[][], label: number | number[]): number {
  const ls = expectRank("crossEntropy", "logits", logits, [1, 2]);
  const one = (v: number[], l: number): number => {
    const { m, lse } = shiftedLogSumExp(v);
    return -(v[classIndex(l, v.length)] - m - lse);
  };
  if (ls.length === 1) {
    if (typeof label !== "number") throw new Error(`crossEntropy: logits ${fmt(ls)} need a number label`);
    return one(logits as number[], label);
  }
  if (typeof label === "number" || shapeOf(label).length !== 1 || label.length !== ls[0]) {
    throw new Error(`crossEntropy: logits ${fmt(ls)} need labels of shape [${ls[0]}], got ${fmt(shapeOf(label))}`);
  }
  const rows = logits as number[][];
  let s = 0;
  for (let n = 0; n < rows.length; n++) s += one(rows[n], label[n]);
  return s / rows.length;
}

/**
 * As torch.flatten(x, startDim): dimensions `startDim..end` merged into one (row-major).
 * `x` of rank r: result of rank `startDim + 1` (negative `startDim` counts from the end).
 * Always returns a new array. `flatten(x)` is the 1-D vector of all elements.
 */
export function flatten<T extends NDArray, const D extends number = 0>(x: T, startDim?: D): Flattened<T, D> {
  const r = shapeOf(x).length;
  const s = startDim ?? 0;
  const d = s < 0 ? s + r : s;
  if (!Number.isInteger(d) || d < 0 || d >= r) {
    throw new Error(`flatten: startDim ${s} out of range for shape ${fmt(shapeOf(x))}`);
  }
  const go = (t: Value, k: number): Value =>
    k === 0 ? leaves(t) : ((t as Value[]).map((e) => go(e, k - 1)) as NDArray);
  return go(x, d) as Flattened<T, D>;
}

// ---------------------------------------------------------------------------
// Reductions
// ---------------------------------------------------------------------------

/** Sum of all elements of `x` (a number or a tensor of any shape). */
export function sum(x: number | NDArray): number {
  let s = 0;
  for (const v of leaves(x)) s += v;
  return s;
}

/** Mean of all elements of `x` (a number or a tensor of any shape). */
export function mean(x: number | NDArray): number {
  const v = leaves(x);
  return sum(v) / v.length;
}

/** `sum(a * b)`: the sum of elementwise products of two tensors of one shape (any rank). */
export function dot<T extends NDArray>(a: T, b: NoInfer<T>): number {
  return sum(zipWith("dot", a, b, (x, y) => x * y));
}
