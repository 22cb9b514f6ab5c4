// The direct convolution (conv2d forward) as WebAssembly SIMD, for static shapes:
// x [N, C, H, W], w [O, C, KH, KW], b [O] -> y [N, O, OH, OW], NCHW, row stride sh, column
// stride 1, zero padding (ph, pw), f64x2 (float64) or f32x4 (float32). The semantics and the
// order of every sum are those of the TypeScript kernel (compiler/codegen/kernels/conv2d.ts,
// directConv): y[o][i][j] = b[o] + Σ over c, ki, kj (in that order) of w[o][c][ki][kj] ·
// xp[c][i·sh + ki][j + kj], so float64 results are bit-identical to it.
//
// Layout and blocking:
// - A padded input is copied image by image into a scratch buffer with a zero border
//   (memory.fill once per call, one memory.copy per input row), as the TypeScript kernel
//   does; an unpadded one is read in place.
// - Vectors run along an output row j: lanes consecutive outputs read consecutive inputs
//   xp[c][i·sh + ki][j + kj .. j + kj + lanes) for each tap, one unaligned v128.load. A row of
//   OW outputs is covered by vectors at j = 0, lanes, 2·lanes, ...; when OW is not a
//   multiple of the lanes the last vector starts at OW - lanes and overlaps the one before
//   it (it recomputes the same values, which is harmless: y is only written).
// - A block of `mo` output channels × `nv` vectors of one output row accumulates in mo·nv
//   v128 locals, starting at the bias. Per tap (c, ki, kj) the block loads its mo weights
//   (each splatted: load64_splat / load32_splat), then one input vector at a time and does
//   its mo multiply-adds; input vectors are shared by the mo channels, weights by the nv
//   vectors. The vector offsets within a row are static: immediates of the loads and stores.
// - Loops: images, channel blocks, output rows, then the (static, unrolled) vector blocks of
//   the row, each with its loops over c, ki and kj (one tap per iteration).
//
// Measured with bench/wasmKernels.ts (2-core AMD EPYC VM, Node 20.20, blocks interleaved in
// one run, batch 32, GFLOP/s float64 / float32, conv1 and conv2): mo x nv = 2x4 (the default)
// 21.5 / 45.6 and 20.2 / 39.1; 4x2 21.0 / 40.5 and 22.2 / 36.7; 3x2 22.0 / 42.2 and 19.4 /
// 31.6; 2x2 (4 accumulators) 18.9 / 35.4; 1x8 13.4 / 36.9. With each kernel row's 5 taps
// unrolled (kw = KW) only 11-12 / 20-23: TurboFan schedules all the row's loads first and
// spills them. The TypeScript kernel: 4-6.5 in both dtypes. Tables: docs/simd.md.

import { type Expr, type FuncScope, type Local, type Stmt, forRange, func, get, i32, memory, select, seq, set } from "../builder.js";
import type { EncodedFunction } from "../encoder.js";
import { type Dtype, lanesOf } from "./lanes.js";

export interface ConvSpec {
  readonly name: string;
  readonly dtype: Dtype;
  /** Images (1 for an unbatched x [C, H, W]); "dynamic": known at run time, the last parameter. */
  readonly batch: number | "dynamic";
  readonly C: number;
  readonly H: number;
  readonly W: number;
  readonly O: number;
  readonly KH: number;
  readonly KW: number;
  readonly padding: readonly [number, number];
  /** Row stride; the column stride must be 1 (vectors run along a row). */
  readonly stride: readonly [number, number];
  readonly bias: boolean;
  /**
   * The rows of the padding are left out rather than read as zeros: output row i runs only
   * the kernel rows that fall inside x (ki from max(0, ph - i) to min(KH, H + ph - i)), and
   * the scratch pads only the columns. Row stride 1 only. The input adjoint's convolution of
   * dy, padded by KH - 1 - ph, would otherwise spend most of its products on the border.
   */
  readonly clampRows?: boolean;
  readonly block?: Partial<ConvBlock>;
}

export interface ConvBlock {
  /** Output channels per block. */
  readonly mo: number;
  /** Vectors of an output row per block. */
  readonly nv: number;
  /** Taps per iteration of the loop over a kernel row: 1, or all (KW: the loop unrolled). */
  readonly kw: number;
}

export interface ConvGeometry {
  readonly OH: number;
  readonly OW: number;
  readonly Hp: number;
  readonly Wp: number;
  /** Rows of each channel in the scratch buffer: Hp, or H when the rows are clamped. */
  readonly Hs: number;
  /** Elements of the scratch buffer for the padded image (0 without padding). */
  readonly scratch: number;
}

export function convGeometry(c: ConvSpec): ConvGeometry {
  const [ph, pw] = c.padding;
  const Hp = c.H + 2 * ph;
  const Wp = c.W + 2 * pw;
  const OH = Math.floor((Hp - c.KH) / c.stride[0]) + 1;
  const OW = Math.floor((Wp - c.KW) / c.stride[1]) + 1;
  const Hs = c.clampRows ? c.H : Hp;
  return { OH, OW, Hp, Wp, Hs, scratch: pw > 0 || (ph > 0 && !c.clampRows) ? c.C * Hs * Wp : 0 };
}

export function defaultConvBlock(c: ConvSpec): ConvBlock {
  const { lanes } = lanesOf(c.dtype);
  const vectors = Math.ceil(convGeometry(c).OW / lanes);
  // 8 accumulators: 2 channels (or another divisor of O) × 4 vectors
  const mo = [2, 4, 1].find((m) => c.O % m === 0) ?? 1;
  const nv = Math.max(1, Math.min(vectors, Math.floor(8 / mo)));
  return { mo, nv, kw: 1 };
}

/** The start (in elements) of each vector of an output row: full vectors, then one overlapping. */
function vectorStarts(OW: number, lanes: number): number[] {
  const starts: number[] = [];
  for (let j = 0; j + lanes <= OW; j += lanes) starts.push(j);
  if (OW % lanes !== 0) starts.push(OW - lanes);
  return starts;
}

function plus(l: Local<"i32">, bytes: number): Expr<"i32"> {
  return bytes === 0 ? get(l) : i32.add(get(l), i32.const(bytes));
}

function bump(l: Local<"i32">, bytes: number): Stmt {
  return bytes === 0 ? seq([]) : set(l, i32.add(get(l), i32.const(bytes)));
}

/**
 * The kernel: conv(x, w, b?, y, scratch) with byte addresses (scratch unused without
 * padding), and the number of images last when it is known only at run time.
 */
export function conv2dKernel(c: ConvSpec): EncodedFunction {
  const g = convGeometry(c);
  const L = lanesOf(c.dtype);
  const E = L.bytes;
  const [ph, pw] = c.padding;
  const [sh, sw] = c.stride;
  if (sw !== 1) throw new Error(`wasm conv2d ${c.name}: column stride ${sw} (vectors need stride 1)`);
  if (g.OW < L.lanes) throw new Error(`wasm conv2d ${c.name}: output rows of ${g.OW} are shorter than a vector of ${L.lanes}`);
  const clamp = c.clampRows === true && ph > 0;
  if (clamp && sh !== 1) throw new Error(`wasm conv2d ${c.name}: clamped rows need row stride 1, not ${sh}`);
  const blk = { ...defaultConvBlock(c), ...c.block };
  const starts = vectorStarts(g.OW, L.lanes);
  const mo = Math.min(blk.mo, c.O);
  const nv = Math.min(blk.nv, starts.length);
  const taps = c.C * c.KH * c.KW;
  const params: Record<string, "i32"> = c.bias
    ? { x: "i32", w: "i32", b: "i32", y: "i32", scratch: "i32" }
    : { x: "i32", w: "i32", y: "i32", scratch: "i32" };
  if (c.batch === "dynamic") params.images = "i32";

  return func(c.name, params, [], (s: FuncScope, p: Readonly<Record<string, Local<"i32">>>) => {
    const bias = p.b ?? null;
    const n = s.local("i32", "n");
    const xImage = s.local("i32", "xImage");
    const yImage = s.local("i32", "yImage");
    const xBase = s.local("i32", "xBase");
    const wBlock = s.local("i32", "wBlock");
    const bBlock = s.local("i32", "bBlock");
    const yBlock = s.local("i32", "yBlock");
    const xTop = s.local("i32", "xTop");
    const yRow = s.local("i32", "yRow");
    const xc = s.local("i32", "xc");
    const xr = s.local("i32", "xr");
    const wr = s.local("i32", "wr");
    const ob = s.local("i32", "ob");
    const i = s.local("i32", "i");
    const ci = s.local("i32", "ci");
    const ki = s.local("i32", "ki");
    const kj = s.local("i32", "kj");
    const src = s.local("i32", "src");
    const dst = s.local("i32", "dst");
    const dstPlane = s.local("i32", "dstPlane");
    const row = s.local("i32", "row");
    // clamped rows: the first kernel row inside x, how many there are, and the addresses of
    // the first one's input row and weights
    const kLo = s.local("i32", "kLo");
    const kN = s.local("i32", "kN");
    const xFirst = s.local("i32", "xFirst");
    const wFirst = s.local("i32", "wFirst");
    const wSkip = s.local("i32", "wSkip");
    const acc = Array.from({ length: mo }, (_, m) => Array.from({ length: nv }, (_, v) => s.local("v128", `acc${m}_${v}`)));
    const xv = s.local("v128", "x");
    const wv = Array.from({ length: mo }, (_, m) => s.local("v128", `w${m}`));
    const padded = g.scratch > 0;

    /** mo' channels × the vectors at `js` of output row i (xTop, yRow set). */
    const outputs = (channels: number, js: readonly number[]): Stmt[] => {
      const out: Stmt[] = [];
      for (let m = 0; m < channels; m++) {
        for (let v = 0; v < js.length; v++) out.push(set(acc[m]![v]!, bias === null ? L.zero() : L.loadSplat(get(bBlock), m * E)));
      }
      // one tap, `kj` elements right of xr, wr: the block's weights, then one input vector
      // at a time (live: the accumulators, the weights and one input vector)
      const tap = (kj: number): Stmt[] => {
        const body: Stmt[] = [];
        for (let m = 0; m < channels; m++) body.push(set(wv[m]!, L.loadSplat(get(wr), (m * taps + kj) * E)));
        js.forEach((j, v) => {
          body.push(set(xv, L.load(get(xr), (j + kj) * E)));
          for (let m = 0; m < channels; m++) body.push(set(acc[m]![v]!, L.add(get(acc[m]![v]!), L.mul(get(wv[m]!), get(xv)))));
        });
        return body;
      };
      // a kernel row: a loop over its taps, or the taps unrolled
      const kernelRow = blk.kw >= c.KW
        ? [...Array.from({ length: c.KW }, (_, kj) => tap(kj)).flat(), bump(xr, g.Wp * E), bump(wr, c.KW * E)]
        : [forRange(kj, 0, c.KW, [...tap(0), bump(xr, E), bump(wr, E)]), bump(xr, (g.Wp - c.KW) * E)];
      out.push(
        set(xc, get(clamp ? xFirst : xTop)),
        set(wr, get(clamp ? wFirst : wBlock)),
        forRange(ci, 0, c.C, [
          set(xr, get(xc)),
          ...(clamp
            ? [forRange(ki, 0, kN, kernelRow), set(wr, i32.add(get(wr), get(wSkip)))]
            : [forRange(ki, 0, c.KH, kernelRow)]),
          bump(xc, g.Hs * g.Wp * E),
        ]),
      );
      for (let m = 0; m < channels; m++) {
        js.forEach((j, v) => out.push(L.store(get(yRow), get(acc[m]![v]!), (m * g.OH * g.OW + j) * E)));
      }
      return out;
    };

    /** A block of `channels` output channels (wBlock, bBlock, yBlock set): every output row. */
    const channelBlock = (channels: number): Stmt[] => {
      const groups: number[][] = [];
      for (let k = 0; k < starts.length; k += nv) groups.push(starts.slice(k, k + nv));
      // clamped rows: kLo = max(0, ph - i), kN = min(KH, H + ph - i) - kLo; row i's top
      // kernel row reads input row i - ph (xTop, below the image for i < ph: never read)
      const rowRange: Stmt[] = clamp
        ? [
          set(kLo, select(i32.sub(i32.const(ph), get(i)), i32.const(0), i32.lt_s(get(i), i32.const(ph)))),
          set(kN, i32.sub(
            select(i32.sub(i32.const(c.H + ph), get(i)), i32.const(c.KH), i32.lt_s(i32.sub(i32.const(c.H + ph), get(i)), i32.const(c.KH))),
            get(kLo),
          )),
          set(xFirst, i32.add(get(xTop), i32.mul(get(kLo), i32.const(g.Wp * E)))),
          set(wFirst, i32.add(get(wBlock), i32.mul(get(kLo), i32.const(c.KW * E)))),
          set(wSkip, i32.mul(i32.sub(i32.const(c.KH), get(kN)), i32.const(c.KW * E))),
        ]
        : [];
      return [
        set(xTop, clamp ? i32.sub(get(xBase), i32.const(ph * g.Wp * E)) : get(xBase)),
        set(yRow, get(yBlock)),
        forRange(i, 0, g.OH, [
          ...rowRange,
          ...groups.flatMap((js) => outputs(channels, js)),
          bump(xTop, sh * g.Wp * E),
          bump(yRow, g.OW * E),
        ]),
      ];
    };

    const fullBlocks = Math.floor(c.O / mo);
    const leftChannels = c.O - fullBlocks * mo;
    const imageIn = c.C * c.H * c.W * E;
    const imageOut = c.O * g.OH * g.OW * E;
    const advanceBlock = [
      bump(wBlock, mo * taps * E),
      ...(bias === null ? [] : [bump(bBlock, mo * E)]),
      bump(yBlock, mo * g.OH * g.OW * E),
    ];
    return [
      ...(padded ? [memory.fill(get(p.scratch), i32.const(0), i32.const(g.scratch * E))] : []),
      set(xImage, get(p.x)),
      set(yImage, get(p.y)),
      forRange(n, 0, c.batch === "dynamic" ? p.images! : c.batch, [
        ...(padded
          ? [
            // xp[c][ph + ih][pw ..] = x[c][ih][..], one row at a time
            set(src, get(xImage)),
            set(dstPlane, plus(p.scratch, ((clamp ? 0 : ph) * g.Wp + pw) * E)),
            forRange(ci, 0, c.C, [
              set(dst, get(dstPlane)),
              forRange(row, 0, c.H, [
                memory.copy(get(dst), get(src), i32.const(c.W * E)),
                bump(src, c.W * E),
                bump(dst, g.Wp * E),
              ]),
              bump(dstPlane, g.Hs * g.Wp * E),
            ]),
            set(xBase, get(p.scratch)),
          ]
          : [set(xBase, get(xImage))]),
        set(wBlock, get(p.w)),
        ...(bias === null ? [] : [set(bBlock, get(bias))]),
        set(yBlock, get(yImage)),
        forRange(ob, 0, fullBlocks, [...channelBlock(mo), ...advanceBlock]),
        ...(leftChannels > 0 ? channelBlock(leftChannels) : []),
        bump(xImage, imageIn),
        bump(yImage, imageOut),
      ]),
    ];
  });
}
