// Register-blocked matrix products as WebAssembly SIMD: C = A·B (+ bias) or C += A·B, for
// static shapes, on dense buffers in the module's memory, f64x2 (float64) or f32x4 (float32).
// The forms of linear and its adjoints (compiler/codegen/kernels/linear.ts) are all views
// with element strides, as in the TypeScript kernels: A(i, k) is a[i·a.rs + k·a.cs], and so
// on. Which dimension the vectors run along depends on which one is contiguous:
//
// - "columns" (B and C contiguous along j: b.cs = c.cs = 1), for dx = dy·W and dW = dyᵀ·x:
//   a block of mr rows × nr vectors of C (nr·lanes columns) accumulates in mr·nr v128
//   locals; per step of k it loads nr vectors of B's row k and, per row, one element of A
//   splatted to every lane (v128.load64_splat / load32_splat), then does mr·nr vector
//   multiply-adds. Each element of C sums in the same order as the TypeScript kernel
//   (bias, then k = 0, 1, ...), so float64 results are bit-identical to it. Leftover
//   columns (N not a multiple of the lanes) take scalar code, leftover rows a smaller block.
// - "dot" (A's rows and B's columns contiguous along k: a.cs = b.rs = 1), for y = x·Wᵀ + b
//   (W is [out, in]: each output is a dot product of two contiguous rows): a block of mr × nr
//   outputs keeps one vector accumulator each, of partial sums over k ≡ lane (mod lanes); per
//   step of `lanes` k's it loads mr vectors of A and nr of B and does mr·nr multiply-adds; at
//   the end the lanes are summed, the leftover k's added in scalar, and the bias. The order
//   of the sum differs from the TypeScript kernel's (rounding-level differences).
// - "scalar" otherwise (no unit stride to vectorise along): plain loops.
//
// There is no fused multiply-add: Wasm SIMD has none (relaxed SIMD's relaxed_madd may or
// may not fuse, so its results depend on the machine; it is also not enabled in Node 20).
// A float32 kernel computes in f32 throughout, where the TypeScript float32 kernels compute
// in double and round when they store: results agree to float32 precision, not bit for bit.
//
// Block sizes, measured with bench/wasmKernels.ts (2-core AMD EPYC VM, Node 20.20, all
// sizes interleaved in one run; GFLOP/s on LeNet's 400 -> 120 layer at batch 128, float64 /
// float32): blocks of 8 accumulators, 4x2 and 2x4, 24 / 47; 2x3: 23 / 45; 3x3 (9): 10-18 /
// 21-35; 3x4 and 4x3 (12): 12-13 / 24-27 (V8 has 16 xmm registers for Wasm SIMD, and
// spills); 4x2 or 2x4 with k unrolled by 2: 14-15 / 28-30. One row (batch 1), float64: 1x6
// 17-18, 1x4 16, 1x8 and 1x12 9-10; float32: 1x4 29-33, 1x6 27-31. The TypeScript kernels
// run at 3-6 on the same shapes. Whole tables: docs/simd.md.

import { type Expr, type FuncScope, type Local, type Stmt, forRange, func, get, i32, if_, seq, set } from "../builder.js";
import type { EncodedFunction } from "../encoder.js";
import { type Dtype, type Lanes, lanesOf } from "./lanes.js";

/** Element strides of a matrix view: element (r, c) is at r·rs + c·cs. */
export interface Strides {
  readonly rs: number;
  readonly cs: number;
}

export interface GemmBlock {
  /** Rows of C per block. */
  readonly mr: number;
  /** Vectors of C per block row ("columns"), or outputs per block row ("dot"). */
  readonly nr: number;
  /** Steps of k unrolled per iteration of the k loop. */
  readonly ku: number;
}

export interface GemmSpec {
  /** The export name. */
  readonly name: string;
  readonly dtype: Dtype;
  readonly M: number;
  readonly N: number;
  readonly K: number;
  readonly a: Strides;
  readonly b: Strides;
  readonly c: Strides;
  /** Start each C(i, j) at bias[i] ("row") or bias[j] ("col"). */
  readonly bias?: "row" | "col";
  /** C += A·B (else C = A·B, plus the bias). */
  readonly accumulate?: boolean;
  /**
   * M or K known only at run time (a batch N): the kernel's last parameter. The spec's M or
   * K is then a typical value, read only to choose the block; a run-time K needs ku = 1 and
   * the "columns" or "scalar" mode.
   */
  readonly dynamic?: "M" | "K";
  readonly block?: Partial<GemmBlock>;
}

export type GemmMode = "columns" | "dot" | "scalar";

export function gemmMode(g: Pick<GemmSpec, "a" | "b" | "c" | "N" | "K" | "dtype">): GemmMode {
  const lanes = lanesOf(g.dtype).lanes;
  if (g.b.cs === 1 && g.c.cs === 1 && g.N >= lanes) return "columns";
  if (g.a.cs === 1 && g.b.rs === 1 && g.K >= lanes) return "dot";
  return "scalar";
}

/** The default blocks: the fastest measured (see the header), shrunk to the matrix. */
export function defaultBlock(mode: GemmMode, g: Pick<GemmSpec, "M" | "N" | "K" | "dtype">): GemmBlock {
  // one row of C (a batch-1 layer): 6 accumulators for float64, 4 for float32
  const single = { mr: 1, nr: g.dtype === "float64" ? 6 : 4, ku: 1 };
  if (mode === "columns") return g.M === 1 ? single : { mr: 4, nr: 2, ku: 1 };
  if (mode === "dot") return g.M === 1 ? single : { mr: 2, nr: 4, ku: 1 };
  return { mr: 1, nr: 1, ku: 1 };
}

/** K as the k loops take it: the number, or the kernel's parameter when known at run time. */
const kCount = (g: GemmSpec, p: Ptrs): number | Local<"i32"> => (g.dynamic === "K" ? p.count! : g.K);

/** A local's value plus a static byte count. */
function plus(l: Local<"i32">, bytes: number): Expr<"i32"> {
  return bytes === 0 ? get(l) : i32.add(get(l), i32.const(bytes));
}

function bump(l: Local<"i32">, bytes: number): Stmt {
  return bytes === 0 ? seq([]) : set(l, i32.add(get(l), i32.const(bytes)));
}

/**
 * `count` steps of a loop body, `unroll` at a time, then the leftover steps unrolled:
 * `step(u)` reads u steps past the pointers, `advance(n)` moves them n steps on.
 */
function unrolled(s: FuncScope, count: number | Local<"i32">, unroll: number, step: (u: number) => Stmt[], advance: (steps: number) => Stmt[]): Stmt {
  const k = s.local("i32", "k");
  // a count known at run time: one step per iteration (unroll is 1, checked by gemmKernel)
  if (typeof count !== "number") return forRange(k, 0, count, [...step(0), ...advance(1)]);
  const full = Math.floor(count / unroll);
  const out: Stmt[] = [];
  if (full > 0) {
    out.push(forRange(k, 0, full, [...Array.from({ length: unroll }, (_, u) => step(u)).flat(), ...advance(unroll)]));
  }
  const left = count - full * unroll;
  for (let u = 0; u < left; u++) out.push(...step(u));
  if (left > 0) out.push(...advance(left));
  return seq(out);
}

interface Ptrs {
  readonly a: Local<"i32">;
  readonly b: Local<"i32">;
  readonly c: Local<"i32">;
  readonly bias: Local<"i32"> | null;
  /** M or K, when known only at run time. */
  readonly count: Local<"i32"> | null;
}

export function gemmKernel(g: GemmSpec): EncodedFunction {
  for (const [k, v] of Object.entries({ M: g.M, N: g.N, K: g.K })) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`wasm gemm ${g.name}: ${k} must be a positive integer, got ${v}`);
  }
  const mode = gemmMode(g);
  const blk = { ...defaultBlock(mode, g), ...g.block };
  if (blk.mr < 1 || blk.nr < 1 || blk.ku < 1) throw new RangeError(`wasm gemm ${g.name}: bad block ${JSON.stringify(blk)}`);
  if (g.dynamic === "K" && (mode === "dot" || blk.ku !== 1)) {
    throw new RangeError(`wasm gemm ${g.name}: a run-time K needs the columns or scalar mode and ku = 1`);
  }
  const params: Record<string, "i32"> = g.bias === undefined
    ? { a: "i32", b: "i32", c: "i32" }
    : { a: "i32", b: "i32", c: "i32", bias: "i32" };
  if (g.dynamic) params.count = "i32";
  return func(g.name, params, [], (s, p: Readonly<Record<string, Local<"i32">>>) => {
    const ptrs: Ptrs = { a: p.a!, b: p.b!, c: p.c!, bias: p.bias ?? null, count: p.count ?? null };
    const L = lanesOf(g.dtype);
    if (mode === "columns") return columns(s, g, L, blk, ptrs);
    if (mode === "dot") return dot(s, g, L, blk, ptrs);
    return scalar(s, g, L, ptrs);
  });
}

/**
 * The product as statements of another kernel's function (its locals from `s`), on byte
 * addresses held in the locals `at`: static M, N and K only. The convolutions as products
 * (convGemm.ts) run one per image.
 */
export function gemmInline(
  s: FuncScope, g: GemmSpec, at: { readonly a: Local<"i32">; readonly b: Local<"i32">; readonly c: Local<"i32">; readonly bias?: Local<"i32"> },
): Stmt[] {
  if (g.dynamic) throw new RangeError(`wasm gemm ${g.name}: an inline product needs static sizes`);
  if (g.bias !== undefined && at.bias === undefined) throw new RangeError(`wasm gemm ${g.name}: the bias needs an address`);
  const mode = gemmMode(g);
  const blk = { ...defaultBlock(mode, g), ...g.block };
  const ptrs: Ptrs = { a: at.a, b: at.b, c: at.c, bias: at.bias ?? null, count: null };
  const L = lanesOf(g.dtype);
  if (mode === "columns") return columns(s, g, L, blk, ptrs);
  if (mode === "dot") return dot(s, g, L, blk, ptrs);
  return scalar(s, g, L, ptrs);
}

/**
 * The row blocks of C: blocks of `mr` rows, then a block of the leftover rows. `tile` emits
 * one block of `rows` rows whose first row's A and C (and row bias) start at aRow, cRow
 * (and biasRow).
 */
function rowBlocks(
  s: FuncScope, g: GemmSpec, L: Lanes, mr: number, p: Ptrs,
  tile: (rows: number, aRow: Local<"i32">, cRow: Local<"i32">, biasRow: Local<"i32"> | null) => Stmt[],
): Stmt[] {
  const aRow = s.local("i32", "aRow");
  const cRow = s.local("i32", "cRow");
  const biasRow = g.bias === "row" ? s.local("i32", "biasRow") : null;
  const rows = g.dynamic === "M" ? mr : Math.min(mr, g.M);
  const i = s.local("i32", "i");
  const advance = [
    bump(aRow, rows * g.a.rs * L.bytes),
    bump(cRow, rows * g.c.rs * L.bytes),
    ...(biasRow === null ? [] : [bump(biasRow, rows * L.bytes)]),
  ];
  const start = [
    set(aRow, get(p.a)),
    set(cRow, get(p.c)),
    ...(biasRow === null ? [] : [set(biasRow, get(p.bias!))]),
  ];
  if (g.dynamic === "M") {
    // M known at run time: M / mr blocks, then one block of the M % mr leftover rows (one
    // version per count, the right one picked at run time)
    const full = s.local("i32", "full");
    const left = s.local("i32", "left");
    return [
      ...start,
      set(full, i32.div_u(get(p.count!), i32.const(rows))),
      set(left, i32.sub(get(p.count!), i32.mul(get(full), i32.const(rows)))),
      forRange(i, 0, full, [...tile(rows, aRow, cRow, biasRow), ...advance]),
      ...Array.from({ length: rows - 1 }, (_, r) => if_(i32.eq(get(left), i32.const(r + 1)), tile(r + 1, aRow, cRow, biasRow))),
    ];
  }
  const full = Math.floor(g.M / rows);
  const left = g.M - full * rows;
  return [
    ...start,
    forRange(i, 0, full, [...tile(rows, aRow, cRow, biasRow), ...advance]),
    ...(left > 0 ? tile(left, aRow, cRow, biasRow) : []),
  ];
}

// ---------------------------------------------------------------------------------------
// Vectors along the columns of C

function columns(s: FuncScope, g: GemmSpec, L: Lanes, blk: GemmBlock, p: Ptrs): Stmt[] {
  const E = L.bytes;
  const VL = L.lanes;
  const vectors = Math.floor(g.N / VL);
  const nv = Math.min(blk.nr, vectors);
  const groups = Math.floor(vectors / nv);
  const leftVectors = vectors - groups * nv;
  const tailColumns = g.N - vectors * VL;
  // locals shared by every block (each block uses a prefix)
  const acc = Array.from({ length: blk.mr }, (_, r) => Array.from({ length: nv }, (_, v) => s.local("v128", `acc${r}_${v}`)));
  const bv = Array.from({ length: nv }, (_, v) => s.local("v128", `b${v}`));
  const av = s.local("v128", "a");
  const sacc = Array.from({ length: blk.mr }, (_, r) => s.local(L.scalar as "f64", `sacc${r}`));
  const aK = s.local("i32", "aK");
  const bK = s.local("i32", "bK");
  const jb = s.local("i32", "jb");
  const cAt = s.local("i32", "cAt");

  /** rows × count vectors of C, from the column at byte offset `col` (an expression). */
  const vectorBlock = (rows: number, count: number, aRow: Local<"i32">, cRow: Local<"i32">, biasRow: Local<"i32"> | null, col: Expr<"i32">): Stmt[] => {
    const out: Stmt[] = [set(cAt, i32.add(get(cRow), col))];
    for (let r = 0; r < rows; r++) {
      for (let v = 0; v < count; v++) {
        const init = g.accumulate ? L.zero()
          : g.bias === "row" ? L.loadSplat(get(biasRow!), r * E)
          : g.bias === "col" ? L.load(i32.add(get(p.bias!), col), v * VL * E)
          : L.zero();
        out.push(set(acc[r]![v]!, init));
      }
    }
    out.push(set(aK, get(aRow)), set(bK, i32.add(get(p.b), col)));
    out.push(unrolled(s, kCount(g, p), blk.ku, (u) => {
      const step: Stmt[] = [];
      for (let v = 0; v < count; v++) step.push(set(bv[v]!, L.load(get(bK), u * g.b.rs * E + v * VL * E)));
      for (let r = 0; r < rows; r++) {
        step.push(set(av, L.loadSplat(get(aK), u * g.a.cs * E + r * g.a.rs * E)));
        for (let v = 0; v < count; v++) step.push(set(acc[r]![v]!, L.add(get(acc[r]![v]!), L.mul(get(av), get(bv[v]!)))));
      }
      return step;
    }, (steps) => [bump(aK, steps * g.a.cs * E), bump(bK, steps * g.b.rs * E)]));
    for (let r = 0; r < rows; r++) {
      for (let v = 0; v < count; v++) {
        const at = r * g.c.rs * E + v * VL * E;
        const value = g.accumulate ? L.add(L.load(get(cAt), at), get(acc[r]![v]!)) : get(acc[r]![v]!);
        out.push(L.store(get(cAt), value, at));
      }
    }
    return out;
  };

  /** rows × 1 column j (static) of C, in scalar code. */
  const scalarColumn = (rows: number, aRow: Local<"i32">, cRow: Local<"i32">, biasRow: Local<"i32"> | null, j: number): Stmt[] => {
    const out: Stmt[] = [];
    for (let r = 0; r < rows; r++) {
      const init = g.accumulate ? L.szero()
        : g.bias === "row" ? L.sload(get(biasRow!), r * E)
        : g.bias === "col" ? L.sload(get(p.bias!), j * E)
        : L.szero();
      out.push(set(sacc[r]!, init));
    }
    out.push(set(aK, get(aRow)), set(bK, plus(p.b, j * E)));
    out.push(unrolled(s, kCount(g, p), blk.ku, (u) => {
      const step: Stmt[] = [];
      for (let r = 0; r < rows; r++) {
        const prod = L.smul(L.sload(get(aK), u * g.a.cs * E + r * g.a.rs * E), L.sload(get(bK), u * g.b.rs * E));
        step.push(set(sacc[r]!, L.sadd(get(sacc[r]!), prod)));
      }
      return step;
    }, (steps) => [bump(aK, steps * g.a.cs * E), bump(bK, steps * g.b.rs * E)]));
    for (let r = 0; r < rows; r++) {
      const at = r * g.c.rs * E + j * E;
      out.push(L.sstore(get(cRow), g.accumulate ? L.sadd(L.sload(get(cRow), at), get(sacc[r]!)) : get(sacc[r]!), at));
    }
    return out;
  };

  return rowBlocks(s, g, L, blk.mr, p, (rows, aRow, cRow, biasRow) => [
    forRange(jb, 0, groups * nv * VL * E, vectorBlock(rows, nv, aRow, cRow, biasRow, get(jb)), nv * VL * E),
    ...(leftVectors > 0 ? vectorBlock(rows, leftVectors, aRow, cRow, biasRow, i32.const(groups * nv * VL * E)) : []),
    ...Array.from({ length: tailColumns }, (_, t) => scalarColumn(rows, aRow, cRow, biasRow, vectors * VL + t)).flat(),
  ]);
}

// ---------------------------------------------------------------------------------------
// Vectors along k: dot products of contiguous rows

function dot(s: FuncScope, g: GemmSpec, L: Lanes, blk: GemmBlock, p: Ptrs): Stmt[] {
  const E = L.bytes;
  const VL = L.lanes;
  const kVectors = Math.floor(g.K / VL);
  const kTail = g.K - kVectors * VL;
  const nr = Math.min(blk.nr, g.N);
  const groups = Math.floor(g.N / nr);
  const leftColumns = g.N - groups * nr;
  const acc = Array.from({ length: blk.mr }, (_, r) => Array.from({ length: nr }, (_, c) => s.local("v128", `acc${r}_${c}`)));
  const av = Array.from({ length: blk.mr }, (_, r) => s.local("v128", `a${r}`));
  const bv = s.local("v128", "b");
  const sum = s.local(L.scalar as "f64", "sum");
  const aK = s.local("i32", "aK");
  const bK = s.local("i32", "bK");
  const bCol = s.local("i32", "bCol");
  const cCol = s.local("i32", "cCol");
  const biasCol = g.bias === "col" ? s.local("i32", "biasCol") : null;
  const jc = s.local("i32", "jc");

  const block = (rows: number, cols: number, aRow: Local<"i32">, biasRow: Local<"i32"> | null): Stmt[] => {
    const out: Stmt[] = [];
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out.push(set(acc[r]![c]!, L.zero()));
    out.push(set(aK, get(aRow)), set(bK, get(bCol)));
    out.push(unrolled(s, kVectors, blk.ku, (u) => {
      const step: Stmt[] = [];
      for (let r = 0; r < rows; r++) step.push(set(av[r]!, L.load(get(aK), u * VL * E + r * g.a.rs * E)));
      for (let c = 0; c < cols; c++) {
        step.push(set(bv, L.load(get(bK), u * VL * E + c * g.b.cs * E)));
        for (let r = 0; r < rows; r++) step.push(set(acc[r]![c]!, L.add(get(acc[r]![c]!), L.mul(get(av[r]!), get(bv)))));
      }
      return step;
    }, (steps) => [bump(aK, steps * VL * E), bump(bK, steps * VL * E)]));
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        out.push(set(sum, L.sumLanes(get(acc[r]![c]!))));
        for (let t = 0; t < kTail; t++) {
          out.push(set(sum, L.sadd(get(sum), L.smul(L.sload(get(aK), t * E + r * g.a.rs * E), L.sload(get(bK), t * E + c * g.b.cs * E)))));
        }
        const at = r * g.c.rs * E + c * g.c.cs * E;
        const value = g.accumulate ? L.sadd(L.sload(get(cCol), at), get(sum))
          : g.bias === "row" ? L.sadd(L.sload(get(biasRow!), r * E), get(sum))
          : g.bias === "col" ? L.sadd(L.sload(get(biasCol!), c * E), get(sum))
          : get(sum);
        out.push(L.sstore(get(cCol), value, at));
      }
    }
    return out;
  };

  return rowBlocks(s, g, L, blk.mr, p, (rows, aRow, cRow, biasRow) => {
    const advance = (cols: number): Stmt[] => [
      bump(bCol, cols * g.b.cs * E),
      bump(cCol, cols * g.c.cs * E),
      ...(biasCol === null ? [] : [bump(biasCol, cols * E)]),
    ];
    return [
      set(bCol, get(p.b)),
      set(cCol, get(cRow)),
      ...(biasCol === null ? [] : [set(biasCol, get(p.bias!))]),
      forRange(jc, 0, groups, [...block(rows, nr, aRow, biasRow), ...advance(nr)]),
      ...(leftColumns > 0 ? block(rows, leftColumns, aRow, biasRow) : []),
    ];
  });
}

// ---------------------------------------------------------------------------------------
// No unit stride: scalar loops

function scalar(s: FuncScope, g: GemmSpec, L: Lanes, p: Ptrs): Stmt[] {
  const E = L.bytes;
  const sum = s.local(L.scalar as "f64", "sum");
  const aK = s.local("i32", "aK");
  const bK = s.local("i32", "bK");
  const bCol = s.local("i32", "bCol");
  const cAt = s.local("i32", "cAt");
  const j = s.local("i32", "j");
  return rowBlocks(s, g, L, 1, p, (_, aRow, cRow, biasRow) => [
    set(bCol, get(p.b)),
    set(cAt, get(cRow)),
    forRange(j, 0, g.N, [
      set(sum, g.accumulate ? L.szero()
        : g.bias === "row" ? L.sload(get(biasRow!), 0)
        : g.bias === "col" ? L.sload(i32.add(get(p.bias!), i32.mul(get(j), i32.const(E))), 0)
        : L.szero()),
      set(aK, get(aRow)),
      set(bK, get(bCol)),
      unrolled(s, kCount(g, p), 1, () => [set(sum, L.sadd(get(sum), L.smul(L.sload(get(aK), 0), L.sload(get(bK), 0))))],
        (steps) => [bump(aK, steps * g.a.cs * E), bump(bK, steps * g.b.rs * E)]),
      L.sstore(get(cAt), g.accumulate ? L.sadd(L.sload(get(cAt), 0), get(sum)) : get(sum), 0),
      bump(bCol, g.b.cs * E),
      bump(cAt, g.c.cs * E),
    ]),
  ]);
}
