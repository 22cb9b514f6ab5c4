// conv2d and its weight and input adjoints as matrix products (im2col / col2im), each product
// the register-blocked Wasm gemm of gemm.ts, one per image, for static shapes: x [N, C, H, W],
// w [O, C, KH, KW] (= [O, K], K = C·KH·KW), y [N, O, OH, OW] (= [O, P] per image,
// P = OH·OW), row stride sh, column stride 1, zero padding (ph, pw), f64x2 or f32x4.
//
// - col[k][p], k = (c, ki, kj), p = (i, j): the input element under tap k of output p,
//   x[c][i·sh + ki - ph][j + kj - pw], or 0 in the padding. Built image by image in a scratch
//   buffer (K·P elements): for each tap, the output rows whose input row is inside x, each a
//   segment of the columns whose input column is inside x (static per tap: the taps' loops
//   are unrolled), copied with v128 loads and stores (the last vector overlapping the one
//   before it). The padding's zeros are the same for every image: one memory.fill per call.
// - forward: y_n = w · col + b ("columns": vectors along p; each y[o][p] sums b, then k in
//   (c, ki, kj) order, as the direct kernels do, so float64 results are bit-identical to the
//   TypeScript kernel's).
// - weight adjoint: dw = Σ_n dy_n · col_nᵀ ("dot": dy's rows and col's rows are both
//   contiguous along p), dw zeroed first, each image's products added.
// - input adjoint: dcol = wᵀ · dy_n ("columns", in the scratch buffer), then col2im: dx_n
//   zeroed, and each tap's segments of dcol added into dx_n's rows (v128 where a segment has
//   whole vectors, scalar for the rest). Unlike the convolution of a padded dy it does only
//   the O·K·P products of the adjoint, whatever the padding or the row stride.
//
// Why: the direct kernels (conv2d.ts, conv2dGradWeight.ts) keep mo·nv accumulators over one
// output row; a row of OW = 10 outputs is 3 f32x4 vectors (12 lanes for 10), and the k loop
// is one tap long. The product runs along all P = 100 outputs of a channel at once, with the
// gemm's 4×2 blocks. Measured on LeNet-5's step: plan.ts (CONV_GEMM).

import { type FuncScope, type Local, type Stmt, forRange, func, get, i32, memory, seq, set } from "../builder.js";
import type { EncodedFunction } from "../encoder.js";
import type { ConvSpec } from "./conv2d.js";
import { gemmInline } from "./gemm.js";
import { type Dtype, type Lanes, lanesOf } from "./lanes.js";

/**
 * The convolution's shapes, as the direct kernel's (conv2d.ts): batch ("dynamic": the last
 * parameter), x's C, H, W, the O kernels of KH×KW, padding, stride (column stride 1).
 */
export type ConvGemmSpec = Omit<ConvSpec, "bias" | "clampRows" | "block">;

export interface ConvGemmGeometry {
  readonly OH: number;
  readonly OW: number;
  /** Taps per output: C·KH·KW. */
  readonly K: number;
  /** Outputs per channel: OH·OW. */
  readonly P: number;
  /** Elements of the scratch buffer (col or dcol): K·P. */
  readonly scratch: number;
}

export function convGemmGeometry(c: ConvGemmSpec): ConvGemmGeometry {
  const [ph, pw] = c.padding;
  const OH = Math.floor((c.H + 2 * ph - c.KH) / c.stride[0]) + 1;
  const OW = Math.floor((c.W + 2 * pw - c.KW) / c.stride[1]) + 1;
  const K = c.C * c.KH * c.KW;
  return { OH, OW, K, P: OH * OW, scratch: K * OH * OW };
}

function bump(l: Local<"i32">, bytes: number): Stmt {
  return bytes === 0 ? seq([]) : set(l, i32.add(get(l), i32.const(bytes)));
}

function check(c: ConvGemmSpec): ConvGemmGeometry {
  const g = convGemmGeometry(c);
  if (c.stride[1] !== 1) throw new Error(`wasm conv gemm ${c.name}: column stride ${c.stride[1]} (vectors need stride 1)`);
  if (g.OH < 1 || g.OW < 1) throw new Error(`wasm conv gemm ${c.name}: no outputs`);
  return g;
}

/**
 * For each tap (ki, kj): the output rows [iLo, iHi) whose input row is inside x, and the
 * output columns [jLo, jHi) whose input column is.
 */
function tapRanges(c: ConvGemmSpec, g: ConvGemmGeometry, ki: number, kj: number): { iLo: number; iHi: number; jLo: number; jHi: number } {
  const [ph, pw] = c.padding;
  const sh = c.stride[0];
  const iLo = Math.max(0, Math.ceil((ph - ki) / sh));
  const iHi = Math.min(g.OH, Math.floor((c.H - 1 + ph - ki) / sh) + 1);
  const jLo = Math.max(0, pw - kj);
  const jHi = Math.min(g.OW, c.W + pw - kj);
  return { iLo, iHi, jLo, jHi };
}

/** `len` elements from src to dst (static length): whole vectors, the last one overlapping. */
function copySegment(L: Lanes, dst: Local<"i32">, src: Local<"i32">, len: number): Stmt[] {
  const E = L.bytes;
  const out: Stmt[] = [];
  if (len < L.lanes) {
    for (let t = 0; t < len; t++) out.push(L.sstore(get(dst), L.sload(get(src), t * E), t * E));
    return out;
  }
  const starts: number[] = [];
  for (let j = 0; j + L.lanes <= len; j += L.lanes) starts.push(j);
  if (len % L.lanes !== 0) starts.push(len - L.lanes);
  for (const j of starts) out.push(L.store(get(dst), L.load(get(src), j * E), j * E));
  return out;
}

/** dst[0 .. len) += src[0 .. len) (static length): whole vectors, then scalar. */
function addSegment(L: Lanes, dst: Local<"i32">, src: Local<"i32">, len: number): Stmt[] {
  const E = L.bytes;
  const out: Stmt[] = [];
  const vectors = Math.floor(len / L.lanes);
  for (let v = 0; v < vectors; v++) {
    const at = v * L.lanes * E;
    out.push(L.store(get(dst), L.add(L.load(get(dst), at), L.load(get(src), at)), at));
  }
  for (let t = vectors * L.lanes; t < len; t++) out.push(L.sstore(get(dst), L.sadd(L.sload(get(dst), t * E), L.sload(get(src), t * E)), t * E));
  return out;
}

/**
 * Every (tap, output row) segment of one image, as `segment(imageAt, colAt, len)` with the
 * addresses of its first element in the image (x or dx) and in col (or dcol) set.
 */
function eachSegment(
  s: FuncScope, c: ConvGemmSpec, g: ConvGemmGeometry, L: Lanes, image: Local<"i32">, col: Local<"i32">,
  segment: (imageAt: Local<"i32">, colAt: Local<"i32">, len: number) => Stmt[],
): Stmt[] {
  const E = L.bytes;
  const [ph, pw] = c.padding;
  const sh = c.stride[0];
  const ci = s.local("i32", "ci");
  const i = s.local("i32", "i");
  const imageC = s.local("i32", "imageC");
  const colC = s.local("i32", "colC");
  const imageAt = s.local("i32", "imageAt");
  const colAt = s.local("i32", "colAt");
  const taps: Stmt[] = [];
  for (let ki = 0; ki < c.KH; ki++) {
    for (let kj = 0; kj < c.KW; kj++) {
      const { iLo, iHi, jLo, jHi } = tapRanges(c, g, ki, kj);
      if (iHi <= iLo || jHi <= jLo) continue;
      taps.push(
        set(imageAt, i32.add(get(imageC), i32.const((((iLo * sh + ki - ph) * c.W) + jLo + kj - pw) * E))),
        set(colAt, i32.add(get(colC), i32.const(((ki * c.KW + kj) * g.P + iLo * g.OW + jLo) * E))),
        forRange(i, iLo, iHi, [...segment(imageAt, colAt, jHi - jLo), bump(imageAt, sh * c.W * E), bump(colAt, g.OW * E)]),
      );
    }
  }
  return [
    set(imageC, get(image)),
    set(colC, get(col)),
    forRange(ci, 0, c.C, [...taps, bump(imageC, c.H * c.W * E), bump(colC, c.KH * c.KW * g.P * E)]),
  ];
}

type Params = Readonly<Record<string, Local<"i32">>>;

function imageLoop(s: FuncScope, c: ConvGemmSpec, p: Params, body: Stmt[]): Stmt {
  const n = s.local("i32", "n");
  return forRange(n, 0, c.batch === "dynamic" ? p.images! : c.batch, body);
}

function withImages(c: ConvGemmSpec, params: Record<string, "i32">): Record<string, "i32"> {
  return c.batch === "dynamic" ? { ...params, images: "i32" } : params;
}

const padded = (c: ConvGemmSpec): boolean => c.padding[0] > 0 || c.padding[1] > 0;

/** y = conv(x, w) + b: conv(x, w, b?, y, scratch[, images]), byte addresses. */
export function conv2dGemmKernel(c: ConvGemmSpec & { readonly bias: boolean }): EncodedFunction {
  const g = check(c);
  const L = lanesOf(c.dtype);
  const E = L.bytes;
  const params = withImages(c, c.bias ? { x: "i32", w: "i32", b: "i32", y: "i32", scratch: "i32" } : { x: "i32", w: "i32", y: "i32", scratch: "i32" });
  return func(c.name, params, [], (s: FuncScope, p: Params) => {
    const xImage = s.local("i32", "xImage");
    const yImage = s.local("i32", "yImage");
    const gemm = { name: c.name, dtype: c.dtype, M: c.O, N: g.P, K: g.K, a: { rs: g.K, cs: 1 }, b: { rs: g.P, cs: 1 }, c: { rs: g.P, cs: 1 }, ...(c.bias ? { bias: "row" as const } : {}) };
    return [
      ...(padded(c) ? [memory.fill(get(p.scratch!), i32.const(0), i32.const(g.scratch * E))] : []),
      set(xImage, get(p.x!)),
      set(yImage, get(p.y!)),
      imageLoop(s, c, p, [
        ...eachSegment(s, c, g, L, xImage, p.scratch!, (imageAt, colAt, len) => copySegment(L, colAt, imageAt, len)),
        ...gemmInline(s, gemm, { a: p.w!, b: p.scratch!, c: yImage, ...(c.bias ? { bias: p.b! } : {}) }),
        bump(xImage, c.C * c.H * c.W * E),
        bump(yImage, c.O * g.P * E),
      ]),
    ];
  });
}

/** dw = Σ over images of dy · colᵀ: gradWeight(dy, x, dw, scratch[, images]). */
export function conv2dGradWeightGemmKernel(c: ConvGemmSpec): EncodedFunction {
  const g = check(c);
  const L = lanesOf(c.dtype);
  const E = L.bytes;
  return func(c.name, withImages(c, { dy: "i32", x: "i32", dw: "i32", scratch: "i32" }), [], (s: FuncScope, p: Params) => {
    const xImage = s.local("i32", "xImage");
    const dyImage = s.local("i32", "dyImage");
    // dw(o, k) += Σ_p dy(o, p) col(k, p): A = dy (rows along p), B(p, k) = col[k][p]
    const gemm = { name: c.name, dtype: c.dtype, M: c.O, N: g.K, K: g.P, a: { rs: g.P, cs: 1 }, b: { rs: 1, cs: g.P }, c: { rs: g.K, cs: 1 }, accumulate: true };
    return [
      memory.fill(get(p.dw!), i32.const(0), i32.const(c.O * g.K * E)),
      ...(padded(c) ? [memory.fill(get(p.scratch!), i32.const(0), i32.const(g.scratch * E))] : []),
      set(xImage, get(p.x!)),
      set(dyImage, get(p.dy!)),
      imageLoop(s, c, p, [
        ...eachSegment(s, c, g, L, xImage, p.scratch!, (imageAt, colAt, len) => copySegment(L, colAt, imageAt, len)),
        ...gemmInline(s, gemm, { a: dyImage, b: p.scratch!, c: p.dw! }),
        bump(xImage, c.C * c.H * c.W * E),
        bump(dyImage, c.O * g.P * E),
      ]),
    ];
  });
}

/** dx = col2im(wᵀ · dy) per image: gradInput(dy, w, dx, scratch[, images]). */
export function conv2dGradInputGemmKernel(c: ConvGemmSpec): EncodedFunction {
  const g = check(c);
  const L = lanesOf(c.dtype);
  const E = L.bytes;
  return func(c.name, withImages(c, { dy: "i32", w: "i32", dx: "i32", scratch: "i32" }), [], (s: FuncScope, p: Params) => {
    const dxImage = s.local("i32", "dxImage");
    const dyImage = s.local("i32", "dyImage");
    // dcol(k, p) = Σ_o w[o][k] dy(o, p): A(k, o) = w[o][k]
    const gemm = { name: c.name, dtype: c.dtype, M: g.K, N: g.P, K: c.O, a: { rs: 1, cs: g.K }, b: { rs: g.P, cs: 1 }, c: { rs: g.P, cs: 1 } };
    return [
      set(dxImage, get(p.dx!)),
      set(dyImage, get(p.dy!)),
      imageLoop(s, c, p, [
        ...gemmInline(s, gemm, { a: p.w!, b: dyImage, c: p.scratch! }),
        memory.fill(get(dxImage), i32.const(0), i32.const(c.C * c.H * c.W * E)),
        ...eachSegment(s, c, g, L, dxImage, p.scratch!, (imageAt, colAt, len) => addSegment(L, imageAt, colAt, len)),
        bump(dxImage, c.C * c.H * c.W * E),
        bump(dyImage, c.O * g.P * E),
      ]),
    ];
  });
}
